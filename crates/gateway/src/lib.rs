//! The gateway: the one door into the platform. It routes by path prefix to the
//! upstream clusters (auth, business), serves the frontend's static files, and
//! keeps an eye on its upstreams with active health checks.
//!
//! Each concern is its own module: `routes` (which cluster serves a path),
//! `upstream` (endpoints, balancing, health), `proxy` (the forwarding hop),
//! `static_files` (the SPA).

pub mod config;
mod proxy;
mod routes;
mod static_files;
mod upstream;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
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
    auth: Arc<Cluster>,
    business: Arc<Cluster>,
    client: proxy::Client,
    upstream_timeout: Duration,
    static_dir: Option<std::path::PathBuf>,
}

impl State {
    /// Builds the gateway and starts its upstream health checks, which stop
    /// when `shutdown` fires.
    pub fn from_config(config: &Config, shutdown: CancellationToken) -> Self {
        let auth = Arc::new(Cluster::new("auth", config.upstreams.auth_or_default()));
        let business = Arc::new(Cluster::new(
            "business",
            config.upstreams.business_or_default(),
        ));
        let client = proxy::client();
        let interval = Duration::from_millis(config.health_check_interval_ms);
        for cluster in [&auth, &business] {
            upstream::spawn_health_checks(
                cluster.clone(),
                client.clone(),
                interval,
                shutdown.clone(),
            );
        }
        Self {
            inner: Arc::new(Inner {
                auth,
                business,
                client,
                upstream_timeout: Duration::from_secs(config.upstream_timeout_secs),
                static_dir: config.static_dir.clone(),
            }),
        }
    }

    fn cluster(&self, route: routes::Upstream) -> &Arc<Cluster> {
        match route {
            routes::Upstream::Auth => &self.inner.auth,
            routes::Upstream::Business => &self.inner.business,
        }
    }
}

/// The gateway's complete router, wrapped in the platform request stack.
pub fn router(state: State) -> Router {
    let clusters = [state.inner.auth.clone(), state.inner.business.clone()];
    let readiness =
        clusters
            .into_iter()
            .fold(platform::health::Readiness::new(), |readiness, cluster| {
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
            });
    let app = Router::new().fallback(proxy::handle).with_state(state);
    platform::stack::wrap(app, SERVICE, readiness)
}
