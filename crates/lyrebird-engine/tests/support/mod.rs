//! What the engine's state tests share: a mock from JSON, and a client that sends requests one
//! after the other and keeps the state as the runtime does (applying each answer's writes).

use std::sync::Arc;

use lyrebird_engine::state::State;
use lyrebird_engine::{CompiledMock, MatchSettings, Request, Selection};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

pub fn mock(settings: Value, examples: Value) -> CompiledMock {
    let examples = examples
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(n, example)| {
            (
                Uuid::from_u128(n as u128 + 1),
                serde_json::from_value(example.clone()).expect("a valid example"),
            )
        })
        .collect();
    let settings: MatchSettings = serde_json::from_value(settings).expect("valid settings");
    CompiledMock::compile(examples, settings, Default::default()).expect("the mock compiles")
}

/// Sends requests one after the other, keeping the state as the runtime would.
pub struct Client {
    mock: CompiledMock,
    pub state: Arc<State>,
}

impl Client {
    pub fn new(mock: CompiledMock) -> Self {
        assert!(mock.is_stateful());
        Self {
            mock,
            state: Arc::default(),
        }
    }

    pub fn call(&mut self, method: &str, url: &str, body: &str) -> (u16, String, Selection) {
        let request = Request::from_url(method, url, &[], body);
        let outcome = self
            .mock
            .respond_in(&request, OffsetDateTime::UNIX_EPOCH, &self.state);
        if !outcome.writes.is_empty() {
            let mut next = (*self.state).clone();
            for write in &outcome.writes {
                next.apply(write);
            }
            next.version += 1;
            self.state = Arc::new(next);
        }
        let (status, body) = outcome.rendered.map_or((404, String::new()), |r| {
            (r.status, String::from_utf8(r.body).unwrap())
        });
        (status, body, outcome.selection)
    }

    pub fn json(&mut self, method: &str, url: &str, body: &str) -> (u16, Value) {
        let (status, text, _) = self.call(method, url, body);
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}
