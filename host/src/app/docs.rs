//! API documentation for the running app: an OpenAPI 3.1 document served at
//! `/openapi.json`, and `/docs`, a Swagger UI page that reads it.
//!
//! The document is assembled from what the app really serves: the host's own
//! endpoints, one path per tool (its JSON Schema as the request body), and
//! each component's own fragment (`openapi = "…"` in the manifest), onto which
//! the host stamps the auth its routes enforce. It is rebuilt with every
//! reload, so it follows hot swaps.

use super::snapshot::RouteTarget;
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
) -> Value {
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
                    paths.insert(path.clone(), with_auth(item.clone(), target, id));
                }
                _ => tracing::warn!(
                    component = %id,
                    path = %path,
                    "the component's OpenAPI fragment documents a path no route sends to it; left out of /openapi.json"
                ),
            }
        }
    }
    json!({
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
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" }
            }
        }
    })
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

/// Stamp the route's auth policy (and its 401/403) onto every operation.
fn with_auth(mut item: Value, target: &RouteTarget, component: &str) -> Value {
    let Some(operations) = item.as_object_mut() else {
        return item;
    };
    for (method, op) in operations.iter_mut() {
        let is_operation = matches!(
            method.as_str(),
            "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
        );
        let Some(op) = op.as_object_mut().filter(|_| is_operation) else {
            continue;
        };
        op.insert("x-spaceport-component".into(), json!(component));
        let security = match target.auth {
            AuthPolicy::None => continue,
            AuthPolicy::Optional => json!([{}, { "bearer": [] }]),
            AuthPolicy::Required => json!([{ "bearer": [] }]),
        };
        op.insert("security".into(), security);
        if target.auth == AuthPolicy::Required {
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut();
            if let Some(responses) = responses {
                responses
                    .entry("401")
                    .or_insert_with(|| error_response("missing, invalid or expired bearer token"));
                if target.user_param.is_some() {
                    responses.entry("403").or_insert_with(|| {
                        error_response("the path names another user than the token's")
                    });
                }
            }
        }
    }
    item
}

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
    json!({
        "post": {
            "tags": ["tools"],
            "summary": format!("Run the `{name}` tool as the caller"),
            "description": description,
            "x-spaceport-tool": name,
            "parameters": [user_id_param()],
            "security": [{ "bearer": [] }],
            // An empty body means `{}`.
            "requestBody": { "required": false, "content": { "application/json": { "schema": schema } } },
            "responses": {
                "200": json_response("The tool's result", json!({
                    "type": "object",
                    "properties": { "tool": { "type": "string" }, "input": { "type": "object" }, "result": {} }
                })),
                "400": error_response("the body is not JSON"),
                "401": error_response("missing, invalid or expired bearer token"),
                "403": error_response("the path names another user than the token's"),
                "404": error_response("the tool or what it acts on does not exist"),
                "422": error_response("the arguments do not match the schema"),
                "500": error_response("the tool failed, trapped or ran out of memory"),
                "503": error_response("a dependency is unavailable, or every instance slot is busy"),
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
                "email": { "type": "string", "format": "email" },
                "password": { "type": "string", "minLength": 8 },
                "name": { "type": "string" } } }),
            ("201", "The new user", schema_ref("User")),
            json!({
                "409": error_response("the email is already registered"),
                "422": error_response("a field is invalid (`field` names it)"),
                "429": error_response("too many attempts from this address (see Retry-After)"),
            }),
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
                "429": error_response("too many attempts from this address (see Retry-After)"),
            }),
        ),
    );
    paths.insert(
        "/api/auth/me".into(),
        json!({ "get": {
            "tags": ["auth"], "summary": "The caller's account", "security": [{ "bearer": [] }],
            "responses": {
                "200": json_response("The user", schema_ref("User")),
                "401": error_response("missing, invalid or expired bearer token"),
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
