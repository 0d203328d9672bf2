//! The HTTP server: accepts connections and runs every request through one
//! pipeline: request id, CORS, route (host endpoint or component) and method
//! (405 with `Allow` for one the path does not answer or document), auth and
//! owner check, bounded body, instance slot, then the host endpoint or a fresh
//! component instance. Every error is JSON (see [`super::response`]).

// Errors here are ready-to-send responses, built once on the error path.
#![allow(clippy::result_large_err)]

use super::body::RequestBody;
use super::builtin::{Builtins, Call};
use super::llm_limits::{LlmLimits, Refused};
use super::response::{
    Body, busy, database_unavailable, error, forbidden, method_not_allowed, serve_error, starting,
    unauthorized,
};
use crate::app::endpoints::{self, Builtin};
use crate::app::registry::Registry;
use crate::app::snapshot::{App, RouteTarget, Verdict};
use crate::manifest::routes::{RouteMatch, RoutePattern};
use crate::sandbox::capabilities::RequestInfo;
use crate::services::auth::{Auth, AuthPolicy, Principal, TokenError, rate_key};
use crate::services::metrics::METRICS;
use crate::services::sessions;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tracing::Instrument;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Shared by every connection.
pub struct Server {
    pub registry: Arc<Registry>,
    pub max_body_bytes: usize,
    /// How long a client may take to send a whole request body (408 beyond),
    /// so a slow client cannot hold a connection and its buffers for ever.
    pub body_timeout: Duration,
    /// How long a client may take to send a request's headers (the connection
    /// is closed beyond: hyper cannot answer before it has a request).
    pub header_timeout: Duration,
    pub auth: Arc<Auth>,
    pub builtins: Builtins,
    /// Per-user limits on routes whose component may call the LLM.
    pub llm_limits: Arc<LlmLimits>,
    /// MCP at `/mcp` (unless `SPACEPORT_MCP=false`).
    pub mcp: Option<super::mcp::Mcp>,
    /// The admin API, when `SPACEPORT_ADMIN_TOKEN` is set.
    pub admin: Option<super::admin::Admin>,
    /// `SPACEPORT_METRICS_TOKEN`: when set, `/metrics` wants it as a bearer token.
    pub metrics_token: Option<String>,
    /// The pages a session cookie may be used from (see [`super::cors::Origins::may_use_cookie`]).
    pub session_origins: super::cors::Origins,
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
    let cors = super::cors::layer(allowed_origins);
    // HTTP/1.1 only: browsers reach a Space through Hugging Face's proxy,
    // which speaks HTTP/1.1 to the container. hyper-util's auto-detecting
    // server (HTTP/1.1 or h2c) first reads 24 bytes to look for the HTTP/2
    // preface and hands them back as a first short read, and hyper's second
    // read then doubles the connection's read buffer to 16 KiB (dhat showed
    // 16 KiB per held connection), kept for the connection's life; without it,
    // 10,000 held streams took ~77 MB less heap (bench/streams.sh).
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(server.header_timeout);
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
        let service = ServiceBuilder::new().layer(cors.clone()).service_fn(
            move |req: Request<hyper::body::Incoming>| {
                let server = server.clone();
                // Boxed: hyper keeps a slot the size of this future for the
                // connection's whole life, a streamed answer included, and
                // the request path's future is kilobytes; boxed, it is freed
                // as soon as the answer's head is out.
                Box::pin(async move {
                    let req = req.map(RequestBody::new);
                    Ok::<_, std::convert::Infallible>(server.handle(req, peer).await)
                })
            },
        );
        let conn = builder.serve_connection(
            TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        );
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
    async fn handle(&self, req: Request<RequestBody>, peer: SocketAddr) -> Response<Body> {
        let start = Instant::now();
        let request_id = request_id(&req);
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            http.request.method = %method,
            http.route = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
        );
        // A caller's W3C traceparent makes this request part of its trace.
        crate::services::telemetry::continue_trace(&span, req.headers());
        let (mut response, route, component) = self
            .dispatch(req, peer, &request_id)
            .instrument(span.clone())
            .await;
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID, v);
        }
        span.record("http.route", route.as_deref().unwrap_or("-"));
        span.record(
            "http.response.status_code",
            i64::from(response.status().as_u16()),
        );
        // Labels stay bounded: a component id, a route pattern, never the path.
        let metric_component = match (&component, &route) {
            (Some(c), _) => c.as_str(),
            (None, Some(_)) => "host",
            (None, None) => "-",
        };
        METRICS.request(
            metric_component,
            route.as_deref().unwrap_or("-"),
            method.as_str(),
            response.status().as_u16(),
            start.elapsed().as_secs_f64(),
        );
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
        mut req: Request<RequestBody>,
        peer: SocketAddr,
        request_id: &str,
    ) -> (Response<Body>, Option<String>, Option<String>) {
        if req.uri().path() == "/metrics" {
            // Off, it is the host's 404: no component route sees the scraper's token.
            let resp = if METRICS.enabled() {
                self.metrics(&req, request_id).await
            } else {
                error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "metrics are off (SPACEPORT_METRICS=false)",
                    request_id,
                )
            };
            return (resp, Some("/metrics".into()), None);
        }
        // The admin API (deploys) is its own world: its own credential and
        // body limit, never a component route; 404 when it is off.
        if req.uri().path() == "/admin" || req.uri().path().starts_with("/admin/") {
            let resp = match &self.admin {
                Some(admin) => admin.serve(req, peer, request_id).await,
                None => error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    &format!("no route matches {}", req.uri().path()),
                    request_id,
                ),
            };
            return (resp, Some("/admin".into()), None);
        }
        if req.uri().path() == super::mcp::PATH
            && let Some(mcp) = &self.mcp
        {
            let resp = match self
                .admit(AuthPolicy::Required, None, &[], req.headers(), request_id)
                .await
            {
                Ok(Some(principal)) => mcp.serve(req, principal, request_id).await,
                Ok(None) => unauthorized(TokenError::Missing, request_id),
                Err(resp) => resp,
            };
            return (resp, Some(super::mcp::PATH.into()), None);
        }
        let Some(app) = self.registry.app() else {
            return (starting(req.uri().path(), request_id), None, None);
        };
        if let Some(endpoint) = Builtin::lookup(req.method(), req.uri().path()) {
            let resp = self
                .serve_builtin(endpoint, req, peer, request_id, &app)
                .await
                .unwrap_or_else(|r| r);
            return (resp, Some(endpoint.route().to_string()), None);
        }
        // One of the host's own paths, with a method it does not answer there.
        if let Some(allow) = endpoints::allowed_at(req.uri().path()) {
            let resp = method_not_allowed(req.method(), &allow, request_id);
            return (resp, None, None);
        }
        let Some((pattern, target, matched)) = app.router.lookup(req.uri().path()) else {
            let detail = format!("no route matches {}", req.uri().path());
            let resp = error(StatusCode::NOT_FOUND, "not_found", &detail, request_id);
            return (resp, None, None);
        };
        let route = Some(pattern.as_str().to_string());
        let component = Some(target.component.id.to_string());
        // A path the component documents, with a method it does not: the
        // host answers, before auth, body or instance.
        match app
            .openapi
            .methods
            .check(&target.component.id, req.uri().path(), req.method())
        {
            Verdict::Pass => {}
            Verdict::AsGet => *req.method_mut() = http::Method::GET,
            Verdict::Refuse(allow) => {
                let resp = method_not_allowed(req.method(), allow, request_id);
                return (resp, route, component);
            }
        }
        let resp = self
            .serve_component(&app, pattern, target, matched, req, peer, request_id)
            .await
            .unwrap_or_else(|r| r);
        (resp, route, component)
    }

    /// `GET /metrics`: the OpenMetrics text (behind `SPACEPORT_METRICS_TOKEN` when set).
    async fn metrics(&self, req: &Request<RequestBody>, request_id: &str) -> Response<Body> {
        if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
            return method_not_allowed(req.method(), "GET, HEAD", request_id);
        }
        if let Some(token) = &self.metrics_token {
            let presented = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim());
            let ok = presented.is_some_and(|t| {
                use subtle::ConstantTimeEq;
                bool::from(t.as_bytes().ct_eq(token.as_bytes()))
            });
            if !ok {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "not_authenticated",
                    "/metrics needs `Authorization: Bearer <SPACEPORT_METRICS_TOKEN>`",
                    request_id,
                );
            }
        }
        let slots = self.registry.runtime().slots();
        let mcp_sessions = match &self.mcp {
            Some(mcp) => mcp.open_sessions().await,
            None => 0,
        };
        super::response::with_body(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            METRICS.encode(slots, mcp_sessions).into(),
        )
    }

    /// A host endpoint: the same admission as a component route, then its handler.
    async fn serve_builtin(
        &self,
        endpoint: Builtin,
        req: Request<RequestBody>,
        peer: SocketAddr,
        request_id: &str,
        app: &Arc<App>,
    ) -> Result<Response<Body>, Response<Body>> {
        let (parts, body) = req.into_parts();
        let params = endpoint.params(parts.uri.path());
        let principal = self
            .admit(
                endpoint.auth(),
                endpoint.user_param(),
                &params,
                &parts.headers,
                request_id,
            )
            .await?;
        let body = self
            .read_body(body, &parts.headers, self.max_body_bytes, request_id)
            .await?;
        // A tool whose component may call the LLM spends the caller's LLM
        // budget over HTTP too, as its routes and an agent's turn do.
        let _llm_running = match (endpoint, &principal) {
            (Builtin::CallTool, Some(user)) => {
                let tool = params.iter().find(|(n, _)| n == "name").map(|(_, v)| v);
                let spends = tool
                    .and_then(|name| app.tools.get(name))
                    .is_some_and(|entry| entry.component.grants.llm.is_some());
                if spends {
                    match self.llm_limits.admit(&user.user_id) {
                        Ok(running) => Some(running),
                        Err(refused) => return Err(llm_refused(refused, request_id)),
                    }
                } else {
                    None
                }
            }
            _ => None,
        };
        let call = Call {
            endpoint,
            headers: &parts.headers,
            params: &params,
            body,
            peer,
            request_id,
            principal,
        };
        Ok(self.builtins.serve(call, app).await)
    }

    /// A component route: admission, body, slot, then a fresh instance.
    #[allow(clippy::too_many_arguments)]
    async fn serve_component(
        &self,
        app: &Arc<App>,
        pattern: &RoutePattern,
        target: &RouteTarget,
        matched: RouteMatch,
        req: Request<RequestBody>,
        peer: SocketAddr,
        request_id: &str,
    ) -> Result<Response<Body>, Response<Body>> {
        let component = &target.component;
        let (mut parts, body) = req.into_parts();
        // Authentication is settled before the component runs or the body is read.
        let principal = self
            .admit(
                target.auth,
                target.user_param.as_deref(),
                &matched.params,
                &parts.headers,
                request_id,
            )
            .await?;
        let body = self
            .read_body(body, &parts.headers, self.max_body_bytes, request_id)
            .await?;
        // A session route's body loses its `session_id` field (one parse):
        // the credential stays with the host.
        let (body_session, body) = match target.auth {
            AuthPolicy::Session => match sessions::split_body(&body) {
                Some((named, rest)) => (named, Bytes::from(rest)),
                None => (None, body),
            },
            _ => (None, body),
        };
        // Without a token, a session route runs as the session the request
        // names, or a new one.
        let mut minted = None;
        let principal = match (target.auth, principal) {
            (AuthPolicy::Session, None) => {
                let cookie_allowed = self.session_origins.may_use_cookie(&parts.headers);
                let id = match sessions::from_request(&parts.headers, body_session, cookie_allowed)
                {
                    Ok(Some(id)) => id,
                    Ok(None) => minted.insert(sessions::new_id()).clone(),
                    Err(e @ sessions::InvalidSession::CrossSite) => {
                        return Err(error(
                            StatusCode::FORBIDDEN,
                            "origin_not_allowed",
                            &e.to_string(),
                            request_id,
                        ));
                    }
                    Err(e) => {
                        return Err(error(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "validation_error",
                            &e.to_string(),
                            request_id,
                        ));
                    }
                };
                Some(sessions::principal(self.auth.session_key(), &id))
            }
            (_, principal) => principal,
        };
        // The session credential never reaches a component, on any route (a
        // browser sends the cookie to every /api path).
        sessions::strip(&mut parts.headers);
        // The component gets the buffered body with its exact length (chunked
        // framing is gone by now), so it can skip reading an empty one.
        parts.headers.remove(header::TRANSFER_ENCODING);
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        let mut permit = app
            .runtime
            .try_slot(component)
            .map_err(|e| busy(&e.to_string(), request_id))?;
        // A component that can call the LLM spends the Space's quota: per user,
        // so many requests a minute and so many at once.
        if let (Some(_), Some(user)) = (&component.grants.llm, &principal) {
            // Sessions cost nothing to mint: an anonymous caller also spends
            // its client address's budget (checked first, so refused
            // requests with fresh sessions leave no per-session state).
            if user.anonymous {
                let ip = self.auth.client_ip(&parts.headers, peer.ip());
                match self.llm_limits.admit(&format!("ip:{}", rate_key(ip))) {
                    Ok(running) => permit.hold(running),
                    Err(refused) => return Err(llm_refused(refused, request_id)),
                }
            }
            match self.llm_limits.admit(&user.user_id) {
                Ok(running) => permit.hold(running),
                Err(refused) => return Err(llm_refused(refused, request_id)),
            }
        }
        forward_headers(
            &mut parts.headers,
            pattern,
            &component.id,
            &matched,
            peer,
            request_id,
        );
        let info = Arc::new(RequestInfo {
            request_id: request_id.to_string(),
            component_id: component.id.clone(),
            matched_route: pattern.as_str().to_string(),
            params: matched.params,
            path_info: matched.path_info,
            principal,
            tools: Some(app.clone()),
        });
        let (parts, body) = detach(parts, body);
        let request = Request::from_parts(parts, Full::new(body));
        let mut resp = match app.runtime.serve(component, info, request, permit).await {
            Ok(resp) => count_streams(resp),
            Err(e) => serve_error(&component.id, e, request_id),
        };
        // Only the host sets sessions: a component cannot plant one (a
        // session id an attacker knows) in the user's browser.
        sessions::scrub_answer(resp.headers_mut());
        // A minted session goes back to the client, for its next request.
        if let Some(id) = minted {
            let headers = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&id) {
                headers.insert(HeaderName::from_static(sessions::HEADER), v);
            }
            if let Ok(v) = HeaderValue::from_str(&sessions::set_cookie(&id)) {
                headers.append(header::SET_COOKIE, v);
            }
        }
        Ok(resp)
    }

    /// The caller's principal as `policy` requires or allows it (401 otherwise,
    /// also for a validly signed token whose user no longer exists), and, when
    /// the route names a `user_param`, the check that it is the caller's own id
    /// (403 otherwise).
    async fn admit(
        &self,
        policy: AuthPolicy,
        user_param: Option<&str>,
        params: &[(String, String)],
        headers: &http::HeaderMap,
        request_id: &str,
    ) -> Result<Option<Principal>, Response<Body>> {
        let principal = match policy {
            AuthPolicy::None => None,
            AuthPolicy::Optional | AuthPolicy::Session
                if !headers.contains_key(header::AUTHORIZATION) =>
            {
                None
            }
            AuthPolicy::Optional | AuthPolicy::Required | AuthPolicy::Session => Some(
                self.auth
                    .verify(headers)
                    .map_err(|e| unauthorized(e, request_id))?,
            ),
        };
        if let Some(p) = &principal {
            match self.builtins.user_exists(&p.user_id).await {
                Ok(true) => {}
                Ok(false) => return Err(unauthorized(TokenError::UnknownUser, request_id)),
                Err(e) => {
                    tracing::warn!(error = %e, "checking the token's user failed");
                    return Err(database_unavailable(request_id));
                }
            }
        }
        if let (Some(param), Some(principal)) = (user_param, &principal) {
            let owner = params
                .iter()
                .find(|(n, _)| n == param)
                .map(|(_, v)| v.as_str());
            if owner != Some(principal.user_id.as_str()) {
                return Err(forbidden(request_id));
            }
        }
        Ok(principal)
    }

    /// The whole body, at most `max_body_bytes` (413 beyond).
    async fn read_body(
        &self,
        body: RequestBody,
        headers: &http::HeaderMap,
        limit: usize,
        request_id: &str,
    ) -> Result<Bytes, Response<Body>> {
        super::body::read(body, headers, limit, self.body_timeout, request_id).await
    }
}

/// The request's header values, URI and (small) body as hyper parsed them
/// are slices of the connection's read buffer; an instance that holds them
/// for minutes (a streamed answer) would pin that buffer (8 KiB or more per
/// connection) besides the one hyper reads the next request into. Copies of
/// these few bytes let the buffer go.
fn detach(mut parts: http::request::Parts, body: Bytes) -> (http::request::Parts, Bytes) {
    const COPY_BODY_BELOW: usize = 16 << 10;
    for value in parts.headers.values_mut() {
        if let Ok(copy) = HeaderValue::from_bytes(value.as_bytes()) {
            let sensitive = value.is_sensitive();
            *value = copy;
            value.set_sensitive(sensitive);
        }
    }
    if let Ok(uri) = http::Uri::from_maybe_shared(Bytes::from(parts.uri.to_string())) {
        parts.uri = uri;
    }
    let body = if body.len() < COPY_BODY_BELOW {
        Bytes::copy_from_slice(&body)
    } else {
        body
    };
    (parts, body)
}

/// An event stream counts in `spaceport_sse_streams_open` until its body is
/// dropped (sent whole, or the client went away).
fn count_streams(resp: Response<Body>) -> Response<Body> {
    let streaming = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !streaming {
        return resp;
    }
    resp.map(|inner| {
        http_body_util::BodyExt::boxed_unsync(Counted {
            inner,
            _open: METRICS.sse_stream(),
        })
    })
}

/// A body that holds a gauge while it lives.
struct Counted<B> {
    inner: B,
    _open: crate::services::metrics::StreamGuard,
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for Counted<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// 429 + `Retry-After` for a user over their LLM limits.
fn llm_refused(refused: Refused, request_id: &str) -> Response<Body> {
    let (detail, wait) = match refused {
        Refused::Rate(wait) => (
            "too many requests to the model from this account; retry later".to_string(),
            wait,
        ),
        Refused::Concurrent(n) => (
            format!(
                "this account already has {n} requests to the model running; retry when one ends"
            ),
            Duration::from_secs(1),
        ),
    };
    let mut resp = error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        &detail,
        request_id,
    );
    if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Spin-style headers for the component; anything a client sent under our
/// prefix is dropped first, so these can be trusted by the component.
fn forward_headers(
    headers: &mut http::HeaderMap,
    pattern: &RoutePattern,
    component: &str,
    matched: &RouteMatch,
    peer: SocketAddr,
    request_id: &str,
) {
    let stale: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("spaceport-"))
        .cloned()
        .collect();
    for name in stale {
        headers.remove(name);
    }
    let mut add = |name: String, value: &str| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            headers.insert(n, v);
        }
    };
    add("spaceport-matched-route".into(), pattern.as_str());
    add("spaceport-component".into(), component);
    add("spaceport-path-info".into(), &matched.path_info);
    add("spaceport-client-addr".into(), &peer.to_string());
    for (name, value) in &matched.params {
        add(
            format!("spaceport-path-match-{}", name.to_ascii_lowercase()),
            value,
        );
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID, v);
    }
    if !headers.contains_key(header::HOST) {
        headers.insert(header::HOST, HeaderValue::from_static("localhost"));
    }
}

/// The client's `x-request-id` if it is short and printable, else a new one.
fn request_id(req: &Request<RequestBody>) -> String {
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
