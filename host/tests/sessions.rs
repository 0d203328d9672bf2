//! The RAG seeds' chat API for frontends without accounts: anonymous
//! sessions (`POST /api/v1/sessions`, `X-Session-Id`, the cookie, or a
//! `session_id` in the body), seed 002's `/api/v1/chat(/stream)` and seed
//! 003's `/api/chat` + `/api/conversation/{id}`, against the LLM double, on
//! SQLite and PostgreSQL. A session sees only its own conversations and
//! tasks, and minting sessions buys no extra LLM budget.

mod common;
use common::llm_double::{self, LlmDouble, Reply};
use common::{Backend, Host, TodoHost, client};
use serde_json::{Value, json};

async fn start(backend: Backend, extra: &[(&str, &str)]) -> (LlmDouble, TodoHost) {
    let double = LlmDouble::start().await;
    let mut env = vec![
        ("OPENAI_BASE_URL", double.base_url.as_str()),
        ("OPENAI_API_KEY", "sk-test-session-key"),
        ("OPENAI_MODEL", "double-model"),
    ];
    env.extend_from_slice(extra);
    let host = TodoHost::start(backend, &env).await;
    (double, host)
}

/// The `data:` events of a server-sent event stream.
fn events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}

/// POST `body` to `path`, with `session` in `X-Session-Id` when given;
/// returns status, the minted session header (if any), and the body text.
async fn post(
    h: &Host,
    path: &str,
    session: Option<&str>,
    body: Value,
) -> (u16, Option<String>, String) {
    let mut req = client().post(h.url(path)).json(&body);
    if let Some(s) = session {
        req = req.header("x-session-id", s);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let minted = resp
        .headers()
        .get("x-session-id")
        .map(|v| v.to_str().unwrap().to_string());
    (status, minted, resp.text().await.unwrap())
}

async fn get(h: &Host, path: &str, session: Option<&str>) -> (u16, Value) {
    let mut req = client().get(h.url(path));
    if let Some(s) = session {
        req = req.header("x-session-id", s);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn seeds_chat_api(backend: Backend) {
    let (double, t) = start(backend, &[]).await;
    let h = &t.host;

    // Seed 002: a session, then questions in it.
    let resp = client()
        .post(h.url("/api/v1/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let header = resp.headers()["x-session-id"].to_str().unwrap().to_string();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    let session: Value = resp.json().await.unwrap();
    let sid = session["session_id"].as_str().unwrap().to_string();
    assert!(uuid_like(&sid), "{session}");
    assert_eq!(header, sid);
    assert!(
        cookie.starts_with(&format!("spaceport_session={sid};")),
        "{cookie}"
    );
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=None"));
    assert!(session["created_at"].as_str().unwrap().ends_with('Z'));

    double.script([streamed(&["ROS 2 ", "is a robotics ", "middleware."])]);
    let (status, minted, text) = post(
        h,
        "/api/v1/chat/stream",
        None,
        json!({"session_id": sid, "question": "What is ROS 2?"}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(minted, None, "a named session is not minted again");
    let evs = events(&text);
    let tokens: String = evs
        .iter()
        .filter(|e| e["type"] == "token")
        .map(|e| e["content"].as_str().unwrap())
        .collect();
    assert_eq!(tokens, "ROS 2 is a robotics middleware.");
    let done = evs.last().unwrap();
    assert_eq!(done["type"], "done", "{text}");
    let conversation = done["conversation_id"].as_i64().unwrap();

    // The JSON twin, same session (by header this time): the session's
    // conversation goes on, with the first exchange replayed to the model.
    double.script([llm_double::text("It runs on Linux.")]);
    let (status, _, text) = post(
        h,
        "/api/v1/chat",
        Some(&sid),
        json!({"question": "Where does it run?"}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["message"], "It runs on Linux.");
    assert_eq!(body["conversation_id"], conversation);
    let sent = &double.received()[1].body["messages"];
    let contents: Vec<&str> = sent
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(
        contents.contains(&"What is ROS 2?") && contents.contains(&"Where does it run?"),
        "{sent}"
    );

    // Seed 002's own example: a session id the client chose.
    double.script([streamed(&["Hello, ", "test-123."])]);
    let (status, _, text) = post(
        h,
        "/api/v1/chat/stream",
        None,
        json!({"session_id": "test-123", "question": "Hi"}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let other = events(&text).last().unwrap()["conversation_id"].clone();
    assert_ne!(
        other,
        json!(conversation),
        "another session, another conversation"
    );

    // Seed 003: no credential at all; the host mints a session and says so.
    double.script([streamed(&["Hi ", "there."])]);
    let (status, minted, text) = post(h, "/api/chat", None, json!({"message": "hello"})).await;
    assert_eq!(status, 200, "{text}");
    let minted = minted.expect("a session is minted for a caller without one");
    let evs = events(&text);
    assert_eq!(evs[0]["type"], "start");
    let c3 = evs.last().unwrap()["conversation_id"].as_i64().unwrap();
    let (status, conv) = get(h, &format!("/api/conversation/{c3}"), Some(&minted)).await;
    assert_eq!(status, 200, "{conv}");
    let said: Vec<&str> = conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(said, ["hello", "Hi there."]);
    // Another session (or none) cannot read it, nor the first session's.
    for (path, session) in [
        (format!("/api/conversation/{c3}"), Some(sid.as_str())),
        (format!("/api/conversation/{c3}"), None),
        (
            format!("/api/conversation/{conversation}"),
            Some("test-123"),
        ),
    ] {
        let (status, body) = get(h, &path, session).await;
        assert_eq!(status, 404, "{path} as {session:?}: {body}");
    }
    // The cookie works as the credential too, and never reaches the model or
    // a stored row: the component knows the session only as `anon-…`.
    let resp = client()
        .get(h.url(&format!("/api/conversation/{c3}")))
        .header("cookie", format!("theme=dark; spaceport_session={minted}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    for call in double.received() {
        let sent = call.body.to_string();
        assert!(!sent.contains(&sid) && !sent.contains(&minted), "{sent}");
    }

    // JSON from /api/chat when asked for; a token user gets their own history.
    let ann = h.register("ann@example.com", "password1").await;
    double.script([llm_double::text("Noted.")]);
    let resp = client()
        .post(h.url("/api/chat"))
        .bearer_auth(&ann.token)
        .header("accept", "application/json")
        .json(&json!({"message": "remember me"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(!resp.headers().contains_key("x-session-id"));
    let body: Value = resp.json().await.unwrap();
    let (_, list) = h
        .call(
            &ann,
            reqwest::Method::GET,
            &format!("/api/{}/conversations", ann.id),
            None,
        )
        .await;
    assert_eq!(list[0]["id"], body["conversation_id"], "{list}");

    // Bad input: a malformed session id, a missing question, a bad token.
    let (status, _, text) = post(
        h,
        "/api/v1/chat",
        None,
        json!({"session_id": "not a session", "question": "q"}),
    )
    .await;
    assert_eq!(status, 422, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"],
        "validation_error"
    );
    let (status, _, text) = post(h, "/api/v1/chat", Some(&sid), json!({"message": "q"})).await;
    assert_eq!(status, 422, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["field"],
        "question"
    );
    let resp = client()
        .post(h.url("/api/chat"))
        .bearer_auth("not-a-token")
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        401,
        "a bad token is not an anonymous session"
    );
}

/// A completion streamed in these pieces (a streaming turn asks for one).
fn streamed(pieces: &[&str]) -> Reply {
    Reply::Stream {
        chunks: llm_double::stream_text(pieces),
        cut: false,
    }
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_chat_api_on_sqlite() {
    seeds_chat_api(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_chat_api_on_postgres() {
    seeds_chat_api(Backend::Postgres).await;
}

/// The agent's tools run as the session: one session's tasks are not
/// another's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_tools_see_only_its_own_tasks() {
    let (double, t) = start(Backend::Sqlite, &[]).await;
    let h = &t.host;
    double.script([
        llm_double::tool_calls(&[("c1", "add_task", json!({"title": "water the plants"}))]),
        llm_double::text("Added."),
        llm_double::tool_calls(&[("c2", "list_tasks", json!({}))]),
        llm_double::text("Nothing yet."),
        llm_double::tool_calls(&[("c3", "list_tasks", json!({}))]),
        llm_double::text("One task."),
    ]);
    let ask = |session: &'static str, question: &'static str| async move {
        let (status, _, text) = post(
            h,
            "/api/v1/chat",
            Some(session),
            json!({ "question": question }),
        )
        .await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str::<Value>(&text).unwrap()
    };
    let added = ask("session-a-0001", "add water the plants").await;
    assert_eq!(
        added["tool_calls"][0]["result"]["status"], "created",
        "{added}"
    );
    let b = ask("session-b-0002", "what are my tasks?").await;
    assert_eq!(b["tool_calls"][0]["result"]["value"], json!([]), "{b}");
    let a = ask("session-a-0001", "what are my tasks?").await;
    assert_eq!(
        a["tool_calls"][0]["result"]["value"][0]["title"], "water the plants",
        "{a}"
    );
}

/// New sessions buy no extra LLM budget: an anonymous caller spends its
/// client address's as well as its session's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minting_sessions_does_not_lift_the_llm_limit() {
    let (double, t) = start(Backend::Sqlite, &[("SPACEPORT_LLM_RATE_PER_MINUTE", "2")]).await;
    let h = &t.host;
    double.script([llm_double::text("one"), llm_double::text("two")]);
    for n in 0..2 {
        let (status, _, text) = post(
            h,
            "/api/v1/chat",
            None,
            json!({"question": format!("q{n}")}),
        )
        .await;
        assert_eq!(status, 200, "{text}");
    }
    let resp = client()
        .post(h.url("/api/v1/chat"))
        .json(&json!({"session_id": "a-fresh-session", "question": "q3"}))
        .send()
        .await
        .unwrap();
    common::assert_rate_limited(resp).await;
    assert_eq!(
        double.received().len(),
        2,
        "the refused turn must not reach the model"
    );
}

/// Nor extra concurrency: while one anonymous session's streamed answer is
/// open, a fresh session from the same address is refused by the address's
/// limit, not admitted on the session's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minting_sessions_does_not_lift_the_concurrency_limit() {
    let (double, t) = start(
        Backend::Sqlite,
        &[("SPACEPORT_LLM_CONCURRENT_PER_USER", "1")],
    )
    .await;
    let h = &t.host;
    double.script([Reply::Delayed(
        std::time::Duration::from_millis(1500),
        Box::new(streamed(&["slow ", "answer"])),
    )]);
    let mut first = client()
        .post(h.url("/api/v1/chat/stream"))
        .json(&json!({"session_id": "session-one-0001", "question": "q1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let start = first.chunk().await.unwrap().unwrap_or_default();
    assert!(String::from_utf8_lossy(&start).contains("start"));
    let resp = client()
        .post(h.url("/api/v1/chat/stream"))
        .json(&json!({"session_id": "session-two-0002", "question": "q2"}))
        .send()
        .await
        .unwrap();
    common::assert_rate_limited(resp).await;
    assert!(common::body_so_far(first).await.contains("slow answer"));
    assert_eq!(double.received().len(), 1);
}

/// The session credential stays with the host on every route: the header and
/// the cookie are removed (a browser sends the cookie to every /api path), a
/// `session_id` in a session route's body is taken out, and the component
/// knows the session only as `anon-…`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_component_sees_a_session_id() {
    use common::{App, Host, fault_manifest, wasm};
    let app = App::new(&fault_manifest(
        &wasm("fault"),
        &wasm("health"),
        "[[trigger.http]]\nroute = \"/anon/...\"\ncomponent = \"fault\"\nauth = \"session\"\n",
    ));
    let h = Host::start_with(&app, &[("JWT_SECRET_KEY", common::JWT_SECRET)]);
    let secret = "my-secret-session-0042";
    let body = json!({"session_id": secret, "question": "q"});
    let resp = client()
        .post(h.url("/anon/echo"))
        .header("cookie", format!("theme=dark; spaceport_session={secret}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen: Value = resp.json().await.unwrap();
    let text = seen.to_string();
    assert!(!text.contains(secret), "{text}");
    assert!(
        seen["user"].as_str().unwrap().starts_with("anon-"),
        "{seen}"
    );
    assert_eq!(seen["headers"]["cookie"], "theme=dark", "{seen}");
    assert_eq!(
        seen["body_len"],
        json!({"question": "q"}).to_string().len(),
        "{seen}"
    );

    // A route without sessions: the credential is removed all the same.
    let resp = client()
        .get(h.url("/fault/echo"))
        .header("cookie", format!("spaceport_session={secret}"))
        .header("x-session-id", secret)
        .send()
        .await
        .unwrap();
    let seen: Value = resp.json().await.unwrap();
    assert!(!seen.to_string().contains(secret), "{seen}");
    assert_eq!(seen["user"], Value::Null);
}

/// The session cookie is an ambient credential: a browser sends it whatever
/// page makes the request. It is honoured only without an `Origin`, from
/// the host's own pages, or from an origin listed exactly; a page matched
/// only by a pattern (anyone can publish on `*.vercel.app`) must name the
/// session in `X-Session-Id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_is_honoured_only_from_pages_it_is_meant_for() {
    let (_double, t) = start(
        Backend::Sqlite,
        &[(
            "ALLOWED_ORIGINS",
            "https://app.example.com,https://*.vercel.app",
        )],
    )
    .await;
    let h = &t.host;
    let (status, _, body) = post(h, "/api/v1/sessions", None, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let sid = serde_json::from_str::<Value>(&body).unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let own_page = h.url("/").trim_end_matches('/').to_string();
    // An unknown conversation: 404 once the session is accepted.
    let path = h.url("/api/conversation/999999");
    let cases: [(Option<&str>, bool, u16); 5] = [
        (None, false, 404),
        (Some("https://app.example.com"), false, 404),
        (Some(own_page.as_str()), false, 404),
        (Some("https://someones-page.vercel.app"), false, 403),
        (Some("https://someones-page.vercel.app"), true, 404),
    ];
    for (origin, named, want) in cases {
        let mut req = client()
            .get(&path)
            .header("cookie", format!("spaceport_session={sid}"));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if named {
            req = req.header("x-session-id", &sid);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), want, "{origin:?} named={named}");
        // Refused: no new session is minted over the visitor's cookie.
        assert!(!resp.headers().contains_key("set-cookie"), "{origin:?}");
        let body: Value = resp.json().await.unwrap();
        if want == 403 {
            assert_eq!(body["error"], "origin_not_allowed", "{body}");
            assert!(
                body["detail"].as_str().unwrap().contains("X-Session-Id"),
                "{body}"
            );
        }
    }
}
