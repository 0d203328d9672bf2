//! `wasi:cli`, `wasi:clocks`, `wasi:random`, `wasi:io`, `wasi:filesystem`,
//! `wasi:sockets` (WASI 0.2): linked so that any component instantiates
//! (Rust's std imports `wasi:cli`; componentize-py also imports the
//! filesystem and sockets), with nothing granted: no environment variables,
//! no arguments, no preopened directories, no network. Clocks and random work.
//!
//! A component's stdout and stderr become log lines (one per line it prints,
//! with the component id, in the request's span so they carry its request
//! id), bounded per instance so a chatty component cannot flood the logs.

use super::{Capability, GrantError, InstanceState, RequestInfo};
use crate::manifest::ComponentConfig;
use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime::component::Linker;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Bytes one instance may log on each of stdout and stderr; the rest is counted and dropped.
const OUTPUT_LIMIT: usize = 64 * 1024;
/// A line longer than this is logged in pieces.
const LINE_LIMIT: usize = 4096;

/// The WASI capability.
pub struct Wasi;

impl Capability for Wasi {
    type Grant = ();
    type State = WasiCtx;

    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        Ok(wasmtime_wasi::p2::add_to_linker_async(linker)?)
    }

    fn grant(&self, _id: &str, _component: &ComponentConfig) -> Result<(), GrantError> {
        Ok(())
    }

    fn instance(
        &self,
        _grant: &(),
        request: &Arc<RequestInfo>,
        _deadline: std::time::Instant,
    ) -> WasiCtx {
        WasiCtx::builder()
            .stdout(ComponentOutput::new(&request.component_id, Channel::Stdout))
            .stderr(ComponentOutput::new(&request.component_id, Channel::Stderr))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build()
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Channel {
    Stdout,
    Stderr,
}

/// One instance's stdout or stderr, turned into log lines.
#[derive(Clone)]
struct ComponentOutput(Arc<Mutex<LineLog>>);

struct LineLog {
    component: Arc<str>,
    channel: Channel,
    line: Vec<u8>,
    logged: usize,
    dropped: usize,
}

impl ComponentOutput {
    fn new(component: &Arc<str>, channel: Channel) -> Self {
        Self(Arc::new(Mutex::new(LineLog {
            component: component.clone(),
            channel,
            line: Vec::new(),
            logged: 0,
            dropped: 0,
        })))
    }

    fn write(&self, bytes: &[u8]) {
        if let Ok(mut log) = self.0.lock() {
            log.write(bytes);
        }
    }
}

impl LineLog {
    fn write(&mut self, mut bytes: &[u8]) {
        let room = OUTPUT_LIMIT.saturating_sub(self.logged + self.line.len());
        if bytes.len() > room {
            self.dropped += bytes.len() - room;
            bytes = &bytes[..room];
        }
        for &b in bytes {
            if b == b'\n' {
                self.emit();
            } else {
                self.line.push(b);
                if self.line.len() >= LINE_LIMIT {
                    self.emit();
                }
            }
        }
    }

    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end_matches('\r');
        match self.channel {
            _ if text.trim().is_empty() => {}
            Channel::Stdout => {
                tracing::info!(target: "component", component = %self.component, "{text}")
            }
            Channel::Stderr => {
                tracing::warn!(target: "component", component = %self.component, stream = "stderr", "{text}")
            }
        }
        self.logged += self.line.len() + 1;
        self.line.clear();
    }
}

impl Drop for LineLog {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
        if self.dropped > 0 {
            tracing::warn!(
                component = %self.component,
                dropped_bytes = self.dropped,
                limit_bytes = OUTPUT_LIMIT,
                "component output over the per-request limit was dropped"
            );
        }
    }
}

impl IsTerminal for ComponentOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for ComponentOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for ComponentOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for ComponentOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        ComponentOutput::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(LINE_LIMIT)
    }
}

impl tokio::io::AsyncWrite for ComponentOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
