//! Per-instance memory cap, recording whether it was hit so a trap caused by
//! running out of memory is reported as such (500 `memory_limit_exceeded`).

use wasmtime::ResourceLimiter;

/// Caps linear memory growth of one instance.
pub struct MemoryLimiter {
    max_bytes: usize,
    hit: bool,
}

impl MemoryLimiter {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            hit: false,
        }
    }

    /// Whether a growth request was refused.
    pub fn hit(&self) -> bool {
        self.hit
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a million is far beyond any real component.
        Ok(desired <= 1_000_000)
    }
}
