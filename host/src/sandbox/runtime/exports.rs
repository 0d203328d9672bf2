//! Host bindings for what components export besides `wasi:http`: the
//! `tool-provider` interface.

use crate::sandbox::capabilities::InstanceState;

/// Bindings generated from the `tool-exports` world.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "spaceport:platform/tool-exports",
        exports: { default: async },
    });
}

pub use bindings::exports::spaceport::platform::tool_provider::{Tool, ToolError};

/// Pre-instantiated tool-provider export of a component.
pub type ToolsPre = bindings::ToolExportsPre<InstanceState>;
