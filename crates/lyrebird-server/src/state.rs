//! What every handler can reach ([`AppState`]) and the settings fixed at start ([`Settings`]).
//! [`AppState::start`] builds it, for `lyrebird serve` and for every test alike: the mock
//! runtime with its call log and callback worker, the store that applies every change to that
//! runtime, and the memory guard.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use lyrebird_runtime::call_log::CallLog;
use lyrebird_runtime::callbacks::{CallbackOptions, Callbacks};
use lyrebird_runtime::{Runtime, RuntimeOptions};
use lyrebird_store::{MockId, Store};

use crate::auth::cookies::APP_COOKIES;
use crate::config::RuntimeArgs;
use crate::memory::MemoryGuard;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    /// The mock runtime, with its call log and callback worker.
    pub runtime: Runtime,
    pub memory: Arc<MemoryGuard>,
    /// Set when a shutdown signal arrives: the readiness probes answer 503 from then on.
    stopping: Arc<AtomicBool>,
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
            stopping: Arc::default(),
        })
    }

    /// The server has been told to stop: it still answers, but should be sent no more.
    pub fn begin_stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
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
    /// What a scraper of `GET /metrics` shows; without it, the public listener has no metrics
    /// ([`crate::metrics`]).
    pub metrics_token: Option<crate::config::MetricsToken>,
    /// Mail, and the public URL of the links it carries ([`crate::mail`]).
    pub mail: crate::mail::Mail,
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
