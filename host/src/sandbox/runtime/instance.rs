//! One instance's run: a task that holds its slot, enforces its deadline,
//! and classifies how it ended (timeout, memory limit, denial, trap).

use crate::manifest::Limits;
use crate::sandbox::capabilities::{Denied, InstanceState};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;
use wasmtime::{Store, Trap};
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;

/// Why a request did not get a response from its component.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the component did not finish within its {0} ms deadline")]
    Timeout(u64),
    #[error("the component exceeded its {0} MiB memory limit")]
    MemoryLimit(u64),
    #[error("the component failed: {0}")]
    Trap(String),
    #[error("the component returned an error instead of a response: {0:?}")]
    ErrorCode(ErrorCode),
    #[error("the request could not be handed to the component: {0}")]
    Setup(String),
    #[error("{0}")]
    Denied(String),
}

/// What a live instance holds: a host-wide slot and one of its component's.
pub struct InstancePermit {
    pub(crate) _host: OwnedSemaphorePermit,
    pub(crate) _component: OwnedSemaphorePermit,
    /// Anything else that must last as long as the instance (a caller's
    /// quotas); shared with the response when a relay may carry it on.
    pub(crate) held: Held,
}

/// Guards kept for as long as whatever holds a clone of them.
pub type Held = Vec<std::sync::Arc<dyn std::any::Any + Send + Sync>>;

impl InstancePermit {
    /// Keep `guard` until the instance is gone (a streamed body included),
    /// with any guard held already.
    pub fn hold(&mut self, guard: impl std::any::Any + Send + Sync) {
        self.held.push(std::sync::Arc::new(guard));
    }
}

/// Why no instance could be started now (answered 503 `busy`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Busy {
    #[error("every instance slot is in use; retry shortly")]
    Host,
    #[error(
        "component `{0}` is running as many instances as its `max_concurrent` allows; retry shortly"
    )]
    Component(String),
}

/// Run `run` (which instantiates and calls into the store), holding `permit`
/// until the instance is gone, within `deadline`; a trap is classified as
/// timeout, memory limit or failure.
///
/// The first poll happens right here: a short request (most of them) finishes
/// in it, with no task spawned and no other worker woken. An instance that is
/// still running after it (streaming a body, waiting on I/O or the LLM, or
/// yielding at an epoch tick) moves to its own task and finishes there.
pub fn spawn_instance<R, F, Fut>(
    store: Store<InstanceState>,
    limits: Limits,
    deadline: Instant,
    permit: Option<InstancePermit>,
    run: F,
) -> InstanceTask<R>
where
    R: Send + 'static,
    F: FnOnce(Store<InstanceState>) -> Fut + Send + 'static,
    Fut: Future<Output = (Store<InstanceState>, wasmtime::Result<R>)> + Send + 'static,
{
    // Its lifetime, from here until the task ends or is stopped (a streamed
    // body included), goes to `spaceport_instance_duration_seconds`.
    let timer = InstanceTimer {
        component: store.data().context.component_id().clone(),
        start: Instant::now(),
    };
    // The instance runs in the request's span, so its log lines (traps, denied
    // outbound calls, its own output) carry the request id.
    let mut task = Box::pin(
        async move {
            let _permit = permit;
            let _timer = timer;
            match tokio::time::timeout_at(deadline.into(), run(store)).await {
                Ok((_, Ok(r))) => Ok(r),
                Ok((store, Err(e))) => Err(classify(e, store.data().limits.hit(), &limits)),
                // The guest was waiting on the host (I/O, a timer) past its deadline.
                Err(_) => Err(ServeError::Timeout(limits.timeout_ms)),
            }
        }
        .instrument(tracing::Span::current()),
    );
    // A wake-up during this poll is not lost: a spawned task is always polled
    // once more, with its real waker.
    let mut cx = Context::from_waker(Waker::noop());
    // A panic in here would unwind through the connection's task and reset it
    // without an answer; a spawned task's panic is a JoinError, so match that.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.as_mut().poll(&mut cx))) {
        Ok(Poll::Ready(result)) => InstanceTask::Done(Some(result)),
        Ok(Poll::Pending) => InstanceTask::Spawned(tokio::spawn(task)),
        Err(_) => InstanceTask::Done(Some(Err(ServeError::Trap(
            "the instance panicked in the host".into(),
        )))),
    }
}

/// Records an instance's lifetime when dropped (finished, failed or aborted).
struct InstanceTimer {
    component: std::sync::Arc<str>,
    start: Instant,
}

impl Drop for InstanceTimer {
    fn drop(&mut self) {
        crate::services::metrics::METRICS
            .instance_lifetime(&self.component, self.start.elapsed().as_secs_f64());
    }
}

/// A running instance's outcome (see [`spawn_instance`]).
pub enum InstanceTask<R> {
    /// It finished during the first poll.
    Done(Option<Result<R, ServeError>>),
    /// It runs in its own task.
    Spawned(tokio::task::JoinHandle<Result<R, ServeError>>),
}

impl<R> InstanceTask<R> {
    /// A handle that stops the instance, if it is still running in its task.
    pub fn abort_handle(&self) -> Option<tokio::task::AbortHandle> {
        match self {
            InstanceTask::Done(_) => None,
            InstanceTask::Spawned(handle) => (!handle.is_finished()).then(|| handle.abort_handle()),
        }
    }
}

// Nothing is pinned in place: the result is moved out and JoinHandle is Unpin.
impl<R> Unpin for InstanceTask<R> {}

impl<R> Future for InstanceTask<R> {
    type Output = Result<R, ServeError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            InstanceTask::Done(result) => Poll::Ready(
                result
                    .take()
                    .unwrap_or_else(|| Err(ServeError::Trap("instance result taken twice".into()))),
            ),
            InstanceTask::Spawned(handle) => Pin::new(handle).poll(cx).map(|joined| {
                joined
                    .unwrap_or_else(|e| Err(ServeError::Trap(format!("instance task failed: {e}"))))
            }),
        }
    }
}

fn classify(error: wasmtime::Error, memory_hit: bool, limits: &Limits) -> ServeError {
    if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return ServeError::Timeout(limits.timeout_ms);
    }
    if let Some(denied) = error.downcast_ref::<Denied>() {
        return ServeError::Denied(denied.to_string());
    }
    if memory_hit {
        return ServeError::MemoryLimit(limits.memory_mb);
    }
    let trap = error
        .downcast_ref::<Trap>()
        .map(|t| t.to_string())
        .unwrap_or_else(|| format!("{error:#}"));
    tracing::warn!(error = %format!("{error:?}"), "component trapped");
    ServeError::Trap(trap)
}
