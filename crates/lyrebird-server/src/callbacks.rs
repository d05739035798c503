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
//! A mock's author chooses the URL, so the server must not become their way into the network it
//! runs in: a callback may only reach a public address. The check is made on the addresses the
//! host resolves to, inside the HTTP client's own resolver, and the client connects only to the
//! addresses that passed, so a DNS answer that changes between a check and the connection
//! (rebinding) cannot slip through. The operator opens holes with [`AllowList`]
//! (`LYREBIRD_CALLBACK_ALLOW`). `docs/callbacks.md` is the user's account of this.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use lyrebird_engine::render::Callback;
use lyrebird_store::WorkspaceId;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Client, Method, Url};
use time::OffsetDateTime;
use tokio::sync::{Semaphore, watch};
use uuid::Uuid;

use crate::calls::{CallLog, CallbackResult};

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
                pending: Arc::new(Semaphore::new(options.capacity)),
                sending: Semaphore::new(options.concurrency),
                held: Mutex::default(),
                stopping: watch::Sender::new(false),
                record: Arc::new(record),
                options,
            }),
        })
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

/// The client's resolver: looks the host up, then keeps only the addresses the policy allows.
struct GuardedResolver {
    allow: AllowList,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let mut allowed = Vec::with_capacity(found.len());
            for address in found {
                match allow.check(&host, address.ip()) {
                    Ok(()) => allowed.push(address),
                    Err(refused) => refusal = refusal.or(Some(refused)),
                }
            }
            match refusal {
                Some(refused) if allowed.is_empty() => Err(refused.into()),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// Why a callback was not sent to an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    host: String,
    address: IpAddr,
    kind: &'static str,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            host,
            address,
            kind,
        } = self;
        if host.trim_start_matches('[').trim_end_matches(']') == address.to_string() {
            write!(f, "refused: {address} is a {kind} address")?;
        } else {
            write!(f, "refused: {host} resolves to {address}, a {kind} address")?;
        }
        f.write_str(" (the operator can allow it with LYREBIRD_CALLBACK_ALLOW)")
    }
}

impl StdError for Refusal {}

/// The hosts and networks a callback may reach although their addresses are not public, from
/// `LYREBIRD_CALLBACK_ALLOW`: a comma-separated list of host names (`localhost`,
/// `hooks.internal`), addresses (`127.0.0.1`, `::1`) and networks (`10.1.0.0/16`, `fd00::/8`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    hosts: Vec<String>,
    networks: Vec<IpNet>,
}

impl AllowList {
    /// Whether a callback to `host` may connect to `address`.
    pub fn check(&self, host: &str, address: IpAddr) -> Result<(), Refusal> {
        let Some(kind) = non_public(address) else {
            return Ok(());
        };
        let name = host.trim_end_matches('.');
        let host_allowed = self.hosts.iter().any(|h| h.eq_ignore_ascii_case(name));
        let canonical = canonical(address);
        let network_allowed = self
            .networks
            .iter()
            .any(|net| net.contains(&address) || net.contains(&canonical));
        if host_allowed || network_allowed {
            Ok(())
        } else {
            Err(Refusal {
                host: host.to_owned(),
                address,
                kind,
            })
        }
    }
}

impl FromStr for AllowList {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut allow = Self::default();
        for entry in crate::config::list_entries(list) {
            if let Some(network) = crate::config::parse_network(entry) {
                allow.networks.push(network);
            } else if is_host_name(entry) {
                allow
                    .hosts
                    .push(entry.trim_end_matches('.').to_ascii_lowercase());
            } else {
                return Err(format!(
                    "{entry:?} is neither a host name (hooks.internal), an address (127.0.0.1) \
                     nor a network (10.0.0.0/8)"
                ));
            }
        }
        Ok(allow)
    }
}

fn is_host_name(entry: &str) -> bool {
    let name = entry.trim_end_matches('.');
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        // All digits and dots is a mistyped address, not a name.
        && !name.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// The cloud providers' instance metadata endpoints (AWS, GCP, Azure, ... use the IPv4 one).
const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

/// What kind of non-public address this is, or `None` for a public one.
pub fn non_public(address: IpAddr) -> Option<&'static str> {
    match canonical(address) {
        IpAddr::V4(v4) => {
            let [first, second, third, _] = v4.octets();
            if v4 == METADATA_V4 {
                Some("cloud metadata")
            } else if first == 0 {
                Some("unspecified")
            } else if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if first == 100 && second & 0xc0 == 64 {
                Some("carrier-grade NAT")
            } else if first == 198 && second & 0xfe == 18 {
                Some("benchmarking")
            } else if [first, second, third] == [192, 0, 0] {
                Some("IETF protocol assignment")
            } else if v4.is_broadcast() {
                Some("broadcast")
            } else if v4.is_multicast() {
                Some("multicast")
            } else if first >= 240 {
                Some("reserved")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let [first, second, third, ..] = v6.segments();
            if v6 == METADATA_V6 {
                Some("cloud metadata")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_loopback() {
                Some("loopback")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if first & 0xffc0 == 0xfec0 {
                Some("site-local")
            } else if first & 0xfe00 == 0xfc00 {
                Some("unique local")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if [first, second] == [0x2001, 0] {
                // The IPv4 address it reaches is the NAT's, not the one it carries.
                Some("Teredo")
            } else if [first, second, third] == [0x64, 0xff9b, 1] {
                // How it carries an IPv4 address is up to the network's operator.
                Some("NAT64 local-use")
            } else {
                None
            }
        }
    }
}

/// The IPv4 address inside an IPv6 one that carries it (IPv4-mapped `::ffff:a.b.c.d`,
/// IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`): a
/// connection to it reaches that IPv4 address, so it is judged as one.
fn canonical(address: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = address else {
        return address;
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let segments = v6.segments();
    let [a, b, c, d, e, f, ..] = segments;
    let compatible = [a, b, c, d, e, f] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified();
    let nat64 = [a, b, c, d, e, f] == [0x64, 0xff9b, 0, 0, 0, 0];
    let from_halves =
        |hi: u16, lo: u16| IpAddr::V4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    if compatible || nat64 {
        let [.., hi, lo] = segments;
        from_halves(hi, lo)
    } else if a == 0x2002 {
        from_halves(b, c)
    } else {
        address
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn every_non_public_address_is_named_and_public_ones_pass() {
        let table = [
            ("127.0.0.1", Some("loopback")),
            ("127.255.0.9", Some("loopback")),
            ("::1", Some("loopback")),
            ("10.0.0.1", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("192.168.1.1", Some("private")),
            ("169.254.1.1", Some("link-local")),
            ("fe80::1", Some("link-local")),
            ("febf::1", Some("link-local")),
            ("100.64.0.1", Some("carrier-grade NAT")),
            ("100.127.255.255", Some("carrier-grade NAT")),
            ("fc00::1", Some("unique local")),
            ("fd12:3456::1", Some("unique local")),
            ("fec0::1", Some("site-local")),
            ("0.0.0.0", Some("unspecified")),
            ("0.1.2.3", Some("unspecified")),
            ("::", Some("unspecified")),
            ("224.0.0.1", Some("multicast")),
            ("ff02::1", Some("multicast")),
            ("255.255.255.255", Some("broadcast")),
            ("240.0.0.1", Some("reserved")),
            ("169.254.169.254", Some("cloud metadata")),
            ("fd00:ec2::254", Some("cloud metadata")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:10.1.2.3", Some("private")),
            ("::ffff:169.254.169.254", Some("cloud metadata")),
            ("::127.0.0.1", Some("loopback")),
            ("64:ff9b::192.168.0.1", Some("private")),
            ("64:ff9b::169.254.169.254", Some("cloud metadata")),
            ("64:ff9b:1::a00:1", Some("NAT64 local-use")),
            ("2002:7f00:1::", Some("loopback")),
            ("2002:a9fe:a9fe::1", Some("cloud metadata")),
            ("2002:c0a8:101::", Some("private")),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Some("Teredo")),
            ("2001::1", Some("Teredo")),
            ("198.18.0.1", Some("benchmarking")),
            ("198.19.255.255", Some("benchmarking")),
            ("192.0.0.1", Some("IETF protocol assignment")),
            ("192.0.0.255", Some("IETF protocol assignment")),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            ("172.15.255.255", None),
            ("172.32.0.0", None),
            ("2606:4700:4700::1111", None),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::8.8.8.8", None),
            ("2002:808:808::", None),
            ("2001:db9::1", None),
            ("198.17.255.255", None),
            ("198.20.0.0", None),
            ("192.0.1.1", None),
        ];
        for (address, kind) in table {
            assert_eq!(non_public(ip(address)), kind, "{address}");
        }
    }

    #[test]
    fn the_allow_list_takes_hosts_addresses_and_networks() {
        let allow: AllowList = " localhost, Hooks.Internal. ,127.0.0.1,10.1.2.3/16,fd00::/8,"
            .parse()
            .unwrap();
        assert_eq!(allow.hosts, ["localhost", "hooks.internal"]);
        assert_eq!(
            allow.networks,
            ["127.0.0.1/32", "10.1.0.0/16", "fd00::/8"].map(|n| n.parse::<IpNet>().unwrap())
        );
        assert_eq!("".parse::<AllowList>().unwrap(), AllowList::default());
    }

    #[test]
    fn an_allow_list_entry_that_is_no_host_address_or_network_is_an_error() {
        for bad in [
            "10.0.0.0/33",
            "http://hooks",
            "hooks:8080",
            "300.1.1.1",
            "a..b",
            "-x",
        ] {
            let error = bad.parse::<AllowList>().unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
    }

    #[test]
    fn an_allowed_network_or_host_lets_a_non_public_address_through() {
        let allow: AllowList = "127.0.0.1,10.1.0.0/16,hooks.internal".parse().unwrap();
        assert!(allow.check("127.0.0.1", ip("127.0.0.1")).is_ok());
        assert!(allow.check("x", ip("::ffff:127.0.0.1")).is_ok());
        assert!(allow.check("x", ip("10.1.200.3")).is_ok());
        assert!(allow.check("hooks.internal.", ip("192.168.9.9")).is_ok());
        assert!(allow.check("HOOKS.internal", ip("192.168.9.9")).is_ok());
        assert!(allow.check("x", ip("8.8.8.8")).is_ok());
        assert!(allow.check("x", ip("127.0.0.2")).is_err());
        assert!(allow.check("x", ip("10.2.0.1")).is_err());
        assert!(allow.check("other.internal", ip("192.168.9.9")).is_err());
    }

    #[test]
    fn a_refusal_names_the_host_the_address_and_its_kind() {
        let none = AllowList::default();
        assert_eq!(
            none.check("metadata.google.internal", ip("169.254.169.254"))
                .unwrap_err()
                .to_string(),
            "refused: metadata.google.internal resolves to 169.254.169.254, a cloud metadata \
             address (the operator can allow it with LYREBIRD_CALLBACK_ALLOW)"
        );
        assert!(
            none.check("[::1]", ip("::1"))
                .unwrap_err()
                .to_string()
                .starts_with("refused: ::1 is a loopback address")
        );
    }
}
