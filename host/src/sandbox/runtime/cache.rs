//! On-disk cache of compiled components, so a restart skips Cranelift.
//!
//! Entries are keyed by the component's SHA-256 and the engine's
//! compatibility hash (wasmtime version + every codegen-relevant setting):
//! an artifact is only ever loaded into an engine that could have produced it.

use anyhow::Context as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of `*.cwasm` files that only this host writes.
pub struct ArtifactCache {
    dir: Option<PathBuf>,
    /// Read-only artifacts made at image build time, tried first.
    precompiled: Option<PathBuf>,
    engine_key: String,
}

/// Where a compiled component came from, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cache,
    Compiled,
}

impl ArtifactCache {
    /// `dir = None` disables the cache. A directory that cannot be created
    /// disables it with a warning: compiling is slower but still correct.
    pub fn new(engine: &Engine, dir: Option<PathBuf>, precompiled: Option<PathBuf>) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());
        let dir = dir.and_then(|d| match std::fs::create_dir_all(&d) {
            Ok(()) => Some(d),
            Err(e) => {
                tracing::warn!(dir = %d.display(), error = %e, "compile cache disabled: cannot create its directory");
                None
            }
        });
        Self {
            dir,
            precompiled,
            engine_key,
        }
    }

    fn name(&self, content_hash: &str) -> String {
        format!("{}-{}.cwasm", &content_hash[..32], self.engine_key)
    }

    fn entry(&self, content_hash: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(self.name(content_hash)))
    }

    /// Load `bytes` (whose SHA-256 is `content_hash`) from the cache, or
    /// compile it and store the result. Blocking: call off the request path.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        content_hash: &str,
        bytes: &[u8],
    ) -> anyhow::Result<(Component, Origin)> {
        let entry = self.entry(content_hash);
        let precompiled = self
            .precompiled
            .as_ref()
            .map(|d| d.join(self.name(content_hash)));
        for path in [precompiled.as_deref(), entry.as_deref()]
            .into_iter()
            .flatten()
            .filter(|p| p.exists())
        {
            // SAFETY: only this host (or its image build) writes these directories, and the file
            // name pins both the source and the engine configuration.
            match unsafe { Component::deserialize_file(engine, path) } {
                Ok(c) => return Ok((c, Origin::Cache)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring unusable compile cache entry")
                }
            }
        }
        let component = Component::new(engine, bytes)
            .map_err(anyhow::Error::from)
            .context("compiling the component")?;
        let Some(path) = entry else {
            return Ok((component, Origin::Compiled));
        };
        if let Err(e) = store(&path, &component) {
            tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "could not write compile cache entry");
            return Ok((component, Origin::Compiled));
        }
        // Serve the stored copy: its code is mapped from the file (clean pages
        // the kernel can drop and share) instead of tens of MiB of heap.
        drop(component);
        // SAFETY: written by this host just now, under a name that pins source and engine.
        let component = unsafe { Component::deserialize_file(engine, &path) }
            .map_err(anyhow::Error::from)
            .context("loading the component just compiled")?;
        Ok((component, Origin::Compiled))
    }
}

/// Give the memory Cranelift used back to the OS. A Python or JavaScript
/// component (12-20 MiB of Wasm) takes a few hundred MiB to compile; freed,
/// that memory would stay in the allocator's per-thread heaps of the threads
/// that compiled (wasmtime compiles on rayon's pool), so a host that compiled
/// at start would keep ~3x the memory of one that loaded from the cache.
pub fn release_compile_memory() {
    // SAFETY: mi_collect only frees and decommits memory mimalloc holds and no
    // one uses; with another global allocator its heaps are empty.
    rayon::broadcast(|_| unsafe { libmimalloc_sys::mi_collect(true) });
    unsafe { libmimalloc_sys::mi_collect(true) };
}

fn store(path: &Path, component: &Component) -> anyhow::Result<()> {
    let bytes = component.serialize()?;
    // Write then rename, so a crash never leaves a torn entry behind.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Hex SHA-256 of a component's bytes.
pub fn content_hash(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
