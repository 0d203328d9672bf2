//! Traces: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a chat turn that calls a
//! tool arrives at a small OTLP/HTTP (JSON) receiver as one trace: the
//! caller's `traceparent` → request → the agent's instance → its LLM calls and
//! SQL statements, and the tool call → the tool's SQL. The model provider
//! (the LLM double) gets the same trace in its `traceparent`. Without the
//! variable nothing is sent and no header goes out.

mod common;
use bytes::Bytes;
use common::llm_double::{self, LlmDouble};
use common::{Backend, TodoHost};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// An OTLP/HTTP receiver: keeps every span POSTed to `/v1/traces`.
struct Collector {
    url: String,
    spans: Arc<Mutex<Vec<Value>>>,
}

impl Collector {
    async fn start() -> Self {
        let spans: Arc<Mutex<Vec<Value>>> = Arc::default();
        let kept = spans.clone();
        let addr = common::serve_http(move |req: hyper::Request<hyper::body::Incoming>| {
            let kept = kept.clone();
            async move {
                let path = req.uri().path().to_string();
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                if path == "/v1/traces"
                    && let Ok(doc) = serde_json::from_slice::<Value>(&body)
                {
                    let mut kept = kept.lock().unwrap();
                    for rs in doc["resourceSpans"].as_array().into_iter().flatten() {
                        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                            kept.extend(ss["spans"].as_array().into_iter().flatten().cloned());
                        }
                    }
                }
                hyper::Response::new(Full::new(Bytes::from_static(b"{}")))
            }
        })
        .await;
        let url = format!("http://{addr}");
        Self { url, spans }
    }

    fn spans(&self) -> Vec<Value> {
        self.spans.lock().unwrap().clone()
    }
}

fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

fn attr_str(span: &Value, key: &str) -> String {
    // OTLP/JSON writes 64-bit integers as strings; accept a number too.
    attr(span, key)
        .and_then(|v| {
            v["stringValue"]
                .as_str()
                .or_else(|| v["intValue"].as_str())
                .map(str::to_string)
                .or_else(|| v["intValue"].as_i64().map(|i| i.to_string()))
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_turn_is_one_trace_from_the_caller_to_the_model_and_the_database() {
    let collector = Collector::start().await;
    let double = LlmDouble::start().await;
    let t = TodoHost::start(
        Backend::Sqlite,
        &[
            ("OPENAI_BASE_URL", double.base_url.as_str()),
            ("OPENAI_API_KEY", "sk-trace-test"),
            ("OPENAI_MODEL", "double-model"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    double.script([
        llm_double::tool_calls(&[("c1", "add_task", json!({"title": "milk"}))]),
        llm_double::text("Added."),
    ]);
    let resp = common::client()
        .post(h.url(&format!("/api/{}/chat", ann.id)))
        .bearer_auth(&ann.token)
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .json(&json!({"message": "add milk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // The provider was called inside the caller's trace.
    let calls = double.received();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        let tp = call
            .traceparent
            .as_deref()
            .expect("traceparent to the model provider");
        assert!(tp.starts_with(&format!("00-{TRACE}-")), "{tp}");
    }

    // Wait for the spans (sent every 100 ms).
    let deadline = Instant::now() + Duration::from_secs(15);
    let spans = loop {
        let spans: Vec<Value> = collector
            .spans()
            .into_iter()
            .filter(|s| s["traceId"] == TRACE)
            .collect();
        let tool_sql = spans
            .iter()
            .any(|s| s["name"] == "sql" && attr_str(s, "db.namespace") == "tasks");
        let request_done = spans
            .iter()
            .any(|s| s["name"] == "request" && !attr_str(s, "http.route").is_empty());
        if tool_sql && request_done && spans.iter().filter(|s| s["name"] == "llm").count() == 2 {
            break spans;
        }
        assert!(Instant::now() < deadline, "spans so far: {spans:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let by_id: HashMap<&str, &Value> = spans
        .iter()
        .map(|s| (s["spanId"].as_str().unwrap(), s))
        .collect();
    let parent_of = |s: &Value| -> Option<&Value> {
        by_id.get(s["parentSpanId"].as_str().unwrap_or("")).copied()
    };
    let named = |name: &'static str| spans.iter().filter(move |s| s["name"] == name);

    let request = named("request")
        .find(|s| attr_str(s, "http.route") == "/api/:user_id/chat")
        .expect("the request span");
    assert_eq!(
        request["parentSpanId"], PARENT,
        "the caller's span is the request's parent"
    );
    assert_eq!(attr_str(request, "http.response.status_code"), "200");
    assert_eq!(attr_str(request, "http.request.method"), "POST");

    let agent = named("component")
        .find(|s| attr_str(s, "component") == "chat-agent")
        .expect("the agent's instance span");
    assert_eq!(
        parent_of(agent).map(|p| &p["spanId"]),
        Some(&request["spanId"])
    );

    for llm in named("llm") {
        assert_eq!(
            parent_of(llm).map(|p| &p["spanId"]),
            Some(&agent["spanId"]),
            "{llm}"
        );
        assert_eq!(attr_str(llm, "gen_ai.request.model"), "double-model");
    }
    // The double reports tokens for the text answer (10 in, 5 out).
    assert!(
        named("llm").any(|s| attr_str(s, "gen_ai.usage.input_tokens") == "10"
            && attr_str(s, "gen_ai.usage.output_tokens") == "5"),
        "{spans:#?}"
    );

    let tool = named("tool")
        .find(|s| attr_str(s, "tool") == "add_task")
        .expect("the tool span");
    assert_eq!(
        parent_of(tool).map(|p| &p["spanId"]),
        Some(&agent["spanId"])
    );
    assert_eq!(attr_str(tool, "component"), "task-tools");
    let insert = named("sql")
        .find(|s| {
            attr_str(s, "db.namespace") == "tasks" && attr_str(s, "db.operation.name") == "insert"
        })
        .expect("the tool's insert");
    assert_eq!(
        parent_of(insert).map(|p| &p["spanId"]),
        Some(&tool["spanId"])
    );
    assert!(
        named("sql").any(|s| attr_str(s, "db.namespace") == "chat"
            && parent_of(s).map(|p| &p["spanId"]) == Some(&agent["spanId"])),
        "the agent's own statements are its children"
    );
    // No statement text, parameter or message in any span.
    let all = serde_json::to_string(&spans).unwrap();
    assert!(
        !all.contains("INSERT INTO") && !all.contains("milk"),
        "{all}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_endpoint_nothing_is_traced_or_propagated() {
    let double = LlmDouble::start().await;
    let t = TodoHost::start(
        Backend::Sqlite,
        &[
            ("OPENAI_BASE_URL", double.base_url.as_str()),
            ("OPENAI_API_KEY", "sk-trace-test"),
        ],
    )
    .await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    double.script([llm_double::text("Hello.")]);
    let resp = common::client()
        .post(h.url(&format!("/api/{}/chat", ann.id)))
        .bearer_auth(&ann.token)
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(double.received()[0].traceparent, None);
}

/// An HTTP server that answers 204 and keeps each request's `traceparent`.
async fn upstream() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let kept = seen.clone();
    let addr = common::serve_http(move |req: hyper::Request<hyper::body::Incoming>| {
        let kept = kept.clone();
        async move {
            kept.lock().unwrap().push(
                req.headers()
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
            );
            let mut resp = hyper::Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = hyper::StatusCode::NO_CONTENT;
            resp
        }
    })
    .await;
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_components_outbound_request_is_a_client_span_in_the_callers_trace() {
    let collector = Collector::start().await;
    let (addr, seen) = upstream().await;
    let app = common::App::new(&format!(
        r#"
spaceport_manifest_version = 1
[application]
name = "outbound"
[[trigger.http]]
route = "/granted/..."
component = "granted"
[component.granted]
source = "{fault}"
context = true
allowed_outbound_hosts = ["http://{addr}"]
"#,
        fault = common::wasm("fault").display()
    ));
    let host = common::Host::start_with(
        &app,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let body: Value = common::client()
        .get(host.url(&format!(
            "/granted/outbound?url=http://{addr}/private/path?secret=1"
        )))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], 204, "{body}");
    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let tp = sent[0].as_deref().expect("traceparent to the upstream");
    assert!(tp.starts_with(&format!("00-{TRACE}-")), "{tp}");

    let deadline = Instant::now() + Duration::from_secs(10);
    let spans = loop {
        let spans = collector.spans();
        if spans.iter().any(|s| s["name"] == "outbound")
            && spans.iter().any(|s| s["name"] == "request")
        {
            break spans;
        }
        assert!(Instant::now() < deadline, "spans so far: {spans:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let outbound = spans.iter().find(|s| s["name"] == "outbound").unwrap();
    let component = spans.iter().find(|s| s["name"] == "component").unwrap();
    assert_eq!(outbound["traceId"], TRACE);
    assert_eq!(outbound["parentSpanId"], component["spanId"]);
    // The upstream's parent is the client span itself.
    assert_eq!(tp.split('-').nth(2), outbound["spanId"].as_str());
    assert_eq!(attr_str(outbound, "http.request.method"), "GET");
    assert_eq!(attr_str(outbound, "http.response.status_code"), "204");
    assert_eq!(
        attr_str(outbound, "server.port"),
        addr.rsplit(':').next().unwrap()
    );
    // Never the path or the query.
    let all = serde_json::to_string(&spans).unwrap();
    assert!(
        !all.contains("/private/path") && !all.contains("secret=1"),
        "{all}"
    );
}
