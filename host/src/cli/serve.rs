//! `spaceport up`: wires the layers together. Services first (status board,
//! databases, LLM client, auth), then the capabilities over them, the runtime,
//! the registry (loading in the background so the port answers at once) and
//! the HTTP server.

use super::config::HostConfig;
use crate::app::deploy::Deployer;
use crate::app::registry::Registry;
use crate::app::watch;
use crate::http::admin::{Admin, MIN_TOKEN_BYTES};
use crate::http::builtin::Builtins;
use crate::http::server::{self, Server};
use crate::manifest::Manifest;
use crate::sandbox::capabilities::llm::ClientBackend;
use crate::sandbox::capabilities::sql::{PooledDatabase, RowLimits, SqlBackend, SqlTransaction};
use crate::sandbox::capabilities::{Capabilities, HostServices};
use crate::sandbox::runtime::{EngineOptions, Runtime};
use crate::services::auth::Auth;
use crate::services::databases::Databases;
use crate::services::db::{Database, Describe, QueryLimits, Rows, SqlError, Value};
use crate::services::deploy::DeployStore;
use crate::services::llm::{LlmClient, LlmConfig};
use crate::services::qdrant::Qdrant;
use crate::services::status::{DepState, StatusBoard};
use crate::services::vectors::{SqlVectors, VectorStore};
use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Start the async runtime and serve until a signal (or a failed first load).
pub fn up(
    config: HostConfig,
    manifest: Manifest,
    listen: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers())
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
    let origins = config.allowed_origins();
    for origin in &origins {
        crate::http::cors::validate_origin(origin)
            .map_err(|m| anyhow::anyhow!("ALLOWED_ORIGINS: {m}"))?;
    }
    let status = Arc::new(StatusBoard::new());
    status.set_app(&manifest.application.name, &manifest.application.version);
    let auth = Arc::new(Auth::new(&config.auth, config.production())?);
    let databases = open_databases(&config, &manifest, &status).await?;
    let llm = open_llm(&config.llm, &status)?;
    // The sql capability can grant exactly the databases opened here (the
    // manifest's, as of this start); the host's own is not among them.
    let services = HostServices {
        status: status.clone(),
        databases: databases
            .named
            .iter()
            .map(|(name, db)| {
                let db: Arc<dyn SqlBackend> = Arc::new(PooledDatabase::new(name, db.clone()));
                (name.clone(), db)
            })
            .collect(),
        sql_limits: RowLimits {
            max_rows: config.db.max_rows,
            max_bytes: config.db.max_bytes,
        },
        llm,
        vectors: open_vectors(&config, &databases.host, &status)?,
    };
    let db = databases.host.clone();
    crate::services::metrics::METRICS.watch_pool("host", db.clone());
    for (name, pool) in &databases.named {
        crate::services::metrics::METRICS.watch_pool(name, pool.clone());
    }
    watch_statements(
        Arc::new(databases),
        Duration::from_millis(config.db.statement_timeout_ms),
    );
    let mut options = config.engine.options(&config.db.data_dir);
    fit_streams_to_descriptors(&mut options, &config.llm);
    let runtime = Arc::new(Runtime::new(&options, Capabilities::new(services))?);
    let registry = Arc::new(Registry::new(
        runtime.clone(),
        status.clone(),
        manifest.path.clone(),
    ));

    let addr = listen.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], config.port)));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(
        app = %manifest.application.name,
        pooling = runtime.pooling,
        max_instances = options.max_instances,
        max_relays = options.max_relays,
        origins = ?origins,
        "Spaceport listening on http://{}",
        listener.local_addr()?
    );
    let deployer = Arc::new(Deployer::new(
        registry.clone(),
        DeployStore::new(db.clone()),
        &config.db.data_dir,
    ));
    let admin = match config.admin_token.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(token) if token.len() < MIN_TOKEN_BYTES => anyhow::bail!(
            "SPACEPORT_ADMIN_TOKEN must be at least {MIN_TOKEN_BYTES} bytes (e.g. `openssl rand -hex 32`)"
        ),
        Some(token) => {
            tracing::info!("admin API on: /admin/components (spaceport deploy)");
            Some(Admin::new(
                token,
                deployer.clone(),
                usize::try_from(config.admin_max_upload_mb << 20).unwrap_or(usize::MAX),
                Duration::from_secs(config.body_timeout_secs),
            ))
        }
    };
    let failed = load_in_background(
        registry.clone(),
        deployer,
        Duration::from_millis(config.deploy_poll_ms),
        config.watch,
    );
    crate::services::metrics::METRICS.set_enabled(config.metrics);
    let llm_limits = Arc::new(crate::http::llm_limits::LlmLimits::new(
        config.llm_rate_per_minute,
        config.llm_concurrent_per_user,
    ));
    // ALLOWED_ORIGINS as /mcp's Origin check and the session cookie's rule read them.
    let origin_rules = crate::http::cors::Origins::new(&origins);
    let mcp = config.mcp.then(|| {
        crate::http::mcp::Mcp::new(
            &config.mcp(),
            registry.clone(),
            llm_limits.clone(),
            origin_rules.clone(),
        )
    });
    let server = Arc::new(Server {
        session_origins: origin_rules,
        registry,
        max_body_bytes: config.max_body_bytes,
        body_timeout: Duration::from_secs(config.body_timeout_secs),
        header_timeout: Duration::from_secs(config.header_timeout_secs),
        auth: auth.clone(),
        llm_limits,
        mcp,
        builtins: Builtins {
            auth,
            db,
            status: status.clone(),
        },
        admin,
        metrics_token: config
            .metrics_token
            .clone()
            .filter(|t| !t.trim().is_empty()),
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<anyhow::Error>();
    let shutdown = async move {
        // A dropped sender means the load succeeded: then only a signal stops us.
        let load_failed = async {
            match failed.await {
                Ok(e) => e,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown_signal() => {}
            e = load_failed => { let _ = stop_tx.send(e); }
        }
    };
    server::run(
        listener,
        server,
        &origins,
        shutdown,
        config.shutdown_timeout(),
    )
    .await;
    if let Ok(e) = stop_rx.await {
        return Err(e.context("loading the application failed"));
    }
    Ok(())
}

/// Raise the soft open-file limit to the hard one (logging both), and keep
/// `max_instances` and `max_relays` within what it allows: a held stream (a
/// streaming instance or a relay) holds the client's connection and its share
/// of the model API's (a whole one over HTTP/1.1, one in
/// `LLM_STREAMS_PER_CONNECTION` over HTTP/2), and the pools, the listener and
/// the compile cache need some. Instances come first; relays get what is
/// left. Running out would turn accepts and database opens into errors; a
/// full host answers 503 `busy`, and a component refused a relay streams in
/// its instance.
fn fit_streams_to_descriptors(options: &mut EngineOptions, llm: &LlmConfig) {
    let (soft, hard) = match rlimit::Resource::NOFILE.get() {
        Ok(limits) => limits,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-file limit");
            return;
        }
    };
    let raised = rlimit::increase_nofile_limit(hard).unwrap_or(soft);
    tracing::info!(
        soft_before = soft,
        hard,
        soft_now = raised,
        "open-file limit"
    );
    let spare = raised.saturating_sub(256);
    let fits = if llm.may_use_http2() {
        let per = u64::from(llm.streams_per_connection);
        spare * per / (per + 1)
    } else {
        spare / 2
    };
    if u64::from(options.max_instances) > fits {
        tracing::warn!(
            configured = options.max_instances,
            allowed = fits,
            "SPACEPORT_MAX_INSTANCES exceeds what the open-file limit allows; using the smaller number"
        );
        options.max_instances = u32::try_from(fits.max(1)).unwrap_or(u32::MAX);
    }
    let left = fits.saturating_sub(options.max_instances.into());
    if u64::from(options.max_relays) > left {
        tracing::info!(
            configured = options.max_relays,
            allowed = left,
            "relays limited by the open-file limit"
        );
        options.max_relays = u32::try_from(left).unwrap_or(u32::MAX);
    }
}

/// Open (and migrate) the host's database and the manifest's, warn about
/// setups that lose data, and keep their health on the status board.
async fn open_databases(
    config: &HostConfig,
    manifest: &Manifest,
    status: &Arc<StatusBoard>,
) -> anyhow::Result<Databases> {
    let databases = Databases::open(&config.db, &manifest.database_specs()).await?;
    if matches!(databases.host, Database::Sqlite(_)) {
        // Where we run, not a setting: Kubernetes sets this in every pod.
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
            tracing::warn!(
                "running under Kubernetes on the embedded SQLite database: every replica has its own data; \
                 set DATABASE_URL to a shared PostgreSQL before running more than one replica"
            );
        } else if config.production() {
            tracing::warn!(
                "DATABASE_URL is not set: data lives in SQLite under SPACEPORT_DATA_DIR and is lost with the container \
                 unless that directory is persistent storage"
            );
        }
    }
    let describe = databases.describe.clone();
    tracing::info!(
        pool_size = config.db.pool_size,
        databases = ?databases.named.keys().collect::<Vec<_>>(),
        "Using {} at {}",
        describe.backend,
        describe.location
    );
    monitor_database(databases.host.clone(), describe, status.clone());
    Ok(databases)
}

/// PostgreSQL: every two seconds, end component statements past the statement
/// timeout (see `Databases::end_overrunning`). Off the request path.
fn watch_statements(databases: Arc<Databases>, limit: Duration) {
    if databases.roles.is_empty() {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            match databases.end_overrunning(limit).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    statements = n,
                    limit_ms = limit.as_millis() as u64,
                    "ended component statements that ran past the statement timeout"
                ),
                Err(e) => tracing::debug!(error = %e, "checking for overrunning statements failed"),
            }
        }
    });
}

/// The LLM backend, and its state on the status board.
fn open_llm(config: &LlmConfig, status: &StatusBoard) -> anyhow::Result<Arc<ClientBackend>> {
    let llm = LlmClient::new(config.clone())?;
    if config.configured() {
        tracing::info!(base_url = %config.base_url, model = %config.model, "LLM configured");
        status.report(
            "llm",
            DepState::Configured,
            Some(format!("model {}", config.model)),
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
    Ok(Arc::new(ClientBackend(Arc::new(llm))))
}

/// Load the app in the background so the port answers ("starting") at once.
/// The receiver gets the error if the first load fails.
fn load_in_background(
    registry: Arc<Registry>,
    deployer: Arc<Deployer>,
    deploy_poll: Duration,
    watch_files: bool,
) -> tokio::sync::oneshot::Receiver<anyhow::Error> {
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<anyhow::Error>();
    tokio::spawn(async move {
        let started = Instant::now();
        // Versions deployed earlier (here, or by another replica) serve from
        // the first load on.
        if let Err(e) = deployer.sync().await {
            let _ = failed_tx.send(anyhow::anyhow!("reading the deployment log: {e}"));
            return;
        }
        match registry.reload().await {
            Ok(report) => {
                deployer.follow(deploy_poll);
                // Watch before saying "ready", so no change after it is missed.
                if watch_files && let Err(e) = watch::spawn(registry) {
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
    failed_rx
}

/// The vector store: Qdrant when `QDRANT_URL` is set (its health joins
/// `/health` as `vectors`), else the embedded one in the host's database.
fn open_vectors(
    config: &HostConfig,
    host_db: &Database,
    status: &Arc<StatusBoard>,
) -> anyhow::Result<Arc<dyn VectorStore>> {
    let Some(url) = config
        .qdrant
        .qdrant_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    else {
        if config.qdrant.qdrant_collection.is_some()
            || config.qdrant.qdrant_collection_name.is_some()
        {
            tracing::warn!(
                "QDRANT_COLLECTION is set without QDRANT_URL: ignored (the embedded store is used)"
            );
        }
        return Ok(Arc::new(SqlVectors::new(
            host_db.clone(),
            config.qdrant.vectors_max_mb << 20,
            config.qdrant.vectors_cache_mb << 20,
        )));
    };
    let qdrant =
        Arc::new(Qdrant::new(&config.qdrant, url).map_err(|e| anyhow::anyhow!("QDRANT_URL: {e}"))?);
    tracing::info!(
        prefix = %config.qdrant.qdrant_prefix,
        existing = qdrant.existing_collection().unwrap_or("-"),
        grant = %config.qdrant.qdrant_collection_grant,
        "vector store: Qdrant"
    );
    status.report("vectors", DepState::Starting, Some("Qdrant".into()));
    let (probe, status) = (qdrant.clone(), status.clone());
    tokio::spawn(async move {
        loop {
            match probe.ping().await {
                Ok(latency) => status.report_latency(
                    "vectors",
                    DepState::Healthy,
                    Some("Qdrant".into()),
                    latency,
                ),
                // The reason (an address, an HTTP status) is in the log; /health says only "down".
                Err(_) => status.report("vectors", DepState::Down, Some("Qdrant".into())),
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    Ok(qdrant)
}

/// Report the database's health every few seconds (and recover by itself:
/// the pool reconnects when the database is back).
fn monitor_database(db: Database, describe: Describe, status: Arc<StatusBoard>) {
    tokio::spawn(async move {
        // The public /health names the state and the backend, never a host,
        // port, database name or file path: those are logged instead.
        let backend = describe.backend.to_string();
        let location = describe.location;
        loop {
            match tokio::time::timeout(Duration::from_secs(2), db.ping()).await {
                Ok(Ok(latency)) => status.report_latency(
                    "database",
                    DepState::Healthy,
                    Some(backend.clone()),
                    latency,
                ),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, location = %location, "database ping failed");
                    status.report(
                        "database",
                        DepState::Down,
                        Some(format!("{backend}: unreachable")),
                    )
                }
                Err(_) => {
                    tracing::warn!(location = %location, "database ping timed out");
                    status.report(
                        "database",
                        DepState::Down,
                        Some(format!("{backend}: ping timed out")),
                    )
                }
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
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

/// Services that reach nothing, for checking components without serving:
/// the manifest's database names, as `up` opens them (so grants validate
/// alike), none connected.
pub fn offline_services(manifest: Option<&Manifest>) -> anyhow::Result<HostServices> {
    Ok(HostServices {
        status: Arc::new(StatusBoard::new()),
        databases: manifest
            .into_iter()
            .flat_map(|m| m.databases.keys())
            .map(|name| (name.clone(), Arc::new(NotConnected) as Arc<dyn SqlBackend>))
            .collect(),
        sql_limits: RowLimits {
            max_rows: 0,
            max_bytes: 0,
        },
        llm: Arc::new(ClientBackend(Arc::new(LlmClient::new(
            LlmConfig::default(),
        )?))),
        // Never called: `check` and `bundle` link and validate, they do not run.
        vectors: Arc::new(crate::services::vectors::MemoryVectors::default()),
    })
}

/// A database `check` knows by name but never opens.
struct NotConnected;

#[async_trait::async_trait]
impl SqlBackend for NotConnected {
    async fn query(
        &self,
        _statement: &str,
        _params: &[Value],
        _limits: &QueryLimits,
    ) -> Result<Rows, SqlError> {
        Err(SqlError::Unavailable(
            "not connected (offline check)".into(),
        ))
    }

    async fn execute(
        &self,
        _statement: &str,
        _params: &[Value],
        _limits: &QueryLimits,
    ) -> Result<u64, SqlError> {
        Err(SqlError::Unavailable(
            "not connected (offline check)".into(),
        ))
    }

    async fn begin(&self, _limits: &QueryLimits) -> Result<Box<dyn SqlTransaction>, SqlError> {
        Err(SqlError::Unavailable(
            "not connected (offline check)".into(),
        ))
    }
}
