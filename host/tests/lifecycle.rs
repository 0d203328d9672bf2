//! Process lifecycle: graceful shutdown drains in-flight requests; manifest
//! errors stop the host with a message naming the file, key and expectation;
//! `spaceport check` names a component's missing import; `spaceport bundle`
//! packs an app that serves on its own.

mod common;
use common::{App, Host, client, fault_manifest, run, wasm};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_an_in_flight_request() {
    let app = App::new(&fault_manifest(&wasm("fault"), &wasm("health"), ""));
    let mut host = Host::start(&app);
    let url = host.url("/fault/sleep?ms=700");
    let inflight = tokio::spawn(async move {
        let resp = client().get(url).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    host.signal("TERM");
    host.wait_for_log("SIGTERM received", Duration::from_secs(5));
    let (status, body) = inflight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"slept_ms\":700"));
    let exit = host.wait_exit(Duration::from_secs(10));
    assert!(exit.success(), "{exit:?}");
    assert!(host.logs().contains("all connections drained"));
    // New connections are refused once shutdown began.
    assert!(client().get(host.url("/health")).send().await.is_err());
}

fn up_fails(manifest_text: &str) -> String {
    let app = App::new(manifest_text);
    let manifest = app.manifest();
    let (status, output) = run(&[
        "up",
        "--manifest",
        manifest.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(
        !status.success(),
        "host started with a bad manifest:\n{output}"
    );
    assert!(
        output.contains(manifest.to_str().unwrap()),
        "the error names the file:\n{output}"
    );
    output
}

#[test]
fn bad_toml_is_reported_with_its_position() {
    let out = up_fails("spaceport_manifest_version = 1\n[application\nname = 'x'\n");
    assert!(out.contains("line 2"), "{out}");
}

#[test]
fn unknown_keys_name_the_key_and_what_was_expected() {
    let text = fault_manifest(&wasm("fault"), &wasm("health"), "").replace(
        "[component.fault.limits]",
        "[component.fault.limits]\ncpu_ms = 5",
    );
    let out = up_fails(&text);
    assert!(out.contains("unknown field `cpu_ms`"), "{out}");
    assert!(
        out.contains("timeout_ms") && out.contains("memory_mb"),
        "{out}"
    );
}

#[test]
fn dangling_component_references_are_named() {
    let text = fault_manifest(&wasm("fault"), &wasm("health"), "")
        .replace("component = \"fault\"", "component = \"fualt\"");
    let out = up_fails(&text);
    assert!(out.contains("trigger.http[1].component"), "{out}");
    assert!(out.contains("no component named `fualt`"), "{out}");
    assert!(out.contains("expected one of: fault, health"), "{out}");
}

#[test]
fn a_missing_component_file_is_named() {
    let text = fault_manifest(
        std::path::Path::new("/nonexistent/fault.wasm"),
        &wasm("health"),
        "",
    );
    let out = up_fails(&text);
    assert!(out.contains("component.fault.source"), "{out}");
    assert!(out.contains("/nonexistent/fault.wasm"), "{out}");
}

#[test]
fn check_passes_for_the_default_manifest() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../spin-like.toml");
    let (status, out) = run(&["check", "--manifest", manifest]);
    assert!(status.success(), "{out}");
    assert!(out.contains("ok: component `health`"), "{out}");
}

#[test]
fn check_names_the_component_and_its_missing_import() {
    let app = App::new("");
    // A component importing an interface this host does not provide.
    let component = wat::parse_str(
        r#"(component
             (import "acme:weather/forecast@1.0.0" (instance (export "today" (func (result u32)))))
           )"#,
    )
    .unwrap();
    let path = app.dir.path().join("weather.wasm");
    std::fs::write(&path, component).unwrap();
    app.write_manifest(&format!(
        "spaceport_manifest_version = 1\n[application]\nname = \"x\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"weather\"\n\
         [component.weather]\nsource = \"{}\"\n",
        path.display()
    ));
    let (status, out) = run(&["check", "--manifest", app.manifest().to_str().unwrap()]);
    assert!(!status.success(), "{out}");
    assert!(out.contains("component `weather`"), "{out}");
    assert!(out.contains("acme:weather/forecast@1.0.0"), "{out}");
}

/// `bundle` gathers the manifest and its components into a directory that
/// serves on its own (its manifest's relative sources resolve inside it).
#[tokio::test]
async fn a_bundle_serves_on_its_own() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../spin-like.toml");
    let app = App {
        dir: tempfile::tempdir().unwrap(),
    };
    let (status, text) = run(&[
        "bundle",
        "--manifest",
        manifest,
        "--out",
        app.dir.path().to_str().unwrap(),
    ]);
    assert!(status.success(), "{text}");
    for file in [
        "spin-like.toml",
        "components/target/wasm32-wasip2/release/task_tools.wasm",
    ] {
        assert!(
            app.dir.path().join(file).is_file(),
            "{file} missing: {text}"
        );
    }
    let host = Host::start(&app);
    let resp = client().get(host.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(host.logs().contains(&app.dir.path().display().to_string()));
}

#[test]
fn a_component_outside_the_app_cannot_be_bundled() {
    let app = App::new("");
    app.write_manifest(&fault_manifest(&wasm("fault"), &wasm("health"), ""));
    let out = tempfile::tempdir().unwrap();
    let (status, text) = run(&[
        "bundle",
        "--manifest",
        app.manifest().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(!status.success(), "{text}");
    assert!(
        text.contains("must be a path inside the manifest's directory"),
        "{text}"
    );
}

#[test]
fn bundling_into_the_app_itself_is_refused_and_loses_nothing() {
    let app = App::new("");
    let health = app.install("health", "health.wasm");
    app.write_manifest(
        "spaceport_manifest_version = 1\n[application]\nname = \"x\"\n\
         [[trigger.http]]\nroute = \"/health\"\ncomponent = \"health\"\n\
         [component.health]\nsource = \"health.wasm\"\nhost_status = true\n",
    );
    let size = std::fs::metadata(&health).unwrap().len();
    let (status, text) = run(&[
        "bundle",
        "--manifest",
        app.manifest().to_str().unwrap(),
        "--out",
        app.dir.path().to_str().unwrap(),
    ]);
    assert!(!status.success(), "{text}");
    assert!(text.contains("the app's own directory"), "{text}");
    assert_eq!(std::fs::metadata(&health).unwrap().len(), size);
    assert!(std::fs::metadata(app.manifest()).unwrap().len() > 0);
}
