//! `/metrics`: after a known sequence of requests (answers, a trap, a timeout,
//! a path no route serves, a host endpoint, a deploy) the scraped counters are
//! exactly those; labels never carry a raw path; `SPACEPORT_METRICS_TOKEN`
//! protects it.

mod common;
use common::{App, Host, fault_manifest, wasm};

const ADMIN: &str = "admin-token-0123456789abcdef0123456789abcdef";

async fn get(h: &Host, path: &str, token: Option<&str>) -> (u16, String) {
    let mut req = common::client().get(h.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn value(metrics: &str, line_start: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_match_what_happened_and_labels_stay_bounded() {
    let app = App::new(&fault_manifest(&wasm("fault"), &wasm("health"), ""));
    let h = Host::start_with(
        &app,
        &[
            ("JWT_SECRET_KEY", common::JWT_SECRET),
            ("SPACEPORT_ADMIN_TOKEN", ADMIN),
        ],
    );
    for _ in 0..3 {
        assert_eq!(get(&h, "/health", None).await.0, 200);
    }
    assert_eq!(get(&h, "/fault/trap", None).await.0, 500);
    assert_eq!(get(&h, "/fault/loop", None).await.0, 504);
    assert_eq!(get(&h, "/no/such/path/abc123", None).await.0, 404);
    assert_eq!(get(&h, "/api/tools", None).await.0, 200);
    let deployed = common::client()
        .put(h.url("/admin/components/health"))
        .bearer_auth(ADMIN)
        .body(std::fs::read(wasm("health")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(deployed.status(), 200);

    let (status, m) = get(&h, "/metrics", None).await;
    assert_eq!(status, 200, "{m}");
    let exact = [
        (
            r#"spaceport_http_requests_total{component="health",route="/health",method="GET",class="2xx"}"#,
            3.0,
        ),
        (
            r#"spaceport_http_requests_total{component="fault",route="/fault/...",method="GET",class="5xx"}"#,
            2.0,
        ),
        (
            r#"spaceport_http_requests_total{component="-",route="-",method="GET",class="4xx"}"#,
            1.0,
        ),
        (
            r#"spaceport_http_requests_total{component="host",route="/api/tools",method="GET",class="2xx"}"#,
            1.0,
        ),
        (
            r#"spaceport_http_requests_total{component="host",route="/admin",method="PUT",class="2xx"}"#,
            1.0,
        ),
        (
            r#"spaceport_component_failures_total{component="fault",kind="trap"}"#,
            1.0,
        ),
        (
            r#"spaceport_component_failures_total{component="fault",kind="timeout"}"#,
            1.0,
        ),
        (
            r#"spaceport_deployments_total{component="health",action="deploy"}"#,
            1.0,
        ),
        (
            r#"spaceport_http_request_duration_seconds_count{component="health"}"#,
            3.0,
        ),
        // Each of those requests was one instance, gone by now.
        (
            r#"spaceport_instance_duration_seconds_count{component="health"}"#,
            3.0,
        ),
        ("spaceport_instance_slots_in_use ", 0.0),
    ];
    for (line, want) in exact {
        assert_eq!(value(&m, line), Some(want), "{line} in\n{m}");
    }
    assert_eq!(value(&m, "spaceport_instance_slots "), Some(64.0), "{m}");
    // No raw path, request id or user in any label.
    assert!(!m.contains("abc123") && !m.contains("/no/such"), "{m}");
    assert!(
        m.trim_end().ends_with("# EOF"),
        "OpenMetrics text ends with # EOF"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_token_protects_the_endpoint() {
    let app = App::new(&fault_manifest(&wasm("fault"), &wasm("health"), ""));
    let h = Host::start_with(
        &app,
        &[
            ("JWT_SECRET_KEY", common::JWT_SECRET),
            ("SPACEPORT_METRICS_TOKEN", "scrape-me"),
        ],
    );
    assert_eq!(get(&h, "/metrics", None).await.0, 401);
    assert_eq!(get(&h, "/metrics", Some("wrong")).await.0, 401);
    let (status, m) = get(&h, "/metrics", Some("scrape-me")).await;
    assert_eq!(status, 200);
    assert!(m.contains("spaceport_instance_slots"), "{m}");
}

/// The LLM, tool, stream and MCP metrics after a known chat: one retried and
/// one plain completion, a streamed turn, tool calls by the agent and over
/// REST (one with bad arguments), one MCP session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_tool_stream_and_mcp_metrics_match_a_known_chat() {
    use common::llm_double::{self, LlmDouble, Reply};
    use common::{Backend, TodoHost};
    use serde_json::json;
    let double = LlmDouble::start().await;
    let t = TodoHost::start(
        Backend::Sqlite,
        &[
            ("OPENAI_BASE_URL", double.base_url.as_str()),
            ("OPENAI_API_KEY", "sk-metrics-test"),
            ("OPENAI_MODEL", "double-model"),
        ],
    )
    .await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    double.script([
        Reply::Status(429, Some(0)),
        llm_double::tool_calls(&[("c1", "add_task", json!({"title": "milk"}))]),
        llm_double::text("Added."),
        // Slow to answer, so the stream is open while /metrics is read.
        Reply::Delayed(
            std::time::Duration::from_millis(800),
            Box::new(Reply::Stream {
                chunks: llm_double::stream_text(&["Hi ", "there."]),
                cut: false,
            }),
        ),
    ]);
    let (status, body) = h
        .call(
            &ann,
            reqwest::Method::POST,
            &format!("/api/{}/chat", ann.id),
            Some(json!({"message": "add milk"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let resp = common::client()
        .post(h.url(&format!("/api/{}/chat/stream", ann.id)))
        .bearer_auth(&ann.token)
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .unwrap();
    let (_, during) = get(h, "/metrics", None).await;
    assert_eq!(
        value(&during, "spaceport_sse_streams_open "),
        Some(1.0),
        "{during}"
    );
    // The answer is relayed by the host once the first instance has ended
    // its body (within milliseconds of the head; the model waits 800 ms).
    let mut relaying = None;
    for _ in 0..50 {
        let (_, m) = get(h, "/metrics", None).await;
        relaying = value(&m, "spaceport_llm_relays_open ");
        if relaying == Some(1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(relaying, Some(1.0), "the stream was never relayed");
    assert!(resp.text().await.unwrap().contains("\"type\":\"done\""));
    assert_eq!(h.call_tool(&ann, "list_tasks", json!({})).await.0, 200);
    assert_eq!(
        h.call_tool(&ann, "add_task", json!({"title": 5})).await.0,
        422
    );
    let init = common::client()
        .post(h.url("/mcp"))
        .bearer_auth(&ann.token)
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "metrics-test", "version": "0"}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);

    let (status, m) = get(h, "/metrics", None).await;
    assert_eq!(status, 200);
    let exact = [
        (
            r#"spaceport_llm_requests_total{model="double-model",call="complete",outcome="ok"}"#,
            2.0,
        ),
        (
            r#"spaceport_llm_requests_total{model="double-model",call="stream",outcome="ok"}"#,
            1.0,
        ),
        (r#"spaceport_llm_retries_total{call="complete"}"#, 1.0),
        // The double reports 10 + 5 tokens for the text answer, 20 + 2 for the stream.
        (
            r#"spaceport_llm_tokens_total{model="double-model",direction="in"}"#,
            30.0,
        ),
        (
            r#"spaceport_llm_tokens_total{model="double-model",direction="out"}"#,
            7.0,
        ),
        (
            r#"spaceport_llm_request_duration_seconds_count{call="complete"}"#,
            2.0,
        ),
        (
            r#"spaceport_tool_calls_total{tool="add_task",outcome="ok"}"#,
            1.0,
        ),
        (
            r#"spaceport_tool_calls_total{tool="add_task",outcome="invalid_arguments"}"#,
            1.0,
        ),
        (
            r#"spaceport_tool_calls_total{tool="list_tasks",outcome="ok"}"#,
            1.0,
        ),
        // task-tools' one insert (the agent's add_task); its text never shows.
        (
            r#"spaceport_sql_statements_total{database="tasks",statement="insert",outcome="ok"}"#,
            1.0,
        ),
        ("spaceport_sse_streams_open ", 0.0),
        ("spaceport_llm_relays_open ", 0.0),
        ("spaceport_mcp_sessions_open ", 1.0),
    ];
    for (line, want) in exact {
        assert_eq!(value(&m, line), Some(want), "{line} in\n{m}");
    }
    // Each of the tasks database's statements waited for a connection once;
    // between requests none is in use, and the pool says how many it allows.
    let statements: f64 = m
        .lines()
        .filter(|l| l.starts_with(r#"spaceport_sql_statements_total{database="tasks","#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(statements >= 1.0, "{m}");
    assert_eq!(
        value(
            &m,
            r#"spaceport_db_pool_wait_seconds_count{database="tasks"}"#
        ),
        Some(statements),
        "{m}"
    );
    assert_eq!(
        value(
            &m,
            r#"spaceport_db_pool_connections{database="tasks",state="in_use"}"#
        ),
        Some(0.0),
        "{m}"
    );
    // The host's pool is also used by its health check, at any moment.
    for database in ["tasks", "host"] {
        assert!(
            value(
                &m,
                &format!(r#"spaceport_db_pool_max_connections{{database="{database}"}}"#)
            )
            .is_some_and(|max| max >= 1.0),
            "{m}"
        );
    }
    // Every metric the Grafana dashboard queries is one the host serves.
    let dashboard = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/grafana/spaceport-dashboard.json"),
    )
    .unwrap();
    let mut queried: Vec<&str> = dashboard
        .match_indices("spaceport_")
        .map(|(i, _)| {
            let rest = &dashboard[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect();
    queried.sort_unstable();
    queried.dedup();
    let registered = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/services/metrics.rs"),
    )
    .unwrap();
    assert!(queried.len() > 8, "{queried:?}");
    for name in queried {
        let family = ["_bucket", "_total"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        // A family with no sample yet (no failure happened) is not in the
        // scrape: then it must be one the host registers.
        assert!(
            m.contains(&format!("# TYPE {family} "))
                || registered.contains(&format!("\"{family}\"")),
            "the dashboard queries {name}, which /metrics does not serve"
        );
    }
    // No user id, email or message text in any label.
    assert!(
        !m.contains(&ann.id) && !m.contains("ann@") && !m.contains("milk"),
        "{m}"
    );
}
