-- The call log in blocks: one row per mock and writer batch instead of one row per call.
--
-- Under load PostgreSQL spent 8 to 12 µs of CPU writing each call's row (forming a 27-column
-- tuple, two index entries, three JSON checks, its WAL record): as much as the server spent
-- answering the call. A block of up to a thousand calls is one tuple, one index entry and one
-- WAL record for all of them; writing a call into one costs about its bytes. Searches read a
-- mock's blocks newest first and filter the calls in the server (docs/call-log.md, "Storage").

CREATE TABLE call_blocks (
    -- The id of the block's first call: the writer makes the same blocks from the same batch,
    -- so a batch written twice (a retry after a lost answer) is refused by the primary key.
    id           uuid NOT NULL,
    workspace_id uuid NOT NULL,
    mock_id      uuid NOT NULL,
    -- The oldest and newest call in the block; a block never spans two months.
    first_at     timestamptz NOT NULL,
    last_at      timestamptz NOT NULL,
    -- Calls that count against the quota (matched, no match, fallback): the dashboard's count.
    answered     integer NOT NULL,
    -- How `calls` is encoded: 0, a JSON array of calls (blocks made by this migration);
    -- 1, the calls one after another in postcard's binary form, compressed with LZ4 (blocks
    -- made by the server).
    format       smallint NOT NULL,
    -- The ids of the block's calls, in the block's order: looking up a call, clearing callbacks.
    call_ids     uuid[] NOT NULL,
    calls        bytea NOT NULL,
    PRIMARY KEY (id, first_at)
) PARTITION BY RANGE (first_at);

-- Stored as they are, out of line: the server compresses the calls itself, and PostgreSQL's
-- compression of the rest would cost more than it saves.
ALTER TABLE call_blocks
    ALTER COLUMN call_ids SET STORAGE EXTERNAL,
    ALTER COLUMN calls SET STORAGE EXTERNAL;

-- Blocks outside every monthly partition (a clock far off) land here rather than failing.
CREATE TABLE call_blocks_default PARTITION OF call_blocks DEFAULT;

CREATE INDEX call_blocks_mock_time_idx
    ON call_blocks (workspace_id, mock_id, last_at DESC, id DESC);

-- Creates the monthly partitions `call_blocks_pYYYYMM` for the month of `start` and the
-- `months - 1` after it, unless they exist. Several servers may run it at once: the advisory
-- lock queues them.
CREATE FUNCTION lyrebird_call_blocks_ensure_partitions(start timestamptz, months integer)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamptz;
    partition text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('lyrebird_calls_partitions'));
    FOR i IN 0 .. months - 1 LOOP
        month_start := date_trunc('month', start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
            + make_interval(months => i);
        partition := 'call_blocks_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYYMM');
        IF to_regclass(partition) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF call_blocks FOR VALUES FROM (%L) TO (%L)',
                partition, month_start, month_start + interval '1 month'
            );
        END IF;
    END LOOP;
END;
$$;

SELECT lyrebird_call_blocks_ensure_partitions(now(), 2);
SELECT lyrebird_call_blocks_ensure_partitions(month, 1)
FROM (SELECT DISTINCT date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month
      FROM calls) AS months;

-- The calls logged so far move into blocks of format 0: per mock and month, a thousand at most.
INSERT INTO call_blocks
    (id, workspace_id, mock_id, first_at, last_at, answered, format, call_ids, calls)
SELECT (array_agg(id ORDER BY at, id))[1], workspace_id, mock_id, min(at), max(at),
    count(*) FILTER (WHERE outcome IN ('matched', 'no_match', 'fallback')),
    0,
    array_agg(id ORDER BY at, id),
    convert_to(json_agg(json_build_object(
        'id', id,
        'at', (extract(epoch FROM at) * 1000000)::bigint,
        'method', method,
        'host', host,
        'path', path,
        'query', query,
        'request_headers', request_headers,
        'request_body', json_build_object(
            'text', request_body, 'base64', request_body_base64, 'size', request_body_size),
        'status', status,
        'response_headers', response_headers,
        'response_body', json_build_object(
            'text', response_body, 'base64', response_body_base64, 'size', response_body_size),
        'body_cap', body_cap,
        'outcome', outcome,
        'example_id', example_id,
        'example_name', example_name,
        'explanation', explanation::text,
        'error', error,
        'latency_us', latency_us,
        'client_addr', host(client_addr),
        'key_id', key_id,
        'callbacks_queued', callbacks_queued
    ) ORDER BY at, id)::text, 'UTF8')
FROM (
    SELECT *,
        date_trunc('month', at AT TIME ZONE 'UTC') AS month,
        (row_number() OVER (
            PARTITION BY mock_id, date_trunc('month', at AT TIME ZONE 'UTC') ORDER BY at, id
        ) - 1) / 1000 AS chunk
    FROM calls
) AS numbered
GROUP BY workspace_id, mock_id, month, chunk;

DROP TABLE calls;
DROP FUNCTION lyrebird_call_text(text, text, json, text, json, text);
DROP FUNCTION lyrebird_calls_ensure_partitions(timestamptz, integer);
