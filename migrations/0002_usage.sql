-- Mock calls per workspace and calendar month (UTC), for the monthly quota.
--
-- `leased` is what serving processes have reserved: a process admits a call only out of a lease
-- it holds, and leases are granted only while `leased` stays within the quota, so all processes
-- together never admit more than the quota. Unused leases are handed back when a process idles
-- or stops. `calls` is what was actually served, added in batches off the request path.
CREATE TABLE usage (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- The first day of the month.
    month        date NOT NULL,
    calls        bigint NOT NULL DEFAULT 0 CHECK (calls >= 0),
    leased       bigint NOT NULL DEFAULT 0 CHECK (leased >= 0),
    CONSTRAINT usage_pkey PRIMARY KEY (workspace_id, month)
);
