//! Test fixture, never served by the default manifest: misbehaves on request
//! so the host's isolation can be tested. The last path segment picks the
//! behaviour; anything else answers 200 with what the host told it.

use serde_json::json;
use spaceport_sdk::bindings::wasi::clocks::monotonic_clock;
use spaceport_sdk::{
    Handler, Request, Response, context, host_status, llm, sql, tools, variables, vectors,
};

struct Fault;

impl Handler for Fault {
    fn handle(req: Request) -> Response {
        // Resumed after a relay: say what came back (appended to the body).
        if let Some(relayed) = llm::relayed() {
            let state = String::from_utf8_lossy(&relayed.state).to_string();
            return Response::stream(200, "text/plain", move |w| {
                let text = match relayed.outcome {
                    Ok(done) => format!("|resumed {state}: {}", done.content.unwrap_or_default()),
                    Err(e) => format!("|resumed {state}: error {e:?}"),
                };
                let _ = w.write(text.as_bytes());
            });
        }
        let action = req.path.rsplit('/').next().unwrap_or_default().to_string();
        match action.as_str() {
            // Relay a completion in a plain-text format ("[piece]"), then end
            // the body; `relay-trap` traps after relaying, before the body ends.
            "relay" | "relay-trap" | "relay-twice" => {
                let trap = action == "relay-trap";
                let twice = action == "relay-twice";
                Response::stream(200, "text/plain", move |w| {
                    let _ = w.write(b"before");
                    let request = llm::Request {
                        messages: vec![llm::Message {
                            role: llm::Role::User,
                            content: Some("hi".into()),
                            tool_calls: Vec::new(),
                            tool_call_id: None,
                        }],
                        tools: Vec::new(),
                        model: None,
                        temperature: None,
                        max_tokens: None,
                    };
                    let format = llm::RelayFormat {
                        prefix: "[".into(),
                        json_text: false,
                        suffix: "]".into(),
                        keepalive: String::new(),
                        keepalive_ms: 0,
                    };
                    let first = llm::relay(&request, &format, b"s1");
                    if twice {
                        let second = llm::relay(&request, &format, b"s2");
                        let _ = w.write(format!("|first {first:?}|second {second:?}").as_bytes());
                    }
                    if trap {
                        panic!("fault component traps after relaying");
                    }
                })
            }
            // Spin forever: only the host's deadline stops this.
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            // Allocate until the memory limit says no.
            "hog" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => panic!("fault component asked to trap"),
            // Print to stdout and stderr (the host turns them into log lines).
            "print" => {
                println!("hello from the component");
                print!("a line in ");
                // Two separate writes reach the host: it must join them into one line.
                let _ = std::io::Write::flush(&mut std::io::stdout());
                println!("two writes");
                eprintln!("something went sideways");
                Response::text(200, "printed")
            }
            // Print far more than the host will log.
            "shout" => {
                let line = "x".repeat(1023);
                for _ in 0..2048 {
                    println!("{line}");
                }
                Response::text(200, "shouted")
            }
            // Wait (without burning CPU) for ?ms=N milliseconds, default 1000.
            "sleep" => {
                let ms: u64 = req
                    .query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("ms="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1000);
                monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                Response::json(200, &json!({ "slept_ms": ms }))
            }
            // GET ?url=... through wasi:http/outgoing-handler.
            "outbound" => {
                let url = req
                    .query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("url="))
                    .unwrap_or_default()
                    .to_string();
                match fetch(&url) {
                    Ok(status) => Response::json(200, &json!({ "status": status })),
                    Err(error) => Response::json(200, &json!({ "error": error })),
                }
            }
            // Use each grantable capability once and report what the host said:
            // the documented denial when the manifest does not grant it.
            "cap-sql" => match sql::query("default", "SELECT 1", &[]) {
                Ok(r) => Response::json(200, &json!({ "ok": r.rows.len() })),
                Err(e) => Response::json(200, &json!({ "error": format!("{e:?}") })),
            },
            "cap-llm" => match llm::embed(&["x".to_string()], None) {
                Ok(v) => Response::json(200, &json!({ "ok": v.len() })),
                Err(e) => Response::json(200, &json!({ "error": format!("{e:?}") })),
            },
            // The vectors capability, one call per JSON body `{"op", ...}`.
            "vectors" => {
                let input: serde_json::Value =
                    serde_json::from_slice(&req.body).unwrap_or_default();
                Response::json(200, &vector_op(&input))
            }
            "cap-tools" => match tools::call("list_tasks", "{}") {
                Ok(v) => Response::json(200, &json!({ "ok": v })),
                Err(e) => Response::json(200, &json!({ "error": format!("{e:?}") })),
            },
            // Run the statement in the body (`{"db", "statement"}`) as written:
            // the hostile-component tests try to escape the data boundary with it.
            "sql-exec" => {
                let input: serde_json::Value =
                    serde_json::from_slice(&req.body).unwrap_or_default();
                let db = input["db"].as_str().unwrap_or_default();
                let statement = input["statement"].as_str().unwrap_or_default();
                match sql::query(db, statement, &[]) {
                    Ok(r) => Response::json(
                        200,
                        &json!({ "ok": { "columns": r.columns, "rows": r.rows.len() } }),
                    ),
                    Err(e) => Response::json(200, &json!({ "error": format!("{e:?}") })),
                }
            }
            // Open transactions without closing them: the host caps how many.
            "cap-tx" => {
                let mut open = Vec::new();
                let mut errors = Vec::new();
                for _ in 0..4 {
                    match sql::begin("notes") {
                        Ok(tx) => open.push(tx),
                        Err(e) => errors.push(format!("{e:?}")),
                    }
                }
                Response::json(200, &json!({ "open": open.len(), "errors": errors }))
            }
            // These two have no error channel: without the grant they trap.
            "cap-status" => Response::json(200, &json!({ "ok": host_status::get().app_name })),
            "cap-whoami" => {
                Response::json(200, &json!({ "ok": context::user().map(|u| u.user_id) }))
            }
            // Try to read the host's environment and filesystem: both must be empty.
            "sandbox" => {
                let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                let fs = std::fs::read_dir("/").is_ok();
                Response::json(200, &json!({ "env": env, "root_readable": fs }))
            }
            _ => Response::json(
                200,
                &json!({
                    "component": "fault",
                    "variant": option_env!("FAULT_VARIANT").unwrap_or("v1"),
                    "method": req.method,
                    "path": req.path,
                    "query": req.query,
                    "body_len": req.body.len(),
                    "request_id": context::request_id(),
                    "component_id": context::component_id(),
                    "matched_route": context::matched_route(),
                    "path_info": context::path_info(),
                    "params": context::route_params()
                        .into_iter()
                        .map(|p| (p.name, p.value))
                        .collect::<std::collections::BTreeMap<_, _>>(),
                    "user": context::user().map(|u| u.user_id),
                    // The platform's headers, and whatever session credential reached it (none should).
                    "headers": req.headers()
                        .iter()
                        .filter(|(n, _)| n.starts_with("spaceport-") || n == "cookie" || n == "x-session-id")
                        .cloned()
                        .collect::<std::collections::BTreeMap<_, _>>(),
                    "variables": variables::get_all(),
                }),
            ),
        }
    }
}

/// The status of `GET url`, or the error as text.
fn fetch(url: &str) -> Result<u16, String> {
    use spaceport_sdk::bindings::wasi::http::outgoing_handler;
    use spaceport_sdk::bindings::wasi::http::types::{Fields, OutgoingRequest, Scheme};
    let (scheme, rest) = url.split_once("://").ok_or("expected scheme://host/path")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let scheme = if scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "bad authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "bad path")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|()| "response already taken")?
        .map_err(|e| format!("{e:?}"))?;
    Ok(response.status())
}

spaceport_sdk::http_component!(Fault);

/// One vectors call from a JSON description; `{"ok": ...}` or `{"error": "<Debug of the WIT error>"}`.
fn vector_op(input: &serde_json::Value) -> serde_json::Value {
    let collection = input["collection"].as_str().unwrap_or("docs").to_string();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x.as_f64().unwrap_or(f64::NAN) as f32)
                    .collect()
            })
            .unwrap_or_default()
    };
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let result: Result<serde_json::Value, vectors::VectorError> = match input["op"]
        .as_str()
        .unwrap_or_default()
    {
        "ensure" => {
            let distance = match input["distance"].as_str() {
                Some("dot") => vectors::Distance::Dot,
                Some("euclid") => vectors::Distance::Euclid,
                _ => vectors::Distance::Cosine,
            };
            let dimension = input["dimension"].as_u64().unwrap_or(3) as u32;
            vectors::ensure_collection(&collection, dimension, distance).map(|()| json!(null))
        }
        "upsert" => {
            let points: Vec<vectors::Point> = input["points"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| vectors::Point {
                    id: p["id"].as_str().unwrap_or_default().to_string(),
                    vector: floats(&p["vector"]),
                    payload: if p["payload"].is_string() {
                        p["payload"].as_str().unwrap_or_default().to_string()
                    } else {
                        p["payload"].to_string()
                    },
                })
                .collect();
            vectors::upsert(&collection, &points).map(|()| json!(points.len()))
        }
        "search" => vectors::search(
            &collection,
            &vectors::Query {
                vector: floats(&input["vector"]),
                top_k: input["top_k"].as_u64().unwrap_or(10) as u32,
                filter: text(&input["filter"]),
                score_threshold: input["threshold"].as_f64().map(|t| t as f32),
            },
        )
        .map(|hits| {
            json!(
                hits.iter()
                    .map(|h| json!({
                        "id": h.id,
                        "score": (f64::from(h.score) * 1000.0).round() / 1000.0,
                        "payload": serde_json::from_str::<serde_json::Value>(&h.payload).unwrap_or_default(),
                    }))
                    .collect::<Vec<_>>()
            )
        }),
        "delete" => {
            let ids: Vec<String> = input["ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            vectors::delete_points(&collection, &ids).map(|n| json!(n))
        }
        "delete-where" => vectors::delete_where(&collection, input["filter"].as_str().unwrap_or_default())
            .map(|n| json!(n)),
        "count" => vectors::count(&collection, text(&input["filter"]).as_deref()).map(|n| json!(n)),
        other => return json!({ "error": format!("unknown op `{other}`") }),
    };
    match result {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "error": format!("{e:?}") }),
    }
}
