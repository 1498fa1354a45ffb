//! Who the client is. Two rules, one per side of the gateway:
//! - At the edge ([`resolve`]): the socket peer, unless it is a trusted proxy
//!   (a load balancer in front), in which case `X-Forwarded-For` is read from
//!   the right, skipping further trusted hops, so a client cannot choose its
//!   own address by sending the header itself.
//! - Behind the gateway ([`from_gateway`]): the gateway states the address it
//!   resolved in one header, [`CLIENT_IP`], which it always overwrites; a
//!   service believes that header only from its trusted peers (the gateways)
//!   and otherwise takes the socket peer. Reading `X-Forwarded-For` again
//!   behind the gateway made every client look like the load balancer or the
//!   gateway itself as soon as either was not on loopback.
//!
//! Limits keyed by address use [`bucket`]: an IPv6 client holds a whole /64
//! (SLAAC hands one to every host), so counting per /128 would give it 2^64 keys.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::ConnectInfo;
use http::Extensions;
use http::{HeaderMap, HeaderName};
use ipnet::IpNet;

/// A constant: looking a header up by `&str` parses the name on every call.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client address as the gateway resolved it (nginx's convention).
pub const CLIENT_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Default trusted peers: loopback, where the embedded gateway runs.
pub fn loopback() -> Vec<IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn peer(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
}

fn is_trusted(trusted: &[IpNet], ip: &IpAddr) -> bool {
    trusted.iter().any(|net| net.contains(ip))
}

/// At the edge: the client behind `trusted` proxies. `X-Forwarded-For` is
/// read from the right, one hop at a time, while each hop is a trusted
/// proxy; the first untrusted hop is the client. An entry that does not
/// parse ends the walk at the last hop that did: what lies left of it was
/// written by the client and must not be reached by skipping.
pub fn resolve(extensions: &Extensions, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer(extensions)?;
    if !is_trusted(trusted, &peer) {
        return Some(peer);
    }
    let mut client = peer;
    for line in headers.get_all(X_FORWARDED_FOR).iter().rev() {
        let Ok(line) = line.to_str() else {
            return Some(client);
        };
        for entry in line.rsplit(',') {
            let Some(hop) = parse_hop(entry.trim()) else {
                return Some(client);
            };
            client = hop;
            if !is_trusted(trusted, &hop) {
                return Some(hop);
            }
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, `v4:port` or `[v6]:port`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    entry
        .parse::<SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

/// Behind the gateway: the [`CLIENT_IP`] a trusted peer stated, else the peer.
pub fn from_gateway(
    extensions: &Extensions,
    headers: &HeaderMap,
    trusted_peers: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer(extensions)?;
    if !is_trusted(trusted_peers, &peer) {
        return Some(peer);
    }
    let stated = headers
        .get(CLIENT_IP)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    Some(stated.map_or(peer, |ip| ip.to_canonical()))
}

/// The key a per-client limit counts under: the address itself for IPv4,
/// its /64 network for IPv6.
pub fn bucket(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(peer: &str) -> Extensions {
        let mut e = Extensions::new();
        e.insert(ConnectInfo(SocketAddr::new(peer.parse().unwrap(), 1)));
        e
    }

    fn headers(name: &str, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn believes_forwarded_for_only_from_trusted_proxies() {
        let trusted = loopback();
        let xff = |v| headers("x-forwarded-for", v);
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
        // Balancers that write ports are read too.
        assert_eq!(
            resolve(&ext("127.0.0.1"), &xff("203.0.113.9:4711"), &trusted),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            resolve(&ext("127.0.0.1"), &xff("[2001:db8::9]:4711"), &trusted),
            Some(ip("2001:db8::9"))
        );
    }

    #[test]
    fn an_entry_that_does_not_parse_is_not_skipped() {
        let trusted = loopback();
        let xff = |v| headers("x-forwarded-for", v);
        // The client wrote "6.6.6.6"; the balancer's entry is unreadable: the
        // walk stops there instead of reaching the client's claim.
        assert_eq!(
            resolve(&ext("127.0.0.1"), &xff("6.6.6.6, unknown"), &trusted),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(
            resolve(
                &ext("127.0.0.1"),
                &xff("6.6.6.6, garbage, 127.0.0.2"),
                &trusted
            ),
            Some(ip("127.0.0.2"))
        );
    }

    #[test]
    fn a_service_believes_the_stated_client_only_from_its_gateways() {
        let gateways: Vec<IpNet> = vec!["10.0.1.0/24".parse().unwrap()];
        let stated = headers("x-real-ip", "203.0.113.9");
        assert_eq!(
            from_gateway(&ext("10.0.1.7"), &stated, &gateways),
            Some(ip("203.0.113.9"))
        );
        // Anyone else who states a client is that client.
        assert_eq!(
            from_gateway(&ext("10.0.2.7"), &stated, &gateways),
            Some(ip("10.0.2.7"))
        );
        // X-Forwarded-For is not read behind the gateway at all.
        assert_eq!(
            from_gateway(
                &ext("10.0.1.7"),
                &headers("x-forwarded-for", "203.0.113.9"),
                &gateways
            ),
            Some(ip("10.0.1.7"))
        );
        assert_eq!(
            from_gateway(
                &ext("10.0.1.7"),
                &headers("x-real-ip", "nonsense"),
                &gateways
            ),
            Some(ip("10.0.1.7"))
        );
    }

    #[test]
    fn an_ipv6_client_counts_as_its_slash_64() {
        assert_eq!(
            bucket(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            bucket(ip("2001:db8:1:2::1"))
        );
        assert_ne!(bucket(ip("2001:db8:1:2::1")), bucket(ip("2001:db8:1:3::1")));
        assert_eq!(bucket(ip("::ffff:198.51.100.4")), ip("198.51.100.4"));
        assert_eq!(bucket(ip("198.51.100.4")), ip("198.51.100.4"));
    }
}
