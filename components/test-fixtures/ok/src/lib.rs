//! The smallest useful wasi:http component: 200 "ok". Built against the
//! vendored `wasi:http/proxy` world only, so any wasi:http host can run it;
//! the benchmark serves the same file through Spaceport and `wasmtime serve`.

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "wasi:http/proxy@0.2.12",
        generate_all,
    });
}

use bindings::exports::wasi::http::incoming_handler::Guest;
use bindings::wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Ok;

impl Guest for Ok {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let headers = Fields::from_list(&[("content-type".into(), b"text/plain".to_vec())])
            .unwrap_or_else(|_| Fields::new());
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("fresh response has a body");
        ResponseOutparam::set(out, Result::Ok(response));
        {
            let stream = body.write().expect("fresh body has a stream");
            let _ = stream.blocking_write_and_flush(b"ok");
        }
        let _ = OutgoingBody::finish(body, None);
    }
}

bindings::export!(Ok with_types_in bindings);
