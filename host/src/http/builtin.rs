//! The endpoints the host answers itself (see `app::endpoints` for the
//! table): accounts, the tool list and tool calls, the API docs. The request
//! pipeline has already authenticated the caller and checked the path's owner
//! by the endpoint's policy, exactly as for component routes.

// Errors here are ready-to-send responses, built once on the error path.
#![allow(clippy::result_large_err)]

use super::accounts;
use super::response::{Body, busy, error, json, rate_limited, tool_error, with_body};
use crate::app::docs;
use crate::app::endpoints::Builtin;
use crate::app::snapshot::App;
use crate::sandbox::capabilities::RequestInfo;
use crate::services::auth::{Auth, Principal};
use crate::services::db::{Database, SqlError, Value};
use crate::services::sessions;
use crate::services::status::StatusBoard;
use bytes::Bytes;
use http::{Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;

/// What the host's own endpoints need.
pub struct Builtins {
    pub auth: Arc<Auth>,
    /// The host's own database (accounts).
    pub db: Database,
    /// Where an unreachable database is reported the moment a request sees it.
    pub status: Arc<StatusBoard>,
}

/// One call of a built-in endpoint, after the pipeline's checks.
pub struct Call<'a> {
    pub endpoint: Builtin,
    pub headers: &'a http::HeaderMap,
    pub params: &'a [(String, String)],
    pub body: Bytes,
    pub peer: SocketAddr,
    pub request_id: &'a str,
    /// Set when the endpoint's policy required it.
    pub principal: Option<Principal>,
}

impl Builtins {
    pub async fn serve(&self, call: Call<'_>, app: &Arc<App>) -> Response<Body> {
        let request_id = call.request_id;
        match (call.endpoint, call.principal.as_ref()) {
            (Builtin::Register | Builtin::Login, _) => self.account(&call).await,
            (Builtin::Me, Some(principal)) => accounts::me(&self.db, principal, request_id).await,
            (Builtin::OpenApi, _) => json(StatusCode::OK, &app.openapi.document),
            (Builtin::Docs, _) => with_body(
                StatusCode::OK,
                "text/html; charset=utf-8",
                docs::page(&app.manifest.application.name).into(),
            ),
            (Builtin::ListTools, _) => list_tools(app),
            (Builtin::NewSession, _) => new_session(),
            (Builtin::CallTool, Some(_)) => call_tool(&call, app).await,
            // The pipeline authenticates endpoints that need a principal.
            (Builtin::Me | Builtin::CallTool, None) => error(
                StatusCode::UNAUTHORIZED,
                "not_authenticated",
                "missing bearer token",
                request_id,
            ),
        }
    }

    /// Whether an account with this id exists (a token outlives its user).
    pub async fn user_exists(&self, user_id: &str) -> Result<bool, SqlError> {
        let rows = self
            .db
            .query(
                "SELECT 1 FROM users WHERE id = $1",
                &[Value::Text(user_id.to_string())],
            )
            .await
            .inspect_err(|_| self.status.report_failure("database"))?;
        Ok(!rows.rows.is_empty())
    }

    /// Register or log in, within the per-address rate limit.
    async fn account(&self, call: &Call<'_>) -> Response<Body> {
        let client = self.auth.client_ip(call.headers, call.peer.ip());
        if let Err(wait) = self.auth.check_rate(client) {
            tracing::warn!(client = %client, "auth rate limit exceeded");
            return rate_limited(wait, call.request_id);
        }
        if call.endpoint == Builtin::Register {
            accounts::register(&self.db, &call.body, call.request_id).await
        } else {
            accounts::login(&self.db, &self.auth, &call.body, client, call.request_id).await
        }
    }
}

fn list_tools(app: &App) -> Response<Body> {
    let tools: Vec<_> = app
        .tools
        .values()
        .filter(|e| app.manifest.http_tools(&e.component.id))
        .map(|e| {
            serde_json::json!({
                "name": e.tool.name,
                "description": e.tool.description,
                "parameters": e.schema,
                "component": e.component.id.as_ref(),
            })
        })
        .collect();
    json(StatusCode::OK, &serde_json::json!({ "tools": tools }))
}

/// `POST /api/{user_id}/tools/{name}`: the body is the arguments object.
async fn call_tool(call: &Call<'_>, app: &Arc<App>) -> Response<Body> {
    let request_id = call.request_id;
    let name = call
        .params
        .iter()
        .find(|(n, _)| n == "name")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let arguments: &[u8] = if call.body.is_empty() {
        b"{}"
    } else {
        &call.body
    };
    let input: serde_json::Value = match serde_json::from_slice(arguments) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                "arguments: expected a JSON object",
                request_id,
            );
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                &format!("the request body is not valid JSON: {e}"),
                request_id,
            );
        }
    };
    // Only tools their component's manifest entry exposes over HTTP (`http_tools = true`).
    let Some(entry) = app
        .tools
        .get(&name)
        .filter(|e| app.manifest.http_tools(&e.component.id))
    else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_tool",
            &format!("no tool named `{name}` is callable over HTTP"),
            request_id,
        );
    };
    let permit = match app.runtime.try_slot(&entry.component) {
        Ok(permit) => permit,
        Err(e) => return busy(&e.to_string(), request_id),
    };
    let info = RequestInfo {
        request_id: request_id.to_string(),
        principal: call.principal.clone(),
        tools: Some(app.clone()),
        ..RequestInfo::default()
    };
    match app
        .runtime
        .call_tool(&app.tools, &name, input.to_string(), &info, Some(permit))
        .await
    {
        Ok(result) => json(
            StatusCode::OK,
            &serde_json::json!({ "tool": name, "input": input, "result": result }),
        ),
        Err(e) => tool_error(e, request_id),
    }
}

/// `POST /api/v1/sessions`: a fresh anonymous session id, in the body (seed
/// 002's shape), the `X-Session-Id` header and a cookie. Nothing is stored:
/// the id is the credential (see `services::sessions`).
fn new_session() -> Response<Body> {
    let id = sessions::new_id();
    let now = sqlx::types::chrono::Utc::now();
    let created_at = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut resp = json(
        StatusCode::OK,
        &serde_json::json!({ "session_id": id, "created_at": created_at }),
    );
    let headers = resp.headers_mut();
    if let Ok(v) = http::HeaderValue::from_str(&id) {
        headers.insert(http::HeaderName::from_static(sessions::HEADER), v);
    }
    if let Ok(v) = http::HeaderValue::from_str(&sessions::set_cookie(&id)) {
        headers.insert(http::header::SET_COOKIE, v);
    }
    resp
}
