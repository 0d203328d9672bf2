//! `spaceport:platform/variables`: the `[component.<id>.variables]` table.
//! Always granted: a component's own settings are all it can read here.

use super::bindings::variables::{self, Host};
use super::{Capability, GrantError, InstanceState, RequestInfo};
use crate::manifest::ComponentConfig;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// The variables capability.
pub struct Variables;

/// Per-instance state: this component's variables (shared, read-only).
pub struct State(Arc<BTreeMap<String, String>>);

impl Capability for Variables {
    type Grant = Arc<BTreeMap<String, String>>;
    type State = State;

    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        Ok(variables::add_to_linker::<_, HasSelf<State>>(
            linker,
            |s| &mut s.variables,
        )?)
    }

    fn grant(&self, id: &str, component: &ComponentConfig) -> Result<Self::Grant, GrantError> {
        for name in component.variables.keys() {
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(GrantError::new(
                    id,
                    format!("variables.{name}"),
                    "expected a name of lower-case letters, digits and `_`",
                ));
            }
        }
        Ok(Arc::new(component.variables.clone()))
    }

    fn instance(
        &self,
        grant: &Self::Grant,
        _request: &Arc<RequestInfo>,
        _deadline: std::time::Instant,
    ) -> State {
        State(grant.clone())
    }
}

impl Host for State {
    async fn get(&mut self, name: String) -> Option<String> {
        self.0.get(&name).cloned()
    }

    async fn get_all(&mut self) -> Vec<(String, String)> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}
