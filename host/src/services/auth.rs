//! Authentication at the host: JWT issue and verification, the per-route
//! policy from the manifest (`auth`, `user_param`), and rate limiting of the
//! login/register endpoints. Components only ever see the verified principal.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Settings from `JWT_SECRET_KEY` (or `SECRET_KEY`), `JWT_ALGORITHM`,
/// `JWT_EXPIRE_MINUTES`, `SPACEPORT_AUTH_RATE_PER_MINUTE` and
/// `SPACEPORT_TRUST_PROXY`, read by clap (see `cli::config`).
#[derive(Clone, clap::Args)]
pub struct AuthConfig {
    /// Key that signs login tokens (at least 32 bytes; required with APP_ENV=production).
    #[arg(
        long = "jwt-secret-key",
        env = "JWT_SECRET_KEY",
        hide_env_values = true
    )]
    pub secret: Option<String>,
    /// The same key under the name the seed apps use; JWT_SECRET_KEY wins.
    #[arg(
        long = "secret-key",
        env = "SECRET_KEY",
        hide_env_values = true,
        hide = true
    )]
    pub secret_alias: Option<String>,
    /// Token signing algorithm.
    #[arg(long = "jwt-algorithm", env = "JWT_ALGORITHM", default_value = "HS256", value_parser = parse_algorithm)]
    pub algorithm: Algorithm,
    /// Token lifetime in minutes.
    #[arg(long = "jwt-expire-minutes", env = "JWT_EXPIRE_MINUTES", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub expire_minutes: u64,
    /// Login/register attempts per minute per client address.
    #[arg(
        long = "auth-rate-per-minute",
        env = "SPACEPORT_AUTH_RATE_PER_MINUTE",
        default_value = "20"
    )]
    pub login_per_minute: NonZeroU32,
    /// The `iss` claim of issued tokens; tokens with another are refused.
    #[arg(long = "jwt-issuer", env = "JWT_ISSUER", default_value = "spaceport")]
    pub issuer: String,
    /// The `aud` claim of issued tokens; tokens for another audience are refused.
    #[arg(
        long = "jwt-audience",
        env = "JWT_AUDIENCE",
        default_value = "spaceport-api"
    )]
    pub audience: String,
    /// Same as SPACEPORT_TRUSTED_PROXY_HOPS=1 (kept for existing deployments).
    #[arg(long = "trust-proxy", env = "SPACEPORT_TRUST_PROXY", default_value_t = false,
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub trust_proxy: bool,
    /// Proxies in front of the host that append to `X-Forwarded-For` (Hugging Face: 1).
    /// The client address is the entry that many from the right; 0 uses the TCP peer.
    #[arg(
        long = "trusted-proxy-hops",
        env = "SPACEPORT_TRUSTED_PROXY_HOPS",
        default_value_t = 0
    )]
    pub trusted_proxy_hops: u32,
}

fn parse_algorithm(value: &str) -> Result<Algorithm, String> {
    match value.trim() {
        "HS256" => Ok(Algorithm::HS256),
        "HS384" => Ok(Algorithm::HS384),
        "HS512" => Ok(Algorithm::HS512),
        other => Err(format!("expected HS256, HS384 or HS512, found `{other}`")),
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is never printed.
        f.debug_struct("AuthConfig")
            .field("algorithm", &self.algorithm)
            .field("expire_minutes", &self.expire_minutes)
            .finish_non_exhaustive()
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            secret: None,
            secret_alias: None,
            algorithm: Algorithm::HS256,
            expire_minutes: 15,
            login_per_minute: NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN),
            issuer: "spaceport".into(),
            audience: "spaceport-api".into(),
            trust_proxy: false,
            trusted_proxy_hops: 0,
        }
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
    /// The signing key: the configured one, or (outside production) a random
    /// one for this process.
    fn key(&self, production: bool) -> Result<Vec<u8>, AuthConfigError> {
        let secret = self
            .secret
            .clone()
            .or_else(|| self.secret_alias.clone())
            .filter(|s| !s.is_empty());
        Ok(match secret {
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
        })
    }
}

/// An authenticated user.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub email: String,
    /// An anonymous session's (see `sessions`), not an account's.
    pub anonymous: bool,
}

/// The token's claims.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub email: String,
    pub iat: u64,
    /// Not valid before (checked; equal to `iat` in the tokens we issue).
    pub nbf: u64,
    pub exp: u64,
    /// Who issued it (`JWT_ISSUER`) and for whom (`JWT_AUDIENCE`); both checked.
    pub iss: String,
    pub aud: String,
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
    /// Validly signed, but its user no longer exists.
    #[error("the token's user no longer exists")]
    UnknownUser,
}

/// Issues and verifies tokens; limits login attempts.
pub struct Auth {
    algorithm: Algorithm,
    expire: Duration,
    issuer: String,
    audience: String,
    proxy_hops: usize,
    checks: std::sync::atomic::AtomicU64,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Keys anonymous sessions' principals (`sessions::principal`), derived
    /// from the JWT secret so every replica derives the same ids.
    session_key: [u8; 32],
}

impl Auth {
    /// Checks the settings (`production`: `APP_ENV=production`, which requires a real key).
    pub fn new(config: &AuthConfig, production: bool) -> Result<Self, AuthConfigError> {
        let secret = config.key(production)?;
        let mut validation = Validation::new(config.algorithm);
        // Only the configured algorithm is accepted (so never `none`).
        validation.algorithms = vec![config.algorithm];
        validation.leeway = 30;
        validation.validate_nbf = true;
        validation.set_issuer(&[config.issuer.as_str()]);
        validation.set_audience(&[config.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "sub", "nbf", "iss", "aud"]);
        let quota = Quota::per_minute(config.login_per_minute);
        let session_key: [u8; 32] = {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            h.update(b"spaceport-session-key\0");
            h.update(&secret);
            h.finalize().into()
        };
        Ok(Self {
            session_key,
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            validation,
            limiter: RateLimiter::keyed(quota),
            algorithm: config.algorithm,
            expire: Duration::from_secs(config.expire_minutes.saturating_mul(60)),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            proxy_hops: if config.trusted_proxy_hops > 0 {
                config.trusted_proxy_hops as usize
            } else {
                usize::from(config.trust_proxy)
            },
            checks: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The key anonymous sessions' principals are derived with.
    pub fn session_key(&self) -> &[u8; 32] {
        &self.session_key
    }

    pub fn expires_in(&self) -> Duration {
        self.expire
    }

    /// A signed token for `user_id`.
    pub fn issue(&self, user_id: &str, email: &str) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let claims = Claims {
            sub: user_id.to_string(),
            email: email.to_string(),
            iat: now,
            nbf: now,
            exp: now + self.expire.as_secs(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(self.algorithm),
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
        // The scheme is case-insensitive (RFC 7235); one space or more may follow it.
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
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
            anonymous: false,
        })
    }

    /// The client address used for rate limiting. Behind `n` trusted proxies it
    /// is the `n`-th `X-Forwarded-For` entry from the right: the one the
    /// outermost trusted proxy appended. Entries to its left come from the
    /// client and could be rotated to dodge the limit; with fewer entries than
    /// proxies the request did not come through them, so the peer counts.
    pub fn client_ip(&self, headers: &http::HeaderMap, peer: IpAddr) -> IpAddr {
        if self.proxy_hops == 0 {
            return peer;
        }
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        entries
            .len()
            .checked_sub(self.proxy_hops)
            .and_then(|i| entries[i].parse().ok())
            .unwrap_or(peer)
    }

    /// `Err(retry_after)` when `ip` has used up its login/register attempts.
    pub fn check_rate(&self, ip: IpAddr) -> Result<(), Duration> {
        // The limiter keeps one entry per address it has seen: forget the idle
        // ones now and then, so a scan of many addresses cannot grow it for ever.
        let n = self
            .checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % 1024 == 1023 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(&rate_key(ip)).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
        })
    }
}

/// IPv4 addresses count one by one; IPv6 ones by their /64, which one client
/// usually holds whole (so it cannot rotate through it).
pub fn rate_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
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
    /// A valid token sets the principal (a bad one is 401); without one, an
    /// anonymous session does (see `sessions`), minted when none is named.
    Session,
}
