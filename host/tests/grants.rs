//! Grants: a component reaches a capability only when the manifest grants it,
//! and every denial is reported the one documented way (the interface's
//! `access-denied` error, or a trap answered 500 `capability_denied` where the
//! interface has no error channel), logged as `capability denied`.

mod common;

use common::{App, Host, client, run, wasm};
use serde_json::Value;

fn manifest() -> String {
    format!(
        r#"
spaceport_manifest_version = 1
[application]
name = "grants"

[[trigger.http]]
route = "/health"
component = "health"
[[trigger.http]]
route = "/bare/..."
component = "bare"
[[trigger.http]]
route = "/full/..."
component = "full"

[database.default]
[database.tasks]

[component.health]
source = "{health}"
host_status = true

# Imports everything (the fault fixture uses every platform interface), granted nothing.
[component.bare]
source = "{fault}"

[component.full]
source = "{fault}"
sql = ["default"]
llm = true
tools = ["task-tools"]
context = true
host_status = true

[component.task-tools]
source = "{tools}"
sql = ["tasks"]
context = true
"#,
        health = wasm("health").display(),
        fault = wasm("fault").display(),
        tools = wasm("task_tools").display(),
    )
}

async fn get(host: &Host, path: &str) -> (u16, Value) {
    let resp = client().get(host.url(path)).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON body"))
}

/// The error text a fault endpoint reported from its capability call.
fn reported_error(body: &Value) -> String {
    body["error"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn ungranted_sql_llm_and_tools_answer_access_denied_naming_the_grant() {
    let app = App::new(&manifest());
    let host = Host::start(&app);

    for (path, grant) in [
        ("/bare/cap-sql", r#"sql = [\"default\"]"#),
        ("/bare/cap-llm", "llm = true"),
        ("/bare/cap-tools", r#"tools = [\"task-tools\"]"#),
    ] {
        let (status, body) = get(&host, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        let error = reported_error(&body);
        assert!(error.contains("AccessDenied("), "{path}: {body}");
        assert!(
            error.contains("access denied: component `bare` is not granted"),
            "{path}: {body}"
        );
        assert!(error.contains(grant), "{path}: {error} should name {grant}");
    }
    assert!(
        host.count_logs("capability denied") >= 3,
        "each denial is logged:\n{}",
        host.logs()
    );
}

#[tokio::test]
async fn ungranted_context_and_host_status_trap_as_capability_denied() {
    let app = App::new(&manifest());
    let host = Host::start(&app);

    for (path, grant) in [
        ("/bare/cap-status", "host_status = true"),
        ("/bare/cap-whoami", "context = true"),
    ] {
        let (status, body) = get(&host, path).await;
        assert_eq!(status, 500, "{path}: {body}");
        assert_eq!(body["error"], "capability_denied", "{path}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("is not granted") && detail.contains(grant),
            "{path}: {body}"
        );
        assert!(body["request_id"].is_string(), "{body}");
    }
    // The host keeps serving.
    let (status, _) = get(&host, "/health").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn granted_capabilities_are_reached() {
    let app = App::new(&manifest());
    let host = Host::start(&app);

    let (_, body) = get(&host, "/full/cap-sql").await;
    assert_eq!(body["ok"], 1, "{body}");
    // No API key here: the llm call reaches the host's client, which says so.
    let (_, body) = get(&host, "/full/cap-llm").await;
    assert!(reported_error(&body).contains("Unconfigured("), "{body}");
    // The tool runs (and refuses: there is no signed-in user).
    let (_, body) = get(&host, "/full/cap-tools").await;
    assert!(reported_error(&body).contains("Failed("), "{body}");
    let (status, body) = get(&host, "/full/cap-status").await;
    assert_eq!(
        (status, &body["ok"]),
        (200, &Value::from("grants")),
        "{body}"
    );
    let (status, body) = get(&host, "/full/cap-whoami").await;
    assert_eq!((status, &body["ok"]), (200, &Value::Null), "{body}");
    assert_eq!(host.count_logs("capability denied"), 0, "{}", host.logs());
}

#[test]
fn a_grant_of_an_undeclared_database_is_rejected_naming_the_key() {
    let app = App::new(&manifest().replace(
        "sql = [\"default\"]\nllm = true",
        "sql = [\"default\", \"secrets\"]\nllm = true",
    ));
    let (status, out) = run(&["check", "--manifest", app.manifest().to_str().unwrap()]);
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("component.full.sql[1]`: no database named `secrets`; declare it with [database.secrets]"),
        "{out}"
    );
}

#[test]
fn the_hosts_own_database_cannot_be_declared() {
    for name in ["host", "spaceport", "public"] {
        let app = App::new(&manifest().replace(
            "[database.tasks]",
            &format!("[database.tasks]\n[database.{name}]"),
        ));
        let (status, out) = run(&["check", "--manifest", app.manifest().to_str().unwrap()]);
        assert!(!status.success(), "{out}");
        assert!(out.contains("is reserved for the host"), "{name}: {out}");
    }
}
