//! The wasmtime side: one engine, components compiled once and
//! pre-instantiated, a fresh store and instance for every request.

pub mod cache;
pub mod limits;

use crate::capabilities::{Capabilities, Grants, InstanceState, RequestInfo};
use crate::manifest::{ComponentConfig, Limits};
use anyhow::Context as _;
use cache::{ArtifactCache, Origin};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap, UpdateDeadline,
};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// How often the epoch advances; a runaway guest yields to other requests at
/// this interval and is stopped at the first tick past its deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Engine settings that come from the environment.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Concurrent instances (the pooling allocator's slot count).
    pub max_instances: u32,
    /// Use the pooling allocator (falls back to on-demand if it cannot reserve memory).
    pub pooling: bool,
    /// Compiled-artifact cache directory (`None` disables it).
    pub cache_dir: Option<PathBuf>,
    /// Read-only compiled artifacts (e.g. baked into a container image).
    pub precompiled_dir: Option<PathBuf>,
    /// Write a perf map of compiled code, for profiling components with `perf`.
    pub perf_map: bool,
}

/// A component ready to serve: compiled, linked and pre-instantiated.
pub struct LoadedComponent {
    pub id: Arc<str>,
    pub source: PathBuf,
    /// SHA-256 of the `.wasm`.
    pub hash: String,
    pub limits: Limits,
    pub grants: Grants,
    /// Its `wasi:http/incoming-handler` export, if it has one.
    pub pre: Option<ProxyPre<InstanceState>>,
    /// Its `tool-provider` export, if it has one.
    pub tools: Option<crate::tools::ToolsPre>,
    pub origin: Origin,
}

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("component `{id}`: cannot read {}: {source}", path.display())]
    Read {
        id: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("component `{id}` ({}): {message}", path.display())]
    Invalid {
        id: String,
        path: PathBuf,
        message: String,
    },
}

/// Why a request did not get a response from its component.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the component did not finish within its {0} ms deadline")]
    Timeout(u64),
    #[error("the component exceeded its {0} MiB memory limit")]
    MemoryLimit(u64),
    #[error("the component failed: {0}")]
    Trap(String),
    #[error("the component returned an error instead of a response: {0:?}")]
    ErrorCode(ErrorCode),
    #[error("the request could not be handed to the component: {0}")]
    Setup(String),
}

/// The engine, the linker with every capability, and the compile cache.
pub struct Runtime {
    engine: Engine,
    linker: Linker<InstanceState>,
    caps: Capabilities,
    cache: ArtifactCache,
    pub pooling: bool,
}

impl Runtime {
    pub fn new(options: &EngineOptions, caps: Capabilities) -> anyhow::Result<Self> {
        let (engine, pooling) = build_engine(options)?;
        let mut linker = Linker::new(&engine);
        Capabilities::link(&mut linker)?;
        let cache = ArtifactCache::new(
            &engine,
            options.cache_dir.clone(),
            options.precompiled_dir.clone(),
        );
        start_epoch_ticker(&engine);
        Ok(Self {
            engine,
            linker,
            caps,
            cache,
            pooling,
        })
    }

    /// Compile (or load from cache), link and pre-instantiate one component.
    /// Blocking: compiling can take seconds, so call it off the request path.
    pub fn load(
        &self,
        id: &str,
        config: &ComponentConfig,
        path: &Path,
        reuse: Option<&LoadedComponent>,
    ) -> Result<LoadedComponent, LoadError> {
        let invalid = |message: String| LoadError::Invalid {
            id: id.to_string(),
            path: path.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            id: id.to_string(),
            path: path.to_path_buf(),
            source,
        })?;
        let hash = cache::content_hash(&bytes);
        let grants = self.caps.grants(id, config).map_err(invalid)?;
        // Same bytes as the running version: only the manifest settings changed.
        if let Some(prev) = reuse.filter(|p| p.hash == hash) {
            return Ok(LoadedComponent {
                id: id.into(),
                source: path.to_path_buf(),
                hash,
                limits: config.limits,
                grants,
                pre: prev.pre.clone(),
                tools: prev.tools.clone(),
                origin: prev.origin,
            });
        }
        let (component, origin) = self
            .cache
            .load_or_compile(&self.engine, &hash, &bytes)
            .map_err(|e| invalid(format!("{e:#}")))?;
        let (pre, tools) = self
            .pre_instantiate(&component)
            .map_err(|e| invalid(format!("{e:#}")))?;
        Ok(LoadedComponent {
            id: id.into(),
            source: path.to_path_buf(),
            hash,
            limits: config.limits,
            grants,
            pre,
            tools,
            origin,
        })
    }

    #[allow(clippy::type_complexity)]
    fn pre_instantiate(
        &self,
        component: &Component,
    ) -> anyhow::Result<(
        Option<ProxyPre<InstanceState>>,
        Option<crate::tools::ToolsPre>,
    )> {
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(anyhow::Error::from)
            .context("its imports cannot all be satisfied by this host")?;
        let http = ProxyPre::new(pre.clone()).ok();
        let tools = crate::tools::ToolsPre::new(pre).ok();
        if http.is_none() && tools.is_none() {
            anyhow::bail!(
                "it exports neither `wasi:http/incoming-handler` nor `spaceport:platform/tool-provider`"
            );
        }
        Ok((http, tools))
    }

    /// Run one request in a fresh instance of `component`.
    ///
    /// The instance runs in its own task, which holds `permit` (one instance
    /// slot) until the instance is gone, so a response body streamed after
    /// the headers still counts against the slot limit.
    pub async fn serve(
        &self,
        component: &Arc<LoadedComponent>,
        info: Arc<RequestInfo>,
        request: hyper::Request<http_body_util::Full<bytes::Bytes>>,
        permit: OwnedSemaphorePermit,
    ) -> Result<hyper::Response<HyperOutgoingBody>, ServeError> {
        let Some(pre) = component.pre.clone() else {
            return Err(ServeError::Setup(format!(
                "component `{}` does not export wasi:http/incoming-handler",
                component.id
            )));
        };
        let deadline = Instant::now() + Duration::from_millis(component.limits.timeout_ms);
        let mut store = self.new_store(component, &info, deadline);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let setup = |e: wasmtime::Error| ServeError::Setup(format!("{e:#}"));
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(setup)?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(setup)?;
        let task = spawn_instance(
            store,
            component.limits,
            deadline,
            Some(permit),
            |mut store| async move {
                let result = async {
                    let proxy = pre.instantiate_async(&mut store).await?;
                    proxy
                        .wasi_http_incoming_handler()
                        .call_handle(&mut store, req, out)
                        .await
                }
                .await;
                (store, result)
            },
        );

        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(ServeError::ErrorCode(code)),
            // The outparam was dropped unset: the task's result says why.
            Err(_) => match task.await {
                Err(e) => Err(e),
                Ok(()) => Err(ServeError::Trap(
                    "the component returned without sending a response".into(),
                )),
            },
        }
    }
    /// A fresh store for one instance of `component`: its capabilities'
    /// state, its memory cap, and a deadline checked on every epoch tick.
    pub fn new_store(
        &self,
        component: &LoadedComponent,
        info: &Arc<RequestInfo>,
        deadline: Instant,
    ) -> Store<InstanceState> {
        let memory = limits::MemoryLimiter::new((component.limits.memory_mb as usize) << 20);
        let state = self.caps.instance_state(&component.grants, info, memory);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // Yield to tokio on every tick until the deadline, so a spinning guest
        // neither overruns nor starves other requests.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }
}

/// Run `run` (which instantiates and calls into the store), holding `permit`
/// until the instance is gone, within `deadline`; a trap is classified as
/// timeout, memory limit or failure.
///
/// The first poll happens right here: a short request (most of them) finishes
/// in it, with no task spawned and no other worker woken. An instance that is
/// still running after it (streaming a body, waiting on I/O or the LLM, or
/// yielding at an epoch tick) moves to its own task and finishes there.
pub fn spawn_instance<R, F, Fut>(
    store: Store<InstanceState>,
    limits: Limits,
    deadline: Instant,
    permit: Option<OwnedSemaphorePermit>,
    run: F,
) -> InstanceTask<R>
where
    R: Send + 'static,
    F: FnOnce(Store<InstanceState>) -> Fut + Send + 'static,
    Fut: Future<Output = (Store<InstanceState>, wasmtime::Result<R>)> + Send + 'static,
{
    // The instance runs in the request's span, so its log lines (traps, denied
    // outbound calls, its own output) carry the request id.
    let mut task = Box::pin(
        async move {
            let _permit = permit;
            match tokio::time::timeout_at(deadline.into(), run(store)).await {
                Ok((_, Ok(r))) => Ok(r),
                Ok((store, Err(e))) => Err(classify(e, store.data().limits.hit(), &limits)),
                // The guest was waiting on the host (I/O, a timer) past its deadline.
                Err(_) => Err(ServeError::Timeout(limits.timeout_ms)),
            }
        }
        .instrument(tracing::Span::current()),
    );
    // A wake-up during this poll is not lost: a spawned task is always polled
    // once more, with its real waker.
    let mut cx = Context::from_waker(Waker::noop());
    // A panic in here would unwind through the connection's task and reset it
    // without an answer; a spawned task's panic is a JoinError, so match that.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.as_mut().poll(&mut cx))) {
        Ok(Poll::Ready(result)) => InstanceTask::Done(Some(result)),
        Ok(Poll::Pending) => InstanceTask::Spawned(tokio::spawn(task)),
        Err(_) => InstanceTask::Done(Some(Err(ServeError::Trap(
            "the instance panicked in the host".into(),
        )))),
    }
}

/// A running instance's outcome (see [`spawn_instance`]).
pub enum InstanceTask<R> {
    /// It finished during the first poll.
    Done(Option<Result<R, ServeError>>),
    /// It runs in its own task.
    Spawned(tokio::task::JoinHandle<Result<R, ServeError>>),
}

// Nothing is pinned in place: the result is moved out and JoinHandle is Unpin.
impl<R> Unpin for InstanceTask<R> {}

impl<R> Future for InstanceTask<R> {
    type Output = Result<R, ServeError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            InstanceTask::Done(result) => Poll::Ready(
                result
                    .take()
                    .unwrap_or_else(|| Err(ServeError::Trap("instance result taken twice".into()))),
            ),
            InstanceTask::Spawned(handle) => Pin::new(handle).poll(cx).map(|joined| {
                joined
                    .unwrap_or_else(|e| Err(ServeError::Trap(format!("instance task failed: {e}"))))
            }),
        }
    }
}

fn classify(error: wasmtime::Error, memory_hit: bool, limits: &Limits) -> ServeError {
    if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return ServeError::Timeout(limits.timeout_ms);
    }
    if memory_hit {
        return ServeError::MemoryLimit(limits.memory_mb);
    }
    let trap = error
        .downcast_ref::<Trap>()
        .map(|t| t.to_string())
        .unwrap_or_else(|| format!("{error:#}"));
    tracing::warn!(error = %format!("{error:?}"), "component trapped");
    ServeError::Trap(trap)
}

fn base_config(options: &EngineOptions) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.memory_init_cow(true);
    if options.perf_map {
        // Names JIT code in /tmp/perf-<pid>.map so `perf report` can see into components.
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

/// The engine, with the pooling allocator when it can reserve its address space.
fn build_engine(options: &EngineOptions) -> anyhow::Result<(Engine, bool)> {
    if options.pooling {
        let slots = options.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_core_instances(slots.saturating_mul(8))
            .total_memories(slots.saturating_mul(2))
            .total_tables(slots.saturating_mul(4))
            .total_stacks(slots)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            // Keep a little of each slot resident: reusing it then needs no
            // page faults, and fewer madvise calls mean fewer TLB shootdowns.
            .linear_memory_keep_resident(256 << 10)
            .table_keep_resident(16 << 10)
            .decommit_batch_size(16);
        let mut config = base_config(options);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        match Engine::new(&config) {
            Ok(engine) => return Ok((engine, true)),
            Err(e) => tracing::warn!(
                error = %format!("{e:#}"),
                slots,
                "pooling allocator unavailable (address-space reservation failed); falling back to on-demand allocation"
            ),
        }
    }
    let engine = Engine::new(&base_config(options))
        .map_err(|e| anyhow::anyhow!("creating the wasmtime engine: {e:#}"))?;
    Ok((engine, false))
}

fn start_epoch_ticker(engine: &Engine) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch ticker thread");
}
