//! The endpoints the host answers itself, before any route: one table, read
//! by the HTTP layer (to serve them), the registry (to warn about routes they
//! shadow) and the docs.

use crate::manifest::routes::RoutePattern;
use crate::services::auth::AuthPolicy;

/// Endpoints the host answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Register,
    Login,
    Me,
    ListTools,
    CallTool,
    OpenApi,
    Docs,
    /// `POST /api/v1/sessions`: a new anonymous session (seed 002).
    NewSession,
}

pub static CALL_TOOL: std::sync::LazyLock<RoutePattern> = std::sync::LazyLock::new(|| {
    RoutePattern::parse("/api/:user_id/tools/:name").unwrap_or_else(|e| panic!("static route: {e}"))
});

/// The host's fixed-path endpoints: method, path, endpoint. The one place
/// these paths are written.
const FIXED: [(&str, &str, Builtin); 7] = [
    ("POST", "/api/auth/register", Builtin::Register),
    ("POST", "/api/auth/login", Builtin::Login),
    ("GET", "/api/auth/me", Builtin::Me),
    ("GET", "/api/tools", Builtin::ListTools),
    ("GET", "/openapi.json", Builtin::OpenApi),
    ("GET", "/docs", Builtin::Docs),
    ("POST", "/api/v1/sessions", Builtin::NewSession),
];

/// Paths the host answers itself, before any route.
pub fn host_paths() -> impl Iterator<Item = &'static str> {
    FIXED.iter().map(|(_, path, _)| *path)
}

/// The `Allow` header for one of the host's own paths, when a request names
/// it with a method the host does not answer there (`405`): the path's method,
/// `HEAD` with `GET`, and `OPTIONS` (CORS answers it). `None` for other paths.
pub fn allowed_at(path: &str) -> Option<String> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let method = match FIXED.iter().find(|(_, p, _)| *p == path) {
        Some((method, _, _)) => *method,
        None if path.contains("/tools/") && CALL_TOOL.matches(path).is_some() => "POST",
        None => return None,
    };
    Some(if method == "GET" {
        "GET, HEAD, OPTIONS".to_string()
    } else {
        format!("{method}, OPTIONS")
    })
}

impl Builtin {
    /// The endpoint for `method` and `path`, if the host answers it itself
    /// (`HEAD` wherever `GET` is answered).
    pub fn lookup(method: &http::Method, path: &str) -> Option<Self> {
        let path = path.strip_suffix('/').unwrap_or(path);
        let method = if method == http::Method::HEAD {
            "GET"
        } else {
            method.as_str()
        };
        if let Some((_, _, b)) = FIXED.iter().find(|(m, p, _)| *p == path && *m == method) {
            return Some(*b);
        }
        // Cheap test first: this runs for every request.
        (method == http::Method::POST
            && path.contains("/tools/")
            && CALL_TOOL.matches(path).is_some())
        .then_some(Self::CallTool)
    }

    /// Who may call it; checked before the body is read, as on component routes.
    pub fn auth(self) -> AuthPolicy {
        match self {
            Self::Me | Self::CallTool => AuthPolicy::Required,
            Self::Register
            | Self::Login
            | Self::ListTools
            | Self::OpenApi
            | Self::Docs
            | Self::NewSession => AuthPolicy::None,
        }
    }

    /// The path parameter that must be the caller's own user id (403 otherwise).
    pub fn user_param(self) -> Option<&'static str> {
        (self == Self::CallTool).then_some("user_id")
    }

    /// The path's parameters (`user_id` and `name` of a tool call).
    pub fn params(self, path: &str) -> Vec<(String, String)> {
        match self {
            Self::CallTool => CALL_TOOL
                .matches(path)
                .map(|m| m.params)
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The endpoint's route, for logs.
    pub fn route(self) -> &'static str {
        match self {
            Self::CallTool => CALL_TOOL.as_str(),
            fixed => FIXED
                .iter()
                .find(|(_, _, b)| *b == fixed)
                .map_or("-", |(_, path, _)| *path),
        }
    }
}
