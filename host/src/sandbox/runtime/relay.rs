//! Relays: a streamed completion the host pipes to the client while no
//! instance is held (`spaceport:platform/llm.relay`).
//!
//! Why: a chat stream spends nearly all its life waiting for the model's next
//! token, and an instance held for that (its linear memory, fiber stack,
//! tables and store) costs ~75 KB of resident memory per stream. With a
//! relay, the instance that asked for it ends its body and returns; the host
//! writes each piece of text to the client in the format the component gave;
//! when the completion ends, a fresh instance of the same component runs the
//! same request again with the outcome (`llm.relayed`) and writes the rest of
//! the response, which may relay again. Held, a stream costs its connection,
//! the model call and this module's task.

use super::instance::Held;
use super::{LoadedComponent, Runtime, Started};
use crate::sandbox::capabilities::llm::{PendingRelay, RelaySlot, received};
use crate::sandbox::capabilities::{AbortGuard, RequestInfo};
use crate::services::llm::{Completion, LlmError, StreamItem};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tracing::Instrument;
use wasmtime_wasi_http::Error as BodyError;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

type Chunk = Result<Frame<Bytes>, BodyError>;

/// What a resumed instance needs of the original request: it runs the same
/// request again, without its body.
pub(super) struct RequestHead {
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
}

impl RequestHead {
    pub(super) fn of<B>(request: &hyper::Request<B>) -> Self {
        let mut headers = request.headers().clone();
        headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(0));
        Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers,
        }
    }

    fn request(&self) -> hyper::Request<http_body_util::Full<Bytes>> {
        let mut request = hyper::Request::new(http_body_util::Full::new(Bytes::new()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// Everything needed to resume the response after a relay.
pub(super) struct Continuation {
    pub runtime: Arc<Runtime>,
    pub component: Arc<LoadedComponent>,
    pub info: Arc<RequestInfo>,
    pub head: RequestHead,
    /// The component's deadline for the whole response.
    pub deadline: Instant,
    /// The request's span: the relay and the resumed instances log in it.
    pub span: tracing::Span,
    /// The caller's quotas: each resumed instance holds them too.
    pub held: Held,
}

/// A response body that can continue past its instance's own body: first
/// the instance's frames; then, if it left a relay, frames from the relay
/// task (the relayed text, then the resumed instances' bodies).
pub(super) struct RelayingBody {
    phase: Phase,
    slot: RelaySlot,
    continuation: Option<Continuation>,
    /// Stops the first instance if the client leaves before its body ends.
    abort: Option<AbortHandle>,
}

enum Phase {
    Instance(HyperOutgoingBody),
    Relay {
        frames: mpsc::Receiver<Chunk>,
        task: AbortHandle,
        /// The caller's quotas, until the response ends.
        _held: Held,
    },
    Ended,
}

impl RelayingBody {
    pub(super) fn new(
        body: HyperOutgoingBody,
        slot: RelaySlot,
        continuation: Continuation,
        abort: Option<AbortHandle>,
    ) -> Self {
        Self {
            phase: Phase::Instance(body),
            slot,
            continuation: Some(continuation),
            abort,
        }
    }

    /// The instance's body has ended: go on with its relay, if it left one.
    fn instance_ended(&mut self) {
        self.abort = None; // its body is complete: the instance may finish its work
        self.phase = match (self.slot.close(), self.continuation.take()) {
            (Some(relay), Some(continuation)) => {
                // Room for a few frames: the relay runs a little ahead of a
                // slow client, then waits for it.
                let (tx, frames) = mpsc::channel(8);
                let (span, held) = (continuation.span.clone(), continuation.held.clone());
                let task = tokio::spawn(
                    async move { Box::pin(run(continuation, relay, tx)).await }.instrument(span),
                );
                Phase::Relay {
                    frames,
                    task: task.abort_handle(),
                    _held: held,
                }
            }
            _ => Phase::Ended,
        };
    }
}

impl Body for RelayingBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        loop {
            match &mut self.phase {
                Phase::Instance(body) => match Pin::new(body).poll_frame(cx) {
                    Poll::Ready(None) => self.instance_ended(),
                    other => return other,
                },
                Phase::Relay { frames, .. } => {
                    let next = frames.poll_recv(cx);
                    if let Poll::Ready(None) = next {
                        self.phase = Phase::Ended;
                    }
                    return next;
                }
                Phase::Ended => return Poll::Ready(None),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.phase {
            // A relay left by the instance follows its body.
            Phase::Instance(body) => body.is_end_stream() && !self.slot.pending(),
            Phase::Relay { .. } => false,
            Phase::Ended => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.phase {
            // A response that declares its length cannot be relayed into.
            Phase::Instance(body) if !self.slot.pending() => body.size_hint(),
            _ => SizeHint::default(),
        }
    }
}

impl Drop for RelayingBody {
    fn drop(&mut self) {
        if let Some(abort) = self.abort.take() {
            tracing::info!("client went away before the response ended; stopping the instance");
            abort.abort();
        }
        if let Phase::Relay { task, .. } = &self.phase
            && !task.is_finished()
        {
            tracing::info!(
                "client went away before the response ended; stopping the relay and the model call"
            );
            task.abort();
        }
    }
}

/// How piping one completion ended.
enum Piped {
    Finished(Result<Completion, LlmError>),
    ClientGone,
    Timeout,
}

/// The relay task: pipe the completion, resume the component with its
/// outcome and forward what the resumed instance writes; again for each relay
/// it leaves. Stopped (aborted) if the client goes away.
async fn run(continuation: Continuation, mut relay: PendingRelay, tx: mpsc::Sender<Chunk>) {
    let Continuation {
        runtime,
        component,
        info,
        head,
        deadline,
        span: _,
        held,
    } = continuation;
    loop {
        let open = crate::services::metrics::METRICS.relay_open();
        let piped = pipe(&mut relay, &tx, deadline).await;
        drop(open);
        // The model call, its places and the state's memory go now.
        let PendingRelay { state, .. } = relay;
        let outcome = match piped {
            Piped::Finished(outcome) => outcome,
            Piped::ClientGone => return,
            Piped::Timeout => return fail(&tx, &component, "its deadline passed during a relay"),
        };
        // The text has been sent: the resumed instance stores it, so it waits
        // for a slot (until the deadline) rather than being refused.
        let Some(mut permit) = runtime.wait_for_slot(&component, deadline).await else {
            return fail(
                &tx,
                &component,
                "no instance slot freed up before its deadline",
            );
        };
        permit.held = held.clone();
        let started = runtime
            .start(
                &component,
                info.clone(),
                head.request(),
                permit,
                deadline,
                Some((state, outcome)),
            )
            .await;
        let Started {
            response,
            abort,
            relay: next,
        } = match started {
            Ok(started) => started,
            Err(e) => {
                tracing::warn!(component = %component.id, error = %e, "the resumed instance failed before answering");
                return fail(&tx, &component, "the resumed instance failed");
            }
        };
        // Its status and headers were sent by the first instance. If the
        // client goes away (or stops reading past the deadline), `stop` ends
        // the instance.
        let stop = AbortGuard::maybe(abort);
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            let failed = frame.is_err();
            if !send(&tx, frame, deadline).await || failed {
                return;
            }
        }
        stop.disarm();
        match next.as_ref().and_then(RelaySlot::close) {
            Some(again) => relay = again,
            None => return,
        }
    }
}

/// Send `chunk` to the client by `deadline`; false if it is gone or has not
/// read its response for so long (a client that stops reading must not hold
/// a relay past the deadline: hyper has no write timeout of its own).
async fn send(tx: &mpsc::Sender<Chunk>, chunk: Chunk, deadline: Instant) -> bool {
    matches!(
        tokio::time::timeout_at(deadline.into(), tx.send(chunk)).await,
        Ok(Ok(()))
    )
}

/// End the response with an error (the client sees it cut short, as when an
/// instance fails mid-body), if there is room for it; why goes to the log.
fn fail(tx: &mpsc::Sender<Chunk>, component: &LoadedComponent, why: &str) {
    tracing::warn!(component = %component.id, "response cut short: {why}");
    let _ = tx.try_send(Err(BodyError::InternalError(Some(
        "the response was cut short".into(),
    ))));
}

/// Send the completion's text as it arrives, with keep-alives while the
/// model is quiet, until it finishes, fails, the client goes away or the
/// deadline passes.
async fn pipe(relay: &mut PendingRelay, tx: &mpsc::Sender<Chunk>, deadline: Instant) -> Piped {
    let keepalive = relay.format.keepalive();
    loop {
        // Wait for the next piece until a keep-alive is due, or the deadline.
        let until = keepalive
            .as_ref()
            .map_or(deadline, |(every, _)| deadline.min(Instant::now() + *every));
        let bytes = match tokio::time::timeout_at(until.into(), relay.receiver.recv()).await {
            Err(_) => match &keepalive {
                Some((_, bytes)) if Instant::now() < deadline => bytes.clone(),
                _ => return Piped::Timeout,
            },
            Ok(item) => match received(item) {
                Ok(StreamItem::Content(text)) => relay.format.content(&text),
                Ok(StreamItem::Finished(done)) => return Piped::Finished(Ok(*done)),
                Err(e) => return Piped::Finished(Err(e)),
            },
        };
        if !send(tx, Ok(Frame::data(bytes)), deadline).await {
            return if Instant::now() >= deadline {
                Piped::Timeout
            } else {
                Piped::ClientGone
            };
        }
    }
}
