//! Which upstream cluster serves a path. Prefixes match whole path segments,
//! so `/api/users` covers `/api/users/login` but not `/api/usersfoo`.

/// The upstream timeout for each path: the longest configured prefix that
/// covers it (`gateway.route_timeouts`), else the default.
pub struct Timeouts {
    default: std::time::Duration,
    /// Longest prefix first.
    routes: Vec<(String, std::time::Duration)>,
}

impl Timeouts {
    pub fn new(
        default: std::time::Duration,
        routes: &std::collections::BTreeMap<String, u64>,
    ) -> Self {
        let mut routes: Vec<_> = routes
            .iter()
            .map(|(p, s)| {
                let prefix = p.trim_end_matches('/').to_owned();
                (prefix, std::time::Duration::from_secs(*s))
            })
            .collect();
        routes.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Self { default, routes }
    }

    pub fn for_path(&self, path: &str) -> std::time::Duration {
        self.routes
            .iter()
            .find(|(prefix, _)| covers(prefix, path))
            .map_or(self.default, |(_, t)| *t)
    }
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

const ROUTES: &[(&str, Upstream)] = &[
    ("/api/users", Upstream::Auth),
    ("/api/user", Upstream::Auth),
    ("/auth", Upstream::Auth),
    ("/.well-known", Upstream::Auth),
    ("/api/articles", Upstream::Business),
    ("/api/profiles", Upstream::Business),
    ("/api/tags", Upstream::Business),
];

/// Paths under a routed prefix that are service-to-service only and never
/// served at the edge: token introspection (RFC 7662) tells whoever asks
/// about any token, given the internal client's secret.
const SERVICE_ONLY: &[&str] = &["/auth/introspect"];

/// Where a request path goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Upstream(Upstream),
    /// An `/api` path no service owns.
    UnknownApi,
    /// Everything else: the frontend.
    Static,
}

/// `prefix` covers `path` segment-wise.
/// `prefix` without a trailing `/` (the configured ones lose theirs at start).
fn covers(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

pub fn route(path: &str) -> Route {
    if SERVICE_ONLY.iter().any(|prefix| covers(prefix, path)) {
        return Route::UnknownApi;
    }
    for (prefix, upstream) in ROUTES {
        if covers(prefix, path) {
            return Route::Upstream(*upstream);
        }
    }
    if path == "/api" || path.starts_with("/api/") {
        Route::UnknownApi
    } else {
        Route::Static
    }
}

/// A request's `route` in the metrics: the cluster its path goes to,
/// `static`, or `unmatched` for an `/api` path no service owns. Refused
/// requests count under the route they asked for.
pub fn label(request: &axum::extract::Request) -> &'static str {
    match route(request.uri().path()) {
        Route::Upstream(upstream) => upstream.name(),
        Route::UnknownApi => "unmatched",
        Route::Static => "static",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_segment_prefix() {
        assert_eq!(route("/api/users/login"), Route::Upstream(Upstream::Auth));
        assert_eq!(route("/api/user"), Route::Upstream(Upstream::Auth));
        assert_eq!(route("/api/users"), Route::Upstream(Upstream::Auth));
        assert_eq!(
            route("/.well-known/jwks.json"),
            Route::Upstream(Upstream::Auth)
        );
        assert_eq!(route("/auth/token"), Route::Upstream(Upstream::Auth));
        assert_eq!(route("/auth/revoke"), Route::Upstream(Upstream::Auth));
        assert_eq!(route("/auth/introspect"), Route::UnknownApi);
        assert_eq!(route("/auth/introspect/"), Route::UnknownApi);
        assert_eq!(
            route("/api/articles/feed"),
            Route::Upstream(Upstream::Business)
        );
        assert_eq!(
            route("/api/profiles/jake/follow"),
            Route::Upstream(Upstream::Business)
        );
        assert_eq!(route("/api/tags"), Route::Upstream(Upstream::Business));
        assert_eq!(route("/api/tagsx"), Route::UnknownApi);
        assert_eq!(route("/api/userx"), Route::UnknownApi);
        assert_eq!(route("/authority"), Route::Static);
        assert_eq!(route("/article/hello"), Route::Static);
        assert_eq!(route("/"), Route::Static);
    }

    #[test]
    fn the_longest_configured_prefix_sets_the_timeout() {
        use std::time::Duration;
        let routes = [("/api/users/login".to_owned(), 10), ("/api/".to_owned(), 5)]
            .into_iter()
            .collect();
        let t = Timeouts::new(Duration::from_secs(30), &routes);
        assert_eq!(t.for_path("/api/users/login"), Duration::from_secs(10));
        assert_eq!(t.for_path("/api/articles"), Duration::from_secs(5));
        assert_eq!(t.for_path("/api/users/loginx"), Duration::from_secs(5));
        assert_eq!(t.for_path("/auth/token"), Duration::from_secs(30));
    }
}
