//! The baseline for the task benchmark: `POST /api/{user}/tasks` and
//! `GET /api/{user}/tasks` handled natively with Spaceport's own pools
//! (`spaceport::db`), JWT check (`spaceport::auth`) and the same SQL the
//! task-tools component runs — everything but the WebAssembly.
//!
//! `DATABASE_URL=... JWT_SECRET_KEY=... native-tasks [ADDR]` (settings read by
//! the host's own clap definitions, so they mean what they mean to `spaceport up`).

use bytes::Bytes;
use clap::Parser;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value as Json, json};
use spaceport::services::auth::{Auth, AuthConfig};
use spaceport::services::databases::{DatabaseSpec, Databases};
use spaceport::services::db::{Database, DbConfig, Rows, Value};
use std::sync::Arc;

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(default_value = "127.0.0.1:7873")]
    addr: String,
    #[command(flatten)]
    db: DbConfig,
    #[command(flatten)]
    auth: AuthConfig,
}

const COLUMNS: &str = "id, title, description, completed, created_at, updated_at";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args { addr, db, auth } = Args::parse();
    // The same layout as the host: tasks in their own database, accounts apart.
    let spec = DatabaseSpec {
        name: "tasks".into(),
        migrations: Some("migrations/tasks".into()),
    };
    let mut databases = Databases::open(&db, &[spec]).await?;
    let db = databases
        .named
        .remove("tasks")
        .ok_or_else(|| anyhow::anyhow!("the tasks database did not open"))?;
    // Accounts: the host checks a token's user still exists; so does the baseline.
    let host = databases.host;
    let auth = Arc::new(Auth::new(&auth, false)?);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "native-tasks listening on http://{}",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let (db, host, auth) = (db.clone(), host.clone(), auth.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (db, host, auth) = (db.clone(), host.clone(), auth.clone());
                async move { Ok::<_, std::convert::Infallible>(handle(req, &db, &host, &auth).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn reply(status: StatusCode, body: &Json) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn tasks(rows: &Rows) -> Vec<Json> {
    rows.rows
        .iter()
        .map(|r| {
            let v = |i: usize| match &r[i] {
                Value::Integer(n) => json!(n),
                Value::Text(s) => json!(s),
                Value::Boolean(b) => json!(b),
                _ => Json::Null,
            };
            json!({"id": v(0), "title": v(1), "description": v(2), "completed": v(3), "created_at": v(4), "updated_at": v(5)})
        })
        .collect()
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    db: &Database,
    host: &Database,
    auth: &Auth,
) -> Response<Full<Bytes>> {
    let principal = match auth.verify(req.headers()) {
        Ok(p) => p,
        Err(e) => return reply(StatusCode::UNAUTHORIZED, &json!({"error": e.to_string()})),
    };
    match host
        .query(
            "SELECT 1 FROM users WHERE id = $1",
            &[Value::Text(principal.user_id.clone())],
        )
        .await
    {
        Ok(rows) if !rows.rows.is_empty() => {}
        Ok(_) => return reply(StatusCode::UNAUTHORIZED, &json!({"error": "invalid_token"})),
        Err(e) => {
            return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"error": e.to_string()}),
            );
        }
    }
    let path: Vec<&str> = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if path.len() != 3 || path[0] != "api" || path[2] != "tasks" || path[1] != principal.user_id {
        return reply(StatusCode::NOT_FOUND, &json!({"error": "not_found"}));
    }
    let user = Value::Text(principal.user_id.clone());
    match *req.method() {
        Method::GET => match db
            .query(
                &format!("SELECT {COLUMNS} FROM tasks WHERE user_id = $1 ORDER BY id"),
                &[user],
            )
            .await
        {
            Ok(rows) => reply(StatusCode::OK, &json!(tasks(&rows))),
            Err(e) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"error": e.to_string()}),
            ),
        },
        Method::POST => {
            let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
                return reply(StatusCode::BAD_REQUEST, &json!({"error": "body"}));
            };
            let title = serde_json::from_slice::<Json>(&body)
                .ok()
                .and_then(|v| v["title"].as_str().map(|t| t.trim().to_string()))
                .filter(|t| !t.is_empty() && t.chars().count() <= 200);
            let Some(title) = title else {
                return reply(StatusCode::UNPROCESSABLE_ENTITY, &json!({"error": "title"}));
            };
            let now = Value::Text(now_rfc3339());
            let sql = format!(
                "INSERT INTO tasks (user_id, title, description, completed, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COLUMNS}"
            );
            match db
                .query(
                    &sql,
                    &[
                        user,
                        Value::Text(title),
                        Value::Null,
                        Value::Boolean(false),
                        now,
                    ],
                )
                .await
            {
                Ok(rows) => reply(
                    StatusCode::CREATED,
                    &tasks(&rows).into_iter().next().unwrap_or(Json::Null),
                ),
                Err(e) => reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({"error": e.to_string()}),
                ),
            }
        }
        _ => reply(StatusCode::METHOD_NOT_ALLOWED, &json!({"error": "method"})),
    }
}

fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // Same format as the component's (spaceport_sdk::time); exact value is irrelevant here.
    format!("{}.{:03}Z", now.as_secs(), now.subsec_millis())
}
