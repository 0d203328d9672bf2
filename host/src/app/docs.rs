//! API documentation for the running app: an OpenAPI 3.1 document served at
//! `/openapi.json`, and `/docs`, a Swagger UI page that reads it.
//!
//! The document is assembled from what the app really serves: the host's own
//! endpoints, one path per tool (its JSON Schema as the request body), and
//! each component's own fragment (`openapi = "…"` in the manifest), onto which
//! the host stamps the auth its routes enforce and the statuses it answers
//! there itself. It is rebuilt with every reload, so it follows hot swaps,
//! and with it the table of the methods each fragment documents, which the
//! host enforces (405 with `Allow` for any other).

use super::snapshot::{Methods, OPERATIONS, OpenApi, RouteTarget};
use crate::manifest::routes::Router;
use crate::manifest::{Manifest, ManifestError};
use crate::sandbox::tools::Catalog;
use crate::services::auth::AuthPolicy;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Read and check component `id`'s fragment: a JSON object with a `paths`
/// object and optionally `components.schemas`.
pub fn read_fragment(manifest: &Manifest, id: &str) -> Result<Option<Value>, ManifestError> {
    let Some(config) = manifest.components.get(id) else {
        return Ok(None);
    };
    let Some(relative) = &config.openapi else {
        return Ok(None);
    };
    let invalid = |message: String| ManifestError::Invalid {
        file: manifest.path.clone(),
        key: format!("component.{id}.openapi"),
        message,
    };
    let path = manifest.base_dir.join(relative);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| invalid(format!("{} is not valid JSON: {e}", path.display())))?;
    if !doc.get("paths").is_some_and(Value::is_object) {
        return Err(invalid(format!(
            "{}: expected an OpenAPI fragment, a JSON object with a `paths` object",
            path.display()
        )));
    }
    Ok(Some(doc))
}

/// The whole OpenAPI document.
pub fn document(
    manifest: &Manifest,
    router: &Router<RouteTarget>,
    tools: &Catalog,
    fragments: &BTreeMap<String, Value>,
) -> OpenApi {
    let mut methods = Methods::default();
    let mut paths = builtin_paths();
    for (name, entry) in tools
        .iter()
        .filter(|(_, e)| manifest.http_tools(&e.component.id))
    {
        paths.insert(
            format!("/api/{{user_id}}/tools/{name}"),
            tool_path(name, &entry.tool.description, &entry.schema),
        );
    }
    let mut schemas = builtin_schemas();
    for (id, fragment) in fragments {
        if let Some(Value::Object(more)) = fragment.pointer("/components/schemas") {
            for (name, schema) in more {
                if schemas.contains_key(name) {
                    // Replacing it would change what every `$ref` to it means.
                    tracing::warn!(component = %id, schema = %name, "the component's OpenAPI fragment redefines a schema that already exists; its version is left out");
                } else {
                    schemas.insert(name.clone(), schema.clone());
                }
            }
        }
        let Some(Value::Object(fragment_paths)) = fragment.get("paths") else {
            continue;
        };
        for (path, item) in fragment_paths {
            match served_by(router, path) {
                Some(target) if target.component.id.as_ref() == id.as_str() => {
                    methods.add(id, path, item);
                    paths.insert(path.clone(), stamp(item.clone(), target, id));
                }
                _ => tracing::warn!(
                    component = %id,
                    path = %path,
                    "the component's OpenAPI fragment documents a path no route sends to it; left out of /openapi.json"
                ),
            }
        }
    }
    let document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": manifest.application.name,
            "version": manifest.application.version,
            "description": manifest.application.description,
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
                "session": {
                    "type": "apiKey", "in": "header", "name": "X-Session-Id",
                    "description": "An anonymous session (routes that take one): from `POST /api/v1/sessions`, or any id of your own; also read from the `spaceport_session` cookie or a `session_id` field of a JSON body. Without one, the host mints a session and returns it in `X-Session-Id` and a cookie."
                }
            }
        }
    });
    OpenApi { document, methods }
}

/// The route target for an OpenAPI path (`{name}` segments become a sample value).
fn served_by<'a>(router: &'a Router<RouteTarget>, path: &str) -> Option<&'a RouteTarget> {
    let sample: Vec<&str> = path
        .split('/')
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                "1"
            } else {
                s
            }
        })
        .collect();
    router.lookup(&sample.join("/")).map(|(_, t, _)| t)
}

/// Stamp onto every operation what the host enforces on the route: its auth
/// policy (`security`, and the 401/403 it answers), and the statuses the host
/// itself answers there: the body's (400, 408, 413, where one is read), the
/// per-user LLM limits (429, on a route whose component holds the `llm`
/// grant), and the component's failures (500, 502, 503, 504). The fragment's
/// own description of a status wins.
fn stamp(mut item: Value, target: &RouteTarget, component: &str) -> Value {
    let Some(operations) = item.as_object_mut() else {
        return item;
    };
    for (method, op) in operations.iter_mut() {
        let Some(op) = op
            .as_object_mut()
            .filter(|_| OPERATIONS.contains(&method.as_str()))
        else {
            continue;
        };
        op.insert("x-spaceport-component".into(), json!(component));
        match target.auth {
            AuthPolicy::None => {}
            AuthPolicy::Optional => {
                op.insert("security".into(), json!([{}, { "bearer": [] }]));
            }
            AuthPolicy::Required => {
                op.insert("security".into(), json!([{ "bearer": [] }]));
            }
            AuthPolicy::Session => {
                op.insert(
                    "security".into(),
                    json!([{}, { "bearer": [] }, { "session": [] }]),
                );
            }
        }
        let reads_body = op.contains_key("requestBody");
        let Some(responses) = op
            .entry("responses")
            .or_insert_with(|| json!({}))
            .as_object_mut()
        else {
            continue;
        };
        let mut add = |status: &str, description: &str| {
            responses
                .entry(status)
                .or_insert_with(|| error_response(description));
        };
        if target.auth != AuthPolicy::None {
            add("401", UNAUTHORIZED);
            if target.user_param.is_some() {
                add("403", FORBIDDEN);
            }
        }
        if target.auth == AuthPolicy::Session {
            add(
                "422",
                "the session id is not 1 to 128 letters, digits, `-`, `_`, `.` or `:` (`validation_error`)",
            );
        }
        if reads_body {
            add("400", "the request body could not be read (`bad_request`)");
            add("408", TIMEOUT);
            add("413", TOO_LARGE);
        }
        if target.component.grants.llm.is_some() && target.auth != AuthPolicy::None {
            add(
                "429",
                "this account is over its requests to the model per minute or at once (`rate_limited`, see Retry-After)",
            );
        }
        add(
            "500",
            "the component failed (it trapped, ran out of memory or called a capability it was not granted) or reported an internal error",
        );
        add(
            "502",
            "the component answered with an error code instead of a response (`component_error`)",
        );
        add(
            "503",
            "every instance slot is in use (`busy`, see Retry-After), or the database is unavailable",
        );
        add(
            "504",
            "the component did not finish within its deadline (`component_timeout`)",
        );
    }
    item
}

const UNAUTHORIZED: &str = "missing, invalid or expired bearer token";
const FORBIDDEN: &str = "the path names another user than the token's";
const TIMEOUT: &str = "the request body did not arrive in time (`request_timeout`)";
const TOO_LARGE: &str = "the request body is over the host's limit (`payload_too_large`)";

/// A JSON Schema `pattern` for a text field: something besides white space
/// (Unicode `White_Space`, what Rust's `str::trim` removes) and no NUL (which
/// PostgreSQL cannot store). Linear, and written out so that every regex
/// dialect (the host's, a client's) reads it alike.
pub const TEXT: &str = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\0\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\0]*$";

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn user_id_param() -> Value {
    json!({ "name": "user_id", "in": "path", "required": true, "schema": { "type": "string" },
            "description": "The caller's user id (the token's subject)" })
}

fn tool_path(name: &str, description: &str, schema: &Value) -> Value {
    // An empty body means `{}`: it may be left out when `{}` is valid.
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty());
    json!({
        "post": {
            "tags": ["tools"],
            "summary": format!("Run the `{name}` tool as the caller"),
            "description": description,
            "x-spaceport-tool": name,
            "parameters": [user_id_param()],
            "security": [{ "bearer": [] }],
            "requestBody": { "required": required, "content": { "application/json": { "schema": schema } } },
            "responses": {
                "200": json_response("The tool's result", json!({
                    "type": "object",
                    "properties": { "tool": { "type": "string" }, "input": { "type": "object" }, "result": {} }
                })),
                "400": error_response("the body is not JSON (`invalid_json`) or could not be read"),
                "401": error_response(UNAUTHORIZED),
                "403": error_response(FORBIDDEN),
                "404": error_response("the tool or what it acts on does not exist"),
                "408": error_response(TIMEOUT),
                "413": error_response(TOO_LARGE),
                "422": error_response("the arguments do not match the schema, or the tool refused them"),
                "500": error_response("the tool failed, trapped or ran out of memory"),
                "503": error_response("a dependency is unavailable, or every instance slot is busy (`busy`, see Retry-After)"),
                "504": error_response("the tool did not finish within its component's deadline"),
            }
        }
    })
}

fn builtin_paths() -> Map<String, Value> {
    let auth = |summary: &str, body: Value, ok: (&str, &str, Value), errors: Value| {
        let mut responses = Map::new();
        responses.insert(ok.0.into(), json_response(ok.1, ok.2));
        if let Value::Object(errors) = errors {
            responses.extend(errors);
        }
        // What every account endpoint may answer besides.
        for (status, description) in [
            (
                "400",
                "the body is not JSON (`invalid_json`) or could not be read",
            ),
            ("408", TIMEOUT),
            ("413", TOO_LARGE),
            (
                "422",
                "a field is missing or invalid (`validation_error`; `field` names it)",
            ),
            (
                "429",
                "too many attempts from this address (`rate_limited`, see Retry-After)",
            ),
            (
                "500",
                "an unexpected failure (`internal_error`; the log has it)",
            ),
            (
                "503",
                "too many sign-ins at once (`busy`, see Retry-After), or the database is unavailable",
            ),
        ] {
            responses
                .entry(status)
                .or_insert_with(|| error_response(description));
        }
        json!({ "post": {
            "tags": ["auth"], "summary": summary, "requestBody": json_body(body), "responses": responses
        }})
    };
    let mut paths = Map::new();
    paths.insert(
        "/api/auth/register".into(),
        auth(
            "Create an account",
            json!({ "type": "object", "required": ["email", "password", "name"], "properties": {
                "email": { "type": "string", "format": "email", "maxLength": 254 },
                "password": { "type": "string", "minLength": 8, "maxLength": 256 },
                "name": { "type": "string", "minLength": 1, "maxLength": 100, "pattern": TEXT,
                          "description": "Something besides white space (it is trimmed), no NUL; at most 100 characters as sent" } } }),
            ("201", "The new user", schema_ref("User")),
            json!({ "409": error_response("the email is already registered (`email_taken`)") }),
        ),
    );
    paths.insert(
        "/api/auth/login".into(),
        auth(
            "Log in and get a bearer token",
            json!({ "type": "object", "required": ["email", "password"], "properties": {
                "email": { "type": "string", "format": "email" },
                "password": { "type": "string" } } }),
            (
                "200",
                "A token for the Authorization header",
                schema_ref("Token"),
            ),
            json!({
                "401": error_response("unknown email or wrong password (the same answer for both)"),
            }),
        ),
    );
    paths.insert(
        "/api/auth/me".into(),
        json!({ "get": {
            "tags": ["auth"], "summary": "The caller's account", "security": [{ "bearer": [] }],
            "responses": {
                "200": json_response("The user", schema_ref("User")),
                "401": error_response(UNAUTHORIZED),
                "500": error_response("an unexpected failure (`internal_error`; the log has it)"),
                "503": error_response("the database is unavailable (`database_unavailable`, see Retry-After)"),
            }
        }}),
    );
    paths.insert(
        "/api/v1/sessions".into(),
        json!({ "post": {
            "tags": ["auth"], "summary": "A new anonymous session",
            "description": "For routes that take a session (`X-Session-Id`): the id is the session's only credential, so keep it like a password. Nothing is stored; an anonymous caller's LLM budget is counted per session and per client address.",
            "responses": {
                "200": json_response("The session (also in the `X-Session-Id` header and the `spaceport_session` cookie)", json!({
                    "type": "object", "required": ["session_id", "created_at"], "properties": {
                        "session_id": { "type": "string" },
                        "created_at": { "type": "string", "format": "date-time" } } })),
                "400": error_response("the request body could not be read (`bad_request`)"),
                "408": error_response(TIMEOUT),
                "413": error_response(TOO_LARGE),
            }
        }}),
    );
    paths.insert(
        "/api/tools".into(),
        json!({ "get": {
            "tags": ["tools"], "summary": "Every tool the app's components offer",
            "responses": { "200": json_response("The tools", json!({
                "type": "object", "properties": { "tools": { "type": "array", "items": {
                    "type": "object", "properties": {
                        "name": { "type": "string" }, "description": { "type": "string" },
                        "parameters": { "type": "object" }, "component": { "type": "string" } } } } } })) }
        }}),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({ "get": { "tags": ["docs"], "summary": "This document",
            "responses": { "200": { "description": "OpenAPI 3.1" } } } }),
    );
    paths.insert(
        "/docs".into(),
        json!({ "get": { "tags": ["docs"], "summary": "Interactive documentation (Swagger UI)",
            "responses": { "200": { "description": "An HTML page" } } } }),
    );
    paths
}

fn builtin_schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    schemas.insert(
        "Error".into(),
        json!({ "type": "object", "required": ["error", "detail"], "properties": {
            "error": { "type": "string", "description": "A stable code, e.g. `validation_error`" },
            "detail": { "type": "string", "description": "What went wrong, for people" },
            "field": { "type": "string", "description": "The offending field, on validation errors" },
            "request_id": { "type": "string", "description": "Also in the `x-request-id` header and the logs" } } }),
    );
    schemas.insert(
        "User".into(),
        json!({ "type": "object", "properties": {
            "id": { "type": "string" }, "email": { "type": "string" }, "name": { "type": "string" },
            "created_at": { "type": "string", "format": "date-time" } } }),
    );
    schemas.insert(
        "Token".into(),
        json!({ "type": "object", "properties": {
            "access_token": { "type": "string" }, "token_type": { "const": "bearer" },
            "expires_in": { "type": "integer", "description": "seconds" },
            "user": schema_ref("User") } }),
    );
    schemas
}

/// The `/docs` page: Swagger UI, loaded from jsDelivr (as FastAPI's `/docs`
/// does) at a pinned version with subresource-integrity hashes, pointed at
/// `/openapi.json`. Without the CDN the page still links the document. A token
/// typed into it is not persisted.
pub fn page(title: &str) -> String {
    let title = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.17.14/swagger-ui.css"
 integrity="sha384-wxLW6kwyHktdDGr6Pv1zgm/VGJh99lfUbzSn6HNHBENZlCN7W602k9VkGdxuFvPn" crossorigin="anonymous">
</head><body>
<div id="swagger-ui"><p style="font-family:sans-serif;margin:2em">{title}: the OpenAPI document is at
<a href="/openapi.json">/openapi.json</a>.</p></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.17.14/swagger-ui-bundle.js"
 integrity="sha384-wmyclcVGX/WhUkdkATwhaK1X1JtiNrr2EoYJ+diV3vj4v6OC5yCeSu+yW13SYJep" crossorigin="anonymous"></script>
<script>
if (window.SwaggerUIBundle) {{
  window.ui = SwaggerUIBundle({{ url: "/openapi.json", dom_id: "#swagger-ui" }});
}}
</script>
</body></html>
"##
    )
}
