//! Callbacks: the HTTP requests a response template asks for with `callback(...)`, sent after the
//! response by a background worker, never on the request's time.
//!
//! [`Callbacks::enqueue`] hands a call's callbacks over without waiting; each one sleeps out its
//! `delay_ms` on the timer, takes one of a bounded number of sending slots, is sent with a
//! timeout and no redirects, and its result (status, latency, error) goes to the call log.
//! A callback is held in memory for its whole delay, so what is held is bounded three ways: a
//! number of callbacks, bytes in all, and bytes per workspace, so that one tenant's callbacks
//! can neither exhaust the memory nor take every other tenant's room.
//!
//! The HTTP client resolves and connects through [`crate::network`], which keeps callbacks off
//! the network the server runs in.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lyrebird_engine::render::Callback;
use lyrebird_store::WorkspaceId;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Client, Method, Url};
use time::OffsetDateTime;
use tokio::sync::{Semaphore, watch};
use uuid::Uuid;

use crate::call_log::{CallLog, CallbackResult};
use crate::network::{AllowList, GuardedResolver, Refusal};
use crate::upstream::Upstreams;

/// Where each callback's result goes: the call log in the server.
pub type Recorder = Arc<dyn Fn(Uuid, CallbackResult) + Send + Sync>;

/// Settings of the callback worker.
#[derive(Debug, Clone)]
pub struct CallbackOptions {
    /// How long one callback may take, from sending to the receiver's response headers.
    pub timeout: Duration,
    /// Hosts and networks reachable although their addresses are not public.
    pub allow: AllowList,
    /// Callbacks being sent at the same moment; the others wait for a slot.
    pub concurrency: usize,
    /// Callbacks accepted but not finished (waiting out a delay, for a slot, or being sent);
    /// past it new ones are refused, so a flood of calls cannot grow memory without end.
    pub capacity: usize,
    /// Bytes (URL, headers and body) of the callbacks accepted and not finished, in all.
    pub capacity_bytes: usize,
    /// The same, for the callbacks of one workspace.
    pub workspace_bytes: usize,
}

impl Default for CallbackOptions {
    /// 10 s, nothing non-public allowed, 32 at a time, 10,000 waiting holding at most 256 MiB,
    /// 16 MiB of them for one workspace.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            allow: AllowList::default(),
            concurrency: 32,
            capacity: 10_000,
            capacity_bytes: 256 << 20,
            workspace_bytes: 16 << 20,
        }
    }
}

/// Bytes of the callbacks accepted and not finished, in all and by workspace.
#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_workspace: HashMap<WorkspaceId, usize>,
}

/// The bytes of one accepted callback, given back when it finishes.
struct HeldBytes {
    inner: Arc<Inner>,
    workspace: WorkspaceId,
    bytes: usize,
}

impl Drop for HeldBytes {
    fn drop(&mut self) {
        let mut held = self
            .inner
            .held
            .lock()
            .expect("the held bytes are never poisoned");
        held.total -= self.bytes;
        if let Some(of_workspace) = held.by_workspace.get_mut(&self.workspace) {
            *of_workspace -= self.bytes;
            if *of_workspace == 0 {
                held.by_workspace.remove(&self.workspace);
            }
        }
    }
}

/// What a callback holds in memory while it waits.
fn size_of(callback: &Callback) -> usize {
    callback.url.len()
        + callback.method.len()
        + callback.body.len()
        + callback
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum::<usize>()
}

/// The handle the mock runtime queues callbacks through. Cheap to clone.
#[derive(Clone)]
pub struct Callbacks {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    /// Pass-through to mocks' upstreams, behind the same guard.
    upstreams: Upstreams,
    options: CallbackOptions,
    record: Recorder,
    /// One permit per callback accepted and not yet finished.
    pending: Arc<Semaphore>,
    /// One permit per callback being sent.
    sending: Semaphore,
    held: Mutex<Held>,
    /// Turns true when the server stops: callbacks still waiting out a delay give up.
    stopping: watch::Sender<bool>,
}

impl fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl Callbacks {
    /// The server's worker: every result is stored with its call in the call log.
    pub fn with_call_log(
        options: CallbackOptions,
        call_log: CallLog,
    ) -> Result<Self, reqwest::Error> {
        Self::start(options, move |call_id, result| {
            call_log.record_callback(call_id, result);
        })
    }

    /// Builds the HTTP client; every result goes to `record`.
    pub fn start(
        options: CallbackOptions,
        record: impl Fn(Uuid, CallbackResult) + Send + Sync + 'static,
    ) -> Result<Self, reqwest::Error> {
        let client = Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                allow: options.allow.clone(),
            }))
            // A redirect could point anywhere, the metadata address included; the receiver's
            // 3xx is recorded instead.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would connect on our behalf to an address we never checked.
            .no_proxy()
            .timeout(options.timeout)
            .user_agent(concat!("lyrebird/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                upstreams: Upstreams::new(options.allow.clone())?,
                pending: Arc::new(Semaphore::new(options.capacity)),
                sending: Semaphore::new(options.concurrency),
                held: Mutex::default(),
                stopping: watch::Sender::new(false),
                record: Arc::new(record),
                options,
            }),
        })
    }

    /// The client of mocks' upstreams, which the same allow-list lets through.
    pub(crate) fn upstreams(&self) -> &Upstreams {
        &self.inner.upstreams
    }

    /// Queues the callbacks of call `call_id`, made by a mock of `workspace`. Never waits: past
    /// a capacity a callback is recorded at once as not sent.
    pub fn enqueue(&self, workspace: WorkspaceId, call_id: Uuid, callbacks: Vec<Callback>) {
        for callback in callbacks {
            let Ok(permit) = Arc::clone(&self.inner.pending).try_acquire_owned() else {
                let error = format!(
                    "not sent: {} callbacks are already waiting",
                    self.inner.options.capacity
                );
                (self.inner.record)(call_id, unsent(&callback, error));
                continue;
            };
            let held = match self.hold(workspace, size_of(&callback)) {
                Ok(held) => held,
                Err(error) => {
                    (self.inner.record)(call_id, unsent(&callback, error));
                    continue;
                }
            };
            let inner = Arc::clone(&self.inner);
            tokio::spawn(async move {
                let result = inner.run(callback).await;
                (inner.record)(call_id, result);
                drop((permit, held));
            });
        }
    }

    /// Takes `bytes` of room for a callback of `workspace`, or says which capacity is full.
    fn hold(&self, workspace: WorkspaceId, bytes: usize) -> Result<HeldBytes, String> {
        let options = &self.inner.options;
        let mut held = self
            .inner
            .held
            .lock()
            .expect("the held bytes are never poisoned");
        let of_workspace = held.by_workspace.get(&workspace).copied().unwrap_or(0);
        if of_workspace + bytes > options.workspace_bytes {
            return Err(format!(
                "not sent: the workspace's callbacks waiting already hold {of_workspace} of {} bytes",
                options.workspace_bytes
            ));
        }
        if held.total + bytes > options.capacity_bytes {
            return Err(format!(
                "not sent: the callbacks waiting already hold {} of {} bytes",
                held.total, options.capacity_bytes
            ));
        }
        held.total += bytes;
        *held.by_workspace.entry(workspace).or_default() += bytes;
        Ok(HeldBytes {
            inner: Arc::clone(&self.inner),
            workspace,
            bytes,
        })
    }

    /// Stops taking callbacks: those still waiting out their delay are recorded as not sent,
    /// those being sent finish (within the timeout). Returns once every result is recorded, so
    /// the call log can be flushed after it.
    pub async fn shutdown(&self) {
        self.inner.stopping.send_replace(true);
        let all = u32::try_from(self.inner.options.capacity).unwrap_or(u32::MAX);
        let _ = self.inner.pending.acquire_many(all).await;
    }
}

impl Inner {
    async fn run(&self, callback: Callback) -> CallbackResult {
        if callback.delay_ms > 0 {
            let mut stopping = self.stopping.subscribe();
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(callback.delay_ms)) => {}
                _ = stopping.wait_for(|stop| *stop) => {
                    return unsent(&callback, "not sent: the server stopped during its delay".into());
                }
            }
        }
        let _slot = self
            .sending
            .acquire()
            .await
            .expect("the sending semaphore is never closed");
        let at = OffsetDateTime::now_utc();
        let started = Instant::now();
        let outcome = self.send(&callback).await;
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let (status, error) = match outcome {
            Ok(status) => (Some(status), None),
            Err(error) => (None, Some(error)),
        };
        CallbackResult {
            url: callback.url,
            method: callback.method,
            at,
            status,
            latency_us,
            error,
        }
    }

    /// Sends one callback; the receiver's status, or why there is none.
    async fn send(&self, callback: &Callback) -> Result<u16, String> {
        let url = Url::parse(&callback.url).map_err(|e| format!("invalid URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "refused: only http and https callbacks are sent, not {}",
                url.scheme()
            ));
        }
        let host = url.host_str().ok_or("invalid URL: it has no host")?;
        // An address written in the URL never reaches the resolver, so it is checked here.
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            self.options
                .allow
                .check(host, ip)
                .map_err(|r| r.to_string())?;
        }
        let method = Method::from_bytes(callback.method.as_bytes())
            .map_err(|_| format!("invalid method {:?}", callback.method))?;
        let mut request = self.client.request(method, url).body(callback.body.clone());
        for (name, value) in &callback.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name {name:?}"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("invalid value of header {name}"))?;
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(error) => Err(describe(&error, self.options.timeout)),
        }
    }
}

fn unsent(callback: &Callback, error: String) -> CallbackResult {
    CallbackResult {
        url: callback.url.clone(),
        method: callback.method.clone(),
        at: OffsetDateTime::now_utc(),
        status: None,
        latency_us: 0,
        error: Some(error),
    }
}

/// A sending error in words: the refusal when the resolver refused, otherwise the error and its
/// causes (reqwest's own message alone says only "error sending request").
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("timed out after {} ms", timeout.as_millis());
    }
    let mut causes: Vec<String> = Vec::new();
    let mut next: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(cause) = next {
        if let Some(refusal) = cause.downcast_ref::<Refusal>() {
            return refusal.to_string();
        }
        let text = cause.to_string();
        if !causes.iter().any(|seen| seen.contains(&text)) {
            causes.push(text);
        }
        next = cause.source();
    }
    causes.join(": ")
}
