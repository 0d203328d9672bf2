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
    /// Hand each streamed completion to the host to relay (`llm::relay`),
    /// so no instance is held while the model streams; the turn goes on in a
    /// fresh instance with the outcome (see `lib.rs`'s `resume`).
    pub relay: bool,
    /// How long to wait for the next streamed token before sending a
    /// keep-alive (Hugging Face's proxy drops streams idle for long).
    pub keepalive_ms: u32,
    /// How many stored messages are replayed to the model.
    pub history_limit: i64,
}

/// Where a turn stands: carried from instance to instance across relays.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// The conversation the turn belongs to.
    pub conversation: i64,
    /// Completions asked for so far (at most `max_turns`).
    pub asked: u32,
    /// Every tool call of the turn, with its input and result.
    pub tool_log: Vec<Json>,
    /// The latest text the model answered.
    pub last_text: String,
}

/// How far `drive` took the turn.
pub enum Step {
    /// The turn is over.
    Done(Outcome),
    /// A completion was handed to the host; the turn resumes in a new instance.
    Relayed,
}

/// SSE framing for the host's relay: the same `token` events and keep-alive
/// comments this component writes itself.
fn relay_format(keepalive_ms: u32) -> llm::RelayFormat {
    llm::RelayFormat {
        prefix: r#"data: {"type":"token","content":"#.into(),
        json_text: true,
        suffix: "}\n\n".into(),
        keepalive: ": keep-alive\n\n".into(),
        keepalive_ms,
    }
}

impl Progress {
    /// A new turn in `conversation`.
    pub fn start(conversation: i64) -> Self {
        Self {
            conversation,
            asked: 0,
            tool_log: Vec::new(),
            last_text: String::new(),
        }
    }
}

impl Agent {
    /// Take the turn on from `progress`: `next` is a completion that has
    /// already arrived (through a relay), else the model is asked.
    pub fn drive(
        &self,
        mut progress: Progress,
        mut next: Option<Result<Completion, llm::Error>>,
        events: &mut dyn Events,
    ) -> Result<Step, AgentError> {
        let definitions: Vec<ToolDefinition> = tools::list()
            .into_iter()
            .map(|t| ToolDefinition {
                name: t.name,
                description: t.description,
                parameters_schema: t.parameters_schema,
            })
            .collect();
        // Read when the model is next asked: a resumed instance whose
        // relayed answer ends the turn never needs it.
        let mut history: Option<Vec<Message>> = None;
        loop {
            let completion = match next.take() {
                Some(arrived) => arrived?,
                None if progress.asked >= self.max_turns => break,
                None => {
                    let mut messages = vec![Message {
                        role: Role::System,
                        content: Some(self.system_prompt.clone()),
                        tool_calls: Vec::new(),
                        tool_call_id: None,
                    }];
                    let history = match &mut history {
                        Some(history) => history,
                        None => history.insert(store::history(
                            &self.user,
                            self.conversation,
                            self.history_limit,
                        )?),
                    };
                    messages.extend(history.iter().cloned());
                    let request = Request {
                        messages,
                        tools: definitions.clone(),
                        model: None,
                        temperature: None,
                        max_tokens: None,
                    };
                    progress.asked += 1;
                    let state = match self.relay {
                        true => serde_json::to_vec(&progress).ok(),
                        false => None,
                    };
                    // The host carries at most 1 MiB of state (a turn with
                    // that much tool output streams here instead).
                    if let Some(state) = state.filter(|s| s.len() <= 1 << 20) {
                        match llm::relay(&request, &relay_format(self.keepalive_ms), &state) {
                            Ok(()) => return Ok(Step::Relayed),
                            // The host is relaying all it can: stream here.
                            Err(llm::Error::Unavailable(_)) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                    if self.stream {
                        stream(request, self.keepalive_ms, events)?
                    } else {
                        llm::complete(&request)?
                    }
                }
            };
            let content = completion.content.clone().filter(|c| !c.is_empty());
            if let Some(text) = &content {
                progress.last_text = text.clone();
            }
            let assistant = Message {
                role: Role::Assistant,
                content: content.clone(),
                tool_calls: completion.tool_calls.clone(),
                tool_call_id: None,
            };
            store::append(&self.user, self.conversation, &assistant)?;
            // Once read, the history is kept up to date here; unread, the
            // store has it.
            if let Some(history) = &mut history {
                history.push(assistant);
            }
            if completion.tool_calls.is_empty() {
                store::touch(&self.user, self.conversation)?;
                return Ok(Step::Done(Outcome {
                    message: content.unwrap_or_default(),
                    tool_calls: progress.tool_log,
                    finish_reason: completion.finish_reason,
                }));
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
                if let Some(history) = &mut history {
                    history.push(message);
                }
                progress.tool_log.push(json!({
                    "tool": call.name,
                    "input": serde_json::from_str::<Json>(&call.arguments).unwrap_or(Json::String(call.arguments.clone())),
                    "result": result,
                }));
            }
        }
        store::touch(&self.user, self.conversation)?;
        Ok(Step::Done(Outcome {
            message: progress.last_text,
            tool_calls: progress.tool_log,
            finish_reason: "max_turns".into(),
        }))
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
