//! `{name}`: answers `/api/{name}` (world `http-component`).

use serde_json::json;
use spaceport_sdk::{Handler, Request, Response, context};

struct App;

impl Handler for App {
    fn handle(req: Request) -> Response {
        let user = context::user().map(|u| u.user_id);
        match req.method.as_str() {
            "GET" => Response::json(200, &json!({ "hello": user, "path": req.path })),
            "POST" => match serde_json::from_slice::<serde_json::Value>(&req.body) {
                Ok(body) => Response::json(200, &json!({ "echo": body, "user": user })),
                Err(_) => Response::error(400, "invalid_json", "the body must be JSON"),
            },
            _ => Response::error(405, "method_not_allowed", "use GET or POST")
                .with_header("allow", "GET, POST"),
        }
    }
}

spaceport_sdk::http_component!(App);
