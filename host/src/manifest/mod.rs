//! The application manifest (`spin-like.toml`): routes → components, and each
//! component's source, build command, limits, variables and grants.
//!
//! Parsing is strict: an unknown key or a dangling reference is an error that
//! names the file, the key and what was expected.

pub mod outbound;
pub mod routes;

use crate::services::auth::AuthPolicy;
use outbound::OutboundHost;
use routes::RoutePattern;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The only manifest version this host understands.
pub const MANIFEST_VERSION: u32 = 1;

/// Why a manifest was rejected. Every message starts with the file's path.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{file}: cannot read the manifest: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: `{key}`: {message}")]
    Invalid {
        file: PathBuf,
        key: String,
        message: String,
    },
}

/// The manifest as written (before validation).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spaceport_manifest_version: u32,
    application: Application,
    #[serde(default)]
    trigger: Triggers,
    #[serde(default)]
    component: BTreeMap<String, ComponentConfig>,
    #[serde(default)]
    database: BTreeMap<String, DatabaseConfig>,
}

/// `[database.<name>]`: a database components can be granted (`sql = ["<name>"]`).
/// Each is kept apart from the others and from the host's own tables.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// A folder with `postgres/` and `sqlite/` migrations for this database,
    /// applied at start; relative to the manifest's directory.
    #[serde(default)]
    pub migrations: Option<PathBuf>,
}

/// `[application]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default)]
    pub description: String,
}

fn default_version() -> String {
    "0.0.0".into()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Triggers {
    #[serde(default)]
    http: Vec<HttpTrigger>,
}

/// One `[[trigger.http]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    pub route: String,
    pub component: String,
    /// `none` (default), `optional` or `required`: checked by the host before the component runs.
    #[serde(default)]
    pub auth: AuthPolicy,
    /// A route parameter that must equal the authenticated user's id (403 otherwise).
    #[serde(default)]
    pub user_param: Option<String>,
}

/// `[component.<id>]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    /// Path to the `.wasm`, relative to the manifest's directory.
    pub source: PathBuf,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub build: Option<BuildConfig>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Hosts this component may call over `wasi:http/outgoing-handler`,
    /// e.g. `https://api.example.com` or `https://*.example.com:8443`.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<OutboundHost>,
    /// Databases this component may use through `spaceport:platform/sql`
    /// (names of `[database.<name>]` tables, e.g. `["tasks"]`).
    #[serde(default)]
    pub sql: Vec<String>,
    /// Vector collections it may use through `spaceport:platform/vectors`
    /// (e.g. `["docs"]`), kept in the host's database.
    #[serde(default)]
    pub vectors: Vec<String>,
    /// Whether this component may use `spaceport:platform/llm`.
    #[serde(default)]
    pub llm: bool,
    /// Models this component may ask the LLM for (empty: only the host's
    /// default, `OPENAI_MODEL`; a request naming another is refused).
    #[serde(default)]
    pub llm_models: Vec<String>,
    /// The most completion tokens one LLM call may ask for; a request asking
    /// for more, or for no limit, is given this one.
    #[serde(default)]
    pub llm_max_tokens: Option<u32>,
    /// Whether this component may read its request's context (`spaceport:platform/context`).
    #[serde(default)]
    pub context: bool,
    /// Whether this component may read the host's status board (`spaceport:platform/host-status`).
    #[serde(default)]
    pub host_status: bool,
    /// Whether this component's tools may also be called directly over HTTP
    /// (`POST /api/{user_id}/tools/{name}`). Off by default: an agent-only tool
    /// stays agent-only.
    #[serde(default)]
    pub http_tools: bool,
    /// Whether this component's tools are served over MCP at `/mcp` (on by
    /// default: MCP clients call them as the authenticated user, like an agent).
    #[serde(default = "yes")]
    pub mcp: bool,
    /// Components whose tools this component may call through `spaceport:platform/tools`.
    #[serde(default)]
    pub tools: Vec<String>,
    /// An OpenAPI fragment (JSON, with `paths`) documenting this component's
    /// routes; merged into `/openapi.json`. Relative to the manifest's directory.
    #[serde(default)]
    pub openapi: Option<PathBuf>,
    /// `spaceport test` cases for this component: a TOML file, or a folder of
    /// them, relative to the manifest's directory.
    #[serde(default)]
    pub tests: Option<PathBuf>,
}

/// `[component.<id>.build]`, run by `spaceport build`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    pub command: String,
    /// Directory to run the command in, relative to the manifest's directory.
    #[serde(default)]
    pub workdir: Option<PathBuf>,
    /// Sources `spaceport dev` watches (folders or files, relative to
    /// `workdir`; default: the whole workdir, build outputs excepted).
    #[serde(default)]
    pub watch: Vec<PathBuf>,
}

/// `[component.<id>.limits]`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock budget for one request, including time spent streaming the body.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Most linear memory one instance may grow to.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u64,
    /// Most instances of this component alive at once (503 `busy` beyond), so
    /// one component cannot take every instance slot of the host. Default: a
    /// quarter of `SPACEPORT_MAX_INSTANCES`, at least 16 (or all of them if fewer).
    #[serde(default)]
    pub max_concurrent: Option<u32>,
}

fn default_timeout_ms() -> u64 {
    30_000
}
fn default_memory_mb() -> u64 {
    128
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout_ms: default_timeout_ms(),
            memory_mb: default_memory_mb(),
            max_concurrent: None,
        }
    }
}

/// A validated route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub pattern: RoutePattern,
    pub component: String,
    pub auth: AuthPolicy,
    pub user_param: Option<String>,
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The file it was read from.
    pub path: PathBuf,
    /// The directory relative paths are resolved against.
    pub base_dir: PathBuf,
    pub application: Application,
    pub routes: Vec<Route>,
    pub components: BTreeMap<String, ComponentConfig>,
    /// The databases components may be granted, by name.
    pub databases: BTreeMap<String, DatabaseConfig>,
}

impl Manifest {
    /// Read and validate a manifest file.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Validate manifest text as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            file: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |key: String, message: String| ManifestError::Invalid {
            file: path.to_path_buf(),
            key,
            message,
        };
        if raw.spaceport_manifest_version != MANIFEST_VERSION {
            return Err(invalid(
                "spaceport_manifest_version".into(),
                format!(
                    "expected {MANIFEST_VERSION}, found {}",
                    raw.spaceport_manifest_version
                ),
            ));
        }
        if raw.application.name.trim().is_empty() {
            return Err(invalid(
                "application.name".into(),
                "expected a non-empty name".into(),
            ));
        }
        let known = || raw.component.keys().cloned().collect::<Vec<_>>().join(", ");
        let mut routes = Vec::with_capacity(raw.trigger.http.len());
        for (i, trigger) in raw.trigger.http.iter().enumerate() {
            let pattern = RoutePattern::parse(&trigger.route)
                .map_err(|e| invalid(format!("trigger.http[{i}].route"), e))?;
            if !raw.component.contains_key(&trigger.component) {
                return Err(invalid(
                    format!("trigger.http[{i}].component"),
                    format!(
                        "no component named `{}`; expected one of: {}",
                        trigger.component,
                        known()
                    ),
                ));
            }
            if let Some(prev) = routes.iter().find(|r: &&Route| r.pattern == pattern) {
                return Err(invalid(
                    format!("trigger.http[{i}].route"),
                    format!(
                        "route `{}` is already mapped to component `{}`",
                        trigger.route, prev.component
                    ),
                ));
            }
            if let Some(param) = &trigger.user_param {
                if !pattern.has_param(param) {
                    return Err(invalid(
                        format!("trigger.http[{i}].user_param"),
                        format!("route `{}` has no `:{param}` segment", trigger.route),
                    ));
                }
                if trigger.auth != AuthPolicy::Required {
                    return Err(invalid(
                        format!("trigger.http[{i}].user_param"),
                        "expected `auth = \"required\"` on a route with `user_param`".into(),
                    ));
                }
            }
            routes.push(Route {
                pattern,
                component: trigger.component.clone(),
                auth: trigger.auth,
                user_param: trigger.user_param.clone(),
            });
        }
        for (id, c) in &raw.component {
            let valid_id = !id.is_empty()
                && id.chars().all(|ch| {
                    ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_'
                });
            if !valid_id {
                return Err(invalid(
                    format!("component.{id}"),
                    "expected an id of lower-case letters, digits, `-` and `_`".into(),
                ));
            }
            if c.limits.timeout_ms == 0 {
                return Err(invalid(
                    format!("component.{id}.limits.timeout_ms"),
                    "expected a positive number of milliseconds".into(),
                ));
            }
            if c.limits.max_concurrent == Some(0) {
                return Err(invalid(
                    format!("component.{id}.limits.max_concurrent"),
                    "expected at least 1".into(),
                ));
            }
            if c.limits.memory_mb == 0 || c.limits.memory_mb > 4096 {
                return Err(invalid(
                    format!("component.{id}.limits.memory_mb"),
                    "expected between 1 and 4096 (MiB)".into(),
                ));
            }
            for (j, name) in c.sql.iter().enumerate() {
                if !raw.database.contains_key(name) {
                    let declared: Vec<&str> = raw.database.keys().map(String::as_str).collect();
                    return Err(invalid(
                        format!("component.{id}.sql[{j}]"),
                        format!(
                            "no database named `{name}`; declare it with [database.{name}] (declared: {})",
                            if declared.is_empty() {
                                "none".to_string()
                            } else {
                                declared.join(", ")
                            }
                        ),
                    ));
                }
            }
            for (j, tool_component) in c.tools.iter().enumerate() {
                if !raw.component.contains_key(tool_component) {
                    return Err(invalid(
                        format!("component.{id}.tools[{j}]"),
                        format!(
                            "no component named `{tool_component}`; expected one of: {}",
                            known()
                        ),
                    ));
                }
            }
        }
        for name in raw.database.keys() {
            crate::services::databases::valid_name(name)
                .map_err(|m| invalid(format!("database.{name}"), m))?;
        }
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Self {
            path: path.to_path_buf(),
            base_dir,
            application: raw.application,
            routes,
            components: raw.component,
            databases: raw.database,
        })
    }

    /// The declared databases, with their migrations folders resolved.
    pub fn database_specs(&self) -> Vec<crate::services::databases::DatabaseSpec> {
        self.databases
            .iter()
            .map(|(name, db)| crate::services::databases::DatabaseSpec {
                name: name.clone(),
                migrations: db.migrations.as_ref().map(|m| self.base_dir.join(m)),
            })
            .collect()
    }

    /// Whether the tools of component `id` may be called over HTTP.
    pub fn http_tools(&self, id: &str) -> bool {
        self.components.get(id).is_some_and(|c| c.http_tools)
    }

    /// Whether `id`'s tools are served over MCP.
    pub fn mcp_tools(&self, id: &str) -> bool {
        self.components.get(id).is_some_and(|c| c.mcp)
    }

    /// The absolute (or manifest-relative) path of a component's `.wasm`.
    pub fn source_path(&self, component: &ComponentConfig) -> PathBuf {
        self.base_dir.join(&component.source)
    }

    /// Error for a component whose source file cannot be used.
    pub fn source_error(&self, id: &str, message: String) -> ManifestError {
        ManifestError::Invalid {
            file: self.path.clone(),
            key: format!("component.{id}.source"),
            message,
        }
    }
}

fn yes() -> bool {
    true
}
