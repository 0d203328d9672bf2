//! The host's OpenAI-compatible Chat Completions client behind the `llm`
//! capability: pooled connections, timeouts, bounded retries of 429/5xx
//! (honouring `Retry-After`), SSE streaming with tool-call fragments
//! assembled, and errors mapped to a small typed set. The API key lives here
//! only: it is never logged, put in an error, or handed to a component.

use super::llm_http::{Http2Mode, ModelBody, ModelHttp, read_to_end};
use super::metrics::METRICS;
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use http_body_util::BodyDataStream;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::Instrument;

/// Settings from `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `OPENAI_MODEL`,
/// `OPENAI_EMBEDDING_MODEL`, `LLM_TIMEOUT_SECS`, `LLM_MAX_RETRIES`, read by
/// clap (see `cli::config`).
#[derive(Clone, clap::Args)]
pub struct LlmConfig {
    /// API key of the OpenAI-compatible provider (chat answers 503 without it).
    #[arg(
        long = "openai-api-key",
        env = "OPENAI_API_KEY",
        hide_env_values = true
    )]
    api_key: Option<String>,
    /// Base URL of the OpenAI-compatible API.
    #[arg(long = "openai-base-url", env = "OPENAI_BASE_URL", default_value = "https://api.openai.com/v1",
          value_parser = parse_base_url)]
    pub base_url: String,
    /// Chat model used when a component names none.
    #[arg(
        long = "openai-model",
        env = "OPENAI_MODEL",
        default_value = "gpt-4o-mini"
    )]
    pub model: String,
    /// Embedding model used when a component names none.
    #[arg(
        long = "openai-embedding-model",
        env = "OPENAI_EMBEDDING_MODEL",
        default_value = "text-embedding-3-small"
    )]
    pub embedding_model: String,
    /// Seconds to wait for an answer (and between streamed chunks).
    #[arg(long = "llm-timeout-secs", env = "LLM_TIMEOUT_SECS", default_value = "60", value_parser = parse_secs)]
    pub timeout: Duration,
    /// Retries of a 429/5xx/connection failure.
    #[arg(long = "llm-max-retries", env = "LLM_MAX_RETRIES", default_value_t = 3)]
    pub max_retries: u32,
    /// HTTP/2 to the provider: `auto` (when its TLS offers it), `prior-knowledge`
    /// (also over plain http://, for a server known to speak it) or `off`.
    #[arg(
        long = "llm-http2",
        env = "LLM_HTTP2",
        value_enum,
        default_value = "auto"
    )]
    pub http2: Http2Mode,
    /// Most calls carried at once by one HTTP/2 connection to the provider
    /// (the provider's own limit applies when it is lower).
    #[arg(long = "llm-streams-per-connection", env = "LLM_STREAMS_PER_CONNECTION",
          default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub streams_per_connection: u32,
}

fn parse_base_url(value: &str) -> Result<String, String> {
    Ok(value.trim().trim_end_matches('/').to_string())
}

fn parse_secs(value: &str) -> Result<Duration, String> {
    let secs: u64 = value
        .trim()
        .parse()
        .map_err(|_| format!("expected a whole number of seconds, found `{value}`"))?;
    Ok(Duration::from_secs(secs.max(1)))
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: "https://api.openai.com/v1".into(),
            model: "gpt-4o-mini".into(),
            embedding_model: "text-embedding-3-small".into(),
            timeout: Duration::from_secs(60),
            max_retries: 3,
            http2: Http2Mode::Auto,
            streams_per_connection: 100,
        }
    }
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("api_key", &self.api_key.as_ref().map(|_| "[set]"))
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl LlmConfig {
    pub fn configured(&self) -> bool {
        self.api_key.as_ref().is_some_and(|k| !k.trim().is_empty())
    }

    /// Whether calls may share HTTP/2 connections: over TLS unless `off`
    /// (the provider still has the last word), over plain HTTP only by
    /// prior knowledge.
    pub fn may_use_http2(&self) -> bool {
        match self.http2 {
            Http2Mode::Off => false,
            Http2Mode::PriorKnowledge => true,
            Http2Mode::Auto => self.base_url.starts_with("https://"),
        }
    }
}

/// Why a call failed (mirrors the WIT `llm.error`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error(
        "no LLM API key is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for other providers)"
    )]
    Unconfigured,
    #[error("the provider refused the API key: {0}")]
    Unauthorized(String),
    #[error("rate limited by the provider: {0}")]
    RateLimited(String),
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    #[error("the provider's answer is not a valid completion: {0}")]
    BadResponse(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the provider rejected the request: {0}")]
    InvalidRequest(String),
}

/// A tool call (complete).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// Token usage.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub prompt: u32,
    pub completion: u32,
    pub total: u32,
}

/// A finished completion.
#[derive(Debug, Clone)]
pub struct Completion {
    pub content: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: String,
    pub usage: Option<Usage>,
    pub model: String,
}

/// How forwarding a streamed answer to its receiver ended, when it did not fail.
enum Forwarded {
    /// The completion arrived whole.
    Finished(Box<Completion>),
    /// Nobody was listening any more.
    Abandoned,
}

/// One step of a stream.
#[derive(Debug)]
pub enum StreamItem {
    Content(String),
    /// Boxed: the channel's slots are the size of the largest item, and a
    /// held stream keeps a block of 32 of them.
    Finished(Box<Completion>),
}

/// The client, shared by every instance.
pub struct LlmClient {
    http: ModelHttp,
    config: LlmConfig,
}

/// The most of a provider's answer the host reads (a JSON completion or a
/// batch of embeddings; a streamed answer is read as it comes, not whole).
const MAX_ANSWER_BYTES: usize = 64 << 20;

impl LlmClient {
    pub fn new(config: LlmConfig) -> anyhow::Result<Self> {
        let http = ModelHttp::new(
            &config.base_url,
            config.http2,
            config.streams_per_connection as usize,
        )?;
        Ok(Self { http, config })
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// POST `path` with `body`, retrying 429/5xx/connection errors with
    /// backoff and jitter; returns the first successful response.
    async fn post(
        &self,
        path: &str,
        body: &Value,
        call: &'static str,
    ) -> Result<http::Response<ModelBody>, LlmError> {
        let key = self
            .config
            .api_key
            .as_deref()
            .ok_or(LlmError::Unconfigured)?;
        let url = format!("{}{path}", self.config.base_url);
        let payload = Bytes::from(serde_json::to_vec(body).map_err(|e| {
            LlmError::InvalidRequest(format!("the request cannot be encoded: {e}"))
        })?);
        let mut authorization =
            http::HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                LlmError::Unauthorized("the API key is not a valid header value".into())
            })?;
        // Never in HTTP/2's header compression table, nor in a debug print.
        authorization.set_sensitive(true);
        let mut attempt = 0;
        loop {
            let mut headers = http::HeaderMap::new();
            super::telemetry::inject(&mut headers);
            headers.insert(http::header::AUTHORIZATION, authorization.clone());
            let sent = tokio::time::timeout(
                self.config.timeout,
                self.http.post(&url, headers, payload.clone()),
            )
            .await;
            let (retryable, error, retry_after) = match sent {
                Err(_) => return Err(LlmError::Timeout(self.config.timeout)),
                Ok(Err(e)) => {
                    // The full error names the provider's URL: the log gets it, the caller does not.
                    tracing::warn!(error = %e, "LLM provider unreachable");
                    (
                        true,
                        LlmError::Unavailable("cannot reach the provider".into()),
                        None,
                    )
                }
                Ok(Ok(resp)) if resp.status().is_success() => return Ok(resp),
                Ok(Ok(resp)) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(http::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    // The provider's body may echo the request or name its
                    // internals: it goes to the log, the caller gets the status.
                    let body = provider_message(resp.into_body(), self.config.timeout).await;
                    tracing::warn!(status = status.as_u16(), provider_message = %body, "LLM provider refused the call");
                    let detail = format!("the provider answered HTTP {}", status.as_u16());
                    match status.as_u16() {
                        401 | 403 => return Err(LlmError::Unauthorized(detail)),
                        429 => (true, LlmError::RateLimited(detail), retry_after),
                        500..=599 => (true, LlmError::Unavailable(detail), retry_after),
                        _ => return Err(LlmError::InvalidRequest(detail)),
                    }
                }
            };
            if !retryable || attempt >= self.config.max_retries {
                return Err(error);
            }
            attempt += 1;
            METRICS.llm_retry(call);
            let backoff = retry_after
                .unwrap_or_else(|| Duration::from_millis(250 << attempt.min(6)) + jitter())
                .min(Duration::from_secs(20));
            tracing::warn!(attempt, backoff_ms = backoff.as_millis() as u64, error = %error, "LLM call failed; retrying");
            tokio::time::sleep(backoff).await;
        }
    }

    /// A whole JSON answer, read within the timeout and the size cap.
    async fn read_json(
        &self,
        resp: http::Response<ModelBody>,
        what: &str,
    ) -> Result<Value, LlmError> {
        let bytes = tokio::time::timeout(
            self.config.timeout,
            read_to_end(resp.into_body(), MAX_ANSWER_BYTES),
        )
        .await
        .map_err(|_| LlmError::Timeout(self.config.timeout))?
        .map_err(|e| {
            tracing::warn!(error = %e, "LLM {what} answer unreadable");
            LlmError::BadResponse("the answer could not be read".into())
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            tracing::warn!(error = %e, "LLM {what} answer is not JSON");
            LlmError::BadResponse("the answer is not valid JSON".into())
        })
    }

    /// A whole completion.
    pub async fn complete(&self, body: Value) -> Result<Completion, LlmError> {
        let body = self.with_model(body, false);
        let start = Instant::now();
        let span = llm_span("complete", &body);
        let outcome = self.complete_inner(&body).instrument(span.clone()).await;
        record(
            &span,
            "complete",
            model_of(&body),
            start,
            &outcome.as_ref().map(|c| c.usage),
        );
        outcome
    }

    async fn complete_inner(&self, body: &Value) -> Result<Completion, LlmError> {
        let resp = self.post("/chat/completions", body, "complete").await?;
        let value = self.read_json(resp, "completion").await?;
        parse_completion(&value)
    }

    /// A streamed completion: content deltas as they come, then the finished
    /// completion with tool calls assembled from their fragments.
    pub fn stream(
        self: &Arc<Self>,
        body: Value,
    ) -> Result<mpsc::Receiver<Result<StreamItem, LlmError>>, LlmError> {
        if !self.config.configured() {
            return Err(LlmError::Unconfigured);
        }
        let body = self.with_model(body, true);
        let (tx, rx) = mpsc::channel(64);
        let client = self.clone();
        let start = Instant::now();
        let span = llm_span("stream", &body);
        // Everything, including waiting for the response headers, happens in
        // the background, so the caller can send keep-alives meanwhile. The
        // call's future (the send, the retries, the SSE parser: tens of KB)
        // is built and boxed inside the task: `stream` runs on an instance's
        // fiber, and a future handed to `spawn` by value is laid out in the
        // caller's stack frame first. Those pages would stay resident in the
        // fiber stack's slot for as long as the stream is held (measured: 76
        // KB of fiber stack per held stream before, see bench/streams.sh).
        tokio::spawn(
            async move { Box::pin(client.run_stream(body, tx, start)).await }.instrument(span),
        );
        Ok(rx)
    }

    /// The background half of [`Self::stream`]: forwards the answer's content
    /// to `tx`, then its end (the completion, or why it failed).
    async fn run_stream(
        self: Arc<Self>,
        body: Value,
        tx: mpsc::Sender<Result<StreamItem, LlmError>>,
        start: Instant,
    ) {
        let model = model_of(&body).to_string();
        // Recorded before the last item is sent: once the instance has it,
        // its answer can end and the metrics be read.
        let last = match self.forward(body, &tx).await {
            // The instance went away (its client left): the call ends here.
            Ok(Forwarded::Abandoned) => {
                METRICS.llm_call(&model, "stream", "cancelled", start.elapsed().as_secs_f64());
                return;
            }
            Ok(Forwarded::Finished(completion)) => {
                let usage = Ok::<_, &LlmError>(completion.usage);
                record(&tracing::Span::current(), "stream", &model, start, &usage);
                Ok(StreamItem::Finished(completion))
            }
            Err(e) => {
                record(&tracing::Span::current(), "stream", &model, start, &Err(&e));
                Err(e)
            }
        };
        let _ = tx.send(last).await;
    }

    /// Send the answer's content to `tx` as it streams in.
    async fn forward(
        &self,
        body: Value,
        tx: &mpsc::Sender<Result<StreamItem, LlmError>>,
    ) -> Result<Forwarded, LlmError> {
        // Boxed: this task's own allocation is as large as the largest thing
        // it awaits, and sending (retries, the connection's futures) is ~8 KB
        // of it that a held stream would otherwise keep while its answer
        // trickles in for minutes.
        let sent = Box::pin(self.post("/chat/completions", &body, "stream")).await;
        // The request (messages, tool schemas: kilobytes as a JSON
        // tree) is not needed while the answer streams, which can
        // take minutes per held stream.
        drop(body);
        let idle = self.config.timeout;
        let mut events = BodyDataStream::new(sent?.into_body()).eventsource();
        let mut state = Assembler::default();
        loop {
            let event = match tokio::time::timeout(idle, events.next()).await {
                Err(_) => return Err(LlmError::Timeout(idle)),
                Ok(None) => {
                    return Err(LlmError::Unavailable(
                        "the stream ended before the completion finished".into(),
                    ));
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(error = %e, "LLM stream broke");
                    return Err(LlmError::Unavailable("the stream broke".into()));
                }
                Ok(Some(Ok(event))) => event,
            };
            if event.data.trim() == "[DONE]" {
                return Ok(Forwarded::Finished(state.finish()?));
            }
            if let Some(text) = state.chunk(&event.data)?
                && tx.send(Ok(StreamItem::Content(text))).await.is_err()
            {
                return Ok(Forwarded::Abandoned);
            }
        }
    }

    /// Embeddings for `inputs`.
    pub async fn embed(
        &self,
        inputs: Vec<String>,
        model: Option<String>,
    ) -> Result<Vec<Vec<f32>>, LlmError> {
        let body = json!({ "model": model.unwrap_or_else(|| self.config.embedding_model.clone()), "input": inputs });
        let start = Instant::now();
        let span = llm_span("embed", &body);
        let outcome = self.embed_inner(&body).instrument(span.clone()).await;
        record(
            &span,
            "embed",
            model_of(&body),
            start,
            &outcome.as_ref().map(|(_, usage)| *usage),
        );
        outcome.map(|(vectors, _)| vectors)
    }

    async fn embed_inner(&self, body: &Value) -> Result<(Vec<Vec<f32>>, Option<Usage>), LlmError> {
        let resp = self.post("/embeddings", body, "embed").await?;
        let value = self.read_json(resp, "embeddings").await?;
        let data = value["data"]
            .as_array()
            .ok_or_else(|| LlmError::BadResponse("no `data` array".into()))?;
        let vectors = data
            .iter()
            .map(|d| {
                d["embedding"]
                    .as_array()
                    .map(|v| {
                        v.iter()
                            .filter_map(|x| x.as_f64())
                            .map(|x| x as f32)
                            .collect()
                    })
                    .ok_or_else(|| LlmError::BadResponse("an item has no `embedding`".into()))
            })
            .collect::<Result<_, _>>()?;
        Ok((vectors, parse_usage(&value)))
    }

    fn with_model(&self, mut body: Value, stream: bool) -> Value {
        if body.get("model").is_none_or(Value::is_null) {
            body["model"] = json!(self.config.model);
        }
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({ "include_usage": true });
        }
        body
    }
}

impl LlmError {
    /// A short, stable name of the kind of failure (a metric label).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unconfigured => "unconfigured",
            Self::Unauthorized(_) => "unauthorized",
            Self::RateLimited(_) => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::BadResponse(_) => "bad_response",
            Self::Timeout(_) => "timeout",
            Self::InvalidRequest(_) => "invalid_request",
        }
    }
}

/// One finished call in the metrics: its model (from the request, which the
/// host's model allow-list bounds), outcome, time and reported tokens.
/// The model a request body names (`-` if none), for labels and spans.
fn model_of(body: &Value) -> &str {
    body["model"].as_str().unwrap_or("-")
}

fn record(
    span: &tracing::Span,
    call: &'static str,
    model: &str,
    start: Instant,
    outcome: &Result<Option<Usage>, impl std::borrow::Borrow<LlmError>>,
) {
    let label = match outcome {
        Ok(_) => "ok",
        Err(e) => e.borrow().kind(),
    };
    METRICS.llm_call(model, call, label, start.elapsed().as_secs_f64());
    if let Ok(Some(usage)) = outcome {
        METRICS.llm_tokens(model, usage.prompt, usage.completion);
        span.record("gen_ai.usage.input_tokens", i64::from(usage.prompt));
        span.record("gen_ai.usage.output_tokens", i64::from(usage.completion));
    }
    if let Err(e) = outcome {
        span.record("error.type", e.borrow().kind());
    }
}

/// A model call's span: its model and kind now, its tokens when it ends (the
/// OpenTelemetry GenAI names).
fn llm_span(call: &'static str, body: &Value) -> tracing::Span {
    tracing::info_span!(
        "llm",
        gen_ai.operation.name = call,
        gen_ai.request.model = model_of(body),
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}

/// The gist of a refusal's body, for the log: its `error.message`, else its first 300 characters.
async fn provider_message(body: ModelBody, timeout: Duration) -> String {
    let bytes = match tokio::time::timeout(timeout, read_to_end(body, 64 << 10)).await {
        Ok(Ok(bytes)) => bytes,
        _ => return String::new(),
    };
    let text = String::from_utf8_lossy(&bytes);
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.chars().take(300).collect())
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn jitter() -> Duration {
    Duration::from_millis((uuid::Uuid::new_v4().as_u128() % 250) as u64)
}

fn parse_usage(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    let n = |k: &str| u[k].as_u64().unwrap_or(0) as u32;
    Some(Usage {
        prompt: n("prompt_tokens"),
        completion: n("completion_tokens"),
        total: n("total_tokens"),
    })
}

fn parse_completion(v: &Value) -> Result<Completion, LlmError> {
    let choice = v["choices"]
        .get(0)
        .ok_or_else(|| LlmError::BadResponse("no choices".into()))?;
    let message = &choice["message"];
    if !message.is_object() {
        return Err(LlmError::BadResponse("the choice has no message".into()));
    }
    let tool_calls = message["tool_calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .map(|c| ToolCall {
                    id: c["id"].as_str().unwrap_or_default().to_string(),
                    name: c["function"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    arguments: c["function"]["arguments"]
                        .as_str()
                        .unwrap_or("{}")
                        .to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Completion {
        content: message["content"].as_str().map(str::to_string),
        tool_calls,
        finish_reason: choice["finish_reason"]
            .as_str()
            .unwrap_or("stop")
            .to_string(),
        usage: parse_usage(v),
        model: v["model"].as_str().unwrap_or_default().to_string(),
    })
}

/// Builds a completion from stream chunks; tool-call fragments are keyed by
/// their `index` and may interleave.
#[derive(Default)]
struct Assembler {
    content: String,
    calls: BTreeMap<u64, ToolCall>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    model: String,
}

impl Assembler {
    /// Apply one `data:` payload; returns new content text, if any.
    fn chunk(&mut self, data: &str) -> Result<Option<String>, LlmError> {
        let v: Value = serde_json::from_str(data)
            .map_err(|e| LlmError::BadResponse(format!("a stream chunk is not JSON: {e}")))?;
        if let Some(message) = v["error"]["message"].as_str() {
            return Err(LlmError::Unavailable(message.to_string()));
        }
        if let Some(model) = v["model"].as_str() {
            self.model = model.to_string();
        }
        if let Some(usage) = parse_usage(&v) {
            self.usage = Some(usage);
        }
        let Some(choice) = v["choices"].get(0) else {
            return Ok(None);
        };
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_string());
        }
        let delta = &choice["delta"];
        if let Some(calls) = delta["tool_calls"].as_array() {
            for (position, c) in calls.iter().enumerate() {
                let index = c["index"].as_u64().unwrap_or(position as u64);
                let call = self.calls.entry(index).or_insert_with(|| ToolCall {
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                });
                if let Some(id) = c["id"].as_str() {
                    call.id = id.to_string();
                }
                if let Some(name) = c["function"]["name"].as_str() {
                    call.name.push_str(name);
                }
                if let Some(args) = c["function"]["arguments"].as_str() {
                    call.arguments.push_str(args);
                }
            }
        }
        match delta["content"].as_str() {
            Some(text) if !text.is_empty() => {
                self.content.push_str(text);
                Ok(Some(text.to_string()))
            }
            _ => Ok(None),
        }
    }

    fn finish(&mut self) -> Result<Box<Completion>, LlmError> {
        let Some(finish_reason) = self.finish_reason.take() else {
            return Err(LlmError::Unavailable(
                "the stream ended without a finish reason".into(),
            ));
        };
        let tool_calls: Vec<ToolCall> = std::mem::take(&mut self.calls).into_values().collect();
        if let Some(bad) = tool_calls
            .iter()
            .find(|c| c.id.is_empty() || c.name.is_empty())
        {
            return Err(LlmError::BadResponse(format!(
                "an incomplete tool call in the stream: {bad:?}"
            )));
        }
        Ok(Box::new(Completion {
            content: (!self.content.is_empty()).then(|| std::mem::take(&mut self.content)),
            tool_calls,
            finish_reason,
            usage: self.usage,
            model: std::mem::take(&mut self.model),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        let soon = std::time::SystemTime::now() + Duration::from_secs(30);
        let wait = parse_retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(wait > Duration::from_secs(28) && wait <= Duration::from_secs(30));
        let past = httpdate::fmt_http_date(std::time::UNIX_EPOCH);
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn interleaved_tool_call_fragments_are_assembled_by_index() {
        let mut a = Assembler::default();
        let chunks = [
            r#"{"model":"m","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"add_task","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"list_tasks","arguments":"{\"sta"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"title\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"tus\":\"all\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"milk\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#,
        ];
        for c in chunks {
            assert_eq!(a.chunk(c).unwrap(), None);
        }
        let done = a.finish().unwrap();
        assert_eq!(done.finish_reason, "tool_calls");
        assert_eq!(done.usage.map(|u| u.total), Some(12));
        assert_eq!(
            done.tool_calls,
            vec![
                ToolCall {
                    id: "call_a".into(),
                    name: "add_task".into(),
                    arguments: r#"{"title":"milk"}"#.into()
                },
                ToolCall {
                    id: "call_b".into(),
                    name: "list_tasks".into(),
                    arguments: r#"{"status":"all"}"#.into()
                },
            ]
        );
    }

    #[test]
    fn a_stream_without_finish_reason_is_an_error() {
        let mut a = Assembler::default();
        a.chunk(r#"{"choices":[{"index":0,"delta":{"content":"hel"}}]}"#)
            .unwrap();
        assert!(matches!(a.finish(), Err(LlmError::Unavailable(_))));
    }
}
