//! Tasks of the Todo chatbot.
//!
//! REST for the frontend (the host has already checked the bearer token and
//! that `{user_id}` is the caller):
//! `GET/POST /api/{user_id}/tasks`, `GET/PUT/DELETE /api/{user_id}/tasks/{id}`,
//! `PATCH /api/{user_id}/tasks/{id}/complete`.
//!
//! Tools for the agent (`tool-provider`): `add_task`, `list_tasks`,
//! `update_task`, `complete_task`, `delete_task`.

mod input;
mod store;
mod tools;

use input::FieldError;
use serde_json::{Value, json};
use spaceport_sdk::{Handler, Request, Response, context};
use store::{Patch, StoreError};

struct Tasks;

impl Handler for Tasks {
    fn handle(req: Request) -> Response {
        let Some(user) = context::user() else {
            // The manifest requires auth on these routes; this is a misconfiguration.
            return Response::error(401, "not_authenticated", "missing bearer token");
        };
        let path_info = context::path_info();
        let segments: Vec<&str> = path_info.split('/').filter(|s| !s.is_empty()).collect();
        let result = match (req.method.as_str(), segments.as_slice()) {
            ("GET", []) => list(&user.user_id, &req),
            ("POST", []) => create(&user.user_id, &req),
            ("GET", [id]) => task_id(id).and_then(|id| done(store::get(&user.user_id, id), 200)),
            ("PUT", [id]) => task_id(id).and_then(|id| update(&user.user_id, id, &req)),
            ("DELETE", [id]) => {
                task_id(id).and_then(|id| done(store::delete(&user.user_id, id), 200))
            }
            ("PATCH", [id, "complete"]) => {
                task_id(id).and_then(|id| complete(&user.user_id, id, &req))
            }
            (_, [] | [_] | [_, "complete"]) => Err(Response::error(
                405,
                "method_not_allowed",
                &format!("{} is not supported here", req.method),
            )),
            _ => Err(Response::error(
                404,
                "not_found",
                &format!("no resource at {}", req.path),
            )),
        };
        result.unwrap_or_else(|r| r)
    }
}

type Reply = Result<Response, Response>;

fn invalid(e: FieldError) -> Response {
    Response::json(
        422,
        &json!({
            "error": "validation_error",
            "detail": e.to_string(),
            "field": e.field,
            "request_id": context::request_id(),
        }),
    )
}

fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::NotFound => Response::error(404, "not_found", "task not found"),
        StoreError::Unavailable(_) => Response::error(
            503,
            "database_unavailable",
            "the database is unavailable; retry shortly",
        ),
        StoreError::Failed(m) => Response::error(500, "internal_error", &m),
    }
}

fn done<T: serde::Serialize>(result: Result<T, StoreError>, status: u16) -> Reply {
    result
        .map(|v| Response::json(status, &v))
        .map_err(store_error)
}

/// The `{id}` segment: an integer, also written as `4.0` (an integer to JSON
/// Schema, so clients generated from the OpenAPI document may send it so).
fn task_id(segment: &str) -> Result<i64, Response> {
    segment
        .parse::<i64>()
        .ok()
        .or_else(|| {
            segment
                .parse::<f64>()
                .ok()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        })
        .ok_or_else(|| invalid(FieldError::new("id", "must be an integer task id")))
}

fn body(req: &Request) -> Result<serde_json::Map<String, Value>, Response> {
    match req.json::<Value>()? {
        Value::Object(map) => Ok(map),
        _ => Err(invalid(FieldError::new("body", "expected a JSON object"))),
    }
}

fn list(user: &str, req: &Request) -> Reply {
    let mut statuses = req.query.split('&').filter_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(name) == "status").then(|| decode(value))
    });
    let status = statuses.next();
    if statuses.next().is_some() {
        return Err(invalid(FieldError::new("status", "must be given once")));
    }
    let filter = input::filter(status.as_deref().unwrap_or("all")).map_err(invalid)?;
    done(store::list(user, filter), 200)
}

/// A query string's name or value: `%XX` escapes decoded, `+` a space.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |b: u8| (b as char).to_digit(16);
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn create(user: &str, req: &Request) -> Reply {
    let map = body(req)?;
    let new = input::new_task(&map).map_err(invalid)?;
    done(
        store::create(user, &new.title, new.description.as_deref()),
        201,
    )
}

fn update(user: &str, id: i64, req: &Request) -> Reply {
    let map = body(req)?;
    let patch = input::patch(&map).map_err(invalid)?;
    done(store::update(user, id, patch), 200)
}

/// Mark done (or not, with `{"completed": false}`); with no body, toggle.
fn complete(user: &str, id: i64, req: &Request) -> Reply {
    let completed = if req.body.iter().all(u8::is_ascii_whitespace) {
        let current = store::get(user, id).map_err(store_error)?;
        !current.completed
    } else {
        let map = body(req)?;
        match map.get("completed") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid(FieldError::new("completed", "must be a boolean"))),
        }
    };
    let patch = Patch {
        completed: Some(completed),
        ..Patch::default()
    };
    done(store::update(user, id, patch), 200)
}

spaceport_sdk::http_component!(Tasks);
use tools::TaskTools;
spaceport_sdk::tool_provider!(TaskTools);
