//! The mock runtime: the hot path of a mock call (`docs/serving.md`).
//!
//! [`route`] sits in front of the admin API and the web pages and claims mock calls
//! ([`routing`]); [`call`] answers them: the compiled mock from [`cache`], the key from [`keys`]
//! for private mocks, the monthly quota from [`quota`], the engine's answer, delays on the timer,
//! [`cors`], then the call record and callbacks. None of it touches the database for a warm mock.
//!
//! Coherence: a background task listens on `lyrebird_mock_changed`, `lyrebird_keys_changed` and
//! `lyrebird_usage_changed`; a successful change through this process's own API is applied
//! before its response goes out (so the very next call sees it even before the notification
//! arrives); and when the listener's connection is lost (PostgreSQL restarted, or the network
//! failed), it reconnects and then reloads everything cached in the background, since
//! notifications may have been missed, while warm mocks keep answering from memory.

mod cache;
mod call;
mod cors;
mod keys;
mod quota;
mod routing;

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use clap::Args;
use futures_util::future::BoxFuture;
use lyrebird_store::{
    KEYS_CHANGED_CHANNEL, MOCK_CHANGED_CHANNEL, MockId, Store, StoreError, USAGE_CHANGED_CHANNEL,
    UsageMonth, WorkspaceId,
};
use sqlx::postgres::PgListener;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::{Service, ServiceExt};

use crate::AppState;
use crate::client_addr::{ClientAddr, TrustedProxies};
use crate::error::ApiError;
use cache::{Entry, MockCache};
pub use call::TriedAnswer;
use keys::KeyMap;
use quota::Quotas;
pub use quota::{Admission, Limits};
pub use routing::{MockTarget, mock_target};

/// Options of the mock runtime (part of `lyrebird serve`).
#[derive(Debug, Clone, Args)]
pub struct RuntimeArgs {
    /// How many compiled mocks each process keeps in memory; the least recently used leave
    /// first.
    #[arg(long, env = "LYREBIRD_MOCK_CACHE_SIZE", default_value_t = 10_000)]
    pub mock_cache_size: usize,

    /// The largest request body a mock accepts, in bytes (a larger one is answered 413).
    #[arg(long, env = "LYREBIRD_MOCK_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub mock_max_body_bytes: usize,

    /// Mock calls a process first reserves from a workspace's monthly quota at a time; the lease
    /// doubles (up to 1,024 times this) when calls outrun it. Several processes never admit more
    /// than the quota together; larger leases mean fewer database round trips.
    #[arg(long, env = "LYREBIRD_QUOTA_LEASE", default_value_t = 100)]
    pub quota_lease: u64,
}

impl Default for RuntimeArgs {
    fn default() -> Self {
        Self {
            mock_cache_size: 10_000,
            mock_max_body_bytes: 1024 * 1024,
            quota_lease: 100,
        }
    }
}

/// The runtime's shared state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    cache: MockCache,
    keys: KeyMap,
    quotas: Quotas,
    max_body_bytes: usize,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// Why a mock could not be tried.
#[derive(Debug, thiserror::Error)]
pub enum TryError {
    /// The stored mock does not compile with this engine.
    #[error("this mock cannot be served: {0}")]
    Broken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How often served calls and key uses are written.
const WRITE_INTERVAL: Duration = Duration::from_secs(1);

impl Runtime {
    /// Loads the keys and starts listening for changes (before any call is served, so none is
    /// missed), then the background writer of usage and key use.
    pub async fn start(
        store: Store,
        default_quota: u64,
        args: &RuntimeArgs,
    ) -> lyrebird_store::Result<Self> {
        let listener = listen(&store).await?;
        let runtime = Self {
            inner: Arc::new(Inner {
                store: store.clone(),
                cache: MockCache::new(store.clone(), args.mock_cache_size),
                keys: KeyMap::load(store.clone()).await?,
                quotas: Quotas::new(store, default_quota, args.quota_lease),
                max_body_bytes: args.mock_max_body_bytes,
                tasks: Mutex::default(),
            }),
        };
        let notified = tokio::spawn(runtime.clone().follow_changes(listener));
        let writer = tokio::spawn(runtime.clone().write_periodically());
        runtime
            .inner
            .tasks
            .lock()
            .expect("task list lock")
            .extend([notified, writer]);
        Ok(runtime)
    }

    /// Stops the background tasks, writes usage and key use, and hands back unused leased
    /// calls. Run after serving has stopped, before the database stops.
    pub async fn shutdown(&self) {
        for task in self.inner.tasks.lock().expect("task list lock").drain(..) {
            task.abort();
        }
        self.inner.quotas.shutdown().await;
        self.inner.keys.write_last_used().await;
    }

    /// What the workspace's mock would answer to `request`, from the compiled mock that serves
    /// it, without counting or recording anything; `None` when the workspace has no such mock.
    pub async fn try_request(
        &self,
        workspace: WorkspaceId,
        id: MockId,
        request: lyrebird_engine::Request,
    ) -> Result<Option<TriedAnswer>, TryError> {
        let entry = self.inner.cache.get(id).await?;
        match &*entry {
            Entry::Ready(mock) if mock.workspace == workspace => {
                Ok(Some(call::try_answer(mock, request)))
            }
            Entry::Broken {
                workspace: owner,
                reason,
            } if *owner == workspace => Err(TryError::Broken(reason.clone())),
            _ => Ok(None),
        }
    }

    /// Calls served this month and not yet written, for `GET /api/v1/usage`.
    pub fn unwritten_calls(&self, workspace: WorkspaceId, month: UsageMonth) -> u64 {
        self.inner.quotas.unwritten(workspace, month)
    }

    async fn follow_changes(self, mut listener: PgListener) {
        loop {
            let lost = match listener.try_recv().await {
                Ok(Some(notification)) => {
                    self.changed(notification.channel(), notification.payload())
                        .await;
                    continue;
                }
                Ok(None) => "the connection was lost".to_owned(),
                Err(error) => error.to_string(),
            };
            // The cache is refreshed once listening again, not at the loss, and in the
            // background: warm mocks keep being served while the database is away and after.
            tracing::warn!(reason = %lost, "change notifications stopped; reconnecting");
            listener = self.relisten().await;
            self.changes_missed().await;
        }
    }

    /// A new listener, once the database lets us listen again.
    async fn relisten(&self) -> PgListener {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match listen(&self.inner.store).await {
                Ok(listener) => return listener,
                Err(error) => tracing::debug!(%error, "still cannot listen for changes"),
            }
        }
    }

    async fn changed(&self, channel: &str, payload: &str) {
        match channel {
            MOCK_CHANGED_CHANNEL => {
                if let Ok(id) = payload.parse() {
                    let runtime = self.clone();
                    tokio::spawn(async move { runtime.inner.cache.refresh(id).await });
                }
            }
            KEYS_CHANGED_CHANNEL => self.reload_keys().await,
            USAGE_CHANGED_CHANNEL => {
                let Some((what, workspace)) = payload.split_once(':') else {
                    return;
                };
                let Ok(workspace) = workspace.parse() else {
                    return;
                };
                let quotas = &self.inner.quotas;
                match what {
                    "quota" => quotas.quota_changed(workspace),
                    "wanted" => quotas.calls_wanted(workspace),
                    "returned" => quotas.calls_returned(workspace),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    async fn changes_missed(&self) {
        tracing::info!("listening for changes again; reloading what is cached");
        self.inner.quotas.recheck_all();
        self.reload_keys().await;
        let runtime = self.clone();
        tokio::spawn(async move { runtime.inner.cache.refresh_all().await });
    }

    async fn reload_keys(&self) {
        if let Err(error) = self.inner.keys.reload().await {
            tracing::warn!(%error, "could not reload the API keys");
        }
    }

    async fn write_periodically(self) {
        let mut every = tokio::time::interval(WRITE_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            self.inner.quotas.write_usage().await;
            self.inner.keys.write_last_used().await;
        }
    }

    /// Applies a change just made through this process's admin API.
    async fn admin_changed(&self, change: AdminChange) {
        match change {
            AdminChange::Mock(id) => self.inner.cache.evict(id),
            AdminChange::Keys => self.reload_keys().await,
        }
    }
}

async fn listen(store: &Store) -> lyrebird_store::Result<PgListener> {
    let mut listener = store.listener().await?;
    listener
        .listen_all([
            MOCK_CHANGED_CHANNEL,
            KEYS_CHANGED_CHANNEL,
            USAGE_CHANGED_CHANNEL,
        ])
        .await?;
    Ok(listener)
}

/// A change through the admin API that the runtime must see at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AdminChange {
    /// A mock's settings or examples (any write under `/api/v1/mocks/<id>`).
    Mock(MockId),
    /// Keys created (also at sign-up) or revoked.
    Keys,
}

/// What a successful request with this method and target (path and query) changes, if
/// anything: writes through the API (`/api/v1/mocks/<id>/...`, and an import into a mock,
/// `/api/v1/imports/<format>?mock=<id>`) and through the web pages (`/mocks/<id>/...`) alike.
fn admin_change(method: &Method, target: &str) -> Option<AdminChange> {
    if *method == Method::GET || *method == Method::HEAD {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path.starts_with("/api/v1/imports/") {
        // A mock id needs no percent-encoding; one that has it is refused by the import too.
        let into = query.split('&').find_map(|pair| pair.strip_prefix("mock="));
        return into.and_then(|id| id.parse().ok().map(AdminChange::Mock));
    }
    let resource_path = path
        .strip_prefix("/api/v1/")
        .or_else(|| path.strip_prefix('/'))?;
    if let Some(rest) = resource_path.strip_prefix("mocks/") {
        let mut parts = rest.split('/');
        let id = parts.next().unwrap_or_default();
        // Trying a request reads the mock and changes nothing.
        if parts.next() == Some("try") {
            return None;
        }
        return id.parse().ok().map(AdminChange::Mock);
    }
    let resource = resource_path.split('/').next().unwrap_or_default();
    matches!(resource, "keys" | "accounts" | "signup").then_some(AdminChange::Keys)
}

/// Where a request came from, for the client's address the call log records.
#[derive(Debug, Clone, Copy)]
pub enum Peer<'a> {
    /// The connection's address and the proxies whose `X-Forwarded-For` is believed, as
    /// [`Served`] knows them.
    Connection {
        address: SocketAddr,
        trusted: &'a TrustedProxies,
    },
    /// `ConnectInfo` and `TrustedProxies` in the request's extensions, where a router's layers
    /// put them ([`crate::app`]).
    Extensions,
}

impl Peer<'_> {
    /// The client's address, as [`ClientAddr`] gives it.
    fn client(self, parts: &Parts) -> Option<IpAddr> {
        match self {
            Peer::Connection { address, trusted } => {
                Some(trusted.client(address.ip(), &parts.headers))
            }
            Peer::Extensions => ClientAddr::of(parts).0,
        }
    }
}

/// In front of the whole application: mock calls go to the runtime; everything else to `app`
/// (the admin API and the web pages), and a successful change there reaches the runtime before
/// the response leaves.
pub async fn route(
    state: &AppState,
    app: &Router,
    peer: Peer<'_>,
    mut request: Request,
) -> Response {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return several_hosts();
    }
    let host = host
        .and_then(|value| value.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    if let Some(target) = mock_target(&state.settings.base_host, host, request.uri().path()) {
        return call::serve(state, target, peer, request).await;
    }
    if let Peer::Connection { address, trusted } = peer {
        request.extensions_mut().insert(ConnectInfo(address));
        request.extensions_mut().insert(trusted.clone());
    }
    let target = request
        .uri()
        .path_and_query()
        .map_or("", |target| target.as_str());
    let change = admin_change(request.method(), target);
    let Ok(response) = app.clone().oneshot(request).await;
    // Pages answer a successful form with a redirect.
    if let Some(change) = change
        && (response.status().is_success() || response.status().is_redirection())
    {
        Box::pin(state.runtime.admin_changed(change)).await;
    }
    response
}

/// A request with more than one `Host` header: which one names the mock or the site is
/// ambiguous (a proxy in front may have read the other), so RFC 9112 (section 3.2) says to refuse
/// it with a 400. The connection is closed too: its framing is not to be trusted.
fn several_hosts() -> Response {
    let error = ApiError::BadRequest(
        "the request has more than one Host header; send exactly one (RFC 9112, section 3.2)"
            .to_owned(),
    );
    ([(header::CONNECTION, "close")], error).into_response()
}

/// The whole application as `lyrebird serve` runs it, [`crate::app`] without the router in
/// front: it makes one [`Connection`] per accepted connection, which knows the client's address,
/// so a mock call reaches [`route`] through no router, layer or request extension. Those cost a
/// warm mock call boxed service clones, extension maps and route futures: about 4% of the
/// server's core in a profile of `deploy/loadbench.sh`.
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
    pub fn new(state: AppState, routes: Router, trusted: TrustedProxies) -> Self {
        Self(Arc::new(App {
            state,
            routes,
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

impl Service<IncomingStream<'_, TcpListener>> for Served {
    type Response = Connection;
    type Error = Infallible;
    type Future = Ready<Result<Connection, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: IncomingStream<'_, TcpListener>) -> Self::Future {
        ready(Ok(Connection {
            app: self.0.clone(),
            address: *stream.remote_addr(),
        }))
    }
}

/// A [`Served`] application on one connection. Cloned for every request (by hyper's glue), so
/// cheap to clone.
#[derive(Debug, Clone)]
pub struct Connection {
    app: Arc<App>,
    address: SocketAddr,
}

impl Service<Request> for Connection {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Connection { app, address } = self.clone();
        Box::pin(async move {
            let closing = app.drain.start();
            let in_flight = InFlight(app);
            let app = &in_flight.0;
            let peer = Peer::Connection {
                address,
                trusted: &app.trusted,
            };
            let mut response = route(&app.state, &app.routes, peer, request).await;
            if closing {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_under_a_mock_and_key_changes_are_seen_as_changes() {
        let id = MockId::generate();
        let examples = format!("/api/v1/mocks/{id}/examples");
        assert_eq!(
            admin_change(&Method::PUT, &examples),
            Some(AdminChange::Mock(id))
        );
        assert_eq!(admin_change(&Method::GET, &examples), None);
        assert_eq!(admin_change(&Method::POST, "/api/v1/mocks"), None);
        assert_eq!(
            admin_change(&Method::DELETE, &format!("/api/v1/keys/{id}")),
            Some(AdminChange::Keys)
        );
        assert_eq!(
            admin_change(&Method::POST, "/api/v1/accounts"),
            Some(AdminChange::Keys)
        );
        assert_eq!(admin_change(&Method::POST, "/api/v1/sessions"), None);
        assert_eq!(
            admin_change(&Method::POST, &format!("/mocks/{id}/settings")),
            Some(AdminChange::Mock(id))
        );
        assert_eq!(
            admin_change(&Method::POST, "/signup"),
            Some(AdminChange::Keys)
        );
        assert_eq!(admin_change(&Method::POST, "/login"), None);
        assert_eq!(
            admin_change(&Method::POST, &format!("/api/v1/imports/postman?mock={id}")),
            Some(AdminChange::Mock(id))
        );
        assert_eq!(admin_change(&Method::POST, "/api/v1/imports/postman"), None);
        assert_eq!(
            admin_change(&Method::POST, &format!("/api/v1/mocks/{id}/try")),
            None
        );
    }
}
