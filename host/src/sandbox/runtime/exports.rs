//! Host bindings for what components export besides `wasi:http`: the
//! `tool-provider` interface.

use crate::sandbox::capabilities::InstanceState;

/// Bindings generated from the `tool-exports` world.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "spaceport:platform/tool-exports",
        exports: { default: async },
        // One Rust type for `tool` and `tool-error` whether a tool comes
        // out of a provider's export or goes into an agent's `tools` import.
        with: {
            "spaceport:platform/tool-types": crate::sandbox::capabilities::bindings::tool_types,
        },
    });
}

pub use crate::sandbox::capabilities::bindings::tool_types::{Tool, ToolError};

/// Pre-instantiated tool-provider export of a component.
pub type ToolsPre = bindings::ToolExportsPre<InstanceState>;
