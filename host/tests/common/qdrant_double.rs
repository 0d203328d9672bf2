//! A stand-in for Qdrant (no server can be installed here) that speaks the
//! REST shapes Qdrant documents: `{"result", "status": "ok", "time"}` on
//! success, `{"status": {"error": "..."}, "time"}` with 4xx on failure, 404
//! for a missing collection, the `api-key` header, point ids that must be
//! unsigned integers or UUIDs, and its filter syntax (`must` of `key` +
//! `match.value` / `range` / `has_id`). The host's client is written against
//! Qdrant's documentation, not against this file.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Collection {
    size: usize,
    distance: String,
    points: BTreeMap<String, (Vec<f64>, Map<String, Value>)>,
}

#[derive(Default)]
struct State {
    collections: BTreeMap<String, Collection>,
    /// (method, path) of every request.
    requests: Vec<(String, String)>,
    down: bool,
}

pub struct QdrantDouble {
    pub url: String,
    pub api_key: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for QdrantDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body = Full<Bytes>;

impl QdrantDouble {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let api_key = "qdrant-double-key".to_string();
        let (shared, key) = (state.clone(), api_key.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (state, key) = (shared.clone(), key.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        handle(req, state.clone(), key.clone())
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            api_key,
            state,
            task,
        }
    }

    /// Answer 503 to everything (a Qdrant outage) until `false`.
    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn collections(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .collections
            .keys()
            .cloned()
            .collect()
    }
}

fn reply(status: u16, body: Value) -> hyper::Response<Body> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn ok(result: Value) -> hyper::Response<Body> {
    reply(
        200,
        json!({ "result": result, "status": "ok", "time": 0.000_1 }),
    )
}

fn fail(status: u16, error: &str) -> hyper::Response<Body> {
    reply(
        status,
        json!({ "status": { "error": error }, "time": 0.000_1 }),
    )
}

fn valid_id(id: &Value) -> bool {
    match id {
        Value::Number(n) => n.is_u64(),
        Value::String(s) => {
            let hex: String = s.chars().filter(|c| *c != '-').collect();
            s.len() == 36 && hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
        }
        _ => false,
    }
}

/// A stored id as Qdrant answers it: an unsigned integer, or a UUID string.
fn id_value(key: &str) -> Value {
    key.parse::<u64>()
        .map_or_else(|_| Value::String(key.to_string()), Value::from)
}

fn id_key(id: &Value) -> String {
    id.as_str().map_or_else(|| id.to_string(), str::to_string)
}

fn get_path<'a>(payload: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let mut parts = key.split('.');
    let mut v = payload.get(parts.next()?)?;
    for p in parts {
        v = v.as_object()?.get(p)?;
    }
    Some(v)
}

fn passes(filter: &Value, id: &str, payload: &Map<String, Value>) -> Result<bool, String> {
    let Some(must) = filter.get("must") else {
        return Ok(true);
    };
    let must = must.as_array().ok_or("Format error in JSON body: must")?;
    for c in must {
        if let Some(ids) = c.get("has_id") {
            let ids = ids.as_array().ok_or("has_id")?;
            if !ids.iter().any(|i| id_key(i) == id) {
                return Ok(false);
            }
            continue;
        }
        let key = c["key"].as_str().ok_or("Format error in JSON body: key")?;
        let found = get_path(payload, key);
        if let Some(m) = c.get("match") {
            let want = m
                .get("value")
                .ok_or("Format error in JSON body: match.value")?;
            let equal = match (want, found) {
                (Value::Number(a), Some(Value::Number(b))) => a.as_f64() == b.as_f64(),
                (a, Some(b)) => a == b,
                (_, None) => false,
            };
            if !equal {
                return Ok(false);
            }
        } else if let Some(r) = c.get("range") {
            let Some(x) = found.and_then(Value::as_f64) else {
                return Ok(false);
            };
            let bound = |n: &str| r.get(n).and_then(Value::as_f64);
            if bound("gt").is_some_and(|b| x <= b)
                || bound("gte").is_some_and(|b| x < b)
                || bound("lt").is_some_and(|b| x >= b)
                || bound("lte").is_some_and(|b| x > b)
            {
                return Ok(false);
            }
        } else {
            return Err("Format error in JSON body: unknown condition".into());
        }
    }
    Ok(true)
}

fn score(distance: &str, a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    match distance {
        "Dot" => dot,
        "Euclid" => a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt(),
        _ => {
            let (na, nb) = (
                a.iter().map(|x| x * x).sum::<f64>().sqrt(),
                b.iter().map(|x| x * x).sum::<f64>().sqrt(),
            );
            if na == 0.0 || nb == 0.0 {
                0.0
            } else {
                dot / (na * nb)
            }
        }
    }
}

async fn handle(
    req: hyper::Request<hyper::body::Incoming>,
    state: Arc<Mutex<State>>,
    key: String,
) -> Result<hyper::Response<Body>, Infallible> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let presented = req
        .headers()
        .get("api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let mut s = state.lock().unwrap();
    s.requests.push((method.clone(), path.clone()));
    if s.down {
        return Ok(fail(503, "Service Unavailable"));
    }
    if path == "/healthz" {
        return Ok(hyper::Response::new(Full::new(Bytes::from_static(
            b"healthz check passed",
        ))));
    }
    if presented.as_deref() != Some(key.as_str()) {
        return Ok(fail(403, "Invalid api-key"));
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let resp = match (method.as_str(), parts.as_slice()) {
        ("GET", ["collections", name]) => match s.collections.get(*name) {
            Some(c) => ok(json!({
                "status": "green",
                "optimizer_status": "ok",
                "points_count": c.points.len(),
                "config": { "params": { "vectors": { "size": c.size, "distance": c.distance } } },
            })),
            None => fail(
                404,
                &format!("Not found: Collection `{name}` doesn't exist!"),
            ),
        },
        ("PUT", ["collections", name]) => {
            if s.collections.contains_key(*name) {
                fail(
                    409,
                    &format!("Wrong input: Collection `{name}` already exists!"),
                )
            } else {
                let size = body["vectors"]["size"].as_u64().unwrap_or(0) as usize;
                let distance = body["vectors"]["distance"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                if size == 0
                    || !["Cosine", "Dot", "Euclid", "Manhattan"].contains(&distance.as_str())
                {
                    fail(422, "Format error in JSON body: vectors")
                } else {
                    s.collections.insert(
                        name.to_string(),
                        Collection {
                            size,
                            distance,
                            points: BTreeMap::new(),
                        },
                    );
                    ok(json!(true))
                }
            }
        }
        (_, ["collections", name, ..]) if !s.collections.contains_key(*name) => fail(
            404,
            &format!("Not found: Collection `{name}` doesn't exist!"),
        ),
        ("PUT", ["collections", name, "points"]) => {
            let c = s.collections.get_mut(*name).unwrap();
            let points = body["points"].as_array().cloned().unwrap_or_default();
            let mut bad = None;
            for p in &points {
                let v = p["vector"].as_array().map(Vec::len).unwrap_or(0);
                if !valid_id(&p["id"]) {
                    bad = Some(fail(
                        400,
                        &format!(
                            "Format error in JSON body: value {} is not a valid point ID, valid values are either an unsigned integer or a UUID",
                            p["id"]
                        ),
                    ));
                } else if v != c.size {
                    bad = Some(fail(
                        400,
                        &format!(
                            "Wrong input: Vector dimension error: expected dim: {}, got {v}",
                            c.size
                        ),
                    ));
                }
            }
            match bad {
                Some(r) => r,
                None => {
                    for p in points {
                        let vector = p["vector"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .filter_map(Value::as_f64)
                            .collect();
                        let payload = p["payload"].as_object().cloned().unwrap_or_default();
                        c.points.insert(id_key(&p["id"]), (vector, payload));
                    }
                    ok(json!({ "operation_id": 1, "status": "completed" }))
                }
            }
        }
        ("POST", ["collections", name, "points", "search"]) => {
            let c = &s.collections[*name];
            let q: Vec<f64> = body["vector"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_f64)
                .collect();
            if q.len() != c.size {
                fail(
                    400,
                    &format!(
                        "Wrong input: Vector dimension error: expected dim: {}, got {}",
                        c.size,
                        q.len()
                    ),
                )
            } else {
                let filter = body.get("filter").cloned().unwrap_or(Value::Null);
                let mut hits = Vec::new();
                let mut error = None;
                for (id, (v, payload)) in &c.points {
                    match passes(&filter, id, payload) {
                        Ok(true) => {
                            hits.push((score(&c.distance, &q, v), id.clone(), payload.clone()))
                        }
                        Ok(false) => {}
                        Err(e) => error = Some(e),
                    }
                }
                if let Some(e) = error {
                    fail(400, &e)
                } else {
                    let lower_better = c.distance == "Euclid";
                    hits.sort_by(|a, b| {
                        let o = a.0.total_cmp(&b.0);
                        if lower_better { o } else { o.reverse() }
                    });
                    if let Some(t) = body["score_threshold"].as_f64() {
                        hits.retain(|h| if lower_better { h.0 <= t } else { h.0 >= t });
                    }
                    hits.truncate(body["limit"].as_u64().unwrap_or(10) as usize);
                    ok(Value::Array(
                        hits.into_iter()
                            .map(|(score, id, payload)| json!({ "id": id_value(&id), "version": 1, "score": score, "payload": payload }))
                            .collect(),
                    ))
                }
            }
        }
        ("POST", ["collections", name, "points", "count"]) => {
            let c = &s.collections[*name];
            let filter = body.get("filter").cloned().unwrap_or(Value::Null);
            let n = c
                .points
                .iter()
                .filter(|(id, (_, p))| passes(&filter, id, p).unwrap_or(false))
                .count();
            ok(json!({ "count": n }))
        }
        ("POST", ["collections", name, "points", "delete"]) => {
            let c = s.collections.get_mut(*name).unwrap();
            if let Some(ids) = body["points"].as_array() {
                for id in ids {
                    c.points.remove(&id_key(id));
                }
            } else {
                let filter = body["filter"].clone();
                c.points
                    .retain(|id, (_, p)| !passes(&filter, id, p).unwrap_or(false));
            }
            ok(json!({ "operation_id": 2, "status": "completed" }))
        }
        _ => fail(404, &format!("Not found: {method} {path}")),
    };
    Ok(resp)
}
