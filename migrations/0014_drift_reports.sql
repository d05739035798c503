-- Drift reports (docs/proxy.md, "Drift check"): each time a mock's examples are checked against
-- the real API they stand in for, what was sent for each example and how the answer differed
-- from the example's response. A mock keeps its newest 50.
CREATE TABLE drift_reports (
    -- A UUIDv7: reports sort by time.
    id           uuid PRIMARY KEY,
    mock_id      uuid NOT NULL REFERENCES mocks (id) ON DELETE CASCADE,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Who ran it, as lyrebird_author names them (see 0011_versions.sql).
    author       jsonb NOT NULL,
    -- What the examples were checked against: 'upstream'.
    source       text NOT NULL,
    -- How many examples got each verdict: {"agrees": n, "differs": n, "skipped": n, "failed": n}.
    summary      jsonb NOT NULL,
    -- The rest of the report: what was checked against, and an entry per example.
    report       jsonb NOT NULL
);

CREATE INDEX drift_reports_of_mock ON drift_reports (mock_id, id DESC);
