//! Reading a request body whole, bounded in size and time: what a component
//! route, a host endpoint and the admin API (with its own limit) share.

// Errors here are ready-to-send responses, built once on the error path.
#![allow(clippy::result_large_err)]

use super::response::{Body, error, too_large};
use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use std::time::Duration;

pub async fn read(
    body: Incoming,
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
