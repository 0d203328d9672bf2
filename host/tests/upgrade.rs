//! An existing deployment of the single-database layout (users, tasks,
//! conversations and messages in one SQLite file or in schema `public`) is
//! upgraded at start without losing a row: accounts move to the host's own
//! database, tasks and chats to the databases that now own them, ids and
//! passwords unchanged, and the old tables are kept aside, never dropped.

mod common;

use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use common::{App, Backend, Host, JWT_SECRET, TodoHost, db::PgDatabase, default_manifest};
use reqwest::Method;
use serde_json::Value;
use sqlx::{Connection, Executor};
use std::path::Path;

const LEGACY: &str = "../migrations/legacy";

/// Today's data, written into the legacy schema: two users, their tasks
/// (with a gap in the ids), one conversation with two messages.
fn legacy_rows(backend: Backend) -> Vec<String> {
    let hash = argon2::Argon2::default()
        .hash_password(b"password1", &SaltString::generate(&mut OsRng))
        .expect("hash")
        .to_string();
    let (yes, no) = match backend {
        Backend::Sqlite => ("1", "0"),
        Backend::Postgres => ("TRUE", "FALSE"),
    };
    vec![
        format!(
            "INSERT INTO users (id, email, name, password_hash, created_at) VALUES \
             ('u-ann', 'ann@example.com', 'Ann', '{hash}', '2025-01-02T03:04:05.000Z'), \
             ('u-bob', 'bob@example.com', 'Bob', '{hash}', '2025-01-03T03:04:05.000Z')"
        ),
        format!(
            "INSERT INTO tasks (id, user_id, title, description, completed, created_at, updated_at) VALUES \
             (1, 'u-ann', 'milk', 'two litres', {no}, '2025-02-01T00:00:00.000Z', '2025-02-01T00:00:00.000Z'), \
             (2, 'u-ann', 'bread', NULL, {yes}, '2025-02-02T00:00:00.000Z', '2025-02-03T00:00:00.000Z'), \
             (5, 'u-ann', 'eggs', NULL, {no}, '2025-02-05T00:00:00.000Z', '2025-02-05T00:00:00.000Z'), \
             (7, 'u-bob', 'tea', NULL, {no}, '2025-02-07T00:00:00.000Z', '2025-02-07T00:00:00.000Z')"
        ),
        "INSERT INTO conversations (id, user_id, title, created_at, updated_at) VALUES \
         (3, 'u-ann', 'groceries', '2025-03-01T00:00:00.000Z', '2025-03-01T00:01:00.000Z')"
            .to_string(),
        "INSERT INTO messages (id, conversation_id, user_id, role, content, created_at) VALUES \
         (10, 3, 'u-ann', 'user', 'add milk', '2025-03-01T00:00:00.000Z'), \
         (11, 3, 'u-ann', 'assistant', 'Added milk.', '2025-03-01T00:01:00.000Z')"
            .to_string(),
    ]
}

fn legacy_schema(backend: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(LEGACY)
        .join(backend)
        .join("0001_init.sql");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn write_legacy_sqlite(data: &Path) {
    std::fs::create_dir_all(data).expect("data dir");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(data.join("app.db"))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("legacy file");
    conn.execute(legacy_schema("sqlite").as_str())
        .await
        .expect("legacy schema");
    for statement in legacy_rows(Backend::Sqlite) {
        conn.execute(statement.as_str()).await.expect("legacy rows");
    }
    // Left unclosed-cleanly on purpose would lose nothing either: WAL is checkpointed by the upgrade.
    conn.close().await.expect("close");
}

async fn write_legacy_postgres(url: &str) {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    conn.execute(legacy_schema("postgres").as_str())
        .await
        .expect("legacy schema");
    for statement in legacy_rows(Backend::Postgres) {
        conn.execute(statement.as_str()).await.expect("legacy rows");
    }
    // The legacy sequences were advanced as the old host would have left them.
    conn.execute(
        "SELECT setval('tasks_id_seq', 7); SELECT setval('conversations_id_seq', 3); \
         SELECT setval('messages_id_seq', 11)",
    )
    .await
    .expect("sequences");
}

async fn check_everything_survived(host: &Host) {
    let ann = host.login("ann@example.com", "password1").await;
    assert_eq!(ann.id, "u-ann");
    let bob = host.login("bob@example.com", "password1").await;
    assert_eq!(bob.id, "u-bob");

    let (status, tasks) = host.call(&ann, Method::GET, "/api/u-ann/tasks", None).await;
    assert_eq!(status, 200, "{tasks}");
    let got: Vec<(i64, String, bool, Value)> = tasks
        .as_array()
        .expect("task list")
        .iter()
        .map(|t| {
            (
                t["id"].as_i64().unwrap_or_default(),
                t["title"].as_str().unwrap_or_default().to_string(),
                t["completed"].as_bool().unwrap_or_default(),
                t["description"].clone(),
            )
        })
        .collect();
    // (After the first start a new task follows: the legacy ones come first, unchanged.)
    assert_eq!(
        got[..3],
        [
            (1, "milk".into(), false, Value::from("two litres")),
            (2, "bread".into(), true, Value::Null),
            (5, "eggs".into(), false, Value::Null),
        ]
    );
    assert_eq!(tasks[1]["updated_at"], "2025-02-03T00:00:00.000Z");
    let (_, bobs) = host.call(&bob, Method::GET, "/api/u-bob/tasks", None).await;
    assert_eq!(bobs[0]["id"], 7, "{bobs}");

    let (status, conversation) = host
        .call(&ann, Method::GET, "/api/u-ann/conversations/3", None)
        .await;
    assert_eq!(status, 200, "{conversation}");
    assert_eq!(conversation["title"], "groceries");
    let messages = conversation["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2, "{conversation}");
    assert_eq!(messages[0]["id"], 10);
    assert_eq!(messages[1]["content"], "Added milk.");
}

async fn legacy_layout_is_split_without_losing_a_row(backend: Backend) {
    let app = App::new(&default_manifest());
    let pg = match backend {
        Backend::Sqlite => {
            write_legacy_sqlite(&app.dir.path().join("data")).await;
            None
        }
        Backend::Postgres => {
            let pg = PgDatabase::create().await;
            write_legacy_postgres(&pg.url).await;
            Some(pg)
        }
    };
    let url = pg.as_ref().map(|p| p.url.clone());
    let mut env = vec![("JWT_SECRET_KEY", JWT_SECRET)];
    if let Some(url) = &url {
        env.push(("DATABASE_URL", url.as_str()));
    }
    let host = Host::start_with(&app, &env);
    let mut todo = TodoHost::adopt(host, app, pg, &env);
    todo.host.wait_for_log(
        "upgrade: the single-database layout was split",
        std::time::Duration::from_secs(5),
    );
    check_everything_survived(&todo.host).await;

    // New rows continue after the copied ids.
    let ann = todo.host.login("ann@example.com", "password1").await;
    let (status, task) = todo
        .host
        .call(
            &ann,
            Method::POST,
            "/api/u-ann/tasks",
            Some(serde_json::json!({ "title": "butter" })),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    assert!(task["id"].as_i64().unwrap_or_default() > 7, "{task}");

    // The old data is set aside, not dropped.
    match backend {
        Backend::Sqlite => {
            let data = todo.app.dir.path().join("data");
            assert!(data.join("app.db.pre-split").is_file());
            assert!(!data.join("app.db").exists());
        }
        Backend::Postgres => {
            let url = todo.pg.as_ref().map(|p| p.url.clone()).unwrap_or_default();
            let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
            let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM spaceport_legacy.tasks")
                .fetch_one(&mut conn)
                .await
                .expect("legacy tasks kept");
            assert_eq!(kept, 4);
            let public: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .fetch_one(&mut conn)
            .await
            .expect("public tables");
            assert_eq!(public, 0, "legacy tables left in public");
        }
    }

    // A restart neither repeats the copy nor loses the new row.
    todo.restart();
    check_everything_survived(&todo.host).await;
    let (_, tasks) = todo
        .host
        .call(&ann, Method::GET, "/api/u-ann/tasks", None)
        .await;
    assert_eq!(tasks.as_array().map(Vec::len), Some(4), "{tasks}");
}

both_backends!(legacy_layout_is_split_without_losing_a_row);
