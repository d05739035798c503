-- Workspaces shared by several accounts, each member with a role; keys acting for a member, with
-- a ceiling on their role; sessions that remember which workspace they act in; operators.
-- Every existing account keeps its workspaces as their owner, and every key keeps what it could do.

CREATE TABLE workspace_members (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    account_id   uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, account_id)
);
CREATE INDEX workspace_members_account_idx ON workspace_members (account_id, created_at);

INSERT INTO workspace_members (workspace_id, account_id, role, created_at)
SELECT id, owner_id, 'owner', created_at FROM workspaces;

-- The account whose personal workspace this is (made at sign-up, deleted with the account);
-- NULL for a team workspace, which goes when its last owner deletes it or their account.
ALTER TABLE workspaces ADD COLUMN personal_of uuid REFERENCES accounts (id) ON DELETE CASCADE;
UPDATE workspaces w SET personal_of = w.owner_id
WHERE w.id = (SELECT x.id FROM workspaces x WHERE x.owner_id = w.owner_id
              ORDER BY x.created_at, x.id LIMIT 1);
CREATE UNIQUE INDEX workspaces_personal_key ON workspaces (personal_of);

-- A key acts for the member who made it: never with more than that member's role today, and
-- never with more than its own ceiling (`role`, for `admin` keys; `mock` keys have none).
ALTER TABLE api_keys
    ADD COLUMN account_id uuid REFERENCES accounts (id) ON DELETE CASCADE,
    ADD COLUMN role text CHECK (role IN ('owner', 'admin', 'editor', 'viewer'));
UPDATE api_keys k SET account_id = w.owner_id,
                      role = CASE WHEN k.scope = 'admin' THEN 'owner' END
FROM workspaces w WHERE w.id = k.workspace_id;
ALTER TABLE api_keys
    ALTER COLUMN account_id SET NOT NULL,
    ADD CONSTRAINT api_keys_role_check_scope CHECK ((scope = 'admin') = (role IS NOT NULL));
CREATE INDEX api_keys_account_idx ON api_keys (account_id);

ALTER TABLE workspaces DROP COLUMN owner_id;

-- Sessions: an id to list and end them by (the digest stays secret), the workspace the session
-- acts in (NULL: the personal one), and where it was opened from.
ALTER TABLE sessions
    ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN workspace_id uuid REFERENCES workspaces (id) ON DELETE SET NULL,
    ADD COLUMN address text,
    ADD COLUMN user_agent text,
    ADD CONSTRAINT sessions_id_key UNIQUE (id);

-- Operators see and govern every workspace (`lyrebird operator grant <email>`).
ALTER TABLE accounts ADD COLUMN operator boolean NOT NULL DEFAULT false;
