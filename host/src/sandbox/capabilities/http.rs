//! `wasi:http` (0.2): the `types` and `outgoing-handler` interfaces. Incoming
//! requests reach components through `wasi:http/incoming-handler` (see
//! `runtime`); outgoing requests are allowed only to the hosts listed in the
//! component's `allowed_outbound_hosts` (empty = none).

use super::{Capability, Denied, GrantError, InstanceState, RequestInfo};
use crate::manifest::ComponentConfig;
use crate::manifest::outbound::{OutboundHost, default_port};
use std::sync::Arc;
use tracing::Instrument;
use wasmtime::component::Linker;
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

/// The wasi:http capability.
pub struct Http;

/// Per-instance state.
pub struct State {
    ctx: WasiHttpCtx,
    hooks: OutboundPolicy,
}

impl Capability for Http {
    type Grant = Arc<[OutboundHost]>;
    type State = State;

    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        Ok(wasmtime_wasi_http::p2::add_only_http_to_linker_async(
            linker,
        )?)
    }

    fn grant(&self, _id: &str, component: &ComponentConfig) -> Result<Self::Grant, GrantError> {
        // Parsed (and so validated) once, with the manifest.
        Ok(component.allowed_outbound_hosts.iter().cloned().collect())
    }

    fn instance(
        &self,
        grant: &Self::Grant,
        request: &Arc<RequestInfo>,
        _deadline: std::time::Instant,
    ) -> State {
        State {
            ctx: WasiHttpCtx::new(),
            hooks: OutboundPolicy {
                allowed: grant.clone(),
                component: request.component_id.clone(),
            },
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http.ctx,
            table: &mut self.table,
            hooks: &mut self.http.hooks,
        }
    }
}

/// Hooks that enforce the grant before any connection is made.
struct OutboundPolicy {
    allowed: Arc<[OutboundHost]>,
    component: Arc<str>,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_string();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri.port_u16().unwrap_or_else(|| default_port(&scheme));
        if !self.allowed.iter().any(|a| a.allows(&scheme, &host, port)) {
            // Logged like every denial; answered with WASI's own code.
            let _ = Denied::new(
                "wasi:http",
                &self.component,
                format!("outbound requests to {scheme}://{host}:{port}"),
                format!("allowed_outbound_hosts = [\"{scheme}://{host}:{port}\"]"),
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        // One client span per request (method and server, never the path or
        // query, which may carry anything), the instance's span its parent;
        // the trace goes on to the server in `traceparent`.
        let span = tracing::info_span!(
            "outbound",
            otel.kind = "client",
            http.request.method = %request.method(),
            server.address = %host,
            server.port = port,
            http.response.status_code = tracing::field::Empty,
        );
        span.in_scope(|| crate::services::telemetry::inject(request.headers_mut()));
        Box::new(
            async move {
                use http_body_util::BodyExt;
                let (response, io) =
                    wasmtime_wasi_http::default_send_request(request, options).await?;
                tracing::Span::current()
                    .record("http.response.status_code", response.status().as_u16());
                Ok((
                    response.map(BodyExt::boxed_unsync),
                    Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ))
            }
            .instrument(span),
        )
    }
}
