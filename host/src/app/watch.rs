//! Hot swap: watch the manifest and every component's `.wasm`, and reload the
//! registry when one changes.
//!
//! Directories are watched rather than files, because builds and deploys
//! usually replace a file (write elsewhere, rename over) and a watch on the
//! old inode would miss it. Events are debounced so a file written in several
//! steps is loaded once, after the writer is done.

use super::registry::Registry;
use notify::{RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long the files must be quiet before a reload starts.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Watch for changes until the process ends.
pub fn spawn(registry: Arc<Registry>) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if event.kind.is_access() {
                return;
            }
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })?;
    let mut dirs = BTreeSet::new();
    let mut files = BTreeSet::new();
    refresh(&registry, &mut watcher, &mut dirs, &mut files);

    tokio::spawn(async move {
        while let Some(path) = rx.recv().await {
            let mut relevant = files.contains(&path);
            // Drain the burst: keep collecting until the files are quiet.
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(p)) => relevant |= files.contains(&p),
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            if !relevant {
                continue;
            }
            match registry.reload().await {
                Ok(report) if report.swapped.is_empty() && !report.manifest_changed => {
                    if !report.rejected.is_empty() {
                        tracing::warn!(rejected = ?report.rejected, "hot reload: nothing applied");
                    }
                }
                Ok(report) => tracing::info!(
                    swapped = ?report.swapped,
                    rejected = ?report.rejected,
                    manifest_changed = report.manifest_changed,
                    compiled = report.compiled,
                    "hot reload applied"
                ),
                Err(e) => tracing::error!(
                    error = %format!("{e:#}"),
                    "hot reload rejected; the running version keeps serving"
                ),
            }
            refresh(&registry, &mut watcher, &mut dirs, &mut files);
        }
    });
    Ok(())
}

/// Watch the directories of the files the current app depends on.
fn refresh(
    registry: &Registry,
    watcher: &mut impl Watcher,
    dirs: &mut BTreeSet<PathBuf>,
    files: &mut BTreeSet<PathBuf>,
) {
    let mut wanted: Vec<PathBuf> = match registry.app() {
        Some(app) => app.watched_files(),
        None => Vec::new(),
    };
    wanted.push(registry.manifest_path().to_path_buf());
    files.clear();
    for file in wanted {
        let Ok(file) = std::path::absolute(&file) else {
            continue;
        };
        if let Some(dir) = file.parent()
            && !dirs.contains(dir)
        {
            match watcher.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    dirs.insert(dir.to_path_buf());
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory; changes there need a restart")
                }
            }
        }
        files.insert(file);
    }
}
