//! Host settings from the environment. Every variable is listed in the README.

use std::path::PathBuf;
use std::time::Duration;

/// A variable was set to something unusable; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

/// Settings of the `up` command.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub port: u16,
    /// Browser origins allowed by CORS (exact or `https://*.example.com` patterns).
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    pub max_instances: u32,
    pub pooling: bool,
    pub perf_map: bool,
    pub data_dir: PathBuf,
    pub cache_dir: Option<PathBuf>,
    pub precompiled_dir: Option<PathBuf>,
    pub shutdown_timeout: Duration,
    pub watch: bool,
    pub database: crate::db::DbConfig,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e| ConfigError {
            name,
            message: format!("cannot parse `{v}`: {e}"),
        }),
    }
}

fn flag(name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match var(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
        Some(v) => Err(ConfigError {
            name,
            message: format!("expected true or false, found `{v}`"),
        }),
    }
}

/// Origins a local frontend dev server uses, allowed when nothing is configured.
pub const DEV_ORIGINS: &[&str] = &["http://localhost:3000", "http://localhost:5173"];

impl HostConfig {
    /// The runtime's settings; `up`, `check` and `bundle` share them, so
    /// artifacts compiled by one load in the others.
    pub fn engine_options(&self) -> crate::runtime::EngineOptions {
        crate::runtime::EngineOptions {
            max_instances: self.max_instances,
            pooling: self.pooling,
            cache_dir: self.cache_dir.clone(),
            precompiled_dir: self.precompiled_dir.clone(),
            perf_map: self.perf_map,
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        // The seed apps name it three ways; accept all, merged.
        let mut allowed_origins: Vec<String> = ["ALLOWED_ORIGINS", "CORS_ORIGINS", "FRONTEND_URL"]
            .iter()
            .filter_map(|n| var(n))
            .flat_map(|v| {
                v.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|o| !o.is_empty())
            .collect();
        if allowed_origins.is_empty() {
            allowed_origins = DEV_ORIGINS.iter().map(|s| s.to_string()).collect();
        }
        let data_dir = PathBuf::from(var("SPACEPORT_DATA_DIR").unwrap_or_else(|| "data".into()));
        let cache_dir = match var("SPACEPORT_CACHE_DIR").as_deref() {
            Some("off") | Some("none") => None,
            Some(dir) => Some(PathBuf::from(dir)),
            None => Some(data_dir.join("cache")),
        };
        let max_instances: u32 = parse("SPACEPORT_MAX_INSTANCES", 1000)?;
        if max_instances == 0 {
            return Err(ConfigError {
                name: "SPACEPORT_MAX_INSTANCES",
                message: "expected at least 1".into(),
            });
        }
        Ok(Self {
            port: parse("PORT", 7860)?,
            allowed_origins,
            max_body_bytes: parse("SPACEPORT_MAX_BODY_BYTES", 1 << 20)?,
            max_instances,
            pooling: flag("SPACEPORT_POOLING", true)?,
            perf_map: flag("SPACEPORT_PERF_MAP", false)?,
            data_dir: data_dir.clone(),
            cache_dir,
            precompiled_dir: var("SPACEPORT_PRECOMPILED_DIR").map(PathBuf::from),
            shutdown_timeout: Duration::from_secs(parse("SPACEPORT_SHUTDOWN_TIMEOUT_SECS", 10)?),
            watch: flag("SPACEPORT_WATCH", true)?,
            database: crate::db::DbConfig {
                url: var("DATABASE_URL"),
                data_dir: data_dir.clone(),
                pool_size: parse("SPACEPORT_DB_POOL_SIZE", 10)?,
                acquire_timeout: Duration::from_millis(parse(
                    "SPACEPORT_DB_ACQUIRE_TIMEOUT_MS",
                    3000,
                )?),
            },
        })
    }
}
