//! `spaceport:platform/host-status`: a snapshot of the host's status board.
//! Granted by `host_status = true`.

use super::bindings::host_status::{self, Dependency, Host, State as WitState, Status};
use super::{Capability, Denied, GrantError, InstanceState, RequestInfo};
use crate::manifest::ComponentConfig;
use crate::services::status::{DepState, StatusBoard};
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// The host-status capability. The board is plain in-memory state, so a test
/// fills a `StatusBoard` itself rather than faking a backend trait.
pub struct HostStatus {
    pub board: Arc<StatusBoard>,
}

/// Per-instance state: a handle on the shared board, if granted.
pub struct State {
    board: Option<Arc<StatusBoard>>,
    component: Arc<str>,
}

impl Capability for HostStatus {
    type Grant = bool;
    type State = State;

    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        Ok(host_status::add_to_linker::<_, HasSelf<State>>(
            linker,
            |s| &mut s.host_status,
        )?)
    }

    fn grant(&self, _id: &str, component: &ComponentConfig) -> Result<bool, GrantError> {
        Ok(component.host_status)
    }

    fn instance(
        &self,
        grant: &bool,
        request: &Arc<RequestInfo>,
        _deadline: std::time::Instant,
    ) -> State {
        State {
            board: grant.then(|| self.board.clone()),
            component: request.component_id.clone(),
        }
    }
}

impl Host for State {
    async fn get(&mut self) -> wasmtime::Result<Status> {
        let Some(board) = &self.board else {
            // No error channel in this interface: the denial traps.
            return Err(Denied::new(
                "host-status",
                &self.component,
                "the host's status".into(),
                "host_status = true".into(),
            )
            .into());
        };
        let (app_name, app_version) = board.app();
        Ok(Status {
            host_version: env!("CARGO_PKG_VERSION").to_string(),
            app_name,
            app_version,
            uptime_ms: board.uptime_ms(),
            dependencies: board
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
        })
    }
}
