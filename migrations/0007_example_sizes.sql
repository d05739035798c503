-- A mock's size budget counts the bytes of its examples as the engine reads them (the JSON
-- text), not as PostgreSQL stores them: a body of a million repeated characters compresses to
-- almost nothing on disk but not in a compiled mock.
ALTER TABLE examples ADD COLUMN bytes integer GENERATED ALWAYS AS (octet_length(body::text)) STORED;
