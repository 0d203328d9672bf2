//! `spaceport dev`: `up`, plus a watch on every component's sources. A save
//! rebuilds that component with its build command; the new `.wasm` is then
//! hot-swapped by the host's own file watch, without a restart. A failed
//! build prints its errors and leaves the running version serving.

use crate::manifest::Manifest;
use notify::{RecursiveMode, Watcher};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Quiet time before a burst of saves triggers one build.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// What is watched for one component.
struct Watched {
    id: String,
    command: String,
    workdir: PathBuf,
    roots: Vec<PathBuf>,
}

/// Start watching sources in a background thread (for as long as the process lives).
pub fn spawn(manifest: &Manifest) -> anyhow::Result<()> {
    let watched: Vec<Watched> = manifest
        .components
        .iter()
        .filter_map(|(id, c)| {
            let build = c.build.as_ref()?;
            let workdir = manifest
                .base_dir
                .join(build.workdir.clone().unwrap_or_default());
            let roots = if build.watch.is_empty() {
                vec![workdir.clone()]
            } else {
                build.watch.iter().map(|w| workdir.join(w)).collect()
            };
            Some(Watched {
                id: id.clone(),
                command: build.command.clone(),
                workdir,
                roots,
            })
        })
        .collect();
    if watched.is_empty() {
        eprintln!("dev: no component has a build command; only the .wasm files are watched");
        return Ok(());
    }
    let (tx, rx) = mpsc::channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !event.kind.is_access()
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })?;
    for w in &watched {
        for root in &w.roots {
            let mode = if root.is_dir() {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            watcher.watch(root, mode).map_err(|e| {
                anyhow::anyhow!(
                    "dev: cannot watch {} (component `{}`): {e}",
                    root.display(),
                    w.id
                )
            })?;
        }
        eprintln!(
            "dev: watching {} for `{}`",
            w.roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            w.id
        );
    }
    std::thread::Builder::new()
        .name("dev-watch".into())
        .spawn(move || {
            // The watcher lives as long as this thread.
            let _watcher = watcher;
            rebuild_loop(&watched, &rx);
        })?;
    Ok(())
}

fn rebuild_loop(watched: &[Watched], rx: &mpsc::Receiver<PathBuf>) {
    while let Ok(first) = rx.recv() {
        let mut changed = vec![first];
        let mut quiet_since = Instant::now();
        while quiet_since.elapsed() < DEBOUNCE {
            if let Ok(path) = rx.recv_timeout(DEBOUNCE) {
                changed.push(path);
                quiet_since = Instant::now();
            }
        }
        // Which components' sources changed (a shared SDK folder may belong to several).
        let mut due: BTreeMap<&str, &Watched> = BTreeMap::new();
        for path in changed.iter().filter(|p| is_source(p)) {
            for w in watched
                .iter()
                .filter(|w| w.roots.iter().any(|r| path.starts_with(r)))
            {
                due.insert(&w.id, w);
            }
        }
        for w in due.values() {
            build(w);
        }
        // Drop what our own builds wrote while they ran.
        while rx.try_recv().is_ok() {}
    }
}

/// Build outputs, dependencies and editor files do not trigger a build.
fn is_source(path: &Path) -> bool {
    let skip_dir = path.components().any(|c| {
        let s = c.as_os_str().to_string_lossy();
        matches!(
            s.as_ref(),
            "target" | "node_modules" | "__pycache__" | ".git"
        )
    });
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let skip_file = name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".wasm");
    !skip_dir && !skip_file
}

fn build(w: &Watched) {
    eprintln!("dev: `{}` changed; building: {}", w.id, w.command);
    let started = Instant::now();
    match std::process::Command::new("sh")
        .arg("-c")
        .arg(&w.command)
        .current_dir(&w.workdir)
        .output()
    {
        Ok(out) if out.status.success() => eprintln!(
            "dev: `{}` built in {:.1} s; the host swaps it in when the .wasm lands",
            w.id,
            started.elapsed().as_secs_f64()
        ),
        Ok(out) => {
            eprintln!(
                "dev: `{}` failed to build ({}); the running version keeps serving:",
                w.id, out.status
            );
            eprint!("{}", String::from_utf8_lossy(&out.stdout));
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
        }
        Err(e) => eprintln!("dev: `{}`: cannot run its build command: {e}", w.id),
    }
}

#[cfg(test)]
mod tests {
    use super::is_source;
    use std::path::Path;

    #[test]
    fn outputs_and_editor_files_are_not_sources() {
        assert!(is_source(Path::new("components/dates/app.py")));
        assert!(!is_source(Path::new("components/target/x/app.wasm")));
        assert!(!is_source(Path::new("components/js/node_modules/a.js")));
        assert!(!is_source(Path::new("components/dates/.app.py.swp")));
    }
}
