//! Callbacks against real receivers on loopback: the worker alone (what arrives, when, and what
//! is recorded when it cannot be sent), then through a mock whose template asks for one, with the
//! result found in the call log; calls passed through to a mock's upstream, behind the same
//! guard, their answers passed on as they come and within their limits; and drift checks of a
//! mock's examples against its upstream. Every address these tests send to is on 127.0.0.1 or
//! ::1.

mod drift;
#[path = "../support/in_process.rs"]
mod in_process;
mod mock_calls;
mod recording;
mod streaming;
mod upstream;
mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use in_process::Options;
use lyrebird_engine::render::Callback;
use lyrebird_runtime::call_log::{CallLogOptions, CallbackResult};
use lyrebird_runtime::callbacks::{CallbackOptions, Callbacks};
use lyrebird_runtime::network::AllowList;
use lyrebird_store::WorkspaceId;
use lyrebird_store::testing::TestDatabase;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use uuid::Uuid;

/// One request as a receiver saw it.
#[derive(Debug)]
struct Received {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

/// What a receiver's handler shares: where it reports, and a gate that holds requests until the
/// test opens it (open from the start unless a test wants to hold them).
#[derive(Clone)]
struct Hub {
    requests: mpsc::UnboundedSender<Received>,
    gate: Arc<Semaphore>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

struct Receiver {
    address: SocketAddr,
    requests: mpsc::UnboundedReceiver<Received>,
    hub: Hub,
}

impl Receiver {
    /// A receiver on 127.0.0.1 answering 202, except `/redirect` (302 to `/target`).
    async fn start() -> Self {
        let (sender, requests) = mpsc::unbounded_channel();
        let hub = Hub {
            requests: sender,
            gate: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            in_flight: Arc::default(),
            most_in_flight: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = Router::new().fallback(receive).with_state(hub.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            address,
            requests,
            hub,
        }
    }

    /// Holds every request until [`Receiver::release`].
    fn hold(&self) {
        self.hub.gate.forget_permits(Semaphore::MAX_PERMITS);
    }

    fn release(&self) {
        self.hub.gate.add_permits(Semaphore::MAX_PERMITS);
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

async fn receive(
    State(hub): State<Hub>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let at = Instant::now();
    let now = hub.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    hub.most_in_flight.fetch_max(now, Ordering::SeqCst);
    let path = uri.path().to_owned();
    hub.requests
        .send(Received {
            method,
            path: path.clone(),
            headers,
            body,
            at,
        })
        .unwrap();
    drop(hub.gate.acquire().await.unwrap());
    hub.in_flight.fetch_sub(1, Ordering::SeqCst);
    if path == "/redirect" {
        (StatusCode::FOUND, [(header::LOCATION, "/target")]).into_response()
    } else {
        StatusCode::ACCEPTED.into_response()
    }
}

/// A worker whose results come out of the returned channel.
fn worker(
    options: CallbackOptions,
) -> (Callbacks, mpsc::UnboundedReceiver<(Uuid, CallbackResult)>) {
    let (sender, results) = mpsc::unbounded_channel();
    let callbacks = Callbacks::start(options, move |call, result| {
        sender.send((call, result)).unwrap();
    })
    .unwrap();
    (callbacks, results)
}

/// The workspace the worker's own tests queue callbacks for.
fn ours() -> WorkspaceId {
    Uuid::nil().into()
}

fn allowing(list: &str) -> CallbackOptions {
    CallbackOptions {
        allow: list.parse::<AllowList>().unwrap(),
        ..CallbackOptions::default()
    }
}

fn post(url: String) -> Callback {
    Callback {
        url,
        method: "POST".into(),
        headers: Vec::new(),
        body: String::new(),
        delay_ms: 0,
    }
}

/// The one result the worker recorded for `call`.
async fn result_of(
    call: Uuid,
    results: &mut mpsc::UnboundedReceiver<(Uuid, CallbackResult)>,
) -> CallbackResult {
    let (id, result) = results.recv().await.unwrap();
    assert_eq!(id, call);
    result
}

/// An address on 127.0.0.1 that nothing listens on (its port was free a moment ago).
fn nobody_listens() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
