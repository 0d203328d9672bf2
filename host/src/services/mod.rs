//! Layer 1: the host's own services. Nothing here knows about components,
//! manifests or HTTP routing; higher layers reach these through traits
//! (see `sandbox::capabilities`) or directly.

pub mod auth;
pub mod databases;
pub mod db;
pub mod deploy;
pub mod llm;
pub mod llm_http;
pub mod metrics;
pub mod qdrant;
pub mod sessions;
pub mod status;
pub mod telemetry;
pub mod vectors;
