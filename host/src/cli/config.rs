//! Every setting of the host, read one way: clap, from a flag or else its
//! environment variable (every variable is listed in the README and in
//! `spaceport up --help`). Each layer defines the settings it owns
//! ([`DbConfig`], [`LlmConfig`], [`AuthConfig`], [`EngineArgs`]); this module
//! flattens them into the commands. A value that does not parse is clap's
//! error, naming the flag and the variable; a combination that cannot work
//! (a missing secret in production) is an error naming the variable.

use crate::sandbox::runtime::EngineArgs;
use crate::services::auth::AuthConfig;
use crate::services::db::DbConfig;
use crate::services::llm::LlmConfig;
use crate::services::qdrant::QdrantConfig;
use std::path::PathBuf;
use std::time::Duration;

/// Origins a local frontend dev server uses, allowed when nothing is configured.
pub const DEV_ORIGINS: &[&str] = &["http://localhost:3000", "http://localhost:5173"];

/// A boolean from `1/0`, `true/false`, `yes/no`, `on/off`.
fn boolish() -> clap::builder::BoolishValueParser {
    clap::builder::BoolishValueParser::new()
}

/// Settings of `spaceport up`.
#[derive(Debug, Clone, clap::Args)]
pub struct HostConfig {
    /// Port to listen on (0.0.0.0:PORT); `--listen` overrides the whole address.
    #[arg(long = "port", env = "PORT", default_value_t = 7860)]
    pub port: u16,
    /// Browser origins allowed by CORS, comma-separated (exact, or `https://*.example.com`).
    #[arg(
        long = "allowed-origins",
        env = "ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// The same, under the names the seed apps use (merged with ALLOWED_ORIGINS).
    #[arg(
        long = "cors-origins",
        env = "CORS_ORIGINS",
        value_delimiter = ',',
        hide = true
    )]
    cors_origins: Vec<String>,
    #[arg(
        long = "frontend-url",
        env = "FRONTEND_URL",
        value_delimiter = ',',
        hide = true
    )]
    frontend_url: Vec<String>,
    /// Largest request body in bytes (413 beyond).
    #[arg(long = "max-body-bytes", env = "SPACEPORT_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Seconds a client may take to send a request's headers (the connection is closed beyond).
    #[arg(long = "header-timeout-secs", env = "SPACEPORT_HEADER_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,
    /// Seconds a client may take to send a whole request body (408 beyond).
    #[arg(long = "body-timeout-secs", env = "SPACEPORT_BODY_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_secs: u64,
    /// Requests a minute one user may start on routes whose component calls the LLM (429 beyond).
    #[arg(
        long = "llm-rate-per-minute",
        env = "SPACEPORT_LLM_RATE_PER_MINUTE",
        default_value = "30"
    )]
    pub llm_rate_per_minute: std::num::NonZeroU32,
    /// Such requests one user may have running at once (429 beyond).
    #[arg(long = "llm-concurrent-per-user", env = "SPACEPORT_LLM_CONCURRENT_PER_USER", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub llm_concurrent_per_user: u32,
    /// Seconds to drain in-flight requests on SIGTERM.
    #[arg(
        long = "shutdown-timeout-secs",
        env = "SPACEPORT_SHUTDOWN_TIMEOUT_SECS",
        default_value_t = 10
    )]
    shutdown_timeout_secs: u64,
    /// Turns the admin API on (`spaceport deploy` into this host): a secret of
    /// at least 32 bytes, sent as `Authorization: Bearer ...`. Off when unset.
    #[arg(
        long = "admin-token",
        env = "SPACEPORT_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// Largest component upload to the admin API, in MiB (413 beyond).
    #[arg(long = "admin-max-upload-mb", env = "SPACEPORT_ADMIN_MAX_UPLOAD_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub admin_max_upload_mb: u64,
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <token>`.
    #[arg(
        long = "metrics-token",
        env = "SPACEPORT_METRICS_TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
    /// Keep metrics and serve them at `/metrics` (`false`: no per-request
    /// bookkeeping, `/metrics` is 404).
    #[arg(long = "metrics", env = "SPACEPORT_METRICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics: bool,
    /// Serve the app's tools over MCP at `/mcp` (`false` turns it off: 404).
    #[arg(long = "mcp", env = "SPACEPORT_MCP", default_value_t = true, action = clap::ArgAction::Set)]
    pub mcp: bool,
    /// MCP sessions open at once (a new one beyond is 503 `busy`).
    #[arg(long = "mcp-max-sessions", env = "SPACEPORT_MCP_MAX_SESSIONS", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub mcp_max_sessions: u64,
    /// MCP sessions one user may have open (a new one beyond closes their oldest).
    #[arg(long = "mcp-sessions-per-user", env = "SPACEPORT_MCP_SESSIONS_PER_USER", default_value_t = 8,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub mcp_sessions_per_user: u64,
    /// Seconds an idle MCP session stays open.
    #[arg(long = "mcp-session-idle-secs", env = "SPACEPORT_MCP_SESSION_IDLE_SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub mcp_session_idle_secs: u64,
    /// `Host` names `/mcp` answers (comma-separated; DNS-rebinding protection).
    /// Empty (the default): any host, since every call needs a bearer token; on
    /// Hugging Face, `SPACE_HOST` is added when this is set.
    #[arg(
        long = "mcp-allowed-hosts",
        env = "SPACEPORT_MCP_ALLOWED_HOSTS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub mcp_allowed_hosts: Vec<String>,
    /// How often a host checks the deployment log for versions another replica
    /// deployed (milliseconds).
    #[arg(long = "deploy-poll-ms", env = "SPACEPORT_DEPLOY_POLL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(50..))]
    pub deploy_poll_ms: u64,
    /// Reload when the manifest or a component file changes.
    #[arg(long = "watch", env = "SPACEPORT_WATCH", default_value_t = true,
          action = clap::ArgAction::Set, value_parser = boolish())]
    pub watch: bool,
    /// Tokio worker threads (default: one per CPU).
    #[arg(long = "workers", env = "SPACEPORT_WORKERS", value_parser = clap::value_parser!(u32).range(1..))]
    workers: Option<u32>,
    /// `production` makes a missing or weak JWT_SECRET_KEY fatal.
    #[arg(long = "app-env", env = "APP_ENV", default_value = "development")]
    app_env: String,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub db: DbConfig,
    #[command(flatten)]
    pub llm: LlmConfig,
    #[command(flatten)]
    pub qdrant: QdrantConfig,
    #[command(flatten)]
    pub auth: AuthConfig,
}

impl HostConfig {
    /// Whether `APP_ENV=production`.
    pub fn production(&self) -> bool {
        self.app_env.trim().eq_ignore_ascii_case("production")
    }

    /// Allowed origins from all three variables, or the dev servers' when none is set.
    /// `/mcp`'s settings.
    pub fn mcp(&self) -> crate::http::mcp::McpConfig {
        let mut allowed_hosts: Vec<String> = self
            .mcp_allowed_hosts
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        // Hugging Face names the Space's public host in SPACE_HOST.
        if !allowed_hosts.is_empty()
            && let Ok(space) = std::env::var("SPACE_HOST")
            && !space.trim().is_empty()
        {
            allowed_hosts.push(space.trim().to_ascii_lowercase());
        }
        crate::http::mcp::McpConfig {
            max_sessions: usize::try_from(self.mcp_max_sessions).unwrap_or(usize::MAX),
            sessions_per_user: usize::try_from(self.mcp_sessions_per_user).unwrap_or(usize::MAX),
            session_idle: std::time::Duration::from_secs(self.mcp_session_idle_secs),
            allowed_hosts,
            max_body_bytes: self.max_body_bytes,
            body_timeout: std::time::Duration::from_secs(self.body_timeout_secs),
        }
    }

    pub fn allowed_origins(&self) -> Vec<String> {
        let origins: Vec<String> = self
            .allowed_origins
            .iter()
            .chain(&self.cors_origins)
            .chain(&self.frontend_url)
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .collect();
        if origins.is_empty() {
            DEV_ORIGINS.iter().map(|s| s.to_string()).collect()
        } else {
            origins
        }
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }

    pub fn workers(&self) -> usize {
        self.workers.map_or_else(
            || std::thread::available_parallelism().map_or(2, |n| n.get()),
            |w| w as usize,
        )
    }
}

/// Settings of `spaceport check` and `bundle`: the engine's, so what they
/// compile into the cache is what `up` loads.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckConfig {
    /// Where the compile cache lives by default (`<data dir>/cache`).
    #[arg(long = "data-dir", env = "SPACEPORT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Logging, for every command.
#[derive(Debug, Clone, clap::Args)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace` (RUST_LOG, a full filter, wins).
    #[arg(
        long = "log-level",
        env = "LOG_LEVEL",
        default_value = "info",
        global = true
    )]
    pub level: String,
    /// `text` or `json` (one JSON object per line).
    #[arg(long = "log-format", env = "LOG_FORMAT", default_value = "text", global = true,
          value_parser = ["text", "json"], ignore_case = true)]
    pub format: String,
    /// A full `tracing` filter, e.g. `info,spaceport=debug`.
    #[arg(long = "log-filter", env = "RUST_LOG", global = true, hide = true)]
    pub filter: Option<String>,
}

/// Unset variables that are set but blank: a Space or a `.env` file often
/// leaves `NAME=` in place, which means "not set" here, while clap would read
/// it as an empty value.
///
/// # Safety
/// Call before any other thread exists (it changes the environment).
pub unsafe fn drop_blank_variables(command: &clap::Command) {
    fn names(cmd: &clap::Command, out: &mut Vec<std::ffi::OsString>) {
        out.extend(
            cmd.get_arguments()
                .filter_map(|a| a.get_env().map(|e| e.to_os_string())),
        );
        for sub in cmd.get_subcommands() {
            names(sub, out);
        }
    }
    let mut all = Vec::new();
    names(command, &mut all);
    for name in all {
        if std::env::var_os(&name).is_some_and(|v| v.to_string_lossy().trim().is_empty()) {
            // SAFETY: the caller guarantees no other thread reads the environment.
            unsafe { std::env::remove_var(&name) };
        }
    }
}
