//! The chat agent end to end, against an OpenAI-compatible double that
//! speaks the real wire protocol: plain answers, tool calls (JSON and
//! streamed in fragments), provider failures, and conversations that resume
//! after a restart, on SQLite and PostgreSQL.

mod common;
use common::llm_double::{self, LlmDouble, Reply};
use common::{Backend, Host, TodoHost, User, client};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const KEY: &str = "sk-test-double-key-7f3a";

async fn start(backend: Backend, extra: &[(&str, &str)]) -> (LlmDouble, TodoHost) {
    let double = LlmDouble::start().await;
    let mut env = vec![
        ("OPENAI_BASE_URL", double.base_url.as_str()),
        ("OPENAI_API_KEY", KEY),
        ("OPENAI_MODEL", "double-model"),
    ];
    env.extend_from_slice(extra);
    let t = TodoHost::start(backend, &env).await;
    (double, t)
}

/// A host on `manifest` (SQLite) with the model double as its provider.
async fn start_manifest(manifest: &str) -> (LlmDouble, TodoHost) {
    let double = LlmDouble::start().await;
    let t = TodoHost::start_manifest(
        Backend::Sqlite,
        manifest,
        &[
            ("OPENAI_BASE_URL", double.base_url.as_str()),
            ("OPENAI_API_KEY", KEY),
        ],
    )
    .await;
    (double, t)
}

async fn chat(h: &Host, user: &User, body: Value) -> (u16, Value) {
    h.call(
        user,
        Method::POST,
        &format!("/api/{}/chat", user.id),
        Some(body),
    )
    .await
}

/// POST to the streaming endpoint; returns the SSE `data:` events and whether keep-alives came.
async fn chat_sse(h: &Host, user: &User, body: Value) -> Vec<Value> {
    let resp = client()
        .post(h.url(&format!("/api/{}/chat/stream", user.id)))
        .bearer_auth(&user.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = resp.text().await.unwrap();
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// GET or DELETE one of `user`'s conversations.
async fn conversation_call(
    h: &Host,
    user: &User,
    method: Method,
    id: impl std::fmt::Display,
) -> (u16, Value) {
    h.call(
        user,
        method,
        &format!("/api/{}/conversations/{id}", user.id),
        None,
    )
    .await
}

fn roles(body: &Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_answer_is_returned_and_stored() {
    let (double, t) = start(Backend::Sqlite, &[]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    double.script([llm_double::text("Hello! How can I help with your tasks?")]);
    let (status, body) = chat(h, &ann, json!({"message": "hi"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Hello! How can I help with your tasks?");
    assert_eq!(body["tool_calls"], json!([]));
    assert_eq!(body["finish_reason"], "stop");
    let conversation = body["conversation_id"].as_i64().unwrap();

    let got = double.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/v1/chat/completions");
    assert_eq!(
        got[0].authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(got[0].body["model"], "double-model");
    assert_eq!(roles(&got[0].body), ["system", "user"]);
    assert_eq!(got[0].body["messages"][1]["content"], "hi");
    let tools: Vec<&str> = got[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    // task-tools' five (Rust), dates' resolve_date (Python), task-stats'
    // summarize_tasks (JS), knowledge's four (Python).
    assert_eq!(tools.len(), 11, "{tools:?}");
    assert!(tools.contains(&"search_documents"));
    assert!(tools.contains(&"resolve_date") && tools.contains(&"summarize_tasks"));

    let (_, list) = h
        .call(
            &ann,
            Method::GET,
            &format!("/api/{}/conversations", ann.id),
            None,
        )
        .await;
    assert_eq!(list[0]["id"], conversation);
    assert_eq!(list[0]["title"], "hi");
    let (_, conv) = conversation_call(h, &ann, Method::GET, conversation).await;
    let stored: Vec<(&str, &str)> = conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap(),
                m["content"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        stored,
        [
            ("user", "hi"),
            ("assistant", "Hello! How can I help with your tasks?")
        ]
    );

    // Another user cannot read, continue or delete it.
    let bob = h.register("bob@example.com", "password2").await;
    assert_eq!(
        conversation_call(h, &bob, Method::GET, conversation)
            .await
            .0,
        404
    );
    assert_eq!(
        chat(
            h,
            &bob,
            json!({"message": "hi", "conversation_id": conversation})
        )
        .await
        .0,
        404
    );
    assert_eq!(
        conversation_call(h, &bob, Method::DELETE, conversation)
            .await
            .0,
        404
    );
    assert_eq!(
        double.received().len(),
        1,
        "nothing reached the model for Bob"
    );
    let (status, _) = conversation_call(h, &ann, Method::DELETE, conversation).await;
    assert_eq!(status, 200);
    assert_eq!(
        conversation_call(h, &ann, Method::GET, conversation)
            .await
            .0,
        404
    );

    // Bad input.
    assert_eq!(
        chat(h, &ann, json!({"message": ""})).await.1["field"],
        "message"
    );
    assert_eq!(
        chat(h, &ann, json!({"message": 5})).await.1["field"],
        "message"
    );
    assert!(!h.logs().contains(KEY), "the API key reached the logs");
}

/// The default app's Python (`dates`) and JavaScript (`task-stats`) tools are
/// the agent's like the Rust ones: the model calls both in one turn, the host
/// runs each in its own sandbox, and the results go back to the model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_calls_the_python_and_javascript_tools() {
    let (double, t) = start(Backend::Sqlite, &[]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    for title in ["buy milk", "walk dog"] {
        let (status, body) = h
            .call(
                &ann,
                Method::POST,
                &format!("/api/{}/tasks", ann.id),
                Some(json!({ "title": title })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    double.script([
        llm_double::tool_calls(&[
            (
                "call_date_1",
                "resolve_date",
                json!({"text": "next Friday at 5", "now": "2026-11-24T09:30:00+00:00"}),
            ),
            ("call_stats_1", "summarize_tasks", json!({})),
        ]),
        llm_double::text("You have 2 open tasks; Friday is 2026-11-27."),
    ]);
    let (status, body) = chat(
        h,
        &ann,
        json!({"message": "how am I doing, and when is next Friday?"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["message"],
        "You have 2 open tasks; Friday is 2026-11-27."
    );
    let calls = body["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "{body}");
    assert_eq!(calls[0]["tool"], "resolve_date");
    assert_eq!(calls[0]["result"]["date"], "2026-11-27");
    assert_eq!(calls[0]["result"]["datetime"], "2026-11-27T17:00:00+00:00");
    assert_eq!(calls[1]["tool"], "summarize_tasks");
    assert_eq!(calls[1]["result"]["counts"]["total"], 2);
    assert_eq!(calls[1]["result"]["counts"]["open"], 2);

    // Both results reached the model under their call ids.
    let second = &double.received()[1].body;
    assert_eq!(
        roles(second),
        ["system", "user", "assistant", "tool", "tool"]
    );
    assert_eq!(second["messages"][3]["tool_call_id"], "call_date_1");
    assert_eq!(second["messages"][4]["tool_call_id"], "call_stats_1");
    let stats: Value =
        serde_json::from_str(second["messages"][4]["content"].as_str().unwrap()).unwrap();
    assert_eq!(stats["counts"]["completed"], 0);

    // Only the caller's tasks are counted: another user sees none of ann's.
    let bob = h.register("bob@example.com", "password1").await;
    let (status, theirs) = h
        .call(
            &bob,
            Method::POST,
            &format!("/api/{}/tools/summarize_tasks", bob.id),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(theirs["result"]["counts"]["total"], 0);
}

/// A turn runs on the version of the app it started on: a deploy during the
/// turn (here one that drops task-tools' tools altogether) changes what new
/// requests see, not the tools the turn advertised and calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_that_spans_a_deploy_keeps_the_tools_it_started_with() {
    const ADMIN: &str = "admin-token-0123456789abcdef0123456789abcdef";
    let (double, t) = start(Backend::Sqlite, &[("SPACEPORT_ADMIN_TOKEN", ADMIN)]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    double.script([
        Reply::Delayed(
            Duration::from_millis(1500),
            Box::new(llm_double::tool_calls(&[(
                "call_add_1",
                "add_task",
                json!({"title": "buy milk"}),
            )])),
        ),
        llm_double::text("Added."),
    ]);
    let turn = {
        let (base, token, id) = (h.base.clone(), ann.token.clone(), ann.id.clone());
        tokio::spawn(async move {
            let resp = common::client()
                .post(format!("{base}/api/{id}/chat"))
                .bearer_auth(token)
                .json(&json!({"message": "add buy milk"}))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The `ok` fixture answers HTTP and offers no tools.
    let deployed = common::client()
        .put(h.url("/admin/components/task-tools"))
        .bearer_auth(ADMIN)
        .body(std::fs::read(common::wasm("ok")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(deployed.status(), 200, "{}", deployed.text().await.unwrap());
    let listed = common::get_json(h.url("/api/tools"), None).await;
    assert!(
        !listed.to_string().contains("add_task"),
        "new requests see the new version: {listed}"
    );

    let (status, body) = turn.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tool_calls"][0]["tool"], "add_task");
    assert_eq!(
        body["tool_calls"][0]["result"]["status"], "created",
        "{body}"
    );
    let advertised = |i: usize| -> Vec<String> {
        double.received()[i].body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(advertised(0), advertised(1), "one turn, one set of tools");
    assert!(advertised(1).contains(&"add_task".to_string()));
}

async fn add_then_complete_across_a_restart(backend: Backend) {
    let (double, mut t) = start(backend, &[]).await;
    let ann = t.host.register("ann@example.com", "password1").await;
    double.script([
        llm_double::tool_calls(&[("call_add_1", "add_task", json!({"title": "buy milk"}))]),
        llm_double::text("I added \"buy milk\" to your list."),
    ]);
    let (status, first) = chat(&t.host, &ann, json!({"message": "add a task to buy milk"})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["message"], "I added \"buy milk\" to your list.");
    assert_eq!(first["tool_calls"][0]["tool"], "add_task");
    assert_eq!(
        first["tool_calls"][0]["input"],
        json!({"title": "buy milk"})
    );
    assert_eq!(first["tool_calls"][0]["result"]["status"], "created");
    assert_eq!(first["tool_calls"][0]["result"]["success"], true);
    let task_id = first["tool_calls"][0]["result"]["task_id"]
        .as_i64()
        .unwrap();
    let conversation = first["conversation_id"].as_i64().unwrap();

    // The task exists for the frontend.
    let (_, tasks) = t
        .host
        .call(&ann, Method::GET, &format!("/api/{}/tasks", ann.id), None)
        .await;
    assert_eq!(tasks[0]["id"], task_id);
    assert_eq!(tasks[0]["title"], "buy milk");
    assert_eq!(tasks[0]["completed"], false);

    // The tool result went back to the model under the call's id.
    let second = &double.received()[1].body;
    assert_eq!(roles(second), ["system", "user", "assistant", "tool"]);
    assert_eq!(second["messages"][2]["tool_calls"][0]["id"], "call_add_1");
    assert_eq!(second["messages"][3]["tool_call_id"], "call_add_1");
    let tool_result: Value =
        serde_json::from_str(second["messages"][3]["content"].as_str().unwrap()).unwrap();
    assert_eq!(tool_result["task_id"], task_id);

    // A new process: everything comes from the database.
    t.restart();
    double.script([
        llm_double::tool_calls(&[
            ("call_done_1", "complete_task", json!({"task_id": task_id})),
            (
                "call_done_2",
                "complete_task",
                json!({"task_id": task_id + 1000}),
            ),
        ]),
        llm_double::text("Marked \"buy milk\" as done."),
    ]);
    let (status, next) = chat(
        &t.host,
        &ann,
        json!({"message": "mark it as done", "conversation_id": conversation}),
    )
    .await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(next["conversation_id"], conversation);
    assert_eq!(next["tool_calls"][0]["result"]["status"], "completed");
    // A failing tool is a result the model (and the client) can read, not a failed request.
    let failed = &next["tool_calls"][1]["result"];
    assert_eq!(
        (&failed["success"], &failed["error"]),
        (&json!(false), &json!("not_found")),
        "{failed}"
    );
    let answered = &double.received()[3].body;
    let told: Value =
        serde_json::from_str(answered["messages"][8]["content"].as_str().unwrap()).unwrap();
    assert_eq!(told["error"], "not_found", "{answered}");
    let resumed = &double.received()[2].body;
    assert_eq!(
        roles(resumed),
        ["system", "user", "assistant", "tool", "assistant", "user"]
    );
    assert_eq!(resumed["messages"][1]["content"], "add a task to buy milk");
    assert_eq!(
        resumed["messages"][4]["content"],
        "I added \"buy milk\" to your list."
    );
    assert_eq!(resumed["messages"][5]["content"], "mark it as done");
    let (_, task) = t
        .host
        .call(
            &ann,
            Method::GET,
            &format!("/api/{}/tasks/{task_id}", ann.id),
            None,
        )
        .await;
    assert_eq!(task["completed"], true);
    for r in double.received() {
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Bearer {KEY}").as_str()),
            "a request without the key"
        );
    }
}

both_backends!(add_then_complete_across_a_restart);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_tool_calls_arrive_in_fragments_and_are_assembled() {
    let (double, t) = start(Backend::Sqlite, &[]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    double.script([
        Reply::Stream {
            chunks: llm_double::stream_tool_calls(
                &[
                    (
                        "call_a",
                        "add_task",
                        json!({"title": "milk", "description": "oat, 2 litres"}),
                    ),
                    ("call_b", "add_task", json!({"title": "bread"})),
                ],
                3,
            ),
            cut: false,
        },
        Reply::Stream {
            chunks: llm_double::stream_text(&["Added ", "milk ", "and ", "bread."]),
            cut: false,
        },
    ]);
    let events = chat_sse(h, &ann, json!({"message": "add milk and bread"})).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"start"));
    assert_eq!(kinds.last(), Some(&"done"), "{events:?}");
    let calls: Vec<&Value> = events.iter().filter(|e| e["type"] == "tool_call").collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0]["input"],
        json!({"title": "milk", "description": "oat, 2 litres"})
    );
    assert_eq!(calls[1]["input"], json!({"title": "bread"}));
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_result")
        .collect();
    assert_eq!(
        (results[0]["id"].as_str(), results[1]["id"].as_str()),
        (Some("call_a"), Some("call_b"))
    );
    let tokens: String = events
        .iter()
        .filter(|e| e["type"] == "token")
        .map(|e| e["content"].as_str().unwrap())
        .collect();
    assert_eq!(tokens, "Added milk and bread.");
    assert!(
        events.iter().filter(|e| e["type"] == "token").count() >= 4,
        "tokens were not streamed one by one"
    );
    let done = events.last().unwrap();
    assert_eq!(done["finish_reason"], "stop");
    assert_eq!(done["message"], "Added milk and bread.");

    let got = double.received();
    assert_eq!(got[0].body["stream"], true);
    assert_eq!(got[0].body["stream_options"]["include_usage"], true);
    let msgs = &got[1].body["messages"];
    assert_eq!(msgs[3]["tool_call_id"], "call_a");
    assert!(msgs[3]["content"].as_str().unwrap().contains("milk"));
    assert_eq!(msgs[4]["tool_call_id"], "call_b");
    assert!(msgs[4]["content"].as_str().unwrap().contains("bread"));
    let (_, tasks) = h
        .call(&ann, Method::GET, &format!("/api/{}/tasks", ann.id), None)
        .await;
    let titles: Vec<&str> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["milk", "bread"]);

    // Accept: text/event-stream on the plain route streams too.
    double.script([Reply::Stream {
        chunks: llm_double::stream_text(&["ok"]),
        cut: false,
    }]);
    let resp = client()
        .post(h.url(&format!("/api/{}/chat", ann.id)))
        .bearer_auth(&ann.token)
        .header("accept", "text/event-stream")
        .json(&json!({"message": "thanks"}))
        .send()
        .await
        .unwrap();
    assert!(resp.text().await.unwrap().contains("\"type\":\"done\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_failures_are_retried_or_reported_and_nothing_is_lost() {
    let (double, t) = start(
        Backend::Sqlite,
        &[("LLM_MAX_RETRIES", "2"), ("LLM_TIMEOUT_SECS", "2")],
    )
    .await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;

    // 429 with Retry-After: retried, then succeeds.
    double.script([
        Reply::Status(429, Some(1)),
        llm_double::text("after the wait"),
    ]);
    let started = std::time::Instant::now();
    let (status, body) = chat(h, &ann, json!({"message": "one"})).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("after the wait")),
        "{body}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After was not honoured"
    );
    assert_eq!(double.received().len(), 2);

    // 500 beyond the retry bound: 1 + 2 attempts, then an error.
    let before = double.received().len();
    double.script([
        Reply::Status(500, None),
        Reply::Status(502, None),
        Reply::Status(503, None),
    ]);
    let (status, body) = chat(h, &ann, json!({"message": "two"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("llm_unavailable")),
        "{body}"
    );
    assert_eq!(double.received().len() - before, 3);
    let conversation = body["conversation_id"].as_i64().unwrap();
    assert!(!body.to_string().contains(KEY));
    // Nor the provider's address: it goes to the log only.
    assert!(!body.to_string().contains(&double.base_url), "{body}");
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");

    // 401: not retried.
    let before = double.received().len();
    double.script([Reply::Status(401, None)]);
    let (status, body) = chat(
        h,
        &ann,
        json!({"message": "three", "conversation_id": conversation}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("llm_unauthorized"))
    );
    assert_eq!(double.received().len() - before, 1);

    // Slower than the timeout.
    double.script([Reply::Delayed(
        Duration::from_secs(5),
        Box::new(llm_double::text("too late")),
    )]);
    let (status, body) = chat(
        h,
        &ann,
        json!({"message": "four", "conversation_id": conversation}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (504, Some("llm_timeout")),
        "{body}"
    );

    // A stream cut mid-way ends with an error event.
    double.script([Reply::Stream {
        chunks: llm_double::stream_text(&["half an ans"])[..2].to_vec(),
        cut: true,
    }]);
    let events = chat_sse(
        h,
        &ann,
        json!({"message": "five", "conversation_id": conversation}),
    )
    .await;
    let last = events.last().unwrap();
    assert_eq!(last["type"], "error", "{events:?}");
    assert_eq!(last["error"], "llm_unavailable");

    // Every user message was stored despite the failures.
    let (_, conv) = conversation_call(h, &ann, Method::GET, conversation).await;
    let users: Vec<&str> = conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["two", "three", "four", "five"]);
    // The host kept serving throughout; health does not probe the provider
    // (that would spend quota), it says the LLM is configured.
    let health = client().get(h.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["dependencies"]["llm"]["status"], "configured");
    assert!(!h.logs().contains(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_chat_says_so_and_tasks_still_work() {
    let t = TodoHost::start(Backend::Sqlite, &[]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    let (status, body) = chat(h, &ann, json!({"message": "hi"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("llm_unconfigured"))
    );
    assert!(body["detail"].as_str().unwrap().contains("OPENAI_API_KEY"));
    let health = common::get_json(h.url("/health"), None).await;
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["dependencies"]["llm"]["status"], "unconfigured");
    let (status, _) = h
        .call(
            &ann,
            Method::POST,
            &format!("/api/{}/tasks", ann.id),
            Some(json!({"title": "still works"})),
        )
        .await;
    assert_eq!(status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_model_gets_keep_alives_on_the_stream() {
    let manifest = common::default_manifest().replace(
        "max_turns = \"8\"",
        "max_turns = \"8\"\nkeepalive_ms = \"200\"",
    );
    let (double, t) = start_manifest(&manifest).await;
    let ann = t.host.register("ann@example.com", "password1").await;
    // The provider takes 1.2 s before its first byte.
    double.script([Reply::Delayed(
        Duration::from_millis(1200),
        Box::new(Reply::Stream {
            chunks: llm_double::stream_text(&["finally"]),
            cut: false,
        }),
    )]);
    let text = client()
        .post(t.host.url(&format!("/api/{}/chat/stream", ann.id)))
        .bearer_auth(&ann.token)
        .json(&json!({"message": "are you there?"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let keepalives = text.matches(": keep-alive").count();
    assert!(
        keepalives >= 3,
        "expected keep-alives while waiting, got {keepalives}:\n{text}"
    );
    let before_done = text.find("\"type\":\"done\"").unwrap();
    assert!(text.find(": keep-alive").unwrap() < before_done);
}

/// LLM spend is bounded per user (requests a minute, 429 with Retry-After
/// beyond, other users unaffected), and each call's `max_tokens` is held to
/// the manifest's ceiling (`llm_max_tokens = 2048` for the chat agent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_spend_is_bounded_per_user_and_per_call() {
    let (double, t) = start(Backend::Sqlite, &[("SPACEPORT_LLM_RATE_PER_MINUTE", "2")]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    let bob = h.register("bob@example.com", "password1").await;
    double.script([
        llm_double::text("one"),
        llm_double::text("two"),
        llm_double::text("for bob"),
    ]);
    for message in ["a", "b"] {
        let (status, body) = chat(h, &ann, json!({ "message": message })).await;
        assert_eq!(status, 200, "{body}");
    }
    let resp = client()
        .post(h.url(&format!("/api/{}/chat", ann.id)))
        .bearer_auth(&ann.token)
        .json(&json!({ "message": "c" }))
        .send()
        .await
        .unwrap();
    common::assert_rate_limited(resp).await;
    assert_eq!(
        double.received().len(),
        2,
        "the refused turn must not reach the model"
    );
    let (status, body) = chat(h, &bob, json!({ "message": "hi" })).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("for bob")),
        "{body}"
    );
    for call in double.received() {
        assert_eq!(call.body["max_tokens"], 2048, "{}", call.body);
    }
}

/// A client that disconnects mid-stream stops the turn: the instance is
/// stopped with the response, so the agent makes no further model call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_stream_stops_the_agent() {
    let manifest = common::default_manifest().replace(
        "max_turns = \"8\"",
        "max_turns = \"8\"\nkeepalive_ms = \"100\"",
    );
    let (double, t) = start_manifest(&manifest).await;
    let ann = t.host.register("ann@example.com", "password1").await;
    // The model thinks for a second, then asks for a tool; answering it would
    // take a second model call.
    double.script([
        Reply::Delayed(
            Duration::from_millis(1000),
            Box::new(Reply::Stream {
                chunks: llm_double::stream_tool_calls(
                    &[("call_1", "add_task", json!({"title": "never"}))],
                    1,
                ),
                cut: false,
            }),
        ),
        Reply::Stream {
            chunks: llm_double::stream_text(&["added"]),
            cut: false,
        },
    ]);
    let mut resp = client()
        .post(t.host.url(&format!("/api/{}/chat/stream", ann.id)))
        .bearer_auth(&ann.token)
        .json(&json!({"message": "add never"}))
        .send()
        .await
        .unwrap();
    let first = resp.chunk().await.unwrap().unwrap_or_default();
    assert!(String::from_utf8_lossy(&first).contains("start"));
    drop(resp); // the client goes away while the model is still thinking
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The first call may or may not have left before the instance stopped
    // (a race with the disconnect); the one after the tool call never does.
    assert!(
        double.received().len() <= 1,
        "the agent kept calling the model after its client left: {} calls",
        double.received().len()
    );
    t.host
        .wait_for_log("client went away", Duration::from_secs(5));
    // The host keeps serving.
    let (status, _) = t
        .host
        .call(&ann, Method::GET, &format!("/api/{}/tasks", ann.id), None)
        .await;
    assert_eq!(status, 200);
}

/// Secrets never reach an answer or a log line, and the provider's address
/// never reaches an answer: a sweep over the bodies of every kind of failure
/// the host answers, and over the whole log of the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_an_answer_or_the_log() {
    let (double, t) = start(Backend::Sqlite, &[("LLM_MAX_RETRIES", "0")]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    double.script([
        Reply::Status(500, None),
        Reply::Status(401, None),
        Reply::Status(400, None),
        Reply::Status(429, None),
    ]);
    let mut bodies = Vec::new();
    for _ in 0..4 {
        bodies.push(chat(h, &ann, json!({"message": "hi"})).await.1.to_string());
    }
    let c = client();
    let bad_token = format!("{}x", ann.token);
    for req in [
        c.get(h.url(&format!("/api/{}/tasks", ann.id)))
            .bearer_auth(&bad_token),
        c.post(h.url("/api/auth/login"))
            .json(&json!({"email": "ann@example.com", "password": "wrong-password"})),
        c.post(h.url(&format!("/api/{}/tools/add_task", ann.id)))
            .bearer_auth(&ann.token)
            .json(&json!({"title": 7})),
        c.post(h.url(&format!("/api/{}/tasks", ann.id)))
            .bearer_auth(&ann.token)
            .body("{not json"),
        c.get(h.url("/nowhere")),
        c.get(h.url("/health")),
        c.get(h.url("/openapi.json")),
    ] {
        bodies.push(req.send().await.unwrap().text().await.unwrap());
    }
    let logs = h.logs();
    for secret in [KEY, common::JWT_SECRET] {
        for body in &bodies {
            assert!(!body.contains(secret), "a secret in an answer: {body}");
        }
        assert!(!logs.contains(secret), "a secret in the log");
    }
    for body in &bodies {
        assert!(
            !body.contains(&double.base_url),
            "the provider's URL in an answer: {body}"
        );
    }
}

/// With `LLM_HTTP2=prior-knowledge`, concurrent streamed turns share HTTP/2
/// connections to the provider, at most `LLM_STREAMS_PER_CONNECTION` each,
/// instead of a connection (a descriptor and its buffers) per held stream;
/// every turn still gets its own whole answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_streams_share_http2_connections_to_the_model() {
    let (double, t) = start(
        Backend::Sqlite,
        &[
            ("LLM_HTTP2", "prior-knowledge"),
            ("LLM_STREAMS_PER_CONNECTION", "4"),
            ("SPACEPORT_LLM_CONCURRENT_PER_USER", "50"),
        ],
    )
    .await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    const TURNS: usize = 10;
    // Each answer waits before its head, so all ten calls are open at once
    // (long enough for the last turn to reach the model on a loaded machine).
    double.script((0..TURNS).map(|_| {
        Reply::Delayed(
            Duration::from_millis(1500),
            Box::new(Reply::Stream {
                chunks: llm_double::stream_text(&["held ", "answer"]),
                cut: false,
            }),
        )
    }));
    let turns = (0..TURNS).map(|i| chat_sse(h, &ann, json!({"message": format!("turn {i}")})));
    for events in futures_util::future::join_all(turns).await {
        let done = events.last().expect("no events");
        assert_eq!(done["type"], "done", "{events:?}");
        assert_eq!(done["message"], "held answer");
    }
    let got = double.received();
    assert_eq!(got.len(), TURNS);
    assert!(
        got.iter().all(|r| r.version == hyper::Version::HTTP_2),
        "{:?}",
        got.iter().map(|r| r.version).collect::<Vec<_>>()
    );
    assert!(
        got.iter()
            .all(|r| r.authorization.as_deref() == Some(format!("Bearer {KEY}").as_str()))
    );
    assert_eq!(
        double.connections(),
        TURNS.div_ceil(4),
        "ten held calls at four per connection"
    );

    // Later calls reuse the open connections.
    double.script([Reply::Stream {
        chunks: llm_double::stream_text(&["again"]),
        cut: false,
    }]);
    let events = chat_sse(h, &ann, json!({"message": "once more"})).await;
    assert_eq!(events.last().unwrap()["message"], "again");
    assert_eq!(double.connections(), TURNS.div_ceil(4));
}

/// A streamed turn holds no instance while the model streams: the host
/// relays the answer's text (`llm.relay`) and a fresh instance stores it. So
/// eight turns stream at once on a host with three instance slots; with six
/// relay places, the two turns refused a relay stream in their own
/// instances, and every turn gets its whole answer, stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_turns_are_relayed_without_holding_an_instance() {
    let (double, t) = start(
        Backend::Sqlite,
        &[
            ("SPACEPORT_MAX_INSTANCES", "3"),
            ("SPACEPORT_MAX_RELAYS", "6"),
            ("SPACEPORT_LLM_CONCURRENT_PER_USER", "50"),
        ],
    )
    .await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    const TURNS: usize = 8;
    double.script((0..TURNS).map(|i| {
        Reply::Delayed(
            Duration::from_millis(2000),
            Box::new(Reply::Stream {
                chunks: llm_double::stream_text(&["relayed ", &format!("answer {i}")]),
                cut: false,
            }),
        )
    }));
    let t0 = std::time::Instant::now();
    let mut open = Vec::new();
    for i in 0..TURNS {
        // An instance slot is busy only while a turn starts (a few ms): a
        // 503 `busy` here means "retry shortly".
        let mut resp = None;
        for _ in 0..100 {
            let r = client()
                .post(h.url(&format!("/api/{}/chat/stream", ann.id)))
                .bearer_auth(&ann.token)
                .json(&json!({"message": format!("turn {i}")}))
                .send()
                .await
                .unwrap();
            if r.status() == 503 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            resp = Some(r);
            break;
        }
        let mut resp = resp.expect("no instance slot within 2 s");
        assert_eq!(resp.status(), 200);
        let first = resp.chunk().await.unwrap().unwrap_or_default();
        assert!(String::from_utf8_lossy(&first).contains("\"start\""));
        open.push(resp);
    }
    let all_started = t0.elapsed();
    let mut first_done = None;
    let mut conversations = Vec::new();
    for (i, resp) in open.into_iter().enumerate() {
        let text = resp.text().await.unwrap();
        first_done.get_or_insert(t0.elapsed());
        let events: Vec<Value> = text
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let tokens: String = events
            .iter()
            .filter(|e| e["type"] == "token")
            .map(|e| e["content"].as_str().unwrap())
            .collect();
        assert_eq!(tokens, format!("relayed answer {i}"), "{events:?}");
        let done = events.last().unwrap();
        assert_eq!(done["type"], "done", "{events:?}");
        assert_eq!(done["message"], format!("relayed answer {i}"));
        conversations.push(done["conversation_id"].clone());
    }
    // All eight were held at once, with three instance slots.
    assert!(
        all_started < first_done.unwrap(),
        "turns did not overlap: all started at {all_started:?}, the first ended at {first_done:?}"
    );
    assert_eq!(double.received().len(), TURNS);
    // The resumed instances stored the relayed answers.
    for (i, id) in conversations.iter().enumerate() {
        let (status, conversation) = conversation_call(h, &ann, Method::GET, id).await;
        assert_eq!(status, 200);
        assert_eq!(roles(&conversation), ["user", "assistant"]);
        assert_eq!(
            conversation["messages"][1]["content"],
            format!("relayed answer {i}")
        );
    }
}

/// A relayed answer stays within the component's deadline: the host cuts the
/// response short when `timeout_ms` passes mid-relay (the client sees no
/// `done`), says why in the log, and keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_ends_at_the_components_deadline() {
    let manifest = common::default_manifest().replace("timeout_ms = 300000", "timeout_ms = 1500");
    let (double, t) = start_manifest(&manifest).await;
    let ann = t.host.register("ann@example.com", "password1").await;
    double.script([Reply::Delayed(
        Duration::from_millis(5000),
        Box::new(Reply::Stream {
            chunks: llm_double::stream_text(&["too late"]),
            cut: false,
        }),
    )]);
    let resp = client()
        .post(t.host.url(&format!("/api/{}/chat/stream", ann.id)))
        .bearer_auth(&ann.token)
        .json(&json!({"message": "slow"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // What arrived before the response was cut short.
    let body = common::body_so_far(resp).await;
    assert!(body.contains("\"start\""), "{body}");
    assert!(
        !body.contains("too late") && !body.contains("\"done\""),
        "{body}"
    );
    t.host
        .wait_for_log("its deadline passed during a relay", Duration::from_secs(5));
    let (status, _) = t
        .host
        .call(&ann, Method::GET, &format!("/api/{}/tasks", ann.id), None)
        .await;
    assert_eq!(status, 200);
}
