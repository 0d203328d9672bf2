//! One immutable version of the application: what a request is dispatched
//! against from start to finish. It is also the request's [`ToolHost`]: a
//! tool call made during the request sees the same version of the app.

use crate::manifest::Manifest;
use crate::manifest::routes::Router;
use crate::sandbox::capabilities::RequestInfo;
use crate::sandbox::capabilities::bindings::tool_types::{Tool as WitTool, ToolError};
use crate::sandbox::capabilities::tools::ToolHost;
use crate::sandbox::runtime::{LoadedComponent, Runtime};
use crate::sandbox::tools::Catalog;
use crate::services::auth::AuthPolicy;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a route leads, and who may go there.
pub struct RouteTarget {
    pub component: Arc<LoadedComponent>,
    pub auth: AuthPolicy,
    pub user_param: Option<String>,
}

/// One consistent version of the application.
pub struct App {
    pub manifest: Manifest,
    pub router: Router<RouteTarget>,
    pub components: BTreeMap<String, Arc<LoadedComponent>>,
    /// Every tool offered by the components.
    pub tools: Catalog,
    /// The OpenAPI document of this version (`/openapi.json`).
    pub openapi: serde_json::Value,
    /// The runtime that runs this version's components (and its tool calls).
    pub runtime: Arc<Runtime>,
}

impl App {
    /// Every file whose change should trigger a reload.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.manifest.path.clone()];
        files.extend(self.components.values().map(|c| c.source.clone()));
        files.extend(
            self.manifest
                .components
                .values()
                .filter_map(|c| c.openapi.as_ref())
                .map(|p| self.manifest.base_dir.join(p)),
        );
        files
    }
}

#[async_trait::async_trait]
impl ToolHost for App {
    fn tools(&self) -> Vec<(Arc<str>, WitTool)> {
        self.tools
            .values()
            .map(|e| {
                (
                    e.component.id.clone(),
                    WitTool {
                        name: e.tool.name.clone(),
                        description: e.tool.description.clone(),
                        parameters_schema: e.tool.parameters_schema.clone(),
                    },
                )
            })
            .collect()
    }

    fn provider(&self, name: &str) -> Option<Arc<str>> {
        self.tools.get(name).map(|e| e.component.id.clone())
    }

    async fn call(
        &self,
        name: &str,
        arguments: String,
        caller: &RequestInfo,
    ) -> Result<String, ToolError> {
        // A nested call is an instance like any other: it takes a slot, and a
        // full host answers the agent `unavailable` instead of overcommitting.
        let Some(entry) = self.tools.get(name) else {
            return Err(ToolError::UnknownTool(name.to_string()));
        };
        let permit = self
            .runtime
            .try_slot(&entry.component)
            .map_err(|busy| ToolError::Unavailable(busy.to_string()))?;
        self.runtime
            .call_tool(&self.tools, name, arguments, caller, Some(permit))
            .await
            .map(|result| result.to_string())
            .map_err(|e| e.into_wit(name))
    }
}
