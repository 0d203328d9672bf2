//! Running one component's cases in-process: the production runtime
//! (engine, limits, capabilities, argument validation), a fresh instance per
//! case, and the fakes of [`super::fakes`] in place of the host's services.

use super::cases::{
    Case, CaseDefaults, DbExpect, Expect, TestFile, VectorExpect, VectorFixture, dep_state,
};
use super::fakes::{CaseDatabase, Recording, ScriptedLlm, Shared, StubTools};
use super::logs;
use crate::manifest::routes::{RouteMatch, RoutePattern, Router};
use crate::manifest::{ComponentConfig, Manifest};
use crate::sandbox::capabilities::sql::RowLimits;
use crate::sandbox::capabilities::{Capabilities, HostServices, RequestInfo};
use crate::sandbox::runtime::{EngineOptions, LoadedComponent, Runtime};
use crate::sandbox::tools::Catalog;
use crate::services::auth::Principal;
use crate::services::databases::{DatabaseSpec, Databases};
use crate::services::db::{DbConfig, Value};
use crate::services::status::StatusBoard;
use crate::services::vectors::{Distance, MemoryVectors, Point, VectorStore};
use anyhow::Context as _;
use http_body_util::BodyExt as _;
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the harness is set up.
#[derive(Debug, Clone, Default)]
pub struct HarnessOptions {
    /// Run against this database (`postgres://…` or `sqlite:…`) instead of a
    /// fresh SQLite database per case. Its data persists between cases.
    pub real_db: Option<String>,
    /// Compile cache (shared with `spaceport up` when it is the same directory).
    pub cache_dir: Option<PathBuf>,
}

/// One component, loaded and ready to run cases.
pub struct Harness {
    id: String,
    config: ComponentConfig,
    runtime: Arc<Runtime>,
    component: Arc<LoadedComponent>,
    catalog: Catalog,
    routes: Router<()>,
    specs: Vec<DatabaseSpec>,
    state: Shared,
    status: Arc<StatusBoard>,
    vectors: Arc<MemoryVectors>,
    /// `--real-db`: opened once, shared by every case.
    real: Option<Databases>,
    scratch: tempfile::TempDir,
    cases_run: std::sync::atomic::AtomicUsize,
}

/// What one case did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaseReport {
    pub name: String,
    pub passed: bool,
    /// Each unmet expectation, with what was expected and what came.
    pub failures: Vec<String>,
    /// The component's log lines and the host's warnings during the case.
    pub logs: Vec<String>,
    pub millis: f64,
}

/// What a case produced, before it is compared with the expectations.
#[derive(Debug, Default)]
struct Outcome {
    status: Option<u16>,
    headers: BTreeMap<String, String>,
    body: String,
    result: Option<Json>,
    error: Option<(String, String)>,
}

impl Harness {
    /// Load component `id` of `manifest` (its built `.wasm`, its grants and limits).
    pub async fn new(
        manifest: &Manifest,
        id: &str,
        options: HarnessOptions,
    ) -> anyhow::Result<Self> {
        logs::install();
        let config = manifest
            .components
            .get(id)
            .with_context(|| format!("the manifest has no component `{id}`"))?
            .clone();
        let path = manifest.source_path(&config);
        if !path.is_file() {
            anyhow::bail!(
                "component `{id}`: {} does not exist (run `spaceport build {id}`)",
                path.display()
            );
        }
        let state = Shared::default();
        let specs = manifest.database_specs();
        let databases = specs
            .iter()
            .map(|spec| {
                let backend = CaseDatabase {
                    name: spec.name.clone(),
                    state: state.clone(),
                };
                (spec.name.clone(), Arc::new(backend) as Arc<_>)
            })
            .collect();
        let status = Arc::new(StatusBoard::new());
        status.set_app(&manifest.application.name, &manifest.application.version);
        // Collections start empty in every case.
        let vectors = Arc::new(MemoryVectors::default());
        let services = HostServices {
            status: status.clone(),
            databases,
            sql_limits: RowLimits {
                max_rows: 10_000,
                max_bytes: 16 << 20,
            },
            llm: Arc::new(ScriptedLlm {
                state: state.clone(),
            }),
            vectors: vectors.clone(),
        };
        let options_engine = EngineOptions {
            max_instances: 16,
            max_relays: 256,
            // On-demand allocation: a test process should not reserve the
            // pooling allocator's address space.
            pooling: false,
            cache_dir: options.cache_dir.clone(),
            precompiled_dir: None,
            perf_map: false,
            memory_budget_mb: None,
        };
        let runtime = Arc::new(Runtime::new(&options_engine, Capabilities::new(services))?);
        let component = {
            let runtime = runtime.clone();
            let config = config.clone();
            let id = id.to_string();
            tokio::task::spawn_blocking(move || runtime.load(&id, &config, &path, None))
                .await
                .context("loading the component")??
        };
        let component = Arc::new(component);
        let mut components = BTreeMap::new();
        components.insert(id.to_string(), component.clone());
        let catalog = runtime
            .catalog(&components, None)
            .await
            .map_err(|e| anyhow::anyhow!("component `{id}`: describing its tools: {e}"))?;
        let routes = Router::new(
            manifest
                .routes
                .iter()
                .filter(|r| r.component == id)
                .map(|r| (r.pattern.clone(), ()))
                .collect(),
        );
        let scratch = tempfile::tempdir().context("creating a scratch directory")?;
        let real = match &options.real_db {
            Some(url) => Some(
                Databases::open(&db_config(Some(url.clone()), scratch.path().into()), &specs)
                    .await
                    .with_context(|| "opening --real-db".to_string())?,
            ),
            None => None,
        };
        Ok(Self {
            id: id.to_string(),
            config,
            runtime,
            component,
            catalog,
            routes,
            specs,
            state,
            status,
            vectors,
            real,
            scratch,
            cases_run: Default::default(),
        })
    }

    /// The tools the component offers (name → description).
    pub fn tools(&self) -> Vec<(String, String)> {
        self.catalog
            .iter()
            .map(|(name, entry)| (name.clone(), entry.tool.description.clone()))
            .collect()
    }

    /// Run every case of `file`.
    pub async fn run_file(&self, file: &TestFile) -> Vec<CaseReport> {
        let mut reports = Vec::new();
        for case in &file.cases {
            reports.push(self.run(case, &file.defaults).await);
        }
        reports
    }

    /// Run one case in a fresh instance with fresh fakes.
    pub async fn run(&self, case: &Case, defaults: &CaseDefaults) -> CaseReport {
        let started = Instant::now();
        logs::take();
        let mut failures = Vec::new();
        let outcome = match self.prepare(case, defaults).await {
            Ok(()) => self.execute(case, defaults).await,
            Err(e) => Err(format!("setting up the case: {e:#}")),
        };
        match outcome {
            Ok(outcome) => {
                let recording = self.state.with(|s| s.recording.clone());
                check(&case.expect, &outcome, &recording, &mut failures);
                for db in &case.expect.db {
                    if let Err(e) = self.check_db(db).await {
                        failures.push(e);
                    }
                }
                for v in &case.expect.vectors {
                    if let Err(e) = self.check_vectors(v).await {
                        failures.push(e);
                    }
                }
            }
            Err(e) => failures.push(e),
        }
        // Close this case's databases before the next one opens its own.
        let open: Vec<_> = self
            .state
            .with(|s| std::mem::take(&mut s.databases).into_values().collect());
        for db in open {
            db.close().await;
        }
        CaseReport {
            name: case.name.clone(),
            passed: failures.is_empty(),
            failures,
            logs: logs::take(),
            millis: started.elapsed().as_secs_f64() * 1000.0,
        }
    }

    /// Fresh databases with the case's fixtures, and the case's script.
    async fn prepare(&self, case: &Case, defaults: &CaseDefaults) -> anyhow::Result<()> {
        let databases: BTreeMap<String, crate::services::db::Database> = match &self.real {
            Some(real) => real.named.clone(),
            None if self.config.sql.is_empty() => BTreeMap::new(),
            None => {
                let n = self
                    .cases_run
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let dir = self.scratch.path().join(format!("case-{n}"));
                let specs: Vec<DatabaseSpec> = self
                    .specs
                    .iter()
                    .filter(|s| self.config.sql.contains(&s.name))
                    .cloned()
                    .collect();
                let opened = Databases::open(&db_config(None, dir), &specs)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                opened.host.close().await;
                opened.named
            }
        };
        for (name, statements) in defaults.sql.iter().chain(&case.sql) {
            let db = databases.get(name).with_context(|| {
                format!(
                    "`sql.{name}`: component `{}` is not granted a database `{name}` (it has {:?})",
                    self.id, self.config.sql
                )
            })?;
            for statement in statements {
                db.execute(statement, &[])
                    .await
                    .map_err(|e| anyhow::anyhow!("`sql.{name}` fixture `{statement}`: {e}"))?;
            }
        }
        self.status.reset();
        self.vectors.clear();
        for (name, fixture) in defaults.vectors.iter().chain(&case.vectors) {
            self.vector_fixture(name, fixture).await?;
        }
        for (name, state) in &case.status {
            if let Some(state) = dep_state(state) {
                self.status.report(name, state, None);
            }
        }
        self.state.with(|s| {
            s.databases = databases;
            s.recording = Recording::default();
            s.replies = case.llm.iter().cloned().collect();
        });
        Ok(())
    }

    async fn execute(&self, case: &Case, defaults: &CaseDefaults) -> Result<Outcome, String> {
        let component = self.component_for(case, defaults)?;
        let user = case.user.clone().or_else(|| defaults.user.clone());
        let principal = match user.as_deref() {
            Some("") => None,
            other => {
                let id = other.unwrap_or("test-user").to_string();
                Some(Principal {
                    email: format!("{id}@example.test"),
                    user_id: id,
                    anonymous: false,
                })
            }
        };
        let tools = Arc::new(StubTools {
            stubs: case.tools.clone(),
            default_provider: Arc::from(self.config.tools.first().map_or("stub", String::as_str)),
            state: self.state.clone(),
        });
        let request_id = format!("test-{}", uuid::Uuid::new_v4().simple());
        if let Some(tool) = &case.tool {
            let info = RequestInfo {
                request_id,
                component_id: component.id.clone(),
                principal,
                tools: Some(tools),
                ..RequestInfo::default()
            };
            let mut catalog = self.catalog.clone();
            for entry in catalog.values_mut() {
                entry.component = component.clone();
            }
            let arguments = case
                .arguments
                .clone()
                .unwrap_or_else(|| json!({}))
                .to_string();
            return Ok(
                match self
                    .runtime
                    .call_tool(&catalog, tool, arguments, &info, None)
                    .await
                {
                    Ok(result) => Outcome {
                        result: Some(result),
                        ..Outcome::default()
                    },
                    Err(e) => Outcome {
                        error: Some(call_error_kind(e)),
                        ..Outcome::default()
                    },
                },
            );
        }
        let Some(spec) = &case.request else {
            return Err("the case has neither `request` nor `tool`".into());
        };
        let (pattern, matched) = self.route(&spec.path);
        let mut builder = hyper::Request::builder()
            .method(spec.method.to_ascii_uppercase().as_str())
            .uri(format!("http://localhost{}", spec.path))
            .header("host", "localhost")
            .header("x-request-id", &request_id);
        for (name, value) in &spec.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let body = match (&spec.json, &spec.body) {
            (Some(json), _) => {
                builder = builder.header("content-type", "application/json");
                json.to_string()
            }
            (None, Some(body)) => body.clone(),
            (None, None) => String::new(),
        };
        let request = builder
            .header("content-length", body.len())
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .map_err(|e| format!("the case's request is not valid HTTP: {e}"))?;
        let info = Arc::new(RequestInfo {
            request_id,
            component_id: component.id.clone(),
            matched_route: pattern,
            params: matched.params,
            path_info: matched.path_info,
            principal,
            tools: Some(tools),
        });
        let permit = self
            .runtime
            .try_slot(&component)
            .map_err(|e| format!("no instance slot: {e}"))?;
        let response = self
            .runtime
            .serve(&component, info, request, permit)
            .await
            .map_err(|e| format!("the component did not answer: {e}"))?;
        let (parts, body) = response.into_parts();
        let deadline = Duration::from_millis(component.limits.timeout_ms);
        let body = tokio::time::timeout(deadline, body.collect())
            .await
            .map_err(|_| {
                "the response body did not end within the component's deadline".to_string()
            })?
            .map_err(|e| format!("the response body failed: {e}"))?
            .to_bytes();
        Ok(Outcome {
            status: Some(parts.status.as_u16()),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
            ..Outcome::default()
        })
    }

    /// The component, re-granted when the case sets variables.
    fn component_for(
        &self,
        case: &Case,
        defaults: &CaseDefaults,
    ) -> Result<Arc<LoadedComponent>, String> {
        if case.variables.is_empty() && defaults.variables.is_empty() {
            return Ok(self.component.clone());
        }
        let mut config = self.config.clone();
        config.variables.extend(defaults.variables.clone());
        config.variables.extend(case.variables.clone());
        self.runtime
            .regrant(&self.component, &config)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    }

    /// The manifest route that sends `path` to this component, as production matches it.
    fn route(&self, path: &str) -> (String, RouteMatch) {
        let path_only = path.split(['?', '#']).next().unwrap_or(path);
        match self.routes.lookup(path_only) {
            Some((pattern, (), matched)) => (pattern.as_str().to_string(), matched),
            None => {
                // No manifest route: the whole path as path-info, as a `/...` route would give it.
                let any = RoutePattern::parse("/...").map(|p| p.matches(path_only));
                ("/...".to_string(), any.ok().flatten().unwrap_or_default())
            }
        }
    }

    /// Create `name` and load the fixture's points into it.
    async fn vector_fixture(&self, name: &str, fixture: &VectorFixture) -> anyhow::Result<()> {
        if !self.config.vectors.iter().any(|v| v == name) {
            anyhow::bail!(
                "`vectors.{name}`: component `{}` is not granted a collection `{name}` (it has {:?})",
                self.id,
                self.config.vectors
            );
        }
        let wanted = fixture.distance.as_deref().unwrap_or("cosine");
        let Some(distance) = Distance::parse(wanted) else {
            anyhow::bail!("`vectors.{name}.distance`: `{wanted}` (expected cosine, dot or euclid)");
        };
        let points = fixture
            .points
            .iter()
            .map(|p| {
                let payload = match &p.payload {
                    None => Default::default(),
                    Some(Json::Object(map)) => map.clone(),
                    Some(_) => {
                        anyhow::bail!("`vectors.{name}` point `{}`: payload must be a table", p.id)
                    }
                };
                Ok(Point {
                    id: p.id.clone(),
                    vector: p.vector.clone(),
                    payload,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.vectors
            .ensure_collection(name, fixture.dimension, distance)
            .await
            .map_err(|e| anyhow::anyhow!("`vectors.{name}`: {e}"))?;
        self.vectors
            .upsert(name, points)
            .await
            .map_err(|e| anyhow::anyhow!("`vectors.{name}`: {e}"))
    }

    async fn check_vectors(&self, expect: &VectorExpect) -> Result<(), String> {
        let name = &expect.collection;
        let ids = self.vectors.ids(name).ok_or_else(|| {
            format!("`expect.vectors`: the case ended without a collection `{name}`")
        })?;
        if let Some(count) = expect.count
            && ids.len() as u64 != count
        {
            return Err(format!(
                "`expect.vectors` `{name}`: expected {count} points, found {} ({ids:?})",
                ids.len()
            ));
        }
        if let Some(expected) = &expect.ids {
            let mut expected = expected.clone();
            expected.sort();
            if expected != ids {
                return Err(format!(
                    "`expect.vectors` `{name}`:\n  expected ids: {expected:?}\n  actual ids:   {ids:?}"
                ));
            }
        }
        Ok(())
    }

    async fn check_db(&self, expect: &DbExpect) -> Result<(), String> {
        let name = match &expect.database {
            Some(name) => name.clone(),
            None => self
                .config
                .sql
                .first()
                .cloned()
                .ok_or("`expect.db`: the component is granted no database")?,
        };
        let db = self
            .state
            .with(|s| s.databases.get(&name).cloned())
            .ok_or_else(|| format!("`expect.db`: no database `{name}` in this case"))?;
        let rows = db
            .query(&expect.query, &[])
            .await
            .map_err(|e| format!("`expect.db` query `{}`: {e}", expect.query))?;
        let actual: Vec<Vec<Json>> = rows
            .rows
            .iter()
            .map(|row| row.iter().map(value_json).collect())
            .collect();
        let expected = Json::Array(expect.rows.iter().map(|r| Json::Array(r.clone())).collect());
        let actual = Json::Array(actual.into_iter().map(Json::Array).collect());
        if loosely_equal(&expected, &actual) {
            Ok(())
        } else {
            Err(format!(
                "`expect.db` `{}`:\n  expected rows: {expected}\n  actual rows:   {actual}",
                expect.query
            ))
        }
    }
}

fn db_config(url: Option<String>, data_dir: PathBuf) -> DbConfig {
    DbConfig {
        url,
        data_dir,
        pool_size: 4,
        max_rows: 10_000,
        max_bytes: 16 << 20,
        statement_timeout_ms: 30_000,
        acquire_timeout: Duration::from_secs(3),
    }
}

/// The error kind (`tool-error` case, kebab-case as in the WIT) and message.
fn call_error_kind(e: crate::sandbox::tools::CallError) -> (String, String) {
    use crate::sandbox::capabilities::bindings::tool_types::ToolError as E;
    let message = e.to_string();
    let kind = match e.into_wit("") {
        E::UnknownTool(_) => "unknown-tool",
        E::InvalidArguments(_) => "invalid-arguments",
        E::NotFound(_) => "not-found",
        E::Unavailable(_) => "unavailable",
        E::Failed(_) => "failed",
        E::AccessDenied(_) => "access-denied",
    };
    (kind.to_string(), message)
}

fn value_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Integer(i) => json!(i),
        Value::Real(f) => json!(f),
        Value::Text(s) => json!(s),
        Value::Blob(b) => json!(b),
        Value::Boolean(b) => json!(b),
    }
}

/// Compare everything a case expects with what it produced.
fn check(expect: &Expect, outcome: &Outcome, recording: &Recording, failures: &mut Vec<String>) {
    if let Some(status) = expect.status
        && outcome.status != Some(status)
    {
        failures.push(format!(
            "status: expected {status}, got {}\n  body: {}",
            outcome
                .status
                .map_or("none (a tool case)".into(), |s| s.to_string()),
            truncate(&outcome.body)
        ));
    }
    for (name, value) in &expect.headers {
        let actual = outcome.headers.get(&name.to_ascii_lowercase());
        if !actual.is_some_and(|a| a.starts_with(value.as_str())) {
            failures.push(format!(
                "header `{name}`: expected `{value}`, got {}",
                actual.map_or("none".into(), |a| format!("`{a}`"))
            ));
        }
    }
    if let Some(text) = &expect.body_contains
        && !outcome.body.contains(text.as_str())
    {
        failures.push(format!(
            "body: expected it to contain `{text}`\n  body: {}",
            truncate(&outcome.body)
        ));
    }
    if expect.json.is_some() || expect.json_exact.is_some() {
        match serde_json::from_str::<Json>(&outcome.body) {
            Ok(actual) => {
                if let Some(expected) = &expect.json {
                    compare("json", expected, &actual, false, failures);
                }
                if let Some(expected) = &expect.json_exact {
                    compare("json_exact", expected, &actual, true, failures);
                }
            }
            Err(_) => failures.push(format!(
                "json: the body is not JSON\n  body: {}",
                truncate(&outcome.body)
            )),
        }
    }
    if let Some(expected) = &expect.sse {
        let events = parse_sse(&outcome.body);
        compare(
            "sse",
            &Json::Array(expected.clone()),
            &Json::Array(events),
            false,
            failures,
        );
    }
    match (&outcome.result, &outcome.error) {
        (_, Some((kind, message))) => {
            if expect.result.is_some() || expect.result_exact.is_some() {
                failures.push(format!(
                    "result: expected a result, got error {kind}: {message}"
                ));
            }
            if let Some(expected) = &expect.error {
                if expected != kind {
                    failures.push(format!("error: expected {expected}, got {kind}: {message}"));
                }
            } else if expect.error_contains.is_none()
                && expect.result.is_none()
                && expect.result_exact.is_none()
            {
                failures.push(format!("the tool failed: {kind}: {message}"));
            }
            if let Some(text) = &expect.error_contains
                && !message.contains(text.as_str())
            {
                failures.push(format!(
                    "error: expected the message to contain `{text}`, got `{message}`"
                ));
            }
        }
        (Some(result), None) => {
            if let Some(expected) = &expect.error {
                failures.push(format!(
                    "error: expected {expected}, got the result {result}"
                ));
            }
            if let Some(expected) = &expect.result {
                compare("result", expected, result, false, failures);
            }
            if let Some(expected) = &expect.result_exact {
                compare("result_exact", expected, result, true, failures);
            }
        }
        (None, None) => {}
    }
    check_sql(expect, recording, failures);
    if let Some(n) = expect.llm_calls
        && recording.llm.len() != n
    {
        failures.push(format!(
            "llm_calls: expected {n}, the component made {}",
            recording.llm.len()
        ));
    }
    for (i, expected) in expect.llm.iter().enumerate() {
        match recording.llm.get(i) {
            Some(actual) => compare(&format!("llm[{i}]"), expected, actual, false, failures),
            None => failures.push(format!(
                "llm[{i}]: expected a model call, the component made {}",
                recording.llm.len()
            )),
        }
    }
    let mut made = recording.tools.iter();
    for expected in &expect.tool_calls {
        let found = made.by_ref().any(|(name, arguments)| {
            name == &expected.name
                && expected
                    .arguments
                    .as_ref()
                    .is_none_or(|e| mismatch(e, arguments, false, "").is_none())
        });
        if !found {
            failures.push(format!(
                "tool_calls: expected a call of `{}`{} (in order); the component made: {}",
                expected.name,
                expected
                    .arguments
                    .as_ref()
                    .map_or(String::new(), |a| format!(" with {a}")),
                describe_calls(&recording.tools)
            ));
        }
    }
}

fn check_sql(expect: &Expect, recording: &Recording, failures: &mut Vec<String>) {
    let squash = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase()
    };
    let mut ran = recording.sql.iter();
    for expected in &expect.sql {
        let needle = squash(&expected.contains);
        let params = expected.params.as_ref().map(|p| Json::Array(p.clone()));
        let found = ran.by_ref().any(|(db, statement, actual)| {
            expected.database.as_ref().is_none_or(|d| d == db)
                && squash(statement).contains(&needle)
                && params.as_ref().is_none_or(|p| {
                    loosely_equal(p, &Json::Array(actual.iter().map(value_json).collect()))
                })
        });
        if !found {
            let list: Vec<String> = recording
                .sql
                .iter()
                .map(|(db, s, p)| {
                    let p: Vec<Json> = p.iter().map(value_json).collect();
                    format!("    [{db}] {} {}", squash(s), Json::Array(p))
                })
                .collect();
            failures.push(format!(
                "sql: expected a statement containing `{}`{} (in order); the component ran:\n{}",
                expected.contains,
                params.map_or(String::new(), |p| format!(" with {p}")),
                if list.is_empty() {
                    "    nothing".into()
                } else {
                    list.join("\n")
                }
            ));
        }
    }
}

fn describe_calls(calls: &[(String, Json)]) -> String {
    if calls.is_empty() {
        return "none".into();
    }
    calls
        .iter()
        .map(|(n, a)| format!("{n}({a})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn compare(what: &str, expected: &Json, actual: &Json, exact: bool, failures: &mut Vec<String>) {
    if let Some(at) = mismatch(expected, actual, exact, "") {
        failures.push(format!(
            "{what}: differs at {}\n  expected: {}\n  actual:   {}",
            if at.is_empty() { "the top" } else { &at },
            truncate(&expected.to_string()),
            truncate(&actual.to_string())
        ));
    }
}

/// Where `actual` first differs from `expected` (None: it matches). Numbers
/// compare by value (1 and 1.0 are equal). Not exact: objects may have more
/// keys.
fn mismatch(expected: &Json, actual: &Json, exact: bool, at: &str) -> Option<String> {
    match (expected, actual) {
        (Json::Object(e), Json::Object(a)) => {
            if exact && e.len() != a.len() {
                let extra: Vec<&String> = a.keys().filter(|k| !e.contains_key(*k)).collect();
                return Some(format!("{at} (unexpected keys {extra:?})"));
            }
            e.iter().find_map(|(k, v)| match a.get(k) {
                Some(av) => mismatch(v, av, exact, &format!("{at}.{k}")),
                None => Some(format!("{at}.{k} (missing)")),
            })
        }
        (Json::Array(e), Json::Array(a)) => {
            if e.len() != a.len() {
                return Some(format!(
                    "{at} (expected {} items, got {})",
                    e.len(),
                    a.len()
                ));
            }
            e.iter()
                .zip(a)
                .enumerate()
                .find_map(|(i, (ev, av))| mismatch(ev, av, exact, &format!("{at}[{i}]")))
        }
        (e, a) if loosely_equal(e, a) => None,
        _ => Some(at.to_string()),
    }
}

fn loosely_equal(expected: &Json, actual: &Json) -> bool {
    match (expected, actual) {
        (Json::Number(e), Json::Number(a)) => e.as_f64() == a.as_f64(),
        (Json::Array(e), Json::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| loosely_equal(x, y))
        }
        // SQLite has no boolean: 0/1 stand for false/true.
        (Json::Bool(e), Json::Number(a)) => a.as_i64() == Some(i64::from(*e)),
        (e, a) => e == a,
    }
}

/// Server-sent events as `{event, data}` objects (`data` parsed as JSON when it is).
fn parse_sse(body: &str) -> Vec<Json> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut event = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                }
            }
            if event.is_none() && data.is_empty() {
                return None;
            }
            let data = data.join("\n");
            let data = serde_json::from_str(&data).unwrap_or(Json::String(data));
            Some(json!({ "event": event.unwrap_or_else(|| "message".into()), "data": data }))
        })
        .collect()
}

fn truncate(text: &str) -> String {
    const MAX: usize = 2000;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_and_exact_matching() {
        let actual = json!({"a": 1, "b": [1, 2], "c": "x"});
        assert!(mismatch(&json!({"a": 1.0}), &actual, false, "").is_none());
        assert_eq!(
            mismatch(&json!({"a": 2}), &actual, false, "").as_deref(),
            Some(".a")
        );
        assert!(mismatch(&json!({"a": 1}), &actual, true, "").is_some());
        assert_eq!(
            mismatch(&json!({"b": [1]}), &actual, false, "").as_deref(),
            Some(".b (expected 1 items, got 2)")
        );
        assert_eq!(
            mismatch(&json!({"d": 1}), &actual, false, "").as_deref(),
            Some(".d (missing)")
        );
    }

    #[test]
    fn sse_events_parse() {
        let events = parse_sse("event: token\ndata: {\"t\":\"hi\"}\n\nevent: done\ndata: {}\n\n");
        assert_eq!(
            events,
            vec![
                json!({"event": "token", "data": {"t": "hi"}}),
                json!({"event": "done", "data": {}}),
            ]
        );
    }
}
