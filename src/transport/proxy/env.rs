//! Which proxy the environment names for a target, read as curl and
//! python-websockets (through `urllib`) read it.
//!
//! - `wss://`: `https_proxy`, then `HTTPS_PROXY`; `ws://`: `http_proxy`, then
//!   `HTTP_PROXY`; then `all_proxy`, `ALL_PROXY`. Lower case wins; empty
//!   values count as unset.
//! - `HTTP_PROXY` is ignored when `REQUEST_METHOD` is set: under CGI it may
//!   come from a request's `Proxy:` header ("httpoxy"; Python's `urllib` does
//!   the same since CVE-2016-1000110, and curl never reads `HTTP_PROXY`).
//! - `no_proxy`, then `NO_PROXY`, lists hosts reached directly (see
//!   [`no_proxy_matches`]).
//! - Loopback targets (`localhost`, `*.localhost`, `127.0.0.0/8`, `::1`) are
//!   never proxied from the environment: a proxy cannot reach this host's
//!   loopback, and local test servers broke under clients that forgot this.

use core::net::IpAddr;
use std::string::String;

use super::{Proxy, ProxyError};
use crate::transport::url::Target;

/// The proxy the environment names for `target`, if any. `var` reads one
/// environment variable (`std::env::var(name).ok()` outside tests).
///
/// A variable that is set but cannot be used (`https://` proxies, a bad URL)
/// is an error, not a silent direct connection.
pub(crate) fn from_env(target: &Target, var: impl Fn(&str) -> Option<String>) -> Result<Option<Proxy>, ProxyError> {
    if is_loopback(target.host()) {
        return Ok(None);
    }
    let set = |name: &str| var(name).map(|v| v.trim().into()).filter(|v: &String| !v.is_empty());
    if let Some(no_proxy) = set("no_proxy").or_else(|| set("NO_PROXY")) {
        if no_proxy_matches(&no_proxy, target.host(), target.port()) {
            return Ok(None);
        }
    }
    let cgi = var("REQUEST_METHOD").is_some();
    let names: [&str; 4] = if target.is_tls() {
        ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    } else {
        ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
    };
    let url = names
        .iter()
        .filter(|name| !(cgi && **name == "HTTP_PROXY"))
        .find_map(|name| set(name));
    url.map(|url| Proxy::parse(&url)).transpose()
}

/// Whether the `no_proxy` list sends `host` (and `port`) direct.
///
/// Entries are comma-separated, spaces trimmed, case-insensitive:
/// - `*` matches every host;
/// - a name matches itself and its subdomains, with or without a leading
///   `.` or `*.` (`example.com` and `.example.com` both match
///   `a.example.com`; neither matches `badexample.com`);
/// - an IP address matches that address exactly (IPv6 with or without
///   brackets);
/// - a CIDR block (`10.0.0.0/8`, `fd00::/8`) matches IP-literal hosts in it;
/// - a name or address followed by `:port` (`example.com:8080`,
///   `[::1]:8080`) matches that port only, as Python's `urllib` and Go read
///   it (curl ignores ports).
///
/// Names are not resolved: a name entry never matches an IP-literal host,
/// nor an address entry a name.
pub(crate) fn no_proxy_matches(no_proxy: &str, host: &str, port: u16) -> bool {
    let host = normalize(host);
    let host_ip = host.parse::<IpAddr>().ok();
    no_proxy.split(',').map(str::trim).any(|entry| {
        if entry.is_empty() {
            return false;
        }
        if entry == "*" {
            return true;
        }
        if let Some((network, prefix)) = entry.split_once('/') {
            return host_ip.is_some_and(|ip| in_cidr(ip, network, prefix));
        }
        let (entry_host, entry_port) = split_port(entry);
        if entry_port.is_some_and(|p| p != port) {
            return false;
        }
        let entry_host = normalize(entry_host);
        if let Ok(entry_ip) = entry_host.parse::<IpAddr>() {
            return host_ip == Some(entry_ip);
        }
        if host_ip.is_some() {
            return false;
        }
        let name = entry_host
            .strip_prefix("*.")
            .or_else(|| entry_host.strip_prefix('.'))
            .unwrap_or(&entry_host);
        !name.is_empty()
            && (host == name
                || host
                    .strip_suffix(name)
                    .is_some_and(|subdomain| subdomain.ends_with('.')))
    })
}

/// Lower case, brackets and a trailing root dot removed.
fn normalize(host: &str) -> String {
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// `host:port`, `[v6]:port` or a bare entry (a bare IPv6 address has no port).
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(bracketed) = entry.strip_prefix('[') {
        if let Some((inside, after)) = bracketed.split_once(']') {
            return (inside, after.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    if entry.parse::<IpAddr>().is_ok() {
        return (entry, None);
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => (host, port.parse().ok()),
        _ => (entry, None),
    }
}

/// Whether `ip` is in `network/prefix`; a malformed block matches nothing.
fn in_cidr(ip: IpAddr, network: &str, prefix: &str) -> bool {
    let Ok(network) = normalize(network).parse::<IpAddr>() else {
        return false;
    };
    let Ok(prefix) = prefix.trim().parse::<u32>() else {
        return false;
    };
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) if prefix <= 32 => {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) if prefix <= 128 => {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

/// `localhost`, a name under `.localhost` (RFC 6761 §6.3), or a loopback
/// address (IPv4-mapped included).
fn is_loopback(host: &str) -> bool {
    let host = normalize(host);
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::proxy::ProxyKind;
    use std::string::ToString;
    use std::vec::Vec;

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap()
    }

    /// The proxy chosen for `url` with `vars` as the whole environment.
    fn chosen(url: &str, vars: &[(&str, &str)]) -> Option<String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let var = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        from_env(&target(url), var).unwrap().map(|p| p.to_string())
    }

    #[test]
    fn ws_reads_http_proxy_and_wss_reads_https_proxy() {
        let env = [("http_proxy", "http://plain:1"), ("https_proxy", "http://secure:2")];
        assert_eq!(chosen("ws://feed.example/", &env).as_deref(), Some("http://plain:1"));
        assert_eq!(chosen("wss://feed.example/", &env).as_deref(), Some("http://secure:2"));
        assert_eq!(chosen("wss://feed.example/", &[("http_proxy", "http://plain:1")]), None);
        assert_eq!(
            chosen("ws://feed.example/", &[("https_proxy", "http://secure:2")]),
            None
        );
        assert_eq!(chosen("ws://feed.example/", &[]), None);
    }

    #[test]
    fn lower_case_wins() {
        let env = [("HTTPS_PROXY", "http://upper:1"), ("https_proxy", "http://lower:2")];
        assert_eq!(chosen("wss://h.example/", &env).as_deref(), Some("http://lower:2"));
        assert_eq!(
            chosen("wss://h.example/", &[("HTTPS_PROXY", "http://upper:1")]).as_deref(),
            Some("http://upper:1")
        );
        let env = [("HTTP_PROXY", "http://upper:1"), ("http_proxy", "http://lower:2")];
        assert_eq!(chosen("ws://h.example/", &env).as_deref(), Some("http://lower:2"));
    }

    #[test]
    fn all_proxy_comes_last() {
        let env = [("ALL_PROXY", "socks5h://upper:1"), ("all_proxy", "socks5h://lower:2")];
        assert_eq!(chosen("wss://h.example/", &env).as_deref(), Some("socks5h://lower:2"));
        assert_eq!(
            chosen("ws://h.example/", &[("ALL_PROXY", "socks5://upper:1")]).as_deref(),
            Some("socks5://upper:1")
        );
        let env = [("all_proxy", "socks5h://all:1"), ("HTTPS_PROXY", "http://specific:2")];
        assert_eq!(chosen("wss://h.example/", &env).as_deref(), Some("http://specific:2"));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = [("https_proxy", ""), ("HTTPS_PROXY", "http://upper:1")];
        assert_eq!(chosen("wss://h.example/", &env).as_deref(), Some("http://upper:1"));
        let env = [("https_proxy", "  "), ("all_proxy", "http://all:1")];
        assert_eq!(chosen("wss://h.example/", &env).as_deref(), Some("http://all:1"));
        let env = [
            ("https_proxy", "http://p:1"),
            ("no_proxy", ""),
            ("NO_PROXY", "h.example"),
        ];
        assert_eq!(chosen("wss://h.example/", &env), None);
    }

    #[test]
    fn a_proxy_without_scheme_is_http() {
        let got = from_env(&target("ws://h.example/"), |name| {
            (name == "http_proxy").then(|| " proxy.corp:3128 ".to_string())
        });
        let proxy = got.unwrap().unwrap();
        assert_eq!(
            (proxy.kind(), proxy.host(), proxy.port()),
            (ProxyKind::Http, "proxy.corp", 3128)
        );
    }

    #[test]
    fn an_unusable_proxy_is_an_error() {
        let e = from_env(&target("wss://h.example/"), |name| {
            (name == "https_proxy").then(|| "https://proxy:443".to_string())
        })
        .unwrap_err();
        assert!(matches!(e, ProxyError::UnsupportedScheme { .. }) && e.is_permanent());
        let e = from_env(&target("wss://h.example/"), |name| {
            (name == "HTTPS_PROXY").then(|| "http://proxy:99999".to_string())
        })
        .unwrap_err();
        assert!(matches!(e, ProxyError::Url { .. }));
    }

    #[test]
    fn cgi_ignores_upper_case_http_proxy() {
        let env = [("HTTP_PROXY", "http://attacker:1"), ("REQUEST_METHOD", "GET")];
        assert_eq!(chosen("ws://h.example/", &env), None);
        let env = [("http_proxy", "http://lower:1"), ("REQUEST_METHOD", "GET")];
        assert_eq!(chosen("ws://h.example/", &env).as_deref(), Some("http://lower:1"));
        let env = [("HTTPS_PROXY", "http://upper:1"), ("REQUEST_METHOD", "GET")];
        assert_eq!(chosen("wss://h.example/", &env).as_deref(), Some("http://upper:1"));
    }

    #[test]
    fn no_proxy_skips_the_proxy() {
        let env = [
            ("https_proxy", "http://p:1"),
            ("no_proxy", "internal.example, h.example"),
        ];
        assert_eq!(chosen("wss://h.example/", &env), None);
        assert_eq!(chosen("wss://a.h.example/", &env), None);
        assert!(chosen("wss://other.example/", &env).is_some());
        let env = [("https_proxy", "http://p:1"), ("NO_PROXY", "*")];
        assert_eq!(chosen("wss://anything.example/", &env), None);
        // Lower case wins here too.
        let env = [
            ("https_proxy", "http://p:1"),
            ("no_proxy", "x.example"),
            ("NO_PROXY", "*"),
        ];
        assert!(chosen("wss://h.example/", &env).is_some());
    }

    #[test]
    fn loopback_is_never_proxied() {
        let env = [
            ("http_proxy", "http://p:1"),
            ("https_proxy", "http://p:1"),
            ("all_proxy", "socks5://p:1"),
        ];
        for url in [
            "ws://localhost:9000/",
            "ws://LOCALHOST/",
            "ws://localhost./",
            "wss://app.localhost/",
            "ws://127.0.0.1:9000/",
            "ws://127.1.2.3/",
            "ws://[::1]:9000/",
            "ws://[::ffff:127.0.0.1]/",
        ] {
            assert_eq!(chosen(url, &env), None, "{url}");
        }
        for url in [
            "ws://localhost.example/",
            "ws://mylocalhost/",
            "ws://128.0.0.1/",
            "ws://[::2]/",
        ] {
            assert!(chosen(url, &env).is_some(), "{url}");
        }
    }

    #[test]
    fn star_matches_everything() {
        assert!(no_proxy_matches("*", "example.com", 443));
        assert!(no_proxy_matches("a.example, *", "10.1.2.3", 80));
        assert!(!no_proxy_matches("*.", "example.com", 443));
    }

    #[test]
    fn names_match_themselves_and_subdomains() {
        for entry in [
            "example.com",
            ".example.com",
            "*.example.com",
            "EXAMPLE.com",
            "example.com.",
        ] {
            assert!(no_proxy_matches(entry, "example.com", 443), "{entry}");
            assert!(no_proxy_matches(entry, "a.example.com", 443), "{entry}");
            assert!(no_proxy_matches(entry, "A.B.Example.Com", 443), "{entry}");
            assert!(!no_proxy_matches(entry, "badexample.com", 443), "{entry}");
            assert!(!no_proxy_matches(entry, "example.com.evil", 443), "{entry}");
            assert!(!no_proxy_matches(entry, "com", 443), "{entry}");
        }
        assert!(no_proxy_matches("example.com", "example.com.", 443));
    }

    #[test]
    fn lists_are_comma_separated_and_trimmed() {
        let list = " foo.example ,, bar.example,  ";
        assert!(no_proxy_matches(list, "foo.example", 1));
        assert!(no_proxy_matches(list, "x.bar.example", 1));
        assert!(!no_proxy_matches(list, "baz.example", 1));
        assert!(!no_proxy_matches("", "foo.example", 1));
        assert!(!no_proxy_matches(" , ", "foo.example", 1));
        assert!(!no_proxy_matches(".", "foo.example", 1));
    }

    #[test]
    fn ip_addresses_match_exactly() {
        assert!(no_proxy_matches("10.1.2.3", "10.1.2.3", 80));
        assert!(!no_proxy_matches("10.1.2.3", "10.1.2.30", 80));
        assert!(!no_proxy_matches("10.1.2", "10.1.2.3", 80));
        assert!(no_proxy_matches("2001:db8::1", "2001:db8::1", 80));
        assert!(no_proxy_matches("[2001:db8::1]", "2001:db8::1", 80));
        assert!(no_proxy_matches("2001:DB8:0::1", "2001:db8::1", 80));
        assert!(!no_proxy_matches("2001:db8::1", "2001:db8::2", 80));
        // Names are not resolved, and an address is not a suffix.
        assert!(!no_proxy_matches("2.3", "10.1.2.3", 80));
        assert!(!no_proxy_matches("example.com", "10.1.2.3", 80));
    }

    #[test]
    fn cidr_blocks_match_ip_literals() {
        assert!(no_proxy_matches("10.0.0.0/8", "10.200.3.4", 80));
        assert!(!no_proxy_matches("10.0.0.0/8", "11.0.0.1", 80));
        assert!(no_proxy_matches("192.168.1.0/24", "192.168.1.255", 80));
        assert!(!no_proxy_matches("192.168.1.0/24", "192.168.2.1", 80));
        assert!(no_proxy_matches("0.0.0.0/0", "8.8.8.8", 80));
        assert!(no_proxy_matches("10.1.2.3/32", "10.1.2.3", 80));
        assert!(no_proxy_matches("fd00::/8", "fd12:3456::1", 80));
        assert!(no_proxy_matches("[fd00::]/8", "fd12:3456::1", 80));
        assert!(!no_proxy_matches("fd00::/8", "fe80::1", 80));
        assert!(no_proxy_matches("::/0", "2001:db8::1", 80));
        // Families do not mix; names never match a block; bad blocks match nothing.
        assert!(!no_proxy_matches("10.0.0.0/8", "fd00::1", 80));
        assert!(!no_proxy_matches("fd00::/8", "10.0.0.1", 80));
        assert!(!no_proxy_matches("10.0.0.0/8", "ten.example", 80));
        for bad in ["10.0.0.0/33", "10.0.0.0/x", "10.0.0/8", "/8", "10.0.0.0/", "fd00::/129"] {
            assert!(!no_proxy_matches(bad, "10.0.0.1", 80), "{bad}");
            assert!(!no_proxy_matches(bad, "fd00::1", 80), "{bad}");
        }
    }

    #[test]
    fn entries_with_a_port_match_that_port_only() {
        assert!(no_proxy_matches("example.com:8443", "example.com", 8443));
        assert!(no_proxy_matches("example.com:8443", "a.example.com", 8443));
        assert!(!no_proxy_matches("example.com:8443", "example.com", 443));
        assert!(no_proxy_matches("10.1.2.3:9000", "10.1.2.3", 9000));
        assert!(!no_proxy_matches("10.1.2.3:9000", "10.1.2.3", 9001));
        assert!(no_proxy_matches("[::1]:9000", "::1", 9000));
        assert!(!no_proxy_matches("[::1]:9000", "::1", 9001));
        // A bare IPv6 address ends in what looks like a port; it is not one.
        assert!(no_proxy_matches("2001:db8::8443", "2001:db8::8443", 443));
        // A port that is not a number leaves an entry that matches nothing.
        assert!(!no_proxy_matches("example.com:https", "example.com", 443));
    }

    #[test]
    fn no_proxy_applies_with_ports_from_the_target() {
        let env = [("http_proxy", "http://p:1"), ("no_proxy", "h.example:9000")];
        assert_eq!(chosen("ws://h.example:9000/", &env), None);
        assert!(chosen("ws://h.example/", &env).is_some());
        let env = [("https_proxy", "http://p:1"), ("no_proxy", "h.example:443")];
        assert_eq!(chosen("wss://h.example/", &env), None);
    }

    #[test]
    fn random_lists_do_not_panic() {
        const PIECES: [&str; 16] = [
            ",",
            " ",
            "*",
            ".",
            "/",
            ":",
            "[",
            "]",
            "example.com",
            "10.0.0.0",
            "fd00::",
            "8",
            "99",
            "443",
            "*.",
            "::1",
        ];
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        for _ in 0..20_000 {
            let mut list = String::new();
            for _ in 0..rng.usize(0..8) {
                list.push_str(PIECES[rng.usize(..PIECES.len())]);
            }
            for host in ["example.com", "10.1.2.3", "fd00::1", "::1", ""] {
                let _ = no_proxy_matches(&list, host, 443);
            }
            let _ = Proxy::parse(&list);
        }
    }
}
