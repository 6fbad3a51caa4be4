//! Which addresses a tenant's webhook may reach: a guard against server-
//! side request forgery through webhook URLs.
//!
//! Refused: loopback, link-local, private (RFC 1918, IPv6 ULA fc00::/7 and
//! the old site-local fec0::/10), unspecified and "this network"
//! (0.0.0.0/8, ::), broadcast, multicast, CGNAT (100.64.0.0/10), and any of
//! these written as IPv4 inside IPv6 (mapped ::ffff:a.b.c.d, compatible
//! ::a.b.c.d, NAT64 64:ff9b::/96). The check runs on resolved addresses
//! at connect time, and only a checked address is connected to.
//! Operators exempt names or ranges with an allow list.
//! Must not touch: sockets or DNS (the caller resolves and connects).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The guard's settings (`WebhookConfig::guard`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressGuard {
    /// Off: every address is allowed (local use, tests on loopback).
    pub enabled: bool,
    /// Host names allowed whatever they resolve to (lower case, no
    /// trailing dot).
    pub allow_hosts: Vec<String>,
    /// Ranges allowed even when they would be refused.
    pub allow_nets: Vec<IpNet>,
}

/// An address range, `ADDR/PREFIX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `10.0.0.0/8`, `fd00::/8`, or a single address.
    pub fn parse(text: &str) -> Option<IpNet> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let (whole, rest) = (usize::from(prefix / 8), prefix % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[whole] & mask == b[whole] & mask
}

impl AddressGuard {
    /// Parses an allow list: comma-separated host names, addresses and
    /// ranges (`hooks.internal,10.1.0.0/16,fd00::1`).
    pub fn allow(&mut self, list: &str) -> Result<(), String> {
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if let Some(net) = IpNet::parse(item) {
                self.allow_nets.push(net);
            } else if item.contains('/') || !valid_host_name(item) {
                return Err(format!(
                    "{item:?} is neither a host name nor an address range"
                ));
            } else {
                self.allow_hosts.push(normal_host(item));
            }
        }
        Ok(())
    }

    /// Whether `host` (as written in the URL) may be connected to at `ip`
    /// (one address it resolved to); `Err` says why not.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), String> {
        if !self.enabled || self.allow_hosts.contains(&normal_host(host)) {
            return Ok(());
        }
        if self.allow_nets.iter().any(|net| net.contains(ip)) {
            return Ok(());
        }
        match refused(ip) {
            Some(kind) => Err(format!(
                "{ip} is a {kind} address (refused for webhooks; see --webhook-allow)"
            )),
            None => Ok(()),
        }
    }

    /// The check on a URL whose host is a literal address, before any
    /// connection (a name is checked once resolved, at delivery).
    pub fn check_literal(&self, host: &str) -> Result<(), String> {
        match host.parse::<IpAddr>() {
            Ok(ip) => self.check(host, ip),
            Err(_) => Ok(()),
        }
    }
}

fn normal_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn valid_host_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// The address itself, or the IPv4 address an IPv6 one stands for.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The IPv4 address inside a mapped (`::ffff:a.b.c.d`), compatible
/// (`::a.b.c.d`, deprecated but still routed by some stacks) or NAT64
/// (`64:ff9b::a.b.c.d`) IPv6 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s[..6] {
        [0, 0, 0, 0, 0, 0xffff] => Some(tail),
        // `::` and `::1` are IPv6's own unspecified and loopback.
        [0, 0, 0, 0, 0, 0] if s[6] != 0 => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0] => Some(tail),
        _ => None,
    }
}

/// What kind of refused address `ip` is, if it is one.
pub fn refused(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(match (a, b) {
        // 0.0.0.0/8 reaches this host on Linux.
        (0, _) => "unspecified",
        (127, _) => "loopback",
        (10, _) | (172, 16..=31) | (192, 168) => "private",
        (169, 254) => "link-local",
        (100, 64..=127) => "shared (CGNAT)",
        (224..=239, _) => "multicast",
        _ if ip.is_broadcast() => "broadcast",
        _ => return None,
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(match first {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xfc00..=0xfdff => "private (ULA)",
        0xff00..=0xffff => "multicast",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn refused_ranges_are_classified() {
        let cases = [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("10.0.0.1", "private"),
            ("10.255.255.255", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("100.127.255.255", "shared (CGNAT)"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.255", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("fc00::1", "private (ULA)"),
            ("fd12:3456::1", "private (ULA)"),
            ("ff02::1", "multicast"),
            // IPv4 written as IPv6.
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:0.0.0.0", "unspecified"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::192.168.0.1", "private"),
            ("64:ff9b::100.64.0.1", "shared (CGNAT)"),
        ];
        for (text, kind) in cases {
            assert_eq!(refused(ip(text)), Some(kind), "{text}");
        }
    }

    #[test]
    fn public_addresses_and_range_edges_are_allowed() {
        for text in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "223.255.255.255",
            "240.0.0.1",
            "2001:4860:4860::8888",
            "2606:4700::1111",
            "fbff::1",
            "fe00::1",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
        ] {
            assert_eq!(refused(ip(text)), None, "{text}");
        }
    }

    #[test]
    fn a_disabled_guard_allows_everything() {
        let guard = AddressGuard::default();
        assert_eq!(guard.check("localhost", ip("127.0.0.1")), Ok(()));
        assert_eq!(guard.check_literal("10.0.0.1"), Ok(()));
    }

    #[test]
    fn the_allow_list_exempts_names_and_ranges() {
        let mut guard = AddressGuard {
            enabled: true,
            ..Default::default()
        };
        guard
            .allow("Hooks.Internal., 10.1.0.0/16 ,fd00::/8,192.168.0.7")
            .unwrap();
        assert_eq!(guard.check("hooks.internal", ip("127.0.0.1")), Ok(()));
        assert_eq!(guard.check("HOOKS.internal.", ip("10.9.9.9")), Ok(()));
        assert_eq!(guard.check("other", ip("10.1.200.3")), Ok(()));
        assert_eq!(guard.check("other", ip("::ffff:10.1.0.1")), Ok(()));
        assert_eq!(guard.check("other", ip("fd00::5")), Ok(()));
        assert_eq!(guard.check("other", ip("192.168.0.7")), Ok(()));
        assert!(guard.check("other", ip("192.168.0.8")).is_err());
        assert!(guard.check("other", ip("10.2.0.1")).is_err());
        assert!(guard.check("localhost", ip("127.0.0.1")).is_err());
        let err = guard.check_literal("169.254.169.254").unwrap_err();
        assert!(err.contains("link-local"), "{err}");
        assert_eq!(guard.check_literal("example.com"), Ok(()));
        assert_eq!(guard.check("example.com", ip("93.184.216.34")), Ok(()));
        for bad in ["10.0.0.0/33", "::/129", "a b", "x/8", "http://x"] {
            assert!(guard.clone().allow(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_match_by_prefix() {
        let net = IpNet::parse("172.16.0.0/12").unwrap();
        assert!(net.contains(ip("172.31.1.1")));
        assert!(!net.contains(ip("172.32.0.0")));
        assert!(!net.contains(ip("::1")));
        let all = IpNet::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let one = IpNet::parse("fe80::1").unwrap();
        assert!(one.contains(ip("fe80::1")));
        assert!(!one.contains(ip("fe80::2")));
        assert_eq!(IpNet::parse("nonsense"), None);
    }
}
