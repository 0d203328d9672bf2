//! `spaceport:platform/vectors`: the collections the manifest grants a
//! component (`vectors = ["docs"]`), in the host's [`VectorStore`]. Errors
//! come back as the WIT `vector-error` variant, never as a trap; every call
//! is bounded (points per upsert, vector length, top-k) so a component cannot
//! make the host buffer without limit.

use super::bindings::vectors::{
    self, Distance as WitDistance, Hit as WitHit, Host, Point as WitPoint, Query as WitQuery,
    VectorError as WitError,
};
use super::{Capability, Denied, GrantError, InstanceState, RequestInfo};
use crate::manifest::ComponentConfig;
use crate::services::status::StatusBoard;
use crate::services::vectors::{Distance, Filter, Point, Query, VectorError, VectorStore};
use serde_json::{Map, Value as Json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{HasData, Linker};

/// Points one `upsert` may carry.
pub const MAX_POINTS_PER_CALL: usize = 1000;
/// Numbers one vector may have (OpenAI's largest embedding is 3072).
pub const MAX_DIMENSION: u32 = 4096;
/// Hits one search may return.
pub const MAX_TOP_K: u32 = 100;
/// Bytes of one point's JSON payload.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// The vectors capability: one store for every component.
pub struct Vectors {
    pub store: Arc<dyn VectorStore>,
    pub status: Arc<StatusBoard>,
}

/// Per-instance state: the granted collections.
pub struct State {
    store: Arc<dyn VectorStore>,
    status: Arc<StatusBoard>,
    component: Arc<str>,
    collections: Arc<BTreeSet<String>>,
    deadline: Instant,
}

struct Data;

impl HasData for Data {
    type Data<'a> = &'a mut State;
}

impl Capability for Vectors {
    type Grant = Arc<BTreeSet<String>>;
    type State = State;

    fn link(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
        Ok(vectors::add_to_linker::<_, Data>(linker, |s| {
            &mut s.vectors
        })?)
    }

    fn grant(&self, id: &str, component: &ComponentConfig) -> Result<Self::Grant, GrantError> {
        let mut granted = BTreeSet::new();
        for (i, name) in component.vectors.iter().enumerate() {
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(GrantError::new(
                    id,
                    format!("vectors[{i}]"),
                    format!("`{name}` is not a collection name: 1-64 letters, digits, `-` or `_`"),
                ));
            }
            granted.insert(name.clone());
        }
        Ok(Arc::new(granted))
    }

    fn instance(
        &self,
        grant: &Self::Grant,
        request: &Arc<RequestInfo>,
        deadline: Instant,
    ) -> State {
        State {
            store: self.store.clone(),
            status: self.status.clone(),
            component: request.component_id.clone(),
            collections: grant.clone(),
            deadline,
        }
    }
}

impl State {
    fn check(&self, collection: &str) -> Result<(), WitError> {
        if self.collections.contains(collection) {
            return Ok(());
        }
        Err(WitError::AccessDenied(
            Denied::new(
                "vectors",
                &self.component,
                format!("the vector collection `{collection}`"),
                format!("vectors = [\"{collection}\"]"),
            )
            .to_string(),
        ))
    }

    /// Run a store call, stopped at the instance's deadline.
    async fn run<T>(
        &self,
        call: impl Future<Output = Result<T, VectorError>>,
    ) -> Result<T, WitError> {
        match tokio::time::timeout_at(self.deadline.into(), call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if e == VectorError::Unavailable {
                    self.status.report_failure("database");
                }
                Err(to_wit(e))
            }
            Err(_) => Err(WitError::Unavailable(
                "the call ran past the instance's deadline".into(),
            )),
        }
    }
}

fn to_wit(e: VectorError) -> WitError {
    let message = e.to_string();
    match e {
        VectorError::NotFound(_) => WitError::NotFound(message),
        VectorError::DimensionMismatch(_) => WitError::DimensionMismatch(message),
        VectorError::InvalidFilter(_) => WitError::InvalidFilter(message),
        VectorError::InvalidArgument(_) => WitError::InvalidArgument(message),
        VectorError::LimitExceeded(_) => WitError::LimitExceeded(message),
        VectorError::Unavailable => WitError::Unavailable(message),
        VectorError::ReadOnly(_) => WitError::AccessDenied(message),
    }
}

fn check_vector(what: &str, vector: &[f32]) -> Result<(), WitError> {
    if vector.len() > MAX_DIMENSION as usize {
        return Err(WitError::LimitExceeded(format!(
            "{what} has {} numbers; at most {MAX_DIMENSION}",
            vector.len()
        )));
    }
    if vector.iter().any(|x| !x.is_finite()) {
        return Err(WitError::InvalidArgument(format!(
            "{what} holds a NaN or infinite number"
        )));
    }
    Ok(())
}

fn payload(id: &str, text: &str) -> Result<Map<String, Json>, WitError> {
    if text.len() > MAX_PAYLOAD_BYTES {
        return Err(WitError::LimitExceeded(format!(
            "point `{id}`: the payload has {} bytes; at most {MAX_PAYLOAD_BYTES}",
            text.len()
        )));
    }
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(text) {
        Ok(Json::Object(map)) => Ok(map),
        _ => Err(WitError::InvalidArgument(format!(
            "point `{id}`: the payload must be a JSON object"
        ))),
    }
}

fn filter(text: Option<&str>) -> Result<Option<Filter>, WitError> {
    text.map(Filter::parse).transpose().map_err(to_wit)
}

impl Host for &mut State {
    async fn ensure_collection(
        &mut self,
        name: String,
        dimension: u32,
        distance: WitDistance,
    ) -> Result<(), WitError> {
        self.check(&name)?;
        if !(1..=MAX_DIMENSION).contains(&dimension) {
            return Err(WitError::InvalidArgument(format!(
                "dimension {dimension}: from 1 to {MAX_DIMENSION}"
            )));
        }
        let distance = match distance {
            WitDistance::Cosine => Distance::Cosine,
            WitDistance::Dot => Distance::Dot,
            WitDistance::Euclid => Distance::Euclid,
        };
        let store = self.store.clone();
        self.run(store.ensure_collection(&name, dimension, distance))
            .await
    }

    async fn upsert(&mut self, collection: String, points: Vec<WitPoint>) -> Result<(), WitError> {
        self.check(&collection)?;
        if points.len() > MAX_POINTS_PER_CALL {
            return Err(WitError::LimitExceeded(format!(
                "{} points in one upsert; at most {MAX_POINTS_PER_CALL}",
                points.len()
            )));
        }
        let mut checked = Vec::with_capacity(points.len());
        for p in points {
            check_vector(&format!("point `{}`", p.id), &p.vector)?;
            let payload = payload(&p.id, &p.payload)?;
            checked.push(Point {
                id: p.id,
                vector: p.vector,
                payload,
            });
        }
        let store = self.store.clone();
        self.run(store.upsert(&collection, checked)).await
    }

    async fn search(
        &mut self,
        collection: String,
        query: WitQuery,
    ) -> Result<Vec<WitHit>, WitError> {
        self.check(&collection)?;
        check_vector("the query", &query.vector)?;
        if !(1..=MAX_TOP_K).contains(&query.top_k) {
            return Err(WitError::InvalidArgument(format!(
                "top-k {}: from 1 to {MAX_TOP_K}",
                query.top_k
            )));
        }
        let query = Query {
            vector: query.vector,
            top_k: query.top_k as usize,
            filter: filter(query.filter.as_deref())?,
            score_threshold: query.score_threshold,
        };
        let store = self.store.clone();
        let hits = self.run(store.search(&collection, query)).await?;
        Ok(hits
            .into_iter()
            .map(|h| WitHit {
                id: h.id,
                score: h.score,
                payload: Json::Object(h.payload).to_string(),
            })
            .collect())
    }

    async fn delete_points(
        &mut self,
        collection: String,
        ids: Vec<String>,
    ) -> Result<u64, WitError> {
        self.check(&collection)?;
        if ids.len() > MAX_POINTS_PER_CALL {
            return Err(WitError::LimitExceeded(format!(
                "{} ids in one call; at most {MAX_POINTS_PER_CALL}",
                ids.len()
            )));
        }
        let store = self.store.clone();
        self.run(store.delete_points(&collection, &ids)).await
    }

    async fn delete_where(
        &mut self,
        collection: String,
        filter_json: String,
    ) -> Result<u64, WitError> {
        self.check(&collection)?;
        let Some(f) = filter(Some(&filter_json))? else {
            return Ok(0);
        };
        let store = self.store.clone();
        self.run(async move { store.delete_where(&collection, &f).await })
            .await
    }

    async fn count(
        &mut self,
        collection: String,
        filter_json: Option<String>,
    ) -> Result<u64, WitError> {
        self.check(&collection)?;
        let f = filter(filter_json.as_deref())?;
        let store = self.store.clone();
        self.run(async move { store.count(&collection, f.as_ref()).await })
            .await
    }
}
