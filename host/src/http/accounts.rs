//! The host's own account endpoints:
//! `POST /api/auth/register`, `POST /api/auth/login`, `GET /api/auth/me`.
//! Passwords are hashed with argon2id; the hash never leaves the database.

// Errors here are ready-to-send responses, built once on the error path.
#![allow(clippy::result_large_err)]

use super::response::{Body, error, json};
use crate::services::auth::{Auth, Principal};
use crate::services::db::{Database, SqlError, Value};
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use http::{Response, StatusCode};
use serde_json::{Map, json};

const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 256;
const MAX_NAME: usize = 100;

/// A 4xx/5xx response, ready to send.
type Reject = Response<Body>;

/// The platform's error shape plus `"field"`, so a form can mark the input.
fn validation(field: &str, detail: &str, request_id: &str) -> Reject {
    json(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({
            "error": "validation_error",
            "detail": format!("{field}: {detail}"),
            "field": field,
            "request_id": request_id,
        }),
    )
}

/// An unexpected failure: logged in full, reported without internals.
fn internal(e: impl std::fmt::Display, request_id: &str) -> Reject {
    tracing::error!(error = %e, "auth endpoint failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "unexpected error; see the server log",
        request_id,
    )
}

fn object(body: &[u8], request_id: &str) -> Result<Map<String, serde_json::Value>, Reject> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            "body: expected a JSON object",
            request_id,
        )),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            &format!("the request body is not valid JSON: {e}"),
            request_id,
        )),
    }
}

fn string_field(
    map: &Map<String, serde_json::Value>,
    field: &str,
    request_id: &str,
) -> Result<String, Reject> {
    match map.get(field) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        None | Some(serde_json::Value::Null) => Err(validation(field, "is required", request_id)),
        Some(_) => Err(validation(field, "must be a string", request_id)),
    }
}

fn db_error(e: SqlError, request_id: &str) -> Reject {
    match e {
        SqlError::Unavailable(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database is unavailable; retry shortly",
            request_id,
        ),
        other => internal(other, request_id),
    }
}

/// Argon2 runs at most two at a time (each takes ~19 MiB and a core for tens
/// of milliseconds), so a burst of logins from many addresses queues instead
/// of exhausting memory and the blocking pool; a long queue answers 503.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

async fn hashing_slot(request_id: &str) -> Result<tokio::sync::SemaphorePermit<'static>, Reject> {
    match tokio::time::timeout(std::time::Duration::from_secs(5), HASHING.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => {
            let mut resp = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many sign-ins at once; retry shortly",
                request_id,
            );
            resp.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
            Err(resp)
        }
    }
}

fn normalize_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(email)
}

fn user_json(row: &[Value]) -> serde_json::Value {
    let text = |i: usize| match row.get(i) {
        Some(Value::Text(s)) => s.clone(),
        _ => String::new(),
    };
    json!({ "id": text(0), "email": text(1), "name": text(2), "created_at": text(3) })
}

/// `POST /api/auth/register {email, password, name}` → 201 with the user.
pub async fn register(db: &Database, body: &[u8], request_id: &str) -> Response<Body> {
    match register_inner(db, body, request_id).await {
        Ok(r) | Err(r) => r,
    }
}

async fn register_inner(
    db: &Database,
    body: &[u8],
    request_id: &str,
) -> Result<Response<Body>, Reject> {
    let map = object(body, request_id)?;
    let email = string_field(&map, "email", request_id)?;
    let password = string_field(&map, "password", request_id)?;
    let name = string_field(&map, "name", request_id)?;
    let email = normalize_email(&email)
        .ok_or_else(|| validation("email", "must be a valid email address", request_id))?;
    if password.chars().count() < MIN_PASSWORD {
        return Err(validation(
            "password",
            "must be at least 8 characters",
            request_id,
        ));
    }
    if password.chars().count() > MAX_PASSWORD {
        return Err(validation(
            "password",
            "must be at most 256 characters",
            request_id,
        ));
    }
    // Counted as sent (as the schema's `maxLength` is), then trimmed.
    let too_long = name.chars().count() > MAX_NAME;
    let name = name.trim().to_string();
    if name.is_empty() || too_long {
        return Err(validation(
            "name",
            "must be 1 to 100 characters",
            request_id,
        ));
    }
    if name.contains('\0') {
        return Err(validation(
            "name",
            "must not contain NUL characters",
            request_id,
        ));
    }
    // Hashing is deliberately slow: keep it off the async workers, a few at a time.
    let _hashing = hashing_slot(request_id).await?;
    let hash = tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| internal(e, request_id))?
    .map_err(|e| internal(e, request_id))?;
    let id = uuid::Uuid::new_v4().to_string();
    let rows = db
        .query(
            "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4) \
             RETURNING id, email, name, created_at",
            &[
                Value::Text(id),
                Value::Text(email.clone()),
                Value::Text(name),
                Value::Text(hash),
            ],
        )
        .await;
    match rows {
        Ok(rows) => {
            let user = rows.rows.first().map(|r| user_json(r)).unwrap_or_default();
            tracing::info!(user_id = %user["id"].as_str().unwrap_or_default(), "user registered");
            Ok(json(StatusCode::CREATED, &user))
        }
        Err(SqlError::Constraint(_)) => Err(error(
            StatusCode::CONFLICT,
            "email_taken",
            "an account with this email already exists",
            request_id,
        )),
        Err(e) => Err(db_error(e, request_id)),
    }
}

/// A hash of a password nobody has, so an unknown email costs as much as a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default()
            .hash_password(b"spaceport-dummy-password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// `POST /api/auth/login {email, password}` → token and user.
pub async fn login(
    db: &Database,
    auth: &Auth,
    body: &[u8],
    client: std::net::IpAddr,
    request_id: &str,
) -> Response<Body> {
    match login_inner(db, auth, body, client, request_id).await {
        Ok(r) | Err(r) => r,
    }
}

async fn login_inner(
    db: &Database,
    auth: &Auth,
    body: &[u8],
    client: std::net::IpAddr,
    request_id: &str,
) -> Result<Response<Body>, Reject> {
    let map = object(body, request_id)?;
    let email = string_field(&map, "email", request_id)?;
    let password = string_field(&map, "password", request_id)?;
    let email = normalize_email(&email).unwrap_or_default();
    let rows = db
        .query(
            "SELECT id, email, name, created_at, password_hash FROM users WHERE email = $1",
            &[Value::Text(email.clone())],
        )
        .await
        .map_err(|e| db_error(e, request_id))?;
    let row = rows.rows.into_iter().next();
    let stored = match row.as_ref().and_then(|r| r.get(4)) {
        Some(Value::Text(h)) => h.clone(),
        _ => dummy_hash().to_string(),
    };
    let _hashing = hashing_slot(request_id).await?;
    let verified = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|parsed| {
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    let Some(row) = row.filter(|_| verified) else {
        tracing::warn!(email = %email, client = %client, "failed login");
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "incorrect email or password",
            request_id,
        ));
    };
    let user = user_json(&row);
    let token = auth
        .issue(user["id"].as_str().unwrap_or_default(), &email)
        .map_err(|e| internal(e, request_id))?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": auth.expires_in().as_secs(),
            "user": user,
        }),
    ))
}

/// `GET /api/auth/me` → the token's user.
pub async fn me(db: &Database, principal: &Principal, request_id: &str) -> Response<Body> {
    let rows = db
        .query(
            "SELECT id, email, name, created_at FROM users WHERE id = $1",
            &[Value::Text(principal.user_id.clone())],
        )
        .await;
    match rows {
        Ok(rows) => match rows.rows.first() {
            Some(row) => json(StatusCode::OK, &user_json(row)),
            None => error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the token's user no longer exists",
                request_id,
            ),
        },
        Err(e) => db_error(e, request_id),
    }
}
