-- A mock's OpenAPI contract (docs/proxy.md, "OpenAPI contract"): the OpenAPI 3 document its
-- examples are checked against when saved (violations warned of, or refused), and its calls
-- when `requests` is on (an invalid call answered 422). Not part of the mock's versions.
CREATE TABLE mock_contracts (
    mock_id uuid PRIMARY KEY REFERENCES mocks (id) ON DELETE CASCADE,
    document jsonb NOT NULL,
    refuse_examples boolean NOT NULL,
    requests boolean NOT NULL,
    attached_at timestamptz NOT NULL DEFAULT now()
);
