//! `spaceport test`: run components' TOML test cases in-process (see [`crate::kit`]).

use crate::kit::{CaseReport, Harness, HarnessOptions, TestFile};
use crate::manifest::Manifest;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to run.
#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    /// The application manifest.
    #[arg(long, default_value = "spin-like.toml")]
    pub manifest: PathBuf,
    /// Component ids or test files (default: every component with `tests` in the manifest).
    pub targets: Vec<String>,
    /// Run against this database (postgres://… or sqlite:…) instead of a fresh
    /// SQLite database per case; its data persists between cases.
    #[arg(long = "real-db")]
    pub real_db: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Compile cache directory (default: `data/cache`, shared with `spaceport up`), or `off`.
    #[arg(long = "cache-dir", env = "SPACEPORT_CACHE_DIR")]
    pub cache_dir: Option<String>,
}

/// Run the tests; Ok(true) when every case passed.
pub fn run(args: &TestArgs) -> anyhow::Result<bool> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run_async(args))
}

async fn run_async(args: &TestArgs) -> anyhow::Result<bool> {
    let manifest = Manifest::load(&args.manifest)?;
    let plan = plan(&manifest, &args.targets)?;
    if plan.is_empty() {
        anyhow::bail!(
            "no tests: give a component `tests = \"path/to/tests.toml\"` in {} or name a test file",
            args.manifest.display()
        );
    }
    let cache_dir = match args.cache_dir.as_deref().map(str::trim) {
        Some("off") | Some("none") => None,
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => Some(manifest.base_dir.join("data").join("cache")),
    };
    let options = HarnessOptions {
        real_db: args.real_db.clone(),
        cache_dir,
    };
    let started = Instant::now();
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut json_files = Vec::new();
    for (id, files) in plan {
        let loaded_at = Instant::now();
        let harness = Harness::new(&manifest, &id, options.clone()).await?;
        let load_ms = loaded_at.elapsed().as_secs_f64() * 1000.0;
        for file in files {
            let tests = TestFile::load(&file)?;
            if let Some(named) = &tests.component
                && named != &id
            {
                anyhow::bail!(
                    "{}: `component = \"{named}\"`, but it is listed under component `{id}`",
                    file.display()
                );
            }
            if !args.json {
                println!("\n{} ({}; loaded in {load_ms:.0} ms)", id, file.display());
            }
            let reports = harness.run_file(&tests).await;
            for report in &reports {
                if report.passed {
                    passed += 1;
                } else {
                    failed += 1;
                }
                if !args.json {
                    print_report(report);
                }
            }
            json_files.push(serde_json::json!({
                "component": id,
                "file": file.display().to_string(),
                "cases": reports,
            }));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "passed": passed, "failed": failed, "seconds": seconds, "files": json_files })
        );
    } else {
        println!("\n{passed} passed, {failed} failed ({seconds:.2} s)");
    }
    Ok(failed == 0)
}

fn print_report(report: &CaseReport) {
    if report.passed {
        println!("  ok    {} ({:.1} ms)", report.name, report.millis);
        return;
    }
    println!("  FAIL  {} ({:.1} ms)", report.name, report.millis);
    for failure in &report.failures {
        for (i, line) in failure.lines().enumerate() {
            println!("{}{line}", if i == 0 { "        - " } else { "          " });
        }
    }
    if !report.logs.is_empty() {
        println!("        log:");
        for line in &report.logs {
            println!("          {line}");
        }
    }
}

/// Which test files to run for which component.
fn plan(manifest: &Manifest, targets: &[String]) -> anyhow::Result<Vec<(String, Vec<PathBuf>)>> {
    let mut plan: Vec<(String, Vec<PathBuf>)> = Vec::new();
    let mut add = |id: String, file: PathBuf| match plan.iter_mut().find(|(i, _)| *i == id) {
        Some((_, files)) => files.push(file),
        None => plan.push((id, vec![file])),
    };
    if targets.is_empty() {
        for id in manifest.components.keys() {
            for file in crate::kit::test_files(manifest, id)? {
                add(id.clone(), file);
            }
        }
        return Ok(plan);
    }
    for target in targets {
        if manifest.components.contains_key(target) {
            let files = crate::kit::test_files(manifest, target)?;
            if files.is_empty() {
                anyhow::bail!(
                    "component `{target}` has no tests: set `tests = \"…\"` under [component.{target}]"
                );
            }
            for file in files {
                add(target.clone(), file);
            }
            continue;
        }
        let path = Path::new(target);
        if !path.is_file() {
            anyhow::bail!("`{target}` is neither a component of the manifest nor a test file");
        }
        let id = match TestFile::load(path)?.component {
            Some(id) => id,
            None => owner_of(manifest, path).with_context(|| {
                format!("{target}: say which component it tests with `component = \"<id>\"`")
            })?,
        };
        if !manifest.components.contains_key(&id) {
            anyhow::bail!("{target}: `component = \"{id}\"` is not a component of the manifest");
        }
        add(id, path.to_path_buf());
    }
    Ok(plan)
}

/// The component whose `tests` entry covers `file`.
fn owner_of(manifest: &Manifest, file: &Path) -> Option<String> {
    let file = file.canonicalize().ok()?;
    manifest.components.keys().find_map(|id| {
        let files = crate::kit::test_files(manifest, id).ok()?;
        files
            .iter()
            .any(|f| f.canonicalize().ok().as_ref() == Some(&file))
            .then(|| id.clone())
    })
}
