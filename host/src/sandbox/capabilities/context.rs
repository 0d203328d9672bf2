//! `spaceport:platform/context`: the request an instance is serving.
//! Granted by `context = true`.

use super::bindings::context::{self, Host, Principal as WitPrincipal, RouteParam};
use super::{Capability, Denied, GrantError, InstanceState, RequestInfo};
use crate::manifest::ComponentConfig;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// The context capability.
pub struct Context;

/// Per-instance state: the request being served, if granted.
pub struct State {
    granted: bool,
    request: Arc<RequestInfo>,
}

impl State {
    /// The component this instance runs (for the host's own bookkeeping).
    pub fn component_id(&self) -> &Arc<str> {
        &self.request.component_id
    }
}

impl Capability for Context {
    type Grant = bool;
    type State = State;

    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        Ok(context::add_to_linker::<_, HasSelf<State>>(linker, |s| {
            &mut s.context
        })?)
    }

    fn grant(&self, _id: &str, component: &ComponentConfig) -> Result<bool, GrantError> {
        Ok(component.context)
    }

    fn instance(
        &self,
        grant: &bool,
        request: &Arc<RequestInfo>,
        _deadline: std::time::Instant,
    ) -> State {
        State {
            granted: *grant,
            request: request.clone(),
        }
    }
}

impl State {
    /// The request, or a trap with the denial (this interface has no error channel).
    fn request(&self) -> wasmtime::Result<&RequestInfo> {
        if !self.granted {
            return Err(Denied::new(
                "context",
                &self.request.component_id,
                "the request context".into(),
                "context = true".into(),
            )
            .into());
        }
        Ok(&self.request)
    }
}

impl Host for State {
    async fn request_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.request()?.request_id.clone())
    }

    async fn component_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.request()?.component_id.to_string())
    }

    async fn matched_route(&mut self) -> wasmtime::Result<String> {
        Ok(self.request()?.matched_route.clone())
    }

    async fn route_params(&mut self) -> wasmtime::Result<Vec<RouteParam>> {
        Ok(self
            .request()?
            .params
            .iter()
            .map(|(name, value)| RouteParam {
                name: name.clone(),
                value: value.clone(),
            })
            .collect())
    }

    async fn param(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self
            .request()?
            .params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone()))
    }

    async fn path_info(&mut self) -> wasmtime::Result<String> {
        Ok(self.request()?.path_info.clone())
    }

    async fn user(&mut self) -> wasmtime::Result<Option<WitPrincipal>> {
        Ok(self.request()?.principal.as_ref().map(|p| WitPrincipal {
            user_id: p.user_id.clone(),
            email: p.email.clone(),
        }))
    }
}
