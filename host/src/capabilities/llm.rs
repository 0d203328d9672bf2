//! `spaceport:platform/llm`: chat completions (whole or streamed) and
//! embeddings through the host's client (`crate::llm`), for components the
//! manifest grants it (`llm = true`). The API key never enters the instance.

use super::bindings::llm::{
    self, Completion as WitCompletion, Error as WitError, Host, HostCompletionStream, Message,
    Request, Role, StreamEvent, ToolCall as WitToolCall, Usage as WitUsage,
};
use super::{Capability, InstanceState, RequestInfo};
use crate::llm::{Completion, LlmClient, LlmError, StreamItem};
use crate::manifest::ComponentConfig;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};

/// The llm capability.
pub struct Llm {
    pub client: Arc<LlmClient>,
}

/// Per-instance state.
pub struct State {
    granted: bool,
    client: Arc<LlmClient>,
    table: ResourceTable,
}

/// The host side of a `completion-stream`; `None` once it has ended.
pub struct CompletionStream(Option<mpsc::Receiver<Result<StreamItem, LlmError>>>);

impl Capability for Llm {
    type Grant = bool;
    type State = State;

    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        Ok(llm::add_to_linker::<_, HasSelf<State>>(linker, |s| {
            &mut s.llm
        })?)
    }

    fn grant(&self, _id: &str, component: &ComponentConfig) -> Result<bool, String> {
        Ok(component.llm)
    }

    fn instance(&self, grant: &bool, _request: &Arc<RequestInfo>) -> State {
        State {
            granted: *grant,
            client: self.client.clone(),
            table: ResourceTable::new(),
        }
    }
}

impl State {
    fn client(&self) -> Result<&Arc<LlmClient>, WitError> {
        if !self.granted {
            return Err(WitError::Unconfigured(
                "this component is not granted the llm capability (set `llm = true` in the manifest)".into(),
            ));
        }
        Ok(&self.client)
    }
}

impl Host for State {
    async fn complete(&mut self, request: Request) -> Result<WitCompletion, WitError> {
        Ok(to_wit(self.client()?.complete(body(request)).await?))
    }

    async fn stream(&mut self, request: Request) -> Result<Resource<CompletionStream>, WitError> {
        let rx = self.client()?.stream(body(request))?;
        self.table
            .push(CompletionStream(Some(rx)))
            .map_err(|e| WitError::BadResponse(e.to_string()))
    }

    async fn embed(
        &mut self,
        inputs: Vec<String>,
        model: Option<String>,
    ) -> Result<Vec<Vec<f32>>, WitError> {
        Ok(self.client()?.embed(inputs, model).await?)
    }
}

impl HostCompletionStream for State {
    async fn next(
        &mut self,
        stream: Resource<CompletionStream>,
        wait_ms: u32,
    ) -> Result<StreamEvent, WitError> {
        let slot = self
            .table
            .get_mut(&stream)
            .map_err(|e| WitError::BadResponse(e.to_string()))?;
        let Some(rx) = slot.0.as_mut() else {
            return Err(WitError::BadResponse("the stream has already ended".into()));
        };
        let item =
            match tokio::time::timeout(Duration::from_millis(wait_ms.into()), rx.recv()).await {
                Err(_) => return Ok(StreamEvent::Idle),
                Ok(item) => item,
            };
        match item {
            Some(Ok(StreamItem::Content(text))) => Ok(StreamEvent::Content(text)),
            Some(Ok(StreamItem::Finished(done))) => {
                slot.0 = None;
                Ok(StreamEvent::Finished(to_wit(done)))
            }
            Some(Err(e)) => {
                slot.0 = None;
                Err(e.into())
            }
            None => {
                slot.0 = None;
                Err(WitError::Unavailable(
                    "the stream ended unexpectedly".into(),
                ))
            }
        }
    }

    async fn drop(&mut self, stream: Resource<CompletionStream>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        Ok(())
    }
}

/// The OpenAI Chat Completions request body.
fn body(request: Request) -> Value {
    let messages: Vec<Value> = request.messages.into_iter().map(message).collect();
    let mut body = json!({ "messages": messages });
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .into_iter()
            .map(|t| {
                let parameters = serde_json::from_str::<Value>(&t.parameters_schema)
                    .unwrap_or_else(|_| json!({"type": "object"}));
                json!({ "type": "function", "function": { "name": t.name, "description": t.description, "parameters": parameters } })
            })
            .collect();
    }
    if let Some(model) = request.model {
        body["model"] = json!(model);
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(m) = request.max_tokens {
        body["max_tokens"] = json!(m);
    }
    body
}

fn message(m: Message) -> Value {
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut v = json!({ "role": role, "content": m.content });
    if !m.tool_calls.is_empty() {
        v["tool_calls"] = m
            .tool_calls
            .into_iter()
            .map(|c| json!({ "id": c.id, "type": "function", "function": { "name": c.name, "arguments": c.arguments } }))
            .collect();
    }
    if let Some(id) = m.tool_call_id {
        v["tool_call_id"] = json!(id);
    }
    v
}

fn to_wit(c: Completion) -> WitCompletion {
    WitCompletion {
        content: c.content,
        tool_calls: c
            .tool_calls
            .into_iter()
            .map(|t| WitToolCall {
                id: t.id,
                name: t.name,
                arguments: t.arguments,
            })
            .collect(),
        finish_reason: c.finish_reason,
        usage: c.usage.map(|u| WitUsage {
            prompt_tokens: u.prompt,
            completion_tokens: u.completion,
            total_tokens: u.total,
        }),
        model: c.model,
    }
}

impl From<LlmError> for WitError {
    fn from(e: LlmError) -> Self {
        let text = e.to_string();
        match e {
            LlmError::Unconfigured => WitError::Unconfigured(text),
            LlmError::Unauthorized(_) => WitError::Unauthorized(text),
            LlmError::RateLimited(_) => WitError::RateLimited(text),
            LlmError::Unavailable(_) => WitError::Unavailable(text),
            LlmError::BadResponse(_) => WitError::BadResponse(text),
            LlmError::Timeout(_) => WitError::Timeout(text),
            LlmError::InvalidRequest(_) => WitError::InvalidRequest(text),
        }
    }
}
