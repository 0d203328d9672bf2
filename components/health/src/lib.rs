//! Health and landing page for a Spaceport app.
//!
//! * `GET /health`, `GET /api/health`: `{"status", "version", "dependencies"}`,
//!   200 when healthy, 503 when degraded or starting.
//! * `GET /`: tells a visitor (or the Hugging Face Space iframe) that this is
//!   an API and where to look.

use serde::Serialize;
use serde_json::json;
use spaceport_sdk::host_status::{self, State};
use spaceport_sdk::{Handler, Request, Response};
use std::collections::BTreeMap;

struct Health;

impl Handler for Health {
    fn handle(req: Request) -> Response {
        if req.method != "GET" && req.method != "HEAD" {
            return Response::error(405, "method_not_allowed", "use GET")
                .with_header("allow", "GET, HEAD");
        }
        match req.path.as_str() {
            "/health" | "/api/health" => health(),
            "/" => landing(&req),
            other => Response::error(404, "not_found", &format!("no resource at {other}")),
        }
    }
}

fn state_name(state: State) -> &'static str {
    match state {
        State::Healthy => "healthy",
        State::Degraded => "degraded",
        State::Down => "down",
        State::Starting => "starting",
        State::Unconfigured => "unconfigured",
        State::Configured => "configured",
    }
}

/// The overall status: starting while anything starts, degraded while anything
/// is down or degraded, else healthy. `unconfigured` and `configured` are not outages.
fn overall(states: impl Iterator<Item = State>) -> &'static str {
    let mut result = "healthy";
    for s in states {
        match s {
            State::Starting => return "starting",
            State::Down | State::Degraded => result = "degraded",
            State::Healthy | State::Unconfigured | State::Configured => {}
        }
    }
    result
}

/// The `/health` body; borrowed from the host's status, serialized once.
#[derive(Serialize)]
struct Report<'a> {
    status: &'static str,
    version: &'a str,
    app: &'a str,
    host_version: &'a str,
    uptime_seconds: u64,
    dependencies: BTreeMap<&'a str, Entry<'a>>,
}

#[derive(Serialize)]
struct Entry<'a> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<u32>,
}

fn health() -> Response {
    let status = host_status::get();
    let overall = overall(status.dependencies.iter().map(|d| d.state));
    let report = Report {
        status: overall,
        version: &status.app_version,
        app: &status.app_name,
        host_version: &status.host_version,
        uptime_seconds: status.uptime_ms / 1000,
        dependencies: status
            .dependencies
            .iter()
            .map(|d| {
                let entry = Entry {
                    status: state_name(d.state),
                    detail: d.detail.as_deref(),
                    latency_ms: d.latency_ms,
                };
                (d.name.as_str(), entry)
            })
            .collect(),
    };
    let code = if overall == "healthy" { 200 } else { 503 };
    Response::json(code, &report).with_header("cache-control", "no-store")
}

fn landing(req: &Request) -> Response {
    let status = host_status::get();
    let wants_html = req
        .header("accept")
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        let name = html_escape(&status.app_name);
        let version = html_escape(&status.app_version);
        Response::html(
            200,
            format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>{name}</title></head>\
                 <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">\
                 <h1>{name} <small>{version}</small></h1>\
                 <p>This is an API served by Spaceport; there is no web page here.</p>\
                 <ul><li><a href=\"/health\">/health</a>: service health</li>\
                 <li><a href=\"/docs\">/docs</a>: API documentation</li></ul></body></html>"
            ),
        )
    } else {
        Response::json(
            200,
            &json!({
                "name": status.app_name,
                "version": status.app_version,
                "message": "This is an API served by Spaceport; see /health and /docs.",
                "health": "/health",
                "docs": "/docs",
            }),
        )
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

spaceport_sdk::http_component!(Health);
