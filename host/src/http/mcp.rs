//! MCP at `/mcp` (Streamable HTTP): every tool of the app's tool components
//! (those whose manifest entry leaves `mcp` on) for any MCP client, each call
//! run as the authenticated user exactly as an agent's tool call is: the same
//! argument check against the tool's JSON Schema, the same instance slots,
//! limits and LLM budget.
//!
//! The protocol is the official SDK's (`rmcp`): its Streamable HTTP service
//! sits behind the host's pipeline, which settles what rmcp leaves open for a
//! public Space: the bearer token (401 with `WWW-Authenticate`), `Origin`
//! against `ALLOWED_ORIGINS` (rmcp's own allow-list is empty by default, which
//! turns its check off), `Host` against `SPACEPORT_MCP_ALLOWED_HOSTS` (rmcp's
//! defaults to loopback only, which refuses a Space's public name), and a cap
//! on open sessions (rmcp keeps any number).

// Errors here are ready-to-send responses, built once on the error path.
#![allow(clippy::result_large_err)]

use super::body::RequestBody;
use super::cors::Origins;
use super::llm_limits::LlmLimits;
use super::response::{Body, error, tool_error_code};
use crate::app::registry::Registry;
use crate::app::snapshot::App;
use crate::sandbox::capabilities::RequestInfo;
use crate::sandbox::tools::CallError;
use crate::services::auth::Principal;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig,
    Tool,
};
use rmcp::service::{NotificationContext, Peer, RequestContext};
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

/// The path MCP is served at.
pub const PATH: &str = "/mcp";

/// `/mcp`'s settings (from the environment, see `cli::config`).
#[derive(Debug, Clone)]
pub struct McpConfig {
    /// At most this many sessions open at once (503 `busy` for a new one beyond).
    pub max_sessions: usize,
    /// At most this many per user: a user's new session beyond closes their
    /// oldest one, so one account's leaked sessions cannot fill the host.
    pub sessions_per_user: usize,
    /// A session nobody uses for this long is closed.
    pub session_idle: Duration,
    /// `Host` header values accepted (names, without port); empty: any.
    pub allowed_hosts: Vec<String>,
    /// The largest request body (413 beyond), as on every other route.
    pub max_body_bytes: usize,
    /// How long a client may take to send a body (408 beyond), as on every other route.
    pub body_timeout: Duration,
}

/// What every session's handler shares.
struct Shared {
    registry: Arc<Registry>,
    llm_limits: Arc<LlmLimits>,
    /// The sessions to tell when the tool list changes.
    peers: Mutex<Vec<Peer<RoleServer>>>,
}

/// The `/mcp` endpoint.
pub struct Mcp {
    service: StreamableHttpService<Handler, LocalSessionManager>,
    max_body_bytes: usize,
    body_timeout: Duration,
    sessions: Arc<LocalSessionManager>,
    origins: Origins,
    max_sessions: usize,
    sessions_per_user: usize,
    /// Each user's sessions, oldest first.
    owners: tokio::sync::Mutex<std::collections::HashMap<String, Vec<SessionId>>>,
}

type SessionId = Arc<str>;

impl Mcp {
    pub fn new(
        config: &McpConfig,
        registry: Arc<Registry>,
        llm_limits: Arc<LlmLimits>,
        origins: Origins,
    ) -> Self {
        let shared = Arc::new(Shared {
            registry,
            llm_limits,
            peers: Mutex::default(),
        });
        let mut sessions = LocalSessionManager::default();
        let mut session_config = SessionConfig::default();
        session_config.keep_alive = Some(config.session_idle);
        sessions.session_config = session_config;
        let sessions = Arc::new(sessions);
        let mut service_config = StreamableHttpServerConfig::default()
            .with_sse_keep_alive(Some(Duration::from_secs(15)))
            // The host's body limit, not rmcp's own 4 MiB default.
            .with_max_request_body_bytes(config.max_body_bytes)
            // The host checks Origin itself, with ALLOWED_ORIGINS' patterns.
            .disable_allowed_origins();
        service_config = if config.allowed_hosts.is_empty() {
            service_config.disable_allowed_hosts()
        } else {
            service_config.with_allowed_hosts(config.allowed_hosts.clone())
        };
        let for_factory = shared.clone();
        let service = StreamableHttpService::new(
            move || {
                Ok(Handler {
                    shared: for_factory.clone(),
                })
            },
            sessions.clone(),
            service_config,
        );
        tokio::spawn(announce_changes(shared));
        Self {
            service,
            sessions,
            origins,
            max_sessions: config.max_sessions,
            max_body_bytes: config.max_body_bytes,
            body_timeout: config.body_timeout,
            sessions_per_user: config.sessions_per_user.max(1),
            owners: tokio::sync::Mutex::default(),
        }
    }

    /// Serve one request to `/mcp` from `principal` (the pipeline has
    /// authenticated it). Origin and the session cap are checked here.
    pub async fn serve(
        &self,
        mut req: Request<RequestBody>,
        principal: Principal,
        request_id: &str,
    ) -> Response<Body> {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let ok = origin.to_str().is_ok_and(|o| self.origins.allows(o));
            if !ok {
                return error(
                    StatusCode::FORBIDDEN,
                    "origin_not_allowed",
                    "this Origin is not in ALLOWED_ORIGINS",
                    request_id,
                );
            }
        }
        let opening =
            req.method() == http::Method::POST && !req.headers().contains_key("mcp-session-id");
        if opening {
            self.make_room(&principal.user_id).await;
        }
        if opening && self.sessions.sessions.read().await.len() >= self.max_sessions {
            let mut resp = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many MCP sessions are open; retry shortly",
                request_id,
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return resp;
        }
        // A session is its opener's: another user's token gets what an
        // unknown session gets (rmcp checks only that the session exists).
        if let Some(id) = req
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            let owners = self.owners.lock().await;
            let owner = owners
                .iter()
                .find(|(_, ids)| ids.iter().any(|s| &**s == id))
                .map(|(user, _)| user.as_str());
            if owner != Some(principal.user_id.as_str()) {
                return error(
                    StatusCode::NOT_FOUND,
                    "session_not_found",
                    "no such MCP session for this user",
                    request_id,
                );
            }
        }
        let user = principal.user_id.clone();
        let json_body = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        req.extensions_mut().insert(principal);
        req.extensions_mut()
            .insert(RequestId(request_id.to_string()));
        // rmcp runs sessions on tasks of their own: the request's span goes
        // with the request, so a tool call's spans and log lines are its children.
        req.extensions_mut()
            .insert(RequestSpan(tracing::Span::current()));
        let closing = req.method() == http::Method::DELETE;
        // The body is read here, bounded in size and time like every other
        // route's: rmcp would wait for a slow client for ever.
        let (parts, body) = req.into_parts();
        let body = match super::body::read(
            body,
            &parts.headers,
            self.max_body_bytes,
            self.body_timeout,
            request_id,
        )
        .await
        {
            Ok(body) => body,
            Err(resp) => return resp,
        };
        let req = Request::from_parts(parts, http_body_util::Full::new(body));
        let mut resp = self.service.handle(req).await;
        if opening && let Some(Ok(id)) = resp.headers().get("mcp-session-id").map(|v| v.to_str()) {
            let mut owners = self.owners.lock().await;
            owners.entry(user).or_default().push(Arc::from(id));
        }
        // A JSON body that does not parse: rmcp says 415 in plain text; the
        // protocol's answer is a JSON-RPC parse error.
        if json_body && resp.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            let body = serde_json::json!({"jsonrpc": "2.0", "id": null,
                "error": {"code": -32700, "message": "Parse error: the body is not a JSON-RPC message"}});
            return super::response::json(StatusCode::BAD_REQUEST, &body);
        }
        // A closed session is 200 (rmcp says 202, which clients, the Python
        // SDK among them, log as a failed termination).
        if closing && resp.status() == StatusCode::ACCEPTED {
            *resp.status_mut() = StatusCode::OK;
        }
        resp.map(|b| b.map_err(|never| match never {}).boxed_unsync())
    }

    /// Forget `user`'s sessions that have ended, and close their oldest while
    /// they are at their limit.
    async fn make_room(&self, user: &str) {
        let mut owners = self.owners.lock().await;
        let live = self.sessions.sessions.read().await;
        owners.retain(|_, ids| {
            ids.retain(|id| live.contains_key(id));
            !ids.is_empty()
        });
        drop(live);
        let Some(ids) = owners.get_mut(user) else {
            return;
        };
        while ids.len() >= self.sessions_per_user {
            let oldest = ids.remove(0);
            use rmcp::transport::streamable_http_server::session::SessionManager;
            if let Err(e) = self.sessions.close_session(&oldest).await {
                tracing::debug!(error = %e, "closing an MCP session failed");
            }
            tracing::info!("MCP: a user over their session limit; their oldest session closed");
        }
    }

    /// Open sessions, for metrics.
    pub async fn open_sessions(&self) -> usize {
        self.sessions.sessions.read().await.len()
    }
}

/// The host's request id, carried to the handler with the request.
#[derive(Clone)]
struct RequestId(String);

/// The request's span, carried likewise.
#[derive(Clone)]
struct RequestSpan(tracing::Span);

/// One session's handler (rmcp makes one per session). Which user a session
/// belongs to is checked before rmcp sees the request (`Mcp::serve`).
#[derive(Clone)]
struct Handler {
    shared: Arc<Shared>,
}

impl Handler {
    fn caller(ctx: &RequestContext<RoleServer>) -> Option<(Principal, String)> {
        let parts = ctx.extensions.get::<http::request::Parts>()?;
        let principal = parts.extensions.get::<Principal>()?.clone();
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        Some((principal, request_id))
    }

    fn span(ctx: &RequestContext<RoleServer>) -> tracing::Span {
        ctx.extensions
            .get::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<RequestSpan>())
            .map_or_else(tracing::Span::none, |s| s.0.clone())
    }

    fn app(&self) -> Result<Arc<App>, McpError> {
        self.shared
            .registry
            .app()
            .ok_or_else(|| McpError::internal_error("the app is still starting", None))
    }
}

/// The tools `app` serves over MCP.
fn tools(app: &App) -> Vec<Tool> {
    app.tools
        .values()
        .filter(|e| app.manifest.mcp_tools(&e.component.id))
        .map(as_mcp_tool)
        .collect()
}

fn as_mcp_tool(entry: &crate::sandbox::tools::ToolEntry) -> Tool {
    let schema = match &entry.schema {
        serde_json::Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    Tool::new(
        entry.tool.name.clone(),
        entry.tool.description.clone(),
        Arc::new(schema),
    )
}

/// A failed call as MCP reports it: a tool error (`isError: true`) the model
/// can read, with the same code and detail as the REST path's JSON error.
fn failed(code: &str, detail: &str, request_id: &str) -> CallToolResponse {
    let body = serde_json::json!({ "error": code, "detail": detail, "request_id": request_id });
    CallToolResult::error(vec![ContentBlock::text(body.to_string())]).into()
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("spaceport", env!("CARGO_PKG_VERSION")))
        .with_protocol_version(ProtocolVersion::V_2025_11_25)
        .with_instructions(
            "Tools of this Spaceport app; each call runs as the user whose bearer token you sent.",
        )
    }

    // The handshake revisions (2024-11-05 … 2025-11-25): each client opens a
    // session, bound to its user, that hears of tool list changes.
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
    }

    async fn on_initialized(&self, ctx: NotificationContext<RoleServer>) {
        if let Ok(mut peers) = self.shared.peers.lock() {
            peers.retain(|p| !p.is_transport_closed());
            peers.push(ctx.peer.clone());
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let app = self.app()?;
        Ok(ListToolsResult::with_all_items(tools(&app)))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        let app = self.shared.registry.app()?;
        app.tools
            .get(name)
            .filter(|e| app.manifest.mcp_tools(&e.component.id))
            .map(as_mcp_tool)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some((principal, request_id)) = Self::caller(&ctx) else {
            return Err(McpError::invalid_request("not authenticated", None));
        };
        let app = self.app()?;
        let name = request.name.to_string();
        let Some(entry) = app
            .tools
            .get(&name)
            .filter(|e| app.manifest.mcp_tools(&e.component.id))
        else {
            // An unknown tool is a protocol error (-32602), as the spec has it.
            return Err(McpError::invalid_params(
                format!("no tool named `{name}`"),
                None,
            ));
        };
        let input = serde_json::Value::Object(request.arguments.unwrap_or_default());
        let mut permit = match app.runtime.try_slot(&entry.component) {
            Ok(permit) => permit,
            Err(e) => return Ok(failed("busy", &e.to_string(), &request_id)),
        };
        // A tool that may call the LLM spends the caller's budget, as over REST.
        if entry.component.grants.llm.is_some() {
            match self.shared.llm_limits.admit(&principal.user_id) {
                Ok(running) => permit.hold(running),
                Err(_) => {
                    return Ok(failed(
                        "rate_limited",
                        "this account is over its requests to the model; retry later",
                        &request_id,
                    ));
                }
            }
        }
        let info = RequestInfo {
            request_id: request_id.clone(),
            principal: Some(principal),
            tools: Some(app.clone()),
            ..RequestInfo::default()
        };
        let outcome = app
            .runtime
            .call_tool(&app.tools, &name, input.to_string(), &info, Some(permit))
            .instrument(Self::span(&ctx))
            .await;
        match outcome {
            Ok(result) => {
                let mut reply =
                    CallToolResult::success(vec![ContentBlock::text(result.to_string())]);
                // Structured content must be an object; other results stay text.
                if result.is_object() {
                    reply.structured_content = Some(result);
                }
                Ok(reply.into())
            }
            Err(e) => {
                if matches!(e, CallError::Instance(_)) {
                    tracing::warn!(request_id = %request_id, tool = %name, error = %e, "MCP tool call failed");
                }
                let (_, code) = tool_error_code(&e);
                Ok(failed(code, &e.to_string(), &request_id))
            }
        }
    }
}

/// Tell every open session when a reload changed the tools MCP serves.
async fn announce_changes(shared: Arc<Shared>) {
    let mut changes = shared.registry.subscribe();
    let signature = |app: Option<Arc<App>>| -> Vec<(String, String, String)> {
        app.map(|app| {
            tools(&app)
                .into_iter()
                .map(|t| {
                    (
                        t.name.to_string(),
                        t.description.as_deref().unwrap_or_default().to_string(),
                        serde_json::Value::Object((*t.input_schema).clone()).to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let mut last = signature(shared.registry.app());
    while changes.changed().await.is_ok() {
        let now = signature(shared.registry.app());
        if now == last {
            continue;
        }
        last = now;
        let peers: Vec<Peer<RoleServer>> = match shared.peers.lock() {
            Ok(mut peers) => {
                peers.retain(|p| !p.is_transport_closed());
                peers.clone()
            }
            Err(_) => continue,
        };
        tracing::info!(
            sessions = peers.len(),
            "tool list changed: telling MCP clients"
        );
        for peer in peers {
            if let Err(e) = peer.notify_tool_list_changed().await {
                tracing::debug!(error = %e, "an MCP session missed a tool list change");
            }
        }
    }
}
