-- The operator's governance of workspaces: plans (named limits), the plan new workspaces get,
-- and suspension.

-- A plan: limits an operator names and gives to workspaces. NULL is "the server's default"
-- (its LYREBIRD_* setting) for that limit.
CREATE TABLE plans (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    -- Mock calls per calendar month (UTC), unless the workspace has a quota of its own.
    monthly_quota       bigint CHECK (monthly_quota >= 0),
    -- Mocks a workspace may hold.
    max_mocks           integer CHECK (max_mocks >= 0),
    -- Days the call log keeps the workspace's calls.
    call_retention_days integer CHECK (call_retention_days >= 1),
    -- Bytes one state of a mock may hold (never more than the engine's own bound).
    state_max_bytes     bigint CHECK (state_max_bytes >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT plans_name_key UNIQUE (name)
);

-- The server's operator settings: one row.
CREATE TABLE operator_settings (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- The plan every new workspace gets (sign-ups and team workspaces alike); NULL: none.
    default_plan_id uuid REFERENCES plans (id) ON DELETE SET NULL
);
INSERT INTO operator_settings DEFAULT VALUES;

CREATE FUNCTION lyrebird_default_plan() RETURNS uuid
LANGUAGE sql STABLE AS $$ SELECT default_plan_id FROM operator_settings $$;

-- A plan in use cannot be deleted (the store refuses it first, with plan_in_use). A suspended
-- workspace's mocks answer 403 and its members change nothing until it is unsuspended.
ALTER TABLE workspaces
    ADD COLUMN plan_id uuid REFERENCES plans (id) DEFAULT lyrebird_default_plan(),
    ADD COLUMN suspended_at timestamptz;
CREATE INDEX workspaces_plan_idx ON workspaces (plan_id);
