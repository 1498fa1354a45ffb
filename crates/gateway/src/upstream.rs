//! Upstream clusters: a list of endpoints, power-of-two-choices least-request
//! balancing over the usable ones, and active health checks against each
//! endpoint's `/readyz`. A connection
//! failure marks an endpoint down at once (passive check); only a passing
//! probe brings it back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use http::uri::Authority;
use http::{Request, StatusCode};
use platform::http::breaker::CircuitBreaker;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::pool;

const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Endpoint {
    /// `http://host:port`, for logs.
    base: String,
    /// `host:port`, where requests go (configured endpoints have no path),
    /// and its slot in the connection pools.
    upstream: pool::Upstream,
    /// Last active probe (or a refused connection since).
    healthy: AtomicBool,
    /// Consecutive request failures open it: the endpoint is skipped until a
    /// trial request after the cool-down succeeds.
    breaker: CircuitBreaker,
    /// Requests sent and not answered yet, for least-request balancing.
    in_flight: AtomicUsize,
}

/// Counts a request as in flight at its endpoint until dropped.
pub struct InFlight<'a>(&'a Endpoint);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Endpoint {
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn upstream(&self) -> &pool::Upstream {
        &self.upstream
    }

    pub fn mark_down(&self) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(endpoint = %self.base, "upstream endpoint marked down");
        }
    }

    pub fn record_success(&self) {
        self.breaker.record_success();
    }

    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// A failed exchange; a refused connection also marks the endpoint down at once.
    pub fn record_failure(&self, refused: bool) {
        if refused {
            self.mark_down();
        }
        self.breaker.record_failure();
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
    budget: RetryBudget,
}

/// Retries may add at most a fifth to the requests of the last
/// [`BUDGET_WINDOW_SECS`] seconds (plus a small allowance), so a failing
/// cluster is not hit with a retry storm. Counted in one-second slots: a
/// budget counted from the process start grew with uptime until, after a
/// million quiet requests, it allowed 200,000 retries at once (the idea of
/// tower's `TpsBudget`, without its lock on every request).
pub struct RetryBudget {
    started: std::time::Instant,
    slots: [Slot; BUDGET_WINDOW_SECS as usize],
}

/// The seconds a retry budget looks back.
const BUDGET_WINDOW_SECS: u64 = 10;
/// Retries always allowed per window, however few the requests.
const BUDGET_ALLOWANCE: u64 = 10;

/// One second's requests and retries.
#[derive(Default)]
struct Slot {
    /// Which second (since `started`) the counts are of, plus one (0: none).
    second: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            started: std::time::Instant::now(),
            slots: Default::default(),
        }
    }
}

impl RetryBudget {
    fn now(&self) -> u64 {
        self.started.elapsed().as_secs() + 1
    }

    /// `second`'s slot, emptied first when it still holds an older second.
    fn slot(&self, second: u64) -> &Slot {
        let slot = &self.slots[(second % BUDGET_WINDOW_SECS) as usize];
        let held = slot.second.load(Ordering::Relaxed);
        if held != second
            && slot
                .second
                .compare_exchange(held, second, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            slot.requests.store(0, Ordering::Relaxed);
            slot.retries.store(0, Ordering::Relaxed);
        }
        slot
    }

    pub fn record_request(&self) {
        self.record_request_at(self.now());
    }

    pub fn try_retry(&self) -> bool {
        self.try_retry_at(self.now())
    }

    fn record_request_at(&self, second: u64) {
        self.slot(second).requests.fetch_add(1, Ordering::Relaxed);
    }

    fn try_retry_at(&self, now: u64) -> bool {
        let slot = self.slot(now);
        let (mut requests, mut retries) = (0, 0);
        for s in &self.slots {
            let second = s.second.load(Ordering::Relaxed);
            if second != 0 && now.saturating_sub(second) < BUDGET_WINDOW_SECS {
                requests += s.requests.load(Ordering::Relaxed);
                retries += s.retries.load(Ordering::Relaxed);
            }
        }
        if retries < requests / 5 + BUDGET_ALLOWANCE {
            slot.retries.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }
}

/// `host:port` of an endpoint URL (the port defaulted from the scheme).
fn authority(url: &Url) -> anyhow::Result<Authority> {
    let host = url
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("{url}: no host"))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| anyhow::anyhow!("{url}: no port"))?;
    let authority = match url.host() {
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]:{port}"),
        _ => format!("{host}:{port}"),
    };
    Ok(authority.parse()?)
}

impl Cluster {
    /// Endpoints start healthy so traffic flows before the first probe lands.
    pub fn new(name: &'static str, urls: Vec<Url>) -> anyhow::Result<Self> {
        let endpoints = urls
            .into_iter()
            .map(|u| {
                Ok(Endpoint {
                    upstream: pool::Upstream::new(authority(&u)?),
                    base: u.as_str().trim_end_matches('/').to_owned(),
                    healthy: AtomicBool::new(true),
                    breaker: CircuitBreaker::new("upstream-endpoint", 5, Duration::from_secs(2)),
                    in_flight: AtomicUsize::new(0),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            name,
            endpoints,
            budget: RetryBudget::default(),
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn endpoint_count(&self) -> usize {
        self.endpoints.len()
    }

    pub fn has_healthy_endpoint(&self) -> bool {
        self.endpoints
            .iter()
            .any(|e| e.healthy.load(Ordering::Relaxed))
    }

    pub fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// A usable endpoint (see [`Self::pick_excluding`]).
    #[cfg(test)]
    pub fn pick(&self) -> Option<&Endpoint> {
        self.pick_excluding(&[]).map(|(_, e)| e)
    }

    /// Power of two choices: of two random usable endpoints not in `tried`,
    /// the one with fewer requests in flight. Close to least-request
    /// balancing, without a shared ordering of all endpoints on the hot path.
    pub fn pick_excluding(&self, tried: &[usize]) -> Option<(usize, &Endpoint)> {
        // Walked rather than collected: no allocation per request.
        let candidates = || {
            (0..self.endpoints.len()).filter(|i| {
                !tried.contains(i) && self.endpoints[*i].healthy.load(Ordering::Relaxed)
            })
        };
        let nth = |n: usize| candidates().nth(n);
        let (first, second) = match candidates().count() {
            0 => return None,
            1 => (nth(0)?, None),
            n => {
                let a = rand::random_range(0..n);
                let b = (a + rand::random_range(1..n)) % n;
                (nth(a)?, nth(b))
            }
        };
        let load = |i: usize| self.endpoints[i].in_flight.load(Ordering::Relaxed);
        let mut order = [Some(first), second];
        if let Some(second) = second
            && load(second) < load(first)
        {
            order = [Some(second), Some(first)];
        }
        // The breaker is asked last: a half-open breaker admits one trial request.
        order
            .into_iter()
            .flatten()
            .map(|i| (i, &self.endpoints[i]))
            .find(|(_, e)| e.breaker.allow())
            .or_else(|| {
                candidates()
                    .map(|i| (i, &self.endpoints[i]))
                    .find(|(i, e)| {
                        Some(*i) != Some(first) && Some(*i) != second && e.breaker.allow()
                    })
            })
    }
}

/// Probes every endpoint of `cluster` now and then every `interval`, until `shutdown`.
pub fn spawn_health_checks(cluster: Arc<Cluster>, interval: Duration, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let probes = cluster.endpoints.iter().map(|endpoint| async move {
                let healthy = probe(endpoint.upstream()).await;
                endpoint.set_health(healthy);
            });
            futures_util::future::join_all(probes).await;
        }
    });
}

async fn probe(upstream: &pool::Upstream) -> bool {
    let Ok(request) = Request::get("/readyz").body(Body::empty()) else {
        return false;
    };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, pool::send(upstream, request)).await,
        Ok(Ok(response)) if response.status() == StatusCode::OK
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_budget_looks_back_ten_seconds_not_to_the_start() {
        let budget = RetryBudget::default();
        for _ in 0..1000 {
            budget.record_request_at(1);
        }
        let allowed = (0..1000).filter(|_| budget.try_retry_at(1)).count();
        assert_eq!(
            allowed,
            1000 / 5 + 10,
            "a fifth of the recent requests, plus 10"
        );
        // Long after: the old requests buy nothing, the allowance is back.
        let later = (0..100).filter(|_| budget.try_retry_at(30)).count();
        assert_eq!(later, 10);
        // Within the window, what was spent stays spent.
        assert!(!budget.try_retry_at(31));
    }

    fn cluster(n: u16) -> Cluster {
        Cluster::new("t", (1..=n).map(crate::loopback_url).collect()).unwrap()
    }

    #[test]
    fn endpoints_are_dialled_at_host_and_port() {
        let urls = [
            "http://127.0.0.1:9001",
            "http://business",
            "http://[::1]:81/",
        ];
        let c = Cluster::new("t", urls.iter().map(|u| Url::parse(u).unwrap()).collect()).unwrap();
        let dialled: Vec<&str> = c
            .endpoints
            .iter()
            .map(|e| e.upstream().authority().as_str())
            .collect();
        assert_eq!(dialled, ["127.0.0.1:9001", "business:80", "[::1]:81"]);
    }

    #[test]
    fn picks_the_less_loaded_and_skips_unusable() {
        let c = cluster(2);
        let _busy: Vec<_> = (0..5).map(|_| c.endpoints[0].start()).collect();
        for _ in 0..20 {
            assert_eq!(
                c.pick().unwrap().base(),
                c.endpoints[1].base(),
                "two choices, the idle one wins"
            );
        }
        drop(_busy);
        let c = cluster(3);
        c.endpoints[1].mark_down();
        for _ in 0..20 {
            assert_ne!(c.pick().unwrap().base(), c.endpoints[1].base());
        }
        for _ in 0..5 {
            c.endpoints[2].record_failure(false);
        }
        for _ in 0..20 {
            assert_eq!(
                c.pick().unwrap().base(),
                c.endpoints[0].base(),
                "open breaker skipped"
            );
        }
        c.endpoints[0].mark_down();
        assert!(c.pick().is_none());
        assert!(c.has_healthy_endpoint());
        assert_eq!(c.pick_excluding(&[0, 2]).map(|(i, _)| i), None);
    }
}
