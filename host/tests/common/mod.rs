//! Test harness: runs the real `spaceport` binary on a real socket against
//! real components built from `components/` (by `scripts/test.sh`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Path of a component built by the test script, e.g. `wasm("fault")`.
pub fn wasm(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../components/target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run scripts/test.sh, which builds the components before the tests",
        path.display()
    );
    path
}

/// Compiled components are shared between tests (keyed by content and engine).
fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-compile-cache")
}

/// A temporary application directory with a manifest.
pub struct App {
    pub dir: tempfile::TempDir,
}

impl App {
    pub fn new(manifest: &str) -> Self {
        let app = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        app.write_manifest(manifest);
        app
    }

    pub fn manifest(&self) -> PathBuf {
        self.dir.path().join("spin-like.toml")
    }

    pub fn write_manifest(&self, text: &str) {
        // Write-then-rename, as an editor or deploy tool would.
        let tmp = self.dir.path().join(".spin-like.toml.tmp");
        std::fs::write(&tmp, text).expect("write manifest");
        std::fs::rename(&tmp, self.manifest()).expect("rename manifest");
    }

    /// Copy a built component into the app directory as `name`.
    pub fn install(&self, component: &str, name: &str) -> PathBuf {
        let dest = self.dir.path().join(name);
        let tmp = self.dir.path().join(format!(".{name}.tmp"));
        std::fs::copy(wasm(component), &tmp).expect("copy component");
        std::fs::rename(&tmp, &dest).expect("rename component");
        dest
    }
}

#[derive(Default)]
struct Output {
    lines: Vec<String>,
}

/// A running `spaceport up`.
pub struct Host {
    child: Child,
    pub base: String,
    output: Arc<(Mutex<Output>, Condvar)>,
}

pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spaceport"));
    cmd.env("SPACEPORT_CACHE_DIR", cache_dir())
        .env("SPACEPORT_MAX_INSTANCES", "64")
        // Tests run many turns for one user quickly; the limits have their own test.
        .env("SPACEPORT_LLM_RATE_PER_MINUTE", "100000")
        .env("SPACEPORT_LLM_CONCURRENT_PER_USER", "64")
        .env_remove("LOG_FORMAT")
        .env_remove("RUST_LOG")
        .env_remove("ALLOWED_ORIGINS")
        .env_remove("CORS_ORIGINS")
        .env_remove("FRONTEND_URL")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env("LOG_LEVEL", "info");
    cmd
}

impl Host {
    pub fn start(app: &App) -> Self {
        Self::start_with(app, &[])
    }

    pub fn start_with(app: &App, env: &[(&str, &str)]) -> Self {
        let mut cmd = command();
        cmd.arg("up")
            .arg("--manifest")
            .arg(app.manifest())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("SPACEPORT_DATA_DIR", app.dir.path().join("data"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn spaceport");
        let output = Arc::new((Mutex::new(Output::default()), Condvar::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let (lock, cvar) = &*output;
                    lock.lock().unwrap().lines.push(line);
                    cvar.notify_all();
                }
            });
        }
        let mut host = Self {
            child,
            base: String::new(),
            output,
        };
        let line = host.wait_for_log("listening on http://", Duration::from_secs(30));
        let addr = line
            .split("listening on http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("address in the listening line")
            .to_string();
        host.base = format!("http://{addr}");
        host.wait_for_log(" ready ", Duration::from_secs(120));
        host
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Wait until a log line contains `needle`; panics with the log on timeout.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        self.wait_for_nth_log(needle, 1, timeout)
    }

    /// Wait until `n` log lines contain `needle`; returns the n-th.
    pub fn wait_for_nth_log(&self, needle: &str, n: usize, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.output;
        let mut out = lock.lock().unwrap();
        loop {
            if let Some(line) = out.lines.iter().filter(|l| l.contains(needle)).nth(n - 1) {
                return line.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "no log line #{n} containing {needle:?} within {timeout:?}; log:\n{}",
                    out.lines.join("\n")
                );
            }
            out = cvar.wait_timeout(out, deadline - now).unwrap().0;
        }
    }

    pub fn count_logs(&self, needle: &str) -> usize {
        let out = self.output.0.lock().unwrap();
        out.lines.iter().filter(|l| l.contains(needle)).count()
    }

    pub fn logs(&self) -> String {
        self.output.0.lock().unwrap().lines.join("\n")
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Wait for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "host did not exit within {timeout:?}; log:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `spaceport <args>` to completion; returns (status, stdout + stderr).
pub fn run(args: &[&str]) -> (ExitStatus, String) {
    let out = command().args(args).output().expect("run spaceport");
    (out.status, output_text(&out))
}

/// `run` with extra environment variables.
pub fn run_with(args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let mut cmd = command();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run spaceport");
    (out.status, output_text(&out))
}

/// A finished process's stdout followed by its stderr.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// GET `url` (with a bearer token if given) and parse the JSON answer, whatever its status.
pub async fn get_json(url: String, token: Option<&str>) -> serde_json::Value {
    let mut req = client().get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON body")
}

/// A 429 `rate_limited` JSON answer with `Retry-After`.
pub async fn assert_rate_limited(resp: reqwest::Response) {
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited", "{body}");
}

/// The body's bytes as text, as far as they came: also from a response
/// cut short (which `text()` would discard).
pub async fn body_so_far(mut resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
    }
    String::from_utf8_lossy(&body).into_owned()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A manifest with one fault component served at `/...` plus health.
pub fn fault_manifest(fault_source: &Path, health_source: &Path, extra: &str) -> String {
    format!(
        r#"
spaceport_manifest_version = 1
[application]
name = "test-app"
version = "9.9.9"

[[trigger.http]]
route = "/health"
component = "health"

[[trigger.http]]
route = "/fault/..."
component = "fault"

[component.health]
source = "{health}"
host_status = true

[component.fault]
source = "{fault}"
context = true
[component.fault.limits]
timeout_ms = 1000
memory_mb = 32
{extra}
"#,
        health = health_source.display(),
        fault = fault_source.display(),
    )
}

pub mod db;
pub mod llm_double;
pub mod qdrant_double;

pub const JWT_SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";

/// Which database a scenario runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A host running the default manifest (`spin-like.toml`'s components) on a database.
pub struct TodoHost {
    pub host: Host,
    pub app: App,
    pub pg: Option<db::PgDatabase>,
    env: Vec<(String, String)>,
}

pub fn default_manifest() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join("spin-like.toml"))
        .expect("read spin-like.toml")
        .replace(
            "source = \"components/",
            &format!("source = \"{}/components/", root.display()),
        )
        .replace(
            "openapi = \"components/",
            &format!("openapi = \"{}/components/", root.display()),
        )
        .replace(
            "migrations = \"migrations/",
            &format!("migrations = \"{}/migrations/", root.display()),
        )
}

impl TodoHost {
    pub async fn start(backend: Backend, env: &[(&str, &str)]) -> Self {
        Self::start_manifest(backend, &default_manifest(), env).await
    }

    pub async fn start_manifest(backend: Backend, manifest: &str, env: &[(&str, &str)]) -> Self {
        let app = App::new(manifest);
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(db::PgDatabase::create().await),
        };
        let mut vars: Vec<(&str, &str)> = vec![("JWT_SECRET_KEY", JWT_SECRET)];
        if let Some(pg) = &pg {
            vars.push(("DATABASE_URL", pg.url.as_str()));
        }
        vars.extend_from_slice(env);
        let host = Host::start_with(&app, &vars);
        let env = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self { host, app, pg, env }
    }

    /// A host the test started itself (e.g. on data it prepared first).
    pub fn adopt(host: Host, app: App, pg: Option<db::PgDatabase>, env: &[(&str, &str)]) -> Self {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self { host, app, pg, env }
    }

    /// Delete an account behind the host's back (its tokens stay validly signed).
    pub async fn delete_user(&self, id: &str) {
        use sqlx::Connection;
        match &self.pg {
            Some(pg) => {
                let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
                sqlx::query("DELETE FROM spaceport.users WHERE id = $1")
                    .bind(id)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            None => {
                let path = self.app.dir.path().join("data").join("host.db");
                let url = format!("sqlite:{}", path.display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(id)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }

    /// Stop the host and start a new process on the same data.
    pub fn restart(&mut self) {
        self.host.signal("TERM");
        self.host.wait_exit(Duration::from_secs(15));
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.host = Host::start_with(&self.app, &env);
    }
}

/// A registered, logged-in user.
pub struct User {
    pub id: String,
    pub token: String,
    pub email: String,
}

impl Host {
    pub async fn register(&self, email: &str, password: &str) -> User {
        let c = client();
        let resp = c
            .post(self.url("/api/auth/register"))
            .json(&serde_json::json!({ "email": email, "password": password, "name": "Test User" }))
            .send()
            .await
            .expect("register");
        assert_eq!(
            resp.status(),
            201,
            "{}",
            resp.text().await.unwrap_or_default()
        );
        self.login(email, password).await
    }

    pub async fn login(&self, email: &str, password: &str) -> User {
        let resp = client()
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.expect("login json");
        User {
            id: body["user"]["id"].as_str().expect("user id").to_string(),
            token: body["access_token"].as_str().expect("token").to_string(),
            email: email.to_string(),
        }
    }

    /// `POST /api/{user}/tools/{name}` with `args` as the user → (status, JSON).
    pub async fn call_tool(
        &self,
        user: &User,
        name: &str,
        args: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.call(
            user,
            reqwest::Method::POST,
            &format!("/api/{}/tools/{name}", user.id),
            Some(args),
        )
        .await
    }

    /// `method path` with the user's token and an optional JSON body → (status, JSON).
    pub async fn call(
        &self,
        user: &User,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = client()
            .request(method, self.url(path))
            .bearer_auth(&user.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }
}

/// Run an async scenario against both backends as two tests.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A throwaway HTTP server on 127.0.0.1 (an upstream, a collector): every
/// request goes to `answer`. Returns `host:port`.
pub async fn serve_http<F, Fut>(answer: F) -> String
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = hyper::Response<http_body_util::Full<bytes::Bytes>>>
        + Send
        + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let answer = answer.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            });
        }
    });
    addr
}
