//! The `spaceport` command line: `up`, `build`, `check`, `bundle`, `healthcheck`.

use crate::auth::{Auth, AuthConfig};
use crate::capabilities::tools::RegistryCell;
use crate::capabilities::{Capabilities, HostServices};
use crate::config::HostConfig;
use crate::db::{Database, Describe};
use crate::llm::{LlmClient, LlmConfig};
use crate::manifest::Manifest;
use crate::registry::Registry;
use crate::runtime::Runtime;
use crate::server::Server;
use crate::status::DepState;
use crate::status::StatusBoard;
use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "spaceport",
    version,
    about = "A WebAssembly component host for AI chatbot backends"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the application.
    Up {
        /// The application manifest.
        #[arg(long, default_value = "spin-like.toml")]
        manifest: PathBuf,
        /// Address to listen on (default 0.0.0.0:$PORT, PORT defaulting to 7860).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Run each component's build command from the manifest.
    Build {
        #[arg(long, default_value = "spin-like.toml")]
        manifest: PathBuf,
        /// Only these components (default: all that have a build command).
        components: Vec<String>,
    },
    /// Validate the manifest and check that every component's imports are satisfied
    /// (compiling them into the cache on the way).
    Check {
        #[arg(long, default_value = "spin-like.toml")]
        manifest: PathBuf,
    },
    /// Check the app (as `check` does), then copy the manifest and every file it
    /// names into DIR at the same relative paths: what a deployment needs next to
    /// the binary (the Dockerfile uses it).
    Bundle {
        #[arg(long, default_value = "spin-like.toml")]
        manifest: PathBuf,
        /// Where to put the bundle (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Exit 0 if the local server's `/health` answers 200, else 1 (for container health checks).
    Healthcheck {
        /// Address to probe (default 127.0.0.1:$PORT).
        #[arg(long)]
        addr: Option<SocketAddr>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::logging::init();
    let result = match cli.command {
        Command::Up { manifest, listen } => up(&manifest, listen),
        Command::Build {
            manifest,
            components,
        } => build(&manifest, &components),
        Command::Check { manifest } => check(&manifest),
        Command::Bundle { manifest, out } => bundle(&manifest, &out),
        Command::Healthcheck { addr } => healthcheck(addr),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Every component's `.wasm` must exist before we start, so a missing build
/// fails fast with the manifest key to fix.
fn check_sources(manifest: &Manifest) -> anyhow::Result<()> {
    for (id, c) in &manifest.components {
        let path = manifest.source_path(c);
        if !path.is_file() {
            let hint = if c.build.is_some() {
                " (run `spaceport build`)"
            } else {
                ""
            };
            bail!(manifest.source_error(id, format!("file not found: {}{hint}", path.display())));
        }
    }
    Ok(())
}

fn up(manifest_path: &Path, listen: Option<SocketAddr>) -> anyhow::Result<()> {
    let config = HostConfig::from_env()?;
    let manifest = Manifest::load(manifest_path)?;
    check_sources(&manifest)?;
    let workers = std::env::var("SPACEPORT_WORKERS")
        .ok()
        .and_then(|w| w.parse::<usize>().ok())
        .filter(|w| *w > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        // Check for new I/O every few task polls (tokio's default is 61): a
        // spinning guest yields once per epoch tick, so with the default a
        // worker full of spinners would notice a new request only every
        // ~120 ms.
        .event_interval(8)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve(config, manifest, listen))
}

async fn serve(
    config: HostConfig,
    manifest: Manifest,
    listen: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let status = Arc::new(StatusBoard::new());
    status.set_app(&manifest.application.name, &manifest.application.version);
    let auth = Arc::new(Auth::new(AuthConfig::from_env()?));
    let (db, describe) = Database::connect(&config.database).await?;
    if matches!(db, Database::Sqlite(_)) {
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
            tracing::warn!(
                "running under Kubernetes on the embedded SQLite database: every replica has its own data; \
                 set DATABASE_URL to a shared PostgreSQL before running more than one replica"
            );
        } else if std::env::var("APP_ENV").is_ok_and(|v| v.eq_ignore_ascii_case("production")) {
            tracing::warn!(
                "DATABASE_URL is not set: data lives in SQLite under SPACEPORT_DATA_DIR and is lost with the container \
                 unless that directory is persistent storage"
            );
        }
    }
    tracing::info!(
        pool_size = config.database.pool_size,
        "Using {} at {}",
        describe.backend,
        describe.location
    );
    monitor_database(db.clone(), describe, status.clone());
    let options = config.engine_options();
    let llm = LlmClient::new(LlmConfig::from_env()?)?;
    if llm.config().configured() {
        tracing::info!(base_url = %llm.config().base_url, model = %llm.config().model, "LLM configured");
        status.report(
            "llm",
            DepState::Configured,
            Some(format!("model {}", llm.config().model)),
        );
    } else {
        tracing::warn!(
            "OPENAI_API_KEY is not set: chat answers 503 llm_unconfigured; everything else works"
        );
        status.report(
            "llm",
            DepState::Unconfigured,
            Some("set OPENAI_API_KEY to enable chat".into()),
        );
    }
    let registry_cell = RegistryCell::default();
    let services = HostServices {
        status: status.clone(),
        databases: [("default".to_string(), db.clone())].into(),
        llm: Arc::new(llm),
        registry: registry_cell.clone(),
    };
    let runtime = Arc::new(Runtime::new(&options, Capabilities::new(services))?);
    let registry = Arc::new(Registry::new(
        runtime.clone(),
        status.clone(),
        manifest.path.clone(),
    ));
    let _ = registry_cell.set(Arc::downgrade(&registry));

    let addr = listen.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], config.port)));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(
        app = %manifest.application.name,
        pooling = runtime.pooling,
        max_instances = config.max_instances,
        origins = ?config.allowed_origins,
        "Spaceport listening on http://{local}"
    );

    // Load in the background so the port answers ("starting") at once.
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<anyhow::Error>();
    {
        let registry = registry.clone();
        let watch = config.watch;
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match registry.reload().await {
                Ok(report) => {
                    // Watch before saying "ready", so no change after it is missed.
                    if watch && let Err(e) = crate::watch::spawn(registry) {
                        tracing::warn!(error = %e, "hot reload disabled: cannot watch files");
                    }
                    tracing::info!(
                        components = report.swapped.len(),
                        compiled = report.compiled,
                        from_cache = report.from_cache,
                        ms = started.elapsed().as_millis() as u64,
                        "ready"
                    );
                }
                Err(e) => {
                    let _ = failed_tx.send(e);
                }
            }
        });
    }

    let server = Arc::new(Server {
        registry,
        runtime,
        slots: Arc::new(tokio::sync::Semaphore::new(config.max_instances as usize)),
        max_body_bytes: config.max_body_bytes,
        auth,
        db,
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<anyhow::Error>();
    let shutdown = async move {
        // A dropped sender means the load succeeded: then only a signal stops us.
        let load_failed = async {
            match failed_rx.await {
                Ok(e) => e,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown_signal() => {}
            e = load_failed => { let _ = stop_tx.send(e); }
        }
    };
    crate::server::run(
        listener,
        server,
        &config.allowed_origins,
        shutdown,
        config.shutdown_timeout,
    )
    .await;
    if let Ok(e) = stop_rx.await {
        return Err(e.context("loading the application failed"));
    }
    Ok(())
}

/// Report the database's health every few seconds (and recover by itself:
/// the pool reconnects when the database is back).
fn monitor_database(db: Database, describe: Describe, status: Arc<StatusBoard>) {
    tokio::spawn(async move {
        let location = format!("{} at {}", describe.backend, describe.location);
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(2), db.ping()).await {
                Ok(Ok(latency)) => status.report_latency(
                    "database",
                    DepState::Healthy,
                    Some(location.clone()),
                    latency,
                ),
                Ok(Err(e)) => {
                    status.report("database", DepState::Down, Some(format!("{location}: {e}")))
                }
                Err(_) => status.report(
                    "database",
                    DepState::Down,
                    Some(format!("{location}: ping timed out")),
                ),
            }
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => tracing::info!("SIGINT received"),
            _ = term.recv() => tracing::info!("SIGTERM received"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn build(manifest_path: &Path, only: &[String]) -> anyhow::Result<()> {
    let manifest = Manifest::load(manifest_path)?;
    for id in only {
        if !manifest.components.contains_key(id) {
            bail!("no component named `{id}` in {}", manifest.path.display());
        }
    }
    for (id, c) in &manifest.components {
        if !only.is_empty() && !only.contains(id) {
            continue;
        }
        let Some(build) = &c.build else {
            continue;
        };
        let workdir = manifest
            .base_dir
            .join(build.workdir.as_deref().unwrap_or(Path::new(".")));
        println!(
            "building component `{id}`: {} (in {})",
            build.command,
            workdir.display()
        );
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&workdir)
            .status()
            .with_context(|| format!("component `{id}`: cannot run its build command"))?;
        if !status.success() {
            bail!(
                "component `{id}`: build command `{}` failed ({status})",
                build.command
            );
        }
    }
    check_sources(&manifest)
}

fn check(manifest_path: &Path) -> anyhow::Result<()> {
    let config = HostConfig::from_env()?;
    let manifest = Manifest::load(manifest_path)?;
    check_sources(&manifest)?;
    // The same engine settings as `up`, so artifacts it compiles into the
    // cache (e.g. at image build time) are the ones `up` will load.
    let options = config.engine_options();
    let runtime = Runtime::new(&options, Capabilities::new(HostServices::offline()?))?;
    let mut failed = 0;
    for (id, c) in &manifest.components {
        let loaded = runtime
            .load(id, c, &manifest.source_path(c), None)
            .map_err(anyhow::Error::from)
            .and_then(|_| Ok(crate::docs::read_fragment(&manifest, id)?));
        match loaded {
            Ok(_) => println!("ok: component `{id}`"),
            Err(e) => {
                failed += 1;
                println!("error: {e}");
            }
        }
    }
    println!(
        "{}: {} route(s), {} component(s), {failed} with errors",
        manifest.path.display(),
        manifest.routes.len(),
        manifest.components.len()
    );
    if failed > 0 {
        bail!("{failed} component(s) cannot run on this host");
    }
    Ok(())
}

fn bundle(manifest_path: &Path, out: &Path) -> anyhow::Result<()> {
    check(manifest_path)?;
    let manifest = Manifest::load(manifest_path)?;
    let file_name = manifest_path
        .file_name()
        .context("the manifest path names no file")?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // Copying a file onto itself would truncate it.
    let same = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    if same(out, &manifest.base_dir) {
        bail!(
            "--out {} is the app's own directory: bundle into another one",
            out.display()
        );
    }
    let mut files = vec![(PathBuf::from(file_name), manifest.path.clone())];
    for (id, c) in &manifest.components {
        // The bundle must work when moved, so every file lives under the manifest's directory.
        for path in std::iter::once(&c.source).chain(&c.openapi) {
            let inside = path.is_relative()
                && path
                    .components()
                    .all(|part| matches!(part, std::path::Component::Normal(_)));
            if !inside {
                bail!(
                    "component `{id}`: `{}` must be a path inside the manifest's directory to be bundled",
                    path.display()
                );
            }
        }
        files.push((c.source.clone(), manifest.source_path(c)));
        if let Some(openapi) = &c.openapi {
            files.push((openapi.clone(), manifest.base_dir.join(openapi)));
        }
    }
    for (relative, from) in files {
        let to = out.join(&relative);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::copy(&from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        println!("bundled {}", relative.display());
    }
    Ok(())
}

fn healthcheck(addr: Option<SocketAddr>) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let addr = match addr {
        Some(a) => a,
        None => SocketAddr::from(([127, 0, 0, 1], HostConfig::from_env()?.port)),
    };
    let timeout = std::time::Duration::from_secs(3);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..n]);
    let status = line.split_whitespace().nth(1).unwrap_or("?").to_string();
    if status != "200" {
        bail!("{addr}/health answered {status}");
    }
    println!("healthy");
    Ok(())
}
