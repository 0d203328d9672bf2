//! The Todo chatbot's agent.
//!
//! * `POST /api/{user_id}/chat` `{"message", "conversation_id"?}` →
//!   `{"message", "conversation_id", "tool_calls": [{"tool", "input", "result"}], "sources", "finish_reason"}`;
//!   with `Accept: text/event-stream` (or at `/api/{user_id}/chat/stream`) the
//!   same turn as server-sent events: `start`, `token`, `tool_call`,
//!   `tool_result`, `sources` (when documents were searched), `done` or `error`, and `: keep-alive` comments.
//! * `GET /api/{user_id}/conversations`, `GET|DELETE /api/{user_id}/conversations/{id}`.
//! * The RAG seeds' routes, for a caller with a token or an anonymous session
//!   (the host resolves either into the principal): `POST /api/chat`
//!   `{"message", "conversation_id"?}` (seed 003; SSE unless the client asks
//!   for JSON only), `GET /api/conversation/{id}`, and `POST /api/v1/chat`
//!   (JSON) / `POST /api/v1/chat/stream` (SSE) `{"session_id"?, "question"}`
//!   (seed 002), which go on with the caller's latest conversation.
//!
//! Variables: `system_prompt`, `max_turns` (default 8), `keepalive_ms` (default 15000),
//! `history_limit` (messages replayed to the model, default 100).

mod agent;
mod store;

use agent::{Agent, AgentError, Events, Outcome, Progress, Quiet, Step};
use serde_json::{Value as Json, json};
use spaceport_sdk::host_status::{self, State};
use spaceport_sdk::llm::{self, ToolCall};
use spaceport_sdk::{BodyWriter, Handler, Request, Response, context, variables};
use store::StoreError;

const DEFAULT_PROMPT: &str = "You are a helpful assistant that manages the user's todo list with the tools \
you have. Use them to add, list, update, complete and delete tasks; refer to tasks by id when you call a \
tool, and confirm briefly what you did.";

struct Chat;

impl Handler for Chat {
    fn handle(req: Request) -> Response {
        let Some(user) = context::user() else {
            return Response::error(401, "not_authenticated", "missing bearer token");
        };
        // This instance carries on a streamed turn after the host relayed
        // the model's answer.
        if let Some(relayed) = llm::relayed() {
            return resume(&user.user_id, relayed);
        }
        let route = context::matched_route();
        // The seeds' routes: one fixed shape each.
        let seed = match (route.as_str(), req.method.as_str()) {
            ("/api/chat", "POST") => Some(chat(&user.user_id, &req, !json_only(&req), Style::Todo)),
            ("/api/v1/chat", "POST") => Some(chat(&user.user_id, &req, false, Style::Session)),
            ("/api/v1/chat/stream", "POST") => {
                Some(chat(&user.user_id, &req, true, Style::Session))
            }
            ("/api/conversation/:id", "GET") => Some(
                id_of(&context::param("id").unwrap_or_default()).and_then(|id| {
                    store::get(&user.user_id, id)
                        .map(|v| Response::json(200, &v))
                        .map_err(store_error)
                }),
            ),
            _ => None,
        };
        if let Some(result) = seed {
            return result.unwrap_or_else(|r| r);
        }
        let info = context::path_info();
        let rest: Vec<&str> = info.split('/').filter(|s| !s.is_empty()).collect();
        let is_chat = route.ends_with("/chat") || route.ends_with("/chat/...");
        let result = if is_chat {
            match (req.method.as_str(), rest.as_slice()) {
                ("POST", []) => chat(&user.user_id, &req, wants_sse(&req), Style::Todo),
                ("POST", ["stream"]) => chat(&user.user_id, &req, true, Style::Todo),
                _ => Err(Response::error(
                    404,
                    "not_found",
                    &format!("no resource at {}", req.path),
                )),
            }
        } else {
            match (req.method.as_str(), rest.as_slice()) {
                ("GET", []) => store::list(&user.user_id)
                    .map(|v| Response::json(200, &v))
                    .map_err(store_error),
                ("GET", [id]) => id_of(id).and_then(|id| {
                    store::get(&user.user_id, id)
                        .map(|v| Response::json(200, &v))
                        .map_err(store_error)
                }),
                ("DELETE", [id]) => id_of(id).and_then(|id| {
                    store::delete(&user.user_id, id)
                        .map(|()| Response::json(200, &json!({"id": id, "deleted": true})))
                        .map_err(store_error)
                }),
                _ => Err(Response::error(
                    404,
                    "not_found",
                    &format!("no resource at {}", req.path),
                )),
            }
        };
        result.unwrap_or_else(|r| r)
    }
}

/// Which body a chat route takes.
#[derive(Clone, Copy, PartialEq)]
enum Style {
    /// `{"message", "conversation_id"?}`: no id starts a new conversation.
    Todo,
    /// Seed 002's `{"question"}`: no id goes on with the
    /// caller's latest conversation, as a session's chat does.
    Session,
}

/// `Accept: application/json` without `text/event-stream`: `/api/chat`
/// streams unless asked not to.
fn json_only(req: &Request) -> bool {
    req.header("accept")
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/event-stream"))
}

fn wants_sse(req: &Request) -> bool {
    req.header("accept")
        .is_some_and(|a| a.contains("text/event-stream"))
}

/// An integer, also written as `4.0` (an integer to JSON Schema, so clients
/// generated from the OpenAPI document may send it so).
fn integer(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().or_else(|| {
        text.parse::<f64>()
            .ok()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

fn id_of(segment: &str) -> Result<i64, Response> {
    integer(segment)
        .ok_or_else(|| Response::error(422, "validation_error", "id: must be an integer"))
}

fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::NotFound => Response::error(404, "not_found", "conversation not found"),
        StoreError::Unavailable => Response::error(
            503,
            "database_unavailable",
            "the database is unavailable; retry shortly",
        ),
        StoreError::Failed(m) => Response::error(500, "internal_error", &m),
    }
}

/// (status, code, detail) for an LLM failure.
fn llm_error(e: &llm::Error) -> (u16, &'static str, String) {
    match e {
        llm::Error::Unconfigured(m) => (503, "llm_unconfigured", m.clone()),
        llm::Error::Unauthorized(m) => (502, "llm_unauthorized", m.clone()),
        llm::Error::RateLimited(m) => (503, "llm_rate_limited", m.clone()),
        llm::Error::Unavailable(m) => (502, "llm_unavailable", m.clone()),
        llm::Error::BadResponse(m) => (502, "llm_bad_response", m.clone()),
        llm::Error::Timeout(m) => (504, "llm_timeout", m.clone()),
        llm::Error::InvalidRequest(m) => (502, "llm_invalid_request", m.clone()),
        llm::Error::AccessDenied(m) => (500, "capability_denied", m.clone()),
    }
}

fn agent_error(e: AgentError) -> (u16, &'static str, String) {
    match e {
        AgentError::Llm(e) => llm_error(&e),
        AgentError::Store(StoreError::NotFound) => {
            (404, "not_found", "conversation not found".into())
        }
        AgentError::Store(StoreError::Unavailable) => (
            503,
            "database_unavailable",
            "the database is unavailable".into(),
        ),
        AgentError::Store(StoreError::Failed(m)) => (500, "internal_error", m),
    }
}

fn llm_configured() -> bool {
    !host_status::get()
        .dependencies
        .iter()
        .any(|d| d.name == "llm" && matches!(d.state, State::Unconfigured))
}

fn chat(user: &str, req: &Request, sse: bool, style: Style) -> Result<Response, Response> {
    let body = match req.json::<Json>()? {
        Json::Object(map) => map,
        _ => {
            return Err(Response::error(
                422,
                "validation_error",
                "body: expected a JSON object",
            ));
        }
    };
    let field = match style {
        Style::Todo => "message",
        Style::Session => "question",
    };
    let text = body.get(field);
    let message = match text {
        // The length as sent, as the schema's `maxLength` counts it.
        Some(Json::String(m)) if m.chars().count() > 4000 => {
            return Err(field_error(field, "must be at most 4000 characters"));
        }
        // PostgreSQL cannot store NUL.
        Some(Json::String(m)) if m.contains('\0') => {
            return Err(field_error(field, "must not contain NUL characters"));
        }
        Some(Json::String(m)) if !m.trim().is_empty() => m.trim().to_string(),
        Some(Json::String(_)) | None | Some(Json::Null) => {
            return Err(field_error(field, "is required and must not be empty"));
        }
        Some(_) => return Err(field_error(field, "must be a string")),
    };
    let conversation_id = match body.get("conversation_id") {
        None | Some(Json::Null) => None,
        Some(Json::Number(n)) => Some(
            n.as_i64()
                .or_else(|| integer(&n.to_string()))
                .ok_or_else(|| field_error("conversation_id", "must be an integer"))?,
        ),
        Some(Json::String(s)) => Some(
            s.parse()
                .map_err(|_| field_error("conversation_id", "must be an integer"))?,
        ),
        Some(_) => return Err(field_error("conversation_id", "must be an integer")),
    };
    if !llm_configured() {
        return Err(Response::error(
            503,
            "llm_unconfigured",
            "chat needs an LLM: set OPENAI_API_KEY (and OPENAI_BASE_URL / OPENAI_MODEL for other providers)",
        ));
    }
    let conversation_id = match (style, conversation_id) {
        (Style::Session, None) => store::latest(user).map_err(store_error)?,
        (_, id) => id,
    };
    // The user's message is stored before the model is asked anything.
    let conversation = store::open(user, conversation_id, &message).map_err(store_error)?;
    store::append(
        user,
        conversation,
        &llm::Message {
            role: llm::Role::User,
            content: Some(message),
            tool_calls: Vec::new(),
            tool_call_id: None,
        },
    )
    .map_err(store_error)?;
    let agent = agent_for(user, conversation, sse);
    if sse {
        return Ok(sse_response(move |w| {
            let mut sse = Sse { out: w };
            sse.send(&json!({"type": "start", "conversation_id": agent.conversation}));
            let step = agent.drive(Progress::start(conversation), None, &mut sse);
            end_turn(&agent, step, &mut sse);
        }));
    }
    match agent.drive(Progress::start(conversation), None, &mut Quiet) {
        Ok(Step::Done(outcome)) => Ok(Response::json(200, &reply(conversation, &outcome))),
        // A JSON turn never relays (`relay` is set for SSE only).
        Ok(Step::Relayed) => Err(Response::error(
            500,
            "internal_error",
            "the turn was relayed without a stream",
        )),
        Err(e) => {
            let (status, code, detail) = agent_error(e);
            Err(Response::json(
                status,
                &json!({"error": code, "detail": detail, "conversation_id": conversation, "request_id": context::request_id()}),
            ))
        }
    }
}

/// Agent settings from the component's variables.
fn agent_for(user: &str, conversation: i64, sse: bool) -> Agent {
    Agent {
        user: user.to_string(),
        conversation,
        system_prompt: variables::get("system_prompt")
            .unwrap_or_else(|| DEFAULT_PROMPT.to_string()),
        max_turns: variables::get("max_turns")
            .and_then(|v| v.parse().ok())
            .unwrap_or(8),
        stream: sse,
        relay: sse && variables::get("relay").is_none_or(|v| v != "false"),
        keepalive_ms: variables::get("keepalive_ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(15_000),
        history_limit: variables::get("history_limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or(store::HISTORY),
    }
}

fn sse_response(write: impl FnOnce(&mut BodyWriter) + 'static) -> Response {
    Response::stream(200, "text/event-stream", write)
        .with_header("cache-control", "no-cache")
        .with_header("x-accel-buffering", "no")
}

/// Go on with a streamed turn whose completion the host relayed: its text
/// has reached the client; store it, run its tool calls, and ask again (or
/// finish). Only the body is sent on: the first instance sent the head.
fn resume(user: &str, relayed: llm::RelayOutcome) -> Response {
    let progress: Option<Progress> = serde_json::from_slice(&relayed.state).ok();
    let user = user.to_string();
    sse_response(move |w| {
        let mut sse = Sse { out: w };
        let Some(progress) = progress else {
            sse.send(&json!({"type": "error", "error": "internal_error", "detail": "the relayed turn's state is unreadable"}));
            return;
        };
        let agent = agent_for(&user, progress.conversation, true);
        let step = agent.drive(progress, Some(relayed.outcome), &mut sse);
        end_turn(&agent, step, &mut sse);
    })
}

fn field_error(field: &str, detail: &str) -> Response {
    Response::json(
        422,
        &json!({"error": "validation_error", "detail": format!("{field}: {detail}"), "field": field, "request_id": context::request_id()}),
    )
}

fn reply(conversation: i64, outcome: &Outcome) -> Json {
    json!({
        "message": outcome.message,
        "conversation_id": conversation,
        "tool_calls": outcome.tool_calls,
        "sources": sources(&outcome.tool_calls),
        "finish_reason": outcome.finish_reason,
    })
}

/// The documents the turn's tool calls returned passages of (a tool result
/// with `results: [{document_id, title, chunk, score}]`, as `search_documents`
/// answers), once each and in the order found: the citations of the answer.
/// A passage from an existing library collection has no `document_id` (null)
/// and is told apart by its title.
fn sources(tool_calls: &[Json]) -> Vec<Json> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for call in tool_calls {
        let Some(results) = call["result"]["results"].as_array() else {
            continue;
        };
        for r in results {
            let Some(title) = r["title"].as_str() else {
                continue;
            };
            let document_id = r["document_id"].as_i64();
            if document_id.is_none() && !r["document_id"].is_null() {
                continue;
            }
            let chunk = r["chunk"].as_i64();
            if seen.insert((document_id, title.to_string(), chunk)) {
                out.push(json!({
                    "document_id": document_id,
                    "title": title,
                    "chunk": chunk,
                    "score": r["score"],
                    "source_url": r["source_url"],
                }));
            }
        }
    }
    out
}

/// Server-sent events for one turn.
struct Sse<'a> {
    out: &'a mut BodyWriter,
}

impl Sse<'_> {
    fn send(&mut self, event: &Json) {
        let _ = self.out.write(format!("data: {event}\n\n").as_bytes());
    }
}

impl Events for Sse<'_> {
    fn token(&mut self, text: &str) {
        self.send(&json!({"type": "token", "content": text}));
    }
    fn tool_call(&mut self, call: &ToolCall) {
        let input = serde_json::from_str::<Json>(&call.arguments)
            .unwrap_or(Json::String(call.arguments.clone()));
        self.send(&json!({"type": "tool_call", "id": call.id, "tool": call.name, "input": input}));
    }
    fn tool_result(&mut self, call: &ToolCall, result: &Json) {
        self.send(
            &json!({"type": "tool_result", "id": call.id, "tool": call.name, "result": result}),
        );
    }
    fn keepalive(&mut self) {
        let _ = self.out.write(b": keep-alive\n\n");
    }
}

/// The turn's last events: `sources` and `done`, or `error`; nothing when
/// its completion went to the host to relay (a resumed instance goes on).
fn end_turn(agent: &Agent, step: Result<Step, AgentError>, sse: &mut Sse) {
    match step {
        Ok(Step::Relayed) => {}
        Ok(Step::Done(outcome)) => {
            let sources = sources(&outcome.tool_calls);
            if !sources.is_empty() {
                sse.send(&json!({"type": "sources", "sources": sources}));
            }
            sse.send(&json!({
                "type": "done",
                "conversation_id": agent.conversation,
                "message": outcome.message,
                "tool_calls": outcome.tool_calls,
                "sources": sources,
                "finish_reason": outcome.finish_reason,
            }))
        }
        Err(e) => {
            let (_, code, detail) = agent_error(e);
            sse.send(&json!({"type": "error", "error": code, "detail": detail, "conversation_id": agent.conversation}));
        }
    }
}

spaceport_sdk::http_component!(Chat);
