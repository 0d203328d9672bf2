//! Deploys into the running host: an uploaded `.wasm` is checked the way the
//! host loads any component (compiled here, never accepted precompiled; its
//! imports linked against the grants the manifest gives that id, so an upload
//! can never widen them), recorded in the host database, and swapped in; a
//! replica on the same PostgreSQL follows the log within a second or two.
//!
//! What the image ships is the floor: with nothing uploaded the host serves
//! exactly the manifest's files.

use super::registry::Registry;
use crate::sandbox::runtime::cache::content_hash;
use crate::services::deploy::{Change, DeployStore, DeployStoreError, Version};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("no component `{0}` in the manifest")]
    UnknownComponent(String),
    #[error("the app is still starting")]
    Starting,
    #[error("{0}")]
    Invalid(String),
    #[error("component `{component}` has no version {version}")]
    UnknownVersion { component: String, version: String },
    #[error("component `{0}` has no earlier version to roll back to")]
    NothingToRollBack(String),
    #[error("{0}")]
    Store(#[from] DeployStoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the new version did not load: {0}")]
    Reload(String),
}

/// What a component serves now.
#[derive(Debug, Serialize)]
pub struct Serving {
    pub component: String,
    /// SHA-256 of the serving `.wasm`.
    pub version: String,
    /// `image` (the manifest's file) or `uploaded`.
    pub source: &'static str,
    pub size: u64,
    /// The log row that made it serve, when it was uploaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed: Option<Version>,
}

/// The answer to a deploy or rollback: the version now serving.
#[derive(Debug, Serialize)]
pub struct Deployed {
    pub component: String,
    pub version: String,
    pub size: u64,
    /// Time to compile and link it here (0 when it came from the cache).
    pub compile_ms: u64,
    /// From the upload's last byte to serving.
    pub swap_ms: u64,
    pub deployed_at: String,
    pub action: String,
}

pub struct Deployer {
    registry: Arc<Registry>,
    store: DeployStore,
    /// Uploaded blobs as files, for the runtime to load (`<hash>.wasm`).
    dir: PathBuf,
    /// The log generation this host has applied.
    applied: AtomicI64,
    /// One change at a time on this host.
    changing: tokio::sync::Mutex<()>,
}

impl Deployer {
    pub fn new(registry: Arc<Registry>, store: DeployStore, data_dir: &Path) -> Self {
        Self {
            registry,
            store,
            dir: data_dir.join("deployed"),
            applied: AtomicI64::new(-1),
            changing: tokio::sync::Mutex::new(()),
        }
    }

    /// Read the log and point the registry at each component's current
    /// version (fetching blobs this host has not seen). Does not reload.
    /// Returns whether anything changed since the last call.
    pub async fn sync(&self) -> Result<bool, DeployError> {
        let generation = self.store.generation().await?;
        if generation == self.applied.load(Ordering::Acquire) {
            return Ok(false);
        }
        let mut overrides = BTreeMap::new();
        for (id, version) in self.store.current().await? {
            if let Some(hash) = &version.hash {
                overrides.insert(id, self.materialize(hash).await?);
            }
        }
        self.registry.set_overrides(overrides);
        self.applied.store(generation, Ordering::Release);
        Ok(true)
    }

    /// Follow the log: on another replica's NOTIFY (PostgreSQL), and every
    /// `every` in any case, pick up what it recorded.
    pub fn follow(self: &Arc<Self>, every: Duration) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut listener = me.store.listen().await;
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                match listener.as_mut() {
                    Some(l) => tokio::select! {
                        _ = tick.tick() => {}
                        woke = l.recv() => if let Err(e) = woke {
                            // sqlx reconnects on the next recv; the poll covers the gap.
                            tracing::debug!(error = %e, "deployments: LISTEN connection lost");
                        },
                    },
                    None => {
                        tick.tick().await;
                    }
                }
                let changed = {
                    let _one = me.changing.lock().await;
                    match me.sync().await {
                        Ok(changed) => changed,
                        Err(e) => {
                            tracing::warn!(error = %e, "deployments: cannot read the log; will retry");
                            continue;
                        }
                    }
                };
                if changed {
                    match me.registry.reload().await {
                        Ok(report) => tracing::info!(
                            swapped = ?report.swapped,
                            rejected = ?report.rejected,
                            "deployments: caught up with the log"
                        ),
                        Err(e) => {
                            tracing::error!(error = %format!("{e:#}"), "deployments: reload failed")
                        }
                    }
                }
            }
        });
    }

    /// Check, record and swap in an uploaded version of `id`.
    pub async fn deploy(
        &self,
        id: &str,
        bytes: &[u8],
        actor: &str,
    ) -> Result<Deployed, DeployError> {
        let received = Instant::now();
        let _one = self.changing.lock().await;
        let app = self.registry.app().ok_or(DeployError::Starting)?;
        let config = app
            .manifest
            .components
            .get(id)
            .ok_or_else(|| DeployError::UnknownComponent(id.into()))?
            .clone();
        let hash = content_hash(bytes);
        let path = self.write_blob(&hash, bytes).await?;
        // Compile and link exactly as a reload would, against this id's
        // grants; the artifact lands in the cache, so the reload is quick.
        let runtime = self.registry.runtime().clone();
        let (id_owned, check_path) = (id.to_string(), path.clone());
        let compile_started = Instant::now();
        let checked = tokio::task::spawn_blocking(move || {
            runtime.load(&id_owned, &config, &check_path, None)
        })
        .await
        .map_err(|e| DeployError::Invalid(format!("the check stopped: {e}")))?;
        let compile_ms = compile_started.elapsed().as_millis() as u64;
        if let Err(e) = checked {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(DeployError::Invalid(describe_load_error(&e.to_string())));
        }
        self.store.put_blob(&hash, bytes).await?;
        let version = self
            .store
            .record(Change {
                component: id,
                hash: Some(&hash),
                action: "deploy",
                actor,
                compile_ms: Some(compile_ms as i64),
            })
            .await?;
        self.swap(id, Some(path), version, compile_ms, received)
            .await
    }

    /// Serve an earlier version again: `to` (a hash from the component's
    /// log, or a unique prefix of one), else the one before the current.
    pub async fn rollback(
        &self,
        id: &str,
        to: Option<&str>,
        actor: &str,
    ) -> Result<Deployed, DeployError> {
        let received = Instant::now();
        let _one = self.changing.lock().await;
        self.known(id)?;
        let history = self.store.history(id).await?;
        let current = history.first().and_then(|v| v.hash.clone());
        let target: Option<String> = match to {
            Some(wanted) => {
                let matches: Vec<&String> = history
                    .iter()
                    .filter_map(|v| v.hash.as_ref())
                    .filter(|h| h.starts_with(wanted))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                match matches.as_slice() {
                    [one] if wanted.len() >= 6 => Some((*one).clone()),
                    _ => {
                        return Err(DeployError::UnknownVersion {
                            component: id.into(),
                            version: wanted.into(),
                        });
                    }
                }
            }
            None => match history.iter().find(|v| v.hash != current) {
                Some(previous) => previous.hash.clone(),
                // Only uploads of this one version so far: before them, the image's.
                None if current.is_some() => None,
                None => return Err(DeployError::NothingToRollBack(id.into())),
            },
        };
        let path = match &target {
            Some(hash) => Some(self.materialize(hash).await?),
            None => None,
        };
        let version = self
            .store
            .record(Change {
                component: id,
                hash: target.as_deref(),
                action: "rollback",
                actor,
                compile_ms: None,
            })
            .await?;
        self.swap(id, path, version, 0, received).await
    }

    /// Back to the image's file.
    pub async fn reset(&self, id: &str, actor: &str) -> Result<Deployed, DeployError> {
        let received = Instant::now();
        let _one = self.changing.lock().await;
        self.known(id)?;
        let version = self
            .store
            .record(Change {
                component: id,
                hash: None,
                action: "reset",
                actor,
                compile_ms: None,
            })
            .await?;
        self.swap(id, None, version, 0, received).await
    }

    /// What every component serves, and each one's log.
    pub async fn status(&self) -> Result<Vec<(Serving, Vec<Version>)>, DeployError> {
        let app = self.registry.app().ok_or(DeployError::Starting)?;
        let current = self.store.current().await?;
        let mut out = Vec::new();
        for (id, loaded) in &app.components {
            let uploaded = self.registry.override_of(id).is_some();
            let size = tokio::fs::metadata(&loaded.source)
                .await
                .map(|m| m.len())
                .unwrap_or(0);
            let history = self.store.history(id).await?;
            out.push((
                Serving {
                    component: id.clone(),
                    version: loaded.hash.clone(),
                    source: if uploaded { "uploaded" } else { "image" },
                    size,
                    deployed: current.get(id).filter(|_| uploaded).cloned(),
                },
                history,
            ));
        }
        Ok(out)
    }

    fn known(&self, id: &str) -> Result<(), DeployError> {
        let app = self.registry.app().ok_or(DeployError::Starting)?;
        if app.manifest.components.contains_key(id) {
            Ok(())
        } else {
            Err(DeployError::UnknownComponent(id.into()))
        }
    }

    /// Point `id` at `path` (or the image's file), reload, and confirm it serves.
    async fn swap(
        &self,
        id: &str,
        path: Option<PathBuf>,
        version: Version,
        compile_ms: u64,
        received: Instant,
    ) -> Result<Deployed, DeployError> {
        self.registry.set_override(id, path);
        // This host's own change: the follower need not redo it.
        if let Ok(generation) = self.store.generation().await {
            self.applied.store(generation, Ordering::Release);
        }
        self.store.notify().await;
        let report = self.registry.reload().await.map_err(|e| {
            // The error may name files of the server: the log gets it, the client a summary.
            tracing::error!(component = id, error = %format!("{e:#}"), "deployment: the app did not reload");
            DeployError::Reload("the app did not reload; the host log has the reason".into())
        })?;
        if report.rejected.iter().any(|r| r == id) {
            return Err(DeployError::Reload(format!(
                "component `{id}` was rejected on reload; see the host log"
            )));
        }
        let app = self.registry.app().ok_or(DeployError::Starting)?;
        let serving = app
            .components
            .get(id)
            .ok_or_else(|| DeployError::UnknownComponent(id.into()))?;
        let size = tokio::fs::metadata(&serving.source)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        let deployed = Deployed {
            component: id.into(),
            version: serving.hash.clone(),
            size,
            compile_ms,
            swap_ms: received.elapsed().as_millis() as u64,
            deployed_at: version.created_at.clone(),
            action: version.action.clone(),
        };
        crate::services::metrics::METRICS.deployment(id, &deployed.action);
        tracing::info!(
            component = id,
            version = %&deployed.version[..12],
            action = %deployed.action,
            actor = %version.actor,
            compile_ms,
            swap_ms = deployed.swap_ms,
            "deployment applied"
        );
        Ok(deployed)
    }

    /// The blob `hash` as a file this host can load.
    async fn materialize(&self, hash: &str) -> Result<PathBuf, DeployError> {
        let path = self.blob_path(hash);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(path);
        }
        let bytes = self.store.blob(hash).await?.ok_or_else(|| {
            DeployError::Invalid(format!("blob {hash} is missing from the store"))
        })?;
        // Stored content is what was checked when it was uploaded; check the
        // hash anyway, since the file will be loaded under that name.
        if content_hash(&bytes) != hash {
            return Err(DeployError::Invalid(format!(
                "blob {hash} in the store does not match its hash"
            )));
        }
        self.write_blob(hash, &bytes).await
    }

    fn blob_path(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}.wasm"))
    }

    async fn write_blob(&self, hash: &str, bytes: &[u8]) -> Result<PathBuf, DeployError> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let path = self.blob_path(hash);
        // Write then rename: a running reload never reads half a file.
        let tmp = self.dir.join(format!(".{hash}.{}.tmp", std::process::id()));
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(path)
    }
}

/// A load error without the server's file path (the client sent bytes, not a path).
fn describe_load_error(message: &str) -> String {
    // LoadError reads "component `id` (/path/to/file.wasm): message".
    match message.split_once("): ") {
        Some((head, rest)) if head.starts_with("component `") => {
            let id = head.split(" (").next().unwrap_or(head);
            format!("{id}: {rest}")
        }
        _ => message.to_string(),
    }
}
