//! A buffered view of `wasi:http` requests and responses.

use crate::Handler;
use crate::bindings::wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use crate::bindings::wasi::io::streams::{OutputStream, StreamError};
use serde::Serialize;
use std::cell::OnceCell;

/// An incoming request with its body read into memory. Headers are fetched
/// from the host on first use: most handlers never look at them, and copying
/// every header into the instance costs a call into the guest per string.
pub struct Request {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The query string without the leading `?` (empty when there is none).
    pub query: String,
    /// The whole body (the host has already enforced its size limit).
    pub body: Vec<u8>,
    headers: OnceCell<Vec<(String, String)>>,
    // `fields` is a child of `incoming`: declared first, so it is dropped first.
    fields: Fields,
    incoming: IncomingRequest,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Request {
    /// Every header in arrival order; names are lower-case.
    pub fn headers(&self) -> &[(String, String)] {
        self.headers.get_or_init(|| {
            self.fields
                .entries()
                .into_iter()
                .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
                .collect()
        })
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parse the body as JSON, or produce the 400 response to return.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Response> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Response::error(
                400,
                "invalid_json",
                &format!("request body is not valid JSON: {e}"),
            )
        })
    }
}

/// The client has gone away: nothing more can be written to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientGone;

impl std::fmt::Display for ClientGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client has gone away")
    }
}

impl std::error::Error for ClientGone {}

/// Writes a streamed response body (see [`Response::stream`]).
pub struct BodyWriter {
    stream: OutputStream,
}

impl BodyWriter {
    /// Send `data` now (flushed to the client before returning).
    /// Fails when the client has gone away.
    pub fn write(&mut self, data: &[u8]) -> Result<(), ClientGone> {
        // `blocking-write-and-flush` accepts at most 4096 bytes per call.
        for chunk in data.chunks(4096) {
            self.stream
                .blocking_write_and_flush(chunk)
                .map_err(|_| ClientGone)?;
        }
        Ok(())
    }
}

/// Produces a streamed body after the headers are sent.
pub type StreamBody = Box<dyn FnOnce(&mut BodyWriter)>;

/// A response to send.
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Headers to send.
    pub headers: Vec<(String, String)>,
    /// The whole body (unless `stream` is set).
    pub body: Vec<u8>,
    /// A body written piece by piece after the headers (e.g. server-sent events).
    pub stream: Option<StreamBody>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("streamed", &self.stream.is_some())
            .finish()
    }
}

impl Response {
    /// A response with a body and a content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            stream: None,
        }
    }

    /// A streamed response: `write` runs after the headers are sent and
    /// writes the body as it goes (each write reaches the client at once).
    pub fn stream(
        status: u16,
        content_type: &str,
        write: impl FnOnce(&mut BodyWriter) + 'static,
    ) -> Self {
        let mut r = Self::new(status, content_type, Vec::new());
        r.stream = Some(Box::new(write));
        r
    }

    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::new(status, "text/plain; charset=utf-8", body.into())
    }

    /// A `text/html` response.
    pub fn html(status: u16, body: impl Into<String>) -> Self {
        Self::new(status, "text/html; charset=utf-8", body.into())
    }

    /// An `application/json` response.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::new(status, "application/json", body),
            Err(e) => Self::error(500, "serialization_failed", &e.to_string()),
        }
    }

    /// The platform's JSON error shape: `{"error", "detail", "request_id"}`.
    pub fn error(status: u16, code: &str, detail: &str) -> Self {
        Self::json(
            status,
            &serde_json::json!({
                "error": code,
                "detail": detail,
                "request_id": REQUEST_ID.with(|id| id.borrow().clone()),
            }),
        )
    }

    /// Add a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }
}

thread_local! {
    /// The request id the host sent (`x-request-id`), for error bodies. Read
    /// from the header rather than `context`, so a component needs no
    /// `context` grant just to answer an error.
    static REQUEST_ID: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Read the request, call `H`, and send its response. Used by [`crate::http_component!`].
pub fn serve<H: Handler>(incoming: IncomingRequest, out: ResponseOutparam) {
    let response = match read_request(incoming) {
        Ok(request) => H::handle(request),
        Err(detail) => Response::error(400, "bad_request", &detail),
    };
    send(response, out);
}

fn read_request(incoming: IncomingRequest) -> Result<Request, String> {
    let method = match incoming.method() {
        Method::Get => "GET".to_string(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(m) => m.to_ascii_uppercase(),
    };
    let path_with_query = incoming.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = match path_with_query.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (path_with_query, String::new()),
    };
    let fields = incoming.headers();
    // Spaceport buffers the body before the component runs and sends its exact
    // length, so a bodiless request (most GETs) skips three calls into the
    // host. Without the header (other hosts, chunked uploads) the body is read.
    let request_id = fields
        .get("x-request-id")
        .first()
        .and_then(|v| String::from_utf8(v.clone()).ok())
        .unwrap_or_default();
    REQUEST_ID.with(|id| *id.borrow_mut() = request_id);
    let declared = fields
        .get("content-length")
        .first()
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let mut request = Request {
        method,
        path,
        query,
        body: Vec::new(),
        headers: OnceCell::new(),
        fields,
        incoming,
    };
    if declared == Some(0) {
        return Ok(request);
    }
    // Bounded pre-allocation: the header is only a hint.
    request.body.reserve(declared.unwrap_or(0).min(1 << 20));
    let incoming_body = request
        .incoming
        .consume()
        .map_err(|()| "request body already consumed")?;
    {
        let stream = incoming_body
            .stream()
            .map_err(|()| "request body stream unavailable")?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => request.body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(format!(
                        "reading request body failed: {}",
                        e.to_debug_string()
                    ));
                }
            }
        }
    }
    drop(incoming_body);
    Ok(request)
}

fn send(response: Response, out: ResponseOutparam) {
    let pairs: Vec<(String, Vec<u8>)> = response
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
        .collect();
    let headers = match Fields::from_list(&pairs) {
        Ok(h) => h,
        Err(_) => Fields::new(),
    };
    let outgoing = OutgoingResponse::new(headers);
    // The status is valid by construction for anything 100..=999; fall back to 500 otherwise.
    if outgoing.set_status_code(response.status).is_err() {
        let _ = outgoing.set_status_code(500);
    }
    let Ok(body) = outgoing.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(outgoing));
    if let Ok(stream) = body.write() {
        let mut writer = BodyWriter { stream };
        let written = match response.stream {
            Some(produce) => {
                produce(&mut writer);
                Ok(())
            }
            None => writer.write(&response.body),
        };
        drop(writer);
        if written.is_err() {
            return;
        }
    }
    let _ = OutgoingBody::finish(body, None);
}
