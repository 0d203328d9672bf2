//! `tracing` setup: readable lines by default, JSON with `LOG_FORMAT=json`;
//! the level from `LOG_LEVEL` (e.g. `debug`) or a full `RUST_LOG` filter.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| {
            std::env::var("LOG_LEVEL").ok().map(|l| {
                format!(
                    "{},cranelift_codegen=warn,wasmtime_cranelift=warn",
                    l.to_ascii_lowercase()
                )
            })
        })
        .unwrap_or_else(|| "info,cranelift_codegen=warn,wasmtime_cranelift=warn".into());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_target(false);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        builder.with_ansi(false).init();
    }
}
