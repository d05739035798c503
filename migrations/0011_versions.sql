-- Versions and drafts of mocks (docs/versions-and-impact.md).
--
-- Every change to a mock (its settings or its examples, from the API, the web app, an import
-- or the CLI) that leaves it different makes a numbered version: the mock's settings and the
-- list of its examples, each named by its id and the SHA-256 of its JSON text. The texts live
-- once per mock in `example_bodies`, so a version of a 500-example mock where one example
-- changed costs 500 ids and digests and one new text, not 500 texts.

-- The version that answers the mock's calls now (its newest).
ALTER TABLE mocks ADD COLUMN version integer NOT NULL DEFAULT 1;

-- The SHA-256 of an example's JSON text. `convert_to` is only stable (it reads the encoding's
-- conversions), but text is converted from the database's encoding, which never changes.
CREATE FUNCTION lyrebird_digest(body jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT sha256(convert_to($1::text, 'UTF8')) $$;

ALTER TABLE examples ADD COLUMN digest bytea GENERATED ALWAYS AS (lyrebird_digest(body)) STORED;

CREATE TABLE example_bodies (
    mock_id uuid NOT NULL REFERENCES mocks (id) ON DELETE CASCADE,
    digest  bytea NOT NULL,
    body    jsonb NOT NULL,
    PRIMARY KEY (mock_id, digest)
);

CREATE TABLE mock_versions (
    mock_id     uuid NOT NULL REFERENCES mocks (id) ON DELETE CASCADE,
    number      integer NOT NULL CHECK (number >= 1),
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- Who made it, as they were named then: {"kind": "account", "id": …, "name": email},
    -- {"kind": "key", "id": …, "name": key name} or {"kind": "system"}.
    author      jsonb NOT NULL,
    -- What made it, when not an edit: "restored from version 3", "published draft", an import.
    note        text,
    -- The mock's settings as its columns hold them.
    settings    jsonb NOT NULL,
    example_ids uuid[] NOT NULL,
    digests     bytea[] NOT NULL,
    -- What changed from the version before, counted when it was made (lists read this, not
    -- the arrays): {"settings": bool, "added": n, "removed": n, "changed": n, "reordered": bool};
    -- absent for a mock's first version.
    changes     jsonb,
    PRIMARY KEY (mock_id, number)
);

-- Revisions of drafts: every edit of any draft takes the next, so a revision never names two
-- states of a draft, nor a draft discarded and started again.
CREATE SEQUENCE lyrebird_draft_revisions;

-- A mock's draft: edits that do not touch what the mock answers until they are published.
CREATE TABLE mock_drafts (
    mock_id    uuid PRIMARY KEY REFERENCES mocks (id) ON DELETE CASCADE,
    -- The version it started from.
    based_on   integer NOT NULL,
    -- Renewed by every edit (from lyrebird_draft_revisions): an edit may name the revision it
    -- read, and is refused when the draft has changed since.
    revision   bigint NOT NULL DEFAULT nextval('lyrebird_draft_revisions'),
    settings   jsonb NOT NULL,
    -- [{"id": …, "example": {…}}, …] in order.
    examples   jsonb NOT NULL,
    -- The last impact report, dropped by an edit.
    impact     jsonb,
    author     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Who acted, as a version or a draft records them: with the name they had then, so the record
-- still reads once the account or key is gone. `kind` is 'account', 'key' or 'system'.
CREATE FUNCTION lyrebird_author(kind text, id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE $1
        WHEN 'account' THEN jsonb_build_object(
            'kind', 'account', 'id', $2, 'name', (SELECT email FROM accounts WHERE accounts.id = $2))
        WHEN 'key' THEN jsonb_build_object(
            'kind', 'key', 'id', $2, 'name', (SELECT name FROM api_keys WHERE api_keys.id = $2))
        ELSE '{"kind": "system"}'::jsonb
    END
$$;

-- The mocks there are now become their version 1.
INSERT INTO example_bodies (mock_id, digest, body)
SELECT mock_id, digest, body FROM examples
ON CONFLICT DO NOTHING;

INSERT INTO mock_versions (mock_id, number, created_at, author, note, settings, example_ids, digests)
SELECT m.id, 1, m.updated_at, '{"kind": "system"}', 'the mock as it was when versions began',
    to_jsonb(m) - 'id' - 'workspace_id' - 'created_at' - 'updated_at' - 'version',
    coalesce((SELECT array_agg(e.id ORDER BY e.position) FROM examples e WHERE e.mock_id = m.id),
             '{}'),
    coalesce((SELECT array_agg(e.digest ORDER BY e.position) FROM examples e
              WHERE e.mock_id = m.id), '{}')
FROM mocks m;
