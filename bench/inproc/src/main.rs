//! In-process figures for one component, no network:
//! * instantiate: fresh store + instance + drop (what every request pays first);
//! * request: the whole `Runtime::serve` path, instantiate + call + reading the body.
//!
//! `inproc COMPONENT.wasm [ITERATIONS]`; prints µs per operation.

use anyhow::Context as _;
use http_body_util::{BodyExt, Full};
use spaceport::cli::serve::offline_services;
use spaceport::manifest::ComponentConfig;
use spaceport::sandbox::capabilities::{Capabilities, RequestInfo};
use spaceport::sandbox::runtime::{EngineOptions, Runtime};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .context("usage: inproc COMPONENT.wasm [ITERATIONS]")?;
    let iterations: u32 = std::env::args().nth(2).map_or(Ok(20_000), |n| n.parse())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(&path, iterations))
}

async fn run(path: &str, iterations: u32) -> anyhow::Result<()> {
    let options = EngineOptions {
        max_instances: 1000,
        max_relays: 0,
        pooling: true,
        cache_dir: None,
        precompiled_dir: None,
        perf_map: false,
        memory_budget_mb: None,
    };
    let runtime = Arc::new(Runtime::new(
        &options,
        Capabilities::new(offline_services(None)?),
    )?);
    let config: ComponentConfig = component_config(path)?;
    let component = Arc::new(runtime.load("bench", &config, path.as_ref(), None)?);
    let info = Arc::new(RequestInfo {
        request_id: "bench".into(),
        component_id: component.id.clone(),
        ..RequestInfo::default()
    });
    let pre = component
        .pre
        .clone()
        .context("the component does not export wasi:http/incoming-handler")?;

    let mut instantiate = Duration::ZERO;
    let mut request = Duration::ZERO;
    for round in 0..2 {
        // Round 0 warms the pool's slots and caches; round 1 is measured.
        let start = Instant::now();
        for _ in 0..iterations {
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut store = runtime.new_store(&component, &info, deadline);
            let instance = pre.instantiate_async(&mut store).await?;
            drop(instance);
            drop(store);
        }
        if round == 1 {
            instantiate = start.elapsed();
        }
        let start = Instant::now();
        for _ in 0..iterations {
            let req = http::Request::builder()
                .uri("http://localhost/health")
                .header("host", "localhost")
                .body(Full::new(bytes::Bytes::new()))?;
            let permit = runtime
                .try_slot(&component)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let resp = runtime
                .serve(&component, info.clone(), req, permit)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            std::hint::black_box(body.to_bytes());
        }
        if round == 1 {
            request = start.elapsed();
        }
    }
    // What /metrics' bookkeeping adds to each served request: the counter and
    // the two histograms one answer updates (labels looked up, values bumped),
    // timed alone so the figure is not lost in a whole request's noise.
    let metrics = &*spaceport::services::metrics::METRICS;
    let start = Instant::now();
    for _ in 0..iterations * 10 {
        metrics.request("bench", "/ok", "GET", 200, std::hint::black_box(0.000_3));
        metrics.instance_lifetime("bench", std::hint::black_box(0.000_2));
    }
    let bookkeeping = start.elapsed() / 10;
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(iterations);
    println!("pooling={} iterations={iterations}", runtime.pooling);
    println!("instantiate_us={:.2}", per(instantiate));
    println!("request_us={:.2}", per(request));
    println!("metrics_per_request_us={:.3}", per(bookkeeping));
    Ok(())
}

fn component_config(path: &str) -> anyhow::Result<ComponentConfig> {
    // The read-only grants the benchmarked components use (health reads the status board).
    Ok(ComponentConfig {
        source: path.into(),
        context: true,
        host_status: true,
        ..ComponentConfig::default()
    })
}
