//! Vector collections: the service behind `spaceport:platform/vectors`.
//!
//! [`VectorStore`] is the interface a backend implements; [`SqlVectors`] is
//! the embedded one, in the host's own database (the SQLite file, or
//! PostgreSQL with `DATABASE_URL`), so points survive restarts and every
//! replica sees the same ones. Search is exact: every point of the collection
//! that passes the filter is scored, which is what a few tens of thousands of
//! chunks need; an index (pgvector, Qdrant) is a second backend behind the
//! same trait.

use super::db::{Database, SqlError, Value};
use serde_json::{Map, Value as Json};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

/// How two vectors are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distance {
    Cosine,
    Dot,
    Euclid,
}

impl Distance {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cosine => "cosine",
            Self::Dot => "dot",
            Self::Euclid => "euclid",
        }
    }

    /// `cosine`, `dot` or `euclid`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cosine" => Some(Self::Cosine),
            "dot" => Some(Self::Dot),
            "euclid" => Some(Self::Euclid),
            _ => None,
        }
    }

    /// Higher is closer for similarities, lower for a distance.
    fn higher_is_closer(self) -> bool {
        self != Self::Euclid
    }

    fn score(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Self::Dot => a.iter().zip(b).map(|(x, y)| x * y).sum(),
            Self::Cosine => {
                let (mut dot, mut na, mut nb) = (0f32, 0f32, 0f32);
                for (x, y) in a.iter().zip(b) {
                    dot += x * y;
                    na += x * x;
                    nb += y * y;
                }
                if na == 0.0 || nb == 0.0 {
                    0.0
                } else {
                    dot / (na.sqrt() * nb.sqrt())
                }
            }
            Self::Euclid => a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f32>()
                .sqrt(),
        }
    }
}

/// One stored vector.
#[derive(Debug, Clone)]
pub struct Point {
    pub id: String,
    pub vector: Vec<f32>,
    pub payload: Map<String, Json>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    pub score: f32,
    pub payload: Map<String, Json>,
}

/// A nearest-neighbour query.
#[derive(Debug, Clone)]
pub struct Query {
    pub vector: Vec<f32>,
    pub top_k: usize,
    pub filter: Option<Filter>,
    pub score_threshold: Option<f32>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum VectorError {
    #[error("collection `{0}` does not exist (create it with ensure-collection)")]
    NotFound(String),
    #[error("{0}")]
    DimensionMismatch(String),
    #[error("{0}")]
    InvalidFilter(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("the vector store is unavailable")]
    Unavailable,
}

impl From<SqlError> for VectorError {
    fn from(e: SqlError) -> Self {
        // Driver text stays in the log, never in a component's error.
        tracing::warn!(error = %e, "vector store: database error");
        Self::Unavailable
    }
}

/// A payload filter: every condition must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    must: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Match {
        key: Vec<String>,
        value: Json,
    },
    Range {
        key: Vec<String>,
        gt: Option<f64>,
        gte: Option<f64>,
        lt: Option<f64>,
        lte: Option<f64>,
    },
}

impl Filter {
    /// Parse `{"must": [{"key": .., "match": ..} | {"key": .., "range": {..}}]}`.
    pub fn parse(text: &str) -> Result<Self, VectorError> {
        let bad = |m: &str| VectorError::InvalidFilter(m.to_string());
        let value: Json = serde_json::from_str(text).map_err(|e| bad(&format!("not JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| bad("a filter is a JSON object with `must`"))?;
        if let Some(other) = obj.keys().find(|k| *k != "must") {
            return Err(bad(&format!("unknown field `{other}` (expected `must`)")));
        }
        let conditions = match obj.get("must") {
            Some(Json::Array(a)) => a,
            _ => return Err(bad("`must` must be an array of conditions")),
        };
        let mut must = Vec::with_capacity(conditions.len());
        for (i, c) in conditions.iter().enumerate() {
            let c = c
                .as_object()
                .ok_or_else(|| bad(&format!("must[{i}]: a condition is an object")))?;
            let key = match c.get("key") {
                Some(Json::String(k)) if !k.is_empty() => {
                    k.split('.').map(str::to_string).collect()
                }
                _ => return Err(bad(&format!("must[{i}].key: a non-empty string"))),
            };
            if let Some(other) = c
                .keys()
                .find(|k| !["key", "match", "range"].contains(&k.as_str()))
            {
                return Err(bad(&format!(
                    "must[{i}]: unknown field `{other}` (expected key, match or range)"
                )));
            }
            match (c.get("match"), c.get("range")) {
                (Some(v), None) if v.is_string() || v.is_number() || v.is_boolean() => {
                    must.push(Condition::Match {
                        key,
                        value: v.clone(),
                    })
                }
                (Some(_), None) => {
                    return Err(bad(&format!(
                        "must[{i}].match: a string, number or boolean"
                    )));
                }
                (None, Some(Json::Object(r))) => {
                    let bound = |name: &str| -> Result<Option<f64>, VectorError> {
                        match r.get(name) {
                            None => Ok(None),
                            Some(v) => v
                                .as_f64()
                                .map(Some)
                                .ok_or_else(|| bad(&format!("must[{i}].range.{name}: a number"))),
                        }
                    };
                    if let Some(other) = r
                        .keys()
                        .find(|k| !["gt", "gte", "lt", "lte"].contains(&k.as_str()))
                    {
                        return Err(bad(&format!(
                            "must[{i}].range: unknown bound `{other}` (gt, gte, lt, lte)"
                        )));
                    }
                    must.push(Condition::Range {
                        key,
                        gt: bound("gt")?,
                        gte: bound("gte")?,
                        lt: bound("lt")?,
                        lte: bound("lte")?,
                    });
                }
                _ => {
                    return Err(bad(&format!(
                        "must[{i}]: exactly one of `match` or `range` (an object)"
                    )));
                }
            }
        }
        Ok(Self { must })
    }

    /// The same filter in Qdrant's syntax (nested keys are dotted there too).
    pub fn to_qdrant(&self) -> Json {
        let must: Vec<Json> = self
            .must
            .iter()
            .map(|c| match c {
                Condition::Match { key, value } => {
                    serde_json::json!({ "key": key.join("."), "match": { "value": value } })
                }
                Condition::Range {
                    key,
                    gt,
                    gte,
                    lt,
                    lte,
                } => {
                    let mut range = Map::new();
                    for (name, bound) in [("gt", gt), ("gte", gte), ("lt", lt), ("lte", lte)] {
                        if let Some(b) = bound {
                            range.insert(name.into(), serde_json::json!(b));
                        }
                    }
                    serde_json::json!({ "key": key.join("."), "range": range })
                }
            })
            .collect();
        serde_json::json!({ "must": must })
    }

    pub fn matches(&self, payload: &Map<String, Json>) -> bool {
        self.must.iter().all(|c| match c {
            Condition::Match { key, value } => {
                lookup(payload, key).is_some_and(|found| match (value, found) {
                    (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
                    (a, b) => a == b,
                })
            }
            Condition::Range {
                key,
                gt,
                gte,
                lt,
                lte,
            } => lookup(payload, key)
                .and_then(Json::as_f64)
                .is_some_and(|x| {
                    gt.is_none_or(|b| x > b)
                        && gte.is_none_or(|b| x >= b)
                        && lt.is_none_or(|b| x < b)
                        && lte.is_none_or(|b| x <= b)
                }),
        })
    }
}

fn lookup<'a>(payload: &'a Map<String, Json>, key: &[String]) -> Option<&'a Json> {
    let (first, rest) = key.split_first()?;
    let mut value = payload.get(first)?;
    for part in rest {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// The `query.top_k` best of `points` (already filtered) by `distance`, best
/// first, ties by id; each backend that searches exactly ranks with this.
pub fn rank(
    points: impl IntoIterator<Item = (String, Vec<f32>, Map<String, Json>)>,
    query: &Query,
    distance: Distance,
) -> Vec<Hit> {
    let sign = if distance.higher_is_closer() {
        -1.0
    } else {
        1.0
    };
    let mut heap = BinaryHeap::with_capacity(query.top_k + 1);
    for (id, vector, payload) in points {
        let score = distance.score(&query.vector, &vector);
        if let Some(t) = query.score_threshold {
            let passes = if distance.higher_is_closer() {
                score >= t
            } else {
                score <= t
            };
            if !passes {
                continue;
            }
        }
        heap.push(Ranked {
            key: sign * score,
            hit: Hit { id, score, payload },
        });
        if heap.len() > query.top_k {
            heap.pop();
        }
    }
    heap.into_sorted_vec().into_iter().map(|r| r.hit).collect()
}

/// Every point has `dimension` numbers, or the error naming the first that has not.
fn check_points(collection: &str, dimension: u32, points: &[Point]) -> Result<(), VectorError> {
    match points.iter().find(|p| p.vector.len() != dimension as usize) {
        Some(p) => Err(VectorError::DimensionMismatch(format!(
            "point `{}` has {} numbers; collection `{collection}` holds {dimension}",
            p.id,
            p.vector.len()
        ))),
        None => Ok(()),
    }
}

/// The query has `dimension` numbers.
fn check_query(collection: &str, dimension: u32, query: &Query) -> Result<(), VectorError> {
    if query.vector.len() == dimension as usize {
        return Ok(());
    }
    Err(VectorError::DimensionMismatch(format!(
        "the query has {} numbers; collection `{collection}` holds {dimension}",
        query.vector.len()
    )))
}

/// A vector store backend.
#[async_trait::async_trait]
pub trait VectorStore: Send + Sync + 'static {
    async fn ensure_collection(
        &self,
        name: &str,
        dimension: u32,
        distance: Distance,
    ) -> Result<(), VectorError>;
    async fn upsert(&self, collection: &str, points: Vec<Point>) -> Result<(), VectorError>;
    async fn search(&self, collection: &str, query: Query) -> Result<Vec<Hit>, VectorError>;
    async fn delete_points(&self, collection: &str, ids: &[String]) -> Result<u64, VectorError>;
    async fn delete_where(&self, collection: &str, filter: &Filter) -> Result<u64, VectorError>;
    async fn count(&self, collection: &str, filter: Option<&Filter>) -> Result<u64, VectorError>;
}

/// The embedded store, in one of the host's databases.
pub struct SqlVectors {
    db: Database,
    /// Most vector bytes one collection may hold: exact search reads them all
    /// per query, so this bounds what one search can make the host hold.
    max_bytes: u64,
}

impl SqlVectors {
    pub fn new(db: Database, max_bytes: u64) -> Self {
        Self { db, max_bytes }
    }

    async fn collection(&self, name: &str) -> Result<(u32, Distance), VectorError> {
        let rows = self
            .db
            .query(
                "SELECT dimension, distance FROM vector_collections WHERE name = $1",
                &[Value::Text(name.into())],
            )
            .await?;
        match rows.rows.first().map(|r| r.as_slice()) {
            Some([Value::Integer(d), Value::Text(dist)]) => {
                let distance = Distance::parse(dist).ok_or(VectorError::Unavailable)?;
                Ok((u32::try_from(*d).unwrap_or(0), distance))
            }
            Some(_) => Err(VectorError::Unavailable),
            None => Err(VectorError::NotFound(name.into())),
        }
    }

    /// Every point of `collection` passing `filter`: (id, vector, payload).
    async fn scan(
        &self,
        collection: &str,
        filter: Option<&Filter>,
    ) -> Result<Vec<(String, Vec<f32>, Map<String, Json>)>, VectorError> {
        let rows = self
            .db
            .query(
                "SELECT id, vector, payload FROM vector_points WHERE collection = $1",
                &[Value::Text(collection.into())],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.rows.len());
        for row in rows.rows {
            let mut it = row.into_iter();
            let (Some(Value::Text(id)), Some(Value::Blob(blob)), Some(Value::Text(payload))) =
                (it.next(), it.next(), it.next())
            else {
                return Err(VectorError::Unavailable);
            };
            let payload: Map<String, Json> = serde_json::from_str(&payload).unwrap_or_default();
            if filter.is_some_and(|f| !f.matches(&payload)) {
                continue;
            }
            out.push((id, decode(&blob), payload));
        }
        Ok(out)
    }
}

fn encode(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn decode(blob: &[u8]) -> Vec<f32> {
    blob.chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A hit ordered so that the heap's top is the worst kept one.
struct Ranked {
    key: f32,
    hit: Hit,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        // Larger key = worse; ties by id so results are deterministic.
        self.key
            .total_cmp(&other.key)
            .then_with(|| self.hit.id.cmp(&other.hit.id))
    }
}

#[async_trait::async_trait]
impl VectorStore for SqlVectors {
    async fn ensure_collection(
        &self,
        name: &str,
        dimension: u32,
        distance: Distance,
    ) -> Result<(), VectorError> {
        match self.collection(name).await {
            Ok((d, dist)) if d == dimension && dist == distance => Ok(()),
            Ok((d, dist)) => Err(VectorError::DimensionMismatch(format!(
                "collection `{name}` exists with dimension {d} and distance {}, not {dimension} and {}",
                dist.as_str(),
                distance.as_str()
            ))),
            Err(VectorError::NotFound(_)) => {
                self.db
                    .execute(
                        "INSERT INTO vector_collections (name, dimension, distance) VALUES ($1, $2, $3) \
                         ON CONFLICT (name) DO NOTHING",
                        &[
                            Value::Text(name.into()),
                            Value::Integer(i64::from(dimension)),
                            Value::Text(distance.as_str().into()),
                        ],
                    )
                    .await?;
                // A concurrent creator may have won with other settings.
                let (d, dist) = self.collection(name).await?;
                if d == dimension && dist == distance {
                    Ok(())
                } else {
                    Err(VectorError::DimensionMismatch(format!(
                        "collection `{name}` was just created with dimension {d} and distance {}",
                        dist.as_str()
                    )))
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn upsert(&self, collection: &str, points: Vec<Point>) -> Result<(), VectorError> {
        let (dimension, _) = self.collection(collection).await?;
        check_points(collection, dimension, &points)?;
        // Counting every new id as new errs on the safe side for replacements.
        let after = self.count(collection, None).await? + points.len() as u64;
        if after * u64::from(dimension) * 4 > self.max_bytes {
            return Err(VectorError::LimitExceeded(format!(
                "collection `{collection}` would hold {after} vectors of {dimension} numbers, over the \
                 embedded store's {} MiB per collection (SPACEPORT_VECTORS_MAX_MB; or use Qdrant)",
                self.max_bytes >> 20
            )));
        }
        // One transaction: a batch is stored whole or not at all.
        let mut tx = self.db.begin().await?;
        for p in points {
            tx.execute(
                "INSERT INTO vector_points (collection, id, vector, payload) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (collection, id) DO UPDATE SET vector = excluded.vector, payload = excluded.payload",
                &[
                    Value::Text(collection.into()),
                    Value::Text(p.id),
                    Value::Blob(encode(&p.vector)),
                    Value::Text(Json::Object(p.payload).to_string()),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn search(&self, collection: &str, query: Query) -> Result<Vec<Hit>, VectorError> {
        let (dimension, distance) = self.collection(collection).await?;
        check_query(collection, dimension, &query)?;
        let points = self.scan(collection, query.filter.as_ref()).await?;
        Ok(rank(points, &query, distance))
    }

    async fn delete_points(&self, collection: &str, ids: &[String]) -> Result<u64, VectorError> {
        self.collection(collection).await?;
        let mut deleted = 0;
        let mut tx = self.db.begin().await?;
        for id in ids {
            deleted += tx
                .execute(
                    "DELETE FROM vector_points WHERE collection = $1 AND id = $2",
                    &[Value::Text(collection.into()), Value::Text(id.clone())],
                )
                .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn delete_where(&self, collection: &str, filter: &Filter) -> Result<u64, VectorError> {
        self.collection(collection).await?;
        let ids: Vec<String> = self
            .scan(collection, Some(filter))
            .await?
            .into_iter()
            .map(|(id, _, _)| id)
            .collect();
        self.delete_points(collection, &ids).await
    }

    async fn count(&self, collection: &str, filter: Option<&Filter>) -> Result<u64, VectorError> {
        self.collection(collection).await?;
        if filter.is_none() {
            let rows = self
                .db
                .query(
                    "SELECT COUNT(*) FROM vector_points WHERE collection = $1",
                    &[Value::Text(collection.into())],
                )
                .await?;
            return match rows.rows.first().and_then(|r| r.first()) {
                Some(Value::Integer(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
                _ => Err(VectorError::Unavailable),
            };
        }
        Ok(self.scan(collection, filter).await?.len() as u64)
    }
}

/// An in-memory store: `spaceport test` cases (fresh per case) and unit
/// tests. Same checks and ranking as [`SqlVectors`].
#[derive(Default)]
pub struct MemoryVectors {
    collections: std::sync::Mutex<BTreeMap<String, MemoryCollection>>,
}

struct MemoryCollection {
    dimension: u32,
    distance: Distance,
    points: BTreeMap<String, (Vec<f32>, Map<String, Json>)>,
}

impl MemoryVectors {
    /// Forget every collection.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The point ids of `collection`, sorted (`None` if it does not exist).
    pub fn ids(&self, collection: &str) -> Option<Vec<String>> {
        self.lock()
            .get(collection)
            .map(|c| c.points.keys().cloned().collect())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, MemoryCollection>> {
        self.collections.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut MemoryCollection) -> Result<T, VectorError>,
    ) -> Result<T, VectorError> {
        let mut all = self.lock();
        let c = all
            .get_mut(name)
            .ok_or_else(|| VectorError::NotFound(name.into()))?;
        f(c)
    }
}

#[async_trait::async_trait]
impl VectorStore for MemoryVectors {
    async fn ensure_collection(
        &self,
        name: &str,
        dimension: u32,
        distance: Distance,
    ) -> Result<(), VectorError> {
        let mut all = self.lock();
        let c = all
            .entry(name.to_string())
            .or_insert_with(|| MemoryCollection {
                dimension,
                distance,
                points: BTreeMap::new(),
            });
        if c.dimension == dimension && c.distance == distance {
            Ok(())
        } else {
            Err(VectorError::DimensionMismatch(format!(
                "collection `{name}` exists with dimension {} and distance {}, not {dimension} and {}",
                c.dimension,
                c.distance.as_str(),
                distance.as_str()
            )))
        }
    }

    async fn upsert(&self, collection: &str, points: Vec<Point>) -> Result<(), VectorError> {
        self.with(collection, |c| {
            check_points(collection, c.dimension, &points)?;
            for p in points {
                c.points.insert(p.id, (p.vector, p.payload));
            }
            Ok(())
        })
    }

    async fn search(&self, collection: &str, query: Query) -> Result<Vec<Hit>, VectorError> {
        self.with(collection, |c| {
            check_query(collection, c.dimension, &query)?;
            let points = c
                .points
                .iter()
                .filter(|(_, (_, p))| query.filter.as_ref().is_none_or(|f| f.matches(p)))
                .map(|(id, (v, p))| (id.clone(), v.clone(), p.clone()));
            Ok(rank(points, &query, c.distance))
        })
    }

    async fn delete_points(&self, collection: &str, ids: &[String]) -> Result<u64, VectorError> {
        self.with(collection, |c| {
            Ok(ids
                .iter()
                .filter(|id| c.points.remove(*id).is_some())
                .count() as u64)
        })
    }

    async fn delete_where(&self, collection: &str, filter: &Filter) -> Result<u64, VectorError> {
        self.with(collection, |c| {
            let before = c.points.len();
            c.points.retain(|_, (_, p)| !filter.matches(p));
            Ok((before - c.points.len()) as u64)
        })
    }

    async fn count(&self, collection: &str, filter: Option<&Filter>) -> Result<u64, VectorError> {
        self.with(collection, |c| {
            Ok(c.points
                .values()
                .filter(|(_, p)| filter.is_none_or(|f| f.matches(p)))
                .count() as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(v: Json) -> Map<String, Json> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn filters_match_equality_ranges_and_nested_keys() {
        let f = Filter::parse(
            r#"{"must": [{"key": "user", "match": "u1"}, {"key": "meta.year", "range": {"gte": 2020, "lt": 2030}}]}"#,
        )
        .unwrap();
        assert!(f.matches(&payload(
            serde_json::json!({"user": "u1", "meta": {"year": 2024}})
        )));
        assert!(!f.matches(&payload(
            serde_json::json!({"user": "u2", "meta": {"year": 2024}})
        )));
        assert!(!f.matches(&payload(
            serde_json::json!({"user": "u1", "meta": {"year": 2030}})
        )));
        assert!(!f.matches(&payload(serde_json::json!({"user": "u1"}))));
        let n = Filter::parse(r#"{"must": [{"key": "n", "match": 3}]}"#).unwrap();
        assert!(n.matches(&payload(serde_json::json!({"n": 3.0}))));
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        for (text, needle) in [
            ("[1]", "JSON object"),
            (r#"{"should": []}"#, "unknown field `should`"),
            (r#"{"must": [{"match": 1}]}"#, "key"),
            (r#"{"must": [{"key": "a"}]}"#, "exactly one"),
            (
                r#"{"must": [{"key": "a", "range": {"gt": "x"}}]}"#,
                "range.gt",
            ),
            (
                r#"{"must": [{"key": "a", "range": {"above": 1}}]}"#,
                "unknown bound",
            ),
            ("{", "not JSON"),
        ] {
            match Filter::parse(text) {
                Err(VectorError::InvalidFilter(m)) => assert!(m.contains(needle), "{text}: {m}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn scores_follow_the_distance() {
        let (a, b) = ([1.0, 0.0], [0.0, 1.0]);
        assert!((Distance::Cosine.score(&a, &a) - 1.0).abs() < 1e-6);
        assert!(Distance::Cosine.score(&a, &b).abs() < 1e-6);
        assert!((Distance::Euclid.score(&a, &b) - 2f32.sqrt()).abs() < 1e-6);
        assert!((Distance::Dot.score(&[2.0, 3.0], &[4.0, 5.0]) - 23.0).abs() < 1e-6);
        assert_eq!(decode(&encode(&[1.5, -2.25])), vec![1.5, -2.25]);
    }
}
