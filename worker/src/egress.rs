//! The egress guard: a worker calls URLs that others name (a vendor's endpoint, a run
//! spec's judge), so before any connection it checks where the URL really goes.
//!
//! - Every name is resolved by [`GuardedResolver`], which reqwest uses for every
//!   connection (so a DNS answer that changes between a check and the connection cannot
//!   slip through); addresses in loopback, private, link-local (169.254.0.0/16 — the
//!   cloud metadata service — and fe80::/10), unique-local, multicast, unspecified,
//!   broadcast, shared (100.64.0.0/10) or documentation ranges are refused, including
//!   IPv4-mapped and NAT64 forms of them in IPv6.
//! - A URL whose host is an IP literal is checked the same way by [`EgressPolicy::check_url`]
//!   (reqwest does not resolve literals).
//! - Redirects are not followed (the client is built with `redirect::Policy::none()`), so
//!   an allowed host cannot bounce a worker to a forbidden one.
//! - Credentials in a URL are refused, and a key is never sent over plain `http://` to a
//!   host the operator did not allow.
//!
//! The operator allows what a lab needs (`--allow-endpoint 10.0.0.0/8`, `--allow-endpoint
//! vllm.internal`); `jianzhen run` on one machine allows loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// One thing the operator allows: a network or a host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    Network { address: IpAddr, prefix: u8 },
    Host(String),
}

impl Allowed {
    /// Parses `10.0.0.0/8`, `127.0.0.1`, `::1`, `fd00::/8` or a host name.
    ///
    /// # Errors
    /// A malformed network or an empty name.
    pub fn parse(text: &str) -> Result<Allowed, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("an empty --allow-endpoint".into());
        }
        if let Some((address, prefix)) = text.split_once('/') {
            let address: IpAddr = address
                .parse()
                .map_err(|_| format!("`{text}` is not a network; write e.g. 10.0.0.0/8"))?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = prefix
                .parse()
                .ok()
                .filter(|prefix| *prefix <= max)
                .ok_or_else(|| format!("`{text}`: the prefix must be 0 to {max}"))?;
            return Ok(Allowed::Network { address, prefix });
        }
        if let Ok(address) = text.parse::<IpAddr>() {
            let prefix = if address.is_ipv4() { 32 } else { 128 };
            return Ok(Allowed::Network { address, prefix });
        }
        Ok(Allowed::Host(
            text.trim_end_matches('.').to_ascii_lowercase(),
        ))
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let Allowed::Network { address, prefix } = self else {
            return false;
        };
        match (address, canonical(ip)) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                u32::from(*network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                u128::from(*network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// What a worker may connect to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    pub allowed: Vec<Allowed>,
}

/// An IPv4 address hidden in an IPv6 one (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`,
/// 6to4 `2002::/16`) is judged as the IPv4 address it reaches.
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let segments = v6.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., a, b] = segments;
        return IpAddr::V4(Ipv4Addr::new(
            (a >> 8) as u8,
            a as u8,
            (b >> 8) as u8,
            b as u8,
        ));
    }
    if segments[0] == 0x2002 {
        return IpAddr::V4(Ipv4Addr::new(
            (segments[1] >> 8) as u8,
            segments[1] as u8,
            (segments[2] >> 8) as u8,
            segments[2] as u8,
        ));
    }
    ip
}

/// Why an address is not a public endpoint, or `None` when it is one.
pub fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local (cloud metadata)")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if ip.is_multicast() || a >= 240 {
        Some("multicast or reserved")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_documentation() || (a == 198 && (b == 18 || b == 19)) || (a == 192 && b == 0) {
        Some("documentation or benchmarking")
    } else {
        None
    }
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if first & 0xffc0 == 0xfec0 {
        Some("site-local")
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("documentation")
    } else {
        None
    }
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by the worker's egress guard: {0}")]
pub struct EgressRefusal(pub String);

impl EgressPolicy {
    /// Nothing but public addresses (a worker's default).
    pub fn public_only() -> EgressPolicy {
        EgressPolicy::default()
    }

    /// Public addresses and loopback (the default of `jianzhen run` on one machine).
    pub fn with_loopback() -> EgressPolicy {
        EgressPolicy {
            allowed: vec![
                Allowed::Network {
                    address: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    prefix: 8,
                },
                Allowed::Network {
                    address: IpAddr::V6(Ipv6Addr::LOCALHOST),
                    prefix: 128,
                },
                Allowed::Host("localhost".into()),
            ],
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allowed
            .iter()
            .any(|allowed| matches!(allowed, Allowed::Host(name) if *name == host))
    }

    /// Whether `ip`, reached for `host`, may be connected to.
    ///
    /// # Errors
    /// The address is in a refused range and neither it nor the host is allowed.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), EgressRefusal> {
        let Some(range) = blocked_range(ip) else {
            return Ok(());
        };
        if self.host_allowed(host) || self.allowed.iter().any(|allowed| allowed.contains(ip)) {
            return Ok(());
        }
        Err(EgressRefusal(format!(
            "`{host}` is {ip}, a {range} address; if this endpoint is meant (a lab's own server), start the worker with --allow-endpoint {ip} (or the host or its network)"
        )))
    }

    /// Checks a URL before a call: scheme, credentials, an IP-literal host, and a key
    /// over plain HTTP.
    ///
    /// # Errors
    /// What is refused, and what the operator can do about it.
    pub fn check_url(&self, url: &str, sends_key: bool) -> Result<(), EgressRefusal> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|error| EgressRefusal(format!("`{url}` is not a URL: {error}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(EgressRefusal(format!(
                "only http:// and https:// endpoints are called, not {}://",
                parsed.scheme()
            )));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(EgressRefusal(
                "credentials in an endpoint URL are refused; give the key as a key".into(),
            ));
        }
        let Some(host) = parsed.host() else {
            return Err(EgressRefusal(format!("`{url}` has no host")));
        };
        let host_text = match &host {
            url::Host::Domain(name) => (*name).to_string(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        match host {
            url::Host::Ipv4(ip) => self.check_ip(&host_text, IpAddr::V4(ip))?,
            url::Host::Ipv6(ip) => self.check_ip(&host_text, IpAddr::V6(ip))?,
            url::Host::Domain(_) => {}
        }
        if sends_key
            && parsed.scheme() == "http"
            && !self.is_explicitly_allowed(&parsed, &host_text)
        {
            return Err(EgressRefusal(format!(
                "a key is never sent over plain http:// to `{host_text}`; use https://, or allow the host with --allow-endpoint {host_text}"
            )));
        }
        Ok(())
    }

    fn is_explicitly_allowed(&self, parsed: &reqwest::Url, host: &str) -> bool {
        if self.host_allowed(host) {
            return true;
        }
        match parsed.host() {
            Some(url::Host::Ipv4(ip)) => self.allowed.iter().any(|a| a.contains(IpAddr::V4(ip))),
            Some(url::Host::Ipv6(ip)) => self.allowed.iter().any(|a| a.contains(IpAddr::V6(ip))),
            _ => false,
        }
    }
}

/// The DNS resolver of the worker's HTTP client: resolves with the system resolver and
/// keeps only the addresses the policy allows; a name with none left fails to resolve,
/// with the reason.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub policy: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| match policy.check_ip(&host, address.ip()) {
                    Ok(()) => true,
                    Err(reason) => {
                        refusal = Some(reason);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let reason = refusal.unwrap_or_else(|| {
                    EgressRefusal(format!("`{host}` did not resolve to any address"))
                });
                return Err(Box::new(reason) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn private_and_special_ranges_are_refused_in_every_form() {
        for refused in [
            "127.0.0.1",
            "127.0.0.2",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:169.254.169.254",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
        ] {
            assert!(blocked_range(ip(refused)).is_some(), "{refused}");
        }
        for public in ["8.8.8.8", "47.88.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert_eq!(blocked_range(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn the_operator_allows_networks_and_hosts() {
        let mut policy = EgressPolicy::public_only();
        assert!(policy.check_ip("vllm", ip("10.0.0.5")).is_err());
        policy
            .allowed
            .push(Allowed::parse("10.0.0.0/8").expect("network"));
        assert!(policy.check_ip("vllm", ip("10.0.0.5")).is_ok());
        assert!(policy.check_ip("vllm", ip("192.168.0.5")).is_err());
        policy
            .allowed
            .push(Allowed::parse("LAN-Box.").expect("host"));
        assert!(policy.check_ip("lan-box", ip("192.168.0.5")).is_ok());
        assert!(Allowed::parse("10.0.0.0/33").is_err());
        let loopback = EgressPolicy::with_loopback();
        assert!(loopback.check_ip("x", ip("127.0.0.2")).is_ok());
        assert!(loopback.check_ip("x", ip("169.254.169.254")).is_err());
    }

    #[test]
    fn urls_with_credentials_literals_or_keys_over_http_are_refused() {
        let policy = EgressPolicy::public_only();
        let refused = policy
            .check_url("http://169.254.169.254/latest/meta-data/v1", false)
            .expect_err("metadata");
        assert!(refused.to_string().contains("link-local"), "{refused}");
        assert!(
            policy
                .check_url("http://[::ffff:127.0.0.1]:8000/v1", false)
                .is_err()
        );
        assert!(
            policy
                .check_url("https://user:pw@api.example.com/v1", false)
                .is_err()
        );
        assert!(policy.check_url("file:///etc/passwd", false).is_err());
        assert!(policy.check_url("http://api.example.com/v1", true).is_err());
        assert!(policy.check_url("http://api.example.com/v1", false).is_ok());
        assert!(policy.check_url("https://api.example.com/v1", true).is_ok());
        let loopback = EgressPolicy::with_loopback();
        assert!(loopback.check_url("http://127.0.0.1:8000/v1", true).is_ok());
    }
}
