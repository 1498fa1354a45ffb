//! The request stack every service wraps its router in: a request id (kept
//! from the caller or generated, echoed on the response), the caller's W3C
//! trace context adopted, the request's fields on every log line logged
//! while it is handled and one access line per response (`access_log`),
//! the request metrics, and panic containment (a panic becomes a 500 problem,
//! not a dropped connection). The probe and metrics endpoints sit outside the
//! stack: a scraper or kubelet polling every few seconds would drown the
//! access log.
//!
//! One layer doing the four in one future, rather than a stack of tower-http
//! layers: each layer moved the request and response through its own future
//! and wrapper types, which on the gateway's hot path cost more than the work
//! itself (docs/benchmarks.md).

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Either};
use http::header::Entry;
use http::{HeaderName, HeaderValue, StatusCode};
use hyper::body::Bytes;
use tracing::{Instrument as _, Span};

use crate::http::health::{self, Readiness};
use crate::http::problem::Problem;
use crate::telemetry::access_log::{self, RequestFields};
use crate::telemetry::prometheus::{self, Route};
use crate::telemetry::trace_context::{self, TraceIdText};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` in the shared stack and adds `/healthz`, `/readyz` and
/// `/metrics`; `service` names it in logs and metrics.
pub fn wrap(router: Router, service: &'static str, readiness: Readiness) -> Router {
    // Install the recorder before the first request records anything.
    prometheus::handle();
    health::probes(readiness)
        .merge(health::metrics_router())
        .merge(router.layer(RequestLayer { service }))
}

/// Wraps `service`, which answers every path itself (the gateway), in the
/// shared stack, with `/healthz` and `/readyz` in front (`/metrics` is not
/// served here: see [`health::metrics_router`]); `classify`
/// names a request's route in the metrics, once per request, before the
/// service is called, and may leave what it found in the request's
/// extensions for the service (the gateway's request context). No axum `Router` on the way: its
/// routing, boxing and cloning per request showed in the gateway's profile
/// (docs/benchmarks.md).
pub fn wrap_service<S>(
    service: S,
    name: &'static str,
    readiness: Readiness,
    classify: fn(&mut Request) -> &'static str,
) -> Wrapped<S> {
    prometheus::handle();
    Wrapped {
        probes: health::probes(readiness),
        service: RequestService {
            inner: service,
            service: name,
            route: Some(classify),
        },
    }
}

/// What [`wrap_service`] returns.
#[derive(Clone)]
pub struct Wrapped<S> {
    probes: Router,
    service: RequestService<S>,
}

impl<S> tower::Service<Request> for Wrapped<S>
where
    RequestService<S>: tower::Service<
            Request,
            Response = Response,
            Error = Infallible,
            Future = BoxFuture<'static, Result<Response, Infallible>>,
        >,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<RouteFuture<Infallible>, BoxFuture<'static, Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The probes' router is always ready.
        self.service.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if health::is_probe(request.uri().path()) {
            Either::Left(self.probes.call(request))
        } else {
            Either::Right(self.service.call(request))
        }
    }
}

/// The stack as a tower layer (applied to each route by [`wrap`]).
#[derive(Clone, Copy)]
pub struct RequestLayer {
    service: &'static str,
}

impl<S> tower::Layer<S> for RequestLayer {
    type Service = RequestService<S>;

    fn layer(&self, inner: S) -> RequestService<S> {
        RequestService {
            inner,
            service: self.service,
            route: None,
        }
    }
}

#[derive(Clone)]
pub struct RequestService<S> {
    inner: S,
    service: &'static str,
    /// Names the route of a request no axum route matches (a label chosen
    /// before the call costs less than one carried back in the response's
    /// extensions, which allocates their map).
    route: Option<fn(&mut Request) -> &'static str>,
}

impl<S> tower::Service<Request> for RequestService<S>
where
    S: tower::Service<Request, Response = Response> + Clone + Send + 'static,
    S::Error: std::fmt::Display + Send,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Not ready is all a service may say here; an error shows on the call.
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let start = Instant::now();
        let service = self.service;
        let request_id = request_id(&mut request);
        trace_context::attach(&mut request);
        let (span, fields) = request_span(service, &request, request_id);
        let mut current = access_log::fields_follow_the_future().then(|| fields.clone());
        let matched = request.extensions().get::<MatchedPath>().cloned();
        let named = self.route.map(|classify| classify(&mut request));
        // The clone is the one left ready for the next call (tower's contract).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let called = access_log::in_scope(&mut current, || {
            span.in_scope(|| std::panic::catch_unwind(AssertUnwindSafe(|| inner.call(request))))
        });
        Box::pin(access_log::InRequest::new(
            current,
            async move {
                let outcome = match called {
                    Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
                    Err(panic) => Err(panic),
                };
                let failure = match outcome {
                    Ok(Ok(response)) => Ok(response),
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(_) => Err("request handler panicked".to_owned()),
                };
                let mut response = failure.unwrap_or_else(|error| {
                    tracing::error!(%error, "request failed");
                    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, None)
                        .with_request_id(fields.request_id.to_str().ok())
                        .into_response()
                });
                let elapsed = start.elapsed();
                let status = response.status();
                access_log::log(&fields, status.as_u16(), elapsed);
                let route = match (&matched, named) {
                    (Some(path), _) => Route::Matched(path.as_str()),
                    (None, Some(name)) => Route::Named(name),
                    (None, None) => Route::Named("unmatched"),
                };
                prometheus::record(
                    service,
                    prometheus::method_label(&fields.method),
                    route,
                    status,
                    elapsed,
                );
                response
                    .headers_mut()
                    .entry(REQUEST_ID)
                    .or_insert_with(|| fields.request_id.clone());
                Ok(response)
            }
            .instrument(span),
        ))
    }
}

/// The longest caller's request id kept: ids are echoed, logged on every
/// line and passed to every hop, so a caller must not choose their size.
pub const MAX_REQUEST_ID_BYTES: usize = 128;

/// A caller's id worth keeping: 1–128 visible ASCII characters without
/// quotes or backslashes (nothing a log reader must unescape).
fn usable_request_id(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    (1..=MAX_REQUEST_ID_BYTES).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\'))
}

/// The caller's request id when it sent a usable one, else a new one (a
/// UUID v4); either way set on the request for the handlers and the hops
/// behind, and returned for the response.
fn request_id(request: &mut Request) -> HeaderValue {
    // One look-up for reading and writing the header.
    let entry = request.headers_mut().entry(REQUEST_ID);
    if let Entry::Occupied(caller) = &entry
        && usable_request_id(caller.get())
    {
        return caller.get().clone();
    }
    let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
    uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    // Shared from the start: the request, the response and the access line
    // each hold the id, and cloning a copied-in value would copy it again.
    let id = HeaderValue::from_maybe_shared(Bytes::from_owner(text))
        .unwrap_or_else(|_| HeaderValue::from_static("-"));
    match entry {
        Entry::Occupied(mut unusable) => {
            unusable.insert(id.clone());
        }
        Entry::Vacant(absent) => {
            absent.insert(id.clone());
        }
    }
    id
}

/// The request's span and its fields (for the access line). With JSON logs
/// and no OpenTelemetry export there is no span: the fields follow the
/// request's future instead ([`access_log::InRequest`]).
fn request_span(
    service: &'static str,
    req: &Request,
    request_id: HeaderValue,
) -> (Span, Arc<RequestFields>) {
    let mut fields = RequestFields {
        service,
        method: req.method().clone(),
        target: req.uri().clone(),
        request_id,
        trace_id: trace_context::local_trace_id(req.extensions()),
    };
    if access_log::fields_follow_the_future() && !trace_context::opentelemetry() {
        return (Span::none(), Arc::new(fields));
    }
    // Fields are set at creation: each later `record` re-serializes the span's JSON.
    let span = tracing::info_span!(
        "request",
        service,
        method = fields.method.as_str(),
        path = fields.target.path(),
        request_id = fields.request_id.to_str().unwrap_or_default(),
        trace_id = fields.trace_id.as_ref().map(TraceIdText::as_str),
    );
    if fields.trace_id.is_none() {
        fields.trace_id = trace_context::join(&span, req.headers(), req.extensions());
        if let Some(trace_id) = &fields.trace_id {
            span.record("trace_id", trace_id.as_str());
        }
    }
    (span, Arc::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tower::ServiceExt as _;

    fn app(service: &'static str) -> Router {
        let routes = Router::new()
            .route("/items/{id}", get(|| async { "ok" }))
            .route(
                "/echo-id",
                get(|headers: http::HeaderMap| async move {
                    headers
                        .get(REQUEST_ID)
                        .and_then(|id| id.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                }),
            )
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("handler bug");
                    }
                    "unreachable"
                }),
            );
        wrap(routes, service, Readiness::new())
    }

    /// `GET path` through the stack of `service` (its own metric series),
    /// with `request_id` as the caller's id when given.
    async fn get_path(service: &'static str, path: &str, request_id: Option<&str>) -> Response {
        let mut request = http::Request::get(path);
        if let Some(id) = request_id {
            request = request.header(REQUEST_ID, id);
        }
        let request = request.body(axum::body::Body::empty()).unwrap();
        match app(service).oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    #[tokio::test]
    async fn a_caller_request_id_is_echoed_and_a_missing_one_generated() {
        let response = get_path("stack-test", "/items/1", Some("req-from-caller")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[REQUEST_ID], "req-from-caller");

        let response = get_path("stack-test", "/items/2", None).await;
        let generated = response.headers()[REQUEST_ID].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");

        // An empty id is no id, an oversized or odd one is not echoed or
        // logged: each is replaced.
        let long = "r".repeat(20_000);
        for unusable in [
            "",
            long.as_str(),
            "a b",
            "quo\"te",
            "back\\slash",
            "tab\there",
        ] {
            let response = get_path("stack-test", "/items/3", Some(unusable)).await;
            let generated = response.headers()[REQUEST_ID].to_str().unwrap();
            assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated:?}");
        }
        let longest = "r".repeat(MAX_REQUEST_ID_BYTES);
        let response = get_path("stack-test", "/items/4", Some(&longest)).await;
        assert_eq!(response.headers()[REQUEST_ID], longest.as_str());

        // The handler (and the hops behind it) see the id the caller gets.
        for caller in [None, Some(""), Some("req-echo")] {
            let response = get_path("stack-test", "/echo-id", caller).await;
            let id = response.headers()[REQUEST_ID].to_str().unwrap().to_owned();
            let body = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            assert_eq!(body, id.as_bytes(), "{caller:?}");
            assert!(!id.is_empty());
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_request_id() {
        let response = get_path("stack-test", "/boom", Some("req-boom")).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[REQUEST_ID], "req-boom");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["status"], 500);
        assert_eq!(problem["request_id"], "req-boom");
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_template_and_status() {
        for path in ["/items/7", "/items/8", "/boom"] {
            get_path("stack-metrics", path, None).await;
        }
        let text = prometheus::render();
        assert!(
            text.contains(r#"http_requests_total{service="stack-metrics",method="GET",route="/items/{id}",status="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"http_requests_total{service="stack-metrics",method="GET",route="/boom",status="500"} 1"#),
            "{text}"
        );
    }
}
