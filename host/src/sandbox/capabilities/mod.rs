//! Capabilities: what a component can reach beyond its own memory.
//!
//! Every capability has one file here, named after its WIT interface, and
//! follows one lifecycle (after Spin's factors, without their weight):
//!
//! 1. [`Capability::link`]: add its host bindings to the shared linker, once
//!    per engine.
//! 2. [`Capability::grant`]: check what the manifest grants one component
//!    against what the host really has (the databases it opened, the
//!    components that exist) and prepare it, each time the app is (re)loaded.
//!    An error here rejects the component with a message naming the key.
//! 3. [`Capability::instance`]: build its per-instance state, once per
//!    request, from the grant and the request.
//!
//! Each capability reaches its service through a small trait (`SqlBackend`,
//! `LlmBackend`, `ToolHost`), so a test or a second backend plugs in without
//! touching the capability. Every resource (transactions, streams, WASI
//! handles) lives in the instance's one [`ResourceTable`].
//!
//! Denial is reported one way: an import the manifest does not grant is still
//! linked (componentize-py and componentize-js import every interface of
//! their world), and each call to it fails with [`Denied`], logged once with
//! the component and capability. Functions whose WIT result has an error
//! variant return its `access-denied` case; the few that have none
//! (`context`, `host-status`) trap with the same message, which the host
//! answers as 500 `capability_denied`. `wasi:http` answers with WASI's own
//! `HTTP-request-denied` code.
//!
//! To add a capability: write `foo.wit` in `wit/` and import it in the
//! `platform` world, write `foo.rs` here shaped like its siblings (a
//! capability struct holding its backend trait object, a grant, a per-instance
//! state), add the grant's key to `manifest::ComponentConfig`, and add one
//! line to the [`capabilities!`] list below (plus its service in
//! [`HostServices`] if it has one).

use crate::manifest::ComponentConfig;
use crate::sandbox::limits::MemoryLimiter;
use crate::services::auth::Principal;
use crate::services::status::StatusBoard;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{Linker, ResourceTable};

pub mod context;
pub mod host_status;
pub mod http;
pub mod llm;
pub mod sql;
pub mod tools;
pub mod variables;
pub mod vectors;
pub mod wasi;

/// Runs a service call as a task of its own and waits for it; `None` if the
/// task panicked (logged).
///
/// Why: a host call runs on its instance's fiber stack, and every page of it
/// the call touches stays resident in that pooled stack slot while the
/// instance lives (a held chat stream: minutes). A service's future (an HTTP
/// exchange with its retries, a nested instance) is tens of KB and is laid
/// out in the caller's stack frame when built. Here `make` is called inside
/// the task and its future boxed there, so the worker thread's stack takes
/// that instead, and the fiber only awaits a handle (measured with
/// bench/streams.sh: a held chat stream touched 76 KB of fiber stack, 16 KB
/// after). Dropping the wait (the instance stopped) aborts the task.
pub(crate) async fn off_fiber<F, Fut>(make: F) -> Option<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    use tracing::Instrument;
    let task =
        tokio::spawn(async move { Box::pin(make()).await }.instrument(tracing::Span::current()));
    let _abort = AbortGuard::new(task.abort_handle());
    match task.await {
        Ok(output) => Some(output),
        Err(e) => {
            tracing::error!(error = %e, "a host call's task failed");
            None
        }
    }
}

/// Aborts a task when dropped, unless disarmed.
pub struct AbortGuard(Option<tokio::task::AbortHandle>);

impl AbortGuard {
    pub fn new(task: tokio::task::AbortHandle) -> Self {
        Self(Some(task))
    }

    /// Guard nothing (`None`): for a task that has already finished.
    pub fn maybe(task: Option<tokio::task::AbortHandle>) -> Self {
        Self(task)
    }

    /// Let the task run on.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// Host bindings generated from the platform WIT (`wit/`).
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "spaceport:platform/platform",
        imports: {
            // No error channel in their WIT: a denied call can only trap.
            "spaceport:platform/context": async | trappable,
            "spaceport:platform/host-status": async | trappable,
            default: async,
        },
        with: {
            "spaceport:platform/sql.transaction": super::sql::TransactionHandle,
            "spaceport:platform/llm.completion-stream": super::llm::CompletionStream,
        },
    });
    pub use self::spaceport::platform::*;
}

/// What the host knows about the request an instance serves.
#[derive(Clone, Default)]
pub struct RequestInfo {
    pub request_id: String,
    pub component_id: Arc<str>,
    pub matched_route: String,
    pub params: Vec<(String, String)>,
    pub path_info: String,
    /// The authenticated user, if the route's auth policy produced one.
    pub principal: Option<Principal>,
    /// The tools this request may reach (the app snapshot it was dispatched
    /// with), so a tool call sees the same version of the app as its caller.
    pub tools: Option<Arc<dyn tools::ToolHost>>,
}

impl std::fmt::Debug for RequestInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestInfo")
            .field("request_id", &self.request_id)
            .field("component_id", &self.component_id)
            .field("matched_route", &self.matched_route)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// A manifest grant the host cannot honour; rejects the component.
#[derive(Debug, Clone, thiserror::Error)]
#[error("component.{component}.{key}: {message}")]
pub struct GrantError {
    pub component: String,
    /// The manifest key under `[component.<id>]`, e.g. `sql[0]`.
    pub key: String,
    pub message: String,
}

impl GrantError {
    pub fn new(component: &str, key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            component: component.to_string(),
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A call to something the manifest does not grant the calling component.
/// The one way every capability reports denial (see the module docs).
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "access denied: component `{component}` is not granted {what} (grant it with `{grant}` under [component.{component}] in the manifest)"
)]
pub struct Denied {
    pub component: Arc<str>,
    /// What was asked for, e.g. "the database `tasks`".
    pub what: String,
    /// The manifest setting that would grant it, e.g. `sql = ["tasks"]`.
    pub grant: String,
}

impl Denied {
    /// A denial, logged (with the request id of the current span).
    pub fn new(
        capability: &'static str,
        component: &Arc<str>,
        what: String,
        grant: String,
    ) -> Self {
        tracing::warn!(component = %component, capability, what = %what, "capability denied");
        Self {
            component: component.clone(),
            what,
            grant,
        }
    }
}

/// The lifecycle every capability follows (see the module docs).
pub trait Capability: Send + Sync + 'static {
    /// What the manifest grants one component, prepared for cheap per-request use.
    type Grant: Send + Sync + 'static;
    /// Per-instance state, kept in the instance's store.
    type State: Send + 'static;

    /// Add this capability's host functions to the linker.
    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()>;

    /// Check and prepare what the manifest grants component `id`, against
    /// what this host actually has.
    fn grant(&self, id: &str, component: &ComponentConfig) -> Result<Self::Grant, GrantError>;

    /// Build the state for one instance serving `request`, which must finish by `deadline`.
    fn instance(
        &self,
        grant: &Self::Grant,
        request: &Arc<RequestInfo>,
        deadline: Instant,
    ) -> Self::State;
}

macro_rules! capabilities {
    ($($field:ident: $ty:ty),* $(,)?) => {
        /// The host's capabilities, configured once at startup.
        pub struct Capabilities {
            $(pub $field: $ty,)*
        }

        /// Each capability's grant for one component.
        pub struct Grants {
            $(pub $field: <$ty as Capability>::Grant,)*
        }

        /// Everything one instance's store holds.
        pub struct InstanceState {
            /// Every resource of the instance, whichever capability made it.
            pub table: ResourceTable,
            pub limits: MemoryLimiter,
            $(pub $field: <$ty as Capability>::State,)*
        }

        impl Capabilities {
            /// Link every capability into `linker`.
            pub fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
                use anyhow::Context as _;
                $(<$ty as Capability>::link(linker)
                    .with_context(|| format!("linking capability `{}`", stringify!($field)))?;)*
                Ok(())
            }

            /// Every capability's grant for component `id`.
            pub fn grants(&self, id: &str, component: &ComponentConfig) -> Result<Grants, GrantError> {
                Ok(Grants {
                    $($field: self.$field.grant(id, component)?,)*
                })
            }

            /// A fresh store state for one request.
            pub fn instance_state(
                &self,
                grants: &Grants,
                request: &Arc<RequestInfo>,
                limits: MemoryLimiter,
                deadline: Instant,
            ) -> InstanceState {
                InstanceState {
                    table: ResourceTable::new(),
                    limits,
                    $($field: self.$field.instance(&grants.$field, request, deadline),)*
                }
            }
        }
    };
}

capabilities! {
    wasi: wasi::Wasi,
    http: http::Http,
    context: context::Context,
    variables: variables::Variables,
    host_status: host_status::HostStatus,
    sql: sql::Sql,
    llm: llm::Llm,
    tools: tools::Tools,
    vectors: vectors::Vectors,
}

/// The services the capabilities are built from, each behind its trait.
pub struct HostServices {
    pub status: Arc<StatusBoard>,
    /// The databases this host opened, by the name a manifest grants.
    pub databases: BTreeMap<String, Arc<dyn sql::SqlBackend>>,
    /// Rows and bytes one statement may return.
    pub sql_limits: sql::RowLimits,
    pub llm: Arc<dyn llm::LlmBackend>,
    /// Vector collections (the host database's, by default).
    pub vectors: Arc<dyn crate::services::vectors::VectorStore>,
}

impl Capabilities {
    /// Every capability, configured from the host's services.
    pub fn new(services: HostServices) -> Self {
        Self {
            wasi: wasi::Wasi,
            http: http::Http,
            context: context::Context,
            variables: variables::Variables,
            host_status: host_status::HostStatus {
                board: services.status.clone(),
            },
            sql: sql::Sql {
                databases: services.databases,
                limits: services.sql_limits,
                status: services.status.clone(),
            },
            llm: llm::Llm {
                backend: services.llm,
            },
            tools: tools::Tools,
            vectors: vectors::Vectors {
                store: services.vectors,
                status: services.status.clone(),
            },
        }
    }
}
