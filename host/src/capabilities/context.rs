//! `spaceport:platform/context`: the request an instance is serving.

use super::bindings::context::{self, Host, Principal as WitPrincipal, RouteParam};
use super::{Capability, InstanceState, RequestInfo};
use crate::manifest::ComponentConfig;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// The context capability: every component may read its own request's context.
pub struct Context;

/// Per-instance state: the request being served.
pub struct State(Arc<RequestInfo>);

impl Capability for Context {
    type Grant = ();
    type State = State;

    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        Ok(context::add_to_linker::<_, HasSelf<State>>(linker, |s| {
            &mut s.context
        })?)
    }

    fn grant(&self, _id: &str, _component: &ComponentConfig) -> Result<(), String> {
        Ok(())
    }

    fn instance(&self, _grant: &(), request: &Arc<RequestInfo>) -> State {
        State(request.clone())
    }
}

impl Host for State {
    async fn request_id(&mut self) -> String {
        self.0.request_id.clone()
    }

    async fn component_id(&mut self) -> String {
        self.0.component_id.to_string()
    }

    async fn matched_route(&mut self) -> String {
        self.0.matched_route.clone()
    }

    async fn route_params(&mut self) -> Vec<RouteParam> {
        self.0
            .params
            .iter()
            .map(|(name, value)| RouteParam {
                name: name.clone(),
                value: value.clone(),
            })
            .collect()
    }

    async fn param(&mut self, name: String) -> Option<String> {
        self.0
            .params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    async fn path_info(&mut self) -> String {
        self.0.path_info.clone()
    }

    async fn user(&mut self) -> Option<WitPrincipal> {
        self.0.principal.as_ref().map(|p| WitPrincipal {
            user_id: p.user_id.clone(),
            email: p.email.clone(),
        })
    }
}
