//! The forwarding hop, and only that: pick an endpoint of the route's
//! cluster, rewrite the request for the upstream (hop-by-hop headers out,
//! `X-Forwarded-*`, the resolved client address and W3C trace context in),
//! and stream the answer back; retry once elsewhere when that is safe. Static
//! files and unknown routes are dispatched before it (`lib.rs`, `handle`).

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, StatusCode, Uri, Version};
use platform::http::problem::Problem;
use platform::telemetry::trace_context;

use crate::pool;
use crate::routes::{self, Timeouts, Upstream};
use crate::upstream::{Cluster, Endpoint};

/// What forwarding needs, and nothing else of the gateway's: the clusters,
/// the proxies whose `X-Forwarded-For` is believed, whether the edge speaks
/// TLS (`X-Forwarded-Proto`), and each route's timeout.
pub struct Proxy {
    auth: Arc<Cluster>,
    business: Arc<Cluster>,
    trusted_proxies: Vec<ipnet::IpNet>,
    tls: bool,
    timeouts: Timeouts,
}

impl Proxy {
    pub fn new(
        auth: Arc<Cluster>,
        business: Arc<Cluster>,
        trusted_proxies: Vec<ipnet::IpNet>,
        tls: bool,
        timeouts: Timeouts,
    ) -> Self {
        Self {
            auth,
            business,
            trusted_proxies,
            tls,
            timeouts,
        }
    }

    pub fn cluster(&self, upstream: Upstream) -> &Arc<Cluster> {
        match upstream {
            Upstream::Auth => &self.auth,
            Upstream::Business => &self.business,
        }
    }

    /// Forwards an admitted request to an endpoint of `route`'s cluster,
    /// and once more to another endpoint when the first fails and the request
    /// is a bodiless idempotent one within the retry budget. `client` is the
    /// address the edge checks resolved; the services are told it in
    /// [`platform::http::client_ip::CLIENT_IP`].
    pub async fn forward(
        &self,
        route: &routes::Endpoint,
        mut request: Request,
        client: Option<IpAddr>,
    ) -> Response {
        let cluster = self.cluster(route.upstream);
        self.rewrite(&mut request, client);
        let timeout = self.timeouts.of(route);
        let (request, replay) = if retryable(request.method()) && cluster.endpoint_count() > 1 {
            let (parts, body) = request.into_parts();
            let replay = parts.clone();
            (Request::from_parts(parts, body), Some(replay))
        } else {
            (request, None)
        };
        cluster.budget().record_request();
        let Some((first, endpoint)) = cluster.pick_excluding(&[]) else {
            return unavailable(cluster);
        };
        let failure = match attempt(cluster, endpoint, request, timeout).await {
            Ok(response) => return response,
            Err(failure) => failure,
        };
        let second = match replay {
            Some(head) if cluster.budget().try_retry() => cluster
                .pick_excluding(&[first])
                .map(|(_, endpoint)| (endpoint, head)),
            _ => None,
        };
        let Some((endpoint, head)) = second else {
            return failure.into_response();
        };
        match attempt(
            cluster,
            endpoint,
            Request::from_parts(head, Body::empty()),
            timeout,
        )
        .await
        {
            Ok(response) => response,
            Err(failure) => failure.into_response(),
        }
    }

    /// The request as the upstream gets it: HTTP/1.1, hop-by-hop headers
    /// out, `X-Forwarded-*`, the client's address and the trace context in,
    /// an origin-form target.
    fn rewrite(&self, request: &mut Request, client: Option<IpAddr>) {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let parent = request
            .extensions()
            .get::<trace_context::TraceParent>()
            .copied();
        *request.version_mut() = Version::HTTP_11;
        let headers = request.headers_mut();
        strip_hop_by_hop(headers);
        add_forwarded(headers, peer, client, &self.trusted_proxies, self.tls);
        trace_context::inject(headers, parent.as_ref());

        // The upstream gets the origin form (`/path?query`) of an absolute-form
        // target (`GET http://host/path`); an origin form goes on as it is.
        if request.uri().scheme().is_some() || request.uri().authority().is_some() {
            let path_and_query = request
                .uri()
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/"));
            *request.uri_mut() = Uri::from(path_and_query);
        }
    }
}

/// Retries are for requests that can be repeated safely and have no body to replay.
fn retryable(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// One exchange with one endpoint, within `timeout`: the answer (its
/// hop-by-hop headers and banners stripped), or the failure to answer with.
/// The endpoint's health hears of either.
async fn attempt(
    cluster: &Cluster,
    endpoint: &Endpoint,
    request: Request,
    timeout: Duration,
) -> Result<Response, Problem> {
    let in_flight = endpoint.start();
    let exchange = pool::send(endpoint.upstream(), request);
    let outcome = platform::http::coarse_timer::timeout(timeout, exchange).await;
    drop(in_flight);
    match outcome {
        Ok(Ok(response)) => {
            endpoint.record_success();
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            strip_banners(&mut parts.headers);
            Ok(Response::from_parts(parts, Body::new(body)))
        }
        Ok(Err(e)) => {
            endpoint.record_failure(e.is_connect());
            tracing::warn!(upstream = cluster.name(), endpoint = endpoint.base(), error = %e, "upstream request failed");
            Err(Problem::new(
                StatusCode::BAD_GATEWAY,
                Some(format!("{} unavailable", cluster.name())),
            ))
        }
        Err(_) => {
            endpoint.record_failure(false);
            tracing::warn!(
                upstream = cluster.name(),
                endpoint = endpoint.base(),
                "upstream timed out"
            );
            Err(Problem::new(
                StatusCode::GATEWAY_TIMEOUT,
                Some(format!("{} timed out", cluster.name())),
            ))
        }
    }
}

/// No endpoint may be tried: fail fast, and say when to come back.
fn unavailable(cluster: &Cluster) -> Response {
    let mut response = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        Some(format!("no healthy {} endpoint", cluster.name())),
    )
    .into_response();
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Whether a header describes one connection, not the message (RFC 9110
/// §7.6.1). A `match` on the text: the name's length rules most headers out
/// at once, where comparing with a list of names took a comparison each.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none, or only `Connection` (a keep-alive answer):
    // a pass over the names finds the next, with no list to allocate.
    while let Some(name) = headers
        .keys()
        .find(|name| is_hop_by_hop(name.as_str()))
        .cloned()
    {
        let header::Entry::Occupied(entry) = headers.entry(name) else {
            return;
        };
        let (name, values) = entry.remove_entry_mult();
        if name != header::CONNECTION {
            continue;
        }
        // The headers `Connection` names are this hop's too (`keep-alive`
        // mostly: its text is looked at before it is parsed into a name).
        let mut listed: Vec<HeaderName> = Vec::new();
        for value in values {
            for token in value.to_str().unwrap_or_default().split(',') {
                let token = token.trim();
                if is_hop_by_hop(token) {
                    continue;
                }
                if let Ok(name) = HeaderName::try_from(token)
                    && !is_hop_by_hop(name.as_str())
                {
                    listed.push(name);
                }
            }
        }
        for listed in listed {
            headers.remove(listed);
        }
    }
}

/// What an upstream says about its software and version: of use to
/// attackers only, so it stops at the edge.
fn strip_banners(headers: &mut HeaderMap) {
    const X_POWERED_BY: HeaderName = HeaderName::from_static("x-powered-by");
    headers.remove(header::SERVER);
    headers.remove(X_POWERED_BY);
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// What a client may claim about the hops before it (compared as text, as
/// [`is_hop_by_hop`] does).
const FORWARDING: [&str; 5] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    "x-real-ip",
];

/// Sets `X-Forwarded-For`/`-Proto` (`https` when the gateway terminates
/// TLS) and states the resolved `client` in `X-Real-IP`
/// ([`platform::http::client_ip::CLIENT_IP`]). What a client sent in these headers is kept only when the client is
/// a trusted proxy (a load balancer in front); anyone else's claims are
/// dropped, so the services behind never see an address the client chose.
fn add_forwarded(
    headers: &mut HeaderMap,
    peer: Option<SocketAddr>,
    client: Option<IpAddr>,
    trusted: &[ipnet::IpNet],
    tls: bool,
) {
    let from_trusted = peer.is_some_and(|p| trusted.iter().any(|net| net.contains(&p.ip())));
    // One look at the names: clients seldom send these, and removing each
    // by name costs a hash whether it is there or not.
    if !from_trusted
        && headers
            .keys()
            .any(|name| FORWARDING.contains(&name.as_str()))
    {
        for name in FORWARDING {
            headers.remove(name);
        }
    }
    let mut stated = false;
    if let Some(peer) = peer {
        let mut buffer = [0; 15];
        let ip = ip_text(peer.ip(), &mut buffer);
        let existing = from_trusted
            .then(|| headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()))
            .flatten();
        let value = match existing {
            Some(existing) => HeaderValue::try_from(format!("{existing}, {ip}")),
            None => HeaderValue::from_str(&ip),
        };
        if let Ok(value) = value {
            // Not behind a trusted proxy, the peer is the client: one text for both.
            if !from_trusted && client == Some(peer.ip().to_canonical()) {
                headers.insert(platform::http::client_ip::CLIENT_IP, value.clone());
                stated = true;
            }
            headers.insert(X_FORWARDED_FOR, value);
        }
    }
    if !stated {
        state_client(headers, client);
    }
    if !from_trusted || !headers.contains_key(&X_FORWARDED_PROTO) {
        const HTTP: HeaderValue = HeaderValue::from_static("http");
        const HTTPS: HeaderValue = HeaderValue::from_static("https");
        headers.insert(X_FORWARDED_PROTO, if tls { HTTPS } else { HTTP });
    }
}

/// Tells the services the client in the one header they believe from a
/// gateway, whatever the client sent in it.
fn state_client(headers: &mut HeaderMap, client: Option<IpAddr>) {
    let mut buffer = [0; 15];
    match client.and_then(|ip| HeaderValue::from_str(&ip_text(ip, &mut buffer)).ok()) {
        Some(value) => headers.insert(platform::http::client_ip::CLIENT_IP, value),
        None => headers.remove(platform::http::client_ip::CLIENT_IP),
    };
}

/// The address as text; an IPv4 address is written into `buffer` without
/// the formatting machinery (docs/performance.md, "The client address as text").
fn ip_text(ip: IpAddr, buffer: &mut [u8; 15]) -> Cow<'_, str> {
    let IpAddr::V4(v4) = ip else {
        return Cow::Owned(ip.to_string());
    };
    let mut len = 0;
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            buffer[len] = b'.';
            len += 1;
        }
        let digits = [octet / 100, octet / 10 % 10, octet % 10];
        let skip = match octet {
            0..=9 => 2,
            10..=99 => 1,
            _ => 0,
        };
        for digit in &digits[skip..] {
            buffer[len] = b'0' + digit;
            len += 1;
        }
    }
    // Digits and dots only.
    Cow::Borrowed(std::str::from_utf8(&buffer[..len]).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hop_by_hop_and_connection_named_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.append(header::CONNECTION, HeaderValue::from_static("X-Other-Hop"));
        h.insert("x-other-hop", HeaderValue::from_static("1"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Token t"));
        h.insert(header::USER_AGENT, HeaderValue::from_static("curl/8"));
        strip_hop_by_hop(&mut h);
        assert!(h.get("x-other-hop").is_none(), "named by a second line");
        assert!(h.get(header::TE).is_none());
        assert_eq!(
            h[header::USER_AGENT],
            "curl/8",
            "as long as a hop-by-hop name"
        );
        assert!(h.get("x-secret-hop").is_none());
        assert!(h.get("keep-alive").is_none());
        assert!(h.get(header::TRANSFER_ENCODING).is_none());
        assert!(h.get(header::CONNECTION).is_none());
        assert!(h.get(header::AUTHORIZATION).is_some());
    }

    #[test]
    fn upstream_banners_stop_at_the_edge() {
        let mut h = HeaderMap::new();
        h.insert(header::SERVER, HeaderValue::from_static("nginx/1.22.1"));
        h.insert("x-powered-by", HeaderValue::from_static("Express"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        strip_banners(&mut h);
        assert!(h.get(header::SERVER).is_none());
        assert!(h.get("x-powered-by").is_none());
        assert_eq!(h[header::CONTENT_TYPE], "text/plain");
    }

    #[test]
    fn addresses_are_written_as_their_display_form() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "9.10.99.100",
            "255.255.255.255",
            "198.51.100.9",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip, &mut [0; 15]), ip.to_string());
        }
    }

    #[test]
    fn forwarded_for_is_kept_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.7"));
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        add_forwarded(
            &mut h,
            Some(SocketAddr::from(([10, 0, 0, 5], 5000))),
            Some("203.0.113.7".parse().unwrap()),
            &trusted,
            false,
        );
        assert_eq!(h[&X_FORWARDED_FOR], "203.0.113.7, 10.0.0.5");
        assert_eq!(
            h["x-real-ip"], "203.0.113.7",
            "the client behind the balancer"
        );
        assert_eq!(h[&X_FORWARDED_PROTO], "https");

        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("1.2.3.4"));
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        h.insert("x-real-ip", HeaderValue::from_static("1.2.3.4"));
        add_forwarded(
            &mut h,
            Some(SocketAddr::from(([198, 51, 100, 9], 5000))),
            Some("198.51.100.9".parse().unwrap()),
            &trusted,
            false,
        );
        assert_eq!(
            h[&X_FORWARDED_FOR], "198.51.100.9",
            "a client's own claim is dropped"
        );
        assert_eq!(h["x-real-ip"], "198.51.100.9", "the peer is the client");
        assert_eq!(h[&X_FORWARDED_PROTO], "http");

        // Every claim of an untrusted client goes, whichever it made.
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-host", HeaderValue::from_static("evil.example"));
        h.insert(header::FORWARDED, HeaderValue::from_static("for=1.2.3.4"));
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        add_forwarded(
            &mut h,
            Some(SocketAddr::from(([198, 51, 100, 9], 5000))),
            Some("198.51.100.9".parse().unwrap()),
            &trusted,
            true,
        );
        assert!(h.get("x-forwarded-host").is_none());
        assert!(h.get(header::FORWARDED).is_none());
        assert_eq!(h[&X_FORWARDED_FOR], "198.51.100.9");
        assert_eq!(h[&X_FORWARDED_PROTO], "https", "the gateway terminated TLS");
        assert_eq!(h[header::ACCEPT], "*/*");
    }

    #[test]
    fn the_services_are_told_the_resolved_client_whatever_the_client_claimed() {
        let mut h = HeaderMap::new();
        h.insert("x-real-ip", HeaderValue::from_static("10.9.9.9"));
        state_client(&mut h, Some("203.0.113.7".parse().unwrap()));
        assert_eq!(h["x-real-ip"], "203.0.113.7");
        state_client(&mut h, Some("2001:db8::7".parse().unwrap()));
        assert_eq!(h["x-real-ip"], "2001:db8::7");
        state_client(&mut h, None);
        assert!(h.get("x-real-ip").is_none(), "no claim passes unchecked");
    }
}
