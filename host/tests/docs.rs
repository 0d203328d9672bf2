//! `/openapi.json` and `/docs`: the document describes what the app really
//! serves (host endpoints, every tool with its schema, each component's
//! fragment with the auth the host enforces), and follows hot swaps.

mod common;
use common::{App, Backend, Host, TodoHost, client, run};
use serde_json::Value;
use std::time::Duration;

async fn openapi(host: &Host) -> Value {
    let resp = client()
        .get(host.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_covers_host_tools_and_components() {
    let t = TodoHost::start(Backend::Sqlite, &[]).await;
    let doc = openapi(&t.host).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "spaceport-todo");
    let paths = &doc["paths"];
    // The host's own endpoints.
    assert!(paths["/api/auth/login"]["post"]["responses"]["200"].is_object());
    // Every tool, with its real schema as the request body.
    let add = &paths["/api/{user_id}/tools/add_task"]["post"];
    let schema = &add["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(schema["required"], serde_json::json!(["title"]), "{add}");
    // A component's fragment, with the auth its route enforces stamped on.
    let list = &paths["/api/{user_id}/tasks"]["get"];
    assert_eq!(list["x-spaceport-component"], "task-tools");
    assert_eq!(list["security"], serde_json::json!([{ "bearer": [] }]));
    assert!(list["responses"]["401"].is_object() && list["responses"]["403"].is_object());
    assert!(paths["/api/{user_id}/chat"]["post"].is_object());
    // A real validator accepts it (what Swagger UI and client generators need).
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), doc.to_string()).unwrap();
    let check = std::process::Command::new("python3")
        .args(["-c", "import sys, json; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))"])
        .arg(file.path())
        .output()
        .expect("python3 (scripts/test.sh installs openapi-spec-validator)");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Public routes stay public.
    assert!(paths["/health"]["get"].get("security").is_none());
    assert!(doc["components"]["schemas"]["Task"].is_object());

    // What the document says about a route is what the route does.
    let resp = client()
        .get(t.host.url("/api/someone/tasks"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let page = client().get(t.host.url("/docs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().await.unwrap().contains("/openapi.json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_fragment_updates_the_document_without_a_restart() {
    let app = App::new("");
    let health = common::wasm("health");
    let fragment = app.dir.path().join("health.openapi.json");
    std::fs::write(
        &fragment,
        r#"{"paths": {"/health": {"get": {"summary": "first", "responses": {"200": {"description": "ok"}}}}}}"#,
    )
    .unwrap();
    app.write_manifest(&format!(
        "spaceport_manifest_version = 1\n[application]\nname = \"docs-test\"\n\
         [[trigger.http]]\nroute = \"/health\"\ncomponent = \"health\"\n\
         [component.health]\nsource = \"{}\"\nhost_status = true\nopenapi = \"health.openapi.json\"\n",
        health.display()
    ));
    let host = Host::start(&app);
    assert_eq!(
        openapi(&host).await["paths"]["/health"]["get"]["summary"],
        "first"
    );
    std::fs::write(
        &fragment,
        r#"{"paths": {"/health": {"get": {"summary": "second", "responses": {"200": {"description": "ok"}}}},
                      "/nowhere": {"get": {"responses": {"200": {"description": "ok"}}}}}}"#,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let doc = openapi(&host).await;
        if doc["paths"]["/health"]["get"]["summary"] == "second" {
            // A path no route serves is left out, with a warning.
            assert!(doc["paths"].get("/nowhere").is_none());
            host.wait_for_log("no route sends to it", Duration::from_secs(5));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the document never changed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn a_broken_fragment_is_named() {
    let app = App::new("");
    std::fs::write(app.dir.path().join("bad.json"), "{\"paths\": [").unwrap();
    app.write_manifest(&format!(
        "spaceport_manifest_version = 1\n[application]\nname = \"x\"\n\
         [[trigger.http]]\nroute = \"/health\"\ncomponent = \"health\"\n\
         [component.health]\nsource = \"{}\"\nhost_status = true\nopenapi = \"bad.json\"\n",
        common::wasm("health").display()
    ));
    let (status, out) = run(&["check", "--manifest", app.manifest().to_str().unwrap()]);
    assert!(!status.success(), "{out}");
    assert!(out.contains("component.health.openapi"), "{out}");
    assert!(out.contains("not valid JSON"), "{out}");
}

/// A route that also matches a host path, and a fragment that redefines a
/// schema, are accepted with a warning each; the host's versions win.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadowed_host_paths_and_redefined_schemas_are_warned_about() {
    let app = App::new("");
    std::fs::write(
        app.dir.path().join("health.openapi.json"),
        r#"{"paths": {"/health": {"get": {"responses": {"200": {"description": "ok"}}}}},
            "components": {"schemas": {"Error": {"type": "string"}}}}"#,
    )
    .unwrap();
    app.write_manifest(&format!(
        "spaceport_manifest_version = 1\n[application]\nname = \"x\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"health\"\n\
         [component.health]\nsource = \"{}\"\nhost_status = true\nopenapi = \"health.openapi.json\"\n",
        common::wasm("health").display()
    ));
    let host = Host::start(&app);
    let doc = openapi(&host).await;
    assert_eq!(doc["components"]["schemas"]["Error"]["type"], "object");
    host.wait_for_log("redefines a schema", Duration::from_secs(5));
    let line = host.wait_for_log("a path the host answers itself", Duration::from_secs(5));
    assert!(line.contains("/..."), "{line}");
    // The host still answers its own paths.
    let resp = client().get(host.url("/docs")).send().await.unwrap();
    assert!(resp.text().await.unwrap().contains("swagger-ui"));
}
