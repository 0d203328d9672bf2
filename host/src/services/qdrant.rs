//! Qdrant as the vector store, over its REST API (used when `QDRANT_URL` is
//! set). Written against Qdrant's documented endpoints: `GET/PUT
//! /collections/{name}`, `PUT /collections/{name}/points?wait=true`, `POST
//! /collections/{name}/points/search`, `.../points/count`,
//! `.../points/delete?wait=true`; answers are `{"result", "status", "time"}`,
//! errors `{"status": {"error": "..."}}`; the key goes in the `api-key` header.
//!
//! A grant `vectors = ["docs"]` is the Qdrant collection `<prefix>docs`.
//! Qdrant point ids are integers or UUIDs; a component's string id is mapped
//! to a UUID derived from it (SHA-256) and kept in the payload under
//! [`ID_KEY`], which is stripped from what the component gets back.

use super::vectors::{Distance, Filter, Hit, Point, Query, VectorError, VectorStore};
use serde_json::{Map, Value as Json, json};
use sha2::Digest;
use std::time::Duration;
use tracing::Instrument;

/// Payload key holding the component's own point id.
pub const ID_KEY: &str = "_spaceport_id";

/// Settings of the Qdrant backend (flattened into `spaceport up`; the field
/// names are clap's argument ids, so they must not clash with `DbConfig`'s).
#[derive(Clone, Debug, clap::Args)]
pub struct QdrantConfig {
    /// Qdrant's URL (e.g. `https://xyz.cloud.qdrant.io:6333`); unset: the embedded store.
    #[arg(long = "qdrant-url", env = "QDRANT_URL")]
    pub qdrant_url: Option<String>,
    /// Qdrant Cloud's API key (sent as `api-key`).
    #[arg(
        long = "qdrant-api-key",
        env = "QDRANT_API_KEY",
        hide_env_values = true
    )]
    pub qdrant_api_key: Option<String>,
    /// Prefix of the Qdrant collection a grant names (`vectors = ["docs"]` → `<prefix>docs`).
    #[arg(
        long = "qdrant-collection-prefix",
        env = "QDRANT_COLLECTION_PREFIX",
        default_value = "spaceport_"
    )]
    pub qdrant_prefix: String,
    /// Most vector data one collection of the embedded store may hold, in MiB
    /// (exact search reads a whole collection per query).
    #[arg(long = "vectors-max-mb", env = "SPACEPORT_VECTORS_MAX_MB", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub vectors_max_mb: u64,
    /// The embedded store's collections kept decoded in memory between
    /// searches, all together, in MiB (0: read every search from the database).
    #[arg(
        long = "vectors-cache-mb",
        env = "SPACEPORT_VECTORS_CACHE_MB",
        default_value_t = 256
    )]
    pub vectors_cache_mb: u64,
    /// An existing, populated collection (seeds 002/003 name it in
    /// `QDRANT_COLLECTION` or `QDRANT_COLLECTION_NAME`), reached by the grant
    /// `QDRANT_COLLECTION_GRANT` under its own name (no prefix).
    #[arg(long = "qdrant-collection", env = "QDRANT_COLLECTION")]
    pub qdrant_collection: Option<String>,
    #[arg(long = "qdrant-collection-name", env = "QDRANT_COLLECTION_NAME")]
    pub qdrant_collection_name: Option<String>,
    /// The grant name that reaches the existing collection (`vectors = ["library"]`).
    #[arg(
        long = "qdrant-collection-grant",
        env = "QDRANT_COLLECTION_GRANT",
        default_value = "library"
    )]
    pub qdrant_collection_grant: String,
    /// Whether components may only read the existing collection (the default:
    /// it was filled by someone else's pipeline).
    #[arg(long = "qdrant-collection-read-only", env = "QDRANT_COLLECTION_READ_ONLY",
          default_value_t = true, action = clap::ArgAction::Set)]
    pub qdrant_collection_read_only: bool,
    /// Seconds one Qdrant call may take.
    #[arg(
        long = "qdrant-timeout-secs",
        env = "QDRANT_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub qdrant_timeout_secs: u64,
}

pub struct Qdrant {
    client: reqwest::Client,
    base: String,
    api_key: Option<String>,
    prefix: String,
    /// The existing collection: (grant name, Qdrant name, read-only).
    existing: Option<(String, String, bool)>,
}

impl Qdrant {
    pub fn new(config: &QdrantConfig, url: &str) -> anyhow::Result<Self> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            anyhow::bail!("QDRANT_URL must start with http:// or https://");
        }
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(config.qdrant_timeout_secs.max(1)))
                .build()?,
            base,
            api_key: config.qdrant_api_key.clone().filter(|k| !k.is_empty()),
            prefix: config.qdrant_prefix.clone(),
            existing: config
                .qdrant_collection
                .as_deref()
                .or(config.qdrant_collection_name.as_deref())
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(|name| {
                    (
                        config.qdrant_collection_grant.clone(),
                        name.to_string(),
                        config.qdrant_collection_read_only,
                    )
                }),
        })
    }

    /// Whether Qdrant answers (`GET /healthz`), for the status board.
    pub async fn ping(&self) -> Result<Duration, VectorError> {
        let started = std::time::Instant::now();
        let resp = self
            .with_key(self.client.get(format!("{}/healthz", self.base)))
            .send()
            .await
            .map_err(|e| unavailable("health check", &e.to_string()))?;
        if !resp.status().is_success() {
            return Err(unavailable("health check", resp.status().as_str()));
        }
        // A configured collection that is not there is as good as Qdrant down:
        // every search of it would fail.
        if let Some((grant, name, _)) = &self.existing {
            self.call(reqwest::Method::GET, grant, "", None)
                .await
                .map_err(|e| {
                    tracing::warn!(collection = %name, error = %e, "qdrant: the configured collection is not usable");
                    VectorError::Unavailable
                })?;
        }
        Ok(started.elapsed())
    }

    fn with_key(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        // The caller's trace goes on to Qdrant (when traces are on).
        let mut trace = http::HeaderMap::new();
        super::telemetry::inject(&mut trace);
        let req = req.headers(trace);
        match &self.api_key {
            Some(key) => req.header("api-key", key),
            None => req,
        }
    }

    fn url(&self, collection: &str, rest: &str) -> String {
        match &self.existing {
            Some((grant, name, _)) if grant == collection => {
                format!("{}/collections/{name}{rest}", self.base)
            }
            _ => format!(
                "{}/collections/{}{collection}{rest}",
                self.base, self.prefix
            ),
        }
    }

    /// The existing collection's Qdrant name, if one is configured.
    pub fn existing_collection(&self) -> Option<&str> {
        self.existing.as_ref().map(|(_, name, _)| name.as_str())
    }

    /// Refuse a write to the existing collection when it is read-only.
    fn writable(&self, collection: &str) -> Result<(), VectorError> {
        match &self.existing {
            // The Qdrant name stays with the operator: the component knows its grant.
            Some((grant, _, true)) if grant == collection => Err(VectorError::ReadOnly(format!(
                "collection `{grant}` is an existing collection the host serves read-only \
                 (QDRANT_COLLECTION_READ_ONLY=false lets components write to it)"
            ))),
            _ => Ok(()),
        }
    }

    /// Send, and unwrap Qdrant's `result` (errors mapped to [`VectorError`]).
    async fn call(
        &self,
        method: reqwest::Method,
        collection: &str,
        rest: &str,
        body: Option<Json>,
    ) -> Result<Json, VectorError> {
        // A client span per call (collection and method, never the body); the
        // trace goes on to Qdrant from inside it.
        let span = tracing::info_span!(
            "vectors",
            otel.kind = "client",
            db.system.name = "qdrant",
            db.collection.name = collection,
            http.request.method = %method,
        );
        let mut req = span
            .in_scope(|| self.with_key(self.client.request(method, self.url(collection, rest))));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .instrument(span)
            .await
            .map_err(|e| unavailable(collection, &e.to_string()))?;
        let status = resp.status();
        let answer: Json = resp.json().await.unwrap_or(Json::Null);
        if status.is_success() {
            return Ok(answer.get("result").cloned().unwrap_or(Json::Null));
        }
        let message = answer["status"]["error"].as_str().unwrap_or("").to_string();
        match status.as_u16() {
            404 => Err(VectorError::NotFound(collection.into())),
            // Qdrant's own text goes to the log, not to the component.
            400 | 422 => {
                tracing::warn!(collection, %status, message = %message, "qdrant: request refused");
                Err(if message.to_lowercase().contains("dimension") {
                    VectorError::DimensionMismatch(format!(
                        "collection `{collection}`: a vector's length differs from the collection's dimension"
                    ))
                } else {
                    VectorError::InvalidArgument(format!(
                        "collection `{collection}`: the vector store refused the request"
                    ))
                })
            }
            _ => Err(unavailable(collection, &format!("{status}: {message}"))),
        }
    }

    async fn count_filter(
        &self,
        collection: &str,
        filter: Option<Json>,
    ) -> Result<u64, VectorError> {
        let mut body = json!({ "exact": true });
        if let Some(f) = filter {
            body["filter"] = f;
        }
        let result = self
            .call(
                reqwest::Method::POST,
                collection,
                "/points/count",
                Some(body),
            )
            .await?;
        Ok(result["count"].as_u64().unwrap_or(0))
    }
}

/// The logged reason stays in the log; the component sees "unavailable".
fn unavailable(collection: &str, reason: &str) -> VectorError {
    tracing::warn!(collection, reason, "qdrant: call failed");
    VectorError::Unavailable
}

/// The Qdrant point id for a component's id: a UUID made of its SHA-256.
pub fn point_uuid(id: &str) -> String {
    let digest = sha2::Sha256::digest(id.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8: custom
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn distance_name(d: Distance) -> &'static str {
    match d {
        Distance::Cosine => "Cosine",
        Distance::Dot => "Dot",
        Distance::Euclid => "Euclid",
    }
}

fn hit(point: &Json) -> Option<Hit> {
    let mut payload: Map<String, Json> = point["payload"].as_object().cloned().unwrap_or_default();
    let id = match payload.remove(ID_KEY) {
        Some(Json::String(id)) => id,
        _ => point["id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| point["id"].as_u64().map(|n| n.to_string()))?,
    };
    Some(Hit {
        id,
        score: point["score"].as_f64()? as f32,
        payload,
    })
}

#[async_trait::async_trait]
impl VectorStore for Qdrant {
    async fn ensure_collection(
        &self,
        name: &str,
        dimension: u32,
        distance: Distance,
    ) -> Result<(), VectorError> {
        match self.call(reqwest::Method::GET, name, "", None).await {
            Ok(info) => {
                let params = &info["config"]["params"]["vectors"];
                let size = params["size"].as_u64();
                let dist = params["distance"].as_str();
                if size == Some(u64::from(dimension)) && dist == Some(distance_name(distance)) {
                    Ok(())
                } else {
                    Err(VectorError::DimensionMismatch(format!(
                        "collection `{name}` exists with dimension {} and distance {}, not {dimension} and {}",
                        size.map_or("?".into(), |s| s.to_string()),
                        dist.unwrap_or("?"),
                        distance_name(distance)
                    )))
                }
            }
            Err(VectorError::NotFound(_)) => {
                self.writable(name)?;
                let body = json!({ "vectors": { "size": dimension, "distance": distance_name(distance) } });
                self.call(reqwest::Method::PUT, name, "", Some(body))
                    .await
                    .map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    async fn upsert(&self, collection: &str, points: Vec<Point>) -> Result<(), VectorError> {
        self.writable(collection)?;
        let points: Vec<Json> = points
            .into_iter()
            .map(|p| {
                let mut payload = p.payload;
                payload.insert(ID_KEY.into(), Json::String(p.id.clone()));
                json!({ "id": point_uuid(&p.id), "vector": p.vector, "payload": payload })
            })
            .collect();
        self.call(
            reqwest::Method::PUT,
            collection,
            "/points?wait=true",
            Some(json!({ "points": points })),
        )
        .await
        .map(|_| ())
    }

    async fn search(&self, collection: &str, query: Query) -> Result<Vec<Hit>, VectorError> {
        let mut body = json!({
            "vector": query.vector,
            "limit": query.top_k,
            "with_payload": true,
        });
        if let Some(f) = &query.filter {
            body["filter"] = f.to_qdrant();
        }
        if let Some(t) = query.score_threshold {
            body["score_threshold"] = json!(t);
        }
        let result = self
            .call(
                reqwest::Method::POST,
                collection,
                "/points/search",
                Some(body),
            )
            .await?;
        Ok(result
            .as_array()
            .map(|a| a.iter().filter_map(hit).collect())
            .unwrap_or_default())
    }

    async fn delete_points(&self, collection: &str, ids: &[String]) -> Result<u64, VectorError> {
        self.writable(collection)?;
        if ids.is_empty() {
            // Still a check that the collection exists.
            return self
                .count_filter(collection, Some(json!({"must": [{"has_id": []}]})))
                .await;
        }
        let uuids: Vec<String> = ids.iter().map(|id| point_uuid(id)).collect();
        let existing = self
            .count_filter(collection, Some(json!({ "must": [{ "has_id": uuids }] })))
            .await?;
        self.call(
            reqwest::Method::POST,
            collection,
            "/points/delete?wait=true",
            Some(json!({ "points": uuids })),
        )
        .await?;
        Ok(existing)
    }

    async fn delete_where(&self, collection: &str, filter: &Filter) -> Result<u64, VectorError> {
        self.writable(collection)?;
        let f = filter.to_qdrant();
        let matching = self.count_filter(collection, Some(f.clone())).await?;
        self.call(
            reqwest::Method::POST,
            collection,
            "/points/delete?wait=true",
            Some(json!({ "filter": f })),
        )
        .await?;
        Ok(matching)
    }

    async fn count(&self, collection: &str, filter: Option<&Filter>) -> Result<u64, VectorError> {
        self.count_filter(collection, filter.map(Filter::to_qdrant))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_ids_are_stable_uuids() {
        let a = point_uuid("doc-1#0");
        assert_eq!(a, point_uuid("doc-1#0"));
        assert_ne!(a, point_uuid("doc-1#1"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8");
    }
}
