//! W3C trace context (`traceparent`) across HTTP hops.
//!
//! With an OTLP exporter configured, spans are OpenTelemetry spans and the
//! global propagator reads and writes the headers. Without one, nothing is
//! exported, and running every request span through OpenTelemetry would cost
//! a quarter of the throughput for ids nobody collects; then this module
//! carries the context itself: it keeps the caller's trace id (or starts a
//! trace), gives each hop its own span id and passes both on.

use std::sync::atomic::{AtomicBool, Ordering};

use http::header::{HeaderName, HeaderValue};
use http::{Extensions, HeaderMap};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub const AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

static OPENTELEMETRY: AtomicBool = AtomicBool::new(false);

/// Called by [`crate::telemetry`] when spans go to an exporter.
pub(crate) fn use_opentelemetry() {
    OPENTELEMETRY.store(true, Ordering::Relaxed);
}

pub(crate) fn opentelemetry() -> bool {
    OPENTELEMETRY.load(Ordering::Relaxed)
}

/// This hop's place in a trace: a request extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    /// This hop's span id (the parent of whatever it calls).
    pub span_id: [u8; 8],
    pub sampled: bool,
}

impl TraceParent {
    /// Continues the caller's trace, or starts one.
    pub fn continue_or_start(headers: &HeaderMap) -> Self {
        let span_id = nonzero::<u64>().to_be_bytes();
        match headers
            .get(&TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(parse)
        {
            Some((trace_id, sampled)) => Self {
                trace_id,
                span_id,
                sampled,
            },
            None => Self {
                trace_id: nonzero::<u128>().to_be_bytes(),
                span_id,
                sampled: true,
            },
        }
    }

    /// The trace id as the logs print it.
    pub fn trace_id_text(&self) -> TraceIdText {
        TraceIdText::new(self.trace_id)
    }

    /// The same trace as AWS X-Ray names it (`X-Amzn-Trace-Id`), for AWS
    /// services downstream: X-Ray ids are W3C ids split after 8 hex digits.
    pub fn amzn_trace_id(&self) -> HeaderValue {
        // Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>
        let mut value =
            *b"Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0";
        let (epoch, unique) = self.trace_id.split_at(4);
        hex_into(&mut value[7..15], epoch);
        hex_into(&mut value[16..40], unique);
        hex_into(&mut value[48..64], &self.span_id);
        value[73] = if self.sampled { b'1' } else { b'0' };
        header_value(&value)
    }

    /// The `traceparent` this hop sends on.
    pub fn header(&self) -> HeaderValue {
        // 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>
        let mut value = *b"00-00000000000000000000000000000000-0000000000000000-00";
        hex_into(&mut value[3..35], &self.trace_id);
        hex_into(&mut value[36..52], &self.span_id);
        if self.sampled {
            value[54] = b'1';
        }
        header_value(&value)
    }
}

/// Ids are hex digits and ASCII punctuation only: always a valid header value.
fn header_value(value: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A random id, drawn as an integer from the thread's generator (an
/// all-zero id is invalid): a byte fill of eight or sixteen bytes cost more
/// than a draw of one or two words.
fn nonzero<T>() -> T
where
    rand::distr::StandardUniform: rand::distr::Distribution<T>,
    T: Default + PartialEq,
{
    loop {
        let id: T = rand::random();
        if id != T::default() {
            return id;
        }
    }
}

/// A trace id as text (32 lowercase hex digits), held inline: the request's
/// log fields carry it with no allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceIdText([u8; 32]);

impl TraceIdText {
    pub fn new(trace_id: [u8; 16]) -> Self {
        let mut text = [b'0'; 32];
        hex_into(&mut text, &trace_id);
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        // Hex digits only: always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The digits, for writers of bytes (no UTF-8 check).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for TraceIdText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writes `bytes` as lowercase hex digits into `out` (twice as long).
fn hex_into(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`; all-zero ids are invalid.
fn parse(value: &str) -> Option<([u8; 16], bool)> {
    let mut parts = value.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00"
        || parts.next().is_some()
        || trace.len() != 32
        || parent.len() != 16
        || flags.len() != 2
    {
        return None;
    }
    let mut trace_id = [0u8; 16];
    for (i, byte) in trace_id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(trace.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    let parent_ok = u64::from_str_radix(parent, 16).ok()? != 0;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    (parent_ok && trace_id.iter().any(|b| *b != 0)).then_some((trace_id, flags & 1 == 1))
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(key), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

/// Puts the request's [`TraceParent`] in its extensions (without OpenTelemetry).
pub fn attach<B>(request: &mut http::Request<B>) {
    if !opentelemetry() {
        let parent = TraceParent::continue_or_start(request.headers());
        request.extensions_mut().insert(parent);
    }
}

/// Joins `span` to the request's trace and returns the trace id for the logs.
/// The trace id when this process carries the W3C context itself (no
/// OpenTelemetry export): known before the request span exists.
pub fn local_trace_id(extensions: &Extensions) -> Option<TraceIdText> {
    if opentelemetry() {
        return None;
    }
    extensions
        .get::<TraceParent>()
        .map(TraceParent::trace_id_text)
}

pub fn join(
    span: &tracing::Span,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> Option<TraceIdText> {
    if opentelemetry() {
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(headers))
        });
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
        let context = span.context();
        let span_context = context.span().span_context().clone();
        span_context
            .is_valid()
            .then(|| TraceIdText::new(span_context.trace_id().to_bytes()))
    } else {
        extensions
            .get::<TraceParent>()
            .map(TraceParent::trace_id_text)
    }
}

/// Writes this hop's trace context into the headers of an outgoing request;
/// `parent` is the [`TraceParent`] extension of the request being handled.
pub fn inject(headers: &mut HeaderMap, parent: Option<&TraceParent>) {
    if opentelemetry() {
        let context = tracing::Span::current().context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&context, &mut HeaderInjector(headers))
        });
    } else if let Some(parent) = parent {
        headers.insert(TRACEPARENT, parent.header());
    }
    // An X-Ray id from a load balancer in front is passed on as it came.
    if let Some(parent) = parent
        && !headers.contains_key(&AMZN_TRACE_ID)
    {
        headers.insert(AMZN_TRACE_ID, parent.amzn_trace_id());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continues_a_valid_trace_and_starts_one_otherwise() {
        let mut h = HeaderMap::new();
        h.insert(
            TRACEPARENT,
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let tp = TraceParent::continue_or_start(&h);
        assert_eq!(
            tp.trace_id_text().as_str(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let out = tp.header();
        let out = out.to_str().unwrap();
        assert!(out.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && out.ends_with("-01"));
        assert!(
            !out.contains("00f067aa0ba902b7"),
            "own span id, not the caller's"
        );
        assert_eq!(
            tp.amzn_trace_id().to_str().unwrap(),
            format!(
                "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent={};Sampled=1",
                &out[36..52]
            )
        );
        let unsampled = TraceParent {
            sampled: false,
            ..tp
        };
        assert!(unsampled.header().to_str().unwrap().ends_with("-00"));
        assert!(
            unsampled
                .amzn_trace_id()
                .to_str()
                .unwrap()
                .ends_with(";Sampled=0")
        );
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
            "garbage",
        ] {
            h.insert(TRACEPARENT, HeaderValue::from_static(bad));
            assert_ne!(
                TraceParent::continue_or_start(&h).trace_id_text().as_str(),
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "{bad}"
            );
        }
    }
}
