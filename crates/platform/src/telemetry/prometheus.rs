//! Prometheus metrics: one process-wide recorder, rendered at `/metrics`, and
//! the per-request counter and latency histogram every service records.
//!
//! Every series carries a `service` label, so the three services of
//! `cloudsec up` (one process) stay distinguishable, exactly as they would be
//! as separate pods.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use http::{Method, StatusCode};
use metrics::{Counter, Histogram, SharedString};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const REQUESTS_TOTAL: &str = "http_requests_total";
pub const REQUEST_DURATION: &str = "http_request_duration_seconds";

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first (some test
        // harnesses do); metrics then go there and this handle renders empty.
        let _ = metrics::set_global_recorder(recorder);
        spawn_upkeep(handle.clone());
        handle
    })
}

fn spawn_upkeep(handle: PrometheusHandle) {
    // Histograms buffer samples until upkeep drains them into buckets.
    let _ = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                handle.run_upkeep();
            }
        });
}

/// Prometheus text exposition of everything recorded so far.
pub fn render() -> String {
    let handle = handle();
    handle.run_upkeep();
    handle.render()
}

/// The `route` label of a request: the matched axum route template, or a name.
#[derive(Debug, Clone, Copy)]
pub enum Route<'a> {
    Matched(&'a str),
    Named(&'static str),
}

impl Route<'_> {
    fn as_str(&self) -> &str {
        match self {
            Route::Matched(path) => path,
            Route::Named(name) => name,
        }
    }
}

/// The handles of one series (service, method, route, status).
struct Series {
    service: &'static str,
    method: &'static str,
    status: StatusCode,
    requests: Counter,
    duration: Histogram,
}

thread_local! {
    /// Each thread's handles by route, then (service, method, status): the
    /// recorder's lookup builds, hashes and compares a key of four labels per
    /// metric per request; a handle once found stays valid.
    static SERIES: RefCell<HashMap<Box<str>, Vec<Series>, foldhash::fast::RandomState>> =
        RefCell::new(HashMap::default());
}

/// Counts and times one request by service, method, route and status.
pub fn record(
    service: &'static str,
    method: &'static str,
    route: Route<'_>,
    status: StatusCode,
    elapsed: Duration,
) {
    let seconds = elapsed.as_secs_f64();
    let recorded = SERIES.try_with(|series| {
        let mut series = series.borrow_mut();
        let known = series.get(route.as_str()).and_then(|list| {
            list.iter()
                .find(|s| s.status == status && s.method == method && s.service == service)
        });
        if let Some(known) = known {
            known.observe(seconds);
            return;
        }
        let new = Series::register(service, method, route, status);
        new.observe(seconds);
        series.entry(route.as_str().into()).or_default().push(new);
    });
    // Only while the thread is being torn down: record without the cache.
    if recorded.is_err() {
        Series::register(service, method, route, status).observe(seconds);
    }
}

impl Series {
    fn register(
        service: &'static str,
        method: &'static str,
        route: Route<'_>,
        status: StatusCode,
    ) -> Self {
        let labels = labels(service, method, route, status);
        Self {
            service,
            method,
            status,
            requests: metrics::counter!(REQUESTS_TOTAL, &labels),
            duration: metrics::histogram!(REQUEST_DURATION, &labels),
        }
    }

    fn observe(&self, seconds: f64) {
        self.requests.increment(1);
        self.duration.record(seconds);
    }
}

fn labels(
    service: &'static str,
    method: &'static str,
    route: Route<'_>,
    status: StatusCode,
) -> [(&'static str, SharedString); 4] {
    let route = match route {
        Route::Matched(path) => SharedString::from(path.to_owned()),
        Route::Named(name) => SharedString::const_str(name),
    };
    [
        ("service", SharedString::const_str(service)),
        ("method", SharedString::const_str(method)),
        ("route", route),
        ("status", status_label(status)),
    ]
}

/// The status code as a label, without an allocation for the common ones.
fn status_label(status: StatusCode) -> SharedString {
    const COMMON: &[(u16, &str)] = &[
        (200, "200"),
        (201, "201"),
        (204, "204"),
        (304, "304"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (409, "409"),
        (413, "413"),
        (422, "422"),
        (429, "429"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
    ];
    COMMON
        .iter()
        .find(|(code, _)| *code == status.as_u16())
        .map_or_else(
            || status.as_u16().to_string().into(),
            |(_, label)| SharedString::const_str(label),
        )
}

/// Methods outside the standard set collapse to one label value, so a client
/// cannot grow the series count by inventing methods.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
