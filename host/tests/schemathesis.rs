//! `schemathesis` against `/openapi.json` with every check on: what the
//! document says about each route (statuses, schemas, methods, links) is what
//! the running app does, on both databases.
//!
//! Two runs: the examples, coverage and fuzzing phases on every operation,
//! then the stateful phase without `POST /api/{user_id}/tools/delete_task`.
//! That tool deletes a task by a `POST` to another path, which schemathesis
//! cannot know is a deletion: reading the task afterwards (404) would be
//! reported as "created resource not found" (ST302).
//!
//! `scripts/test.sh` installs schemathesis and names it in
//! `SPACEPORT_SCHEMATHESIS`; without that variable the test looks for
//! `schemathesis` on `PATH` and in `~/.cache/spaceport/st/bin`, and skips,
//! saying so, if there is none. `SPACEPORT_SCHEMATHESIS_SEED` and
//! `SPACEPORT_SCHEMATHESIS_EXAMPLES` change the seed (default 1) and the
//! examples per operation (default 20).

mod common;
use common::llm_double::stream_text;
use common::{Backend, TodoHost};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The schemathesis executable, if there is one.
fn schemathesis() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SPACEPORT_SCHEMATHESIS").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "SPACEPORT_SCHEMATHESIS={} is not a file",
            path.display()
        );
        return Some(path);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("schemathesis"));
    let cached = std::env::var_os("HOME")
        .map(|home| Path::new(&home).join(".cache/spaceport/st/bin/schemathesis"));
    on_path.chain(cached).find(|p| p.is_file())
}

fn setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// `resolve_date` (the Python `dates` tool) reads English date phrases: what
/// it can read no JSON Schema can say, so a schema-valid phrase it cannot read
/// ("TāVk!") is a documented 422 `invalid_arguments`, not a broken promise.
/// Every other check still applies to it, and every other operation keeps
/// the default expectation.
const RESOLVE_DATE_MAY_REFUSE: &str = r#"[[operations]]
include-path-regex = "/tools/resolve_date$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429", "5xx"]
"#;

async fn schemathesis_finds_nothing(backend: Backend) {
    let Some(st) = schemathesis() else {
        eprintln!(
            "SKIPPED: schemathesis is not installed (scripts/test.sh installs it and sets \
             SPACEPORT_SCHEMATHESIS; or put `schemathesis` on PATH)"
        );
        return;
    };
    let llm = AlwaysAnswers::start().await;
    let t = TodoHost::start(
        backend,
        &[
            ("OPENAI_API_KEY", "test-key"),
            ("OPENAI_BASE_URL", &llm.base_url),
            // schemathesis registers and logs in many times a second.
            ("SPACEPORT_AUTH_RATE_PER_MINUTE", "1000000"),
        ],
    )
    .await;
    let user = t
        .host
        .register("schemathesis@example.com", "password123")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[parameters]\n\"path.user_id\" = \"{}\"\n\n{RESOLVE_DATE_MAY_REFUSE}",
            user.id
        ),
    )
    .unwrap();
    let seed = setting("SPACEPORT_SCHEMATHESIS_SEED", "1");
    let examples = setting("SPACEPORT_SCHEMATHESIS_EXAMPLES", "20");
    let url = t.host.url("/openapi.json");
    let auth = format!("Authorization: Bearer {}", user.token);
    let runs: [(&str, &[&str]); 2] = [
        ("examples,coverage,fuzzing", &[]),
        ("stateful", &["--exclude-path-regex", "/tools/delete_task$"]),
    ];
    let mut failed = Vec::new();
    for (phases, extra) in runs {
        let mut cmd = Command::new(&st);
        cmd.current_dir(dir.path())
            .arg("--no-color")
            .arg("--config-file")
            .arg(&config)
            .args(["run", &url, "--checks", "all", "-H", &auth])
            .args(["--max-examples", &examples, "--seed", &seed])
            .args(["--phases", phases, "--generation-database", "none"])
            .args(extra);
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .expect("run schemathesis");
        let text = common::output_text(&out);
        let summary = text
            .lines()
            .rev()
            .find(|l| l.starts_with("====="))
            .unwrap_or("");
        eprintln!("schemathesis ({phases}): {summary}");
        if !out.status.success() {
            // The failures, each with its reproduction, and the summary.
            let from = text.find("= FAILURES =").unwrap_or(0);
            failed.push(format!("---- phases {phases} ----\n{}", &text[from..]));
        }
    }
    assert!(
        failed.is_empty(),
        "schemathesis found failures ({backend:?}, seed {seed}):\n{}",
        failed.join("\n")
    );
}

both_backends!(schemathesis_finds_nothing);

/// A method a path does not answer gets `405` and `Allow`, from the host:
/// on its own endpoints, and on a component's path its fragment documents
/// (before auth, body or instance); `HEAD` is `GET` without the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undocumented_methods_are_refused_with_allow() {
    let t = TodoHost::start(Backend::Sqlite, &[]).await;
    let user = t.host.register("methods@example.com", "password123").await;
    let id = &user.id;
    let cases = [
        ("DELETE", "/docs".to_string(), "GET, HEAD, OPTIONS"),
        ("TRACE", "/api/auth/me".to_string(), "GET, HEAD, OPTIONS"),
        ("GET", "/api/auth/login".to_string(), "POST, OPTIONS"),
        ("GET", format!("/api/{id}/tools/add_task"), "POST, OPTIONS"),
        (
            "PATCH",
            format!("/api/{id}/tasks"),
            "GET, POST, HEAD, OPTIONS",
        ),
        (
            "POST",
            format!("/api/{id}/tasks/7/"),
            "GET, PUT, DELETE, HEAD, OPTIONS",
        ),
        (
            "QUERY",
            format!("/api/{id}/tasks/7/complete"),
            "PATCH, OPTIONS",
        ),
        ("GET", format!("/api/{id}/chat"), "POST, OPTIONS"),
        // No token: the method is refused before auth.
        (
            "PUT",
            "/api/someone/conversations".to_string(),
            "GET, HEAD, OPTIONS",
        ),
    ];
    for (method, path, allow) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = common::client()
            .request(method.clone(), t.host.url(&path))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method} {path}");
        assert_eq!(resp.headers()["allow"], allow, "{method} {path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "method_not_allowed", "{method} {path}");
    }
    // A path no fragment documents is the component's to answer.
    let (status, _) = t
        .host
        .call(
            &user,
            reqwest::Method::GET,
            &format!("/api/{id}/tasks/7/x"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    // HEAD where GET is answered: the host's endpoints and components alike.
    for path in ["/openapi.json".to_string(), format!("/api/{id}/tasks")] {
        let resp = common::client()
            .head(t.host.url(&path))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "HEAD {path}");
    }
}

/// An OpenAI-compatible double that answers every completion with a short
/// text, streamed when asked: schemathesis sends any number of chats.
struct AlwaysAnswers {
    base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AlwaysAnswers {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body = http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>;

impl AlwaysAnswers {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(answer);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                });
            }
        });
        Self {
            base_url: format!("http://{addr}/v1"),
            task,
        }
    }
}

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Body>, std::convert::Infallible> {
    let embeddings = req.uri().path().ends_with("/embeddings");
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    let request: Value = body
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let (content_type, text) = if embeddings {
        // Every input gets a vector (the knowledge component embeds what it stores).
        let inputs = match &request["input"] {
            Value::Array(items) => items.len(),
            _ => 1,
        };
        let data: Vec<Value> = (0..inputs)
            .map(|i| json!({"object": "embedding", "index": i, "embedding": [1.0, 0.5, 0.25, i as f64]}))
            .collect();
        (
            "application/json",
            json!({"object": "list", "data": data, "model": request["model"],
                   "usage": {"prompt_tokens": inputs, "total_tokens": inputs}})
            .to_string(),
        )
    } else if request["stream"] == true {
        let events: String = stream_text(&["Done", "."])
            .iter()
            .map(|chunk| format!("data: {chunk}\n\n"))
            .chain(["data: [DONE]\n\n".to_string()])
            .collect();
        ("text/event-stream", events)
    } else {
        let completion = json!({
            "id": "chatcmpl-double", "object": "chat.completion", "model": "double-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Done."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
        });
        ("application/json", completion.to_string())
    };
    let mut resp = hyper::Response::new(Full::new(bytes::Bytes::from(text)).boxed());
    resp.headers_mut()
        .insert("content-type", content_type.parse().unwrap());
    Ok(resp)
}
