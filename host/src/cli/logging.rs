//! `tracing` setup: readable lines by default, JSON with `LOG_FORMAT=json`;
//! the level from `LOG_LEVEL` (e.g. `debug`) or a full `RUST_LOG` filter.

use super::config::LogConfig;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub fn init(config: &LogConfig) {
    let filter = config.filter.clone().unwrap_or_else(|| {
        format!(
            "{},cranelift_codegen=warn,wasmtime_cranelift=warn,rmcp=error",
            config.level.to_ascii_lowercase()
        )
    });
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Traces over OTLP only when configured: `None` is a layer that does nothing.
    let provider = match crate::services::telemetry::start() {
        Ok(provider) => provider,
        Err(e) => {
            eprintln!(
                "traces: OTEL_EXPORTER_OTLP_ENDPOINT is set but the exporter failed to start: {e:#}"
            );
            None
        }
    };
    let traces = provider.map(|p| {
        use opentelemetry::trace::TracerProvider as _;
        tracing_opentelemetry::layer().with_tracer(p.tracer("spaceport"))
    });
    let registry = tracing_subscriber::registry().with(filter).with(traces);
    if config.format.eq_ignore_ascii_case("json") {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_target(false)
                    .with_writer(std::io::stdout),
            )
            .init();
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_target(false)
                    .with_writer(std::io::stdout),
            )
            .init();
    }
}
