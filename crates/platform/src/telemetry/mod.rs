//! Process-wide telemetry: JSON (or text) logs, OpenTelemetry traces with W3C
//! context, OTLP/HTTP export when `telemetry.otlp_endpoint` is set.
//!
//! A tracer provider is installed even without an exporter so that every
//! request span has real trace and span ids to log and to propagate.
//!
//! Its parts: where log lines go ([`log_writer`]), the access line
//! ([`access_log`]), Prometheus metrics ([`prometheus`]) and trace context across
//! HTTP hops ([`trace_context`]).

pub mod access_log;
pub mod log_writer;
pub mod prometheus;
pub mod trace_context;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, TelemetryConfig};

/// Keeps the tracer provider and the log writer alive; `shutdown` flushes both.
pub struct Telemetry {
    provider: SdkTracerProvider,
    /// Log lines are written by a background thread, in batches: one write
    /// system call per line on the request path would cost a third of the
    /// throughput. Dropping the guard flushes what is queued.
    _log_writer: tracing_appender::non_blocking::WorkerGuard,
}

impl Telemetry {
    /// Installs the global subscriber. Call once, before the async runtime
    /// starts: the OTLP exporter's blocking HTTP client must not be created on
    /// an async worker thread.
    pub fn init(service_name: &str, config: &TelemetryConfig) -> anyhow::Result<Self> {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let resource = Resource::builder()
            .with_service_name(service_name.to_owned())
            .build();
        let mut builder = SdkTracerProvider::builder().with_resource(resource);
        if let Some(endpoint) = &config.otlp_endpoint {
            let traces = endpoint.join("v1/traces")?;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(traces.as_str())
                .build()?;
            builder = builder.with_batch_exporter(exporter);
            crate::telemetry::trace_context::use_opentelemetry();
        }
        let provider = builder.build();
        opentelemetry::global::set_tracer_provider(provider.clone());
        // Only with an exporter: otherwise trace_context carries the W3C context itself.
        let otel = config
            .otlp_endpoint
            .is_some()
            .then(|| tracing_opentelemetry::layer().with_tracer(provider.tracer("cloudsec")));

        let filter = EnvFilter::try_new(&config.log_level)?;
        // Lossy only under extreme backpressure (the queue holds 128k lines); never blocks a request.
        // The writer thread flushes whenever the queue runs empty: one line per
        // write when idle, many per write under load instead of a system call each.
        let (writer, guard) = tracing_appender::non_blocking(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
        let writer = crate::telemetry::log_writer::install(writer);
        let registry = tracing_subscriber::registry().with(filter).with(otel);
        match config.log_format {
            LogFormat::Json => {
                crate::telemetry::access_log::write_json_lines();
                registry.with(json_layer(writer)).try_init()?;
            }
            LogFormat::Text => registry
                .with(tracing_subscriber::fmt::layer().with_writer(writer))
                .try_init()?,
        }
        Ok(Self {
            provider,
            _log_writer: guard,
        })
    }

    /// Flushes and stops trace export. Call after the runtime has stopped.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("telemetry: trace export shutdown: {e}");
        }
    }
}

/// The JSON log layer: flat events, and the fields of the request being
/// handled under `span` ([`crate::telemetry::access_log`] writes its access line in
/// this layer's shape, and a test holds the two together).
pub(crate) fn json_layer<S, W>(writer: W) -> json_subscriber::fmt::Layer<S, W>
where
    S: tracing::Subscriber + for<'l> tracing_subscriber::registry::LookupSpan<'l>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + 'static,
{
    let mut layer = json_subscriber::layer()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(writer);
    layer.inner_layer_mut().add_dynamic_field("span", |_, _| {
        crate::telemetry::access_log::current_span_object()
    });
    layer
}
