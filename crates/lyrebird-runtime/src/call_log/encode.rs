//! A recorded call made into the form the store's blocks keep ([`NewCall`]), on the request
//! path: [`super::CallLog::record`] does it on the thread that answered the call. The writer
//! writes each call into its block as it takes it off the queue.
//!
//! The outcome stays typed up to here: its explanation (the engine's reason for a match, its
//! account of a miss, or a refusal's reason) is written as JSON text once, straight from the
//! typed value. A run of calls matched for the same reason, as a burst of calls to one endpoint
//! is, shares the JSON of that reason ([`LastReason`]).

use std::cell::RefCell;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lyrebird_engine::DecidedBy;
use lyrebird_store::calls::{NewCall, StoredBody};
use serde_json::value::{RawValue, to_raw_value};

use super::{CallOutcome, CallRecord, Decided, Explained, Noted, ServingNote};

/// A call's body sizes before the call log's cap.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sizes {
    pub request: usize,
    pub response: usize,
    pub cap: usize,
}

thread_local! {
    /// The last match reason encoded on this thread.
    static LAST_REASON: RefCell<LastReason> = RefCell::default();
}

/// The call as a block holds it; its strings move rather than being copied.
pub(super) fn encode(record: CallRecord, sizes: Sizes) -> NewCall {
    let outcome = record.outcome.kind();
    let (example, explanation) = match record.note {
        Some(note) => noted(&record.outcome, &note),
        None => LAST_REASON.with_borrow_mut(|last| explain(record.outcome, last)),
    };
    let (example_id, example_name) = example.unzip();
    NewCall {
        id: record.id,
        workspace_id: record.workspace_id,
        mock_id: record.mock_id,
        at: record.at,
        method: record.method,
        host: record.host,
        path: record.path,
        query: record.query,
        request_headers: record.request_headers,
        request_body: stored_body(&record.request_body, sizes.request),
        status: record.status,
        response_headers: record.response_headers,
        response_body: stored_body(&record.response_body, sizes.response),
        body_cap: sizes.cap as u64,
        outcome,
        example_id,
        example_name,
        explanation,
        error: record.error,
        latency_us: record.latency_us,
        client_addr: record.client_addr,
        key_id: record.key_id,
        callbacks_queued: u32::try_from(record.callbacks).unwrap_or(u32::MAX),
        version: record.version,
    }
}

/// The answering example, and the explanation as JSON text.
fn explain(
    outcome: CallOutcome,
    last: &mut LastReason,
) -> (
    Option<(lyrebird_store::ExampleId, String)>,
    Option<Box<RawValue>>,
) {
    let explained = |outcome: &CallOutcome| {
        outcome
            .explained()
            .and_then(|explained| to_raw_value(&explained).ok())
    };
    match outcome {
        CallOutcome::Matched {
            example_id,
            example_name,
            decided_by,
            state: None,
        } => (Some((example_id, example_name)), last.json(decided_by)),
        other => (
            other.example().map(|(id, name)| (id, name.to_owned())),
            explained(&other),
        ),
    }
}

/// The answering example, and the explanation with how the call was served.
fn noted(
    outcome: &CallOutcome,
    note: &ServingNote,
) -> (
    Option<(lyrebird_store::ExampleId, String)>,
    Option<Box<RawValue>>,
) {
    let example = outcome.example().map(|(id, name)| (id, name.to_owned()));
    let explained = outcome.explained();
    (example, to_raw_value(&Noted { explained, note }).ok())
}

/// The reason of the last match encoded and its JSON.
#[derive(Debug, Default)]
struct LastReason(Option<(DecidedBy, Box<RawValue>)>);

impl LastReason {
    fn json(&mut self, decided_by: DecidedBy) -> Option<Box<RawValue>> {
        if let Some((last, json)) = &self.0
            && *last == decided_by
        {
            return Some(json.clone());
        }
        let json = to_raw_value(&Explained::DecidedBy(Decided {
            decided_by: &decided_by,
            state: None,
        }))
        .ok()?;
        self.0 = Some((decided_by, json.clone()));
        Some(json)
    }
}

/// Text when the bytes are UTF-8 without NUL (PostgreSQL text cannot hold NUL), else base64.
fn stored_body(body: &[u8], size: usize) -> StoredBody {
    let size = size as u64;
    match std::str::from_utf8(body) {
        Ok(text) if !text.contains('\0') => StoredBody {
            text: text.to_owned(),
            base64: false,
            size,
        },
        _ => StoredBody {
            text: STANDARD.encode(body),
            base64: true,
            size,
        },
    }
}

#[cfg(test)]
mod tests {
    use lyrebird_store::ExampleId;
    use uuid::Uuid;

    use super::*;

    fn matched(candidates: usize) -> CallOutcome {
        CallOutcome::Matched {
            example_id: ExampleId::from(Uuid::nil()),
            example_name: "an order".to_owned(),
            state: None,
            decided_by: DecidedBy::Level {
                level: 1,
                name: "an order".to_owned(),
                form_body: false,
                priority: 0,
                conditions: 0,
                candidates,
                body: None,
            },
        }
    }

    fn explanation(outcome: CallOutcome, last: &mut LastReason) -> String {
        let (_, json) = explain(outcome, last);
        json.expect("a match has a reason").get().to_owned()
    }

    #[test]
    fn a_run_of_matches_for_one_reason_shares_its_json_and_a_new_reason_gets_its_own() {
        let mut last = LastReason::default();
        let one = explanation(matched(1), &mut last);
        assert!(one.contains(r#""candidates":1"#), "{one}");
        assert_eq!(explanation(matched(1), &mut last), one);
        let two = explanation(matched(2), &mut last);
        assert!(two.contains(r#""candidates":2"#), "{two}");
        let refused = CallOutcome::Refused {
            reason: "invalid_credentials".to_owned(),
        };
        let (example, json) = explain(refused, &mut last);
        assert_eq!(example, None);
        assert_eq!(json.unwrap().get(), r#"{"reason":"invalid_credentials"}"#);
        assert_eq!(explanation(matched(2), &mut last), two);
    }
}
