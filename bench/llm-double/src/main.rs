//! `llm-double [ADDR]`: answers `POST /v1/chat/completions` at once, without
//! state: if the last message is a tool result it answers with text,
//! otherwise it calls `list_tasks`. Enough for one tool round per chat turn.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

static CALLS: AtomicU64 = AtomicU64::new(0);

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7890".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "llm-double listening on http://{}/v1",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                |req: hyper::Request<hyper::body::Incoming>| async move {
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let last_is_tool = request["messages"]
                        .as_array()
                        .and_then(|m| m.last())
                        .is_some_and(|m| m["role"] == "tool");
                    let n = CALLS.fetch_add(1, Ordering::Relaxed);
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
                    let mut resp = hyper::Response::new(Full::new(Bytes::from(reply.to_string())));
                    resp.headers_mut().insert(
                        "content-type",
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, std::convert::Infallible>(resp)
                },
            );
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
