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

/// The OpenAPI document of one version of the app, and the methods it
/// documents on each component path; built together, once per reload.
pub struct OpenApi {
    /// `/openapi.json`.
    pub document: serde_json::Value,
    /// What each component's fragment allows where: checked on every request
    /// to a component route.
    pub methods: Methods,
}

/// The methods each path template of a component's fragment documents. A
/// request on a component route whose path matches one of its component's
/// templates, with a method the template does not list, is answered `405`
/// with `Allow` by the host, before the component runs. `HEAD` is run as
/// `GET` wherever only `GET` is documented, and `OPTIONS` is CORS's; a path no
/// template matches is the component's to answer.
#[derive(Debug, Default)]
pub struct Methods {
    templates: Vec<Template>,
}

#[derive(Debug)]
struct Template {
    component: String,
    /// A literal segment, or `None` for a `{name}` one.
    segments: Vec<Option<String>>,
    /// The documented methods, upper case.
    methods: Vec<String>,
    /// The `Allow` header: those, `HEAD` with `GET`, and `OPTIONS`.
    allow: String,
}

/// The operations of an OpenAPI path item.
pub const OPERATIONS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

impl Methods {
    /// Record what `component`'s fragment documents at `path` (its path item).
    pub fn add(&mut self, component: &str, path: &str, item: &serde_json::Value) {
        let Some(item) = item.as_object() else {
            return;
        };
        let mut methods: Vec<String> = OPERATIONS
            .iter()
            .filter(|m| item.contains_key(**m))
            .map(|m| m.to_ascii_uppercase())
            .collect();
        let mut allow = methods.clone();
        if methods.iter().any(|m| m == "GET") && !methods.iter().any(|m| m == "HEAD") {
            allow.push("HEAD".into());
        }
        if !methods.iter().any(|m| m == "OPTIONS") {
            allow.push("OPTIONS".into());
        }
        methods.sort();
        let segments = split(path)
            .map(|s| {
                let param = s.starts_with('{') && s.ends_with('}');
                (!param).then(|| s.to_string())
            })
            .collect();
        self.templates.push(Template {
            component: component.to_string(),
            segments,
            methods,
            allow: allow.join(", "),
        });
    }

    /// What to do with `method` on `path`, a path of `component`'s routes.
    /// Of several templates matching `path`, the most specific decides (a
    /// literal beats a `{name}` at the first segment where they differ).
    pub fn check(&self, component: &str, path: &str, method: &http::Method) -> Verdict<'_> {
        if method == http::Method::OPTIONS {
            return Verdict::Pass;
        }
        let parts: Vec<&str> = split(path).collect();
        let Some(template) = self
            .templates
            .iter()
            .filter(|t| {
                t.component == component
                    && t.segments.len() == parts.len()
                    && t.segments.iter().zip(&parts).all(|(s, p)| match s {
                        Some(literal) => literal == p,
                        None => !p.is_empty(),
                    })
            })
            .max_by_key(|t| t.segments.iter().map(Option::is_some).collect::<Vec<_>>())
        else {
            return Verdict::Pass;
        };
        let documents = |m: &str| template.methods.iter().any(|d| d == m);
        if documents(method.as_str()) {
            Verdict::Pass
        } else if method == http::Method::HEAD && documents("GET") {
            Verdict::AsGet
        } else {
            Verdict::Refuse(&template.allow)
        }
    }
}

/// [`Methods::check`]'s answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Documented there, or a path (or `OPTIONS`) the fragment leaves to the
    /// component.
    Pass,
    /// `HEAD` where only `GET` is documented: run it as `GET` (the body is
    /// not sent).
    AsGet,
    /// Not documented there: `405` with this `Allow`.
    Refuse(&'a str),
}

/// A path's segments, as the router sees them (no leading or trailing `/`).
fn split(path: &str) -> impl Iterator<Item = &str> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    path.split('/').filter(move |_| !path.is_empty())
}

/// One consistent version of the application.
pub struct App {
    pub manifest: Manifest,
    pub router: Router<RouteTarget>,
    pub components: BTreeMap<String, Arc<LoadedComponent>>,
    /// Every tool offered by the components.
    pub tools: Catalog,
    /// The OpenAPI document of this version (`/openapi.json`), and the
    /// methods it documents on each component path (405 for others).
    pub openapi: OpenApi,
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

#[cfg(test)]
mod tests {
    use super::{Methods, Verdict};
    use http::Method;
    use serde_json::json;

    #[test]
    fn the_most_specific_documented_path_decides_the_method() {
        let mut methods = Methods::default();
        let op = json!({ "responses": {} });
        methods.add("c", "/a/{x}", &json!({ "parameters": [], "post": op }));
        methods.add("c", "/a/b", &json!({ "get": op, "delete": op }));
        methods.add("c", "/h", &json!({ "get": op, "head": op }));
        let check = |path, method: Method| methods.check("c", path, &method);
        assert_eq!(check("/a/c", Method::POST), Verdict::Pass);
        assert_eq!(check("/a/c", Method::GET), Verdict::Refuse("POST, OPTIONS"));
        assert_eq!(check("/a/b/", Method::DELETE), Verdict::Pass);
        assert_eq!(
            check("/a/b", Method::POST),
            Verdict::Refuse("GET, DELETE, HEAD, OPTIONS")
        );
        assert_eq!(check("/a/b", Method::HEAD), Verdict::AsGet);
        assert_eq!(check("/h", Method::HEAD), Verdict::Pass);
        assert_eq!(check("/a/b", Method::OPTIONS), Verdict::Pass);
        // Paths no template matches, and other components' paths, pass.
        assert_eq!(check("/a/b/c", Method::TRACE), Verdict::Pass);
        assert_eq!(check("/a/", Method::TRACE), Verdict::Pass);
        assert_eq!(
            methods.check("other", "/a/b", &Method::TRACE),
            Verdict::Pass
        );
    }
}
