//! Uploaded component versions, in the host's own database (the SQLite file
//! under the data directory, or PostgreSQL with `DATABASE_URL`, where every
//! replica reads the same rows). Blobs are content-addressed; the versions
//! table is an append-only log, so "what serves now" is each component's
//! latest row and the log is the audit trail.

use super::db::{Database, SqlError, Value};
use std::collections::BTreeMap;

/// One row of the log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Version {
    pub seq: i64,
    pub component: String,
    /// SHA-256 of the `.wasm`; `None`: back to the image's file.
    pub hash: Option<String>,
    pub size: Option<i64>,
    pub action: String,
    pub actor: String,
    pub compile_ms: Option<i64>,
    pub created_at: String,
}

/// What is recorded for one change.
pub struct Change<'a> {
    pub component: &'a str,
    pub hash: Option<&'a str>,
    pub action: &'a str,
    pub actor: &'a str,
    pub compile_ms: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployStoreError {
    #[error("deployment store: {0}")]
    Sql(#[from] SqlError),
    #[error("deployment store: unexpected row shape")]
    Shape,
}

/// The deployment log and blobs of one host database.
#[derive(Clone)]
pub struct DeployStore {
    db: Database,
}

/// The PostgreSQL NOTIFY channel of deployment changes.
const CHANNEL: &str = "spaceport_deployments";

const VERSION_COLUMNS: &str =
    "v.seq, v.component, v.hash, b.size, v.action, v.actor, v.compile_ms, v.created_at";

impl DeployStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Store a blob (a no-op when this content is there already).
    pub async fn put_blob(&self, hash: &str, bytes: &[u8]) -> Result<(), DeployStoreError> {
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        self.db
            .execute(
                "INSERT INTO component_blobs (hash, bytes, size) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING",
                &[
                    Value::Text(hash.into()),
                    Value::Blob(bytes.to_vec()),
                    Value::Integer(size),
                ],
            )
            .await?;
        Ok(())
    }

    pub async fn blob(&self, hash: &str) -> Result<Option<Vec<u8>>, DeployStoreError> {
        let rows = self
            .db
            .query(
                "SELECT bytes FROM component_blobs WHERE hash = $1",
                &[Value::Text(hash.into())],
            )
            .await?;
        match rows
            .rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
        {
            Some(Value::Blob(b)) => Ok(Some(b)),
            Some(_) => Err(DeployStoreError::Shape),
            None => Ok(None),
        }
    }

    /// Append one change to the log; returns its row.
    pub async fn record(&self, change: Change<'_>) -> Result<Version, DeployStoreError> {
        let rows = self
            .db
            .query(
                "INSERT INTO component_versions (component, hash, action, actor, compile_ms) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING seq",
                &[
                    Value::Text(change.component.into()),
                    change.hash.map_or(Value::Null, |h| Value::Text(h.into())),
                    Value::Text(change.action.into()),
                    Value::Text(change.actor.into()),
                    change.compile_ms.map_or(Value::Null, Value::Integer),
                ],
            )
            .await?;
        let seq = match rows.rows.first().and_then(|r| r.first()) {
            Some(Value::Integer(seq)) => *seq,
            _ => return Err(DeployStoreError::Shape),
        };
        self.versions("WHERE v.seq = $1", &[Value::Integer(seq)])
            .await?
            .pop()
            .ok_or(DeployStoreError::Shape)
    }

    /// The latest row of every component that has one.
    pub async fn current(&self) -> Result<BTreeMap<String, Version>, DeployStoreError> {
        let latest = self
            .versions(
                "WHERE v.seq IN (SELECT MAX(seq) FROM component_versions GROUP BY component)",
                &[],
            )
            .await?;
        Ok(latest
            .into_iter()
            .map(|v| (v.component.clone(), v))
            .collect())
    }

    /// A component's log, newest first.
    pub async fn history(&self, component: &str) -> Result<Vec<Version>, DeployStoreError> {
        let mut rows = self
            .versions("WHERE v.component = $1", &[Value::Text(component.into())])
            .await?;
        rows.reverse();
        Ok(rows)
    }

    /// Tell the other replicas on this PostgreSQL that the log changed (they
    /// also poll, so a lost notification only delays them). SQLite: nothing.
    pub async fn notify(&self) {
        if let Database::Postgres(_) = &self.db
            && let Err(e) = self
                .db
                // `execute`: pg_notify returns VOID, which no row decoder reads.
                .execute(&format!("SELECT pg_notify('{CHANNEL}', '')"), &[])
                .await
        {
            tracing::warn!(error = %e, "deployments: NOTIFY failed; replicas will see the change at their next poll");
        }
    }

    /// A listener that wakes on every other replica's [`Self::notify`]
    /// (PostgreSQL only).
    pub async fn listen(&self) -> Option<sqlx::postgres::PgListener> {
        let Database::Postgres(pool) = &self.db else {
            return None;
        };
        let mut listener = match sqlx::postgres::PgListener::connect_with(pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "deployments: cannot LISTEN; following the log by polling only");
                return None;
            }
        };
        match listener.listen(CHANNEL).await {
            Ok(()) => Some(listener),
            Err(e) => {
                tracing::warn!(error = %e, "deployments: cannot LISTEN; following the log by polling only");
                None
            }
        }
    }

    /// Changes whenever anything is recorded (a replica polls it).
    pub async fn generation(&self) -> Result<i64, DeployStoreError> {
        let rows = self
            .db
            .query("SELECT COALESCE(MAX(seq), 0) FROM component_versions", &[])
            .await?;
        match rows.rows.first().and_then(|r| r.first()) {
            Some(Value::Integer(n)) => Ok(*n),
            _ => Err(DeployStoreError::Shape),
        }
    }

    async fn versions(
        &self,
        filter: &str,
        params: &[Value],
    ) -> Result<Vec<Version>, DeployStoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM component_versions v \
             LEFT JOIN component_blobs b ON b.hash = v.hash {filter} ORDER BY v.seq"
        );
        let rows = self.db.query(&sql, params).await?;
        rows.rows.into_iter().map(version).collect()
    }
}

fn version(row: Vec<Value>) -> Result<Version, DeployStoreError> {
    let mut it = row.into_iter();
    let mut next = || it.next().ok_or(DeployStoreError::Shape);
    let int = |v: Value| match v {
        Value::Integer(n) => Ok(Some(n)),
        Value::Null => Ok(None),
        _ => Err(DeployStoreError::Shape),
    };
    let text = |v: Value| match v {
        Value::Text(s) => Ok(Some(s)),
        Value::Null => Ok(None),
        _ => Err(DeployStoreError::Shape),
    };
    let seq = int(next()?)?.ok_or(DeployStoreError::Shape)?;
    let component = text(next()?)?.ok_or(DeployStoreError::Shape)?;
    let hash = text(next()?)?;
    let size = int(next()?)?;
    let action = text(next()?)?.ok_or(DeployStoreError::Shape)?;
    let actor = text(next()?)?.ok_or(DeployStoreError::Shape)?;
    let compile_ms = int(next()?)?;
    let created_at = text(next()?)?.ok_or(DeployStoreError::Shape)?;
    Ok(Version {
        seq,
        component,
        hash,
        size,
        action,
        actor,
        compile_ms,
        created_at,
    })
}
