//! Pass-through (docs/proxy.md): a call that no example of a mock matches is sent on to the
//! mock's upstream, the real API behind it, and the upstream's answer is the call's.
//!
//! The upstream's URL is the mock author's choice, so it goes through the same guard as
//! callbacks ([`crate::network`]): the addresses its host resolves to must be public unless the
//! operator allows them (`LYREBIRD_CALLBACK_ALLOW`), an address written in the URL is checked
//! here, no proxy of the environment is used, and redirects are not followed (the client gets
//! the upstream's 3xx and follows it itself, from its own network). Each workspace has at most
//! [`PER_WORKSPACE`] calls at its upstreams at once; a call past them is answered 503.
//!
//! An answer's body is passed on as it comes ([`Streaming`]), within the mock's time for the
//! upstream (`upstream.timeout_ms`), which runs from sending the request to the answer's last
//! byte; [`Upstreams::forward`] reads it whole instead, up to [`MAX_BODY_BYTES`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::body::{Bytes, HttpBody};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use http_body::SizeHint;
use lyrebird_engine::faults::{upstream_timeout, upstream_url};
use lyrebird_store::WorkspaceId;
use reqwest::{Client, Url};
use serde::Serialize;

use crate::network::{AllowList, GuardedResolver};

/// The largest answer read whole (by a drift check, or for a fault that changes the body); a
/// larger one is answered 502. An answer passed on as it comes has no such bound.
pub const MAX_BODY_BYTES: usize = 16 << 20;
/// Calls of one workspace at its upstreams at the same moment, per server process.
pub const PER_WORKSPACE: usize = 64;
/// Bytes of upstreams' answers held at the same moment, all workspaces together, per server
/// process: the answers read whole, and of those passed on as they come, the piece on its way
/// and the start the call log keeps. Past it, an answer is refused rather than held.
pub const HELD_BYTES: usize = 256 << 20;

/// What a server adds to `Via` when it passes a call on; a call that already carries it came
/// from an upstream chain that leads back to a mock, and is not passed on again.
const VIA: &str = "1.1 lyrebird";

/// Headers that belong to one connection (RFC 9110, section 7.6.1), and the request's own that
/// the upstream must not get: its host is the upstream's, and a mock's key is Lyrebird's.
const NOT_FORWARDED: [HeaderName; 11] = [
    header::CONNECTION,
    header::EXPECT,
    header::HOST,
    header::CONTENT_LENGTH,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
    HeaderName::from_static("keep-alive"),
];

/// The mock's own headers, never sent on.
const LYREBIRD_HEADERS: [&str; 2] = ["x-api-key", "x-lyrebird-state"];

/// Whether a header of this (lower-case) name may be added to every call passed to an upstream:
/// not one the server sets itself, that belongs to one connection, or that is the mock's own.
pub fn may_be_added(name: &str) -> bool {
    !NOT_FORWARDED.iter().any(|header| header.as_str() == name) && !LYREBIRD_HEADERS.contains(&name)
}

/// The client that sends calls to upstreams, and what their calls hold.
#[derive(Debug)]
pub(crate) struct Upstreams {
    client: Client,
    allow: AllowList,
    counts: Arc<Counts>,
}

/// How many calls each workspace has at its upstreams, and the bytes of their answers held.
#[derive(Debug, Default)]
struct Counts {
    busy: Mutex<HashMap<WorkspaceId, usize>>,
    held: AtomicUsize,
}

impl Counts {
    /// Whether the answers hold more than [`HELD_BYTES`].
    fn crowded(&self) -> bool {
        self.held.load(Ordering::Relaxed) > HELD_BYTES
    }
}

/// Bytes of an answer held, counted in [`Counts::held`] until released or dropped.
struct Held {
    counts: Arc<Counts>,
    bytes: usize,
}

impl Held {
    fn add(&mut self, more: usize) {
        self.counts.held.fetch_add(more, Ordering::Relaxed);
        self.bytes += more;
    }

    fn release(&mut self, fewer: usize) {
        self.counts.held.fetch_sub(fewer, Ordering::Relaxed);
        self.bytes -= fewer;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.release(self.bytes);
    }
}

/// A mock's upstream: where its calls go, the headers added to them (a token, say), and how long
/// it has to answer.
pub struct Upstream {
    pub url: Url,
    headers: HeaderMap,
    timeout: Duration,
}

impl fmt::Debug for Upstream {
    /// The headers' names only: their values are secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("url", &self.url.as_str())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Upstream {
    /// The upstream of a mock's settings, with its stored headers when they were set for this
    /// URL's `origin` (a URL moved to another host does not take the secrets with it); why it
    /// cannot be one.
    pub fn new(
        setting: &lyrebird_engine::Upstream,
        headers: &BTreeMap<String, String>,
        origin: Option<&str>,
    ) -> Result<Self, String> {
        let url = upstream_url(&setting.url)?;
        let timeout = upstream_timeout(setting.timeout_ms)?;
        let mut map = HeaderMap::new();
        if origin == Some(url.origin().ascii_serialization().as_str()) {
            for (name, value) in headers {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("{name:?} is not a header name"))?;
                let mut value = HeaderValue::from_str(value)
                    .map_err(|_| format!("the value of {name} is not a header value"))?;
                value.set_sensitive(true);
                map.insert(name, value);
            }
        }
        Ok(Self {
            url,
            headers: map,
            timeout,
        })
    }
}

/// Whether a call of this method may be passed on: not `TRACE`, which would echo the added
/// headers back to the caller, nor `CONNECT`.
pub fn passes(method: &Method) -> bool {
    method != Method::TRACE && method != Method::CONNECT
}

/// What the upstream answered, read whole.
#[derive(Debug)]
pub struct Answered {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// What the upstream answered, its body to come.
pub(crate) struct Streamed {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Streaming,
}

/// What the call log says of a call sent to the upstream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpstreamNote {
    /// Where it was sent: the upstream's URL with the call's path and query.
    pub url: String,
    /// The upstream's status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// From sending the request to the upstream's whole answer.
    pub latency_ms: f64,
    /// Why there is no answer of the upstream's, or why it was not passed on whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl UpstreamNote {
    fn new(url: String, sent: Instant, answered: Result<u16, &Failure>) -> Self {
        Self {
            url,
            status: answered.ok(),
            latency_ms: millis(sent.elapsed()),
            error: answered.err().map(|failure| failure.message.clone()),
        }
    }
}

/// Why a call sent to the upstream got no answer of the upstream's: the status and code the
/// client gets instead, and the message.
#[derive(Debug)]
pub struct Failure {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

/// The request as the upstream gets it.
pub struct Forward<'a> {
    pub workspace: WorkspaceId,
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub client_addr: Option<IpAddr>,
    pub body: Bytes,
}

/// One of a workspace's calls at its upstreams, counted until dropped.
struct Slot {
    counts: Arc<Counts>,
    workspace: WorkspaceId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut busy = self.counts.busy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = busy.get_mut(&self.workspace) {
            *count -= 1;
            if *count == 0 {
                busy.remove(&self.workspace);
            }
        }
    }
}

/// The body of an upstream's answer, piece by piece as it comes, with its first bytes kept. It
/// holds its workspace's slot at the upstreams until it is over or dropped: dropped, it closes
/// the connection to the upstream.
pub(crate) struct Streaming {
    body: reqwest::Body,
    _slot: Slot,
    /// The piece on its way and the start kept.
    held: Held,
    /// The bytes of the piece passed last, held until the next is asked for.
    on_its_way: usize,
    start: Vec<u8>,
    keep: usize,
    size: u64,
    sent: Instant,
    timeout: Duration,
}

/// What went through, once a body is over.
pub(crate) struct Ended {
    /// Its first bytes, as many as were to be kept.
    pub start: Bytes,
    pub size: u64,
    /// From sending the request to the end.
    pub latency_ms: f64,
}

impl Streaming {
    /// The next piece of the body; `None` at its end.
    pub(crate) fn poll_piece(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, reqwest::Error>>> {
        self.held.release(std::mem::take(&mut self.on_its_way));
        loop {
            let frame = match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => return Poll::Ready(None),
            };
            // Trailers are not passed on.
            let Ok(piece) = frame.into_data() else {
                continue;
            };
            let kept = piece.len().min(self.keep - self.start.len());
            self.start.extend_from_slice(&piece[..kept]);
            self.size += piece.len() as u64;
            self.on_its_way = piece.len();
            self.held.add(kept + piece.len());
            return Poll::Ready(Some(Ok(piece)));
        }
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    /// The upstream's `Content-Length`, when it sent one.
    pub(crate) fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }

    /// Bytes passed so far.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Why the body broke off with `error`.
    pub(crate) fn broke_off(&self, error: &reqwest::Error) -> String {
        let size = self.size;
        if error.is_timeout() {
            format!(
                "the upstream's answer did not end within {} ms: it was cut after {size} bytes",
                self.timeout.as_millis()
            )
        } else {
            format!(
                "the upstream's answer broke off after {size} bytes: {}",
                innermost(error)
            )
        }
    }

    /// What went through: called once the body is over.
    pub(crate) fn ended(&mut self) -> Ended {
        Ended {
            start: Bytes::from(std::mem::take(&mut self.start)),
            size: self.size,
            latency_ms: millis(self.sent.elapsed()),
        }
    }
}

impl Streamed {
    /// The answer with its whole body, which must fit in what its body keeps.
    async fn read_whole(mut self) -> Result<Answered, Failure> {
        let limit = self.body.keep as u64;
        if self
            .body
            .size_hint()
            .exact()
            .is_some_and(|length| length > limit)
        {
            return Err(too_large());
        }
        while let Some(piece) = std::future::poll_fn(|cx| self.body.poll_piece(cx)).await {
            piece.map_err(|error| failure(&error, self.body.timeout))?;
            if self.body.size > limit {
                return Err(too_large());
            }
            if self.body.held.counts.crowded() {
                return Err(holding_too_much());
            }
        }
        Ok(Answered {
            status: self.status,
            headers: self.headers,
            body: self.body.ended().start,
        })
    }
}

impl Upstreams {
    /// Upstreams reachable as callbacks are: public addresses, and what `allow` names.
    pub(crate) fn new(allow: AllowList) -> Result<Self, reqwest::Error> {
        let client = Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                allow: allow.clone(),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        Ok(Self {
            client,
            allow,
            counts: Arc::default(),
        })
    }

    fn slot(&self, workspace: WorkspaceId) -> Option<Slot> {
        let mut busy = self.counts.busy.lock().unwrap_or_else(|e| e.into_inner());
        let count = busy.entry(workspace).or_default();
        if *count >= PER_WORKSPACE {
            return None;
        }
        *count += 1;
        Some(Slot {
            counts: self.counts.clone(),
            workspace,
        })
    }

    /// Sends the call to the upstream and reads the whole answer, up to [`MAX_BODY_BYTES`];
    /// with the note for the call log.
    pub(crate) async fn forward(
        &self,
        upstream: &Upstream,
        call: Forward<'_>,
    ) -> (Result<Answered, Failure>, UpstreamNote) {
        let sent = Instant::now();
        let (streamed, note) = self.stream(upstream, call, MAX_BODY_BYTES).await;
        let answered = match streamed {
            Ok(streamed) => streamed.read_whole().await,
            Err(failure) => Err(failure),
        };
        let note = UpstreamNote::new(note.url, sent, answered.as_ref().map(|a| a.status));
        (answered, note)
    }

    /// Sends the call to the upstream; its answer's body comes as it is read, its first `keep`
    /// bytes kept. With the note for the call log, of the answer as far as its head.
    pub(crate) async fn stream(
        &self,
        upstream: &Upstream,
        call: Forward<'_>,
        keep: usize,
    ) -> (Result<Streamed, Failure>, UpstreamNote) {
        let sent = Instant::now();
        let (url, streamed) = match joined(&upstream.url, call.path, call.query) {
            Some(url) => {
                let streamed = self.send(&url, upstream, call, keep, sent).await;
                (url, streamed)
            }
            None => (
                upstream.url.clone(),
                Err(Failure::new(
                    400,
                    "invalid_path",
                    "the path leaves the upstream's own (dot segments or backslashes): it is not passed on",
                )),
            ),
        };
        let note = UpstreamNote::new(url.into(), sent, streamed.as_ref().map(|s| s.status));
        (streamed, note)
    }

    async fn send(
        &self,
        url: &Url,
        upstream: &Upstream,
        call: Forward<'_>,
        keep: usize,
        sent: Instant,
    ) -> Result<Streamed, Failure> {
        let looped = call
            .headers
            .get_all(header::VIA)
            .iter()
            .filter_map(|via| via.to_str().ok())
            .any(|via| via.split(',').any(|hop| hop.trim() == VIA));
        if looped {
            return Err(Failure::new(
                508,
                "upstream_loop",
                "this call already passed through a mock's upstream (Via: 1.1 lyrebird): an upstream that leads back to a mock is not followed again",
            ));
        }
        // An address written in the URL never reaches the resolver, so it is checked here.
        let host = url.host_str().unwrap_or_default();
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(address) = literal.parse::<IpAddr>() {
            self.allow
                .check(host, address)
                .map_err(|refusal| Failure::new(502, "upstream_refused", refusal.to_string()))?;
        }
        if self.counts.crowded() {
            return Err(holding_too_much());
        }
        let slot = self.slot(call.workspace).ok_or_else(|| {
            Failure::new(
                503,
                "upstream_busy",
                format!(
                    "this workspace has {PER_WORKSPACE} calls at its upstreams already; try again in a moment"
                ),
            )
        })?;
        let response = self
            .client
            .request(call.method.clone(), url.clone())
            .headers(forwarded_headers(
                call.headers,
                call.client_addr,
                &upstream.headers,
            ))
            .body(call.body)
            .timeout(upstream.timeout)
            .send()
            .await
            .map_err(|error| failure(&error, upstream.timeout))?;
        let status = response.status().as_u16();
        if status < 200 {
            return Err(Failure::new(
                502,
                "upstream_bad_status",
                format!("the upstream answered {status}, which is not passed on"),
            ));
        }
        let headers = answered_headers(response.headers());
        Ok(Streamed {
            status,
            headers,
            body: Streaming {
                body: reqwest::Body::from(response),
                _slot: slot,
                held: Held {
                    counts: self.counts.clone(),
                    bytes: 0,
                },
                on_its_way: 0,
                start: Vec::new(),
                keep,
                size: 0,
                sent,
                timeout: upstream.timeout,
            },
        })
    }
}

/// The upstream's URL with the call's path (after the upstream's own) and query; `None` when
/// the path would leave the upstream's (`/../admin`, `/%2e%2e/`, a backslash), which URL rules
/// resolve.
fn joined(base: &Url, path: &str, query: &str) -> Option<Url> {
    let dotted = path.split('/').any(|segment| {
        let segment = segment.to_ascii_lowercase().replace("%2e", ".");
        segment == "." || segment == ".."
    });
    if dotted || path.contains('\\') {
        return None;
    }
    let mut url = base.clone();
    url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
    url.set_query((!query.is_empty()).then_some(query));
    Some(url)
}

/// The request's headers as the upstream gets them: without the connection's and Lyrebird's
/// own, with the client's address added to `X-Forwarded-For`, and the mock's `added` in place of
/// any of the same name.
fn forwarded_headers(
    headers: &HeaderMap,
    client_addr: Option<IpAddr>,
    added: &HeaderMap,
) -> HeaderMap {
    let mut forwarded = HeaderMap::with_capacity(headers.len() + added.len() + 1);
    for (name, value) in without_hop_by_hop(headers) {
        if !LYREBIRD_HEADERS.contains(&name.as_str()) {
            forwarded.append(name.clone(), value.clone());
        }
    }
    // Every line of the chain, then the client, unless it is already last (a trusted proxy in
    // front named it).
    let mut chain: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|line| line.to_str().ok())
        .flat_map(|line| line.split(','))
        .map(str::trim)
        .filter(|hop| !hop.is_empty())
        .collect();
    let client = client_addr.map(|address| address.to_string());
    if let Some(client) = client.as_deref()
        && chain.last() != Some(&client)
    {
        chain.push(client);
    }
    if let Ok(value) = chain.join(", ").parse() {
        forwarded.insert("x-forwarded-for", value);
    }
    let via = match headers.get(header::VIA).and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {VIA}"),
        None => VIA.to_owned(),
    };
    if let Ok(value) = via.parse() {
        forwarded.insert(header::VIA, value);
    }
    for (name, value) in added {
        forwarded.insert(name, value.clone());
    }
    forwarded
}

/// The upstream's headers as the client gets them: without the connection's (the server
/// frames the body itself).
fn answered_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    without_hop_by_hop(headers)
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// The headers but those of the connection: the fixed ones, and those `Connection` names.
fn without_hop_by_hop(headers: &HeaderMap) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    headers.iter().filter(move |(name, _)| {
        !NOT_FORWARDED.contains(name) && !named.iter().any(|n| n == name.as_str())
    })
}

fn too_large() -> Failure {
    Failure::new(
        502,
        "upstream_too_large",
        format!("the upstream's answer is larger than {MAX_BODY_BYTES} bytes"),
    )
}

fn holding_too_much() -> Failure {
    Failure::new(
        503,
        "upstream_busy",
        "the server holds too many upstream answers at once; try again in a moment",
    )
}

/// The failure of a request to the upstream, as the client is told it.
fn failure(error: &reqwest::Error, timeout: Duration) -> Failure {
    if error.is_timeout() {
        return Failure::new(
            504,
            "upstream_timeout",
            format!(
                "the upstream did not answer within {} ms",
                timeout.as_millis()
            ),
        );
    }
    let message = innermost(error);
    if message.starts_with("refused: ") {
        Failure::new(502, "upstream_refused", message)
    } else {
        Failure::new(
            502,
            "upstream_unreachable",
            format!("the upstream could not be reached: {message}"),
        )
    }
}

/// The innermost cause of an error: the guard's refusal, or why the connection failed.
fn innermost(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calls_path_and_query_follow_the_upstreams_path() {
        let base = Url::parse("https://api.example.com/v2").unwrap();
        assert_eq!(
            joined(&base, "/users/1", "page=2").unwrap().as_str(),
            "https://api.example.com/v2/users/1?page=2"
        );
        let root = Url::parse("http://api.example.com/").unwrap();
        assert_eq!(
            joined(&root, "/", "").unwrap().as_str(),
            "http://api.example.com/"
        );
    }

    #[test]
    fn a_path_that_would_leave_the_upstreams_is_not_joined() {
        let base = Url::parse("https://api.example.com/v2").unwrap();
        for path in [
            "/../admin",
            "/%2e%2e/admin",
            "/a/.%2E/../../admin",
            "/a\\..\\b",
            "/./x",
        ] {
            assert_eq!(joined(&base, path, ""), None, "{path}");
        }
        assert!(
            joined(&base, "/a%2Fb/c", "").is_some(),
            "an encoded slash is data"
        );
    }

    #[test]
    fn the_connections_and_lyrebirds_own_headers_stay_behind() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "close, x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("host", "abc.mock.example.com"),
            ("x-api-key", "lb_secret"),
            ("authorization", "Bearer for-the-upstream"),
            ("x-forwarded-for", "203.0.113.9"),
            ("expect", "100-continue"),
            ("accept", "application/json"),
        ] {
            headers.append(name, value.parse().unwrap());
        }
        let mut added = HeaderMap::new();
        added.insert("x-upstream-token", "t0ken".parse().unwrap());
        let forwarded = forwarded_headers(&headers, Some("198.51.100.7".parse().unwrap()), &added);
        let names: Vec<&str> = forwarded.keys().map(HeaderName::as_str).collect();
        assert_eq!(
            names,
            [
                "authorization",
                "x-forwarded-for",
                "accept",
                "via",
                "x-upstream-token"
            ]
        );
        assert_eq!(forwarded["via"], "1.1 lyrebird");
        assert_eq!(
            forwarded["x-forwarded-for"], "203.0.113.9, 198.51.100.7",
            "the client is added to the chain"
        );
    }
}
