//! What a component under test talks to: its databases (real SQLite, fresh
//! per case, or the database `--real-db` names), a scripted model and
//! stubbed tools — each behind the same trait the production service
//! implements, and each recording what the component asked of it.

use super::cases::{LlmReply, ToolStub};
use crate::sandbox::capabilities::RequestInfo;
use crate::sandbox::capabilities::bindings::tool_types::{Tool, ToolError};
use crate::sandbox::capabilities::llm::{LlmBackend, StreamReceiver};
use crate::sandbox::capabilities::sql::{SqlBackend, SqlTransaction};
use crate::sandbox::capabilities::tools::ToolHost;
use crate::services::db::{Database, QueryLimits, Rows, SqlError, Value};
use crate::services::llm::{Completion, LlmError, StreamItem, ToolCall};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Everything the component did through its capabilities during one case.
#[derive(Debug, Default, Clone)]
pub struct Recording {
    /// (database, statement, parameters).
    pub sql: Vec<(String, String, Vec<Value>)>,
    /// Each request body sent to the model.
    pub llm: Vec<Json>,
    /// (tool, arguments as JSON).
    pub tools: Vec<(String, Json)>,
}

/// The state of the case being run, shared by the fakes.
#[derive(Default)]
pub struct CaseState {
    pub recording: Recording,
    pub databases: BTreeMap<String, Database>,
    pub replies: VecDeque<LlmReply>,
}

/// A lock that survives a panicking holder: the state is plain data.
#[derive(Clone, Default)]
pub struct Shared(Arc<Mutex<CaseState>>);

impl Shared {
    pub fn with<R>(&self, f: impl FnOnce(&mut CaseState) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Database `name` of the current case, recording every statement.
pub struct CaseDatabase {
    pub name: String,
    pub state: Shared,
}

impl CaseDatabase {
    fn current(&self, statement: &str, params: &[Value]) -> Result<Database, SqlError> {
        self.state.with(|s| {
            s.recording
                .sql
                .push((self.name.clone(), statement.to_string(), params.to_vec()));
            s.databases.get(&self.name).cloned().ok_or_else(|| {
                SqlError::Unavailable(format!("database `{}` is not open", self.name))
            })
        })
    }
}

#[async_trait::async_trait]
impl SqlBackend for CaseDatabase {
    async fn query(
        &self,
        statement: &str,
        params: &[Value],
        limits: &QueryLimits,
    ) -> Result<Rows, SqlError> {
        let db = self.current(statement, params)?;
        db.query_limited(statement, params, limits, &mut Duration::default())
            .await
    }

    async fn execute(
        &self,
        statement: &str,
        params: &[Value],
        limits: &QueryLimits,
    ) -> Result<u64, SqlError> {
        let db = self.current(statement, params)?;
        db.execute_limited(statement, params, limits.deadline, &mut Duration::default())
            .await
    }

    async fn begin(&self, limits: &QueryLimits) -> Result<Box<dyn SqlTransaction>, SqlError> {
        let db = self.current("BEGIN", &[])?;
        let inner: Box<dyn SqlTransaction> = Box::new(
            db.begin_limited(limits.deadline, &mut Duration::default())
                .await?,
        );
        Ok(Box::new(RecordedTransaction {
            name: self.name.clone(),
            state: self.state.clone(),
            inner,
        }))
    }
}

struct RecordedTransaction {
    name: String,
    state: Shared,
    inner: Box<dyn SqlTransaction>,
}

impl RecordedTransaction {
    fn record(&self, statement: &str, params: &[Value]) {
        self.state.with(|s| {
            s.recording
                .sql
                .push((self.name.clone(), statement.to_string(), params.to_vec()))
        });
    }
}

#[async_trait::async_trait]
impl SqlTransaction for RecordedTransaction {
    async fn query(
        &mut self,
        statement: &str,
        params: &[Value],
        limits: &QueryLimits,
    ) -> Result<Rows, SqlError> {
        self.record(statement, params);
        self.inner.query(statement, params, limits).await
    }

    async fn execute(
        &mut self,
        statement: &str,
        params: &[Value],
        limits: &QueryLimits,
    ) -> Result<u64, SqlError> {
        self.record(statement, params);
        self.inner.execute(statement, params, limits).await
    }

    async fn commit(self: Box<Self>) -> Result<(), SqlError> {
        self.record("COMMIT", &[]);
        self.inner.commit().await
    }

    async fn rollback(self: Box<Self>) -> Result<(), SqlError> {
        self.record("ROLLBACK", &[]);
        self.inner.rollback().await
    }
}

/// The model: answers from the case's script, in order.
pub struct ScriptedLlm {
    pub state: Shared,
}

impl ScriptedLlm {
    fn next(&self, body: Json) -> Result<(LlmReply, String), LlmError> {
        let model = body
            .get("model")
            .and_then(Json::as_str)
            .unwrap_or("scripted")
            .to_string();
        self.state.with(|s| {
            s.recording.llm.push(body);
            let n = s.recording.llm.len();
            s.replies.pop_front().map(|r| (r, model)).ok_or_else(|| {
                LlmError::BadResponse(format!(
                    "the test scripts no answer for model call #{n} (add an `[[case.llm]]`)"
                ))
            })
        })
    }
}

fn completion(reply: &LlmReply, model: String) -> Result<Completion, LlmError> {
    if let Some(kind) = &reply.error {
        return Err(llm_error(kind));
    }
    let content = reply
        .content
        .clone()
        .or_else(|| (!reply.chunks.is_empty()).then(|| reply.chunks.concat()));
    let tool_calls: Vec<ToolCall> = reply
        .tool_calls
        .iter()
        .enumerate()
        .map(|(i, call)| ToolCall {
            id: call.id.clone().unwrap_or_else(|| format!("call_{}", i + 1)),
            name: call.name.clone(),
            arguments: call.arguments.to_string(),
        })
        .collect();
    Ok(Completion {
        finish_reason: if tool_calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        }
        .into(),
        content,
        tool_calls,
        usage: None,
        model,
    })
}

fn llm_error(kind: &str) -> LlmError {
    let message = "scripted by the test".to_string();
    match kind {
        "unconfigured" => LlmError::Unconfigured,
        "unauthorized" => LlmError::Unauthorized(message),
        "rate-limited" => LlmError::RateLimited(message),
        "timeout" => LlmError::Timeout(Duration::from_secs(0)),
        "invalid-request" => LlmError::InvalidRequest(message),
        "bad-response" => LlmError::BadResponse(message),
        _ => LlmError::Unavailable(message),
    }
}

#[async_trait::async_trait]
impl LlmBackend for ScriptedLlm {
    async fn complete(&self, body: Json) -> Result<Completion, LlmError> {
        let (reply, model) = self.next(body)?;
        completion(&reply, model)
    }

    fn stream(&self, body: Json) -> Result<StreamReceiver, LlmError> {
        let (reply, model) = self.next(body)?;
        let done = completion(&reply, model)?;
        let chunks = if reply.chunks.is_empty() {
            reply.content.iter().cloned().collect()
        } else {
            reply.chunks.clone()
        };
        let (tx, rx) = tokio::sync::mpsc::channel(chunks.len() + 1);
        for chunk in chunks {
            // The channel holds them all: sending cannot wait.
            let _ = tx.try_send(Ok(StreamItem::Content(chunk)));
        }
        let _ = tx.try_send(Ok(StreamItem::Finished(Box::new(done))));
        Ok(rx)
    }

    async fn embed(
        &self,
        inputs: Vec<String>,
        model: Option<String>,
    ) -> Result<Vec<Vec<f32>>, LlmError> {
        self.state.with(|s| {
            s.recording
                .llm
                .push(json!({ "embed": inputs, "model": model }))
        });
        // A deterministic vector per text: equal texts embed equally.
        Ok(inputs
            .iter()
            .map(|text| {
                let mut v = [0f32; 8];
                for (i, b) in text.bytes().enumerate() {
                    v[i % 8] += f32::from(b) / 255.0;
                }
                v.to_vec()
            })
            .collect())
    }
}

/// The tools a component under test may call: the case's stubs.
pub struct StubTools {
    pub stubs: BTreeMap<String, ToolStub>,
    /// The provider a stub without its own stands in for.
    pub default_provider: Arc<str>,
    pub state: Shared,
}

impl StubTools {
    fn provider_of(&self, stub: &ToolStub) -> Arc<str> {
        stub.provider
            .as_deref()
            .map_or_else(|| self.default_provider.clone(), Arc::from)
    }
}

#[async_trait::async_trait]
impl ToolHost for StubTools {
    fn tools(&self) -> Vec<(Arc<str>, Tool)> {
        self.stubs
            .iter()
            .map(|(name, stub)| {
                (
                    self.provider_of(stub),
                    Tool {
                        name: name.clone(),
                        description: stub.description.clone(),
                        parameters_schema: r#"{"type":"object"}"#.into(),
                    },
                )
            })
            .collect()
    }

    fn provider(&self, name: &str) -> Option<Arc<str>> {
        self.stubs.get(name).map(|stub| self.provider_of(stub))
    }

    async fn call(
        &self,
        name: &str,
        arguments: String,
        _caller: &RequestInfo,
    ) -> Result<String, ToolError> {
        let parsed = serde_json::from_str(&arguments).unwrap_or(Json::String(arguments));
        self.state
            .with(|s| s.recording.tools.push((name.to_string(), parsed)));
        let stub = self
            .stubs
            .get(name)
            .ok_or_else(|| ToolError::UnknownTool(name.to_string()))?;
        if let Some(kind) = &stub.error {
            let message = format!("{name}: scripted by the test");
            return Err(match kind.as_str() {
                "unknown-tool" => ToolError::UnknownTool(message),
                "invalid-arguments" => ToolError::InvalidArguments(message),
                "not-found" => ToolError::NotFound(message),
                "unavailable" => ToolError::Unavailable(message),
                "access-denied" => ToolError::AccessDenied(message),
                _ => ToolError::Failed(message),
            });
        }
        Ok(stub.result.clone().unwrap_or(Json::Null).to_string())
    }
}
