//! Faults and drawn waits applied to a mock's answer (docs/testing-with-lyrebird.md): the engine
//! says which fault an example has and chaos which calls get one; this module changes the
//! answer, or its body as it is sent, accordingly. `close` and `reset` end the connection
//! instead ([`crate::connection`]).

use std::time::Duration;

use axum::body::{Body, Bytes};
use futures_util::{StreamExt, stream};
use lyrebird_engine::faults::ChaosFault;
use lyrebird_engine::{Fault, Latency};
use serde::Serialize;

use crate::connection::Break;

/// The fault a call got, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Applied {
    pub fault: Fault,
    /// A random number for what the fault chooses (a `status` fault's status).
    pub draw: u64,
    pub reason: String,
}

/// What the call log says of a fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultNote {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub reason: String,
}

impl Applied {
    /// The fault of the response that answered (an example's, or the fallback's).
    pub fn of_response(fault: Fault, whose: &str) -> Self {
        Self {
            fault,
            draw: rand::random(),
            reason: format!("{whose} has this fault"),
        }
    }

    pub fn of_chaos(chosen: ChaosFault<'_>) -> Self {
        Self {
            fault: chosen.fault.clone(),
            draw: chosen.draw,
            reason: chosen.reason,
        }
    }

    pub fn note(&self) -> FaultNote {
        FaultNote {
            kind: self.fault.kind(),
            reason: self.reason.clone(),
        }
    }

    /// How the connection ends, for the faults that answer nothing.
    pub fn breaks(&self) -> Option<Break> {
        match self.fault {
            Fault::Close {} => Some(Break::Close),
            Fault::Reset {} => Some(Break::Reset),
            _ => None,
        }
    }
}

/// The first half of a body followed by `{"`: never valid JSON, whatever the body was.
pub(crate) fn malformed(body: &[u8]) -> Bytes {
    let mut broken = body[..body.len() / 2].to_vec();
    broken.extend_from_slice(b"{\"");
    Bytes::from(broken)
}

/// The error body of a `status` fault.
pub(crate) fn status_body(status: u16, reason: &str) -> serde_json::Value {
    serde_json::json!({"error": {
        "code": "injected_fault",
        "message": format!("Lyrebird answered {status} on purpose: {reason}"),
    }})
}

/// The body as sent: whole, or as a `truncated` or `trickle` fault sends it. Both declare the
/// whole body's length (the caller sets `Content-Length`).
pub(crate) fn body(fault: Option<&Fault>, body: Bytes) -> Body {
    match fault {
        Some(Fault::Truncated {}) => {
            let half = body.slice(..body.len() / 2);
            // The error comes after a pause, in which hyper sends what it has; an error at
            // once would end the connection with the half still in its buffer.
            let end = async {
                tokio::task::yield_now().await;
                Err(std::io::Error::other(
                    "the truncated fault ends the body here",
                ))
            };
            Body::from_stream(stream::once(async { Ok(half) }).chain(stream::once(end)))
        }
        Some(Fault::Trickle { chunks, over_ms }) => {
            let size = (body.len() as u64)
                .div_ceil(u64::from((*chunks).max(1)))
                .max(1);
            // As many pauses as pieces after the first, so the last comes at `over_ms`.
            let pieces = (body.len() as u64).div_ceil(size);
            let pause = Duration::from_millis(over_ms / pieces.saturating_sub(1).max(1));
            let size = size as usize;
            let pieces = stream::unfold((body, true), move |(rest, first)| async move {
                if rest.is_empty() {
                    return None;
                }
                if !first {
                    tokio::time::sleep(pause).await;
                }
                let mut rest = rest;
                let piece = rest.split_to(size.min(rest.len()));
                Some((Ok::<_, std::io::Error>(piece), (rest, false)))
            });
            Body::from_stream(pieces)
        }
        _ => Body::from(body),
    }
}

/// A wait drawn from `latency`, in milliseconds (0 without one).
pub(crate) fn drawn(latency: Option<&Latency>) -> u64 {
    latency.map_or(0, |latency| {
        latency.sample([rand::random(), rand::random()])
    })
}
