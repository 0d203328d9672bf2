//! Reading a request body whole, bounded in size and time: what a component
//! route, a host endpoint and the admin API (with its own limit) share.

// Errors here are ready-to-send responses, built once on the error path.
#![allow(clippy::result_large_err)]

use super::response::{Body, error, too_large};
use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// How much of an unread request body is still taken in after an early
/// answer (401, 413, 404…), and for how long. A client that is still
/// writing when the host answers gets the answer instead of a broken pipe
/// (what nginx calls a lingering close); past these bounds the connection
/// closes, so an unread body costs the host at most this much.
const LINGER_BYTES: usize = 8 << 20;
const LINGER_TIME: Duration = Duration::from_secs(5);

/// A request body that, dropped unread, is drained in the background
/// (bounded by [`LINGER_BYTES`] and [`LINGER_TIME`]) rather than cut off.
pub struct RequestBody {
    inner: Option<Incoming>,
}

impl RequestBody {
    pub fn new(inner: Incoming) -> Self {
        Self { inner: Some(inner) }
    }
}

impl hyper::body::Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        let Some(body) = self.inner.take() else {
            return;
        };
        if body.is_end_stream() {
            return;
        }
        // Outside a runtime (never on a request path) the body is just dropped.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                // Each frame is dropped as it comes: nothing is buffered.
                let drain = async move {
                    let mut body = body;
                    let mut taken = 0usize;
                    while taken < LINGER_BYTES {
                        match body.frame().await {
                            Some(Ok(frame)) => {
                                taken += frame.data_ref().map_or(0, |d| d.len());
                            }
                            // Ended, or the client went away.
                            _ => break,
                        }
                    }
                };
                let _ = tokio::time::timeout(LINGER_TIME, drain).await;
            });
        }
    }
}

pub async fn read(
    body: RequestBody,
    headers: &http::HeaderMap,
    limit: usize,
    timeout: Duration,
    request_id: &str,
) -> Result<Bytes, Response<Body>> {
    // Bodies are read whole (bounded) before the component runs, so an
    // oversized upload is refused with 413 before it costs an instance.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large(limit, request_id));
    }
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect())
        .await
        .map_err(|_| {
            error(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                &format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs()
                ),
                request_id,
            )
        })?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large(limit, request_id))
        }
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("could not read the request body: {e}"),
            request_id,
        )),
    }
}
