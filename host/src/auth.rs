//! Authentication at the host: JWT issue and verification, the per-route
//! policy from the manifest (`auth`, `user_param`), and rate limiting of the
//! login/register endpoints. Components only ever see the verified principal.

use crate::capabilities::Principal;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Settings from `JWT_SECRET_KEY`, `JWT_ALGORITHM`, `JWT_EXPIRE_MINUTES`, `APP_ENV`.
#[derive(Clone)]
pub struct AuthConfig {
    secret: Vec<u8>,
    pub algorithm: Algorithm,
    pub expire: Duration,
    pub login_per_minute: NonZeroU32,
    pub trust_proxy: bool,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is never printed.
        f.debug_struct("AuthConfig")
            .field("algorithm", &self.algorithm)
            .field("expire", &self.expire)
            .finish_non_exhaustive()
    }
}

/// A configuration problem; names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {message}")]
pub struct AuthConfigError {
    pub name: &'static str,
    pub message: String,
}

impl AuthConfig {
    pub fn from_env() -> Result<Self, AuthConfigError> {
        let production =
            std::env::var("APP_ENV").is_ok_and(|v| v.eq_ignore_ascii_case("production"));
        let secret = std::env::var("JWT_SECRET_KEY")
            .or_else(|_| std::env::var("SECRET_KEY"))
            .ok()
            .filter(|s| !s.is_empty());
        let secret = match secret {
            Some(s) if s.len() >= 32 => s.into_bytes(),
            Some(_) if production => {
                return Err(AuthConfigError {
                    name: "JWT_SECRET_KEY",
                    message: "must be at least 32 bytes in production (generate one with `openssl rand -hex 32`)".into(),
                });
            }
            None if production => {
                return Err(AuthConfigError {
                    name: "JWT_SECRET_KEY",
                    message: "is required in production: it signs the login tokens (generate one with `openssl rand -hex 32`)".into(),
                });
            }
            Some(s) => {
                tracing::warn!(
                    "JWT_SECRET_KEY is shorter than 32 bytes; fine for development, refused with APP_ENV=production"
                );
                s.into_bytes()
            }
            None => {
                tracing::warn!(
                    "JWT_SECRET_KEY is not set: using a random key for this process, so tokens stop working on restart (set it in production)"
                );
                let mut key = Vec::with_capacity(32);
                key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
                key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
                key
            }
        };
        let algorithm = match std::env::var("JWT_ALGORITHM")
            .ok()
            .as_deref()
            .map(str::trim)
        {
            None | Some("") | Some("HS256") => Algorithm::HS256,
            Some("HS384") => Algorithm::HS384,
            Some("HS512") => Algorithm::HS512,
            Some(other) => {
                return Err(AuthConfigError {
                    name: "JWT_ALGORITHM",
                    message: format!("expected HS256, HS384 or HS512, found `{other}`"),
                });
            }
        };
        let minutes = match std::env::var("JWT_EXPIRE_MINUTES")
            .ok()
            .filter(|v| !v.is_empty())
        {
            None => 15,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|m| *m > 0)
                .ok_or(AuthConfigError {
                    name: "JWT_EXPIRE_MINUTES",
                    message: format!("expected a positive number of minutes, found `{v}`"),
                })?,
        };
        let per_minute = match std::env::var("SPACEPORT_AUTH_RATE_PER_MINUTE")
            .ok()
            .filter(|v| !v.is_empty())
        {
            None => NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN),
            Some(v) => v
                .trim()
                .parse::<NonZeroU32>()
                .map_err(|_| AuthConfigError {
                    name: "SPACEPORT_AUTH_RATE_PER_MINUTE",
                    message: format!("expected a positive integer, found `{v}`"),
                })?,
        };
        let trust_proxy = std::env::var("SPACEPORT_TRUST_PROXY")
            .is_ok_and(|v| ["1", "true", "yes", "on"].contains(&v.to_ascii_lowercase().as_str()));
        Ok(Self {
            secret,
            algorithm,
            expire: Duration::from_secs(minutes * 60),
            login_per_minute: per_minute,
            trust_proxy,
        })
    }
}

/// The token's claims.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub email: String,
    pub iat: u64,
    pub exp: u64,
}

/// Why a bearer token was refused (all are 401 to the client).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("missing bearer token")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("invalid token")]
    Invalid,
}

/// Issues and verifies tokens; limits login attempts.
pub struct Auth {
    config: AuthConfig,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl Auth {
    pub fn new(config: AuthConfig) -> Self {
        let mut validation = Validation::new(config.algorithm);
        // Only the configured algorithm is accepted (so never `none`).
        validation.algorithms = vec![config.algorithm];
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let quota = Quota::per_minute(config.login_per_minute);
        Self {
            encoding: EncodingKey::from_secret(&config.secret),
            decoding: DecodingKey::from_secret(&config.secret),
            validation,
            limiter: RateLimiter::keyed(quota),
            config,
        }
    }

    pub fn expires_in(&self) -> Duration {
        self.config.expire
    }

    /// A signed token for `user_id`.
    pub fn issue(&self, user_id: &str, email: &str) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let claims = Claims {
            sub: user_id.to_string(),
            email: email.to_string(),
            iat: now,
            exp: now + self.config.expire.as_secs(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(self.config.algorithm),
            &claims,
            &self.encoding,
        )?)
    }

    /// The principal of a request's `Authorization: Bearer` header.
    pub fn verify(&self, headers: &http::HeaderMap) -> Result<Principal, TokenError> {
        let value = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(TokenError::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(TokenError::Missing)?;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        Ok(Principal {
            user_id: data.claims.sub,
            email: data.claims.email,
        })
    }

    /// The client address used for rate limiting. Behind a trusted proxy it is
    /// the last `X-Forwarded-For` entry: the one that proxy appended. Entries to
    /// its left come from the client and could be rotated to dodge the limit.
    pub fn client_ip(&self, headers: &http::HeaderMap, peer: IpAddr) -> IpAddr {
        if self.config.trust_proxy {
            let forwarded = headers
                .get_all("x-forwarded-for")
                .iter()
                .next_back()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|ip| ip.trim().parse().ok());
            if let Some(ip) = forwarded {
                return ip;
            }
        }
        peer
    }

    /// `Err(retry_after)` when `ip` has used up its login/register attempts.
    pub fn check_rate(&self, ip: IpAddr) -> Result<(), Duration> {
        self.limiter.check_key(&ip).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
        })
    }
}

/// A route's authentication policy (`auth = "..."` in the manifest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthPolicy {
    /// No token needed; any token is ignored.
    #[default]
    None,
    /// A valid token sets the principal; no token is fine; a bad token is 401.
    Optional,
    /// A valid token is required (401 otherwise).
    Required,
}
