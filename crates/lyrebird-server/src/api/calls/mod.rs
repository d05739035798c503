//! The call log as the admin API reads it: search and detail in `search` (which also builds the
//! routes), the live tail in `stream` and the NDJSON and HAR exports in `export`. Calls are
//! recorded by the mock runtime (`lyrebird_runtime::call_log`); this side only reads them.

mod changes;
mod export;
pub mod search;
mod stream;
