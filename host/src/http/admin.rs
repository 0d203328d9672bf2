//! The admin API (`spaceport deploy`, `status`, `rollback`): on only when
//! `SPACEPORT_ADMIN_TOKEN` is set; its own bearer credential (compared in
//! constant time, failures rate-limited per client), never a user's JWT.
//!
//! - `GET    /admin/components`: what each component serves, and its log
//! - `PUT    /admin/components/{id}`: the `.wasm` as the body; answers once it serves
//! - `POST   /admin/components/{id}/rollback`: `{"version": "<hash>"}` or empty (the previous)
//! - `DELETE /admin/components/{id}`: back to the image's file

// Errors here are ready-to-send responses, built once on the error path.
#![allow(clippy::result_large_err)]

use super::body::RequestBody;
use super::body::read;
use super::response::{Body, error, json, method_not_allowed};
use crate::app::deploy::{DeployError, Deployer};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::{Request, Response, StatusCode, header};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Shortest admin token accepted (bytes).
pub const MIN_TOKEN_BYTES: usize = 32;

pub struct Admin {
    token: Vec<u8>,
    deployer: Arc<Deployer>,
    max_upload_bytes: usize,
    body_timeout: Duration,
    /// Failed attempts per client address: a wrong token costs one of these.
    failures: DefaultKeyedRateLimiter<IpAddr>,
}

impl Admin {
    /// `token` must be at least [`MIN_TOKEN_BYTES`] long (checked at start).
    pub fn new(
        token: &str,
        deployer: Arc<Deployer>,
        max_upload_bytes: usize,
        body_timeout: Duration,
    ) -> Self {
        let per_minute = NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN);
        Self {
            token: token.as_bytes().to_vec(),
            deployer,
            max_upload_bytes,
            body_timeout,
            failures: RateLimiter::keyed(Quota::per_minute(per_minute)),
        }
    }

    pub async fn serve(
        &self,
        req: Request<RequestBody>,
        peer: SocketAddr,
        request_id: &str,
    ) -> Response<Body> {
        match self.handle(req, peer, request_id).await {
            Ok(resp) | Err(resp) => resp,
        }
    }

    async fn handle(
        &self,
        req: Request<RequestBody>,
        peer: SocketAddr,
        request_id: &str,
    ) -> Result<Response<Body>, Response<Body>> {
        let (parts, body) = req.into_parts();
        self.authenticate(&parts.headers, peer, request_id)?;
        let path = parts.uri.path().trim_end_matches('/');
        let segments: Vec<&str> = path.split('/').skip(2).collect();
        let actor = peer.ip().to_string();
        let method = parts.method.clone();
        match segments.as_slice() {
            ["components"] => match method {
                http::Method::GET | http::Method::HEAD => self.status(request_id).await,
                _ => Err(method_not_allowed(&method, "GET, HEAD", request_id)),
            },
            ["components", id] => match method {
                http::Method::PUT => {
                    let bytes = read(
                        body,
                        &parts.headers,
                        self.max_upload_bytes,
                        self.body_timeout,
                        request_id,
                    )
                    .await?;
                    if bytes.is_empty() {
                        return Err(error(
                            StatusCode::BAD_REQUEST,
                            "empty_body",
                            "send the component's .wasm as the request body",
                            request_id,
                        ));
                    }
                    let deployed = self
                        .deployer
                        .deploy(id, &bytes, &actor)
                        .await
                        .map_err(|e| deploy_error(e, request_id))?;
                    Ok(json(StatusCode::OK, &to_json(&deployed)))
                }
                http::Method::DELETE => {
                    let deployed = self
                        .deployer
                        .reset(id, &actor)
                        .await
                        .map_err(|e| deploy_error(e, request_id))?;
                    Ok(json(StatusCode::OK, &to_json(&deployed)))
                }
                _ => Err(method_not_allowed(&method, "PUT, DELETE", request_id)),
            },
            ["components", id, "rollback"] => match method {
                http::Method::POST => {
                    let bytes = read(
                        body,
                        &parts.headers,
                        64 * 1024,
                        self.body_timeout,
                        request_id,
                    )
                    .await?;
                    let to = rollback_target(&bytes, request_id)?;
                    let deployed = self
                        .deployer
                        .rollback(id, to.as_deref(), &actor)
                        .await
                        .map_err(|e| deploy_error(e, request_id))?;
                    Ok(json(StatusCode::OK, &to_json(&deployed)))
                }
                _ => Err(method_not_allowed(&method, "POST", request_id)),
            },
            _ => Err(error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no admin endpoint at {path}"),
                request_id,
            )),
        }
    }

    /// The admin token, or 401 (429 after too many failures from one address).
    fn authenticate(
        &self,
        headers: &http::HeaderMap,
        peer: SocketAddr,
        request_id: &str,
    ) -> Result<(), Response<Body>> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            });
        // Constant time in the token's content (its length is not a secret worth hiding).
        let ok = presented.is_some_and(|t| bool::from(t.as_bytes().ct_eq(&self.token)));
        if ok {
            return Ok(());
        }
        if self.failures.check_key(&peer.ip()).is_err() {
            let mut resp = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many failed admin attempts from this address; retry in a minute",
                request_id,
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, http::HeaderValue::from_static("60"));
            return Err(resp);
        }
        tracing::warn!(client = %peer.ip(), "admin API: refused a missing or wrong token");
        let mut resp = error(
            StatusCode::UNAUTHORIZED,
            if presented.is_some() {
                "invalid_token"
            } else {
                "not_authenticated"
            },
            "the admin API needs `Authorization: Bearer <SPACEPORT_ADMIN_TOKEN>`",
            request_id,
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer realm=\"spaceport-admin\""),
        );
        Err(resp)
    }

    async fn status(&self, request_id: &str) -> Result<Response<Body>, Response<Body>> {
        let all = self
            .deployer
            .status()
            .await
            .map_err(|e| deploy_error(e, request_id))?;
        let components: Vec<serde_json::Value> = all
            .into_iter()
            .map(|(serving, history)| {
                let mut v = to_json(&serving);
                v["history"] = to_json(&history);
                v
            })
            .collect();
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({ "components": components }),
        ))
    }
}

fn to_json(value: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// `{"version": "<hash or prefix>"}`, or an empty body for "the previous one".
fn rollback_target(body: &[u8], request_id: &str) -> Result<Option<String>, Response<Body>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let bad = |detail: &str| error(StatusCode::BAD_REQUEST, "invalid_json", detail, request_id);
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| bad("the body must be JSON: {\"version\": \"<hash>\"} or empty"))?;
    match value.get("version") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(v)) => Ok(Some(v.clone())),
        Some(_) => Err(bad(
            "`version` must be a string (a content hash or its prefix)",
        )),
    }
}

fn deploy_error(e: DeployError, request_id: &str) -> Response<Body> {
    let (status, code) = match &e {
        DeployError::UnknownComponent(_) => (StatusCode::NOT_FOUND, "unknown_component"),
        DeployError::UnknownVersion { .. } => (StatusCode::NOT_FOUND, "unknown_version"),
        DeployError::NothingToRollBack(_) => (StatusCode::CONFLICT, "nothing_to_roll_back"),
        DeployError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_component"),
        DeployError::Starting => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
        DeployError::Reload(_) => (StatusCode::UNPROCESSABLE_ENTITY, "rejected_on_reload"),
        DeployError::Store(_) | DeployError::Io(_) => {
            // Driver text and paths go to the log only.
            tracing::error!(error = %e, "admin API: deployment store failed");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the deployment store could not be reached; nothing was changed",
                request_id,
            );
        }
    };
    error(status, code, &e.to_string(), request_id)
}
