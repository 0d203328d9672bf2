//! Hot swap: a component file replaced under load switches new requests to
//! the new version without a failed request; in-flight requests finish on
//! the old one; a broken file is rejected; manifest edits reload routes.

mod common;
use common::{App, Host, client, wasm};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

fn manifest(app: &App, extra_route: &str) -> String {
    format!(
        r#"
spaceport_manifest_version = 1
[application]
name = "swap-app"
version = "1.0.0"

[[trigger.http]]
route = "/health"
component = "health"
[[trigger.http]]
route = "/..."
component = "swap"
{extra_route}

[component.health]
source = "{health}"
host_status = true
[component.swap]
source = "{swap}"
context = true
host_status = true
[component.swap.limits]
timeout_ms = 10000
"#,
        health = wasm("health").display(),
        swap = app.dir.path().join("swap.wasm").display(),
    )
}

/// Which build answered `/`: the fault component reports itself, health's landing page has a name.
fn which(body: &Value) -> &'static str {
    if body["component"] == "fault" {
        "fault"
    } else if body["name"] == "swap-app" {
        "health"
    } else {
        "unknown"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replacing_a_component_under_load_drops_nothing() {
    let app = App::new("");
    app.install("fault", "swap.wasm");
    app.write_manifest(&manifest(&app, ""));
    let host = Host::start(&app);
    let c = client();

    // An in-flight request on the old version.
    let inflight = {
        let (c, url) = (c.clone(), host.url("/x/sleep?ms=1500"));
        tokio::spawn(async move {
            let resp = c.get(url).send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        })
    };

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::<&'static str>::new()));
    let loaders: Vec<_> = (0..4)
        .map(|_| {
            let (c, url) = (c.clone(), host.url("/"));
            let (stop, failures, seen) = (stop.clone(), failures.clone(), seen.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match c.get(&url).send().await {
                        Ok(r) if r.status() == 200 => {
                            let body: Value = r.json().await.unwrap();
                            seen.lock().unwrap().push(which(&body));
                        }
                        _ => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    app.install("health", "swap.wasm");
    host.wait_for_log("hot reload applied", Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for l in loaders {
        l.await.unwrap();
    }

    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests failed during the swap"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.first(), Some(&"fault"));
    assert_eq!(seen.last(), Some(&"health"));
    assert!(!seen.contains(&"unknown"));
    // Once the new version answered, the old one never did again (per client order).
    let first_new = seen.iter().position(|w| *w == "health").unwrap();
    assert!(
        seen[first_new..].iter().filter(|w| **w == "fault").count() <= 4,
        "old version kept answering after the swap: {seen:?}"
    );

    let (status, body) = inflight.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        body["slept_ms"], 1500,
        "the in-flight request finished on the old version"
    );
}

#[tokio::test]
async fn a_broken_replacement_is_rejected_and_the_old_version_keeps_serving() {
    let app = App::new("");
    let swap = app.install("fault", "swap.wasm");
    app.write_manifest(&manifest(&app, ""));
    let host = Host::start(&app);
    let c = client();

    std::fs::write(&swap, b"\0asm definitely not a component").unwrap();
    host.wait_for_log("new version rejected", Duration::from_secs(30));
    let resp = c.get(host.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(which(&resp.json::<Value>().await.unwrap()), "fault");

    // A good file after the broken one is picked up.
    app.install("health", "swap.wasm");
    host.wait_for_log("hot reload applied", Duration::from_secs(60));
    let resp = c.get(host.url("/")).send().await.unwrap();
    assert_eq!(which(&resp.json::<Value>().await.unwrap()), "health");
}

#[tokio::test]
async fn manifest_edits_reload_routes_without_a_restart() {
    let app = App::new("");
    app.install("fault", "swap.wasm");
    app.write_manifest(&manifest(&app, ""));
    let host = Host::start(&app);
    let c = client();

    // Before: /health goes to health, everything else to swap.
    let resp = c.get(host.url("/status")).send().await.unwrap();
    assert_eq!(which(&resp.json::<Value>().await.unwrap()), "fault");

    // Route /status to health instead.
    app.write_manifest(&manifest(
        &app,
        "[[trigger.http]]\nroute = \"/status\"\ncomponent = \"health\"\n",
    ));
    host.wait_for_log("hot reload applied", Duration::from_secs(30));
    let resp = c.get(host.url("/status")).send().await.unwrap();
    assert_eq!(
        resp.status(),
        404,
        "health answers 404 for a path it does not serve"
    );
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "not_found");

    // A broken manifest is rejected and the running routes stay.
    app.write_manifest("spaceport_manifest_version = 1\n[application\n");
    host.wait_for_log("hot reload rejected", Duration::from_secs(30));
    let resp = c.get(host.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}
