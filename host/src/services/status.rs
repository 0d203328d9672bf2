//! The host's status board: subsystems (the component registry now; the
//! database, LLM and vector store later) report their state here, and the
//! `host-status` capability hands a snapshot to components.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Instant;

/// The state of one dependency (mirrors `host-status.state` in WIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepState {
    Healthy,
    Degraded,
    Down,
    Starting,
    Unconfigured,
    Configured,
}

/// One dependency's latest report.
#[derive(Debug, Clone)]
pub struct DepReport {
    pub state: DepState,
    pub detail: Option<String>,
    pub latency_ms: Option<u32>,
}

/// Shared, cheap to read.
pub struct StatusBoard {
    started: Instant,
    app: RwLock<(String, String)>,
    deps: RwLock<BTreeMap<String, DepReport>>,
}

impl StatusBoard {
    pub fn new() -> Self {
        let mut deps = BTreeMap::new();
        deps.insert(
            "host".to_string(),
            DepReport {
                state: DepState::Healthy,
                detail: None,
                latency_ms: None,
            },
        );
        Self {
            started: Instant::now(),
            app: RwLock::new((String::new(), String::new())),
            deps: RwLock::new(deps),
        }
    }

    /// Forget every dependency but the host itself (a test starting afresh).
    pub fn reset(&self) {
        if let Ok(mut deps) = self.deps.write() {
            deps.retain(|name, _| name == "host");
        }
    }

    /// Record the application's name and version (from the manifest).
    pub fn set_app(&self, name: &str, version: &str) {
        if let Ok(mut app) = self.app.write() {
            *app = (name.to_string(), version.to_string());
        }
    }

    /// A request just failed to reach `name`: mark it down at once, rather
    /// than wait for its monitor's next check (which marks it healthy again).
    pub fn report_failure(&self, name: &str) {
        self.report(
            name,
            DepState::Down,
            Some("unreachable (seen by a request)".into()),
        );
    }

    /// Record a dependency's state.
    pub fn report(&self, name: &str, state: DepState, detail: Option<String>) {
        self.set(name, state, detail, None);
    }

    /// Record a dependency's state and how long its check took.
    pub fn report_latency(
        &self,
        name: &str,
        state: DepState,
        detail: Option<String>,
        latency: std::time::Duration,
    ) {
        let ms = latency.as_millis().min(u32::MAX as u128) as u32;
        self.set(name, state, detail, Some(ms));
    }

    fn set(&self, name: &str, state: DepState, detail: Option<String>, latency_ms: Option<u32>) {
        if let Ok(mut deps) = self.deps.write() {
            deps.insert(
                name.to_string(),
                DepReport {
                    state,
                    detail,
                    latency_ms,
                },
            );
        }
    }

    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// (app name, app version).
    pub fn app(&self) -> (String, String) {
        self.app.read().map(|a| a.clone()).unwrap_or_default()
    }

    pub fn dependencies(&self) -> BTreeMap<String, DepReport> {
        self.deps.read().map(|d| d.clone()).unwrap_or_default()
    }
}

impl Default for StatusBoard {
    fn default() -> Self {
        Self::new()
    }
}
