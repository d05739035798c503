-- When the mock's recording began (docs/proxy.md, "Recording"), or NULL when it is not
-- recording. A recording mock passes every call no example matches to its upstream, and stopping
-- the recording turns those calls into examples of the mock's draft. Not part of the mock's
-- versions: recording changes nothing the mock answers by itself.
ALTER TABLE mocks ADD COLUMN recording_since timestamptz;
