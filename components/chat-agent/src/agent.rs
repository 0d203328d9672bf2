//! The agent loop: history + tools → LLM → run the tool calls → feed the
//! results back → until the model answers, bounded by `max_turns`. Every
//! message is stored as soon as it exists, so a failure loses nothing.

use crate::store::{self, StoreError};
use serde_json::{Value as Json, json};
use spaceport_sdk::llm::{
    self, Completion, Message, Request, Role, StreamEvent, ToolCall, ToolDefinition,
};
use spaceport_sdk::tools;

/// Where the agent reports progress: SSE events, or nothing (JSON mode).
pub trait Events {
    fn token(&mut self, _text: &str) {}
    fn tool_call(&mut self, _call: &ToolCall) {}
    fn tool_result(&mut self, _call: &ToolCall, _result: &Json) {}
    fn keepalive(&mut self) {}
}

/// JSON mode reports nothing while running.
pub struct Quiet;
impl Events for Quiet {}

pub struct Outcome {
    pub message: String,
    pub tool_calls: Vec<Json>,
    pub finish_reason: String,
}

#[derive(Debug)]
pub enum AgentError {
    Llm(llm::Error),
    Store(StoreError),
}

impl From<llm::Error> for AgentError {
    fn from(e: llm::Error) -> Self {
        AgentError::Llm(e)
    }
}

impl From<StoreError> for AgentError {
    fn from(e: StoreError) -> Self {
        AgentError::Store(e)
    }
}

pub struct Agent {
    pub user: String,
    pub conversation: i64,
    pub system_prompt: String,
    pub max_turns: u32,
    pub stream: bool,
    /// How long to wait for the next streamed token before sending a
    /// keep-alive (Hugging Face's proxy drops streams idle for long).
    pub keepalive_ms: u32,
    /// How many stored messages are replayed to the model.
    pub history_limit: i64,
}

impl Agent {
    pub fn run(&self, events: &mut dyn Events) -> Result<Outcome, AgentError> {
        let definitions: Vec<ToolDefinition> = tools::list()
            .into_iter()
            .map(|t| ToolDefinition {
                name: t.name,
                description: t.description,
                parameters_schema: t.parameters_schema,
            })
            .collect();
        let mut history = store::history(&self.user, self.conversation, self.history_limit)?;
        let mut tool_log = Vec::new();
        let mut last_text = String::new();
        for _ in 0..self.max_turns {
            let mut messages = vec![Message {
                role: Role::System,
                content: Some(self.system_prompt.clone()),
                tool_calls: Vec::new(),
                tool_call_id: None,
            }];
            messages.extend(history.iter().cloned());
            let request = Request {
                messages,
                tools: definitions.clone(),
                model: None,
                temperature: None,
                max_tokens: None,
            };
            let completion = if self.stream {
                stream(request, self.keepalive_ms, events)?
            } else {
                llm::complete(&request)?
            };
            let content = completion.content.clone().filter(|c| !c.is_empty());
            if let Some(text) = &content {
                last_text = text.clone();
            }
            let assistant = Message {
                role: Role::Assistant,
                content: content.clone(),
                tool_calls: completion.tool_calls.clone(),
                tool_call_id: None,
            };
            store::append(&self.user, self.conversation, &assistant)?;
            history.push(assistant);
            if completion.tool_calls.is_empty() {
                store::touch(&self.user, self.conversation)?;
                return Ok(Outcome {
                    message: content.unwrap_or_default(),
                    tool_calls: tool_log,
                    finish_reason: completion.finish_reason,
                });
            }
            for call in &completion.tool_calls {
                events.tool_call(call);
                let result = tool_outcome(tools::call(&call.name, &call.arguments));
                events.tool_result(call, &result);
                let message = Message {
                    role: Role::Tool,
                    content: Some(result.to_string()),
                    tool_calls: Vec::new(),
                    tool_call_id: Some(call.id.clone()),
                };
                store::append(&self.user, self.conversation, &message)?;
                history.push(message);
                tool_log.push(json!({
                    "tool": call.name,
                    "input": serde_json::from_str::<Json>(&call.arguments).unwrap_or(Json::String(call.arguments.clone())),
                    "result": result,
                }));
            }
        }
        store::touch(&self.user, self.conversation)?;
        Ok(Outcome {
            message: last_text,
            tool_calls: tool_log,
            finish_reason: "max_turns".into(),
        })
    }
}

/// Stream one completion, reporting tokens (and keep-alives while waiting).
fn stream(
    request: Request,
    keepalive_ms: u32,
    events: &mut dyn Events,
) -> Result<Completion, llm::Error> {
    let stream = llm::stream(&request)?;
    loop {
        match stream.next(keepalive_ms)? {
            StreamEvent::Content(text) => events.token(&text),
            StreamEvent::Idle => events.keepalive(),
            StreamEvent::Finished(done) => return Ok(done),
        }
    }
}

/// A tool's outcome as the model and the client see it: the tool's JSON with
/// `"success": true`, or `{"success": false, "error", "detail"}` (the model
/// reads the error and can correct itself).
fn tool_outcome(outcome: Result<String, tools::ToolError>) -> Json {
    use tools::ToolError;
    match outcome {
        Ok(text) => match serde_json::from_str::<Json>(&text) {
            Ok(Json::Object(mut fields)) => {
                fields.insert("success".into(), Json::Bool(true));
                Json::Object(fields)
            }
            Ok(other) => json!({ "success": true, "value": other }),
            Err(_) => json!({ "success": true, "value": text }),
        },
        Err(e) => {
            let (code, detail) = match e {
                ToolError::UnknownTool(d) => ("unknown_tool", d),
                ToolError::InvalidArguments(d) => ("invalid_arguments", d),
                ToolError::NotFound(d) => ("not_found", d),
                ToolError::Unavailable(d) => ("unavailable", d),
                ToolError::Failed(d) => ("failed", d),
                ToolError::AccessDenied(d) => ("access_denied", d),
            };
            json!({ "success": false, "error": code, "detail": detail })
        }
    }
}
