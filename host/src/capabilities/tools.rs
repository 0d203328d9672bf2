//! `spaceport:platform/tools`: the tools of the components the manifest lets
//! this component use (`tools = ["task-tools"]`). Each call runs in a fresh
//! instance of the tool's component, as the same user (see `crate::tools`).

use super::bindings::tool_provider::{Tool, ToolError};
use super::bindings::tools::{self, Host};
use super::{Capability, InstanceState, RequestInfo};
use crate::manifest::ComponentConfig;
use crate::registry::Registry;
use crate::tools::CallError;
use std::sync::{Arc, OnceLock, Weak};
use wasmtime::component::{HasSelf, Linker};

/// The registry, known once the host has built it (it owns the runtime that
/// owns these capabilities, hence the late, weak link).
pub type RegistryCell = Arc<OnceLock<Weak<Registry>>>;

/// The tools capability.
pub struct Tools {
    pub registry: RegistryCell,
}

/// Per-instance state.
pub struct State {
    granted: Arc<[String]>,
    registry: RegistryCell,
    request: Arc<RequestInfo>,
}

impl Capability for Tools {
    type Grant = Arc<[String]>;
    type State = State;

    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        Ok(tools::add_to_linker::<_, HasSelf<State>>(linker, |s| {
            &mut s.tools
        })?)
    }

    fn grant(&self, _id: &str, component: &ComponentConfig) -> Result<Self::Grant, String> {
        // References to unknown components are rejected by the manifest parser.
        Ok(component.tools.iter().cloned().collect())
    }

    fn instance(&self, grant: &Self::Grant, request: &Arc<RequestInfo>) -> State {
        State {
            granted: grant.clone(),
            registry: self.registry.clone(),
            request: request.clone(),
        }
    }
}

impl State {
    fn registry(&self) -> Option<Arc<Registry>> {
        self.registry.get().and_then(Weak::upgrade)
    }

    fn allowed(&self, component: &str) -> bool {
        self.granted.iter().any(|g| g == component)
    }
}

impl Host for State {
    async fn list(&mut self) -> Vec<Tool> {
        let Some(app) = self.registry().and_then(|r| r.app()) else {
            return Vec::new();
        };
        app.tools
            .values()
            .filter(|e| self.allowed(&e.component.id))
            .map(|e| Tool {
                name: e.tool.name.clone(),
                description: e.tool.description.clone(),
                parameters_schema: e.tool.parameters_schema.clone(),
            })
            .collect()
    }

    async fn call(&mut self, name: String, arguments: String) -> Result<String, ToolError> {
        let registry = self
            .registry()
            .ok_or_else(|| ToolError::Unavailable("the host is shutting down".into()))?;
        let app = registry
            .app()
            .ok_or_else(|| ToolError::Unavailable("the host is still starting".into()))?;
        if !app
            .tools
            .get(&name)
            .is_some_and(|e| self.allowed(&e.component.id))
        {
            return Err(ToolError::UnknownTool(name));
        }
        match registry
            .runtime()
            .call_tool(&app.tools, &name, arguments, &self.request, None)
            .await
        {
            Ok(result) => Ok(result.to_string()),
            Err(CallError::UnknownTool(n)) => Err(ToolError::UnknownTool(n)),
            Err(CallError::Tool(e)) => Err(match e.0 {
                crate::tools::ToolError::UnknownTool(m) => ToolError::UnknownTool(m),
                crate::tools::ToolError::InvalidArguments(m) => ToolError::InvalidArguments(m),
                crate::tools::ToolError::NotFound(m) => ToolError::NotFound(m),
                crate::tools::ToolError::Unavailable(m) => ToolError::Unavailable(m),
                crate::tools::ToolError::Failed(m) => ToolError::Failed(m),
            }),
            // A tool that traps or times out is the agent's problem to report, not the host's.
            Err(CallError::Instance(e)) => Err(ToolError::Failed(format!("tool `{name}`: {e}"))),
        }
    }
}
