//! The outbound-network guard of callbacks: a mock's author chooses a callback's URL, so the
//! server must not become their way into the network it runs in. A callback may only reach a
//! public address ([`non_public`] names every other kind).
//!
//! The check is made on the addresses the host resolves to, inside the HTTP client's own
//! resolver ([`GuardedResolver`]), and the client connects only to the addresses that passed, so
//! a DNS answer that changes between a check and the connection (rebinding) cannot slip
//! through; an address written in the URL is checked by the worker with [`AllowList::check`].
//! The operator opens holes with an [`AllowList`] (`LYREBIRD_CALLBACK_ALLOW`).
//! `docs/callbacks.md` is the user's account of this.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The entries of a comma-separated setting, trimmed, with empty ones left out.
pub fn list_entries(list: &str) -> impl Iterator<Item = &str> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
}

/// An address or network of a setting (`LYREBIRD_CALLBACK_ALLOW`, `LYREBIRD_TRUSTED_PROXIES`):
/// an address is the network of that one address, and a network's host bits are dropped
/// (`10.1.2.3/16` is `10.1.0.0/16`).
pub fn parse_network(entry: &str) -> Option<IpNet> {
    if let Ok(network) = entry.parse::<IpNet>() {
        Some(network.trunc())
    } else {
        entry.parse::<IpAddr>().ok().map(IpNet::from)
    }
}

/// The client's resolver: looks the host up, then keeps only the addresses the policy allows.
pub(crate) struct GuardedResolver {
    pub(crate) allow: AllowList,
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
        for entry in list_entries(list) {
            if let Some(network) = parse_network(entry) {
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
