//! The Lyrebird server: the admin REST API, the mock runtime and the web pages, on axum.
//!
//! [`app`] builds the whole HTTP application from an [`AppState`], so tests can drive it
//! without a socket; [`serve`] is what `lyrebird serve` runs: it finds or starts the database,
//! migrates it, listens, and on SIGINT/SIGTERM answers the requests clients have already sent
//! (pipelined ones on keep-alive connections too), then stops the embedded PostgreSQL.
//!
//! The admin API has one module per resource, each building its own router: [`accounts`],
//! [`sessions`], [`keys`], [`mocks`], [`examples`], [`imports`], [`calls`] (the call log),
//! [`usage`], [`try_request`] and [`health`], gathered with their documentation by [`openapi`].
//! The mocks' own traffic is the mock runtime's (`lyrebird_runtime`); `front` stands in front of
//! everything and hands mock calls to it. [`extract`] holds the extractors (JSON bodies, typed
//! ids, authentication), [`error`] the one error type and [`config`] the command line;
//! [`client_addr`] tells who the client is, behind trusted proxies too. [`web`] is the web app's
//! pages, on the same state.

pub mod accounts;
pub mod calls;
pub mod client_addr;
pub mod config;
mod database;
pub mod error;
pub mod examples;
pub mod extract;
mod front;
mod gate;
pub mod health;
pub mod imports;
pub mod keys;
pub mod memory;
pub mod mocks;
pub mod openapi;
pub mod sessions;
pub mod try_request;
pub mod usage;
pub mod web;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router};
use lyrebird_runtime::Runtime;
use lyrebird_runtime::RuntimeOptions;
use lyrebird_runtime::call_log::CallLog;
use lyrebird_runtime::callbacks::{CallbackOptions, Callbacks};
use lyrebird_store::{MockId, Store};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::{RuntimeArgs, ServeArgs};
use crate::error::ApiError;
use crate::extract::SESSION_COOKIE;
use crate::front::{Peer, Served};
use crate::memory::MemoryGuard;
use crate::web::{csrf::ANONYMOUS_COOKIE, session::FLASH_COOKIE};

/// The cookies the app sets on its own origin, which the mock runtime strips from mock calls.
const APP_COOKIES: [&str; 3] = [SESSION_COOKIE, ANONYMOUS_COOKIE, FLASH_COOKIE];

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    /// The mock runtime, with its call log and callback worker.
    pub runtime: Runtime,
    pub memory: Arc<MemoryGuard>,
}

impl AppState {
    /// The state of a server on `store`: starts the mock runtime, which records calls in
    /// `call_log` and sends callbacks with `callbacks`, and applies every change committed
    /// through the state's store to it.
    pub async fn start(
        store: Store,
        settings: Settings,
        runtime: &RuntimeArgs,
        call_log: CallLog,
        callbacks: CallbackOptions,
    ) -> anyhow::Result<Self> {
        let callbacks = Callbacks::with_call_log(callbacks, call_log.clone())
            .context("setting up the callback client")?;
        let runtime = Runtime::start(
            store.clone(),
            settings.runtime_options(runtime),
            call_log,
            callbacks,
        )
        .await
        .context("starting the mock runtime")?;
        Ok(Self {
            // Changes made through the app reach this process's runtime before the response.
            store: store.applying_changes(Arc::new(runtime.clone())),
            memory: MemoryGuard::start(settings.memory_limit_bytes),
            settings: Arc::new(settings),
            runtime,
        })
    }
}

/// Settings the handlers need, fixed at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The public host[:port] that mock URLs are built on.
    pub base_host: String,
    pub monthly_quota: u64,
    pub max_body_bytes: usize,
    /// The largest file an import accepts, usually larger than `max_body_bytes`.
    pub max_import_bytes: usize,
    /// Resident memory past which new requests are refused ([`memory::MemoryGuard`]); `None`
    /// for the default share of what the process may have.
    pub memory_limit_bytes: Option<u64>,
}

impl Settings {
    /// `http://<id>.mock.<base-host>/`
    pub fn mock_url(&self, id: MockId) -> String {
        format!("http://{id}.mock.{}/", self.base_host)
    }

    /// `http://<base-host>/m/<id>/`
    pub fn mock_path_url(&self, id: MockId) -> String {
        format!("http://{}/m/{id}/", self.base_host)
    }

    /// What the mock runtime is handed at start: these settings, the app's cookies and the
    /// runtime's own options.
    fn runtime_options(&self, args: &RuntimeArgs) -> RuntimeOptions {
        RuntimeOptions {
            base_host: self.base_host.clone(),
            app_cookies: &APP_COOKIES,
            monthly_quota: self.monthly_quota,
            mock_cache_size: args.mock_cache_size,
            mock_max_body_bytes: args.mock_max_body_bytes,
            quota_lease: args.quota_lease,
        }
    }
}

/// The whole HTTP application as a router: the mock runtime's routing in front of [`routes`].
/// It is in front of the router rather than a layer on each of its routes, so a mock call
/// passes through none of their layers and looks up no route. The client's address comes from
/// the request's `ConnectInfo` and `TrustedProxies` extensions. `lyrebird serve` runs the same
/// application without this router in front (`front::Served`).
pub fn app(state: AppState) -> Router {
    let routes = routes(state.clone());
    Router::new().fallback_service(tower::service_fn(move |request| {
        let (state, routes) = (state.clone(), routes.clone());
        async move {
            let response = front::route(&state, &routes, Peer::Extensions, request).await;
            Ok::<_, Infallible>(response)
        }
    }))
}

/// The admin API and the web pages: what [`app`] hands every request that is not a mock call.
pub fn routes(state: AppState) -> Router {
    let (routes, _) = openapi::routes().split_for_parts();
    routes
        // Answers of the API may hold secrets (a new account's or a new key's).
        .layer(axum::middleware::map_response(
            |mut response: axum::response::Response| async move {
                response.headers_mut().insert(
                    axum::http::header::CACHE_CONTROL,
                    axum::http::HeaderValue::from_static("no-store"),
                );
                response
            },
        ))
        .merge(web::router())
        .fallback(|| async { ApiError::NoRoute })
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(Extension(web::throttle::LoginThrottle::default()))
        // Inside the runtime's routing: requests of the app and the API are logged, mock calls
        // are not (they are in the call log; a line per call would cost more than the call).
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Installed first, so that a signal during start-up is kept, and acted on (cleanly, the
    // embedded PostgreSQL included) as soon as the server runs, rather than killing the process
    // halfway.
    let shutdown = ShutdownSignals::install().context("installing the signal handlers")?;
    let (store, embedded) = database::open(&args, database::Running::Refuse).await?;
    let served = listen_and_serve(&args, store.clone(), shutdown).await;
    store.close().await;
    if let Some(postgres) = embedded {
        postgres.stop().await?;
    }
    served
}

async fn listen_and_serve(
    args: &ServeArgs,
    store: Store,
    shutdown: ShutdownSignals,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let listen = listener.local_addr()?;
    let base_host = args
        .base_host
        .clone()
        .unwrap_or_else(|| format!("localhost:{}", listen.port()));
    tracing::info!(%listen, %base_host, "lyrebird is listening");
    let settings = Settings {
        base_host,
        monthly_quota: args.monthly_quota,
        max_body_bytes: args.max_body_bytes,
        max_import_bytes: args.max_import_bytes,
        memory_limit_bytes: args.memory_limit_bytes,
    };
    let call_log = CallLog::start(store.clone(), args.call_log.options());
    let callbacks = CallbackOptions {
        timeout: Duration::from_millis(args.callback_timeout_ms),
        allow: args.callback_allow.clone(),
        ..CallbackOptions::default()
    };
    let state = AppState::start(store, settings, &args.runtime, call_log, callbacks).await?;
    let runtime = state.runtime.clone();
    let app = Served::new(state.clone(), routes(state), args.trusted_proxies.clone());
    axum::serve(listener, app.clone())
        .with_graceful_shutdown({
            // Live tails end at the signal: graceful shutdown waits for every open connection.
            // Requests clients have already sent are answered first (`Served::drain`).
            let runtime = runtime.clone();
            async move {
                shutdown.received().await;
                runtime.call_log().close_live_tails();
                app.drain().await;
            }
        })
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped serving; in-flight requests are finished");
    runtime.shutdown().await;
    Ok(())
}

/// SIGINT (Ctrl-C) and SIGTERM, caught from the moment they are installed.
struct ShutdownSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl ShutdownSignals {
    fn install() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Resolves at the first of the two signals (at once if one came already).
    async fn received(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => tracing::info!("SIGINT received, shutting down"),
            _ = self.terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
        }
    }
}
