//! Prometheus metrics: one process-wide recorder, rendered at `/metrics`, and
//! the per-request counter and latency histogram every service records.
//!
//! Every series carries a `service` label, so the three services of
//! `cloudsec up` (one process) stay distinguishable, exactly as they would be
//! as separate pods.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use http::{Method, StatusCode};
use metrics::SharedString;
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

/// Label for responses that did not come from a matched axum route, e.g. the
/// gateway's proxy sets the upstream cluster name here.
#[derive(Debug, Clone, Copy)]
pub struct RouteLabel(pub &'static str);

/// Counts and times every request by service, method, route and status
/// (a tower layer rather than `from_fn`, which would clone and box the inner
/// service on every request).
#[derive(Clone, Copy)]
pub struct RecordLayer {
    service: &'static str,
}

impl RecordLayer {
    pub fn new(service: &'static str) -> Self {
        Self { service }
    }
}

impl<S> tower::Layer<S> for RecordLayer {
    type Service = Record<S>;

    fn layer(&self, inner: S) -> Record<S> {
        Record {
            inner,
            service: self.service,
        }
    }
}

#[derive(Clone)]
pub struct Record<S> {
    inner: S,
    service: &'static str,
}

impl<S, B, R> tower::Service<http::Request<B>> for Record<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = Recorded<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        Recorded {
            service: self.service,
            method: method_label(request.method()),
            matched: request.extensions().get::<MatchedPath>().cloned(),
            start: Instant::now(),
            inner: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner response future; records when it completes.
    pub struct Recorded<F> {
        #[pin]
        inner: F,
        service: &'static str,
        method: &'static str,
        matched: Option<MatchedPath>,
        start: Instant,
    }
}

impl<F, R, E> Future for Recorded<F>
where
    F: Future<Output = Result<http::Response<R>, E>>,
{
    type Output = Result<http::Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            let route: SharedString = match (
                this.matched.take(),
                response.extensions().get::<RouteLabel>(),
            ) {
                (Some(path), _) => path.as_str().to_owned().into(),
                (None, Some(label)) => SharedString::const_str(label.0),
                (None, None) => SharedString::const_str("unmatched"),
            };
            let labels = [
                ("service", SharedString::const_str(this.service)),
                ("method", SharedString::const_str(this.method)),
                ("route", route),
                ("status", status_label(response.status())),
            ];
            metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
            metrics::histogram!(REQUEST_DURATION, &labels)
                .record(this.start.elapsed().as_secs_f64());
        }
        Poll::Ready(result)
    }
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
fn method_label(method: &Method) -> &'static str {
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
