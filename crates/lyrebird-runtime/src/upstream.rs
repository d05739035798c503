//! Pass-through (docs/proxy.md): a call that no example of a mock matches is sent on to the
//! mock's upstream, the real API behind it, and the upstream's answer is the call's.
//!
//! The upstream's URL is the mock author's choice, so it goes through the same guard as
//! callbacks ([`crate::network`]): the addresses its host resolves to must be public unless the
//! operator allows them (`LYREBIRD_CALLBACK_ALLOW`), an address written in the URL is checked
//! here, no proxy of the environment is used, and redirects are not followed (the client gets
//! the upstream's 3xx and follows it itself, from its own network). Each workspace has at most
//! [`PER_WORKSPACE`] calls at its upstreams at once; a call past them is answered 503.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use lyrebird_store::WorkspaceId;
use reqwest::{Client, Url};
use serde::Serialize;

use crate::network::{AllowList, GuardedResolver};

/// How long an upstream may take to answer, its whole body included.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest body an upstream's answer may have; a larger one is answered 502.
pub const MAX_BODY_BYTES: usize = 16 << 20;
/// Calls of one workspace at its upstreams at the same moment, per server process.
pub const PER_WORKSPACE: usize = 64;
/// Bytes of upstreams' answers being read at the same moment, all workspaces together, per
/// server process: past it, a call's answer is refused rather than held.
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

/// The client that sends calls to upstreams, how many each workspace has there, and the bytes
/// of their answers being read.
#[derive(Debug)]
pub(crate) struct Upstreams {
    client: Client,
    allow: AllowList,
    busy: Mutex<HashMap<WorkspaceId, usize>>,
    held: AtomicUsize,
}

/// Bytes of an answer being read, counted in [`Upstreams::held`] until dropped.
struct Held<'a> {
    upstreams: &'a Upstreams,
    bytes: usize,
}

impl Held<'_> {
    /// Counts `more` bytes; false when that would pass [`HELD_BYTES`].
    fn add(&mut self, more: usize) -> bool {
        let before = self.upstreams.held.fetch_add(more, Ordering::Relaxed);
        self.bytes += more;
        before + more <= HELD_BYTES
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.upstreams.held.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// A mock's upstream: where its calls go, and the headers added to them (a token, say).
pub struct Upstream {
    pub url: Url,
    headers: HeaderMap,
}

impl fmt::Debug for Upstream {
    /// The headers' names only: their values are secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("url", &self.url.as_str())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Upstream {
    /// The upstream of a mock's settings, with its stored headers when they were set for this
    /// URL's `origin` (a URL moved to another host does not take the secrets with it); why it
    /// cannot be one.
    pub fn new(
        url: &str,
        headers: &BTreeMap<String, String>,
        origin: Option<&str>,
    ) -> Result<Self, String> {
        let url = lyrebird_engine::faults::upstream_url(url)?;
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
        Ok(Self { url, headers: map })
    }
}

/// Whether a call of this method may be passed on: not `TRACE`, which would echo the added
/// headers back to the caller, nor `CONNECT`.
pub fn passes(method: &Method) -> bool {
    method != Method::TRACE && method != Method::CONNECT
}

/// What the upstream answered.
#[derive(Debug)]
pub struct Answered {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
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
    /// Why there is no answer of the upstream's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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
struct Slot<'a> {
    upstreams: &'a Upstreams,
    workspace: WorkspaceId,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut busy = self
            .upstreams
            .busy
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = busy.get_mut(&self.workspace) {
            *count -= 1;
            if *count == 0 {
                busy.remove(&self.workspace);
            }
        }
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
            .timeout(TIMEOUT)
            .build()?;
        Ok(Self {
            client,
            allow,
            busy: Mutex::default(),
            held: AtomicUsize::new(0),
        })
    }

    fn slot(&self, workspace: WorkspaceId) -> Option<Slot<'_>> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let count = busy.entry(workspace).or_default();
        if *count >= PER_WORKSPACE {
            return None;
        }
        *count += 1;
        Some(Slot {
            upstreams: self,
            workspace,
        })
    }

    /// Sends the call to the upstream and reads the whole answer; with the note for the call
    /// log.
    pub(crate) async fn forward(
        &self,
        upstream: &Upstream,
        call: Forward<'_>,
    ) -> (Result<Answered, Failure>, UpstreamNote) {
        let url = joined(&upstream.url, call.path, call.query);
        let started = Instant::now();
        let result = match &url {
            Some(url) => self.send(url, &upstream.headers, call).await,
            None => Err(Failure::new(
                400,
                "invalid_path",
                "the path leaves the upstream's own (dot segments or backslashes): it is not passed on",
            )),
        };
        let url = url.unwrap_or_else(|| upstream.url.clone());
        let note = UpstreamNote {
            url: url.to_string(),
            status: result.as_ref().ok().map(|answered| answered.status),
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            error: result.as_ref().err().map(|failure| failure.message.clone()),
        };
        (result, note)
    }

    async fn send(
        &self,
        url: &Url,
        added: &HeaderMap,
        call: Forward<'_>,
    ) -> Result<Answered, Failure> {
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
        let _slot = self.slot(call.workspace).ok_or_else(|| {
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
            .headers(forwarded_headers(call.headers, call.client_addr, added))
            .body(call.body)
            .send()
            .await
            .map_err(|error| failure(&error))?;
        let status = response.status().as_u16();
        if status < 200 {
            return Err(Failure::new(
                502,
                "upstream_bad_status",
                format!("the upstream answered {status}, which is not passed on"),
            ));
        }
        let headers = answered_headers(response.headers());
        if response
            .content_length()
            .is_some_and(|length| length > MAX_BODY_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut response = response;
        let mut body = Vec::new();
        let mut held = Held {
            upstreams: self,
            bytes: 0,
        };
        while let Some(chunk) = response.chunk().await.map_err(|error| failure(&error))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            if !held.add(chunk.len()) {
                return Err(Failure::new(
                    503,
                    "upstream_busy",
                    "the server is reading too many upstream answers at once; try again in a moment",
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answered {
            status,
            headers,
            body: Bytes::from(body),
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

/// The failure of a request to the upstream, as the client is told it.
fn failure(error: &reqwest::Error) -> Failure {
    if error.is_timeout() {
        return Failure::new(
            504,
            "upstream_timeout",
            format!("the upstream did not answer within {} s", TIMEOUT.as_secs()),
        );
    }
    // The guard's refusal is the innermost cause; other causes say why the connection failed.
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    let message = cause.to_string();
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
