-- Accounts, workspaces, API keys, sessions, mocks and examples.
-- Constraint names are part of the code: the API maps unique violations by name.

CREATE TABLE accounts (
    id            uuid PRIMARY KEY,
    -- Normalised (trimmed, lower case) by the application before it gets here.
    email         text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_email_key UNIQUE (email)
);

CREATE TABLE workspaces (
    id            uuid PRIMARY KEY,
    owner_id      uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          text NOT NULL,
    -- Calls per month; NULL means the server's default (LYREBIRD_MONTHLY_QUOTA).
    monthly_quota bigint CHECK (monthly_quota >= 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workspaces_owner_idx ON workspaces (owner_id, created_at);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         text NOT NULL,
    scope        text NOT NULL CHECK (scope IN ('admin', 'mock')),
    -- The first characters of the key, shown in listings so people can tell keys apart.
    prefix       text NOT NULL,
    -- SHA-256 of the whole key; the key itself is never stored.
    digest       bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_keys_digest_key UNIQUE (digest)
);
CREATE INDEX api_keys_workspace_idx ON api_keys (workspace_id, created_at);

CREATE TABLE sessions (
    -- SHA-256 of the session cookie's token.
    digest     bytea PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_account_idx ON sessions (account_id);

CREATE TABLE mocks (
    id           uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         text NOT NULL,
    private      boolean NOT NULL DEFAULT false,
    -- 'none', '2g', '3g' or a number of milliseconds.
    delay        text NOT NULL DEFAULT 'none' CHECK (delay ~ '^(none|2g|3g|[0-9]{1,6})$'),
    -- Environment variables: a JSON object of strings.
    environment  jsonb NOT NULL DEFAULT '{}',
    version_tag  text,
    -- The engine's response format, answered when no example matches.
    fallback     jsonb,
    -- The engine's MatchSettings.
    settings     jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mocks_workspace_idx ON mocks (workspace_id, created_at);

CREATE TABLE examples (
    id         uuid PRIMARY KEY,
    mock_id    uuid NOT NULL REFERENCES mocks (id) ON DELETE CASCADE,
    -- Order within the mock: the order the user gave, which the engine uses for ties.
    position   integer NOT NULL,
    -- The engine's Example, in its own serde format, so export and import round-trip exactly.
    body       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT examples_mock_position_key UNIQUE (mock_id, position)
);
