//! The newcomer's loop, as the README tells it, per language:
//! `spaceport new` → `spaceport build` → `spaceport test` → `spaceport up`
//! → an answer over HTTP. Each test scaffolds into a fresh project that has
//! what a checkout of this repository gives a developer (the SDKs, `wit/`,
//! `scripts/componentize.sh`, the components workspace) and nothing else.

mod common;
use common::{App, Host};
use reqwest::Method;
use serde_json::json;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository root")
}

/// A fresh project: a manifest with one route (health), the shared parts of
/// the repository linked in, and a components workspace with only the SDK.
fn project() -> App {
    let root = repo();
    let health = root.join("components/target/wasm32-wasip2/release/health.wasm");
    let app = App::new(&format!(
        r#"spaceport_manifest_version = 1

[application]
name = "newcomer"

[[trigger.http]]
route = "/health"
component = "health"

[component.health]
source = "{}"
host_status = true
"#,
        health.display()
    ));
    let dir = app.dir.path();
    std::fs::create_dir_all(dir.join("components/.cargo")).unwrap();
    for link in [
        "scripts",
        "wit",
        "components/sdk",
        "components/sdk-python",
        // Shares the compiled dependencies (wit-bindgen, serde) with the repo's components.
        "components/target",
    ] {
        std::os::unix::fs::symlink(root.join(link), dir.join(link)).unwrap();
    }
    // A copy, not a link: componentize-js builds in a sandbox that sees only
    // the directory holding the app and the SDK, and no link out of it.
    copy_dir(
        &root.join("components/sdk-js"),
        &dir.join("components/sdk-js"),
    );
    for file in ["components/.cargo/config.toml", "components/Cargo.lock"] {
        std::fs::copy(root.join(file), dir.join(file)).unwrap();
    }
    let workspace = std::fs::read_to_string(root.join("components/Cargo.toml")).unwrap();
    let members = workspace
        .lines()
        .find(|l| l.starts_with("members"))
        .expect("members line");
    std::fs::write(
        dir.join("components/Cargo.toml"),
        workspace.replace(members, r#"members = ["sdk"]"#),
    )
    .unwrap();
    app
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Run `spaceport ARGS` in the project; its exit status and output.
fn spaceport(app: &App, args: &[&str]) -> (bool, String) {
    let out = common::command()
        .current_dir(app.dir.path())
        .args(args)
        .output()
        .expect("run spaceport");
    (out.status.success(), common::output_text(&out))
}

fn newcomer_loop(name: &str, lang: &str, kind: &str) -> (App, Host) {
    let app = project();
    let (ok, out) = spaceport(&app, &["new", name, "--lang", lang, "--kind", kind]);
    assert!(ok, "spaceport new failed:\n{out}");
    let manifest = std::fs::read_to_string(app.manifest()).unwrap();
    assert!(
        manifest.contains(&format!("[component.{name}]")),
        "{manifest}"
    );

    // Scaffolding again changes nothing and says so.
    let (ok, out) = spaceport(&app, &["new", name, "--lang", lang, "--kind", kind]);
    assert!(!ok && out.contains("nothing was changed"), "{out}");
    assert_eq!(std::fs::read_to_string(app.manifest()).unwrap(), manifest);

    let (ok, out) = spaceport(&app, &["build", name]);
    assert!(ok, "spaceport build failed:\n{out}");

    let (ok, out) = spaceport(&app, &["test", name]);
    assert!(ok, "spaceport test failed:\n{out}");
    let summary = out
        .lines()
        .rev()
        .find(|l| l.contains(" passed, "))
        .unwrap_or("");
    assert!(
        summary.ends_with(")") && summary.contains(" 0 failed") && !summary.starts_with("0 passed"),
        "{out}"
    );

    let host = Host::start(&app);
    (app, host)
}

async fn tool_answers(host: &Host, snake: &str) {
    let user = host.register("new@example.com", "password1").await;
    let (status, body) = host
        .call(
            &user,
            Method::POST,
            &format!("/api/{}/tools/{snake}", user.id),
            Some(json!({"text": "buy milk and eggs"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"],
        json!({"words": 4, "characters": 17}),
        "{body}"
    );
    // It is listed with the schema its language derived.
    let tools = common::get_json(host.url("/api/tools"), None).await;
    let listed = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == snake)
        .unwrap_or_else(|| panic!("{snake} not in {tools}"));
    assert_eq!(
        listed["parameters"]["required"],
        json!(["text"]),
        "{listed}"
    );
}

async fn http_answers(host: &Host, name: &str) {
    let user = host.register("new@example.com", "password1").await;
    let (status, body) = host
        .call(&user, Method::GET, &format!("/api/{name}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hello"], user.id.as_str(), "{body}");
    assert_eq!(body["path"], format!("/api/{name}"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_rust_tool_builds_passes_and_serves() {
    let (_app, host) =
        tokio::task::spawn_blocking(|| newcomer_loop("word-count-rs", "rust", "tool"))
            .await
            .unwrap();
    tool_answers(&host, "word_count_rs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_python_tool_builds_passes_and_serves() {
    let (_app, host) =
        tokio::task::spawn_blocking(|| newcomer_loop("word-count-py", "python", "tool"))
            .await
            .unwrap();
    tool_answers(&host, "word_count_py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_javascript_http_component_builds_passes_and_serves() {
    let (_app, host) = tokio::task::spawn_blocking(|| newcomer_loop("hello-js", "js", "http"))
        .await
        .unwrap();
    http_answers(&host, "hello-js").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_javascript_tool_builds_passes_and_serves() {
    let (_app, host) = tokio::task::spawn_blocking(|| newcomer_loop("word-count-js", "js", "tool"))
        .await
        .unwrap();
    tool_answers(&host, "word_count_js").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_python_http_component_builds_passes_and_serves() {
    let (_app, host) = tokio::task::spawn_blocking(|| newcomer_loop("hello-py", "python", "http"))
        .await
        .unwrap();
    http_answers(&host, "hello-py").await;
}
