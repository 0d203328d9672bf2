//! `spaceport:platform/host-status`: a snapshot of the host's status board.

use super::bindings::host_status::{self, Dependency, Host, State as WitState, Status};
use super::{Capability, InstanceState, RequestInfo};
use crate::manifest::ComponentConfig;
use crate::status::{DepState, StatusBoard};
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// The host-status capability (readable by every component; it holds no secrets).
pub struct HostStatus {
    pub board: Arc<StatusBoard>,
}

/// Per-instance state: a handle on the shared board.
pub struct State(Arc<StatusBoard>);

impl Capability for HostStatus {
    type Grant = ();
    type State = State;

    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        Ok(host_status::add_to_linker::<_, HasSelf<State>>(
            linker,
            |s| &mut s.host_status,
        )?)
    }

    fn grant(&self, _id: &str, _component: &ComponentConfig) -> Result<(), String> {
        Ok(())
    }

    fn instance(&self, _grant: &(), _request: &Arc<RequestInfo>) -> State {
        State(self.board.clone())
    }
}

impl Host for State {
    async fn get(&mut self) -> Status {
        let (app_name, app_version) = self.0.app();
        Status {
            host_version: env!("CARGO_PKG_VERSION").to_string(),
            app_name,
            app_version,
            uptime_ms: self.0.uptime_ms(),
            dependencies: self
                .0
                .dependencies()
                .into_iter()
                .map(|(name, r)| Dependency {
                    name,
                    state: match r.state {
                        DepState::Healthy => WitState::Healthy,
                        DepState::Degraded => WitState::Degraded,
                        DepState::Down => WitState::Down,
                        DepState::Starting => WitState::Starting,
                        DepState::Unconfigured => WitState::Unconfigured,
                        DepState::Configured => WitState::Configured,
                    },
                    detail: r.detail,
                    latency_ms: r.latency_ms,
                })
                .collect(),
        }
    }
}
