//! The whole application run inside the test process, the one way every in-process test runs
//! it: the state `lyrebird serve` builds ([`AppState::start`]) behind its front door
//! ([`Served`]), on a real loopback port and a real PostgreSQL. Tests differ only in
//! [`Options`].

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use lyrebird_runtime::call_log::{CallLog, CallLogOptions};
use lyrebird_runtime::callbacks::CallbackOptions;
use lyrebird_runtime::connection::Connections;
use lyrebird_server::auth::client_addr::TrustedProxies;
use lyrebird_server::config::{MailArgs, RuntimeArgs};
use lyrebird_server::mail::Mail;
use lyrebird_server::{AppState, Served, Settings};
use lyrebird_store::Store;
use tokio::task::JoinHandle;

/// What a test changes of the server's settings.
pub struct Options {
    pub monthly_quota: u64,
    pub max_body_bytes: usize,
    pub max_import_bytes: usize,
    pub call_log: CallLogOptions,
    pub callbacks: CallbackOptions,
    /// Mail settings (`LYREBIRD_SMTP_URL` and the rest); none by default, so nothing is mailed.
    pub mail: MailArgs,
    /// The proxies whose `X-Forwarded-For` is believed (none by default).
    pub trusted_proxies: TrustedProxies,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            monthly_quota: 1000,
            max_body_bytes: 1024 * 1024,
            max_import_bytes: 1024 * 1024,
            call_log: CallLogOptions::default(),
            callbacks: CallbackOptions::default(),
            mail: MailArgs::default(),
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

/// A running application.
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub state: AppState,
    pub call_log: CallLog,
    pub server: JoinHandle<()>,
}

/// Starts the application on `store` with `options`, on a free loopback port; mock hosts are
/// `<id>.mock.lyrebird.test:<port>`.
pub async fn start(store: Store, options: Options) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let call_log = CallLog::start(store.clone(), options.call_log);
    let base_host = format!("lyrebird.test:{port}");
    let settings = Settings {
        mail: Mail::new(&options.mail, &base_host).unwrap(),
        base_host,
        monthly_quota: options.monthly_quota,
        max_body_bytes: options.max_body_bytes,
        max_import_bytes: options.max_import_bytes,
        memory_limit_bytes: None,
        metrics_token: None,
    };
    let state = AppState::start(
        store,
        settings,
        &RuntimeArgs::default(),
        call_log.clone(),
        options.callbacks,
    )
    .await
    .unwrap();
    let served = Served::new(state.clone(), options.trusted_proxies);
    let connections = Connections(listener);
    let server = tokio::spawn(async move { axum::serve(connections, served).await.unwrap() });
    Running {
        base: format!("http://127.0.0.1:{port}"),
        state,
        call_log,
        server,
    }
}
