//! Spaceport: a WebAssembly component host for AI chatbot backends.
//!
//! The crate is layered. Each folder is a layer, listed here lowest first; a
//! module imports only from its own layer or a layer below it, and the module
//! graph has no cycle (`host/tests/layers.rs` checks both).
//!
//! 1. [`services`]: the host's own services, knowing nothing of components.
//!    - [`services::status`]: the status board behind `/health`.
//!    - [`services::db`]: SQLite/PostgreSQL pools, one value and error model.
//!    - [`services::llm`]: the OpenAI-compatible client (retries, streaming).
//!    - [`services::auth`]: JWT issue/verify, the [`services::auth::Principal`], route auth policies, login rate limit.
//!    - [`services::databases`]: opening the host's and the manifest's databases, with migrations and roles.
//!    - [`services::deploy`]: the log and blobs of deployed component versions.
//!    - [`services::vectors`]: vector stores: the embedded one (host database) and an in-memory one.
//!    - [`services::qdrant`]: Qdrant as the vector store, over its REST API.
//! 2. [`manifest`]: the app as written in `spin-like.toml`.
//!    - [`manifest`] itself: parsing and validation of the manifest.
//!    - [`manifest::routes`]: route patterns and the most-specific-match router.
//!    - [`manifest::outbound`]: `allowed_outbound_hosts` entries, parsed once.
//! 3. [`sandbox`]: running untrusted components.
//!    - [`sandbox::limits`]: the per-instance memory limiter.
//!    - [`sandbox::capabilities`]: one file per WIT interface, all with the same link → grant → instance lifecycle and a backend trait.
//!    - [`sandbox::runtime`]: the wasmtime engine, compile cache, instance tasks.
//!    - [`sandbox::tools`]: tool dispatch (describe, catalog, call) on the runtime.
//! 4. [`kit`]: component unit tests (`spaceport test`) on the sandbox, with fakes.
//!    - [`kit::cases`]: the TOML test file format.
//!    - [`kit::fakes`]: recording databases, a scripted model, stubbed tools.
//!    - [`kit::harness`]: running a component's cases in-process.
//!    - [`kit::logs`]: capturing a case's log lines.
//! 5. [`app`]: the live application.
//!    - [`app::endpoints`]: the table of endpoints the host answers itself.
//!    - [`app::snapshot`]: the immutable [`app::snapshot::App`] a request runs against; it is also the tools capability's host.
//!    - [`app::docs`]: the OpenAPI document and `/docs`.
//!    - [`app::registry`]: loading, validating and atomically swapping snapshots.
//!    - [`app::watch`]: file watching that triggers reloads.
//!    - [`app::deploy`]: deploys into the running app (check, record, swap; replicas follow).
//! 6. [`http`]: the HTTP edge.
//!    - [`http::response`]: the JSON response and error helpers.
//!    - [`http::body`]: reading a request body whole, bounded in size and time.
//!    - [`http::cors`]: the CORS layer.
//!    - [`http::accounts`]: register, login, me.
//!    - [`http::builtin`]: the host's own endpoints (accounts, tools, docs).
//!    - [`http::admin`]: the admin API (deploy, status, rollback), behind its own token.
//!    - [`http::server`]: accept loop and the request pipeline.
//! 7. [`cli`]: the process edge.
//!    - [`cli::config`]: every setting, read from flags and the environment by clap.
//!    - [`cli::logging`]: the tracing subscriber.
//!    - [`cli::serve`]: wiring the layers together for `spaceport up`.
//!    - [`cli::dev`], [`cli::new`], [`cli::test`], [`cli::deploy`]: `dev`, `new`, `test`, `deploy`/`status`/`rollback`.
//!    - [`cli`] itself: the commands.

pub mod services;

pub mod manifest;

pub mod sandbox;

pub mod kit;

pub mod app;

pub mod http;

pub mod cli;
