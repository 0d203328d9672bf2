//! Traces: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the host's spans (request →
//! component instance → SQL statement, LLM call, tool call) go to an
//! OpenTelemetry collector over OTLP/HTTP (JSON), W3C `traceparent` is
//! honoured on the way in and sent on the way out (model and vector calls).
//! Without it nothing here runs: no exporter, no thread, no header work.

use bytes::Bytes;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_http::{HeaderExtractor, HeaderInjector, HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt;

static ON: AtomicBool = AtomicBool::new(false);
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The exporter's HTTP client: reqwest's blocking client, because the SDK's
/// batch processor exports from its own thread, which has no tokio runtime.
#[derive(Debug)]
struct Blocking(reqwest::blocking::Client);

#[async_trait::async_trait]
impl HttpClient for Blocking {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let request: reqwest::blocking::Request = request.try_into()?;
        let response = self.0.execute(request)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes()?;
        let mut out = http::Response::builder().status(status).body(body)?;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

/// Start exporting when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`/v1/traces`
/// is appended; `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is used as given,
/// `OTEL_BSP_SCHEDULE_DELAY` sets how often spans are sent). Call before any
/// tokio runtime exists (the blocking client owns one).
pub fn start() -> anyhow::Result<Option<SdkTracerProvider>> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Ok(None);
    }
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_timeout(Duration::from_secs(10))
        .with_http_client(Blocking(client))
        .build()?;
    let service = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "spaceport".into());
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build())
        .with_span_processor(BatchSpanProcessor::builder(exporter).build())
        .build();
    let _ = PROVIDER.set(provider.clone());
    ON.store(true, Ordering::Relaxed);
    Ok(Some(provider))
}

/// Send what is left (at exit).
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get()
        && let Err(e) = provider.shutdown()
    {
        eprintln!("traces: shutting the exporter down failed: {e}");
    }
}

/// Make `span` the child of the caller's trace, if its headers name one.
/// Call before the span is first entered.
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    if !ON.load(Ordering::Relaxed) || !headers.contains_key("traceparent") {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if let Err(e) = span.set_parent(cx) {
        tracing::debug!(error = %e, "traceparent not applied");
    }
}

/// Put the current span's `traceparent` on an outgoing request.
pub fn inject(headers: &mut http::HeaderMap) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    let cx = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
}
