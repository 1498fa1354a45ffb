//! The route table: every endpoint served at the edge, by method and path
//! pattern, with the upstream cluster that serves it, whether it needs a
//! token, whether it takes credentials (stricter rate limit), how the WAF
//! reads its body, and its upstream timeout (configured overrides resolved
//! onto the table at start). A request is classified once, from its request
//! line alone ([`classify`]); every edge check, the proxy, the security
//! headers, the metrics and the access log read that one [`Route`], and what
//! no endpoint serves is refused before its body is read.

use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use platform::http::problem::Problem;
use std::time::Duration;

/// Each endpoint's upstream timeout: `gateway.upstream_timeout_secs`, or
/// the `gateway.route_timeouts` entry whose prefix covers the endpoint's
/// pattern (the longest such), resolved once at start.
pub struct Timeouts {
    default: Duration,
    /// The endpoints with a timeout of their own (usually none).
    own: Vec<(&'static Endpoint, Duration)>,
}

impl Timeouts {
    pub fn new(default: Duration, routes: &std::collections::BTreeMap<String, u64>) -> Self {
        let own = ENDPOINTS
            .iter()
            .filter_map(|endpoint| {
                routes
                    .iter()
                    .map(|(prefix, secs)| (prefix.trim_end_matches('/'), *secs))
                    .filter(|(prefix, _)| covers(prefix, endpoint.pattern))
                    .max_by_key(|(prefix, _)| prefix.len())
                    .map(|(_, secs)| (endpoint, Duration::from_secs(secs)))
            })
            .collect();
        Self { default, own }
    }

    pub fn of(&self, endpoint: &Endpoint) -> Duration {
        self.own
            .iter()
            .find(|(own, _)| *own == endpoint)
            .map_or(self.default, |(_, timeout)| *timeout)
    }
}

/// Whether a `gateway.route_timeouts` prefix covers any endpoint's pattern
/// (one that covers none is a typo, or names one article rather than a route).
pub fn covers_an_endpoint(prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    ENDPOINTS.iter().any(|e| covers(prefix, e.pattern))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    Auth,
    Business,
}

impl Upstream {
    /// The cluster's name in logs and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Business => "business",
        }
    }
}

/// Whether a route needs an access token at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// Refused with 401 without one (the service would refuse it too).
    Required,
    /// Verified when present (a bad one is refused), welcome without.
    Optional,
}

/// How the WAF reads an endpoint's request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Every value is inspected by the content rules.
    Inspected,
    /// An article: its `article.body` is markdown, whose fenced code is
    /// shown, not run, and is not inspected (`waf::markdown`); every other
    /// value is.
    Markdown,
}

/// One endpoint the platform serves at the edge.
#[derive(Debug)]
pub struct Endpoint {
    pub method: Method,
    /// Segments; `{…}` matches any one non-empty segment.
    pub pattern: &'static str,
    pub upstream: Upstream,
    pub token: Token,
    /// Takes a password or mints tokens: the brute-force targets, with their
    /// own, stricter rate limit.
    pub credentials: bool,
    pub body: Body,
}

const fn endpoint(
    method: Method,
    pattern: &'static str,
    upstream: Upstream,
    token: Token,
) -> Endpoint {
    Endpoint {
        method,
        pattern,
        upstream,
        token,
        credentials: false,
        body: Body::Inspected,
    }
}

/// Writes an article: its body is markdown.
const fn article(method: Method, pattern: &'static str) -> Endpoint {
    Endpoint {
        method,
        pattern,
        upstream: Upstream::Business,
        token: Token::Required,
        credentials: false,
        body: Body::Markdown,
    }
}

const fn credentials(pattern: &'static str) -> Endpoint {
    Endpoint {
        method: Method::POST,
        pattern,
        upstream: Upstream::Auth,
        token: Token::Optional,
        credentials: true,
        body: Body::Inspected,
    }
}

use Token::{Optional, Required};
use Upstream::{Auth, Business};

/// Every endpoint served at the edge: nothing else in the gateway matches
/// paths. Service-to-service endpoints (`/internal/*`, `/auth/introspect`)
/// are not here, so they are not served at the edge.
pub static ENDPOINTS: &[Endpoint] = &[
    // auth: the RealWorld user API and the platform's token API
    credentials("/api/users"),
    credentials("/api/users/login"),
    endpoint(Method::GET, "/api/user", Auth, Required),
    endpoint(Method::PUT, "/api/user", Auth, Required),
    credentials("/auth/token"),
    endpoint(Method::POST, "/auth/token/refresh", Auth, Optional),
    // With the access token, or with only the refresh cookie (token expired).
    endpoint(Method::POST, "/auth/logout", Auth, Optional),
    endpoint(Method::POST, "/auth/revoke", Auth, Optional),
    endpoint(Method::GET, "/auth/sessions", Auth, Required),
    endpoint(Method::DELETE, "/auth/sessions/{id}", Auth, Required),
    endpoint(Method::GET, "/.well-known/jwks.json", Auth, Optional),
    endpoint(
        Method::GET,
        "/.well-known/openid-configuration",
        Auth,
        Optional,
    ),
    // business: the RealWorld Conduit API
    endpoint(Method::GET, "/api/tags", Business, Optional),
    endpoint(Method::GET, "/api/profiles/{username}", Business, Optional),
    endpoint(
        Method::POST,
        "/api/profiles/{username}/follow",
        Business,
        Required,
    ),
    endpoint(
        Method::DELETE,
        "/api/profiles/{username}/follow",
        Business,
        Required,
    ),
    endpoint(Method::GET, "/api/articles", Business, Optional),
    article(Method::POST, "/api/articles"),
    endpoint(Method::GET, "/api/articles/feed", Business, Required),
    endpoint(Method::GET, "/api/articles/{slug}", Business, Optional),
    article(Method::PUT, "/api/articles/{slug}"),
    endpoint(Method::DELETE, "/api/articles/{slug}", Business, Required),
    endpoint(
        Method::POST,
        "/api/articles/{slug}/favorite",
        Business,
        Required,
    ),
    endpoint(
        Method::DELETE,
        "/api/articles/{slug}/favorite",
        Business,
        Required,
    ),
    endpoint(
        Method::GET,
        "/api/articles/{slug}/comments",
        Business,
        Optional,
    ),
    endpoint(
        Method::POST,
        "/api/articles/{slug}/comments",
        Business,
        Required,
    ),
    endpoint(
        Method::DELETE,
        "/api/articles/{slug}/comments/{id}",
        Business,
        Required,
    ),
];

/// Path prefixes that belong to the API: a path under them that no endpoint
/// has is answered 404 here, never handed to the static files.
const API_PREFIXES: &[&str] = &["/api", "/auth", "/.well-known"];

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Upstream(&'static Endpoint),
    /// An API path no endpoint has: 404.
    UnknownApi,
    /// An API path whose endpoints take other methods: 405.
    MethodNotAllowed,
    /// Everything else: the frontend.
    Static,
}

impl PartialEq for Endpoint {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Endpoint {}

/// `prefix` (without a trailing `/`) covers `path` segment-wise.
fn covers(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// One segment of a pattern.
enum Segment {
    Literal(&'static str),
    /// `{…}`: any one non-empty segment.
    Param,
}

/// An endpoint's pattern split into segments, once.
struct Compiled {
    segments: Vec<Segment>,
    endpoint: &'static Endpoint,
}

impl Compiled {
    fn matches(&self, given: &[&[u8]]) -> bool {
        self.segments.len() == given.len()
            && self
                .segments
                .iter()
                .zip(given)
                .all(|(want, got)| match want {
                    Segment::Literal(literal) => literal.as_bytes() == *got,
                    Segment::Param => !got.is_empty(),
                })
    }
}

static COMPILED: std::sync::LazyLock<Vec<Compiled>> = std::sync::LazyLock::new(|| {
    ENDPOINTS
        .iter()
        .map(|endpoint| Compiled {
            segments: endpoint
                .pattern
                .split('/')
                .skip(1)
                .map(|s| {
                    if s.starts_with('{') {
                        Segment::Param
                    } else {
                        Segment::Literal(s)
                    }
                })
                .collect(),
            endpoint,
        })
        .collect()
});

/// No endpoint has more segments than this; a longer path is none's.
const MAX_SEGMENTS: usize = 8;

/// The endpoints whose pattern `path` has, in table order.
fn matching(path: &str) -> impl Iterator<Item = &'static Endpoint> {
    let mut given: [&[u8]; MAX_SEGMENTS] = [b""; MAX_SEGMENTS];
    let mut count = 0;
    // Split as bytes: `str::split` with a `char` searches with a general
    // matcher that cost more than the whole table (docs/performance.md).
    for segment in path.as_bytes().split(|&b| b == b'/').skip(1) {
        if count == MAX_SEGMENTS {
            count = MAX_SEGMENTS + 1;
            break;
        }
        given[count] = segment;
        count += 1;
    }
    COMPILED
        .iter()
        .filter(move |c| count <= MAX_SEGMENTS && c.matches(&given[..count]))
        .map(|c| c.endpoint)
}

/// Where `method path` goes: decided from the request line alone, before
/// any body is read. `HEAD` goes where `GET` does.
pub fn route(method: &Method, path: &str) -> Route {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    let mut path_known = false;
    for endpoint in matching(path) {
        if endpoint.method == method {
            return Route::Upstream(endpoint);
        }
        path_known = true;
    }
    if path_known {
        Route::MethodNotAllowed
    } else if API_PREFIXES.iter().any(|prefix| covers(prefix, path)) {
        Route::UnknownApi
    } else {
        Route::Static
    }
}

/// Answers what no endpoint serves: 404 for an unknown API path, 405 (with
/// `Allow`) for a method its endpoints do not take.
// The refusal is the answer itself (as in `limits::enforce`).
#[allow(clippy::result_large_err)]
pub fn refuse_unserved(route: Route, head: &http::request::Parts) -> Result<(), Response> {
    match route {
        Route::Upstream(_) | Route::Static => Ok(()),
        Route::UnknownApi => Err(Problem::new(
            StatusCode::NOT_FOUND,
            Some("no such API route".to_owned()),
        )
        .into_response()),
        Route::MethodNotAllowed => {
            let mut allowed: Vec<&str> = matching(head.uri.path())
                .map(|e| e.method.as_str())
                .collect();
            if allowed.contains(&"GET") {
                allowed.push("HEAD");
            }
            let mut response = Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                Some(format!("{} is not served here", head.method)),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            Err(response)
        }
    }
}

/// Classifies a request once, before the gateway's handler is called: its
/// [`Route`] goes into the request's extensions for everything after (the
/// request context: limits, WAF, rate limits, edge auth, proxy, security
/// headers read it there), and its label to the metrics: the cluster its
/// path goes to, `static`, or `unmatched` for an API path or method no
/// endpoint has. Refused requests count under the route they asked for.
pub fn classify(request: &mut axum::extract::Request) -> &'static str {
    let route = route(request.method(), request.uri().path());
    request.extensions_mut().insert(route);
    match route {
        Route::Upstream(endpoint) => endpoint.upstream.name(),
        Route::UnknownApi | Route::MethodNotAllowed => "unmatched",
        Route::Static => "static",
    }
}

/// The request's route, as [`classify`] found it (or found now, for a
/// request that did not come through the stack).
pub fn of(request: &axum::extract::Request) -> Route {
    match request.extensions().get::<Route>() {
        Some(route) => *route,
        None => route(request.method(), request.uri().path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(method: Method, path: &str) -> Option<Upstream> {
        match route(&method, path) {
            Route::Upstream(endpoint) => Some(endpoint.upstream),
            _ => None,
        }
    }

    #[test]
    fn routes_by_method_and_path() {
        assert_eq!(
            upstream(Method::POST, "/api/users/login"),
            Some(Upstream::Auth)
        );
        assert_eq!(upstream(Method::GET, "/api/user"), Some(Upstream::Auth));
        assert_eq!(upstream(Method::PUT, "/api/user"), Some(Upstream::Auth));
        assert_eq!(upstream(Method::POST, "/api/users"), Some(Upstream::Auth));
        assert_eq!(
            upstream(Method::GET, "/.well-known/jwks.json"),
            Some(Upstream::Auth)
        );
        assert_eq!(upstream(Method::POST, "/auth/token"), Some(Upstream::Auth));
        assert_eq!(upstream(Method::POST, "/auth/revoke"), Some(Upstream::Auth));
        assert_eq!(
            upstream(Method::HEAD, "/api/articles/feed"),
            Some(Upstream::Business)
        );
        assert_eq!(
            upstream(Method::DELETE, "/api/profiles/jake/follow"),
            Some(Upstream::Business)
        );
        assert_eq!(
            upstream(Method::DELETE, "/api/articles/a-slug/comments/7"),
            Some(Upstream::Business)
        );
        assert_eq!(upstream(Method::GET, "/api/tags"), Some(Upstream::Business));
    }

    #[test]
    fn every_pattern_fits_the_matcher() {
        for c in COMPILED.iter() {
            assert!(c.segments.len() <= MAX_SEGMENTS, "{}", c.endpoint.pattern);
        }
        assert_eq!(
            route(&Method::GET, "/api/articles/a/comments/1/b/c/d/e/f"),
            Route::UnknownApi
        );
    }

    /// The route is found once: what `classify` found is what the handler reads.
    #[test]
    fn classify_leaves_the_route_for_the_handler() {
        use axum::body::Body;
        let mut request = axum::extract::Request::get("/api/articles/feed")
            .body(Body::empty())
            .unwrap();
        assert_eq!(classify(&mut request), "business");
        let found = route(&Method::GET, "/api/articles/feed");
        assert_eq!(request.extensions().get::<Route>(), Some(&found));
        assert_eq!(of(&request), found);
        let mut page = axum::extract::Request::get("/article/a-slug")
            .body(Body::empty())
            .unwrap();
        assert_eq!(classify(&mut page), "static");
        let mut odd = axum::extract::Request::patch("/api/tags")
            .body(Body::empty())
            .unwrap();
        assert_eq!(classify(&mut odd), "unmatched");
        // A request that did not come through the stack is routed all the same.
        let bare = axum::extract::Request::post("/auth/logout")
            .body(Body::empty())
            .unwrap();
        assert_eq!(of(&bare), route(&Method::POST, "/auth/logout"));
    }

    #[test]
    fn tokens_and_credentials_by_endpoint() {
        let endpoint = |method: Method, path: &str| match route(&method, path) {
            Route::Upstream(e) => e,
            other => panic!("{method} {path}: {other:?}"),
        };
        for (method, path) in [
            (Method::GET, "/api/user"),
            (Method::GET, "/api/articles/feed"),
            (Method::POST, "/api/articles"),
            (Method::DELETE, "/api/articles/a-slug"),
            (Method::POST, "/api/articles/a-slug/comments"),
            (Method::DELETE, "/api/profiles/jake/follow"),
            (Method::DELETE, "/auth/sessions/s1"),
        ] {
            assert_eq!(
                endpoint(method.clone(), path).token,
                Token::Required,
                "{method} {path}"
            );
        }
        for (method, path) in [
            (Method::GET, "/api/articles"),
            (Method::GET, "/api/articles/a-slug"),
            (Method::GET, "/api/articles/a-slug/comments"),
            (Method::GET, "/api/profiles/jake"),
            (Method::POST, "/api/users/login"),
            (Method::POST, "/auth/token"),
            (Method::POST, "/auth/logout"),
        ] {
            assert_eq!(
                endpoint(method.clone(), path).token,
                Token::Optional,
                "{method} {path}"
            );
        }
        let credentials: Vec<_> = ENDPOINTS
            .iter()
            .filter(|e| e.credentials)
            .map(|e| e.pattern)
            .collect();
        assert_eq!(
            credentials,
            ["/api/users", "/api/users/login", "/auth/token"]
        );
    }

    #[test]
    fn what_no_endpoint_serves_is_refused_from_the_request_line() {
        assert_eq!(route(&Method::POST, "/api/tags"), Route::MethodNotAllowed);
        assert_eq!(route(&Method::PATCH, "/api/user"), Route::MethodNotAllowed);
        assert_eq!(route(&Method::GET, "/api/tagsx"), Route::UnknownApi);
        assert_eq!(route(&Method::GET, "/api/userx"), Route::UnknownApi);
        assert_eq!(route(&Method::GET, "/api/tags/"), Route::UnknownApi);
        assert_eq!(route(&Method::GET, "/api/profiles/"), Route::UnknownApi);
        assert_eq!(route(&Method::GET, "/api//tags"), Route::UnknownApi);
        assert_eq!(route(&Method::POST, "/auth/introspect"), Route::UnknownApi);
        assert_eq!(route(&Method::GET, "/auth/anything"), Route::UnknownApi);
        assert_eq!(route(&Method::GET, "/authority"), Route::Static);
        assert_eq!(route(&Method::GET, "/article/hello"), Route::Static);
        assert_eq!(route(&Method::GET, "/internal/profiles"), Route::Static);
        assert_eq!(route(&Method::GET, "/"), Route::Static);
    }

    fn endpoint_at(method: Method, path: &str) -> &'static Endpoint {
        match route(&method, path) {
            Route::Upstream(endpoint) => endpoint,
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    #[test]
    fn the_longest_configured_prefix_sets_the_timeout() {
        let routes = [
            ("/api/users/login".to_owned(), 10),
            ("/api/".to_owned(), 5),
            ("/api/articles/{slug}/comments".to_owned(), 7),
        ]
        .into_iter()
        .collect();
        let t = Timeouts::new(Duration::from_secs(30), &routes);
        let of = |method, path| t.of(endpoint_at(method, path)).as_secs();
        assert_eq!(of(Method::POST, "/api/users/login"), 10);
        assert_eq!(of(Method::POST, "/api/users"), 5);
        assert_eq!(of(Method::GET, "/api/articles"), 5);
        assert_eq!(of(Method::GET, "/api/articles/a-slug/comments"), 7);
        assert_eq!(of(Method::DELETE, "/api/articles/a-slug/comments/1"), 7);
        assert_eq!(of(Method::POST, "/auth/token"), 30);
        assert!(covers_an_endpoint("/api/articles/"));
        assert!(!covers_an_endpoint("/api/articles/one-article"));
        assert!(!covers_an_endpoint("/api/article"));
    }

    #[test]
    fn only_article_writes_carry_markdown() {
        let markdown: Vec<_> = ENDPOINTS
            .iter()
            .filter(|e| e.body == Body::Markdown)
            .map(|e| format!("{} {}", e.method, e.pattern))
            .collect();
        assert_eq!(markdown, ["POST /api/articles", "PUT /api/articles/{slug}"]);
    }
}
