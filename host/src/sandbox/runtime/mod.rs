//! The wasmtime side: one engine, components compiled once and
//! pre-instantiated, a fresh store and instance for every request.

pub mod cache;
pub mod exports;
pub mod instance;
mod relay;

use crate::manifest::{ComponentConfig, Limits};
use crate::sandbox::capabilities::llm::{RelayPlaces, RelaySlot};
use crate::sandbox::capabilities::{AbortGuard, Capabilities, Grants, InstanceState, RequestInfo};
use crate::sandbox::limits::{MemoryBudget, MemoryLimiter};
use anyhow::Context as _;
use cache::{ArtifactCache, Origin};
use exports::ToolsPre;
pub use instance::{Busy, InstancePermit, InstanceTask, ServeError, spawn_instance};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap, UpdateDeadline,
};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// How many relays a component may have in progress per instance it may run
/// (`max_concurrent`): a relay costs ~40 KB of host memory, an instance more.
pub const RELAYS_PER_INSTANCE: usize = 16;

/// How often the epoch advances; a runaway guest yields to other requests at
/// this interval and is stopped at the first tick past its deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// The engine settings a host is started with.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Concurrent instances (the pooling allocator's slot count).
    pub max_instances: u32,
    /// Concurrent relays (streamed completions the host pipes to clients
    /// with no instance held; see `llm.relay`).
    pub max_relays: u32,
    /// Use the pooling allocator (falls back to on-demand if it cannot reserve memory).
    pub pooling: bool,
    /// Compiled-artifact cache directory (`None` disables it).
    pub cache_dir: Option<PathBuf>,
    /// Read-only compiled artifacts (e.g. baked into a container image).
    pub precompiled_dir: Option<PathBuf>,
    /// Write a perf map of compiled code, for profiling components with `perf`.
    pub perf_map: bool,
    /// Host-wide cap on all instances' linear memory (None: from the cgroup limit, if any).
    pub memory_budget_mb: Option<u64>,
}

/// The runtime's settings as clap reads them (see `cli::config`); `up`,
/// `check` and `bundle` share them, so artifacts compiled by one load in the others.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// Most instances alive at once (requests and tool calls); 503 `busy` beyond.
    /// Default: follows the memory budget (2 MiB per instance, 16 to 4000).
    #[arg(long = "max-instances", env = "SPACEPORT_MAX_INSTANCES",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_instances: Option<u32>,
    /// Most model streams relayed to clients at once with no instance held
    /// (`llm.relay`); a component asking for more streams in its instance.
    /// Default: 16 per instance slot, within the open-file limit.
    #[arg(long = "max-relays", env = "SPACEPORT_MAX_RELAYS")]
    pub max_relays: Option<u32>,
    /// Use wasmtime's pooling allocator (copy-on-write memory images).
    #[arg(long = "pooling", env = "SPACEPORT_POOLING", default_value_t = true,
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub pooling: bool,
    /// Write /tmp/perf-<pid>.map so `perf` can name components' compiled code.
    #[arg(long = "perf-map", env = "SPACEPORT_PERF_MAP", default_value_t = false,
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub perf_map: bool,
    /// Compile cache directory, or `off` (default: `<data dir>/cache`).
    #[arg(long = "cache-dir", env = "SPACEPORT_CACHE_DIR")]
    pub cache_dir: Option<String>,
    /// Read-only precompiled artifacts (the container image bakes them in).
    #[arg(long = "precompiled-dir", env = "SPACEPORT_PRECOMPILED_DIR")]
    pub precompiled_dir: Option<PathBuf>,
    /// All instances' linear memory together, in MiB (default: 3/4 of the container's
    /// cgroup memory limit, if any); growth past it fails like `memory_mb`.
    #[arg(long = "memory-budget-mb", env = "SPACEPORT_MEMORY_BUDGET_MB")]
    pub memory_budget_mb: Option<u64>,
}

impl EngineArgs {
    /// The engine options, with the cache under `data_dir` unless set or `off`.
    pub fn options(&self, data_dir: &Path) -> EngineOptions {
        let cache_dir = match self.cache_dir.as_deref().map(str::trim) {
            Some("off") | Some("none") => None,
            Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
            _ => Some(data_dir.join("cache")),
        };
        let max_instances = self
            .max_instances
            .unwrap_or_else(|| default_max_instances(self.memory_budget_mb));
        EngineOptions {
            max_instances,
            max_relays: self
                .max_relays
                .unwrap_or_else(|| max_instances.saturating_mul(16)),
            pooling: self.pooling,
            cache_dir,
            precompiled_dir: self.precompiled_dir.clone(),
            perf_map: self.perf_map,
            memory_budget_mb: self.memory_budget_mb,
        }
    }
}

/// How many instances a host with this memory budget (or, without one, this
/// machine's memory) runs at once by default. A held instance costs its
/// linear memory (a small Rust component starts at ~1.1 MiB) plus ~0.3 MiB
/// of host-side state, so 2 MiB each keeps the default inside the budget; the
/// ceiling bounds the pooling allocator's address-space reservation
/// (each slot reserves ~8 GiB of virtual memory).
pub fn default_max_instances(memory_budget_mb: Option<u64>) -> u32 {
    let budget = crate::sandbox::limits::MemoryBudget::from_setting(memory_budget_mb).limit();
    let bytes = if budget < usize::MAX {
        budget
    } else {
        crate::sandbox::limits::physical_memory().map_or(2000 << 21, |total| total / 4 * 3)
    };
    u32::try_from((bytes >> 21).clamp(16, 4000)).unwrap_or(4000)
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
    pub tools: Option<ToolsPre>,
    /// Its instances alive now, at most `limits.max_concurrent` (kept across
    /// hot swaps that leave the limit as it was).
    pub concurrency: Arc<tokio::sync::Semaphore>,
    /// Its relays in progress, at most [`RELAYS_PER_INSTANCE`] ×
    /// `max_concurrent`, so one component cannot take every relay place.
    pub relays: Arc<tokio::sync::Semaphore>,
    pub origin: Origin,
}

/// A streamed response body that stops its instance if it is dropped before
/// its end (the client disconnected).
struct AbortOnDrop {
    body: HyperOutgoingBody,
    abort: Option<tokio::task::AbortHandle>,
}

impl AbortOnDrop {
    fn ended(&mut self) {
        self.abort = None; // the body is complete: the instance may finish its work
    }
}

impl hyper::body::Body for AbortOnDrop {
    type Data = bytes::Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let frame = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        if matches!(frame, std::task::Poll::Ready(None)) || self.body.is_end_stream() {
            self.ended();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(abort) = self.abort.take() {
            tracing::info!("client went away before the response ended; stopping the instance");
            abort.abort();
        }
    }
}

/// Closes a relay slot when dropped, unless disarmed (see `Runtime::start`).
struct CloseOnDrop(Option<RelaySlot>);

impl CloseOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            drop(slot.close());
        }
    }
}

/// An instance that has sent its response head.
struct Started {
    response: hyper::Response<HyperOutgoingBody>,
    /// Stops the instance, if it is still running (its body streams).
    abort: Option<tokio::task::AbortHandle>,
    /// Where it leaves a relay, if it may relay.
    relay: Option<RelaySlot>,
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

/// The engine, the linker with every capability, the compile cache, and the
/// instance slots.
pub struct Runtime {
    engine: Engine,
    /// One permit per live instance, whoever started it (a request, a tool
    /// call over HTTP, or an agent's nested tool call), so nothing can run
    /// more instances than `max_instances`.
    slots: Arc<tokio::sync::Semaphore>,
    /// How many `slots` there are.
    capacity: usize,
    /// One permit per relay in progress (see `relay`).
    relays: Arc<tokio::sync::Semaphore>,
    /// One permit per KiB of relay state held in host memory.
    relay_state: Arc<tokio::sync::Semaphore>,
    /// A component's `max_concurrent` when its manifest sets none.
    default_concurrency: u32,
    /// Linear memory of every live instance together.
    budget: Arc<MemoryBudget>,
    linker: Linker<InstanceState>,
    caps: Capabilities,
    cache: ArtifactCache,
    pub pooling: bool,
}

impl Runtime {
    pub fn new(options: &EngineOptions, caps: Capabilities) -> anyhow::Result<Self> {
        let (engine, pooled) = build_engine(options)?;
        let pooling = pooled.is_some();
        // The pool may hold fewer slots than asked for (address space).
        let max_instances = pooled.unwrap_or(options.max_instances).max(1);
        let mut linker = Linker::new(&engine);
        Capabilities::link(&mut linker)?;
        let cache = ArtifactCache::new(
            &engine,
            options.cache_dir.clone(),
            options.precompiled_dir.clone(),
        );
        start_epoch_ticker(&engine);
        Ok(Self {
            slots: Arc::new(tokio::sync::Semaphore::new(max_instances as usize)),
            capacity: max_instances as usize,
            relays: Arc::new(tokio::sync::Semaphore::new(options.max_relays as usize)),
            relay_state: Arc::new(tokio::sync::Semaphore::new(
                crate::sandbox::capabilities::llm::MAX_RELAY_STATE_TOTAL >> 10,
            )),
            // A quarter of the slots, but never fewer than 16 (or all of a small host's).
            default_concurrency: (max_instances / 4).max(max_instances.min(16)),
            budget: {
                let budget = MemoryBudget::from_setting(options.memory_budget_mb);
                if budget.limit() < usize::MAX {
                    tracing::info!(mb = budget.limit() >> 20, "instance memory budget");
                }
                budget
            },
            engine,
            linker,
            caps,
            cache,
            pooling,
        })
    }

    /// Instance slots (in use, capacity), for metrics.
    pub fn slots(&self) -> (usize, usize) {
        let free = self.slots.available_permits().min(self.capacity);
        (self.capacity - free, self.capacity)
    }

    /// Room for one more instance of `component`: one of its own slots and
    /// one of the host's (callers answer `busy` otherwise).
    pub fn try_slot(&self, component: &LoadedComponent) -> Result<InstancePermit, Busy> {
        let own = component
            .concurrency
            .clone()
            .try_acquire_owned()
            .map_err(|_| Busy::Component(component.id.to_string()))?;
        let host = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Busy::Host)?;
        Ok(InstancePermit {
            _host: host,
            _component: own,
            held: Vec::new(),
        })
    }

    /// An instance slot for `component`, waiting for one until `deadline`
    /// (a relay's resumed instance: its text has reached the client already).
    async fn wait_for_slot(
        &self,
        component: &LoadedComponent,
        deadline: Instant,
    ) -> Option<InstancePermit> {
        let acquire = async {
            let own = component.concurrency.clone().acquire_owned().await.ok()?;
            let host = self.slots.clone().acquire_owned().await.ok()?;
            Some(InstancePermit {
                _host: host,
                _component: own,
                held: Vec::new(),
            })
        };
        tokio::time::timeout_at(deadline.into(), acquire)
            .await
            .ok()
            .flatten()
    }

    /// The semaphores bounding `config`'s instances and relays: the running
    /// version's when its limit is unchanged, so a hot swap does not reset
    /// the counts.
    fn concurrency(
        &self,
        config: &ComponentConfig,
        previous: Option<&LoadedComponent>,
    ) -> (Arc<tokio::sync::Semaphore>, Arc<tokio::sync::Semaphore>) {
        match previous {
            Some(p) if p.limits.max_concurrent == config.limits.max_concurrent => {
                (p.concurrency.clone(), p.relays.clone())
            }
            _ => {
                let instances = config
                    .limits
                    .max_concurrent
                    .unwrap_or(self.default_concurrency) as usize;
                (
                    Arc::new(tokio::sync::Semaphore::new(instances)),
                    Arc::new(tokio::sync::Semaphore::new(
                        instances.saturating_mul(RELAYS_PER_INSTANCE),
                    )),
                )
            }
        }
    }

    /// `component` with the grants of another `config` (same bytes, already
    /// compiled): e.g. a test case's own variables.
    pub fn regrant(
        &self,
        component: &LoadedComponent,
        config: &ComponentConfig,
    ) -> Result<LoadedComponent, LoadError> {
        let grants = self
            .caps
            .grants(&component.id, config)
            .map_err(|e| LoadError::Invalid {
                id: component.id.to_string(),
                path: component.source.clone(),
                message: e.to_string(),
            })?;
        Ok(LoadedComponent {
            id: component.id.clone(),
            source: component.source.clone(),
            hash: component.hash.clone(),
            limits: config.limits,
            grants,
            pre: component.pre.clone(),
            tools: component.tools.clone(),
            concurrency: component.concurrency.clone(),
            relays: component.relays.clone(),
            origin: component.origin,
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
        let grants = self
            .caps
            .grants(id, config)
            .map_err(|e| invalid(e.to_string()))?;
        // Same bytes as the running version: only the manifest settings changed.
        if let Some(prev) = reuse.filter(|p| p.hash == hash) {
            let (concurrency, relays) = self.concurrency(config, Some(prev));
            return Ok(LoadedComponent {
                id: id.into(),
                source: path.to_path_buf(),
                hash,
                limits: config.limits,
                grants,
                pre: prev.pre.clone(),
                tools: prev.tools.clone(),
                concurrency,
                relays,
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
        let (concurrency, relays) = self.concurrency(config, reuse);
        Ok(LoadedComponent {
            id: id.into(),
            source: path.to_path_buf(),
            hash,
            limits: config.limits,
            grants,
            pre,
            tools,
            concurrency,
            relays,
            origin,
        })
    }

    fn pre_instantiate(
        &self,
        component: &Component,
    ) -> anyhow::Result<(Option<ProxyPre<InstanceState>>, Option<ToolsPre>)> {
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(anyhow::Error::from)
            .context("its imports cannot all be satisfied by this host")?;
        let http = ProxyPre::new(pre.clone()).ok();
        let tools = ToolsPre::new(pre).ok();
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
    /// the headers still counts against the slot limit. A component granted
    /// the model may relay a completion (`llm.relay`): its response then goes
    /// on past its instance's body (see `relay`).
    pub async fn serve(
        self: &Arc<Self>,
        component: &Arc<LoadedComponent>,
        info: Arc<RequestInfo>,
        request: hyper::Request<http_body_util::Full<bytes::Bytes>>,
        permit: InstancePermit,
    ) -> Result<hyper::Response<HyperOutgoingBody>, ServeError> {
        use http_body_util::BodyExt;
        let deadline = Instant::now() + Duration::from_millis(component.limits.timeout_ms);
        // Only a component granted the model can relay; the others' responses
        // are as they always were.
        let relaying = component.grants.llm.is_some().then(|| {
            (
                relay::RequestHead::of(&request),
                // The caller's LLM quota lasts as long as the response,
                // relays and resumed instances included, and as long as the
                // first instance (which may outlive its body).
                permit.held.clone(),
            )
        });
        let started = self
            .start(component, info.clone(), request, permit, deadline, None)
            .await?;
        let Started {
            response,
            abort,
            relay: slot,
        } = started;
        Ok(match (slot, relaying) {
            (Some(slot), Some((head, held))) => response.map(|body| {
                relay::RelayingBody::new(
                    body,
                    slot,
                    relay::Continuation {
                        runtime: self.clone(),
                        component: component.clone(),
                        info,
                        head,
                        deadline,
                        span: tracing::Span::current(),
                        held,
                    },
                    abort,
                )
                .boxed_unsync()
            }),
            // Still running while its body streams: if the client goes
            // away before the body ends, the instance goes too (an agent
            // stops calling the model for nobody).
            (_, _) => match abort {
                Some(abort) => response.map(|body| {
                    AbortOnDrop {
                        body,
                        abort: Some(abort),
                    }
                    .boxed_unsync()
                }),
                None => response,
            },
        })
    }

    /// Start one instance of `component` on `request` and wait for its
    /// response head; `resume` (a relay's state and outcome) makes it a
    /// resumed instance.
    async fn start(
        &self,
        component: &Arc<LoadedComponent>,
        info: Arc<RequestInfo>,
        request: hyper::Request<http_body_util::Full<bytes::Bytes>>,
        permit: InstancePermit,
        deadline: Instant,
        resume: Option<(
            Vec<u8>,
            Result<crate::services::llm::Completion, crate::services::llm::LlmError>,
        )>,
    ) -> Result<Started, ServeError> {
        let Some(pre) = component.pre.clone() else {
            return Err(ServeError::Setup(format!(
                "component `{}` does not export wasi:http/incoming-handler",
                component.id
            )));
        };
        let mut store = self.new_store(component, &info, deadline);
        let relay = component.grants.llm.is_some().then(|| {
            store.data_mut().llm.accept_relays(RelayPlaces {
                host: self.relays.clone(),
                component: component.relays.clone(),
                state_kib: self.relay_state.clone(),
            })
        });
        // An instance that fails (traps, runs out of time or memory) ends
        // its body as if it had finished: a relay it left must not run.
        let failed_relay = relay.clone();
        if let Some((state, outcome)) = resume {
            store.data_mut().llm.resume(state, outcome);
        }
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
        // The instance's span: its capability calls (SQL, LLM, tools) are its children.
        let span = tracing::info_span!("component", component = %component.id);
        let task = span.in_scope(|| {
            spawn_instance(
                store,
                component.limits,
                deadline,
                Some(permit),
                |mut store| async move {
                    // Closes the slot unless the handler returned normally;
                    // on a timeout this future is dropped, and so is it.
                    let close = CloseOnDrop(failed_relay);
                    let result = async {
                        let proxy = pre.instantiate_async(&mut store).await?;
                        proxy
                            .wasi_http_incoming_handler()
                            .call_handle(&mut store, req, out)
                            .await
                    }
                    .await;
                    if result.is_ok() {
                        close.disarm();
                    }
                    (store, result)
                },
            )
        });
        // Waiting for the head can be given up (the client left, or a relay
        // was stopped): the instance then stops too.
        let guard = AbortGuard::maybe(task.abort_handle());

        match receiver.await {
            Ok(Ok(response)) => Ok(Started {
                response,
                abort: {
                    guard.disarm();
                    task.abort_handle()
                },
                relay,
            }),
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
        let memory = MemoryLimiter::new(
            (component.limits.memory_mb as usize) << 20,
            self.budget.clone(),
        );
        let state = self
            .caps
            .instance_state(&component.grants, info, memory, deadline);
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

/// The engine, with the pooling allocator when it can reserve its address
/// space, and how many instance slots that pool has. Each slot reserves a few
/// GiB of address space per memory (so that wasm's bounds checks are the MMU's
/// guard pages), in one mapping: ~10,500 slots fill the largest hole in a
/// process's 128 TiB (below the executable, whose address ASLR moves by up to
/// 1 TiB). When the reservation fails, a pool a thirty-second smaller is tried
/// (and `max_instances` follows it), down to 1,024 slots, before giving up on
/// pooling: a failed reservation costs microseconds.
fn build_engine(options: &EngineOptions) -> anyhow::Result<(Engine, Option<u32>)> {
    let mut slots = options.max_instances.max(1);
    let mut pooling = options.pooling;
    while pooling {
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
            // On Linux 6.7+, reset only the pages an instance wrote: without
            // it the first 256 KiB of every slot ever used are memset, which
            // makes never-touched pages resident, and they stay so (after a
            // burst of held streams, ~256 KiB per slot). Measured no slower
            // per instance (bench/inproc). Fiber stacks are not zeroed: that
            // gives their pages back but costs ~1 µs per instance.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .decommit_batch_size(16);
        let mut config = base_config(options);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        match Engine::new(&config) {
            Ok(engine) => {
                if slots < options.max_instances {
                    tracing::warn!(
                        configured = options.max_instances,
                        allowed = slots,
                        "SPACEPORT_MAX_INSTANCES exceeds what the address space holds for the instance pool; using the smaller number"
                    );
                }
                return Ok((engine, Some(slots)));
            }
            Err(e) if slots > 1024 => {
                tracing::info!(error = %format!("{e:#}"), slots, "instance pool too large for the address space; trying a smaller one");
                slots -= slots / 32;
            }
            Err(e) => {
                tracing::warn!(
                    error = %format!("{e:#}"),
                    slots,
                    "pooling allocator unavailable (address-space reservation failed); falling back to on-demand allocation"
                );
                pooling = false;
            }
        }
    }
    let engine = Engine::new(&base_config(options))
        .map_err(|e| anyhow::anyhow!("creating the wasmtime engine: {e:#}"))?;
    Ok((engine, None))
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

#[cfg(test)]
mod tests {
    use super::default_max_instances;

    #[test]
    fn default_instances_follow_the_memory_budget() {
        // 2 MiB per instance, never fewer than 16 nor more than 4000.
        assert_eq!(default_max_instances(Some(1024)), 512);
        assert_eq!(default_max_instances(Some(8)), 16);
        assert_eq!(default_max_instances(Some(1 << 20)), 4000);
    }
}
