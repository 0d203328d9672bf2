//! How the host reaches the model provider: HTTP/2 where the provider speaks
//! it, HTTP/1.1 through reqwest's pool otherwise.
//!
//! Why HTTP/2: a streamed chat turn holds its model call for as long as the
//! answer takes (seconds to minutes). Over HTTP/1.1 each held call is a
//! connection of its own: a descriptor plus ~35 KB of buffers and channels
//! (measured with `bench/streams.sh PROFILE=dhat`). Over HTTP/2 a connection
//! carries up to `LLM_STREAMS_PER_CONNECTION` calls, so 10,000 held streams
//! need ~100 connections.
//!
//! Why a pool of our own: hyper's pooled client keeps one HTTP/2 connection
//! per origin and, once the provider's concurrent-stream limit is reached,
//! queues every further call behind the held ones. Here a new connection is
//! opened when every open one is full, calls are packed into the oldest
//! connections first (so the newer ones fall idle and are closed), and a
//! connection being opened already counts the calls waiting for it, so a
//! burst of calls opens one connection per `LLM_STREAMS_PER_CONNECTION`
//! calls, not one each.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A provider's answer body, whichever protocol carried it.
pub type ModelBody = UnsyncBoxBody<Bytes, BoxError>;

/// `LLM_HTTP2`: whether calls to the provider use HTTP/2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Http2Mode {
    /// HTTP/2 over TLS when the provider offers it (ALPN); HTTP/1.1 otherwise,
    /// and always for a plain `http://` base URL.
    Auto,
    /// HTTP/2 without negotiation, also over plain `http://` (h2c): for a
    /// local or in-cluster server known to speak it.
    PriorKnowledge,
    /// HTTP/1.1 only.
    Off,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// An HTTP/2 connection without calls for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Connections to one provider (the base URL's origin).
pub struct ModelHttp {
    h1: reqwest::Client,
    h2: Option<H2Pool>,
}

impl ModelHttp {
    pub fn new(base_url: &str, mode: Http2Mode, per_connection: usize) -> anyhow::Result<Self> {
        let h1 = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(IDLE_TIMEOUT)
            // After a burst of streams, keep a few warm connections, not one
            // per stream: 10,000 idle connections held 10,000 descriptors (and
            // their buffers) for the idle timeout, against the limit the
            // instance slots are sized by.
            .pool_max_idle_per_host(32)
            .build()?;
        let h2 = H2Pool::for_url(base_url, mode, per_connection, webpki_tls()?)?;
        Ok(Self { h1, h2 })
    }

    /// POST `body` (JSON) to `url` with `headers`; the answer's head, its
    /// body to be read by the caller. The error is for the log only (it may
    /// name the provider's address).
    pub async fn post(
        &self,
        url: &str,
        headers: http::HeaderMap,
        body: Bytes,
    ) -> Result<http::Response<ModelBody>, String> {
        if let Some(pool) = &self.h2 {
            let mut req = http::Request::post(url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(body.clone()))
                .map_err(|e| e.to_string())?;
            req.headers_mut().extend(headers.clone());
            if let Some(answer) = pool.send(req).await? {
                return Ok(answer);
            }
        }
        let resp = self
            .h1
            .post(url)
            .headers(headers)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(http::Response::from(resp).map(|b| b.map_err(BoxError::from).boxed_unsync()))
    }
}

/// A whole answer body, refused past `cap` bytes. (A hand loop: `Limited`'s
/// boxed-error conversion trips the compiler's `Send` proof in spawned tasks.)
pub async fn read_to_end(mut body: ModelBody, cap: usize) -> Result<Bytes, String> {
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| describe(&*e))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > cap {
                return Err(format!("the answer is larger than {cap} bytes"));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}

/// The error and its causes on one line (for the log).
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// The same trust as reqwest's: Mozilla's roots as webpki-roots ships them.
fn webpki_tls() -> anyhow::Result<rustls::ClientConfig> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

/// HTTP/2 connections to one origin.
struct H2Pool {
    host: String,
    port: u16,
    /// `Some` for `https://`: the connector (offering `h2` first) and the
    /// name the certificate must carry.
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    per_connection: usize,
    /// In `auto`, the provider's TLS chose HTTP/1.1: every call goes by
    /// reqwest from then on.
    declined: AtomicBool,
    conns: Mutex<Vec<Arc<Conn>>>,
    /// The pool's clock origin for [`Conn::idle_since`].
    epoch: Instant,
}

struct Conn {
    send: tokio::sync::OnceCell<http2::SendRequest<Full<Bytes>>>,
    /// The provider's SETTINGS_MAX_CONCURRENT_STREAMS as last seen by the
    /// connection's task (`usize::MAX` until its SETTINGS arrive).
    peer_max: Arc<AtomicUsize>,
    /// Calls holding this connection, including those waiting for it to open.
    inflight: AtomicUsize,
    /// Opening it or a call on it failed: no new call takes it.
    failed: AtomicBool,
    /// Milliseconds after the pool's epoch when its last call ended.
    idle_since: std::sync::atomic::AtomicU64,
}

impl Conn {
    fn capacity(&self, configured: usize) -> usize {
        // The provider's SETTINGS_MAX_CONCURRENT_STREAMS, once it is known,
        // when lower than ours: past it, h2 would queue the call.
        configured.min(self.peer_max.load(Ordering::Relaxed).max(1))
    }

    fn usable(&self) -> bool {
        !self.failed.load(Ordering::Relaxed) && !self.send.get().is_some_and(|s| s.is_closed())
    }
}

enum Connect {
    /// The provider's TLS chose HTTP/1.1 (only in `auto`).
    NotH2,
    Failed(String),
}

impl H2Pool {
    fn for_url(
        base_url: &str,
        mode: Http2Mode,
        per_connection: usize,
        mut tls: rustls::ClientConfig,
    ) -> anyhow::Result<Option<Self>> {
        if mode == Http2Mode::Off {
            return Ok(None);
        }
        let uri: http::Uri = base_url.parse()?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if mode == Http2Mode::PriorKnowledge => false,
            // Plain HTTP cannot negotiate HTTP/2: only prior knowledge may assume it.
            _ => return Ok(None),
        };
        let host = uri
            .host()
            .ok_or_else(|| anyhow::anyhow!("the LLM base URL has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            tls.alpn_protocols = match mode {
                Http2Mode::PriorKnowledge => vec![b"h2".to_vec()],
                _ => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            };
            let name = rustls::pki_types::ServerName::try_from(host.clone())?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(tls)), name))
        } else {
            None
        };
        Ok(Some(Self {
            host,
            port,
            tls,
            per_connection: per_connection.max(1),
            declined: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            epoch: Instant::now(),
        }))
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A connection with room for one more call (opened by the caller if new).
    fn lease(&self) -> Lease {
        let now = self.now_ms();
        let idle_ms = u64::try_from(IDLE_TIMEOUT.as_millis()).unwrap_or(u64::MAX);
        // A poisoned lock only means a panic elsewhere mid-update of a Vec of Arcs: still consistent.
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.retain(|c| {
            c.usable()
                && (c.inflight.load(Ordering::Relaxed) > 0
                    || now.saturating_sub(c.idle_since.load(Ordering::Relaxed)) < idle_ms)
        });
        let conn = match conns
            .iter()
            .find(|c| c.inflight.load(Ordering::Relaxed) < c.capacity(self.per_connection))
        {
            Some(c) => c.clone(),
            None => {
                let c = Arc::new(Conn {
                    send: tokio::sync::OnceCell::new(),
                    peer_max: Arc::new(AtomicUsize::new(usize::MAX)),
                    inflight: AtomicUsize::new(0),
                    failed: AtomicBool::new(false),
                    idle_since: now.into(),
                });
                conns.push(c.clone());
                c
            }
        };
        // Under the lock, so two callers cannot both take the last place.
        conn.inflight.fetch_add(1, Ordering::Relaxed);
        Lease {
            conn,
            pool_epoch: self.epoch,
        }
    }

    /// Sends `req` on a pooled connection; `None` when the provider turned
    /// HTTP/2 down (the caller goes by HTTP/1.1).
    async fn send(
        &self,
        req: http::Request<Full<Bytes>>,
    ) -> Result<Option<http::Response<ModelBody>>, String> {
        if self.declined.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let lease = self.lease();
        let opened = lease
            .conn
            .send
            .get_or_try_init(|| async {
                // Another caller's attempt at this connection failed: do not
                // retry it here (the caller's retry takes a fresh lease).
                if lease.conn.failed.load(Ordering::Relaxed) {
                    return Err(Connect::Failed("the connection failed to open".into()));
                }
                self.connect(lease.conn.peer_max.clone()).await
            })
            .await;
        let mut send = match opened {
            Ok(send) => send.clone(),
            Err(Connect::NotH2) => {
                lease.conn.failed.store(true, Ordering::Relaxed);
                if !self.declined.swap(true, Ordering::Relaxed) {
                    tracing::info!("the LLM provider does not offer HTTP/2: using HTTP/1.1");
                }
                return Ok(None);
            }
            Err(Connect::Failed(e)) => {
                lease.conn.failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        // A connection that failed a call gets no new call; its calls in
        // flight go on, and the caller's retry takes a fresh lease. (After a
        // GOAWAY hyper already reports the connection closed, which `lease`
        // skips: see the test below.)
        let refused = |e: hyper::Error| {
            lease.conn.failed.store(true, Ordering::Relaxed);
            describe(&e)
        };
        send.ready().await.map_err(refused)?;
        let answer = send.send_request(req).await.map_err(refused)?;
        Ok(Some(answer.map(|body| {
            Leased {
                body,
                _lease: lease,
            }
            .boxed_unsync()
        })))
    }

    async fn connect(
        &self,
        peer_max: Arc<AtomicUsize>,
    ) -> Result<http2::SendRequest<Full<Bytes>>, Connect> {
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| Connect::Failed("connecting timed out".into()))?
        .map_err(|e| Connect::Failed(format!("cannot connect: {e}")))?;
        // Streamed tokens are small writes each awaited by the reader.
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(TokioIo::new(tcp), peer_max).await,
            Some((connector, name)) => {
                let tls =
                    tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name.clone(), tcp))
                        .await
                        .map_err(|_| Connect::Failed("the TLS handshake timed out".into()))?
                        .map_err(|e| Connect::Failed(format!("TLS handshake failed: {e}")))?;
                if tls.get_ref().1.alpn_protocol() != Some(b"h2".as_slice()) {
                    return Err(Connect::NotH2);
                }
                handshake(TokioIo::new(tls), peer_max).await
            }
        }
    }
}

async fn handshake<T>(
    io: T,
    peer_max: Arc<AtomicUsize>,
) -> Result<http2::SendRequest<Full<Bytes>>, Connect>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (send, conn) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        // A provider or a middlebox that silently dropped the connection is
        // noticed while calls wait on it, not at the next call's timeout.
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20))
        .handshake(io)
        .await
        .map_err(|e| Connect::Failed(format!("HTTP/2 handshake failed: {}", describe(&e))))?;
    tokio::spawn(async move {
        let mut conn = std::pin::pin!(conn);
        // Each time the connection makes progress (a SETTINGS frame
        // included), publish the provider's stream limit to the pool.
        let closed = std::future::poll_fn(|cx| {
            let progress = conn.as_mut().poll(cx);
            peer_max.store(conn.current_max_send_streams(), Ordering::Relaxed);
            progress
        })
        .await;
        if let Err(e) = closed {
            tracing::debug!(error = %describe(&e), "LLM provider connection closed");
        }
    });
    Ok(send)
}

/// One call's place on a connection, given back when its answer is read or dropped.
struct Lease {
    conn: Arc<Conn>,
    pool_epoch: Instant,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.conn.inflight.fetch_sub(1, Ordering::Relaxed) == 1 {
            let now = u64::try_from(self.pool_epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.conn.idle_since.store(now, Ordering::Relaxed);
        }
    }
}

/// An answer body holding its call's [`Lease`].
struct Leased {
    body: hyper::body::Incoming,
    _lease: Lease,
}

impl Body for Leased {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.body)
            .poll_frame(cx)
            .map_err(BoxError::from)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Serves one connection (HTTP/1.1 or HTTP/2, as the client speaks):
    /// every request goes to `answer`.
    async fn serve<I, F, Fut>(io: I, answer: F)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
        F: Fn(http::Request<hyper::body::Incoming>) -> Fut + Send + 'static,
        Fut: Future<Output = http::Response<Full<Bytes>>> + Send + 'static,
    {
        let service = hyper::service::service_fn(move |req| {
            let answer = answer(req);
            async move { Ok::<_, std::convert::Infallible>(answer.await) }
        });
        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
            .serve_connection(io, service)
            .await;
    }

    /// A TLS server on loopback for `localhost`, offering `alpn`, answering
    /// every request after 300 ms with its protocol version; counts connections.
    async fn tls_server(alpn: &[&[u8]]) -> (u16, rustls::ClientConfig, Arc<AtomicUsize>) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert_der = cert.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert_der.clone()], key)
            .unwrap();
        server.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    serve(TokioIo::new(tls), |req| async move {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        let answer = format!("{:?} {}", req.version(), req.uri().path());
                        http::Response::new(Full::new(Bytes::from(answer)))
                    })
                    .await;
                });
            }
        });
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert_der).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (port, client, accepted)
    }

    fn request(port: u16) -> http::Request<Full<Bytes>> {
        http::Request::post(format!("https://localhost:{port}/v1/chat/completions"))
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap()
    }

    /// A pool (`auto`, two calls to a connection) for a TLS server offering `alpn`.
    async fn tls_pool(alpn: &[&[u8]]) -> (H2Pool, u16, Arc<AtomicUsize>) {
        let (port, tls, accepted) = tls_server(alpn).await;
        let pool = H2Pool::for_url(
            &format!("https://localhost:{port}/v1"),
            Http2Mode::Auto,
            2,
            tls,
        )
        .unwrap()
        .unwrap();
        (pool, port, accepted)
    }

    #[tokio::test]
    async fn concurrent_calls_share_tls_http2_connections() {
        let (pool, port, accepted) = tls_pool(&[b"h2", b"http/1.1"]).await;
        let calls = (0..5).map(|_| pool.send(request(port)));
        for answer in futures_util::future::join_all(calls).await {
            let answer = answer.unwrap().expect("HTTP/2 was offered");
            let body = answer.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"HTTP/2.0 /v1/chat/completions");
        }
        // Five calls at once, two per connection.
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
        // Every place is given back once the answers are read.
        let conns = pool.conns.lock().unwrap().clone();
        assert!(conns.iter().all(|c| c.inflight.load(Ordering::SeqCst) == 0));
        pool.send(request(port)).await.unwrap().unwrap();
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            3,
            "an open connection is reused"
        );
    }

    #[tokio::test]
    async fn a_provider_choosing_http1_is_left_to_http1() {
        let (pool, port, accepted) = tls_pool(&[b"http/1.1"]).await;
        assert!(pool.send(request(port)).await.unwrap().is_none());
        assert!(pool.send(request(port)).await.unwrap().is_none());
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "asked once, then remembered"
        );
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_an_error_and_a_later_call_reconnects() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let pool = H2Pool::for_url(
            &format!("http://127.0.0.1:{port}/v1"),
            Http2Mode::PriorKnowledge,
            4,
            webpki_tls().unwrap(),
        )
        .unwrap()
        .unwrap();
        let req = || {
            http::Request::post(format!("http://127.0.0.1:{port}/v1/x"))
                .body(Full::new(Bytes::new()))
                .unwrap()
        };
        let err = pool.send(req()).await.unwrap_err();
        assert!(err.contains("cannot connect"), "{err}");
        // Now something listens (h2c): the failed connection is not reused.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(TokioIo::new(tcp), |_req| async {
                    http::Response::new(Full::new(Bytes::from_static(b"up")))
                }));
            }
        });
        let answer = pool.send(req()).await.unwrap().unwrap();
        assert_eq!(answer.version(), http::Version::HTTP_2);
        assert_eq!(
            &answer.into_body().collect().await.unwrap().to_bytes()[..],
            b"up"
        );
    }

    #[tokio::test]
    async fn after_a_goaway_new_calls_go_to_a_new_connection() {
        // An h2c server whose first connection, once a call is in flight on
        // it, says GOAWAY (and still answers that call).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let goaway = Arc::new(tokio::sync::Notify::new());
        let signal = goaway.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let nth = count.fetch_add(1, Ordering::SeqCst);
                let signal = signal.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        |req: http::Request<hyper::body::Incoming>| async move {
                            if req.uri().path() == "/slow" {
                                tokio::time::sleep(Duration::from_millis(600)).await;
                            }
                            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                                Bytes::from_static(b"ok"),
                            )))
                        },
                    );
                    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), service);
                    let mut conn = std::pin::pin!(conn);
                    if nth == 0 {
                        tokio::select! {
                            _ = conn.as_mut() => return,
                            () = signal.notified() => conn.as_mut().graceful_shutdown(),
                        }
                    }
                    let _ = conn.await;
                });
            }
        });
        let pool = H2Pool::for_url(
            &format!("http://127.0.0.1:{port}/v1"),
            Http2Mode::PriorKnowledge,
            100,
            webpki_tls().unwrap(),
        )
        .unwrap()
        .unwrap();
        let pool = Arc::new(pool);
        let req = |path: &str| {
            http::Request::post(format!("http://127.0.0.1:{port}{path}"))
                .body(Full::new(Bytes::new()))
                .unwrap()
        };
        let held = {
            let pool = pool.clone();
            let slow = req("/slow");
            tokio::spawn(async move { pool.send(slow).await })
        };
        tokio::time::sleep(Duration::from_millis(150)).await;
        goaway.notify_one();
        tokio::time::sleep(Duration::from_millis(150)).await;
        // At most one call is refused (the one that finds out); the next goes elsewhere.
        let mut answer = pool.send(req("/fast")).await;
        if answer.is_err() {
            answer = pool.send(req("/fast")).await;
        }
        let answer = answer.expect("a call after GOAWAY").unwrap();
        assert_eq!(
            &answer.into_body().collect().await.unwrap().to_bytes()[..],
            b"ok"
        );
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "a second connection was opened"
        );
        // The call in flight when GOAWAY came was still answered.
        let held = held.await.unwrap().unwrap().unwrap();
        assert_eq!(
            &held.into_body().collect().await.unwrap().to_bytes()[..],
            b"ok"
        );
    }

    #[test]
    fn plain_http_is_http2_only_by_prior_knowledge() {
        let tls = webpki_tls().unwrap();
        assert!(
            H2Pool::for_url("http://127.0.0.1:1/v1", Http2Mode::Auto, 4, tls.clone())
                .unwrap()
                .is_none()
        );
        assert!(
            H2Pool::for_url("https://api.example.com/v1", Http2Mode::Off, 4, tls.clone())
                .unwrap()
                .is_none()
        );
        let pool = H2Pool::for_url("https://api.example.com/v1", Http2Mode::Auto, 4, tls)
            .unwrap()
            .unwrap();
        assert_eq!((pool.host.as_str(), pool.port), ("api.example.com", 443));
    }
}
