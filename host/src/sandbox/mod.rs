//! Layer 3: running untrusted components. The runtime makes instances, the
//! capabilities decide what an instance can reach, and tool dispatch runs
//! tool calls in fresh instances.

pub mod capabilities;
pub mod limits;
pub mod runtime;
pub mod tools;
