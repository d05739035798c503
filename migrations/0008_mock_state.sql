-- A mock's state (docs/state.md): scenarios, key/value pairs, sequence places and collections,
-- kept apart per state key (the `x-lyrebird-state` header; '' is the mock's default state).
-- A state with no row has never been written, and reads as every state starts.

-- Every write to a state takes a new number from here, so two contents of one state never
-- share a version, even across a reset (which deletes the state's rows).
CREATE SEQUENCE mock_state_versions;

CREATE TABLE mock_states (
    mock_id      uuid NOT NULL REFERENCES mocks (id) ON DELETE CASCADE,
    state_key    text NOT NULL,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- The version of the last write; 0 for a row made by a write under way.
    version      bigint NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mock_id, state_key)
);

CREATE TABLE mock_state_entries (
    mock_id   uuid NOT NULL,
    state_key text NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('scenario', 'value', 'sequence', 'collection', 'record')),
    -- The collection of a record; '' for every other kind.
    scope     text NOT NULL DEFAULT '',
    name      text NOT NULL,
    value     jsonb NOT NULL,
    -- Creation order: a collection lists its records in it, and replacing a record keeps it.
    seq       bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (mock_id, state_key, kind, scope, name),
    FOREIGN KEY (mock_id, state_key) REFERENCES mock_states (mock_id, state_key) ON DELETE CASCADE
);
