//! Upstream clusters: a list of endpoints, round-robin over the healthy ones,
//! and active health checks against each endpoint's `/readyz`. A connection
//! failure marks an endpoint down at once (passive check); only a passing
//! probe brings it back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use platform::breaker::CircuitBreaker;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::proxy::Client;

const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Endpoint {
    /// `http://host:port` without trailing slash, ready to prepend to a path.
    base: String,
    /// Last active probe (or a refused connection since).
    healthy: AtomicBool,
    /// Consecutive request failures open it: the endpoint is skipped until a
    /// trial request after the cool-down succeeds.
    breaker: CircuitBreaker,
}

impl Endpoint {
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn mark_down(&self) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(endpoint = %self.base, "upstream endpoint marked down");
        }
    }

    pub fn record_success(&self) {
        self.breaker.record_success();
    }

    /// A failed exchange; a refused connection also marks the endpoint down at once.
    pub fn record_failure(&self, refused: bool) {
        if refused {
            self.mark_down();
        }
        self.breaker.record_failure();
    }

    fn usable(&self) -> bool {
        self.healthy.load(Ordering::Relaxed) && self.breaker.allow()
    }

    fn set_health(&self, healthy: bool) {
        let was = self.healthy.swap(healthy, Ordering::Relaxed);
        if was != healthy {
            tracing::info!(endpoint = %self.base, healthy, "upstream endpoint health changed");
        }
    }
}

pub struct Cluster {
    name: &'static str,
    endpoints: Vec<Endpoint>,
    next: AtomicUsize,
    budget: RetryBudget,
}

/// Retries may add at most a fifth to the requests sent (plus a small
/// allowance), so a failing cluster is not hit with a retry storm.
#[derive(Default)]
pub struct RetryBudget {
    requests: AtomicU64,
    retries: AtomicU64,
}

impl RetryBudget {
    pub fn record_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn try_retry(&self) -> bool {
        let allowed = self.requests.load(Ordering::Relaxed) / 5 + 10;
        let retries = self.retries.fetch_add(1, Ordering::Relaxed);
        if retries < allowed {
            true
        } else {
            self.retries.fetch_sub(1, Ordering::Relaxed);
            false
        }
    }
}

impl Cluster {
    /// Endpoints start healthy so traffic flows before the first probe lands.
    pub fn new(name: &'static str, urls: Vec<Url>) -> Self {
        let endpoints = urls
            .into_iter()
            .map(|u| Endpoint {
                base: u.as_str().trim_end_matches('/').to_owned(),
                healthy: AtomicBool::new(true),
                breaker: CircuitBreaker::new("upstream-endpoint", 5, Duration::from_secs(2)),
            })
            .collect();
        Self {
            name,
            endpoints,
            next: AtomicUsize::new(0),
            budget: RetryBudget::default(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn has_healthy_endpoint(&self) -> bool {
        self.endpoints
            .iter()
            .any(|e| e.healthy.load(Ordering::Relaxed))
    }

    pub fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// The next usable endpoint in round-robin order.
    #[cfg(test)]
    pub fn pick(&self) -> Option<&Endpoint> {
        self.pick_excluding(&[]).map(|(_, e)| e)
    }

    /// The next usable endpoint in round-robin order that is not in `tried`.
    pub fn pick_excluding(&self, tried: &[usize]) -> Option<(usize, &Endpoint)> {
        let n = self.endpoints.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| (start + i) % n)
            .filter(|i| !tried.contains(i))
            .map(|i| (i, &self.endpoints[i]))
            .find(|(_, e)| e.usable())
    }
}

/// Probes every endpoint of `cluster` now and then every `interval`, until `shutdown`.
pub fn spawn_health_checks(
    cluster: Arc<Cluster>,
    client: Client,
    interval: Duration,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let probes = cluster.endpoints.iter().map(|endpoint| {
                let client = client.clone();
                async move {
                    let healthy = probe(&client, endpoint.base()).await;
                    endpoint.set_health(healthy);
                }
            });
            futures_util::future::join_all(probes).await;
        }
    });
}

async fn probe(client: &Client, base: &str) -> bool {
    let Ok(request) = Request::get(format!("{base}/readyz")).body(Body::empty()) else {
        return false;
    };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, client.request(request)).await,
        Ok(Ok(response)) if response.status() == StatusCode::OK
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(n: u16) -> Cluster {
        Cluster::new("t", (1..=n).map(crate::loopback_url).collect())
    }

    #[test]
    fn round_robin_skips_unhealthy() {
        let c = cluster(3);
        let picks: Vec<_> = (0..3)
            .map(|_| c.pick().unwrap().base().to_owned())
            .collect();
        assert_eq!(picks.len(), 3);
        assert_ne!(picks[0], picks[1]);
        c.endpoints[1].mark_down();
        for _ in 0..6 {
            assert_ne!(c.pick().unwrap().base(), c.endpoints[1].base());
        }
        c.endpoints[0].mark_down();
        c.endpoints[2].mark_down();
        assert!(c.pick().is_none());
        assert!(!c.has_healthy_endpoint());
    }
}
