//! `tracing` setup: readable lines by default, JSON with `LOG_FORMAT=json`;
//! the level from `LOG_LEVEL` (e.g. `debug`) or a full `RUST_LOG` filter.

use super::config::LogConfig;
use tracing_subscriber::EnvFilter;

pub fn init(config: &LogConfig) {
    let filter = config.filter.clone().unwrap_or_else(|| {
        format!(
            "{},cranelift_codegen=warn,wasmtime_cranelift=warn,rmcp=error",
            config.level.to_ascii_lowercase()
        )
    });
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_target(false);
    if config.format.eq_ignore_ascii_case("json") {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        builder.with_ansi(false).init();
    }
}
