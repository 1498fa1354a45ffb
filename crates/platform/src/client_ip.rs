//! The client's IP address behind trusted proxies. `X-Forwarded-For` is only
//! believed when the direct peer is a trusted proxy (e.g. the gateway), and
//! then read from the right, skipping further trusted hops, so a client
//! cannot choose its own address by sending the header itself.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use http::Extensions;
use http::{HeaderMap, HeaderName};
use ipnet::IpNet;

/// A constant: looking a header up by `&str` parses the name on every call.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Default trusted proxies: loopback, where the embedded gateway runs.
pub fn loopback() -> Vec<IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

pub fn resolve(extensions: &Extensions, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(peer: &str) -> Extensions {
        let mut e = Extensions::new();
        e.insert(ConnectInfo(SocketAddr::new(peer.parse().unwrap(), 1)));
        e
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn believes_forwarded_for_only_from_trusted_peers() {
        let trusted = loopback();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            resolve(&ext("127.0.0.1"), &xff("203.0.113.9"), &trusted),
            Some(ip("203.0.113.9"))
        );
        // A spoofed left-most entry is ignored: the right-most untrusted hop wins.
        assert_eq!(
            resolve(
                &ext("127.0.0.1"),
                &xff("1.2.3.4, 203.0.113.9, 127.0.0.1"),
                &trusted
            ),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            resolve(&ext("198.51.100.1"), &xff("1.2.3.4"), &trusted),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(
            resolve(&ext("127.0.0.1"), &HeaderMap::new(), &trusted),
            Some(ip("127.0.0.1"))
        );
    }
}
