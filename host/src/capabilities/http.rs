//! `wasi:http` (0.2): the `types` and `outgoing-handler` interfaces. Incoming
//! requests reach components through `wasi:http/incoming-handler` (see
//! `runtime`); outgoing requests are allowed only to the hosts listed in the
//! component's `allowed_outbound_hosts` (empty = none).

use super::{Capability, InstanceState, RequestInfo};
use crate::manifest::ComponentConfig;
use std::sync::Arc;
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

    fn grant(&self, id: &str, component: &ComponentConfig) -> Result<Self::Grant, String> {
        component
            .allowed_outbound_hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                OutboundHost::parse(h)
                    .map_err(|e| format!("component.{id}.allowed_outbound_hosts[{i}]: {e}"))
            })
            .collect()
    }

    fn instance(&self, grant: &Self::Grant, request: &Arc<RequestInfo>) -> State {
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

/// One `allowed_outbound_hosts` entry: `scheme://host[:port]`, where the
/// scheme may be `*`, the host may be `*` or start with `*.`, and the port
/// may be `*` (no port = the scheme's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundHost {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
    any_port: bool,
}

impl OutboundHost {
    pub fn parse(entry: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "expected `scheme://host[:port]` (e.g. `https://api.openai.com`, `https://*.example.com`), found `{entry}`"
            )
        };
        let (scheme, rest) = entry.split_once("://").ok_or_else(expected)?;
        let scheme = match scheme {
            "*" => None,
            "http" | "https" => Some(scheme.to_string()),
            _ => return Err(expected()),
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') {
            return Err(expected());
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        let (port, any_port) = match port {
            None => (None, false),
            Some("*") => (None, true),
            Some(p) => (Some(p.parse::<u16>().map_err(|_| expected())?), false),
        };
        if host.is_empty() || (host.contains('*') && host != "*" && !host.starts_with("*.")) {
            return Err(expected());
        }
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            any_port,
        })
    }

    /// Whether a request to `scheme://host:port` is allowed by this entry.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        if self.scheme.as_deref().is_some_and(|s| s != scheme) {
            return false;
        }
        let host = host.to_ascii_lowercase();
        let host_ok = match self.host.strip_prefix("*.") {
            _ if self.host == "*" => true,
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => host == self.host,
        };
        let port_ok = self.any_port
            || match self.port {
                Some(p) => p == port,
                None => port == default_port(scheme),
            };
        host_ok && port_ok
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "http" { 80 } else { 443 }
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
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_string();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri.port_u16().unwrap_or_else(|| default_port(&scheme));
        if !self.allowed.iter().any(|a| a.allows(&scheme, &host, port)) {
            tracing::warn!(
                component = %self.component,
                target_host = %host,
                port,
                "outbound request denied: not in allowed_outbound_hosts"
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::OutboundHost;

    #[test]
    fn outbound_hosts_match_scheme_host_and_port() {
        let exact = OutboundHost::parse("https://api.openai.com").unwrap();
        assert!(exact.allows("https", "api.openai.com", 443));
        assert!(!exact.allows("http", "api.openai.com", 80));
        assert!(!exact.allows("https", "api.openai.com", 8443));
        assert!(!exact.allows("https", "evil.com", 443));

        let wild = OutboundHost::parse("*://*.example.com:*").unwrap();
        assert!(wild.allows("http", "a.example.com", 8080));
        assert!(!wild.allows("http", "example.com.evil", 80));

        let local = OutboundHost::parse("http://localhost:6333").unwrap();
        assert!(local.allows("http", "localhost", 6333));
        assert!(!local.allows("http", "localhost", 6334));
    }

    #[test]
    fn bad_entries_say_what_was_expected() {
        for bad in [
            "api.openai.com",
            "ftp://x",
            "https://a/b",
            "https://x:port",
            "https://a*b.com",
        ] {
            assert!(
                OutboundHost::parse(bad).unwrap_err().contains("expected"),
                "{bad}"
            );
        }
    }
}
