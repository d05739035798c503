//! The Lyrebird server: the admin REST API, the mock runtime and the web pages, on axum.
//!
//! [`Served`] is the whole HTTP application on an [`AppState`], as `lyrebird serve` runs it and
//! as every test drives it; [`serve`] is what `lyrebird serve` runs: it finds or starts the database,
//! migrates it, listens, and on SIGINT/SIGTERM answers the requests clients have already sent
//! (pipelined ones on keep-alive connections too), then stops the embedded PostgreSQL.
//!
//! This file only wires the parts together:
//! - `front` stands in front of everything: mock calls go to the mock runtime
//!   (`lyrebird_runtime`), everything else to the router of [`api`] and [`web`];
//! - [`api`]: the admin REST API, one module per resource; [`web`]: the web app's pages;
//! - [`auth`]: who the caller is (keys, sessions, cookies, CSRF, login throttling, the client's
//!   address), used by both [`api`] and [`web`], which it does not know;
//! - [`extract`]: JSON bodies, query strings and path ids read with errors that say where;
//!   [`error`]: the one error type; [`config`]: the command line; [`memory`]: the memory guard;
//!   `state`: [`AppState`] and [`Settings`], built by [`AppState::start`].

pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
mod database;
mod diff;
pub mod error;
pub mod extract;
mod front;
pub mod mail;
pub mod memory;
pub mod metrics;
pub mod operator;
mod state;
pub mod web;

pub use state::{AppState, Settings};

use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router};
use lyrebird_runtime::call_log::CallLog;
use lyrebird_runtime::callbacks::CallbackOptions;
use lyrebird_runtime::connection::Connections;
use lyrebird_store::Store;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::ServeArgs;
use crate::error::ApiError;
pub use crate::front::Served;

/// The admin API and the web pages: what [`Served`] hands every request that is not a mock call.
pub fn routes(state: AppState) -> Router {
    let (routes, _) = api::openapi::routes().split_for_parts();
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
        // Every change of a workspace is recorded (docs/audit.md).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit::layer,
        ))
        .route("/metrics", axum::routing::get(metrics::public))
        .fallback(|| async { ApiError::NoRoute })
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(Extension(auth::throttle::LoginThrottle::new(
            state.store.clone(),
        )))
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
        base_host: base_host.clone(),
        monthly_quota: args.monthly_quota,
        max_body_bytes: args.max_body_bytes,
        max_import_bytes: args.max_import_bytes,
        memory_limit_bytes: args.memory_limit_bytes,
        metrics_token: args
            .metrics_token
            .clone()
            .filter(|token| !token.0.is_empty()),
        mail: mail::Mail::new(&args.mail, &base_host)?,
    };
    if settings.mail.configured() {
        tracing::info!("invitations and account links are mailed (LYREBIRD_SMTP_URL)");
    } else {
        tracing::info!("no LYREBIRD_SMTP_URL: nothing is mailed, links are shown to copy");
    }
    let call_log = CallLog::start(store.clone(), args.call_log.options());
    let callbacks = CallbackOptions {
        timeout: Duration::from_millis(args.callback_timeout_ms),
        allow: args.callback_allow.clone(),
        ..CallbackOptions::default()
    };
    let state = AppState::start(store, settings, &args.runtime, call_log, callbacks).await?;
    let runtime = state.runtime.clone();
    let stopping = state.clone();
    if let Some(address) = args.metrics_listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("listening for metrics on {address}"))?;
        tracing::info!(metrics_listen = %listener.local_addr()?, "metrics are served");
        let metrics = metrics::own_listener(state.clone());
        tokio::spawn(async move { axum::serve(listener, metrics).await });
    }
    let app = Served::new(state, args.trusted_proxies.clone());
    axum::serve(Connections(listener), app.clone())
        .with_graceful_shutdown({
            // Live tails end at the signal: graceful shutdown waits for every open connection.
            // Requests clients have already sent are answered first (`Served::drain`).
            let runtime = runtime.clone();
            async move {
                shutdown.received().await;
                stopping.begin_stopping();
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
