-- Headers added to the requests a mock passes through to its upstream (docs/proxy.md), such as
-- an API token, with the upstream origin they were set for (they are sent to that origin only):
-- `{"origin": "https://api.example.com", "headers": {"authorization": "Bearer ..."}}`, or `{}`.
-- Kept apart from `settings` so that versions, drafts and exports, which copy the settings, never
-- copy them; the API shows their names only.
ALTER TABLE mocks ADD COLUMN upstream_headers jsonb NOT NULL DEFAULT '{}'::jsonb;
