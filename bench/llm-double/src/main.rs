//! `llm-double [ADDR]`: answers `POST /v1/chat/completions` without state.
//!
//! - Without `"stream": true`, at once: if the last message is a tool result
//!   it answers with text, otherwise it calls `list_tasks`. Enough for one
//!   tool round per chat turn.
//! - `POST /v1/embeddings`: OpenAI's shape, one `LLM_DOUBLE_EMBEDDING_DIM`-long
//!   (default 1536) vector per input, derived from the text (not a model:
//!   what is measured is the host's side of ingest).
//! - With `"stream": true`, server-sent events in the Chat Completions
//!   streaming format and no tool calls: a role chunk at once, then one
//!   `"word "` content chunk every `LLM_DOUBLE_STREAM_INTERVAL_MS` (default
//!   1000) for `LLM_DOUBLE_STREAM_CHUNKS` chunks (default 20), then a chunk
//!   with `finish_reason: "stop"`, a usage chunk (if `stream_options.
//!   include_usage`) and `data: [DONE]`. A held stream is a timer and a few
//!   words of state, no task of its own, so 10k of them cost little.

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

static CALLS: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy)]
struct StreamShape {
    interval: Duration,
    chunks: u32,
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7890".into());
    let shape = StreamShape {
        interval: Duration::from_millis(env_u64("LLM_DOUBLE_STREAM_INTERVAL_MS", 1000)),
        chunks: u32::try_from(env_u64("LLM_DOUBLE_STREAM_CHUNKS", 20)).unwrap_or(u32::MAX),
    };
    // A deep accept queue: the host opens thousands of model connections
    // within seconds when a benchmark ramps up (bind's default is 128).
    let addr: std::net::SocketAddr = addr.parse().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
    })?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(4096)?;
    println!(
        "llm-double listening on http://{}/v1 (streams: {} chunks every {} ms)",
        listener.local_addr()?,
        shape.chunks,
        shape.interval.as_millis()
    );
    loop {
        // Out of descriptors (or a connection reset before accept) must not
        // end the double: report and go on.
        let stream = match listener.accept().await {
            // Small SSE chunks go out at once: with Nagle's algorithm each
            // waits for the host's delayed ACK (40 ms), and a streamed turn
            // would measure that instead of the host.
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                stream
            }
            Err(e) => {
                eprintln!("llm-double: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |req: hyper::Request<hyper::body::Incoming>| async move {
                    let embeddings = req.uri().path().ends_with("/embeddings");
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let n = CALLS.fetch_add(1, Ordering::Relaxed);
                    let resp = if embeddings {
                        embed(&request)
                    } else if request["stream"] == true {
                        streamed(n, &request, shape)
                    } else {
                        whole(n, &request)
                    };
                    Ok::<_, Infallible>(resp)
                },
            );
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type Reply = hyper::Response<Either<Full<Bytes>, SseBody>>;

/// `/v1/embeddings`: a unit vector per input, its numbers from the text's bytes.
fn embed(request: &Value) -> Reply {
    let dim = usize::try_from(env_u64("LLM_DOUBLE_EMBEDDING_DIM", 1536)).unwrap_or(1536);
    let inputs: Vec<&str> = match &request["input"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap_or_default()).collect(),
        _ => Vec::new(),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let len = dim.max(1);
            let mut v = vec![0f32; len];
            for (i, b) in text.bytes().enumerate() {
                v[(i * 31 + usize::from(b)) % len] += 1.0;
            }
            let norm = v
                .iter()
                .map(|x| x * x)
                .sum::<f32>()
                .sqrt()
                .max(f32::MIN_POSITIVE);
            v.iter_mut().for_each(|x| *x /= norm);
            json!({"object": "embedding", "index": index, "embedding": v})
        })
        .collect();
    let tokens: usize = inputs.iter().map(|t| t.len() / 4 + 1).sum();
    let reply = json!({"object": "list", "data": data, "model": request["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}});
    let mut resp = hyper::Response::new(Either::Left(Full::new(Bytes::from(reply.to_string()))));
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// The non-streaming answer: a `list_tasks` call, or text after a tool result.
fn whole(n: u64, request: &Value) -> Reply {
    let last_is_tool = request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .is_some_and(|m| m["role"] == "tool");
    let message = if last_is_tool {
        json!({"role": "assistant", "content": "Here are your tasks."})
    } else {
        json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": format!("call_{n}"), "type": "function",
            "function": {"name": "list_tasks", "arguments": "{\"status\":\"pending\"}"}
        }]})
    };
    let finish = if last_is_tool { "stop" } else { "tool_calls" };
    let reply = json!({
        "id": format!("chatcmpl-{n}"), "object": "chat.completion", "model": "double",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
    });
    let mut resp = hyper::Response::new(Either::Left(Full::new(Bytes::from(reply.to_string()))));
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// The streaming answer: `text/event-stream` paced by a timer.
fn streamed(n: u64, request: &Value, shape: StreamShape) -> Reply {
    let body = SseBody {
        id: format!("chatcmpl-{n}"),
        sent: 0,
        shape,
        usage: request["stream_options"]["include_usage"] == true,
        sleep: Box::pin(tokio::time::sleep(shape.interval)),
        phase: Phase::Start,
    };
    let mut resp = hyper::Response::new(Either::Right(body));
    let headers = resp.headers_mut();
    headers.insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        "cache-control",
        hyper::header::HeaderValue::from_static("no-cache"),
    );
    resp
}

#[derive(PartialEq)]
enum Phase {
    Start,
    Content,
    End,
}

struct SseBody {
    id: String,
    sent: u32,
    shape: StreamShape,
    usage: bool,
    sleep: Pin<Box<tokio::time::Sleep>>,
    phase: Phase,
}

impl SseBody {
    fn chunk(&self, delta: Value, finish: Value) -> String {
        let chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "model": "double",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        });
        format!("data: {chunk}\n\n")
    }

    /// The stop chunk, the usage chunk (if asked for) and `[DONE]`.
    fn tail(&self, out: &mut String) {
        out.push_str(&self.chunk(json!({}), json!("stop")));
        if self.usage {
            let completion = u64::from(self.sent);
            let usage = json!({
                "id": self.id, "object": "chat.completion.chunk", "model": "double", "choices": [],
                "usage": {"prompt_tokens": 100, "completion_tokens": completion, "total_tokens": 100 + completion}
            });
            out.push_str(&format!("data: {usage}\n\n"));
        }
        out.push_str("data: [DONE]\n\n");
    }
}

impl hyper::body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        let mut out = String::new();
        match this.phase {
            Phase::End => return Poll::Ready(None),
            Phase::Start => {
                out = this.chunk(json!({"role": "assistant", "content": ""}), Value::Null);
                this.phase = Phase::Content;
            }
            Phase::Content => {
                if this.sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let next = this.sleep.deadline() + this.shape.interval;
                this.sleep.as_mut().reset(next);
                out.push_str(&this.chunk(json!({"content": "word "}), Value::Null));
                this.sent += 1;
            }
        }
        if this.sent >= this.shape.chunks {
            this.tail(&mut out);
            this.phase = Phase::End;
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))))
    }

    fn is_end_stream(&self) -> bool {
        self.phase == Phase::End
    }
}
