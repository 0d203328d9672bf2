//! The test file format: TOML, beside the component, so a Python or
//! JavaScript author writes tests without Rust.
//!
//! ```toml
//! component = "dates"            # optional when the manifest's `tests` key points here
//!
//! [[case]]
//! name = "next Friday at five"
//! tool = "resolve_date"           # a tool call ...
//! arguments = { text = "next Friday at 5", now = "2026-11-24T09:00:00Z" }
//! expect.result = { date = "2026-11-27" }          # a subset of the JSON result
//!
//! [[case]]
//! name = "lists my tasks"
//! request = { method = "GET", path = "/api/u1/tasks" }   # ... or an HTTP request
//! user = "u1"
//! sql.tasks = ["INSERT INTO tasks (user_id, title) VALUES ('u1', 'Buy milk')"]
//! expect = { status = 200, json = [{ title = "Buy milk" }] }
//! ```
//!
//! Unknown keys are errors (a typo must not silently test nothing), reported
//! with the file, line and column.

use crate::services::status::DepState;
use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One test file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The component under test (its id in the manifest).
    #[serde(default)]
    pub component: Option<String>,
    /// Settings every case of the file starts from.
    #[serde(default)]
    pub defaults: CaseDefaults,
    #[serde(default, rename = "case")]
    pub cases: Vec<Case>,
}

/// `[defaults]`: what each case inherits unless it says otherwise.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseDefaults {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub sql: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub vectors: BTreeMap<String, VectorFixture>,
}

/// A vector collection a case starts with (`vectors.<collection> = {...}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorFixture {
    pub dimension: u32,
    /// `cosine` (default), `dot` or `euclid`.
    #[serde(default)]
    pub distance: Option<String>,
    #[serde(default)]
    pub points: Vec<VectorPoint>,
}

/// One point of a [`VectorFixture`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorPoint {
    pub id: String,
    pub vector: Vec<f32>,
    /// A JSON object (default `{}`).
    #[serde(default)]
    pub payload: Option<Json>,
}

/// A collection's state after the case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorExpect {
    pub collection: String,
    /// How many points it holds.
    #[serde(default)]
    pub count: Option<u64>,
    /// Exactly these point ids (in any order).
    #[serde(default)]
    pub ids: Option<Vec<String>>,
}

/// One case: a request or a tool call, its fixtures and what to expect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// An HTTP request to the component's `wasi:http` handler.
    #[serde(default)]
    pub request: Option<RequestSpec>,
    /// A tool to call through the component's `tool-provider` export.
    #[serde(default)]
    pub tool: Option<String>,
    /// The tool's arguments (a JSON object).
    #[serde(default)]
    pub arguments: Option<Json>,
    /// The signed-in user (principal id; the email is `<id>@example.test`).
    /// `user = ""` runs anonymously.
    #[serde(default)]
    pub user: Option<String>,
    /// Variables, over the manifest's for this component.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// SQL run before the case, per granted database, on a fresh database
    /// with the database's migrations applied.
    #[serde(default)]
    pub sql: BTreeMap<String, Vec<String>>,
    /// Vector collections to start with (granted ones only), after `[defaults]`'s.
    #[serde(default)]
    pub vectors: BTreeMap<String, VectorFixture>,
    /// Scripted LLM replies, in the order the component asks for them.
    #[serde(default)]
    pub llm: Vec<LlmReply>,
    /// Dependency states the host reports through `host-status`
    /// (`database = "down"`, `llm = "unconfigured"`, ...).
    #[serde(default)]
    pub status: BTreeMap<String, String>,
    /// Stubbed tools the component may call through `tools`.
    #[serde(default)]
    pub tools: BTreeMap<String, ToolStub>,
    #[serde(default)]
    pub expect: Expect,
}

/// An HTTP request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body (sent with `content-type: application/json`).
    #[serde(default)]
    pub json: Option<Json>,
    /// A raw text body.
    #[serde(default)]
    pub body: Option<String>,
}

fn get() -> String {
    "GET".into()
}

/// One scripted model answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmReply {
    /// The answer text.
    #[serde(default)]
    pub content: Option<String>,
    /// The answer as streamed chunks (for `stream`); joined for `complete`.
    #[serde(default)]
    pub chunks: Vec<String>,
    /// Tool calls the model asks for.
    #[serde(default)]
    pub tool_calls: Vec<LlmToolCall>,
    /// Instead of an answer, fail with this `llm` error kind
    /// (`rate-limited`, `unavailable`, `timeout`, ...).
    #[serde(default)]
    pub error: Option<String>,
}

/// A tool call in a scripted answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmToolCall {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default = "empty_object")]
    pub arguments: Json,
}

fn empty_object() -> Json {
    Json::Object(Default::default())
}

/// A stubbed tool: its description for `list`, and what `call` returns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolStub {
    #[serde(default)]
    pub description: String,
    /// The component it stands in for (default: the first one the
    /// component's `tools = [...]` grant names; the grant is still enforced).
    #[serde(default)]
    pub provider: Option<String>,
    /// The result (any JSON value).
    #[serde(default)]
    pub result: Option<Json>,
    /// Or a `tool-error` kind (`not-found`, `invalid-arguments`, ...).
    #[serde(default)]
    pub error: Option<String>,
}

/// What the case must produce. Every key is optional; JSON is compared as a
/// subset (objects may have more keys, arrays must match element-wise)
/// unless the `_exact` form is used.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: Option<u16>,
    pub json: Option<Json>,
    pub json_exact: Option<Json>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body_contains: Option<String>,
    /// Server-sent events, in order (each a subset: `event`, `data`).
    pub sse: Option<Vec<Json>>,
    /// A tool case's result (subset) ...
    pub result: Option<Json>,
    pub result_exact: Option<Json>,
    /// ... or its error kind, and text its message contains.
    pub error: Option<String>,
    pub error_contains: Option<String>,
    /// SQL statements that must have run, in this order (others may run between).
    #[serde(default)]
    pub sql: Vec<SqlExpect>,
    /// How many LLM calls the component made.
    pub llm_calls: Option<usize>,
    /// What the LLM was sent, call by call (a subset of each request body).
    #[serde(default)]
    pub llm: Vec<Json>,
    /// Tool calls the component made, in order.
    #[serde(default)]
    pub tool_calls: Vec<ToolCallExpect>,
    /// Queries run after the case and the rows they must return.
    #[serde(default)]
    pub db: Vec<DbExpect>,
    /// Vector collections after the case.
    #[serde(default)]
    pub vectors: Vec<VectorExpect>,
}

/// A statement that must have run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlExpect {
    /// Text the statement contains (whitespace-insensitive).
    pub contains: String,
    /// Its parameters, exactly (when given).
    #[serde(default)]
    pub params: Option<Vec<Json>>,
    #[serde(default)]
    pub database: Option<String>,
}

/// A tool call that must have been made.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCallExpect {
    pub name: String,
    /// A subset of its arguments.
    #[serde(default)]
    pub arguments: Option<Json>,
}

/// A query on the database after the case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbExpect {
    #[serde(default)]
    pub database: Option<String>,
    pub query: String,
    pub rows: Vec<Vec<Json>>,
}

/// A test file that cannot be used, naming the file (and line) and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CaseFileError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: case `{case}`: {message}", path.display())]
    Invalid {
        path: PathBuf,
        case: String,
        message: String,
    },
}

impl TestFile {
    /// Read and check one test file.
    pub fn load(path: &Path) -> Result<Self, CaseFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| CaseFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, CaseFileError> {
        let file: TestFile = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_column(text, span.start))
                .unwrap_or((1, 1));
            CaseFileError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        for case in &file.cases {
            let invalid = |message: &str| CaseFileError::Invalid {
                path: path.to_path_buf(),
                case: case.name.clone(),
                message: message.to_string(),
            };
            match (&case.request, &case.tool) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "has both `request` and `tool`: a case is one request or one tool call",
                    ));
                }
                (None, None) => {
                    return Err(invalid(
                        "needs `request = { method, path }` or `tool = \"name\"`",
                    ));
                }
                _ => {}
            }
            if let Some((name, state)) = case
                .status
                .iter()
                .find(|(_, state)| dep_state(state).is_none())
            {
                return Err(invalid(&format!(
                    "`status.{name} = \"{state}\"`: expected healthy, degraded, down, starting, unconfigured or configured"
                )));
            }
            if case.arguments.as_ref().is_some_and(|a| !a.is_object()) {
                return Err(invalid("`arguments` must be a table (a JSON object)"));
            }
            if let Some(request) = &case.request
                && request.json.is_some()
                && request.body.is_some()
            {
                return Err(invalid("the request has both `json` and `body`"));
            }
        }
        Ok(file)
    }
}

/// A `host-status` state by its WIT name.
pub fn dep_state(name: &str) -> Option<DepState> {
    Some(match name {
        "healthy" => DepState::Healthy,
        "degraded" => DepState::Degraded,
        "down" => DepState::Down,
        "starting" => DepState::Starting,
        "unconfigured" => DepState::Unconfigured,
        "configured" => DepState::Configured,
        _ => return None,
    })
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_names_the_file_and_line() {
        let text = "[[case]]\nname = \"x\"\ntool = \"t\"\n[case.expect]\nstauts = 200\n";
        let err = TestFile::parse(Path::new("t.toml"), text).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("t.toml:5:"), "{message}");
        assert!(message.contains("stauts"), "{message}");
    }

    #[test]
    fn a_case_is_a_request_or_a_tool_call() {
        let text = "[[case]]\nname = \"x\"\n";
        let err = TestFile::parse(Path::new("t.toml"), text).unwrap_err();
        assert!(err.to_string().contains("needs `request"), "{err}");
    }
}
