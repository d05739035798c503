//! What stands in front of the whole application: each request is either a mock call, handed
//! to the mock runtime (`lyrebird_runtime`), or a request of the admin API or the web pages,
//! handed to their router.
//!
//! [`route`] makes that choice; [`Served`] is the application as `lyrebird serve` runs it, one
//! [`Connection`] per accepted connection, so a mock call reaches the runtime through no router,
//! layer or request extension, and a graceful shutdown first answers what clients already sent
//! ([`Drain`]).

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use futures_util::future::BoxFuture;
use lyrebird_runtime::connection::{Breaker, Connections};
use tower::{Service, ServiceExt};

use crate::AppState;
use crate::auth::client_addr::TrustedProxies;
use crate::error::ApiError;

/// In front of the whole application: mock calls go to the runtime; everything else to `app`
/// (the admin API and the web pages).
async fn route(
    state: &AppState,
    app: &Router,
    address: SocketAddr,
    trusted: &TrustedProxies,
    breaker: &Breaker,
    mut request: Request,
) -> Response {
    // The last line against running out of memory; liveness is answered all the same.
    if state.memory.pressed() && request.uri().path() != "/healthz" {
        return ApiError::MemoryPressure.into_response();
    }
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return ApiError::SeveralHosts.into_response();
    }
    let host = host
        .and_then(|value| value.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    if let Some(target) = state.runtime.target(host, request.uri().path()) {
        let client = |parts: &Parts| Some(trusted.client(address.ip(), &parts.headers));
        return state.runtime.serve(target, client, request, breaker).await;
    }
    // What the admin side's `ClientAddr` reads.
    request.extensions_mut().insert(ConnectInfo(address));
    request.extensions_mut().insert(trusted.clone());
    let Ok(response) = app.clone().oneshot(request).await;
    response
}

/// The whole application, as `lyrebird serve` runs it and as the tests drive it: it makes one
/// [`Connection`] per accepted connection, which knows the client's address, so a mock call
/// reaches [`route`] through no router, layer or request extension. Those cost a warm mock call
/// boxed service clones, extension maps and route futures: about 4% of the server's core in a
/// profile of `deploy/loadbench.sh`.
#[derive(Debug, Clone)]
pub struct Served(Arc<App>);

/// What every request of a [`Served`] application reaches.
#[derive(Debug)]
struct App {
    state: AppState,
    /// The admin API and the web pages ([`crate::routes`]).
    routes: Router,
    trusted: TrustedProxies,
    drain: Drain,
}

impl Served {
    /// The application on `state`, believing the `X-Forwarded-For` of `trusted` proxies.
    pub fn new(state: AppState, trusted: TrustedProxies) -> Self {
        Self(Arc::new(App {
            routes: crate::routes(state.clone()),
            state,
            trusted,
            drain: Drain::default(),
        }))
    }

    /// The first step of a graceful shutdown, before connections are told to close: answers
    /// the requests that clients have already sent. See [`Drain`].
    pub async fn drain(&self) {
        self.0.drain.settle().await;
    }
}

/// Answering what clients already sent before connections are closed.
///
/// Told to shut down, hyper closes idle keep-alive connections and lets each busy one finish
/// its request, then closes it: requests pipelined behind that one, already sent and often
/// already read, went unanswered. So a [`Served`] application drains first: every request that
/// starts from then on is answered as usual but with `Connection: close`, which ends its
/// connection after the answer, and only once no request has been in flight for
/// [`Drain::QUIET`] (at most [`Drain::AT_MOST`]) is hyper told to shut down, which then closes
/// the idle connections and waits for any request still running.
#[derive(Debug, Default)]
struct Drain {
    draining: AtomicBool,
    /// Requests started, and requests in flight.
    started: AtomicU64,
    in_flight: AtomicUsize,
}

impl Drain {
    /// How long no request must be in flight, or start, for the drain to be over: much longer
    /// than hyper takes to start a request that is already in its buffer.
    const QUIET: Duration = Duration::from_millis(100);
    /// The longest drain; requests still running are waited for after it all the same.
    const AT_MOST: Duration = Duration::from_secs(10);

    /// A request starts: whether its answer must close the connection.
    fn start(&self) -> bool {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.draining.load(Ordering::Relaxed)
    }

    fn end(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Starts draining and returns when it is over.
    async fn settle(&self) {
        self.draining.store(true, Ordering::Relaxed);
        let quiet = async {
            loop {
                let started = self.started.load(Ordering::Relaxed);
                tokio::time::sleep(Self::QUIET).await;
                if self.in_flight.load(Ordering::Relaxed) == 0
                    && self.started.load(Ordering::Relaxed) == started
                {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(Self::AT_MOST, quiet).await;
    }
}

/// A request of a [`Served`] application in flight, counted until it is answered or dropped.
struct InFlight(Arc<App>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.drain.end();
    }
}

impl Service<IncomingStream<'_, Connections>> for Served {
    type Response = Connection;
    type Error = Infallible;
    type Future = Ready<Result<Connection, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: IncomingStream<'_, Connections>) -> Self::Future {
        ready(Ok(Connection {
            app: self.0.clone(),
            address: *stream.remote_addr(),
            breaker: stream.io().breaker().clone(),
        }))
    }
}

/// A [`Served`] application on one connection. Cloned for every request (by hyper's glue), so
/// cheap to clone.
#[derive(Debug, Clone)]
pub struct Connection {
    app: Arc<App>,
    address: SocketAddr,
    /// Ends the connection without an answer, for the `close` and `reset` faults.
    breaker: Breaker,
}

impl Service<Request> for Connection {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Connection {
            app,
            address,
            breaker,
        } = self.clone();
        Box::pin(async move {
            let closing = app.drain.start();
            let in_flight = InFlight(app);
            let app = &in_flight.0;
            let mut response = route(
                &app.state,
                &app.routes,
                address,
                &app.trusted,
                &breaker,
                request,
            )
            .await;
            if closing {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response)
        })
    }
}
