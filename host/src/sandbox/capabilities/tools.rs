//! `spaceport:platform/tools`: the tools of the components the manifest lets
//! this component use (`tools = ["task-tools"]`). Calls go to the request's
//! [`ToolHost`] (the app snapshot the request was dispatched with), which
//! runs each in a fresh instance of the tool's component, as the same user.

use super::bindings::tool_types::{Tool, ToolError};
use super::bindings::tools::{self, Host};
use super::{Capability, Denied, GrantError, InstanceState, RequestInfo};
use crate::manifest::ComponentConfig;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// Where tool calls go: the set of tools an app version offers. The app
/// snapshot implements it; a test can put a fake in `RequestInfo::tools`.
#[async_trait::async_trait]
pub trait ToolHost: Send + Sync + 'static {
    /// Every tool, with the id of the component that offers it.
    fn tools(&self) -> Vec<(Arc<str>, Tool)>;
    /// The id of the component offering tool `name`, if any.
    fn provider(&self, name: &str) -> Option<Arc<str>>;
    /// Run tool `name` as `caller`'s principal.
    async fn call(
        &self,
        name: &str,
        arguments: String,
        caller: &RequestInfo,
    ) -> Result<String, ToolError>;
}

/// The tools capability (its host comes with each request).
pub struct Tools;

/// Per-instance state.
pub struct State {
    granted: Arc<[String]>,
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

    fn grant(&self, _id: &str, component: &ComponentConfig) -> Result<Self::Grant, GrantError> {
        // References to components that do not exist are rejected by the manifest parser.
        Ok(component.tools.iter().cloned().collect())
    }

    fn instance(
        &self,
        grant: &Self::Grant,
        request: &Arc<RequestInfo>,
        _deadline: std::time::Instant,
    ) -> State {
        State {
            granted: grant.clone(),
            request: request.clone(),
        }
    }
}

impl State {
    fn allowed(&self, component: &str) -> bool {
        self.granted.iter().any(|g| g == component)
    }
}

impl Host for State {
    async fn list(&mut self) -> Vec<Tool> {
        let Some(host) = &self.request.tools else {
            return Vec::new();
        };
        host.tools()
            .into_iter()
            .filter(|(component, _)| self.allowed(component))
            .map(|(_, tool)| tool)
            .collect()
    }

    async fn call(&mut self, name: String, arguments: String) -> Result<String, ToolError> {
        let host = self
            .request
            .tools
            .clone()
            .ok_or_else(|| ToolError::Unavailable("no tools are available here".into()))?;
        let Some(provider) = host.provider(&name) else {
            return Err(ToolError::UnknownTool(name));
        };
        if !self.allowed(&provider) {
            return Err(ToolError::AccessDenied(
                Denied::new(
                    "tools",
                    &self.request.component_id,
                    format!("the tools of component `{provider}`"),
                    format!("tools = [\"{provider}\"]"),
                )
                .to_string(),
            ));
        }
        // The nested instance is set up and awaited off this instance's fiber.
        let request = self.request.clone();
        super::off_fiber(move || async move { host.call(&name, arguments, &request).await })
            .await
            .unwrap_or_else(|| Err(ToolError::Unavailable("the tool call failed".into())))
    }
}
