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
        if resp.status().is_success() {
            Ok(started.elapsed())
        } else {
            Err(unavailable("health check", resp.status().as_str()))
        }
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
        format!(
            "{}/collections/{}{collection}{rest}",
            self.base, self.prefix
        )
    }

    /// Send, and unwrap Qdrant's `result` (errors mapped to [`VectorError`]).
    async fn call(
        &self,
        method: reqwest::Method,
        collection: &str,
        rest: &str,
        body: Option<Json>,
    ) -> Result<Json, VectorError> {
        let mut req = self.with_key(self.client.request(method, self.url(collection, rest)));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
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
                let body = json!({ "vectors": { "size": dimension, "distance": distance_name(distance) } });
                self.call(reqwest::Method::PUT, name, "", Some(body))
                    .await
                    .map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    async fn upsert(&self, collection: &str, points: Vec<Point>) -> Result<(), VectorError> {
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
