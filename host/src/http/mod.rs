//! Layer 5: the HTTP edge: connections, CORS, the request pipeline, and the
//! endpoints the host answers itself.

pub mod accounts;
pub mod admin;
pub mod body;
pub mod builtin;
pub mod cors;
pub mod llm_limits;
pub mod mcp;
pub mod response;
pub mod server;
