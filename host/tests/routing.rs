//! Routing over a real socket: exact, `:param`, `/...` wildcard, most
//! specific wins, 404 JSON; and what the component learns about its route.

mod common;
use common::{App, Host, client, wasm};
use serde_json::Value;

fn app() -> App {
    App::new(&format!(
        r#"
spaceport_manifest_version = 1
[application]
name = "routing"

[[trigger.http]]
route = "/health"
component = "health"
[[trigger.http]]
route = "/api/:user_id/tasks/:id"
component = "tasks"
[[trigger.http]]
route = "/api/:user_id/..."
component = "user-catchall"
[[trigger.http]]
route = "/api/special/tasks/:id"
component = "special"
[[trigger.http]]
route = "/files/..."
component = "files"

[component.health]
source = "{health}"
host_status = true
[component.tasks]
source = "{fault}"
context = true
variables = {{ greeting = "hello", page_size = "20" }}
[component.user-catchall]
source = "{fault}"
context = true
[component.special]
source = "{fault}"
context = true
[component.files]
source = "{fault}"
context = true
"#,
        health = wasm("health").display(),
        fault = wasm("fault").display(),
    ))
}

async fn get(host: &Host, path: &str) -> (u16, Value) {
    let resp = client().get(host.url(path)).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn routes_pick_the_most_specific_component_and_pass_params() {
    let app = app();
    let host = Host::start(&app);

    let (status, body) = get(&host, "/api/u-42/tasks/7?x=1").await;
    assert_eq!(status, 200);
    assert_eq!(body["component_id"], "tasks");
    assert_eq!(body["matched_route"], "/api/:user_id/tasks/:id");
    assert_eq!(body["params"]["user_id"], "u-42");
    assert_eq!(body["params"]["id"], "7");
    assert_eq!(body["query"], "x=1");
    // Spin-style headers carry the same facts.
    assert_eq!(body["headers"]["spaceport-path-match-user_id"], "u-42");
    assert_eq!(
        body["headers"]["spaceport-matched-route"],
        "/api/:user_id/tasks/:id"
    );
    // Only this component's variables are visible to it.
    assert_eq!(
        body["variables"],
        serde_json::json!([["greeting", "hello"], ["page_size", "20"]])
    );

    // A literal segment beats a parameter at the same position.
    let (_, body) = get(&host, "/api/special/tasks/9").await;
    assert_eq!(body["component_id"], "special");
    assert_eq!(body["variables"], serde_json::json!([]));

    // Longer paths fall to the wildcard, which reports what it matched.
    let (_, body) = get(&host, "/api/u-42/tasks/7/complete").await;
    assert_eq!(body["component_id"], "user-catchall");
    assert_eq!(body["path_info"], "/tasks/7/complete");
    assert_eq!(body["params"]["user_id"], "u-42");

    let (_, body) = get(&host, "/files/a/b%20c.txt").await;
    assert_eq!(body["component_id"], "files");
    assert_eq!(body["path_info"], "/a/b%20c.txt");

    // Percent-encoded params are decoded.
    let (_, body) = get(&host, "/api/a%40b.com/tasks/1").await;
    assert_eq!(body["params"]["user_id"], "a@b.com");
}

#[tokio::test]
async fn unknown_paths_get_a_json_404_with_the_request_id() {
    let app = app();
    let host = Host::start(&app);
    let resp = client()
        .get(host.url("/nowhere"))
        .header("x-request-id", "my-trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["x-request-id"], "my-trace-123");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert_eq!(body["request_id"], "my-trace-123");
    assert!(body["detail"].as_str().unwrap().contains("/nowhere"));
    // The request id is in the host's log line for this request.
    host.wait_for_log("my-trace-123", std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn clients_cannot_forge_platform_headers() {
    let app = app();
    let host = Host::start(&app);
    let resp = client()
        .get(host.url("/api/u1/tasks/1"))
        .header("spaceport-path-match-user_id", "admin")
        .header("spaceport-principal", "admin")
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(generated, "bad id with spaces");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["headers"]["spaceport-path-match-user_id"], "u1");
    assert!(body["headers"].get("spaceport-principal").is_none());
    assert_eq!(body["request_id"], generated.as_str());
}

#[tokio::test]
async fn components_get_no_environment_or_filesystem() {
    let app = app();
    let host = Host::start_with(&app, &[("SECRET_FOR_TEST", "do-not-leak")]);
    let (status, body) = get(&host, "/files/sandbox").await;
    assert_eq!(status, 200);
    assert_eq!(body["env"], serde_json::json!([]));
    assert_eq!(body["root_readable"], false);
}
