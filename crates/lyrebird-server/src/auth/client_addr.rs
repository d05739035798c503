//! The client's address: what the call log records as `client_addr` and what login and sign-up
//! throttling count per. Every reader takes it from [`ClientAddr::of`] (or the [`ClientAddr`]
//! extractor), never from the connection directly.
//!
//! It is the TCP peer, unless the peer is one of the proxies the operator trusts
//! (`--trusted-proxies`, [`TrustedProxies`]). Then, as nginx's `real_ip_recursive` does,
//! `X-Forwarded-For` is read from the right, where each proxy appends the address it received
//! the request from: trusted addresses are skipped, and the first untrusted one is the client.
//! What is left of it is the client's own to write, so it is never read. A malformed entry ends
//! the walk at the last trusted address before it, and a chain of trusted addresses only ends at
//! its leftmost one. From a peer that is not trusted, the header is ignored: anyone can send it.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::{HeaderName, USER_AGENT};
use axum::http::request::Parts;
use ipnet::IpNet;
use lyrebird_runtime::network;
use lyrebird_store::SessionOrigin;

/// The header where each proxy appends the address it received the request from.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The proxies whose `X-Forwarded-For` is believed, from `LYREBIRD_TRUSTED_PROXIES`: a
/// comma-separated list of addresses (`127.0.0.1`, `::1`) and networks (`10.0.0.0/8`). Empty by
/// default: nobody is trusted and the client is the TCP peer. Cheap to clone (it is added to
/// every request as an extension).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Arc<[IpNet]>,
}

impl TrustedProxies {
    /// Whether `address` is one of the trusted proxies; an IPv4 address written as IPv6
    /// (`::ffff:10.0.0.2`, as a dual-stack socket reports IPv4 peers) counts as itself.
    fn trusts(&self, address: IpAddr) -> bool {
        let canonical = address.to_canonical();
        self.networks
            .iter()
            .any(|network| network.contains(&address) || network.contains(&canonical))
    }

    /// The client of a request that arrived from `peer` with these headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer;
        if !self.trusts(peer) {
            return client;
        }
        // Several header lines are one list, in order.
        for line in headers.get_all(X_FORWARDED_FOR).iter().rev() {
            let Ok(entries) = line.to_str() else {
                return client;
            };
            for entry in entries.rsplit(',') {
                let Some(hop) = forwarded_address(entry) else {
                    return client;
                };
                client = hop;
                if !self.trusts(hop) {
                    return client;
                }
            }
        }
        client
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let networks = network::list_entries(list)
            .map(|entry| {
                network::parse_network(entry).ok_or_else(|| {
                    format!("{entry:?} is neither an address (10.0.0.2) nor a network (10.0.0.0/8)")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { networks })
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port as some proxies add
/// (`192.0.2.1:5678`, `[2001:db8::1]:5678`), or an IPv6 address in brackets. Anything else
/// (`unknown`, an obfuscated name, an empty entry) is `None`.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(address) = entry.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(socket) = entry.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    let bracketed = entry.strip_prefix('[')?.strip_suffix(']')?;
    bracketed.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// The client's address, `None` when the server was started without connection info (tests
/// that serve the bare router; `lyrebird serve` always has it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// The client of this request, by the [`TrustedProxies`] the server added to it (none
    /// trusted without them).
    pub fn of(parts: &Parts) -> Self {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Self(None);
        };
        let client = match parts.extensions.get::<TrustedProxies>() {
            Some(trusted) => trusted.client(peer.ip(), &parts.headers),
            None => peer.ip(),
        };
        Self(Some(client))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts))
    }
}

/// Where a session is being opened from: the [`ClientAddr`] and the `User-Agent`, which the
/// account's session list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOrigin(pub SessionOrigin);

impl<S: Send + Sync> FromRequestParts<S> for ClientOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|agent| !agent.is_empty())
            .map(str::to_owned);
        Ok(Self(SessionOrigin {
            address: ClientAddr::of(parts).0,
            user_agent,
        }))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    /// Checks the client found from `peer` for each list of header lines.
    fn assert_clients(trusted: &str, peer: &str, cases: &[(&[&str], &str)]) {
        let trusted: TrustedProxies = trusted.parse().unwrap();
        for (lines, expected) in cases {
            let client = trusted.client(ip(peer), &forwarded(lines));
            assert_eq!(client, ip(expected), "{lines:?} from {peer}");
        }
    }

    #[test]
    fn the_setting_takes_addresses_and_networks_and_nothing_else() {
        let trusted: TrustedProxies = " 127.0.0.1, 10.1.2.3/16,fd00::/8,".parse().unwrap();
        assert_eq!(
            *trusted.networks,
            ["127.0.0.1/32", "10.1.0.0/16", "fd00::/8"].map(|n| n.parse::<IpNet>().unwrap())
        );
        assert_eq!(
            "".parse::<TrustedProxies>().unwrap(),
            TrustedProxies::default()
        );
        for bad in ["10.0.0.0/33", "proxy.internal", "300.1.1.1", "10.0.0.1:80"] {
            let error = bad.parse::<TrustedProxies>().unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        assert_clients("", "127.0.0.1", &[(&["198.51.100.7"], "127.0.0.1")]);
        assert_clients(
            "10.0.0.0/8",
            "192.0.2.1",
            &[(&["198.51.100.7"], "192.0.2.1")],
        );
    }

    #[test]
    fn a_trusted_peer_passes_on_the_address_it_forwarded_for() {
        assert_clients(
            "127.0.0.1",
            "127.0.0.1",
            &[(&["198.51.100.7"], "198.51.100.7"), (&[], "127.0.0.1")],
        );
        // A dual-stack socket reports an IPv4 peer as IPv6.
        assert_clients(
            "127.0.0.1",
            "::ffff:127.0.0.1",
            &[(&["2001:db8::7"], "2001:db8::7")],
        );
    }

    #[test]
    fn the_walk_skips_trusted_addresses_from_the_right_and_stops_at_the_first_other() {
        assert_clients(
            "127.0.0.1,10.0.0.0/8",
            "127.0.0.1",
            &[
                (&["203.0.113.9, 10.0.0.2"], "203.0.113.9"),
                // What the client wrote itself, left of its own address, is never believed.
                (&["10.9.9.9, 203.0.113.9, 10.0.0.2"], "203.0.113.9"),
                // Several header lines are one list.
                (&["203.0.113.9", "10.0.0.2"], "203.0.113.9"),
                // Only trusted addresses: the leftmost.
                (&["10.0.0.3,10.0.0.2"], "10.0.0.3"),
            ],
        );
    }

    #[test]
    fn ports_and_brackets_are_read_and_a_malformed_entry_ends_the_walk() {
        assert_clients(
            "127.0.0.1,10.0.0.0/8",
            "127.0.0.1",
            &[
                (&["203.0.113.9:5678"], "203.0.113.9"),
                (&["[2001:db8::9]:443"], "2001:db8::9"),
                (&["[2001:db8::9]"], "2001:db8::9"),
                // Malformed: the last address of the trusted chain before it.
                (&["unknown"], "127.0.0.1"),
                (&[""], "127.0.0.1"),
                (&["203.0.113.9 , _hidden"], "127.0.0.1"),
                (&["300.1.2.3"], "127.0.0.1"),
                (&["203.0.113.9, unknown, 10.0.0.2"], "10.0.0.2"),
            ],
        );
        let mut headers = forwarded(&["203.0.113.9"]);
        headers.append(X_FORWARDED_FOR, HeaderValue::from_bytes(b"\xff").unwrap());
        let trusted: TrustedProxies = "127.0.0.1".parse().unwrap();
        assert_eq!(trusted.client(ip("127.0.0.1"), &headers), ip("127.0.0.1"));
    }
}
