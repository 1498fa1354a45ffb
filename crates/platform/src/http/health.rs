//! `/healthz` (the process answers), `/readyz` (its dependencies answer) and
//! `/metrics` (Prometheus text).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::future::{BoxFuture, join_all};
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue};
use serde_json::json;

use crate::telemetry::prometheus;

/// How long one dependency may take to answer a readiness probe.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// One named dependency check; `Err` carries a reason for the log only.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The dependency checks behind `/readyz`.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, Check)>,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_check<F, Fut>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks
            .push((name, Arc::new(move || Box::pin(check()))));
        self
    }

    /// Runs all checks concurrently; each is bounded by [`CHECK_TIMEOUT`].
    pub async fn evaluate(&self) -> (bool, BTreeMap<&'static str, &'static str>) {
        let results = join_all(self.checks.iter().map(|(name, check)| async move {
            let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(reason)) => Err(reason),
                Err(_) => Err("timed out".to_owned()),
            };
            if let Err(reason) = &outcome {
                tracing::warn!(check = name, %reason, "readiness check failed");
            }
            (*name, outcome.is_ok())
        }))
        .await;
        let ready = results.iter().all(|(_, ok)| *ok);
        let detail = results
            .into_iter()
            .map(|(name, ok)| (name, if ok { "ok" } else { "failing" }))
            .collect();
        (ready, detail)
    }
}

const HEALTHZ: &str = "/healthz";
const READYZ: &str = "/readyz";
const METRICS: &str = "/metrics";

/// Whether `path` is one of the [`probes`]'.
pub fn is_probe(path: &str) -> bool {
    matches!(path, HEALTHZ | READYZ)
}

/// Routes for `/healthz` and `/readyz`.
pub fn probes(readiness: Readiness) -> Router {
    Router::new()
        .route(HEALTHZ, get(|| async { Json(json!({"status": "ok"})) }))
        .route(READYZ, get(readyz))
        .with_state(Arc::new(readiness))
}

/// The route for `/metrics`. The services serve it beside their probes (their
/// ports are not routed at the edge); the gateway only on a listener of its
/// own (`gateway.metrics_listen`): per-rule WAF counters and auth failure
/// counts are a map for an attacker.
pub fn metrics_router() -> Router {
    Router::new().route(METRICS, get(metrics))
}

async fn readyz(State(readiness): State<Arc<Readiness>>) -> Response {
    let (ready, checks) = readiness.evaluate().await;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"status": if ready { "ready" } else { "not ready" }, "checks": checks});
    (status, Json(body)).into_response()
}

async fn metrics() -> Response {
    let mut response = prometheus::render().into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
