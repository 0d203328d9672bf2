//! Tool dispatch: components that export `spaceport:platform/tool-provider`
//! offer tools; the host lists them and runs each call in a fresh instance of
//! its component, as the calling user, with that component's own limits and
//! grants. Used by the `/api/tools` endpoints and by agent components.

use crate::sandbox::capabilities::RequestInfo;
use crate::sandbox::capabilities::bindings::tool_types::ToolError as WitToolError;
use crate::sandbox::runtime::{
    InstancePermit, LoadedComponent, Runtime, ServeError, spawn_instance,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::sandbox::runtime::exports::{Tool, ToolError};

/// One tool and the component that provides it.
#[derive(Clone)]
pub struct ToolEntry {
    pub tool: Tool,
    /// The arguments' JSON Schema, parsed.
    pub schema: serde_json::Value,
    /// The same schema, compiled: every call's arguments are checked against
    /// it by the host before the tool's instance exists, whoever the caller
    /// (HTTP, an agent, later MCP).
    pub validator: Arc<jsonschema::Validator>,
    pub component: Arc<LoadedComponent>,
}

/// Every tool of an application version, by name.
pub type Catalog = BTreeMap<String, ToolEntry>;

/// How long `describe` may take.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a tool call did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no tool named `{0}`")]
    UnknownTool(String),
    #[error("{0}")]
    Tool(ToolErrorMessage),
    #[error(transparent)]
    Instance(#[from] ServeError),
}

impl CallError {
    /// The stable code callers see (`invalid_arguments`, `component_timeout`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownTool(_) => "unknown_tool",
            Self::Tool(m) => match &m.0 {
                ToolError::UnknownTool(_) => "unknown_tool",
                ToolError::InvalidArguments(_) => "invalid_arguments",
                ToolError::NotFound(_) => "not_found",
                ToolError::Unavailable(_) => "unavailable",
                ToolError::Failed(_) => "tool_failed",
                ToolError::AccessDenied(_) => "capability_denied",
            },
            Self::Instance(ServeError::Timeout(_)) => "component_timeout",
            Self::Instance(ServeError::MemoryLimit(_)) => "memory_limit_exceeded",
            Self::Instance(ServeError::Denied(_)) => "capability_denied",
            Self::Instance(_) => "component_failed",
        }
    }
}

/// A [`ToolError`] with a readable message.
#[derive(Debug)]
pub struct ToolErrorMessage(pub ToolError);

impl std::fmt::Display for ToolErrorMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            ToolError::UnknownTool(m) => write!(f, "unknown tool: {m}"),
            ToolError::InvalidArguments(m) => write!(f, "invalid arguments: {m}"),
            ToolError::NotFound(m) => write!(f, "not found: {m}"),
            ToolError::Unavailable(m) => write!(f, "unavailable: {m}"),
            ToolError::Failed(m) => write!(f, "failed: {m}"),
            ToolError::AccessDenied(m) => write!(f, "{m}"),
        }
    }
}

/// The arguments as the tool's schema demands (`invalid-arguments` naming
/// the first few problems and where they are, otherwise).
fn check_arguments(entry: &ToolEntry, arguments: &str) -> Result<(), CallError> {
    let invalid = |m: String| CallError::Tool(ToolErrorMessage(ToolError::InvalidArguments(m)));
    let value: serde_json::Value =
        serde_json::from_str(arguments).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
    let problems: Vec<String> = entry
        .validator
        .iter_errors(&value)
        .take(3)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(invalid(problems.join("; ")))
    }
}

impl CallError {
    /// The error as the `tools` capability hands it to a calling component.
    pub fn into_wit(self, name: &str) -> WitToolError {
        match self {
            CallError::UnknownTool(n) => WitToolError::UnknownTool(n),
            // Providers and callers share `tool-types`: passed through as is.
            CallError::Tool(ToolErrorMessage(e)) => e,
            // A tool that traps or times out is the agent's problem to report, not the host's.
            CallError::Instance(e) => WitToolError::Failed(format!("tool `{name}`: {e}")),
        }
    }
}

impl Runtime {
    /// The tools `component` offers (empty if it exports no tool-provider).
    pub async fn describe_tools(
        &self,
        component: &Arc<LoadedComponent>,
    ) -> Result<Vec<Tool>, ServeError> {
        let Some(pre) = component.tools.clone() else {
            return Ok(Vec::new());
        };
        let info = Arc::new(RequestInfo {
            request_id: "describe-tools".into(),
            component_id: component.id.clone(),
            ..RequestInfo::default()
        });
        let deadline = Instant::now() + DESCRIBE_TIMEOUT;
        let store = self.new_store(component, &info, deadline);
        // Host-internal (at load time): takes no request slot.
        let task = spawn_instance(
            store,
            component.limits,
            deadline,
            None,
            |mut store| async move {
                let result = async {
                    let exports = pre.instantiate_async(&mut store).await?;
                    exports
                        .spaceport_platform_tool_provider()
                        .call_describe(&mut store)
                        .await
                }
                .await;
                (store, result)
            },
        );
        task.await
    }

    /// Run tool `name` from `catalog` with `arguments` (JSON text) for `info`'s principal.
    pub async fn call_tool(
        &self,
        catalog: &Catalog,
        name: &str,
        arguments: String,
        info: &RequestInfo,
        permit: Option<InstancePermit>,
    ) -> Result<serde_json::Value, CallError> {
        let outcome = self.invoke(catalog, name, arguments, info, permit).await;
        // Tool names come from the catalog; a name nobody offers is one label.
        let label = if catalog.contains_key(name) {
            name
        } else {
            "-"
        };
        let code = outcome.as_ref().map_or_else(CallError::code, |_| "ok");
        crate::services::metrics::METRICS.tool_call(label, code);
        outcome
    }

    async fn invoke(
        &self,
        catalog: &Catalog,
        name: &str,
        arguments: String,
        info: &RequestInfo,
        permit: Option<InstancePermit>,
    ) -> Result<serde_json::Value, CallError> {
        let entry = catalog
            .get(name)
            .ok_or_else(|| CallError::UnknownTool(name.to_string()))?;
        check_arguments(entry, &arguments)?;
        let component = &entry.component;
        let pre = component
            .tools
            .clone()
            .ok_or_else(|| CallError::UnknownTool(name.to_string()))?;
        // The caller's request id, principal and tool host; the tool's own component.
        let info = Arc::new(RequestInfo {
            component_id: component.id.clone(),
            matched_route: String::new(),
            params: Vec::new(),
            path_info: String::new(),
            ..info.clone()
        });
        let deadline = Instant::now() + Duration::from_millis(component.limits.timeout_ms);
        let store = self.new_store(component, &info, deadline);
        let tool = name.to_string();
        let span = tracing::info_span!("tool", tool = %name, component = %component.id);
        let task = span.in_scope(|| {
            spawn_instance(
                store,
                component.limits,
                deadline,
                permit,
                |mut store| async move {
                    let result = async {
                        let exports = pre.instantiate_async(&mut store).await?;
                        exports
                            .spaceport_platform_tool_provider()
                            .call_invoke(&mut store, &tool, &arguments)
                            .await
                    }
                    .await;
                    (store, result)
                },
            )
        });
        let output = task.await?;
        let text = output.map_err(|e| CallError::Tool(ToolErrorMessage(e)))?;
        // Tools promise JSON; anything else is passed on as a string.
        Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// The catalog of every tool offered by `components`. Two components
    /// offering the same tool name is an error: a call must be unambiguous.
    ///
    /// Tools of a component whose bytes are unchanged since `previous` are
    /// reused, so a reload only instantiates components that changed.
    pub async fn catalog(
        &self,
        components: &BTreeMap<String, Arc<LoadedComponent>>,
        previous: Option<&Catalog>,
    ) -> anyhow::Result<Catalog> {
        let mut catalog = Catalog::new();
        for component in components.values().filter(|c| c.tools.is_some()) {
            let known: Vec<Tool> = previous
                .into_iter()
                .flat_map(|p| p.values())
                .filter(|e| e.component.id == component.id && e.component.hash == component.hash)
                .map(|e| e.tool.clone())
                .collect();
            let tools = if known.is_empty() {
                self.describe_tools(component).await.map_err(|e| {
                    anyhow::anyhow!(
                        "component `{}`: describing its tools failed: {e}",
                        component.id
                    )
                })?
            } else {
                known
            };
            for tool in tools {
                let schema = serde_json::from_str(&tool.parameters_schema).map_err(|e| {
                    anyhow::anyhow!(
                        "component `{}`: tool `{}` has a parameters schema that is not JSON: {e}",
                        component.id,
                        tool.name
                    )
                })?;
                let validator = jsonschema::validator_for(&schema).map_err(|e| {
                    anyhow::anyhow!(
                        "component `{}`: tool `{}` has a parameters schema that is not a valid JSON Schema: {e}",
                        component.id,
                        tool.name
                    )
                })?;
                if let Some(other) = catalog.get(&tool.name) {
                    anyhow::bail!(
                        "tool `{}` is offered by both `{}` and `{}`",
                        tool.name,
                        other.component.id,
                        component.id
                    );
                }
                catalog.insert(
                    tool.name.clone(),
                    ToolEntry {
                        tool,
                        schema,
                        validator: Arc::new(validator),
                        component: component.clone(),
                    },
                );
            }
        }
        Ok(catalog)
    }
}
