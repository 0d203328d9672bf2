//! Vector collections: the service behind `spaceport:platform/vectors`.
//!
//! [`VectorStore`] is the interface a backend implements; [`SqlVectors`] is
//! the embedded one, in the host's own database (the SQLite file, or
//! PostgreSQL with `DATABASE_URL`), so points survive restarts and every
//! replica sees the same ones. Search is exact: every point of the collection
//! that passes the filter is scored, from the collection kept decoded in
//! memory between searches (see [`Snapshot`]), which is what a few tens of
//! thousands of chunks need; an index (Qdrant) is a second backend behind the
//! same trait.

use super::db::{Database, SqlError, Value};
use serde_json::{Map, Value as Json};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

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
            Self::Dot => lanes(a, b, |x, y| x * y),
            Self::Cosine => {
                let dot = lanes(a, b, |x, y| x * y);
                let na = lanes(a, a, |x, y| x * y);
                let nb = lanes(b, b, |x, y| x * y);
                if na == 0.0 || nb == 0.0 {
                    0.0
                } else {
                    dot / (na.sqrt() * nb.sqrt())
                }
            }
            Self::Euclid => lanes(a, b, |x, y| (x - y) * (x - y)).sqrt(),
        }
    }
}

/// The sum of `f` over pairs of `a` and `b`, in eight independent sums: a
/// float sum in one chain cannot be vectorised (each add waits for the last),
/// eight can, which makes exact search several times faster.
#[inline]
fn lanes(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += f(x[i], y[i]);
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| f(*x, *y)).sum();
    acc.iter().sum::<f32>() + tail
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
    /// A collection the operator made read-only (an existing Qdrant collection).
    #[error("{0}")]
    ReadOnly(String),
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

/// The `query.top_k` best of `points` (id, vector, payload; already
/// filtered) by `distance`, best first, ties by id; each backend that
/// searches exactly ranks with this. Only the points kept are copied.
pub fn rank<'a>(
    points: impl IntoIterator<Item = (&'a str, &'a [f32], &'a Map<String, Json>)>,
    query: &Query,
    distance: Distance,
) -> Vec<Hit> {
    let sign = if distance.higher_is_closer() {
        -1.0
    } else {
        1.0
    };
    let mut heap: BinaryHeap<Ranked> = BinaryHeap::with_capacity(query.top_k + 1);
    for (id, vector, payload) in points {
        let score = distance.score(&query.vector, vector);
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
        let key = sign * score;
        // Not better than the worst kept: skip before copying anything.
        if heap.len() >= query.top_k
            && heap.peek().is_some_and(|worst| {
                key.total_cmp(&worst.key)
                    .then_with(|| id.cmp(worst.hit.id.as_str()))
                    .is_ge()
            })
        {
            continue;
        }
        heap.push(Ranked {
            key,
            hit: Hit {
                id: id.to_string(),
                score,
                payload: payload.clone(),
            },
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
    /// Collections held decoded in memory between searches (see [`Snapshot`]).
    cache: std::sync::Mutex<Cache>,
    /// One collection is read back from the database at a time: searches of
    /// the same collection wait for the first one's snapshot instead of each
    /// decoding a copy, and a collection too large to keep is held by one
    /// search at a time, so the store's memory stays within the cache plus
    /// one collection (`SPACEPORT_VECTORS_MAX_MB`) however many search at once.
    loading: Arc<tokio::sync::Semaphore>,
}

/// A collection's points as of one `version` of it, decoded: what a search
/// scans instead of reading and decoding every row again. Shared by every
/// search running on it (one copy, however many run at once).
struct Snapshot {
    version: i64,
    dimension: usize,
    ids: Vec<String>,
    /// `ids.len() × dimension` numbers, point after point.
    vectors: Vec<f32>,
    payloads: Vec<Map<String, Json>>,
    /// Roughly what the parsed payloads hold (a component chooses their size).
    payload_bytes: usize,
}

impl Snapshot {
    /// Roughly what it holds in memory.
    fn bytes(&self) -> u64 {
        let ids: usize = self.ids.iter().map(|i| i.len() + 24).sum();
        (self.vectors.len() * 4 + ids + self.payload_bytes) as u64
    }

    fn points<'a>(
        &'a self,
        filter: Option<&'a Filter>,
    ) -> impl Iterator<Item = (&'a str, &'a [f32], &'a Map<String, Json>)> + 'a {
        self.ids
            .iter()
            .zip(self.vectors.chunks_exact(self.dimension.max(1)))
            .zip(&self.payloads)
            .filter(move |(_, payload)| filter.is_none_or(|f| f.matches(payload)))
            .map(|((id, vector), payload)| (id.as_str(), vector, payload))
    }
}

/// The snapshots kept, least recently used first out, within `max_bytes`.
#[derive(Default)]
struct Cache {
    max_bytes: u64,
    held: u64,
    clock: u64,
    entries: BTreeMap<String, (Arc<Snapshot>, u64)>,
}

impl Cache {
    fn get(&mut self, collection: &str, version: i64) -> Option<Arc<Snapshot>> {
        self.clock += 1;
        let clock = self.clock;
        let (snapshot, used) = self.entries.get_mut(collection)?;
        if snapshot.version != version {
            return None;
        }
        *used = clock;
        Some(snapshot.clone())
    }

    /// Keep `snapshot` (the least recently used out first); `false` if it
    /// is larger than the whole cache.
    fn put(&mut self, collection: &str, snapshot: Arc<Snapshot>) -> bool {
        if let Some((old, _)) = self.entries.remove(collection) {
            self.held -= old.bytes();
        }
        let bytes = snapshot.bytes();
        if bytes > self.max_bytes {
            return false;
        }
        while self.held + bytes > self.max_bytes {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(name, _)| name.clone())
            else {
                break;
            };
            if let Some((old, _)) = self.entries.remove(&oldest) {
                self.held -= old.bytes();
            }
        }
        self.clock += 1;
        self.held += bytes;
        self.entries
            .insert(collection.to_string(), (snapshot, self.clock));
        true
    }
}

impl SqlVectors {
    /// `max_bytes`: a collection's cap; `cache_bytes`: the decoded
    /// collections kept in memory between searches, all together.
    pub fn new(db: Database, max_bytes: u64, cache_bytes: u64) -> Self {
        Self {
            db,
            max_bytes,
            cache: std::sync::Mutex::new(Cache {
                max_bytes: cache_bytes,
                ..Cache::default()
            }),
            loading: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Dimension, distance and version (bumped by every write).
    async fn collection_version(&self, name: &str) -> Result<(u32, Distance, i64), VectorError> {
        let rows = self
            .db
            .query(
                "SELECT dimension, distance, version FROM vector_collections WHERE name = $1",
                &[Value::Text(name.into())],
            )
            .await?;
        match rows.rows.first().map(|r| r.as_slice()) {
            Some(
                [
                    Value::Integer(d),
                    Value::Text(dist),
                    Value::Integer(version),
                ],
            ) => {
                let distance = Distance::parse(dist).ok_or(VectorError::Unavailable)?;
                Ok((u32::try_from(*d).unwrap_or(0), distance, *version))
            }
            Some(_) => Err(VectorError::Unavailable),
            None => Err(VectorError::NotFound(name.into())),
        }
    }

    async fn collection(&self, name: &str) -> Result<(u32, Distance), VectorError> {
        let (dimension, distance, _) = self.collection_version(name).await?;
        Ok((dimension, distance))
    }

    /// The collection's points as of now: the cached snapshot while no write
    /// has changed the collection's version (in this process or another
    /// replica), else read back from the database (and kept, if it fits).
    /// A snapshot too large to keep comes with the load permit: its holder
    /// keeps it until done with the points (see `loading`).
    ///
    /// `dimension` and `version` are the collection's as just read by
    /// [`Self::collection_version`], before the points: a write landing in
    /// between makes the snapshot newer than its label, never older, so the
    /// next search reads it again rather than serve stale points.
    async fn snapshot(
        &self,
        collection: &str,
        dimension: u32,
        version: i64,
    ) -> Result<(Arc<Snapshot>, Option<tokio::sync::OwnedSemaphorePermit>), VectorError> {
        if let Some(hit) = self.cache().get(collection, version) {
            return Ok((hit, None));
        }
        let permit = self
            .loading
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| VectorError::Unavailable)?;
        // Another search may have loaded it while this one waited.
        if let Some(hit) = self.cache().get(collection, version) {
            return Ok((hit, None));
        }
        let rows = self
            .db
            .query(
                "SELECT id, vector, payload FROM vector_points WHERE collection = $1",
                &[Value::Text(collection.into())],
            )
            .await?;
        let dimension = dimension as usize;
        let mut snapshot = Snapshot {
            version,
            dimension,
            ids: Vec::with_capacity(rows.rows.len()),
            vectors: Vec::with_capacity(rows.rows.len() * dimension),
            payloads: Vec::with_capacity(rows.rows.len()),
            payload_bytes: 0,
        };
        for row in rows.rows {
            let mut it = row.into_iter();
            let (Some(Value::Text(id)), Some(Value::Blob(blob)), Some(Value::Text(payload))) =
                (it.next(), it.next(), it.next())
            else {
                return Err(VectorError::Unavailable);
            };
            if blob.len() != dimension * 4 {
                return Err(VectorError::Unavailable);
            }
            snapshot.ids.push(id);
            snapshot.vectors.extend(decode(&blob));
            // A parsed JSON map takes a few times its text (keys, values, the map).
            snapshot.payload_bytes += payload.len() * 3 + 64;
            snapshot
                .payloads
                .push(serde_json::from_str(&payload).unwrap_or_default());
        }
        let snapshot = Arc::new(snapshot);
        let kept = self.cache().put(collection, snapshot.clone());
        Ok((snapshot, (!kept).then_some(permit)))
    }

    /// A write to `collection` in `tx`: bumps its version, so every cached
    /// snapshot of it (here or in another replica) is read again.
    async fn bump(tx: &mut super::db::Transaction, collection: &str) -> Result<(), VectorError> {
        tx.execute(
            "UPDATE vector_collections SET version = version + 1 WHERE name = $1",
            &[Value::Text(collection.into())],
        )
        .await?;
        Ok(())
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
        Self::bump(&mut tx, collection).await?;
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
        let (dimension, distance, version) = self.collection_version(collection).await?;
        check_query(collection, dimension, &query)?;
        let (snapshot, permit) = self.snapshot(collection, dimension, version).await?;
        // Scoring is CPU work of its own (a whole collection): off the I/O threads.
        let hits = tokio::task::spawn_blocking(move || {
            rank(snapshot.points(query.filter.as_ref()), &query, distance)
        })
        .await
        .map_err(|_| VectorError::Unavailable);
        drop(permit);
        hits
    }

    async fn delete_points(&self, collection: &str, ids: &[String]) -> Result<u64, VectorError> {
        self.collection(collection).await?;
        let mut deleted = 0;
        let mut tx = self.db.begin().await?;
        Self::bump(&mut tx, collection).await?;
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
        let (dimension, _, version) = self.collection_version(collection).await?;
        let (snapshot, permit) = self.snapshot(collection, dimension, version).await?;
        let ids: Vec<String> = snapshot
            .points(Some(filter))
            .map(|(id, _, _)| id.to_string())
            .collect();
        drop((snapshot, permit));
        self.delete_points(collection, &ids).await
    }

    async fn count(&self, collection: &str, filter: Option<&Filter>) -> Result<u64, VectorError> {
        let (dimension, _, version) = self.collection_version(collection).await?;
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
        let (snapshot, _permit) = self.snapshot(collection, dimension, version).await?;
        Ok(snapshot.points(filter).count() as u64)
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
                .map(|(id, (v, p))| (id.as_str(), v.as_slice(), p));
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
