//! The HTTP server: accepts connections, applies the host-level concerns
//! (request id, CORS, body limit, routing, instance slots) and hands the
//! request to a component. Every error is JSON:
//! `{"error": code, "detail": text, "request_id": id}`.

// Errors here are ready-to-send responses, built once on the error path.
#![allow(clippy::result_large_err)]

use crate::auth::{Auth, AuthPolicy, TokenError};
use crate::capabilities::{Principal, RequestInfo};
use crate::db::Database;
use crate::registry::{App, Registry};
use crate::routes::RoutePattern;
use crate::runtime::{Runtime, ServeError};
use crate::tools::CallError;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tracing::Instrument;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Response body type: a component's streamed body or one of ours.
pub type Body = HyperOutgoingBody;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Shared by every connection.
pub struct Server {
    pub registry: Arc<Registry>,
    pub runtime: Arc<Runtime>,
    pub slots: Arc<Semaphore>,
    pub max_body_bytes: usize,
    pub auth: Arc<Auth>,
    pub db: Database,
}

/// Serve until `shutdown` resolves, then stop accepting and drain in-flight
/// requests for at most `drain_timeout`.
pub async fn run(
    listener: TcpListener,
    server: Arc<Server>,
    allowed_origins: &[String],
    shutdown: impl Future<Output = ()>,
    drain_timeout: Duration,
) {
    let cors = crate::cors::layer(allowed_origins);
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let server = server.clone();
        let service = ServiceBuilder::new()
            .layer(cors.clone())
            .service_fn(move |req| {
                let server = server.clone();
                async move { Ok::<_, std::convert::Infallible>(server.handle(req, peer).await) }
            });
        let conn = builder
            .serve_connection_with_upgrades(
                TokioIo::new(stream),
                hyper_util::service::TowerToHyperService::new(service),
            )
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: no longer accepting connections, draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(drain_timeout) => {
            tracing::warn!(timeout_s = drain_timeout.as_secs(), "drain timed out; closing remaining connections")
        }
    }
}

impl Server {
    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let start = Instant::now();
        let request_id = request_id(&req);
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let span = tracing::info_span!("request", request_id = %request_id);
        let (mut response, route, component) = self
            .dispatch(req, peer, &request_id)
            .instrument(span.clone())
            .await;
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID, v);
        }
        span.in_scope(|| {
            tracing::info!(
                method = %method,
                path = %path,
                route = route.as_deref().unwrap_or("-"),
                component = component.as_deref().unwrap_or("-"),
                status = response.status().as_u16(),
                duration_ms = start.elapsed().as_secs_f64() * 1000.0,
                "request"
            )
        });
        response
    }

    /// Returns the response plus the matched route and component for the log line.
    async fn dispatch(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
    ) -> (Response<Body>, Option<String>, Option<String>) {
        let err = |status, code, detail: String| error(status, code, &detail, request_id);
        let Some(app) = self.registry.app() else {
            return (starting(req.uri().path(), request_id), None, None);
        };
        if let Some(builtin) = Builtin::lookup(req.method(), req.uri().path()) {
            let (parts, body) = req.into_parts();
            let resp = match self.read_body(body, &parts.headers, request_id).await {
                Ok(body) => {
                    self.serve_builtin(builtin, &parts, body, peer, request_id, &app)
                        .await
                }
                Err(resp) => resp,
            };
            return (resp, Some(builtin.route().to_string()), None);
        }
        let Some((pattern, target, matched)) = app.router.lookup(req.uri().path()) else {
            let detail = format!("no route matches {}", req.uri().path());
            return (err(StatusCode::NOT_FOUND, "not_found", detail), None, None);
        };
        let component = &target.component;
        let route = Some(pattern.as_str().to_string());
        let component_id = Some(component.id.to_string());
        let (mut parts, body) = req.into_parts();

        // Authentication is settled before the component runs or the body is read.
        let principal = match self.authenticate(target.auth, &parts.headers, request_id) {
            Ok(p) => p,
            Err(resp) => return (resp, route, component_id),
        };
        if let (Some(param), Some(principal)) = (&target.user_param, &principal) {
            let owner = matched
                .params
                .iter()
                .find(|(n, _)| n == param)
                .map(|(_, v)| v.as_str());
            if owner != Some(principal.user_id.as_str()) {
                let resp = err(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "this resource belongs to another user".into(),
                );
                return (resp, route, component_id);
            }
        }

        let body = match self.read_body(body, &parts.headers, request_id).await {
            Ok(body) => body,
            Err(resp) => return (resp, route, component_id),
        };
        // The component gets the buffered body with its exact length (chunked
        // framing is gone by now), so it can skip reading an empty one.
        parts.headers.remove(header::TRANSFER_ENCODING);
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));

        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            return (busy(request_id), route, component_id);
        };

        // Spin-style headers; anything a client sent under our prefix is dropped
        // first, so these can be trusted by the component.
        let stale: Vec<HeaderName> = parts
            .headers
            .keys()
            .filter(|k| k.as_str().starts_with("spaceport-"))
            .cloned()
            .collect();
        for name in stale {
            parts.headers.remove(name);
        }
        let mut add = |name: String, value: &str| {
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
                parts.headers.insert(n, v);
            }
        };
        add("spaceport-matched-route".into(), pattern.as_str());
        add("spaceport-component".into(), &component.id);
        add("spaceport-path-info".into(), &matched.path_info);
        add("spaceport-client-addr".into(), &peer.to_string());
        for (name, value) in &matched.params {
            add(
                format!("spaceport-path-match-{}", name.to_ascii_lowercase()),
                value,
            );
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            parts.headers.insert(REQUEST_ID, v);
        }
        if !parts.headers.contains_key(header::HOST) {
            parts
                .headers
                .insert(header::HOST, HeaderValue::from_static("localhost"));
        }

        let info = Arc::new(RequestInfo {
            request_id: request_id.to_string(),
            component_id: component.id.clone(),
            matched_route: pattern.as_str().to_string(),
            params: matched.params,
            path_info: matched.path_info,
            principal,
        });
        let request = Request::from_parts(parts, Full::new(body));
        let response = match self.runtime.serve(component, info, request, permit).await {
            Ok(resp) => resp,
            Err(e) => serve_error(&component.id, e, request_id),
        };
        (response, route, component_id)
    }
}

impl Server {
    /// The whole body, at most `max_body_bytes` (413 beyond).
    async fn read_body(
        &self,
        body: Incoming,
        headers: &http::HeaderMap,
        request_id: &str,
    ) -> Result<Bytes, Response<Body>> {
        // Bodies are read whole (bounded) before the component runs, so an
        // oversized upload is refused with 413 before it costs an instance.
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_body_bytes as u64) {
            return Err(too_large(self.max_body_bytes, request_id));
        }
        match Limited::new(body, self.max_body_bytes).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                Err(too_large(self.max_body_bytes, request_id))
            }
            Err(e) => Err(error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!("could not read the request body: {e}"),
                request_id,
            )),
        }
    }

    /// The principal required or allowed by `policy`; a 401 response otherwise.
    fn authenticate(
        &self,
        policy: AuthPolicy,
        headers: &http::HeaderMap,
        request_id: &str,
    ) -> Result<Option<Principal>, Response<Body>> {
        let present = headers.contains_key(header::AUTHORIZATION);
        match policy {
            AuthPolicy::None => Ok(None),
            AuthPolicy::Optional if !present => Ok(None),
            AuthPolicy::Optional | AuthPolicy::Required => match self.auth.verify(headers) {
                Ok(p) => Ok(Some(p)),
                Err(e) => {
                    let code = match e {
                        TokenError::Missing => "not_authenticated",
                        TokenError::Expired => "token_expired",
                        TokenError::Invalid => "invalid_token",
                    };
                    let mut resp =
                        error(StatusCode::UNAUTHORIZED, code, &e.to_string(), request_id);
                    resp.headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                    Err(resp)
                }
            },
        }
    }

    async fn serve_builtin(
        &self,
        builtin: Builtin,
        parts: &http::request::Parts,
        body: Bytes,
        peer: SocketAddr,
        request_id: &str,
        app: &App,
    ) -> Response<Body> {
        match builtin {
            Builtin::Register | Builtin::Login => {
                let client = self.auth.client_ip(&parts.headers, peer.ip());
                if let Err(wait) = self.auth.check_rate(client) {
                    tracing::warn!(client = %client, "auth rate limit exceeded");
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
                    return resp;
                }
                if builtin == Builtin::Register {
                    crate::users::register(&self.db, &body, request_id).await
                } else {
                    crate::users::login(&self.db, &self.auth, &body, client, request_id).await
                }
            }
            Builtin::Me => {
                match self.authenticate(AuthPolicy::Required, &parts.headers, request_id) {
                    Ok(Some(principal)) => crate::users::me(&self.db, &principal, request_id).await,
                    Ok(None) => error(
                        StatusCode::UNAUTHORIZED,
                        "not_authenticated",
                        "missing bearer token",
                        request_id,
                    ),
                    Err(resp) => resp,
                }
            }
            Builtin::OpenApi => json(StatusCode::OK, &app.openapi),
            Builtin::Docs => with_body(
                StatusCode::OK,
                "text/html; charset=utf-8",
                crate::docs::page(&app.manifest.application.name).into(),
            ),
            Builtin::ListTools => {
                let tools: Vec<_> = app
                    .tools
                    .values()
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
            Builtin::CallTool => {
                let principal =
                    match self.authenticate(AuthPolicy::Required, &parts.headers, request_id) {
                        Ok(Some(p)) => p,
                        Ok(None) => {
                            return error(
                                StatusCode::UNAUTHORIZED,
                                "not_authenticated",
                                "missing bearer token",
                                request_id,
                            );
                        }
                        Err(resp) => return resp,
                    };
                let Some(m) = CALL_TOOL.matches(parts.uri.path()) else {
                    return error(
                        StatusCode::NOT_FOUND,
                        "not_found",
                        "no such tool route",
                        request_id,
                    );
                };
                let param = |name: &str| {
                    m.params
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                };
                if param("user_id").as_deref() != Some(principal.user_id.as_str()) {
                    return error(
                        StatusCode::FORBIDDEN,
                        "forbidden",
                        "this resource belongs to another user",
                        request_id,
                    );
                }
                let name = param("name").unwrap_or_default();
                let arguments = if body.is_empty() {
                    Bytes::from_static(b"{}")
                } else {
                    body
                };
                let input: serde_json::Value = match serde_json::from_slice(&arguments) {
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
                let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                    return busy(request_id);
                };
                let info = RequestInfo {
                    request_id: request_id.to_string(),
                    principal: Some(principal),
                    ..RequestInfo::default()
                };
                match self
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
        }
    }
}

/// Endpoints the host answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    Register,
    Login,
    Me,
    ListTools,
    CallTool,
    OpenApi,
    Docs,
}

static CALL_TOOL: std::sync::LazyLock<RoutePattern> = std::sync::LazyLock::new(|| {
    RoutePattern::parse("/api/:user_id/tools/:name").unwrap_or_else(|e| panic!("static route: {e}"))
});

/// The host's fixed-path endpoints: method, path, endpoint. The one place
/// these paths are written.
const FIXED: [(&str, &str, Builtin); 6] = [
    ("POST", "/api/auth/register", Builtin::Register),
    ("POST", "/api/auth/login", Builtin::Login),
    ("GET", "/api/auth/me", Builtin::Me),
    ("GET", "/api/tools", Builtin::ListTools),
    ("GET", "/openapi.json", Builtin::OpenApi),
    ("GET", "/docs", Builtin::Docs),
];

/// Paths the host answers itself, before any route.
pub fn host_paths() -> impl Iterator<Item = &'static str> {
    FIXED.iter().map(|(_, path, _)| *path)
}

impl Builtin {
    fn lookup(method: &http::Method, path: &str) -> Option<Self> {
        let path = path.strip_suffix('/').unwrap_or(path);
        if let Some((_, _, b)) = FIXED
            .iter()
            .find(|(m, p, _)| *p == path && *m == method.as_str())
        {
            return Some(*b);
        }
        // Cheap test first: this runs for every request.
        (method == http::Method::POST
            && path.contains("/tools/")
            && CALL_TOOL.matches(path).is_some())
        .then_some(Self::CallTool)
    }

    fn route(self) -> &'static str {
        match self {
            Self::CallTool => CALL_TOOL.as_str(),
            fixed => FIXED
                .iter()
                .find(|(_, _, b)| *b == fixed)
                .map_or("-", |(_, path, _)| *path),
        }
    }
}

fn tool_error(e: CallError, request_id: &str) -> Response<Body> {
    use crate::tools::ToolError as E;
    let (status, code) = match &e {
        CallError::UnknownTool(_) => (StatusCode::NOT_FOUND, "unknown_tool"),
        CallError::Tool(m) => match &m.0 {
            E::UnknownTool(_) => (StatusCode::NOT_FOUND, "unknown_tool"),
            E::InvalidArguments(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_arguments"),
            E::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            E::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            E::Failed(_) => (StatusCode::INTERNAL_SERVER_ERROR, "tool_failed"),
        },
        CallError::Instance(ServeError::Timeout(_)) => {
            (StatusCode::GATEWAY_TIMEOUT, "component_timeout")
        }
        CallError::Instance(ServeError::MemoryLimit(_)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "memory_limit_exceeded")
        }
        CallError::Instance(_) => (StatusCode::INTERNAL_SERVER_ERROR, "component_failed"),
    };
    error(status, code, &e.to_string(), request_id)
}

fn busy(request_id: &str) -> Response<Body> {
    let mut resp = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "every instance slot is in use; retry shortly",
        request_id,
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

fn serve_error(component: &str, e: ServeError, request_id: &str) -> Response<Body> {
    let (status, code) = match &e {
        ServeError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "component_timeout"),
        ServeError::MemoryLimit(_) => (StatusCode::INTERNAL_SERVER_ERROR, "memory_limit_exceeded"),
        ServeError::Trap(_) => (StatusCode::INTERNAL_SERVER_ERROR, "component_failed"),
        ServeError::ErrorCode(_) => (StatusCode::BAD_GATEWAY, "component_error"),
        ServeError::Setup(_) => (StatusCode::BAD_REQUEST, "bad_request"),
    };
    tracing::warn!(component, error = %e, "request failed in component");
    error(
        status,
        code,
        &format!("component `{component}`: {e}"),
        request_id,
    )
}

/// The client's `x-request-id` if it is short and printable, else a new one.
fn request_id(req: &Request<Incoming>) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// A JSON response body.
/// A whole body with the given status and content type.
fn with_body(status: StatusCode, content_type: &'static str, bytes: Bytes) -> Response<Body> {
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

fn too_large(limit: usize, request_id: &str) -> Response<Body> {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        &format!("the request body exceeds the {limit}-byte limit"),
        request_id,
    )
}

/// While the first load runs: health says "starting", everything else 503 + Retry-After.
fn starting(path: &str, request_id: &str) -> Response<Body> {
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
