//! The access log and the request span's fields in the JSON logs.
//!
//! One access line per response, `"message":"request finished"`, with the
//! request span's fields (`service`, `method`, `path`, `request_id`,
//! `trace_id`) under `span`, `status` and `latency_ms`. Every other event
//! logged while a request is handled carries the same `span` object.
//!
//! With JSON logs both are written without `tracing`'s span and field
//! machinery: the access line straight into the log writer's batch, and the
//! request's fields ([`RequestFields`]) made current on the thread while its
//! future is polled ([`InRequest`]), for the JSON layer to serialize only
//! when an event is logged. Through `tracing`, the JSON layer turned every
//! field of the span (when it was created) and of the access event into a
//! `serde_json::Value` and back, and formatted the timestamp from scratch
//! (docs/performance.md, "The access line, hand-written"). Text logs and OpenTelemetry export
//! (span attributes, parent ids) still get a `tracing` span with the
//! fields; processes that never set up [`crate::telemetry`] (tests) too,
//! with the access line as a `tracing` event.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use http::{HeaderValue, Method, Uri};
use serde::Serialize;
use serde::ser::SerializeStruct as _;

use crate::telemetry::log_writer;
use crate::telemetry::trace_context::TraceIdText;

/// Set by [`crate::telemetry`] when log lines are JSON (telemetry configures
/// this module; this module writes through [`crate::telemetry::log_writer`], never
/// through telemetry).
static JSON: AtomicBool = AtomicBool::new(false);

pub(crate) fn write_json_lines() {
    JSON.store(true, Ordering::Relaxed);
}

/// Whether a request's fields are made current on the thread while its
/// future is polled ([`InRequest`]), for the JSON layer to print with each
/// event, instead of being carried by a `tracing` span.
pub(crate) fn fields_follow_the_future() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// The request span's fields.
pub struct RequestFields {
    pub service: &'static str,
    pub method: Method,
    /// The request's target, of which only the path is logged: query
    /// strings may carry things that do not belong in logs. (The request's
    /// own `Uri`: a clone shares its text.)
    pub target: Uri,
    pub request_id: HeaderValue,
    pub trace_id: Option<TraceIdText>,
}

impl RequestFields {
    fn path(&self) -> &str {
        self.target.path()
    }

    fn request_id(&self) -> &str {
        self.request_id.to_str().unwrap_or_default()
    }
}

/// The `span` object of a JSON log line: what the JSON layer printed for
/// the span's own fields, in its order.
impl Serialize for RequestFields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut span = serializer.serialize_struct("span", 6)?;
        span.serialize_field("method", self.method.as_str())?;
        span.serialize_field("name", "request")?;
        span.serialize_field("path", self.path())?;
        span.serialize_field("request_id", self.request_id())?;
        span.serialize_field("service", self.service)?;
        if let Some(trace_id) = &self.trace_id {
            span.serialize_field("trace_id", trace_id.as_str())?;
        }
        span.end()
    }
}

thread_local! {
    /// The fields of the request this thread is working on, if any.
    static CURRENT: RefCell<Option<Arc<RequestFields>>> = const { RefCell::new(None) };
}

/// The `span` object for an event logged on this thread now: the fields of
/// the request being handled, if any.
pub(crate) fn current_span_object() -> Option<serde_json::Value> {
    CURRENT.with_borrow(|fields| {
        fields
            .as_deref()
            .and_then(|fields| serde_json::to_value(fields).ok())
    })
}

/// Makes the fields in `slot` current until dropped, then puts them back.
struct Current<'a> {
    slot: &'a mut Option<Arc<RequestFields>>,
    previous: Option<Arc<RequestFields>>,
}

impl<'a> Current<'a> {
    fn enter(slot: &'a mut Option<Arc<RequestFields>>) -> Self {
        let previous = CURRENT.replace(slot.take());
        Self { slot, previous }
    }
}

impl Drop for Current<'_> {
    fn drop(&mut self) {
        *self.slot = CURRENT.replace(self.previous.take());
    }
}

/// Runs `f` with `fields` (when given) current; they are back in place after.
pub(crate) fn in_scope<T>(fields: &mut Option<Arc<RequestFields>>, f: impl FnOnce() -> T) -> T {
    let _current = Current::enter(fields);
    f()
}

pin_project_lite::pin_project! {
    /// A request's future, with its fields (when given) current on the
    /// thread whenever it is polled: what a `tracing` span does for its
    /// fields, without creating one.
    pub(crate) struct InRequest<F> {
        fields: Option<Arc<RequestFields>>,
        #[pin]
        inner: F,
    }
}

impl<F> InRequest<F> {
    pub(crate) fn new(fields: Option<Arc<RequestFields>>, inner: F) -> Self {
        Self { fields, inner }
    }
}

impl<F: Future> Future for InRequest<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _current = Current::enter(this.fields);
        this.inner.poll(cx)
    }
}

/// Logs the response to the request of `fields` at INFO, under the target
/// `cloudsec_platform::stack` (what the log filter knows it by).
pub fn log(fields: &RequestFields, status: u16, elapsed: Duration) {
    if !tracing::enabled!(target: "cloudsec_platform::stack", tracing::Level::INFO) {
        return;
    }
    let latency_ms = elapsed.as_secs_f64() * 1e3;
    if JSON.load(Ordering::Relaxed) {
        log_writer::write_line(|line| {
            write_json(line, fields, status, latency_ms, SystemTime::now());
        });
    } else {
        // In the request span, which has the other fields.
        tracing::info!(
            target: "cloudsec_platform::stack",
            status,
            latency_ms,
            "request finished"
        );
    }
}

/// The line, in the JSON layer's shape (its keys in the same order, the
/// request span's fields under `span`): the fixed parts as they are, the
/// client's values (path, request id) escaped when they need it ([`text`]),
/// and the values that never need escaping (a method token, the service's
/// name, a hex trace id) between quotes as they are.
fn write_json(
    line: &mut Vec<u8>,
    fields: &RequestFields,
    status: u16,
    latency_ms: f64,
    now: SystemTime,
) {
    line.extend_from_slice(br#"{"level":"INFO","span":{"method":"#);
    quoted(line, fields.method.as_str());
    line.extend_from_slice(br#","name":"request","path":"#);
    text(line, fields.path());
    line.extend_from_slice(br#","request_id":"#);
    text(line, fields.request_id());
    line.extend_from_slice(br#","service":"#);
    quoted(line, fields.service);
    if let Some(trace_id) = &fields.trace_id {
        line.extend_from_slice(br#","trace_id":"#);
        quoted_bytes(line, trace_id.as_bytes());
    }
    line.extend_from_slice(br#"},"target":"cloudsec_platform::stack","timestamp":""#);
    line.extend_from_slice(&Timestamp(now).format());
    line.extend_from_slice(br#"","latency_ms":"#);
    value(line, &latency_ms);
    line.extend_from_slice(br#","message":"request finished","status":"#);
    value(line, &status);
    line.extend_from_slice(b"}\n");
}

/// Text with nothing to escape, by how it is made: an HTTP method is a token
/// (RFC 9110 §5.6.2: no quotes, backslashes or control characters), a
/// service's name is a constant, a trace id is hex.
fn quoted(line: &mut Vec<u8>, text: &str) {
    quoted_bytes(line, text.as_bytes());
}

fn quoted_bytes(line: &mut Vec<u8>, text: &[u8]) {
    line.push(b'"');
    line.extend_from_slice(text);
    line.push(b'"');
}

/// A client's text: between quotes as it is when JSON needs nothing in it
/// escaped (no quote, backslash or control character: a path or a request
/// id, mostly), else through `serde_json`. The look at every byte is a fold
/// without an early exit, which the compiler turns into vector compares; an
/// `any` went byte by byte and cost more than `serde_json`'s escaping.
fn text(line: &mut Vec<u8>, text: &str) {
    let needs_escaping = text.bytes().fold(false, |found, b| {
        found | (b == b'"') | (b == b'\\') | (b < 0x20)
    });
    if needs_escaping {
        value(line, text);
    } else {
        quoted(line, text);
    }
}

fn value(line: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) {
    // Into a Vec, serializing a string or a number cannot fail.
    let _ = serde_json::to_writer(&mut *line, value);
}

/// RFC 3339 in UTC with microseconds, as the other log lines have it
/// (`2026-11-28T17:59:35.927231Z`).
struct Timestamp(SystemTime);

/// `YYYY-MM-DDTHH:MM:SS.`
const PREFIX: usize = 20;
/// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`
const LENGTH: usize = PREFIX + 7;

thread_local! {
    /// The last second formatted on this thread: a busy thread formats the
    /// date once a second, not once a line.
    static SECOND: Cell<(u64, [u8; PREFIX])> = const { Cell::new((u64::MAX, [0; PREFIX])) };
}

impl Timestamp {
    fn format(&self) -> [u8; LENGTH] {
        let since_epoch = self
            .0
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let seconds = since_epoch.as_secs();
        let (mut cached, mut prefix) = SECOND.get();
        if cached != seconds {
            (cached, prefix) = (seconds, second_prefix(seconds));
            SECOND.set((cached, prefix));
        }
        let mut out = [b'0'; LENGTH];
        out[..PREFIX].copy_from_slice(&prefix);
        let mut micros = since_epoch.subsec_micros();
        for digit in out[PREFIX..LENGTH - 1].iter_mut().rev() {
            // A digit: the remainder of a division by 10.
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        out[LENGTH - 1] = b'Z';
        out
    }
}

fn second_prefix(seconds: u64) -> [u8; PREFIX] {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].");
    let mut out = *b"1970-01-01T00:00:00.";
    if let Some(formatted) = i64::try_from(seconds)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&format).ok())
        && formatted.len() == PREFIX
    {
        out.copy_from_slice(formatted.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(path: &str, trace_id: Option<u128>) -> RequestFields {
        RequestFields {
            service: "gateway",
            method: Method::GET,
            target: path.parse().unwrap(),
            request_id: HeaderValue::from_static("req-1"),
            trace_id: trace_id.map(|id| TraceIdText::new(id.to_be_bytes())),
        }
    }

    fn line(
        fields: &RequestFields,
        status: u16,
        latency_ms: f64,
        at: SystemTime,
    ) -> serde_json::Value {
        let mut line = Vec::new();
        write_json(&mut line, fields, status, latency_ms, at);
        assert_eq!(line.pop(), Some(b'\n'), "one line");
        assert!(!line.contains(&b'\n'));
        serde_json::from_slice(&line).unwrap()
    }

    #[test]
    fn the_line_has_the_json_layers_shape_with_the_span_fields_nested() {
        let fields = fields("/api/\"quoted\"", Some(0x4bf92f3577b34da6a3ce929d0e0e4736));
        let at = SystemTime::UNIX_EPOCH + Duration::new(1_796_061_575, 927_231_999);
        let line = line(&fields, 404, 1.5, at);
        assert_eq!(
            line,
            serde_json::json!({
                "level": "INFO",
                "span": {
                    "method": "GET",
                    "name": "request",
                    "path": "/api/\"quoted\"",
                    "request_id": "req-1",
                    "service": "gateway",
                    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                },
                "target": "cloudsec_platform::stack",
                "timestamp": "2026-11-30T17:59:35.927231Z",
                "latency_ms": 1.5,
                "message": "request finished",
                "status": 404,
            })
        );
        // Other events in the span get the same `span` object.
        assert_eq!(serde_json::to_value(&fields).unwrap(), line["span"]);
    }

    /// The hand-written line is the line the real JSON layer writes for the
    /// same event in the same request, but for the time it was written.
    #[test]
    fn the_hand_written_line_is_the_json_layers_line() {
        use std::sync::Mutex;
        use tracing_subscriber::layer::SubscriberExt as _;

        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        for trace_id in [Some(0x4bf92f3577b34da6a3ce929d0e0e4736), None] {
            let buffer = Buffer::default();
            let writer = buffer.clone();
            let subscriber = tracing_subscriber::registry()
                .with(crate::telemetry::json_layer(move || writer.clone()));
            let fields = Arc::new(fields("/api/\"quoted\"/é?query=not-logged", trace_id));
            tracing::subscriber::with_default(subscriber, || {
                let mut current = Some(fields.clone());
                in_scope(&mut current, || {
                    tracing::info!(
                        target: "cloudsec_platform::stack",
                        latency_ms = 1.5,
                        status = 404_u16,
                        "request finished"
                    );
                });
            });
            let written = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
            let mut from_layer: serde_json::Value =
                serde_json::from_str(written.trim_end()).unwrap();
            let mut hand_written = line(&fields, 404, 1.5, SystemTime::now());
            for line in [&mut from_layer, &mut hand_written] {
                let timestamp = line["timestamp"].take();
                let timestamp = timestamp.as_str().unwrap();
                // RFC 3339 in UTC with microseconds, as both write it.
                assert_eq!(
                    timestamp.len(),
                    "2026-11-30T17:59:35.927231Z".len(),
                    "{timestamp}"
                );
                assert!(timestamp.ends_with('Z'));
            }
            assert_eq!(hand_written, from_layer, "{written}");
        }
    }

    #[test]
    fn every_string_reads_back_as_it_was() {
        let at = SystemTime::UNIX_EPOCH;
        // What a request target may hold (control characters it may not:
        // the request's `Uri` refuses them).
        let paths = ["/plain", "/a\\b", "/caf\u{e9}", "/\"", "/{x}"];
        for path in paths {
            let line = line(&fields(path, None), 200, 0.25, at);
            assert_eq!(line["span"]["path"], path);
        }
        // A caller's request id: visible ASCII and tabs.
        for id in ["req-\"1\"", "a\\b", "tab\there", "plain-id"] {
            let mut fields = fields("/", None);
            fields.request_id = HeaderValue::from_str(id).unwrap();
            let line = line(&fields, 200, 0.25, at);
            assert_eq!(line["span"]["request_id"], id);
        }
        // Methods are written as they are: any token reads back.
        for method in ["PURGE", "M-SEARCH", "X!#$%&'*+-.^_`|~9"] {
            let mut fields = fields("/", Some(0xff));
            fields.method = Method::from_bytes(method.as_bytes()).unwrap();
            let line = line(&fields, 200, 0.25, at);
            assert_eq!(line["span"]["method"], method);
            assert_eq!(line["span"]["trace_id"], "000000000000000000000000000000ff");
        }
    }

    #[test]
    fn timestamps_keep_leading_zeros_and_follow_the_second() {
        let fields = fields("/", None);
        let at = SystemTime::UNIX_EPOCH + Duration::new(1_796_061_575, 7_000);
        let first = line(&fields, 200, 0.0, at);
        assert_eq!(first["timestamp"], "2026-11-30T17:59:35.000007Z");
        assert!(first["span"].get("trace_id").is_none());
        assert!(
            serde_json::to_value(&fields)
                .unwrap()
                .get("trace_id")
                .is_none()
        );
        let next = line(&fields, 200, 0.0, at + Duration::from_secs(86_400 + 25));
        assert_eq!(next["timestamp"], "2026-12-01T18:00:00.000007Z");
    }

    #[test]
    fn a_requests_fields_are_current_only_while_it_runs() {
        let fields = Arc::new(fields("/api/tags", None));
        assert!(current_span_object().is_none());
        let mut future = std::pin::pin!(InRequest::new(Some(fields.clone()), async {
            let during = current_span_object();
            tokio::task::yield_now().await;
            (during, current_span_object())
        }));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert!(current_span_object().is_none(), "not between polls");
        let Poll::Ready((first, second)) = future.as_mut().poll(&mut cx) else {
            panic!("the future should be done");
        };
        let expected = serde_json::to_value(&*fields).unwrap();
        assert_eq!(first.as_ref(), Some(&expected));
        assert_eq!(second.as_ref(), Some(&expected));
        assert!(current_span_object().is_none());
        let mut slot = Some(fields);
        assert_eq!(in_scope(&mut slot, current_span_object), Some(expected));
        assert!(slot.is_some(), "the fields are put back");
        assert!(current_span_object().is_none());
    }
}
