//! Layer 4: the live application: immutable snapshots of routes, loaded
//! components and tools, swapped atomically by the registry.

pub mod deploy;
pub mod docs;
pub mod endpoints;
pub mod registry;
pub mod snapshot;
pub mod watch;
