//! Responses the host writes itself. Every error is JSON:
//! `{"error": code, "detail": text, "request_id": id}`; this module maps each
//! failure the lower layers report onto that shape and its status.

use crate::sandbox::runtime::ServeError;
use crate::sandbox::tools::CallError;
use crate::services::auth::TokenError;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Response body type: a component's streamed body or one of ours.
pub type Body = HyperOutgoingBody;

/// A whole body with the given status and content type.
pub fn with_body(status: StatusCode, content_type: &'static str, bytes: Bytes) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(bytes)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A JSON body with the given status.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    with_body(status, "application/json", value.to_string().into())
}

/// The platform's error shape.
pub fn error(status: StatusCode, code: &str, detail: &str, request_id: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "error": code, "detail": detail, "request_id": request_id }),
    )
}

/// 413: the body is over the host's limit.
pub fn too_large(limit: usize, request_id: &str) -> Response<Body> {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        &format!("the request body exceeds the {limit}-byte limit"),
        request_id,
    )
}

/// 503 + `Retry-After`: the host's or the component's instance slots are taken.
pub fn busy(detail: &str, request_id: &str) -> Response<Body> {
    let mut resp = error(StatusCode::SERVICE_UNAVAILABLE, "busy", detail, request_id);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// 405 + `Allow`: the path exists, the method is not one it answers.
pub fn method_not_allowed(method: &http::Method, allow: &str, request_id: &str) -> Response<Body> {
    let mut resp = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("{method} is not allowed here; allowed: {allow}"),
        request_id,
    );
    if let Ok(v) = HeaderValue::from_str(allow) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp
}

/// 401 for a refused bearer token, with `WWW-Authenticate`.
pub fn unauthorized(e: TokenError, request_id: &str) -> Response<Body> {
    let code = match e {
        TokenError::Missing => "not_authenticated",
        TokenError::Expired => "token_expired",
        TokenError::Invalid | TokenError::UnknownUser => "invalid_token",
    };
    let mut resp = error(StatusCode::UNAUTHORIZED, code, &e.to_string(), request_id);
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// 503: the database cannot be reached (recovers by itself).
pub fn database_unavailable(request_id: &str) -> Response<Body> {
    let mut resp = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the database is unavailable; retry shortly",
        request_id,
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// 403: the path names another user.
pub fn forbidden(request_id: &str) -> Response<Body> {
    error(
        StatusCode::FORBIDDEN,
        "forbidden",
        "this resource belongs to another user",
        request_id,
    )
}

/// 429 + `Retry-After`.
pub fn rate_limited(wait: std::time::Duration, request_id: &str) -> Response<Body> {
    let mut resp = error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many attempts from this address; retry later",
        request_id,
    );
    let secs = wait.as_secs().max(1).to_string();
    if let Ok(v) = HeaderValue::from_str(&secs) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// While the first load runs: health says "starting", everything else 503 + Retry-After.
pub fn starting(path: &str, request_id: &str) -> Response<Body> {
    let mut resp = if path == "/health" || path == "/api/health" {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "status": "starting", "version": env!("CARGO_PKG_VERSION"), "dependencies": {} }),
        )
    } else {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            "the host is still loading its components; retry shortly",
            request_id,
        )
    };
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// A component that did not produce a response.
pub fn serve_error(component: &str, e: ServeError, request_id: &str) -> Response<Body> {
    let (status, code) = match &e {
        ServeError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "component_timeout"),
        ServeError::MemoryLimit(_) => (StatusCode::INTERNAL_SERVER_ERROR, "memory_limit_exceeded"),
        ServeError::Trap(_) => (StatusCode::INTERNAL_SERVER_ERROR, "component_failed"),
        ServeError::Denied(_) => (StatusCode::INTERNAL_SERVER_ERROR, "capability_denied"),
        ServeError::ErrorCode(_) => (StatusCode::BAD_GATEWAY, "component_error"),
        ServeError::Setup(_) => (StatusCode::BAD_REQUEST, "bad_request"),
    };
    crate::services::metrics::METRICS.failure(
        component,
        match &e {
            ServeError::Timeout(_) => "timeout",
            ServeError::MemoryLimit(_) => "memory_limit",
            ServeError::Trap(_) => "trap",
            ServeError::Denied(_) => "denied",
            ServeError::ErrorCode(_) => "error_code",
            ServeError::Setup(_) => "setup",
        },
    );
    tracing::warn!(component, error = %e, "request failed in component");
    error(
        status,
        code,
        &format!("component `{component}`: {e}"),
        request_id,
    )
}

/// A tool call over `POST /api/{user_id}/tools/{name}` that did not produce a result.
pub fn tool_error(e: CallError, request_id: &str) -> Response<Body> {
    let (status, code) = tool_error_code(&e);
    error(status, code, &e.to_string(), request_id)
}

/// The status and code of a failed tool call, for the REST path and MCP.
pub fn tool_error_code(e: &CallError) -> (StatusCode, &'static str) {
    let code = e.code();
    let status = match code {
        "unknown_tool" | "not_found" => StatusCode::NOT_FOUND,
        "invalid_arguments" => StatusCode::UNPROCESSABLE_ENTITY,
        "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        "component_timeout" => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, code)
}
