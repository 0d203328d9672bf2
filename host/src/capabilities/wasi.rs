//! `wasi:cli`, `wasi:clocks`, `wasi:random`, `wasi:io`, `wasi:filesystem`,
//! `wasi:sockets` (WASI 0.2): linked so that any component instantiates
//! (Rust's std imports `wasi:cli`; componentize-py also imports the
//! filesystem and sockets), with nothing granted: no environment variables,
//! no arguments, no preopened directories, no network. Clocks and random work.

use super::{Capability, InstanceState, RequestInfo};
use crate::manifest::ComponentConfig;
use std::sync::Arc;
use wasmtime::component::Linker;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The WASI capability.
pub struct Wasi;

impl Capability for Wasi {
    type Grant = ();
    type State = WasiCtx;

    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        Ok(wasmtime_wasi::p2::add_to_linker_async(linker)?)
    }

    fn grant(&self, _id: &str, _component: &ComponentConfig) -> Result<(), String> {
        Ok(())
    }

    fn instance(&self, _grant: &(), _request: &Arc<RequestInfo>) -> WasiCtx {
        // Component output goes to the host's stdout/stderr so a panic
        // message is visible in the logs; nothing else is inherited.
        WasiCtx::builder()
            .inherit_stdout()
            .inherit_stderr()
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
