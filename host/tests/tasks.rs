//! The task-tools component through the host, on SQLite and PostgreSQL:
//! REST CRUD, validation, the five tools (and the listing of the Python and JS ones), per-user isolation; and on
//! PostgreSQL: a database outage mid-run (503, then recovery, nothing lost)
//! and no connection string in logs or error bodies.

mod common;
use common::{Backend, Host, TodoHost, User, client};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

fn tasks(user: &User) -> String {
    format!("/api/{}/tasks", user.id)
}

async fn crud(backend: Backend) {
    let t = TodoHost::start(backend, &[]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    let base = tasks(&ann);

    let (status, milk) = h
        .call(
            &ann,
            Method::POST,
            &base,
            Some(json!({"title": " buy milk ", "description": "2 litres"})),
        )
        .await;
    assert_eq!(status, 201, "{milk}");
    assert_eq!(milk["title"], "buy milk");
    assert_eq!(milk["description"], "2 litres");
    assert_eq!(milk["completed"], false);
    assert!(milk["created_at"].as_str().unwrap().ends_with('Z'));
    let id = milk["id"].as_i64().unwrap();
    let (_, bread) = h
        .call(&ann, Method::POST, &base, Some(json!({"title": "bread"})))
        .await;
    assert_eq!(bread["description"], Value::Null);

    let (status, list) = h.call(&ann, Method::GET, &base, None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);

    let (status, got) = h
        .call(&ann, Method::GET, &format!("{base}/{id}"), None)
        .await;
    assert_eq!((status, &got["title"]), (200, &json!("buy milk")));

    let (status, upd) = h
        .call(
            &ann,
            Method::PUT,
            &format!("{base}/{id}"),
            Some(json!({"title": "buy oat milk", "description": null})),
        )
        .await;
    assert_eq!(status, 200, "{upd}");
    assert_eq!(upd["title"], "buy oat milk");
    assert_eq!(upd["description"], Value::Null);
    assert!(upd["updated_at"].as_str().unwrap() >= milk["updated_at"].as_str().unwrap());
    // Fields a patch leaves out keep their values, whichever fields it has.
    let bread_url = format!("{base}/{}", bread["id"]);
    let (_, done) = h
        .call(&ann, Method::PATCH, &format!("{bread_url}/complete"), None)
        .await;
    assert_eq!(done["completed"], true);
    let (_, upd) = h
        .call(
            &ann,
            Method::PUT,
            &bread_url,
            Some(json!({"description": "rye"})),
        )
        .await;
    assert_eq!(
        (&upd["title"], &upd["description"], &upd["completed"]),
        (&json!("bread"), &json!("rye"), &json!(true))
    );
    let (_, upd) = h
        .call(
            &ann,
            Method::PUT,
            &bread_url,
            Some(json!({"title": "rye bread"})),
        )
        .await;
    assert_eq!(
        (&upd["title"], &upd["description"], &upd["completed"]),
        (&json!("rye bread"), &json!("rye"), &json!(true))
    );
    let (_, upd) = h
        .call(
            &ann,
            Method::PUT,
            &bread_url,
            Some(json!({"completed": false})),
        )
        .await;
    assert_eq!(
        (&upd["title"], &upd["description"], &upd["completed"]),
        (&json!("rye bread"), &json!("rye"), &json!(false))
    );

    // PATCH .../complete toggles; with a body it sets.
    let (_, done) = h
        .call(&ann, Method::PATCH, &format!("{base}/{id}/complete"), None)
        .await;
    assert_eq!(done["completed"], true);
    let (_, pending) = h
        .call(&ann, Method::GET, &format!("{base}?status=pending"), None)
        .await;
    assert_eq!(pending.as_array().unwrap().len(), 1);
    let (_, completed) = h
        .call(&ann, Method::GET, &format!("{base}?status=completed"), None)
        .await;
    assert_eq!(completed[0]["id"], id);
    let (_, undone) = h
        .call(
            &ann,
            Method::PATCH,
            &format!("{base}/{id}/complete"),
            Some(json!({"completed": false})),
        )
        .await;
    assert_eq!(undone["completed"], false);

    let (status, _) = h
        .call(&ann, Method::DELETE, &format!("{base}/{id}"), None)
        .await;
    assert_eq!(status, 200);
    let (status, body) = h
        .call(&ann, Method::GET, &format!("{base}/{id}"), None)
        .await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

async fn validation(backend: Backend) {
    let t = TodoHost::start(backend, &[]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    let base = tasks(&ann);
    for (body, field) in [
        (json!({"title": ""}), "title"),
        (json!({"title": "   "}), "title"),
        (json!({"title": "x".repeat(201)}), "title"),
        (json!({"title": 42}), "title"),
        (json!({}), "title"),
        (json!({"title": "ok", "description": 5}), "description"),
        (json!(["title"]), "body"),
    ] {
        let (status, resp) = h.call(&ann, Method::POST, &base, Some(body.clone())).await;
        assert_eq!(status, 422, "{body} → {resp}");
        assert_eq!(resp["field"], field, "{body} → {resp}");
    }
    let (status, _) = h
        .call(
            &ann,
            Method::POST,
            &base,
            Some(json!({"title": "x".repeat(200)})),
        )
        .await;
    assert_eq!(status, 201);
    let (_, task) = h
        .call(&ann, Method::POST, &base, Some(json!({"title": "t"})))
        .await;
    let (status, resp) = h
        .call(
            &ann,
            Method::PUT,
            &format!("{base}/{}", task["id"]),
            Some(json!({"completed": "yes"})),
        )
        .await;
    assert_eq!((status, resp["field"].as_str()), (422, Some("completed")));
    let (status, resp) = h
        .call(&ann, Method::GET, &format!("{base}/abc"), None)
        .await;
    assert_eq!((status, resp["field"].as_str()), (422, Some("id")));

    let resp = client()
        .post(h.url(&base))
        .bearer_auth(&ann.token)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_json");
}

async fn five_tools(backend: Backend) {
    let t = TodoHost::start(backend, &[]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;

    let listed = common::get_json(h.url("/api/tools"), None).await;
    let mut names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "add_document",
            "add_task",
            "complete_task",
            "delete_document",
            "delete_task",
            "list_documents",
            "list_tasks",
            "resolve_date",
            "search_documents",
            "summarize_tasks",
            "update_task"
        ]
    );
    let add = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "add_task")
        .unwrap();
    assert_eq!(add["parameters"]["required"], json!(["title"]));

    let (status, added) = h
        .call_tool(&ann, "add_task", json!({"title": "buy milk"}))
        .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["result"]["status"], "created");
    let id = added["result"]["task_id"].as_i64().unwrap();
    h.call_tool(
        &ann,
        "add_task",
        json!({"title": "walk dog", "description": "park"}),
    )
    .await;

    let (_, upd) = h
        .call_tool(
            &ann,
            "update_task",
            json!({"task_id": id, "title": "buy oat milk"}),
        )
        .await;
    assert_eq!(
        upd["result"],
        json!({"task_id": id, "status": "updated", "title": "buy oat milk"})
    );
    let (_, done) = h
        .call_tool(&ann, "complete_task", json!({"task_id": id.to_string()}))
        .await;
    assert_eq!(done["result"]["status"], "completed");
    let (_, pending) = h
        .call_tool(&ann, "list_tasks", json!({"status": "pending"}))
        .await;
    assert_eq!(pending["result"].as_array().unwrap().len(), 1);
    assert_eq!(pending["result"][0]["title"], "walk dog");
    let (_, all) = h.call_tool(&ann, "list_tasks", json!({})).await;
    assert_eq!(all["result"].as_array().unwrap().len(), 2);

    // The REST API sees what the tools did.
    let (_, rest) = h
        .call(&ann, Method::GET, &format!("{}/{id}", tasks(&ann)), None)
        .await;
    assert_eq!(
        (rest["title"].as_str(), rest["completed"].as_bool()),
        (Some("buy oat milk"), Some(true))
    );

    let (_, del) = h
        .call_tool(&ann, "delete_task", json!({"task_id": id}))
        .await;
    assert_eq!(del["result"]["status"], "deleted");

    // Errors are typed.
    let (status, body) = h.call_tool(&ann, "add_task", json!({"title": ""})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_arguments"))
    );
    assert!(body["detail"].as_str().unwrap().contains("title"));
    let (status, body) = h
        .call_tool(&ann, "complete_task", json!({"task_id": id}))
        .await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, body) = h
        .call_tool(&ann, "list_tasks", json!({"status": "someday"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_arguments"))
    );
    let (status, body) = h.call_tool(&ann, "teleport", json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_tool"))
    );
}

async fn users_cannot_touch_each_others_tasks(backend: Backend) {
    let t = TodoHost::start(backend, &[]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    let bob = h.register("bob@example.com", "password2").await;
    let (_, task) = h
        .call(
            &ann,
            Method::POST,
            &tasks(&ann),
            Some(json!({"title": "ann's secret"})),
        )
        .await;
    let id = task["id"].as_i64().unwrap();

    // Bob on Ann's path: refused by the host.
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let (status, _) = h
            .call(
                &bob,
                method,
                &format!("{}/{id}", tasks(&ann)),
                Some(json!({"title": "pwned"})),
            )
            .await;
        assert_eq!(status, 403);
    }
    // Bob on his own path with Ann's task id: it does not exist for him.
    let mine = tasks(&bob);
    assert_eq!(
        h.call(&bob, Method::GET, &format!("{mine}/{id}"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        h.call(
            &bob,
            Method::PUT,
            &format!("{mine}/{id}"),
            Some(json!({"title": "pwned"}))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        h.call(&bob, Method::PATCH, &format!("{mine}/{id}/complete"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        h.call(&bob, Method::DELETE, &format!("{mine}/{id}"), None)
            .await
            .0,
        404
    );
    let (_, list) = h.call(&bob, Method::GET, &mine, None).await;
    assert_eq!(list, json!([]));
    // Nor through the tools.
    for name in ["update_task", "complete_task", "delete_task"] {
        let args = if name == "update_task" {
            json!({"task_id": id, "title": "pwned"})
        } else {
            json!({"task_id": id})
        };
        let (status, body) = h.call_tool(&bob, name, args).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("not_found")),
            "{name}"
        );
    }
    let (_, list) = h.call_tool(&bob, "list_tasks", json!({})).await;
    assert_eq!(list["result"], json!([]));
    let (status, _) = h
        .call(
            &bob,
            Method::POST,
            &format!("/api/{}/tools/list_tasks", ann.id),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 403);
    // Ann's task is untouched.
    let (_, mine) = h
        .call(&ann, Method::GET, &format!("{}/{id}", tasks(&ann)), None)
        .await;
    assert_eq!(
        (mine["title"].as_str(), mine["completed"].as_bool()),
        (Some("ann's secret"), Some(false))
    );
}

/// Without `http_tools = true`, a component's tools are for agents only: not
/// listed, not callable over HTTP, not in the API document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_only_tools_are_not_callable_over_http() {
    let manifest = common::default_manifest().replace("http_tools = true", "");
    let t = TodoHost::start_manifest(Backend::Sqlite, &manifest, &[]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    let (status, body) = h.call_tool(&ann, "list_tasks", json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_tool")),
        "{body}"
    );
    let listed = common::get_json(h.url("/api/tools"), None).await;
    assert_eq!(listed["tools"], json!([]), "{listed}");
    let doc = common::get_json(h.url("/openapi.json"), None).await;
    assert!(doc["paths"]["/api/{user_id}/tools/list_tasks"].is_null());
}

/// The host checks a tool's arguments against the tool's own JSON Schema
/// before the tool runs: unknown fields, wrong types and missing fields are
/// `invalid_arguments` naming what is wrong and where.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_arguments_are_checked_against_their_schema_by_the_host() {
    let t = TodoHost::start(Backend::Sqlite, &[]).await;
    let h = &t.host;
    let ann = h.register("ann@example.com", "password1").await;
    for (args, expect) in [
        (json!({"title": "x", "colour": "red"}), "colour"),
        (json!({"title": 42}), "/title"),
        (json!({}), "title"),
    ] {
        let (status, body) = h.call_tool(&ann, "add_task", args.clone()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some("invalid_arguments")),
            "{args}: {body}"
        );
        assert!(
            body["detail"].as_str().unwrap_or_default().contains(expect),
            "{args}: {body}"
        );
    }
    // Nothing was added.
    let (_, list) = h.call_tool(&ann, "list_tasks", json!({})).await;
    assert_eq!(list["result"], json!([]), "{list}");
}

both_backends!(
    crud,
    validation,
    five_tools,
    users_cannot_touch_each_others_tasks
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_gives_503_then_recovers_without_losing_writes() {
    let pg = common::db::PgDatabase::create().await;
    let target = pg
        .url
        .split('@')
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or("127.0.0.1:5432")
        .to_string();
    let mut proxy = common::db::Proxy::start(&target).await;
    let app = common::App::new(&common::default_manifest());
    // A password must never be logged: use the server's, or add one (trust auth ignores it).
    let url = match common::db::PgDatabase::password(&pg.url) {
        Some(_) => pg.url.clone(),
        None => pg.url_with_password("s3cret-pw-do-not-log"),
    };
    let secret = common::db::PgDatabase::password(&url).unwrap_or_default();
    let url = common::db::PgDatabase {
        name: String::new(),
        url,
    }
    .url_via(&proxy.addr.to_string());
    let h = Host::start_with(
        &app,
        &[
            ("JWT_SECRET_KEY", common::JWT_SECRET),
            ("DATABASE_URL", &url),
            ("SPACEPORT_DB_ACQUIRE_TIMEOUT_MS", "1000"),
        ],
    );
    let ann = h.register("ann@example.com", "password1").await;
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let (status, task) = h
            .call(
                &ann,
                Method::POST,
                &tasks(&ann),
                Some(json!({"title": format!("before {i}")})),
            )
            .await;
        assert_eq!(status, 201);
        acknowledged.push(task["id"].as_i64().unwrap());
    }

    proxy.stop();
    let (status, body) = h
        .call(
            &ann,
            Method::POST,
            &tasks(&ann),
            Some(json!({"title": "during"})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("database_unavailable")),
        "{body}"
    );
    assert!(!body.to_string().contains(&secret));
    let (status, body) = h.call(&ann, Method::GET, &tasks(&ann), None).await;
    assert_eq!(status, 503, "{body}");
    // The host checks the token's user first, in its own database (on the same server).
    let (status, body) = h.call_tool(&ann, "list_tasks", json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("database_unavailable"))
    );
    let resp = client()
        .post(h.url("/api/auth/login"))
        .json(&json!({"email": "ann@example.com", "password": "password1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    // Health notices (the monitor checks every 5 s).
    let mut degraded = false;
    for _ in 0..40 {
        let resp = client().get(h.url("/health")).send().await.unwrap();
        if resp.status() == 503 {
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["status"], "degraded");
            assert_eq!(body["dependencies"]["database"]["status"], "down");
            degraded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(degraded, "health never reported the outage");

    proxy.restart().await;
    let mut recovered = false;
    for _ in 0..40 {
        let (status, _) = h
            .call(
                &ann,
                Method::POST,
                &tasks(&ann),
                Some(json!({"title": "after"})),
            )
            .await;
        if status == 201 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        recovered,
        "requests never recovered after the database came back"
    );
    let (status, list) = h.call(&ann, Method::GET, &tasks(&ann), None).await;
    assert_eq!(status, 200);
    let ids: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    for id in &acknowledged {
        assert!(ids.contains(id), "acknowledged task {id} was lost: {ids:?}");
    }
    assert!(
        !list
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["title"] == "during")
    );

    let logs = h.logs();
    assert!(logs.contains("Using PostgreSQL at 127.0.0.1:"), "{logs}");
    assert!(!logs.contains(&secret), "the password reached the logs");
}

#[test]
fn an_unreachable_database_stops_startup_with_a_clear_error() {
    let app = common::App::new(&common::default_manifest());
    let out = common::command()
        .args(["up", "--listen", "127.0.0.1:0", "--manifest"])
        .arg(app.manifest())
        .env(
            "DATABASE_URL",
            "postgres://app:hunter2-secret@127.0.0.1:1/appdb?sslmode=disable",
        )
        .env("SPACEPORT_DB_ACQUIRE_TIMEOUT_MS", "500")
        .env("SPACEPORT_DATA_DIR", app.dir.path().join("data"))
        .output()
        .unwrap();
    let text = common::output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("DATABASE_URL: cannot connect to PostgreSQL at 127.0.0.1:1/appdb"),
        "{text}"
    );
    assert!(!text.contains("hunter2-secret"), "{text}");
}
