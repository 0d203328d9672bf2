//! Spaceport: a WebAssembly component host for AI chatbot backends.
//!
//! One module per concern: [`manifest`] (spin-like.toml), [`routes`],
//! [`runtime`] (wasmtime), [`capabilities`] (one file per WIT interface),
//! [`registry`] + [`watch`] (hot swap), [`server`] (HTTP), [`cors`],
//! [`status`], [`config`] + [`logging`], [`db`] (SQLite/PostgreSQL pools),
//! [`auth`] + [`users`] (JWT accounts), [`tools`] (tool dispatch), and [`cli`].

pub mod auth;
pub mod capabilities;
pub mod cli;
pub mod config;
pub mod cors;
pub mod db;
pub mod docs;
pub mod llm;
pub mod logging;
pub mod manifest;
pub mod registry;
pub mod routes;
pub mod runtime;
pub mod server;
pub mod status;
pub mod tools;
pub mod users;
pub mod watch;
