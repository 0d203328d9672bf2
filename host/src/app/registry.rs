//! The live application: routes and loaded components, swapped atomically.
//!
//! A request takes one snapshot ([`App`]) and keeps it until it finishes, so
//! a reload never changes what an in-flight request runs; new requests see
//! the new snapshot as soon as it is stored.

use super::endpoints::host_paths;
use super::snapshot::{App, RouteTarget};
use crate::manifest::Manifest;
use crate::manifest::routes::Router;
use crate::sandbox::runtime::{LoadedComponent, Runtime, cache, cache::Origin};
use crate::services::status::{DepState, StatusBoard};
use arc_swap::ArcSwapOption;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;

/// What a reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// The manifest's routes or settings differ from the running version.
    pub manifest_changed: bool,
    pub swapped: Vec<String>,
    pub compiled: usize,
    pub from_cache: usize,
    /// Components whose new version was rejected; their old version keeps serving.
    pub rejected: Vec<String>,
}

/// The current [`App`], or none while the first load is still running.
pub struct Registry {
    current: ArcSwapOption<App>,
    runtime: Arc<Runtime>,
    status: Arc<StatusBoard>,
    manifest_path: PathBuf,
    /// Uploaded versions (`spaceport deploy`) served instead of the file the
    /// manifest names: component id → its `.wasm` under the data directory.
    overrides: std::sync::RwLock<BTreeMap<String, PathBuf>>,
    /// One reload at a time (file watch, deploys, a replica catching up), so
    /// each starts from the version the previous one stored.
    reloading: tokio::sync::Mutex<()>,
    /// Bumped each time a new snapshot is stored, for those who announce
    /// changes (MCP's `notifications/tools/list_changed`).
    generation: tokio::sync::watch::Sender<u64>,
}

impl Registry {
    pub fn new(runtime: Arc<Runtime>, status: Arc<StatusBoard>, manifest_path: PathBuf) -> Self {
        status.report("components", DepState::Starting, Some("loading".into()));
        Self {
            current: ArcSwapOption::empty(),
            runtime,
            status,
            manifest_path,
            overrides: Default::default(),
            reloading: tokio::sync::Mutex::new(()),
            generation: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Serve `path` instead of the manifest's file for `id` (`None`: the
    /// manifest's again) from the next reload on.
    pub fn set_override(&self, id: &str, path: Option<PathBuf>) {
        let mut overrides = self.overrides.write().unwrap_or_else(|e| e.into_inner());
        match path {
            Some(path) => overrides.insert(id.to_string(), path),
            None => overrides.remove(id),
        };
    }

    /// Replace every override at once (a replica catching up with the log).
    pub fn set_overrides(&self, all: BTreeMap<String, PathBuf>) {
        *self.overrides.write().unwrap_or_else(|e| e.into_inner()) = all;
    }

    /// The uploaded version a component serves, if any.
    pub fn override_of(&self, id: &str) -> Option<PathBuf> {
        self.overrides
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// The current application snapshot (`None` while starting).
    pub fn app(&self) -> Option<Arc<App>> {
        self.current.load_full()
    }

    /// Changes whenever a new snapshot is stored.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    pub fn manifest_path(&self) -> &Path {
        &self.manifest_path
    }

    /// Read the manifest and (re)load what changed, then swap it in.
    ///
    /// A manifest that does not parse leaves everything as it was. A
    /// component whose new file is broken keeps its old version; a new
    /// component that cannot load at all rejects the whole reload.
    pub async fn reload(&self) -> anyhow::Result<ReloadReport> {
        let _one_at_a_time = self.reloading.lock().await;
        let manifest = Manifest::load(&self.manifest_path)?;
        let overrides = self
            .overrides
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut fragments = BTreeMap::new();
        for id in manifest.components.keys() {
            if let Some(fragment) = super::docs::read_fragment(&manifest, id)? {
                fragments.insert(id.clone(), fragment);
            }
        }
        let previous = self.app();
        let runtime = self.runtime.clone();
        let prev = previous.clone();
        let manifest_for_load = manifest.clone();
        // Compiling is CPU-bound: keep it off the request workers.
        let (components, mut report) = tokio::task::spawn_blocking(move || {
            load_all(&runtime, &manifest_for_load, &overrides, prev.as_deref())
        })
        .await??;
        report.manifest_changed = previous.as_ref().is_none_or(|p| p.manifest != manifest);
        let mut routes = Vec::with_capacity(manifest.routes.len());
        for r in &manifest.routes {
            let Some(component) = components.get(&r.component) else {
                continue;
            };
            if component.pre.is_none() {
                anyhow::bail!(
                    "{}: route `{}` leads to component `{}`, which does not export wasi:http/incoming-handler",
                    manifest.path.display(),
                    r.pattern.as_str(),
                    r.component
                );
            }
            routes.push((
                r.pattern.clone(),
                RouteTarget {
                    component: component.clone(),
                    auth: r.auth,
                    user_param: r.user_param.clone(),
                },
            ));
        }
        let router = Router::new(routes);
        for path in host_paths() {
            if let Some((pattern, target, _)) = router.lookup(path) {
                tracing::warn!(
                    route = %pattern.as_str(),
                    component = %target.component.id,
                    path,
                    "this route also matches a path the host answers itself; the host's answer wins there"
                );
            }
        }
        let tools = self
            .runtime
            .catalog(&components, previous.as_deref().map(|p| &p.tools))
            .await?;
        let openapi = super::docs::document(&manifest, &router, &tools, &fragments);
        self.status
            .set_app(&manifest.application.name, &manifest.application.version);
        let detail = if report.rejected.is_empty() {
            format!("{} loaded", components.len())
        } else {
            format!(
                "{} loaded; new version rejected for {} (old version serving)",
                components.len(),
                report.rejected.join(", ")
            )
        };
        self.current.store(Some(Arc::new(App {
            manifest,
            router,
            components,
            tools,
            openapi,
            runtime: self.runtime.clone(),
        })));
        self.generation.send_modify(|g| *g += 1);
        // The first load swaps nothing in: it loads.
        if previous.is_some() {
            crate::services::metrics::METRICS.swaps(report.swapped.len(), report.rejected.len());
        }
        self.status
            .report("components", DepState::Healthy, Some(detail));
        Ok(report)
    }
}

type Loaded = (BTreeMap<String, Arc<LoadedComponent>>, ReloadReport);

fn load_all(
    runtime: &Runtime,
    manifest: &Manifest,
    overrides: &BTreeMap<String, PathBuf>,
    previous: Option<&App>,
) -> anyhow::Result<Loaded> {
    let mut components = BTreeMap::new();
    let mut report = ReloadReport::default();
    for (id, config) in &manifest.components {
        let path = match overrides.get(id) {
            Some(uploaded) => uploaded.clone(),
            None => std::path::absolute(manifest.source_path(config))?,
        };
        let old = previous.and_then(|p| p.components.get(id));
        match runtime.load(id, config, &path, old.map(|c| c.as_ref())) {
            Ok(loaded) => {
                let unchanged =
                    old.is_some_and(|o| o.hash == loaded.hash && o.limits == loaded.limits);
                if !unchanged {
                    tracing::info!(
                        component = %id,
                        source = %path.display(),
                        hash = %&loaded.hash[..12],
                        origin = ?loaded.origin,
                        "component loaded"
                    );
                    report.swapped.push(id.clone());
                    match loaded.origin {
                        Origin::Cache => report.from_cache += 1,
                        Origin::Compiled => report.compiled += 1,
                    }
                }
                components.insert(id.clone(), Arc::new(loaded));
            }
            Err(e) => match old {
                Some(old) if old.source == path => {
                    tracing::error!(component = %id, error = %e, "new version rejected; the previous version keeps serving");
                    report.rejected.push(id.clone());
                    components.insert(id.clone(), old.clone());
                }
                _ => return Err(e.into()),
            },
        }
    }
    if report.compiled > 0 {
        cache::release_compile_memory();
    }
    Ok((components, report))
}
