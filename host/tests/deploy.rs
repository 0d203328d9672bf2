//! Deploying into a running host (`PUT /admin/components/{id}`, `spaceport
//! deploy`): no restart, no failed request, the version survives a restart and
//! reaches a second replica on the same PostgreSQL; bad uploads change nothing.

mod common;
use common::{App, Backend, Host, TodoHost, wasm};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "admin-token-0123456789abcdef0123456789abcdef";

/// `svc` starts as the `ok` fixture (answers "ok"); `health` is the version deployed.
fn manifest() -> String {
    format!(
        r#"spaceport_manifest_version = 1
[application]
name = "deploy-test"

[[trigger.http]]
route = "/health"
component = "health"

[[trigger.http]]
route = "/svc"
component = "svc"

[component.health]
source = "{health}"
host_status = true

[component.svc]
source = "{ok}"
host_status = true
"#,
        health = wasm("health").display(),
        ok = wasm("ok").display(),
    )
}

fn sha256(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(bytes);
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

async fn admin(
    host: &Host,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = common::client().request(method, host.url(path)).body(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("admin call");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn upload(host: &Host, id: &str, bytes: Vec<u8>) -> (u16, Value) {
    admin(
        host,
        reqwest::Method::PUT,
        &format!("/admin/components/{id}"),
        Some(TOKEN),
        bytes,
    )
    .await
}

/// Which version answers `/svc`: "ok" (the image's) or "health" (the deployed one).
async fn which(base: &str) -> Result<&'static str, String> {
    let resp = common::client()
        .get(format!("{base}/svc"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    match (status.as_u16(), text.trim()) {
        (200, "ok") => Ok("ok"),
        // The health component answers its own paths only: at /svc, its 404.
        (404, t) if t.contains("no resource at /svc") => Ok("health"),
        _ => Err(format!("{status}: {text}")),
    }
}

/// Wait (10 s at most) until `base` serves `version` at `/svc`.
async fn serves_within(base: &str, version: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while which(base).await != Ok(version) {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start(backend: Backend, extra: &[(&str, &str)]) -> TodoHost {
    let mut env = vec![
        ("SPACEPORT_ADMIN_TOKEN", TOKEN),
        ("SPACEPORT_DEPLOY_POLL_MS", "200"),
    ];
    env.extend_from_slice(extra);
    TodoHost::start_manifest(backend, &manifest(), &env).await
}

async fn deploy_swaps_under_load_and_survives_a_restart(backend: Backend) {
    let mut t = start(backend, &[]).await;
    assert_eq!(which(&t.host.base).await, Ok("ok"));

    // A client loops requests through the deploy.
    let stop = Arc::new(AtomicBool::new(false));
    let (failed, served) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let seen = Arc::new(std::sync::Mutex::new(Vec::<&'static str>::new()));
    let base = t.host.base.clone();
    let looper = {
        let (stop, failed, served, seen) =
            (stop.clone(), failed.clone(), served.clone(), seen.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match which(&base).await {
                    Ok(v) => {
                        served.fetch_add(1, Ordering::Relaxed);
                        let mut seen = seen.lock().unwrap();
                        if seen.last() != Some(&v) {
                            seen.push(v);
                        }
                    }
                    Err(e) => {
                        eprintln!("failed during deploy: {e}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bytes = std::fs::read(wasm("health")).unwrap();
    let (status, body) = upload(&t.host, "svc", bytes.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], sha256(&bytes));
    assert_eq!(body["action"], "deploy");
    // Serving by the time the answer came.
    assert_eq!(which(&t.host.base).await, Ok("health"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    looper.await.unwrap();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during the deploy"
    );
    assert!(served.load(Ordering::Relaxed) > 10);
    assert_eq!(
        *seen.lock().unwrap(),
        ["ok", "health"],
        "answers switched once, old to new"
    );

    let (status, listed) = admin(
        &t.host,
        reqwest::Method::GET,
        "/admin/components",
        Some(TOKEN),
        vec![],
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let svc = listed["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "svc")
        .unwrap()
        .clone();
    assert_eq!(svc["source"], "uploaded", "{svc}");
    assert_eq!(svc["version"], sha256(&bytes));

    // A restart serves the uploaded version, not the image's.
    t.restart();
    assert_eq!(which(&t.host.base).await, Ok("health"));

    // Roll back to the previous (the image's), then to the upload by name, then reset.
    let rollback = |body: &'static str| {
        admin(
            &t.host,
            reqwest::Method::POST,
            "/admin/components/svc/rollback",
            Some(TOKEN),
            body.into(),
        )
    };
    let (status, body) = rollback("").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(which(&t.host.base).await, Ok("ok"));
    let version = &sha256(&bytes)[..10];
    let named = format!(r#"{{"version": "{version}"}}"#);
    let (status, body) = admin(
        &t.host,
        reqwest::Method::POST,
        "/admin/components/svc/rollback",
        Some(TOKEN),
        named.into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(which(&t.host.base).await, Ok("health"));
    let (status, body) = admin(
        &t.host,
        reqwest::Method::DELETE,
        "/admin/components/svc",
        Some(TOKEN),
        vec![],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(which(&t.host.base).await, Ok("ok"));
    let logs = t.host.logs();
    assert!(
        logs.contains("deployment applied"),
        "every change is logged"
    );
    assert!(!logs.contains(TOKEN), "the admin token reached the log");
}

both_backends!(deploy_swaps_under_load_and_survives_a_restart);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_and_bad_tokens_change_nothing() {
    let t = start(Backend::Sqlite, &[("SPACEPORT_ADMIN_MAX_UPLOAD_MB", "1")]).await;
    let h = &t.host;
    let health = std::fs::read(wasm("health")).unwrap();
    // (what, token, body, status, error code)
    type Case = (
        &'static str,
        Option<&'static str>,
        Vec<u8>,
        u16,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        ("no token", None, health.clone(), 401, "not_authenticated"),
        (
            "wrong token",
            Some("x".repeat(44).leak()),
            health.clone(),
            401,
            "invalid_token",
        ),
        (
            "not a component",
            Some(TOKEN),
            b"\0asm not really".to_vec(),
            422,
            "invalid_component",
        ),
        (
            "text",
            Some(TOKEN),
            b"hello".to_vec(),
            422,
            "invalid_component",
        ),
        ("empty", Some(TOKEN), vec![], 400, "empty_body"),
        (
            "oversized",
            Some(TOKEN),
            vec![0u8; 2 << 20],
            413,
            "payload_too_large",
        ),
    ];
    for (name, token, body, status, code) in cases {
        let (got, answer) = admin(
            h,
            reqwest::Method::PUT,
            "/admin/components/svc",
            token,
            body,
        )
        .await;
        assert_eq!(got, status, "{name}: {answer}");
        assert_eq!(answer["error"], code, "{name}: {answer}");
        let detail = answer["detail"].as_str().unwrap_or("");
        assert!(
            !detail.contains("/tmp") && !detail.contains("deployed/"),
            "{name}: a server path in {detail}"
        );
        assert_eq!(
            which(&h.base).await,
            Ok("ok"),
            "{name}: the old version must keep serving"
        );
    }
    let (got, answer) = upload(h, "nope", health.clone()).await;
    assert_eq!(
        (got, answer["error"].as_str()),
        (404, Some("unknown_component")),
        "{answer}"
    );
    let (got, answer) = admin(
        h,
        reqwest::Method::POST,
        "/admin/components/svc/rollback",
        Some(TOKEN),
        vec![],
    )
    .await;
    assert_eq!(
        (got, answer["error"].as_str()),
        (409, Some("nothing_to_roll_back")),
        "{answer}"
    );
    let (got, answer) = admin(
        h,
        reqwest::Method::GET,
        "/admin/components/svc",
        Some(TOKEN),
        vec![],
    )
    .await;
    assert_eq!(got, 405, "{answer}");
    // The admin API is not in the public document.
    let doc = common::get_json(h.url("/openapi.json"), None).await;
    assert!(
        !doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .any(|p| p.starts_with("/admin"))
    );
    // Failed attempts are rate-limited per client (10 a minute).
    let mut limited = false;
    for _ in 0..12 {
        let (got, _) = admin(
            h,
            reqwest::Method::GET,
            "/admin/components",
            Some("wrong"),
            vec![],
        )
        .await;
        limited |= got == 429;
    }
    assert!(limited, "failed admin attempts were not rate-limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_there_is_no_admin_api_and_a_short_one_stops_the_host() {
    let app = App::new(&manifest());
    let h = Host::start_with(&app, &[("JWT_SECRET_KEY", common::JWT_SECRET)]);
    let (got, answer) = admin(
        &h,
        reqwest::Method::GET,
        "/admin/components",
        Some(TOKEN),
        vec![],
    )
    .await;
    assert_eq!(
        (got, answer["error"].as_str()),
        (404, Some("not_found")),
        "{answer}"
    );
    drop(h);
    let (status, out) = common::run_with(
        &[
            "up",
            "--manifest",
            app.manifest().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[
            ("SPACEPORT_ADMIN_TOKEN", "short"),
            ("JWT_SECRET_KEY", common::JWT_SECRET),
        ],
    );
    assert!(!status.success());
    assert!(
        out.contains("SPACEPORT_ADMIN_TOKEN must be at least 32 bytes"),
        "{out}"
    );
    assert!(
        !out.contains("short"),
        "the rejected token was echoed: {out}"
    );
}

/// Two hosts on one PostgreSQL: a deploy to one serves on the other at once
/// (LISTEN/NOTIFY; the poll is the fallback), and `spaceport deploy`/`status`/`rollback` work end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_reaches_the_other_replica_and_the_cli_drives_it() {
    // Polls a minute apart: following within seconds is NOTIFY's doing.
    let t = start(Backend::Postgres, &[("SPACEPORT_DEPLOY_POLL_MS", "60000")]).await;
    let url = t.pg.as_ref().unwrap().url.clone();
    let other_app = App::new(&manifest());
    let other = Host::start_with(
        &other_app,
        &[
            ("JWT_SECRET_KEY", common::JWT_SECRET),
            ("DATABASE_URL", &url),
            ("SPACEPORT_ADMIN_TOKEN", TOKEN),
            ("SPACEPORT_DEPLOY_POLL_MS", "60000"),
        ],
    );
    assert_eq!(which(&other.base).await, Ok("ok"));

    // `spaceport deploy` of a manifest whose svc is built as health.wasm.
    let local = App::new(&manifest().replace(
        &format!("source = \"{}\"", wasm("ok").display()),
        &format!("source = \"{}\"", wasm("health").display()),
    ));
    let started = Instant::now();
    let (status, out) = common::run_with(
        &[
            "deploy",
            "svc",
            "--no-build",
            "--manifest",
            local.manifest().to_str().unwrap(),
            "--to",
            &t.host.base,
        ],
        &[("SPACEPORT_ADMIN_TOKEN", TOKEN)],
    );
    assert!(status.success(), "{out}");
    assert!(out.contains("svc: serving "), "{out}");
    assert_eq!(which(&t.host.base).await, Ok("health"));
    // The other replica follows within a couple of poll intervals.
    serves_within(&other.base, "health", "the other replica did not follow").await;
    eprintln!(
        "replica converged {} ms after the deploy started",
        started.elapsed().as_millis()
    );

    // Deploying the same bytes again uploads nothing.
    let (status, out) = common::run_with(
        &[
            "deploy",
            "svc",
            "--no-build",
            "--manifest",
            local.manifest().to_str().unwrap(),
            "--to",
            &other.base,
        ],
        &[("SPACEPORT_ADMIN_TOKEN", TOKEN)],
    );
    assert!(status.success() && out.contains("up to date"), "{out}");
    let (status, out) = common::run_with(
        &["status", "--to", &other.base],
        &[("SPACEPORT_ADMIN_TOKEN", TOKEN)],
    );
    assert!(status.success() && out.contains("uploaded"), "{out}");
    let (status, out) = common::run_with(
        &["rollback", "svc", "--to", &other.base],
        &[("SPACEPORT_ADMIN_TOKEN", TOKEN)],
    );
    assert!(status.success(), "{out}");
    assert_eq!(which(&other.base).await, Ok("ok"));
    serves_within(
        &t.host.base,
        "ok",
        "the first replica did not follow the rollback",
    )
    .await;
    // Clear messages for a wrong token and an unreachable host.
    let (status, out) = common::run_with(
        &["status", "--to", &other.base],
        &[("SPACEPORT_ADMIN_TOKEN", "wrong")],
    );
    assert!(
        !status.success() && out.contains("refused the admin token"),
        "{out}"
    );
    let (status, out) = common::run_with(
        &["status", "--to", "http://127.0.0.1:9"],
        &[("SPACEPORT_ADMIN_TOKEN", TOKEN)],
    );
    assert!(!status.success() && out.contains("cannot reach"), "{out}");
}
