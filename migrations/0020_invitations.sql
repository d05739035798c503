-- Invitations to a workspace, and the one-use links of accounts (password reset, email change).
-- Each link's token is random; only its SHA-256 digest is stored.

CREATE TABLE invitations (
    id           uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- Lower case, as accounts' emails: only the account with this email may accept.
    email        text NOT NULL,
    role         text NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    digest       bytea NOT NULL UNIQUE,
    invited_by   uuid REFERENCES accounts (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    accepted_at  timestamptz,
    accepted_by  uuid REFERENCES accounts (id) ON DELETE SET NULL
);
CREATE INDEX invitations_workspace_idx ON invitations (workspace_id, created_at);

CREATE TABLE account_tokens (
    digest     bytea PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('password_reset', 'email_change')),
    -- The address an email change moves to; only for that purpose.
    new_email  text CHECK ((purpose = 'email_change') = (new_email IS NOT NULL)),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX account_tokens_account_idx ON account_tokens (account_id);
