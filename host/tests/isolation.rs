//! The data boundary, tried as a hostile component would: a component granted
//! `sql = ["notes"]` runs whatever SQL it likes and still reaches only its own
//! database — not the host's accounts, not another component's tables, not a
//! file beside it — on SQLite and PostgreSQL alike, while the host and other
//! components carry on.

mod common;

use common::{App, Backend, Host, JWT_SECRET, client, db::PgDatabase, wasm};
use serde_json::{Value, json};
use std::path::Path;

fn manifest(app: &App) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The hostile component's own database, with one table.
    for (backend, sql) in [
        (
            "sqlite",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);",
        ),
        (
            "postgres",
            "CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, body TEXT);",
        ),
    ] {
        let dir = app.dir.path().join("notes").join(backend);
        std::fs::create_dir_all(&dir).expect("migrations dir");
        std::fs::write(dir.join("0001_notes.sql"), sql).expect("migration");
    }
    format!(
        r#"
spaceport_manifest_version = 1
[application]
name = "isolation"

[[trigger.http]]
route = "/health"
component = "health"
[[trigger.http]]
route = "/evil/..."
component = "evil"
[[trigger.http]]
route = "/api/:user_id/tasks"
component = "task-tools"
auth = "required"
user_param = "user_id"

[database.notes]
migrations = "notes"
[database.tasks]
migrations = "{root}/migrations/tasks"

[component.health]
source = "{health}"
host_status = true

[component.evil]
source = "{fault}"
sql = ["notes"]
tools = ["task-tools"]
[component.evil.limits]
timeout_ms = 1500

[component.task-tools]
source = "{tools}"
sql = ["tasks"]
context = true
"#,
        root = root.display(),
        health = wasm("health").display(),
        fault = wasm("fault").display(),
        tools = wasm("task_tools").display(),
    )
}

struct Scenario {
    host: Host,
    app: App,
    _pg: Option<PgDatabase>,
}

async fn start(backend: Backend) -> Scenario {
    start_with(backend, &[]).await
}

async fn start_with(backend: Backend, extra: &[(&str, &str)]) -> Scenario {
    let app = App::new("");
    app.write_manifest(&manifest(&app));
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PgDatabase::create().await),
    };
    let mut env = vec![("JWT_SECRET_KEY", JWT_SECRET)];
    if let Some(pg) = &pg {
        env.push(("DATABASE_URL", pg.url.as_str()));
    }
    env.extend_from_slice(extra);
    let host = Host::start_with(&app, &env);
    Scenario { host, app, _pg: pg }
}

/// What the hostile component got back for `statement` on its own database.
async fn exec(host: &Host, statement: &str) -> Value {
    client()
        .post(host.url("/evil/sql-exec"))
        .json(&json!({ "db": "notes", "statement": statement }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON")
}

async fn refused(host: &Host, statement: &str) -> String {
    let answer = exec(host, statement).await;
    let error = answer["error"]
        .as_str()
        .unwrap_or_else(|| panic!("`{statement}` should have been refused, got {answer}"));
    error.to_string()
}

async fn hostile_component_reaches_only_its_own_database(backend: Backend) {
    let s = start(backend).await;
    let host = &s.host;
    let user = host.register("victim@example.com", "password1").await;
    let (status, task) = host
        .call(
            &user,
            reqwest::Method::POST,
            &format!("/api/{}/tasks", user.id),
            Some(json!({ "title": "private" })),
        )
        .await;
    assert_eq!(status, 201, "{task}");

    // Its own database works.
    assert!(exec(host, "INSERT INTO notes (body) VALUES ('mine')").await["ok"].is_object());
    assert_eq!(exec(host, "SELECT * FROM notes").await["ok"]["rows"], 1);

    // The host's accounts: not readable, not writable, not droppable.
    for statement in [
        "SELECT email, password_hash FROM users",
        "UPDATE users SET password_hash = 'owned'",
        "DROP TABLE users",
        // Another component's data.
        "SELECT * FROM tasks",
        "DELETE FROM tasks",
    ] {
        refused(host, statement).await;
    }

    match backend {
        Backend::Sqlite => {
            let data = s.app.dir.path().join("data");
            let stolen = data.join("stolen.db");
            for statement in [
                format!("ATTACH DATABASE '{}' AS stolen", stolen.display()),
                format!("ATTACH DATABASE '{}' AS h", data.join("host.db").display()),
                format!("VACUUM INTO '{}'", data.join("copy.db").display()),
                "SELECT load_extension('/tmp/evil')".to_string(),
                "SELECT readfile('/etc/passwd')".to_string(),
                "PRAGMA journal_mode = DELETE".to_string(),
                "PRAGMA writable_schema = ON".to_string(),
                "PRAGMA database_list".to_string(),
            ] {
                let error = refused(host, &statement).await;
                // The authorizer's refusal is the typed `access-denied` error.
                assert!(
                    error.contains("AccessDenied(") || error.contains("no such function"),
                    "{statement}: {error}"
                );
            }
            assert!(!stolen.exists(), "ATTACH created a file");
            assert!(!data.join("copy.db").exists(), "VACUUM INTO wrote a copy");
            // Introspecting its own tables is fine.
            assert!(exec(host, "PRAGMA table_info(notes)").await["ok"].is_object());
        }
        Backend::Postgres => {
            for statement in [
                "SET ROLE postgres",
                "SELECT * FROM spaceport.users",
                "SELECT * FROM tasks.tasks",
                "SELECT * FROM spaceport_legacy.users",
                "CREATE TABLE public.planted (a int)",
                "ALTER ROLE CURRENT_USER SUPERUSER",
            ] {
                let error = refused(host, statement).await;
                assert!(
                    error.contains("AccessDenied(") || error.contains("does not exist"),
                    "{statement}: {error}"
                );
            }
            // RESET ROLE is harmless: the pool logs in as the database's own role.
            assert!(exec(host, "RESET ROLE").await["ok"].is_object());
            refused(host, "SELECT * FROM spaceport.users").await;
            let me = exec(host, "SELECT current_user").await;
            assert!(me["ok"].is_object(), "{me}");
        }
    }

    // Nothing was lost: the victim still logs in and sees the task.
    let again = host.login("victim@example.com", "password1").await;
    let (status, tasks) = host
        .call(
            &again,
            reqwest::Method::GET,
            &format!("/api/{}/tasks", again.id),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(tasks[0]["title"], "private", "{tasks}");
    let health = client()
        .get(host.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    assert!(host.count_logs("panicked") == 0, "{}", host.logs());
}

/// Budgets a component cannot exceed through the host: rows and bytes per
/// result, open transactions, statement time (two pooled connections, so
/// statements left running would starve the next request), instance slots.
async fn hostile_component_cannot_exceed_its_budgets(backend: Backend) {
    let s = start_with(
        backend,
        &[
            // Two connections: both are taken by the transactions below, and
            // by the two endless statements, which must give them back.
            ("SPACEPORT_DB_POOL_SIZE", "2"),
            ("SPACEPORT_SQL_MAX_ROWS", "1000"),
            ("SPACEPORT_SQL_STATEMENT_TIMEOUT_MS", "4000"),
        ],
    )
    .await;
    let host = &s.host;
    let endless = match backend {
        Backend::Sqlite => {
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n, zeroblob(1000) FROM r"
        }
        // (A recursive CTE streams; generate_series would be materialized first.)
        Backend::Postgres => {
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n, repeat('x', 1000) FROM r"
        }
    };
    let error = refused(host, endless).await;
    assert!(
        error.contains("LimitExceeded(") && error.contains("1000 rows"),
        "{error}"
    );
    // The connection is usable right after the cut-off.
    assert!(exec(host, "SELECT count(*) FROM notes").await["ok"].is_object());

    // Transactions hold connections: a few per instance at most.
    let tx: Value = client()
        .get(host.url("/evil/cap-tx"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(tx["open"], 2, "{tx}");
    assert!(
        tx["errors"][0]
            .as_str()
            .unwrap_or_default()
            .contains("LimitExceeded("),
        "{tx}"
    );

    // A statement that never ends dies with its instance, and frees the one connection.
    let never = match backend {
        Backend::Sqlite => {
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
        }
        Backend::Postgres => "SELECT pg_sleep(3600)",
    };
    let run_forever = || async {
        client()
            .post(host.url("/evil/sql-exec"))
            .json(&json!({ "db": "notes", "statement": never }))
            .send()
            .await
            .expect("request")
            .status()
    };
    let (a, b) = tokio::join!(run_forever(), run_forever());
    assert_eq!((a.as_u16(), b.as_u16()), (504, 504));
    let started = std::time::Instant::now();
    assert_eq!(
        exec(host, "SELECT count(*) FROM notes").await["ok"]["rows"],
        1
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the next statement waited {:?} for the connection",
        started.elapsed()
    );
}

/// A nested tool call needs an instance slot like any request: when none is
/// free the agent gets the typed `unavailable`, not a 500 or an overcommit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_tool_call_on_a_full_host_is_unavailable() {
    let s = start_with(Backend::Sqlite, &[("SPACEPORT_MAX_INSTANCES", "1")]).await;
    let answer: Value = client()
        .get(s.host.url("/evil/cap-tools"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("Unavailable(") && error.contains("slot"),
        "{answer}"
    );
}

both_backends!(
    hostile_component_reaches_only_its_own_database,
    hostile_component_cannot_exceed_its_budgets
);
