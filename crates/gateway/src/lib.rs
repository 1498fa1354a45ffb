//! The gateway: the one door into the platform. It routes by path prefix to the
//! upstream clusters (auth, business), serves the frontend's static files, and
//! keeps an eye on its upstreams with active health checks.
//!
//! Each concern is its own module, composed in [`app`] in request order:
//! `limits` (414/431/413), `routes` (the route table: which endpoint a
//! request line asks for, 404/405 for none), `waf` (web application
//! firewall: the head, and the body last), `rate_limit` (GCRA per IP, per
//! credential endpoint, per user), `edge_auth` (token check), `upstream` (endpoints, balancing, health), `pool` (keep-alive
//! upstream connections per event loop), `proxy` (the forwarding hop), `static_files` (the SPA), `security_headers` (on every
//! response).

pub mod config;
mod edge_auth;
mod limits;
mod pool;
mod proxy;
mod rate_limit;
pub mod routes;
mod security_headers;
mod static_files;
pub mod tls;
mod upstream;
pub mod waf;

use std::sync::Arc;
use std::time::Duration;

use platform::storage::redis::Redis;
use platform::tokens::jwks::RemoteKeys;
use platform::tokens::revocation::DenyList;
use platform::tokens::{Expectations, Verifier};
use tokio_util::sync::CancellationToken;

pub use config::{Config, UpstreamList, loopback_url};
use upstream::Cluster;

/// Name used in logs, metrics and traces.
pub const SERVICE: &str = "gateway";

/// Shared by every request.
#[derive(Clone)]
pub struct State {
    inner: Arc<Inner>,
}

struct Inner {
    trusted_proxies: Vec<ipnet::IpNet>,
    cors: Option<tower_http::cors::CorsLayer>,
    edge: edge_auth::EdgeAuth,
    rate_limits: rate_limit::RateLimits,
    limits: config::Limits,
    waf: waf::Waf,
    proxy: proxy::Proxy,
    tls: bool,
    frontend: Option<static_files::Frontend>,
    /// The pages' Content-Security-Policy (the frontend's, or the default without one).
    document_policy: http::HeaderValue,
}

impl State {
    /// Builds the gateway and starts its background work (upstream health
    /// checks, JWKS refresh, rate-limit sweeps), which stops when `shutdown`
    /// fires. Tokens are checked against auth's JWKS and `deny`; rate limits
    /// and the deny-list are shared through `redis` when given.
    pub fn from_config(
        config: &Config,
        tokens: &Expectations,
        deny: DenyList,
        redis: Option<Redis>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let waf = waf::Waf::new(
            &config.waf,
            config.limits.body_bytes,
            Duration::from_millis(config.limits.body_read_timeout_ms),
        )?;
        let auth_urls = config.upstreams.auth_or_default();
        let keys = RemoteKeys::new(
            auth_urls[0]
                .join(".well-known/jwks.json")
                .unwrap_or_else(|_| auth_urls[0].clone()),
        );
        keys.spawn_refresh(shutdown.clone());
        let verifier = Verifier::new(&tokens.issuer, &tokens.audience, keys.keys());
        let edge = edge_auth::EdgeAuth::new(verifier, keys, deny);
        let rate_limits = rate_limit::RateLimits::new(&config.rate_limit, redis, &shutdown);
        let auth = Arc::new(Cluster::new(routes::Upstream::Auth.name(), auth_urls)?);
        let business = Arc::new(Cluster::new(
            routes::Upstream::Business.name(),
            config.upstreams.business_or_default(),
        )?);
        let frontend = config
            .static_dir
            .as_deref()
            .map(static_files::Frontend::load)
            .transpose()?;
        if let Some(frontend) = &frontend {
            tracing::info!(
                dir = %frontend.dir().display(),
                inline_scripts = frontend.inline_scripts(),
                "serving the web UI; its inline scripts are allowed by hash"
            );
        }
        let document_policy = frontend.as_ref().map_or_else(
            || static_files::document_policy(&[]),
            |f| f.policy().clone(),
        );
        let interval = Duration::from_millis(config.health_check_interval_ms);
        for cluster in [&auth, &business] {
            upstream::spawn_health_checks(cluster.clone(), interval, shutdown.clone());
        }
        Ok(Self {
            inner: Arc::new(Inner {
                trusted_proxies: config.trusted_proxies.clone(),
                cors: cors(&config.cors),
                edge,
                rate_limits,
                limits: config.limits.clone(),
                proxy: proxy::Proxy::new(
                    auth,
                    business,
                    config.trusted_proxies.clone(),
                    config.tls.enabled(),
                    routes::Timeouts::new(
                        Duration::from_secs(config.upstream_timeout_secs),
                        &config.route_timeouts,
                    ),
                ),
                tls: config.tls.enabled(),
                frontend,
                document_policy,
                waf,
            }),
        })
    }

    fn cluster(&self, route: routes::Upstream) -> &Arc<Cluster> {
        self.inner.proxy.cluster(route)
    }
}

/// CORS for the configured origins only; preflights are answered here.
fn cors(config: &config::CorsConfig) -> Option<tower_http::cors::CorsLayer> {
    use http::{Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<http::HeaderValue> = config
        .allowed_origins
        .iter()
        .filter_map(|o| http::HeaderValue::from_str(o).ok())
        .collect();
    (!origins.is_empty()).then(|| {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .allow_credentials(true)
            .max_age(Duration::from_secs(600))
    })
}

/// How the gateway's listener serves connections: TLS when configured
/// (`tls` from [`tls::server_config`]), and the slow-client timeouts.
pub fn serve_options(
    config: &Config,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> platform::http::server::ServeOptions {
    platform::http::server::ServeOptions {
        tls,
        header_read_timeout: Duration::from_millis(config.limits.header_read_timeout_ms),
        body_read_timeout: Duration::from_millis(config.limits.body_read_timeout_ms),
        threads: match config.worker_threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        },
        max_connections: config.limits.max_connections,
        max_connections_per_ip: config.limits.max_connections_per_ip,
        uncapped: config.trusted_proxies.clone(),
        idle_timeout: Some(Duration::from_secs(config.limits.idle_timeout_secs)),
    }
}

/// The gateway's complete service, what its listener serves.
pub type App =
    platform::http::stack::Wrapped<tower::util::Either<tower_http::cors::Cors<Edge>, Edge>>;

/// The gateway, wrapped in the platform request stack (health probes in
/// front, CORS when configured). Not an axum `Router` as the services have:
/// the gateway answers every path through one handler, and the router's
/// per-request routing, boxing and cloning showed in its profile
/// (docs/benchmarks.md).
pub fn app(state: State) -> App {
    let clusters = [
        state.cluster(routes::Upstream::Auth).clone(),
        state.cluster(routes::Upstream::Business).clone(),
    ];
    let readiness = clusters.into_iter().fold(
        platform::http::health::Readiness::new(),
        |readiness, cluster| {
            readiness.with_check(cluster.name(), move || {
                let cluster = cluster.clone();
                async move {
                    if cluster.has_healthy_endpoint() {
                        Ok(())
                    } else {
                        Err("no healthy endpoint".to_owned())
                    }
                }
            })
        },
    );
    let edge = tower::ServiceBuilder::new()
        .option_layer(state.inner.cors.clone())
        .service(Edge(state));
    platform::http::stack::wrap_service(edge, SERVICE, readiness, routes::classify)
}

/// Every request the gateway does not answer from its health endpoints:
/// admitted (or refused) by the edge checks, then proxied or served from the
/// static files; security headers on whatever goes back.
#[derive(Clone)]
pub struct Edge(State);

impl tower::Service<axum::extract::Request> for Edge {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        // The handler's own future, boxed as it is: a wrapping `async` block
        // would copy its kilobytes once more when first polled.
        Box::pin(handle(self.0.clone(), request))
    }
}

async fn handle(
    gateway: State,
    request: axum::extract::Request,
) -> Result<axum::response::Response, std::convert::Infallible> {
    use axum::response::IntoResponse as _;
    let route = routes::of(&request);
    let client = platform::http::client_ip::resolve(
        request.extensions(),
        request.headers(),
        &gateway.inner.trusted_proxies,
    );
    let mut response = match admit(&gateway.inner, request, route, client).await {
        Ok(request) => match route {
            routes::Route::Upstream(endpoint) => {
                gateway.inner.proxy.forward(endpoint, request, client).await
            }
            // Boxed: file serving's future is the largest branch here, and
            // every proxied request would otherwise carry (and copy) it.
            routes::Route::Static => {
                Box::pin(static_files::serve(
                    gateway.inner.frontend.as_ref(),
                    request,
                ))
                .await
            }
            // Refused by the edge checks (`routes::refuse_unserved`) before this.
            routes::Route::UnknownApi | routes::Route::MethodNotAllowed => {
                platform::http::problem::Problem::new(
                    http::StatusCode::NOT_FOUND,
                    Some("no such API route".to_owned()),
                )
                .into_response()
            }
        },
        Err(refusal) => refusal,
    };
    let kind = match route {
        routes::Route::Static => security_headers::Kind::Document(&gateway.inner.document_policy),
        _ => security_headers::Kind::Api,
    };
    security_headers::add(response.headers_mut(), kind, gateway.inner.tls);
    Ok(response)
}

/// The edge checks, cheapest first, so that a request refused for its
/// request line, its head, its rate or its token is refused before its body
/// is read; each check is its own module. (One function rather than a stack
/// of middleware layers: axum's `from_fn` clones the whole inner stack on
/// every request, which nested five deep cost more than the checks
/// themselves — docs/benchmarks.md.) The request is taken apart once and
/// each check borrows what it reads, the body too where it may be wrapped or
/// read: moved from check to check, it was copied at each step.
async fn admit(
    inner: &Inner,
    request: axum::extract::Request,
    route: routes::Route,
    client: Option<std::net::IpAddr>,
) -> Result<axum::extract::Request, axum::response::Response> {
    let (head, mut body) = request.into_parts();
    let checked = async {
        limits::enforce(&inner.limits, &head, &mut body)?;
        // Before the route's answer: a denied address or a scanner's probe
        // of a path no endpoint has is refused (and logged) as such.
        waf::admit_head(&inner.waf, &head, client)?;
        routes::refuse_unserved(route, &head)?;
        rate_limit::by_client(&inner.rate_limits, route, client).await?;
        let subject = edge_auth::check(&inner.edge, &head, route).await?;
        rate_limit::by_subject(&inner.rate_limits, subject.as_ref()).await?;
        waf::admit_body(&inner.waf, &head, &mut body, route, client).await
    }
    .await;
    match checked {
        Ok(()) => Ok(axum::extract::Request::from_parts(head, body)),
        Err(refusal) => {
            // Whatever of the body is unread.
            limits::linger(body);
            Err(refusal)
        }
    }
}
