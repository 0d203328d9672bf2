//! The host's metrics, served at `/metrics` in the OpenMetrics text format
//! (what Prometheus scrapes). Labels are bounded by construction: component
//! ids and route patterns come from the manifest, methods and status classes
//! from short fixed lists; never a raw path, a user or a request id.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    component: String,
    route: String,
    method: String,
    class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabel {
    component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    component: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeployLabels {
    component: String,
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LlmLabels {
    model: String,
    call: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: String,
    direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabel {
    call: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SqlLabels {
    database: String,
    statement: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DatabaseLabel {
    database: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    database: String,
    state: &'static str,
}

/// Every metric the host keeps.
pub struct Metrics {
    /// `SPACEPORT_METRICS=false` turns the per-request bookkeeping off.
    enabled: std::sync::atomic::AtomicBool,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<ComponentLabel, Histogram>,
    failures: Family<FailureLabels, Counter>,
    deployments: Family<DeployLabels, Counter>,
    tool_calls: Family<ToolLabels, Counter>,
    llm_requests: Family<LlmLabels, Counter>,
    llm_tokens: Family<TokenLabels, Counter>,
    llm_duration: Family<CallLabel, Histogram>,
    llm_retries: Family<CallLabel, Counter>,
    swaps: Family<ReloadLabel, Counter>,
    sse_streams: Gauge,
    relays: Gauge,
    sql_statements: Family<SqlLabels, Counter>,
    sql_duration: Family<DatabaseLabel, Histogram>,
    mcp_sessions: Gauge,
    instances_in_use: Gauge,
    instances_capacity: Gauge,
    pool_wait: Family<DatabaseLabel, Histogram>,
    instance_lifetime: Family<ComponentLabel, Histogram>,
    pool_connections: Family<PoolLabels, Gauge>,
    pool_max: Family<DatabaseLabel, Gauge>,
    /// The pools whose state `/metrics` reads at each scrape, by label.
    pools: std::sync::Mutex<Vec<(String, crate::services::db::Database)>>,
}

/// The process's metrics (one host per process).
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// A method as a label: the common ones by name, anything else `other`.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "spaceport_http_requests",
            "HTTP requests answered, by component (`host` for the host's own endpoints, `-` for no route), route pattern, method and status class",
            requests.clone(),
        );
        let duration = Family::<ComponentLabel, Histogram>::new_with_constructor(|| {
            // 0.5 ms to ~16 s.
            Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
        });
        registry.register(
            "spaceport_http_request_duration_seconds",
            "Time to answer a request (to the response's headers), by component",
            duration.clone(),
        );
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "spaceport_component_failures",
            "Instances that ended without an answer: trap, timeout, memory_limit, denied, error_code, setup",
            failures.clone(),
        );
        let deployments = Family::<DeployLabels, Counter>::default();
        registry.register(
            "spaceport_deployments",
            "Versions swapped in through the admin API: deploy, rollback, reset",
            deployments.clone(),
        );
        let tool_calls = Family::<ToolLabels, Counter>::default();
        registry.register(
            "spaceport_tool_calls",
            "Tool calls (agent, REST or MCP) by tool (`-` for a name no component offers) and outcome (`ok` or the error code)",
            tool_calls.clone(),
        );
        let llm_requests = Family::<LlmLabels, Counter>::default();
        registry.register(
            "spaceport_llm_requests",
            "Calls to the model provider, by model, call (`complete`, `stream`, `embed`) and outcome (`ok` or the error kind), after retries",
            llm_requests.clone(),
        );
        let llm_tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "spaceport_llm_tokens",
            "Tokens the provider reported, by model and direction (`in`: prompt, `out`: completion)",
            llm_tokens.clone(),
        );
        let llm_duration = Family::<CallLabel, Histogram>::new_with_constructor(|| {
            // 10 ms to ~160 s.
            Histogram::new(exponential_buckets(0.01, 2.0, 15))
        });
        registry.register(
            "spaceport_llm_request_duration_seconds",
            "Time of a call to the model provider, retries included, by call",
            llm_duration.clone(),
        );
        let llm_retries = Family::<CallLabel, Counter>::default();
        registry.register(
            "spaceport_llm_retries",
            "Calls to the provider retried after a 429, a 5xx or a connection failure, by call",
            llm_retries.clone(),
        );
        let swaps = Family::<ReloadLabel, Counter>::default();
        registry.register(
            "spaceport_component_swaps",
            "Component versions hot-swapped in (`swapped`) or refused while the old one kept serving (`rejected`)",
            swaps.clone(),
        );
        let sql_statements = Family::<SqlLabels, Counter>::default();
        registry.register(
            "spaceport_sql_statements",
            "Components' SQL statements, by database, statement kind (`select`, `insert`, `update`, `delete`, `with`, `other`) and outcome (`ok` or the error kind: `constraint`, `timeout`, `limit_exceeded`, `denied`, `unavailable`, …); never the statement's text",
            sql_statements.clone(),
        );
        let sql_duration = Family::<DatabaseLabel, Histogram>::new_with_constructor(|| {
            // 50 µs to ~1.6 s.
            Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
        });
        registry.register(
            "spaceport_sql_statement_duration_seconds",
            "Time of a component's SQL statement, waiting for a pooled connection included, by database",
            sql_duration.clone(),
        );
        let sse_streams = Gauge::default();
        registry.register(
            "spaceport_sse_streams_open",
            "Server-sent event streams being sent now",
            sse_streams.clone(),
        );
        let relays = Gauge::default();
        registry.register(
            "spaceport_llm_relays_open",
            "Model answers the host is relaying to clients now, with no instance held (llm.relay)",
            relays.clone(),
        );
        let mcp_sessions = Gauge::default();
        registry.register(
            "spaceport_mcp_sessions_open",
            "MCP sessions open now",
            mcp_sessions.clone(),
        );
        let instances_in_use = Gauge::default();
        registry.register(
            "spaceport_instance_slots_in_use",
            "Component instances alive now",
            instances_in_use.clone(),
        );
        let instances_capacity = Gauge::default();
        registry.register(
            "spaceport_instance_slots",
            "Component instances the host allows at once",
            instances_capacity.clone(),
        );
        let pool_wait = Family::<DatabaseLabel, Histogram>::new_with_constructor(|| {
            // 10 µs to ~5 s (the pool gives up at SPACEPORT_DB_ACQUIRE_TIMEOUT_MS).
            Histogram::new(exponential_buckets(0.000_01, 2.5, 15))
        });
        registry.register(
            "spaceport_db_pool_wait_seconds",
            "Time a component's statement waited for a pooled connection, by database",
            pool_wait.clone(),
        );
        let instance_lifetime = Family::<ComponentLabel, Histogram>::new_with_constructor(|| {
            // 0.1 ms to ~30 min (a long SSE stream).
            Histogram::new(exponential_buckets(0.000_1, 3.0, 15))
        });
        registry.register(
            "spaceport_instance_duration_seconds",
            "How long component instances lived, by component: from instantiation until the answer's body ended (streams included) or the instance was stopped",
            instance_lifetime.clone(),
        );
        let pool_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "spaceport_db_pool_connections",
            "Pooled connections open now, by database (`host` for the host's own) and state (`in_use`, `idle`)",
            pool_connections.clone(),
        );
        let pool_max = Family::<DatabaseLabel, Gauge>::default();
        registry.register(
            "spaceport_db_pool_max_connections",
            "Connections a database's pool may open",
            pool_max.clone(),
        );
        Self {
            enabled: std::sync::atomic::AtomicBool::new(true),
            registry,
            requests,
            duration,
            failures,
            deployments,
            tool_calls,
            llm_requests,
            llm_tokens,
            llm_duration,
            llm_retries,
            swaps,
            sse_streams,
            relays,
            sql_statements,
            sql_duration,
            mcp_sessions,
            instances_in_use,
            instances_capacity,
            pool_wait,
            instance_lifetime,
            pool_connections,
            pool_max,
            pools: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Report `db`'s pool as `database` at each scrape (set once at start).
    pub fn watch_pool(&self, database: &str, db: crate::services::db::Database) {
        self.pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((database.to_string(), db));
    }

    /// An instance of `component` lived `seconds`.
    pub fn instance_lifetime(&self, component: &str, seconds: f64) {
        if !self.enabled() {
            return;
        }
        self.instance_lifetime
            .get_or_create(&ComponentLabel {
                component: component.to_string(),
            })
            .observe(seconds);
    }

    /// A component statement waited `seconds` for a connection of `database`.
    pub fn pool_wait(&self, database: &str, seconds: f64) {
        if !self.enabled() {
            return;
        }
        self.pool_wait
            .get_or_create(&DatabaseLabel {
                database: database.to_string(),
            })
            .observe(seconds);
    }

    /// Keep (or stop keeping) metrics; set once at start.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One answered request.
    pub fn request(&self, component: &str, route: &str, method: &str, status: u16, seconds: f64) {
        if !self.enabled() {
            return;
        }
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&RequestLabels {
                component: component.to_string(),
                route: route.to_string(),
                method: method_label(method).to_string(),
                class: class.to_string(),
            })
            .inc();
        self.duration
            .get_or_create(&ComponentLabel {
                component: component.to_string(),
            })
            .observe(seconds);
    }

    /// An instance that ended without an answer.
    pub fn failure(&self, component: &str, kind: &'static str) {
        if !self.enabled() {
            return;
        }
        self.failures
            .get_or_create(&FailureLabels {
                component: component.to_string(),
                kind: kind.to_string(),
            })
            .inc();
    }

    /// A version swapped in through the admin API.
    pub fn deployment(&self, component: &str, action: &str) {
        if !self.enabled() {
            return;
        }
        let action = match action {
            "deploy" | "rollback" | "reset" => action,
            _ => "other",
        };
        self.deployments
            .get_or_create(&DeployLabels {
                component: component.to_string(),
                action: action.to_string(),
            })
            .inc();
    }

    /// One tool call and how it ended.
    pub fn tool_call(&self, tool: &str, outcome: &'static str) {
        if !self.enabled() {
            return;
        }
        self.tool_calls
            .get_or_create(&ToolLabels {
                tool: tool.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// One call to the model provider, finished (`outcome`: `ok` or the error kind).
    pub fn llm_call(&self, model: &str, call: &'static str, outcome: &'static str, seconds: f64) {
        if !self.enabled() {
            return;
        }
        self.llm_requests
            .get_or_create(&LlmLabels {
                model: model.to_string(),
                call: call.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        self.llm_duration
            .get_or_create(&CallLabel {
                call: call.to_string(),
            })
            .observe(seconds);
    }

    /// Tokens the provider reported for one call.
    pub fn llm_tokens(&self, model: &str, prompt: u32, completion: u32) {
        if !self.enabled() {
            return;
        }
        for (direction, n) in [("in", prompt), ("out", completion)] {
            self.llm_tokens
                .get_or_create(&TokenLabels {
                    model: model.to_string(),
                    direction: direction.to_string(),
                })
                .inc_by(u64::from(n));
        }
    }

    /// A call to the provider that is tried again.
    pub fn llm_retry(&self, call: &'static str) {
        if !self.enabled() {
            return;
        }
        self.llm_retries
            .get_or_create(&CallLabel {
                call: call.to_string(),
            })
            .inc();
    }

    /// A reload's swapped and rejected component versions.
    pub fn swaps(&self, swapped: usize, rejected: usize) {
        if !self.enabled() {
            return;
        }
        for (result, n) in [("swapped", swapped), ("rejected", rejected)] {
            if n > 0 {
                self.swaps
                    .get_or_create(&ReloadLabel {
                        result: result.to_string(),
                    })
                    .inc_by(n as u64);
            }
        }
    }

    /// One component SQL statement on `database` (a manifest name), of kind
    /// `statement` (see [`statement_kind`]).
    pub fn sql_statement(
        &self,
        database: &str,
        statement: &'static str,
        outcome: &'static str,
        seconds: f64,
    ) {
        if !self.enabled() {
            return;
        }
        self.sql_statements
            .get_or_create(&SqlLabels {
                database: database.to_string(),
                statement: statement.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        self.sql_duration
            .get_or_create(&DatabaseLabel {
                database: database.to_string(),
            })
            .observe(seconds);
    }

    /// One more server-sent event stream open, until the guard drops.
    pub fn sse_stream(&self) -> StreamGuard {
        self.sse_streams.inc();
        StreamGuard(self.sse_streams.clone())
    }

    /// One more relay in progress, until the guard drops.
    pub fn relay_open(&self) -> StreamGuard {
        self.relays.inc();
        StreamGuard(self.relays.clone())
    }

    /// The text to serve, with the instance slots and MCP sessions as they are now.
    pub fn encode(&self, slots: (usize, usize), mcp_sessions: usize) -> String {
        self.mcp_sessions
            .set(i64::try_from(mcp_sessions).unwrap_or(i64::MAX));
        self.instances_in_use
            .set(i64::try_from(slots.0).unwrap_or(i64::MAX));
        self.instances_capacity
            .set(i64::try_from(slots.1).unwrap_or(i64::MAX));
        for (database, db) in self
            .pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let pool = db.pool_state();
            let label = |state| PoolLabels {
                database: database.clone(),
                state,
            };
            self.pool_connections
                .get_or_create(&label("in_use"))
                .set(i64::from(pool.size.saturating_sub(pool.idle)));
            self.pool_connections
                .get_or_create(&label("idle"))
                .set(i64::from(pool.idle));
            self.pool_max
                .get_or_create(&DatabaseLabel {
                    database: database.clone(),
                })
                .set(i64::from(pool.max));
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "metrics: encoding failed");
        }
        out
    }
}

/// Holds one open stream in `spaceport_sse_streams_open` (or one relay in
/// `spaceport_llm_relays_open`).
pub struct StreamGuard(Gauge);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A statement's kind from its first word (`select`, `insert`, `update`,
/// `delete`, `with`, else `other`): a bounded label, never the text.
pub fn statement_kind(sql: &str) -> &'static str {
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    ["select", "insert", "update", "delete", "with"]
        .into_iter()
        .find(|k| first.eq_ignore_ascii_case(k))
        .unwrap_or("other")
}
