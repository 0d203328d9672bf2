//! Capabilities: what a component can reach beyond its own memory.
//!
//! Every capability has one file here, named after its WIT interface, and
//! follows one lifecycle (after Spin's factors, without their weight):
//!
//! 1. [`Capability::link`]: add its host bindings to the shared linker, once
//!    per engine.
//! 2. [`Capability::grant`]: check what the manifest grants one component and
//!    prepare it, once each time that component is (re)loaded. An error here
//!    rejects the component with a message naming it.
//! 3. [`Capability::instance`]: build its per-instance state, once per
//!    request, from the grant and the request.
//!
//! To add a capability: write `foo.rs` shaped like its siblings and add one
//! line to the [`capabilities!`] list below.

use crate::manifest::ComponentConfig;
use crate::runtime::limits::MemoryLimiter;
use std::sync::Arc;
use wasmtime::component::{Linker, ResourceTable};

pub mod context;
pub mod host_status;
pub mod http;
pub mod llm;
pub mod sql;
pub mod tools;
pub mod variables;
pub mod wasi;

/// Host bindings generated from the platform WIT (`wit/`).
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "spaceport:platform/platform",
        imports: { default: async },
        with: {
            "spaceport:platform/sql.transaction": super::sql::TransactionHandle,
            "spaceport:platform/llm.completion-stream": super::llm::CompletionStream,
        },
    });
    pub use self::spaceport::platform::*;
}

/// What the host knows about the request an instance serves.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub request_id: String,
    pub component_id: Arc<str>,
    pub matched_route: String,
    pub params: Vec<(String, String)>,
    pub path_info: String,
    /// The authenticated user, once auth lands.
    pub principal: Option<Principal>,
}

/// An authenticated user.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub email: String,
}

/// The lifecycle every capability follows (see the module docs).
pub trait Capability: Send + Sync + 'static {
    /// What the manifest grants one component, prepared for cheap per-request use.
    type Grant: Send + Sync + 'static;
    /// Per-instance state, kept in the instance's store.
    type State: Send + 'static;

    /// Add this capability's host functions to the linker.
    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()>;

    /// Check and prepare what the manifest grants component `id`.
    fn grant(&self, id: &str, component: &ComponentConfig) -> Result<Self::Grant, String>;

    /// Build the state for one instance serving `request`.
    fn instance(&self, grant: &Self::Grant, request: &Arc<RequestInfo>) -> Self::State;
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
            pub fn grants(&self, id: &str, component: &ComponentConfig) -> Result<Grants, String> {
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
            ) -> InstanceState {
                InstanceState {
                    table: ResourceTable::new(),
                    limits,
                    $($field: self.$field.instance(&grants.$field, request),)*
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
}

/// What the capabilities are built from: the host's shared services.
pub struct HostServices {
    pub status: Arc<crate::status::StatusBoard>,
    pub databases: std::collections::BTreeMap<String, crate::db::Database>,
    pub llm: Arc<crate::llm::LlmClient>,
    pub registry: tools::RegistryCell,
}

impl HostServices {
    /// Services that reach nothing: for checking components without serving.
    pub fn offline() -> anyhow::Result<Self> {
        Ok(Self {
            status: Arc::new(crate::status::StatusBoard::new()),
            databases: Default::default(),
            llm: Arc::new(crate::llm::LlmClient::new(
                crate::llm::LlmConfig::from_env()?,
            )?),
            registry: Default::default(),
        })
    }
}

impl Capabilities {
    /// Every capability, configured from the host's shared services.
    pub fn new(services: HostServices) -> Self {
        Self {
            wasi: wasi::Wasi,
            http: http::Http,
            context: context::Context,
            variables: variables::Variables,
            host_status: host_status::HostStatus {
                board: services.status,
            },
            sql: sql::Sql {
                databases: services.databases,
            },
            llm: llm::Llm {
                client: services.llm,
            },
            tools: tools::Tools {
                registry: services.registry,
            },
        }
    }
}
