//! Component unit tests: one component run in-process, a fresh instance per
//! case, on the production runtime and limits, against recording fakes of
//! its capabilities (`spaceport test`, or [`Harness`] from `cargo test`).
//!
//! - [`cases`]: the language-neutral TOML test file format.
//! - [`fakes`]: fresh SQLite databases, a scripted model, stubbed tools.
//! - [`harness`]: running cases and comparing what they did with what they expect.
//! - [`logs`]: the component's log lines during a case.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use spaceport::kit::{Harness, HarnessOptions, TestFile};
//! let manifest = spaceport::manifest::Manifest::load("spin-like.toml".as_ref())?;
//! let harness = Harness::new(&manifest, "task-tools", HarnessOptions::default()).await?;
//! let file = TestFile::load("components/task-tools/tests.toml".as_ref())?;
//! for report in harness.run_file(&file).await {
//!     assert!(report.passed, "{}: {:?}", report.name, report.failures);
//! }
//! # Ok(()) }
//! ```

pub mod cases;
pub mod fakes;
pub mod harness;
pub mod logs;

pub use cases::{Case, CaseFileError, TestFile};
pub use harness::{CaseReport, Harness, HarnessOptions};

use crate::manifest::Manifest;
use std::path::PathBuf;

/// The test files of component `id`: its manifest `tests` entry, a file or
/// a folder of `*.toml` files.
pub fn test_files(manifest: &Manifest, id: &str) -> std::io::Result<Vec<PathBuf>> {
    let Some(tests) = manifest.components.get(id).and_then(|c| c.tests.as_ref()) else {
        return Ok(Vec::new());
    };
    let path = manifest.base_dir.join(tests);
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&path)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        Ok(files)
    } else if path.is_file() {
        Ok(vec![path])
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "component.{id}.tests: {} is neither a file nor a folder",
                path.display()
            ),
        ))
    }
}
