-- The call log: every mock call, partitioned by month, searched by mock and time.
-- Rows are written in batches by the server's call-log writer; the server creates the current
-- and next month's partitions at start and every hour (lyrebird_calls_ensure_partitions), and
-- drops partitions older than the retention.

-- Trigram indexes make the free-text search (`q`, a substring match) use an index.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE calls (
    id                  uuid NOT NULL,
    workspace_id        uuid NOT NULL,
    mock_id             uuid NOT NULL,
    at                  timestamptz NOT NULL,
    method              text NOT NULL,
    host                text NOT NULL,
    -- The path the engine saw, after the mock's base.
    path                text NOT NULL,
    query               text NOT NULL,
    -- Arrays of [name, value] pairs in the order received, secrets redacted.
    request_headers     jsonb NOT NULL,
    -- A body is text when it was UTF-8 (without NUL), else base64 of the bytes, cut to body_cap
    -- bytes; *_size is the size before the cut.
    request_body        text NOT NULL,
    request_body_base64 boolean NOT NULL,
    request_body_size   bigint NOT NULL,
    status              smallint NOT NULL,
    response_headers    jsonb NOT NULL,
    response_body       text NOT NULL,
    response_body_base64 boolean NOT NULL,
    response_body_size  bigint NOT NULL,
    body_cap            bigint NOT NULL,
    outcome             text NOT NULL
        CHECK (outcome IN ('matched', 'no_match', 'fallback', 'refused', 'over_quota')),
    example_id          uuid,
    example_name        text,
    -- Matched: the engine's DecidedBy; no match and fallback: its Explanation;
    -- refused: {"reason": ...}.
    explanation         jsonb,
    error               text,
    latency_us          bigint NOT NULL,
    client_addr         inet,
    key_id              uuid,
    callbacks_queued    integer NOT NULL,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);

-- Rows outside every monthly partition (a clock far off) land here rather than failing a batch.
CREATE TABLE calls_default PARTITION OF calls DEFAULT;

-- The text `q` searches: path, query, headers and bodies. One function, so the index and the
-- query use the same expression.
CREATE FUNCTION lyrebird_call_text(
    path text, query text, request_headers jsonb, request_body text,
    response_headers jsonb, response_body text
) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN path || ' ' || query || ' ' || request_headers::text || ' ' || request_body || ' '
    || response_headers::text || ' ' || response_body;

CREATE INDEX calls_mock_time_idx ON calls (workspace_id, mock_id, at DESC, id DESC);
CREATE INDEX calls_status_idx ON calls (mock_id, status, at DESC);
CREATE INDEX calls_method_idx ON calls (mock_id, method, at DESC);
CREATE INDEX calls_outcome_idx ON calls (mock_id, outcome, at DESC);
CREATE INDEX calls_text_idx ON calls USING gin (
    lyrebird_call_text(path, query, request_headers, request_body, response_headers, response_body)
    gin_trgm_ops
);

-- Callback results arrive after their call is written (or before, when the writer is behind);
-- a table of their own keeps both orders right without updating the big table. Clearing a
-- mock's calls deletes their callbacks; retention deletes by time.
CREATE TABLE call_callbacks (
    id           uuid PRIMARY KEY,
    call_id      uuid NOT NULL,
    at           timestamptz NOT NULL,
    url          text NOT NULL,
    method       text NOT NULL,
    status       smallint,
    latency_us   bigint NOT NULL,
    error        text
);
CREATE INDEX call_callbacks_call_idx ON call_callbacks (call_id, at);
CREATE INDEX call_callbacks_at_idx ON call_callbacks (at);

-- Creates the monthly partitions `calls_pYYYYMM` for the month of `start` and the `months - 1`
-- after it, unless they exist. Several servers may run it at once: the advisory lock queues them.
CREATE FUNCTION lyrebird_calls_ensure_partitions(start timestamptz, months integer)
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
        partition := 'calls_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYYMM');
        IF to_regclass(partition) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF calls FOR VALUES FROM (%L) TO (%L)',
                partition, month_start, month_start + interval '1 month'
            );
        END IF;
    END LOOP;
END;
$$;

SELECT lyrebird_calls_ensure_partitions(now(), 2);
