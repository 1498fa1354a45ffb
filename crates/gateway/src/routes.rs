//! Which upstream cluster serves a path. Prefixes match whole path segments,
//! so `/api/users` covers `/api/users/login` but not `/api/usersfoo`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    Auth,
    Business,
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

/// Where a request path goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Upstream(Upstream),
    /// An `/api` path no service owns.
    UnknownApi,
    /// Everything else: the frontend.
    Static,
}

pub fn route(path: &str) -> Route {
    for (prefix, upstream) in ROUTES {
        if let Some(rest) = path.strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return Route::Upstream(*upstream);
        }
    }
    if path == "/api" || path.starts_with("/api/") {
        Route::UnknownApi
    } else {
        Route::Static
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
}
