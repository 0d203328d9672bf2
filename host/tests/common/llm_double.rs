//! An OpenAI-compatible Chat Completions server for tests, on a loopback
//! port: it speaks the real wire protocol (JSON completions, SSE chunks with
//! tool-call fragments, `data: [DONE]`, error statuses with `Retry-After`)
//! and records every request it receives. The host reaches it through
//! `OPENAI_BASE_URL` only.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the double answers to the next request.
pub enum Reply {
    /// 200 with a JSON completion.
    Json(Value),
    /// An error status, optionally with `Retry-After` seconds.
    Status(u16, Option<u64>),
    /// 200 with an SSE stream of these `data:` payloads, then `data: [DONE]`
    /// (or, if `cut`, the connection breaks after the payloads).
    Stream { chunks: Vec<Value>, cut: bool },
    /// Wait, then answer.
    Delayed(Duration, Box<Reply>),
}

/// One request the double received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    /// The W3C trace context the caller sent, if any.
    pub traceparent: Option<String>,
    /// The protocol the request came by (HTTP/1.1, or HTTP/2 when the host multiplexes).
    pub version: hyper::Version,
    pub body: Value,
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    received: Vec<Received>,
    /// When set, `/embeddings` is answered from the text (see
    /// [`LlmDouble::embed_texts`]) instead of from the script.
    embedding_dimension: Option<usize>,
    /// Connections accepted so far.
    connections: usize,
}

pub struct LlmDouble {
    pub base_url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LlmDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

impl LlmDouble {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind double");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                state.lock().unwrap().connections += 1;
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(req, state.clone()));
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                });
            }
        });
        Self {
            base_url: format!("http://{addr}/v1"),
            state,
            task,
        }
    }

    /// Queue replies, answered in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Answer every `/v1/embeddings` request (as OpenAI shapes it) with a
    /// `dimension`-long vector per input: its words hashed into buckets and
    /// normalised, so texts sharing words are near. Not a language model:
    /// the wire format, batching and dimension are what is under test.
    pub fn embed_texts(&self, dimension: usize) {
        self.state.lock().unwrap().embedding_dimension = Some(dimension);
    }

    /// Stop answering embeddings on its own (`/embeddings` takes scripted replies again).
    pub fn stop_embedding(&self) {
        self.state.lock().unwrap().embedding_dimension = None;
    }

    /// How many connections the host has opened to the double.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    pub fn remaining(&self) -> usize {
        self.state.lock().unwrap().script.len()
    }
}

async fn handle(
    req: hyper::Request<hyper::body::Incoming>,
    state: Arc<Mutex<State>>,
) -> Result<hyper::Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let version = req.version();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let traceparent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let reply = {
        let mut s = state.lock().unwrap();
        let embedding = path
            .ends_with("/embeddings")
            .then_some(s.embedding_dimension)
            .flatten()
            .map(|dimension| embeddings(&body, dimension));
        s.received.push(Received {
            path,
            authorization,
            traceparent,
            version,
            body,
        });
        match embedding {
            Some(reply) => Some(reply),
            None => s.script.pop_front(),
        }
    };
    let mut reply = reply.unwrap_or(Reply::Status(500, None));
    loop {
        match reply {
            Reply::Delayed(d, inner) => {
                tokio::time::sleep(d).await;
                reply = *inner;
            }
            other => return Ok(respond(other)),
        }
    }
}

fn full(status: u16, body: String, content_type: &str) -> hyper::Response<Body> {
    let mut resp =
        hyper::Response::new(Full::new(Bytes::from(body)).map_err(|n| match n {}).boxed());
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert("content-type", content_type.parse().unwrap());
    resp
}

fn respond(reply: Reply) -> hyper::Response<Body> {
    match reply {
        Reply::Json(v) => full(200, v.to_string(), "application/json"),
        Reply::Status(code, retry_after) => {
            let mut resp = full(
                code,
                json!({"error": {"message": format!("double says {code}"), "type": "test"}})
                    .to_string(),
                "application/json",
            );
            if let Some(s) = retry_after {
                resp.headers_mut()
                    .insert("retry-after", s.to_string().parse().unwrap());
            }
            resp
        }
        Reply::Stream { chunks, cut } => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
            tokio::spawn(async move {
                for c in chunks {
                    if tx
                        .send(Ok(Frame::data(Bytes::from(format!("data: {c}\n\n")))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    // Let each chunk travel on its own.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                if cut {
                    let _ = tx.send(Err(std::io::Error::other("cut"))).await;
                } else {
                    let _ = tx
                        .send(Ok(Frame::data(Bytes::from_static(b"data: [DONE]\n\n"))))
                        .await;
                }
            });
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            });
            let mut resp = hyper::Response::new(StreamBody::new(stream).boxed());
            resp.headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            resp
        }
        Reply::Delayed(..) => unreachable!("unwrapped by handle"),
    }
}

/// OpenAI's embeddings answer for `body["input"]` (a string or a list).
fn embeddings(body: &Value, dimension: usize) -> Reply {
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => return Reply::Status(400, None),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            json!({"object": "embedding", "index": index, "embedding": hashed(text, dimension)})
        })
        .collect();
    let tokens: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
    Reply::Json(json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
}

/// Words (lower-cased, 3+ letters, a crude plural folded) hashed into buckets.
fn hashed(text: &str, dimension: usize) -> Vec<f32> {
    use std::hash::{Hash, Hasher};
    let mut v = vec![0f32; dimension.max(1)];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 3)
    {
        let word = word.strip_suffix('s').unwrap_or(&word).to_string();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        word.hash(&mut h);
        let h = h.finish();
        let bucket = (h % v.len() as u64) as usize;
        v[bucket] += if h & (1 << 63) == 0 { 1.0 } else { -1.0 };
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    } else {
        v[0] = 1.0;
    }
    v
}

// ---- payload builders ----

pub fn text(content: &str) -> Reply {
    Reply::Json(json!({
        "id": "chatcmpl-double",
        "object": "chat.completion",
        "model": "double-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    }))
}

/// A completion that calls tools: (id, name, arguments JSON).
pub fn tool_calls(calls: &[(&str, &str, Value)]) -> Reply {
    let calls: Vec<Value> = calls
        .iter()
        .map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}}))
        .collect();
    Reply::Json(json!({
        "id": "chatcmpl-double",
        "object": "chat.completion",
        "model": "double-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": calls}, "finish_reason": "tool_calls"}]
    }))
}

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-double", "object": "chat.completion.chunk", "model": "double-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    })
}

/// A streamed text answer, split into `pieces`.
pub fn stream_text(pieces: &[&str]) -> Vec<Value> {
    let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    chunks.extend(pieces.iter().map(|p| chunk(json!({"content": p}), None)));
    chunks.push(chunk(json!({}), Some("stop")));
    chunks.push(json!({"id": "chatcmpl-double", "object": "chat.completion.chunk", "model": "double-model", "choices": [],
        "usage": {"prompt_tokens": 20, "completion_tokens": pieces.len(), "total_tokens": 20 + pieces.len()}}));
    chunks
}

/// Streamed tool calls whose arguments arrive `split` bytes at a time, the
/// calls' fragments interleaved (index 0, 1, 0, 1, ...).
pub fn stream_tool_calls(calls: &[(&str, &str, Value)], split: usize) -> Vec<Value> {
    let mut chunks = vec![chunk(json!({"role": "assistant", "content": null}), None)];
    for (i, (id, name, _)) in calls.iter().enumerate() {
        chunks.push(chunk(
            json!({"tool_calls": [{"index": i, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
            None,
        ));
    }
    let args: Vec<Vec<String>> = calls
        .iter()
        .map(|(_, _, a)| {
            let s = a.to_string();
            s.as_bytes()
                .chunks(split)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect()
        })
        .collect();
    let longest = args.iter().map(Vec::len).max().unwrap_or(0);
    for step in 0..longest {
        for (i, pieces) in args.iter().enumerate() {
            if let Some(piece) = pieces.get(step) {
                chunks.push(chunk(
                    json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                    None,
                ));
            }
        }
    }
    chunks.push(chunk(json!({}), Some("tool_calls")));
    chunks.push(json!({"id": "chatcmpl-double", "object": "chat.completion.chunk", "model": "double-model", "choices": [],
        "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}}));
    chunks
}
