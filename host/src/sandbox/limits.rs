//! Memory caps: per instance (`memory_mb`, all of its memories together) and
//! host-wide (`SPACEPORT_MEMORY_BUDGET_MB`, default from the container's
//! cgroup limit), recording whether a cap was hit so the trap that follows is
//! reported as such (500 `memory_limit_exceeded`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wasmtime::ResourceLimiter;

/// Linear memory committed by every live instance, against a host-wide budget.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes (`usize::MAX`: none).
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// The budget: `mb` if set, else three quarters of the cgroup's memory
    /// limit when the process runs under one, else none.
    pub fn from_setting(mb: Option<u64>) -> Arc<Self> {
        let limit = match mb {
            Some(mb) => usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
            None => cgroup_limit().map_or(usize::MAX, |bytes| bytes / 4 * 3),
        };
        Self::new(limit)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn try_take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// The container's memory limit (cgroup v2, then v1), if there is one.
fn cgroup_limit() -> Option<usize> {
    [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|path| std::fs::read_to_string(path).ok())
    .filter_map(|text| text.trim().parse::<usize>().ok())
    // v1 reports "no limit" as a huge number.
    .find(|bytes| *bytes < (1usize << 50))
}

/// The machine's memory (`MemTotal`), where `/proc/meminfo` tells it.
pub fn physical_memory() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Caps the memory growth of one instance.
pub struct MemoryLimiter {
    max_bytes: usize,
    /// All of this instance's memories together (initial sizes included).
    used: usize,
    budget: Arc<MemoryBudget>,
    hit: bool,
}

impl MemoryLimiter {
    pub fn new(max_bytes: usize, budget: Arc<MemoryBudget>) -> Self {
        Self {
            max_bytes,
            used: 0,
            budget,
            hit: false,
        }
    }

    /// Whether a growth request was refused.
    pub fn hit(&self) -> bool {
        self.hit
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        self.budget.give_back(self.used);
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Called for every memory of the instance, at creation (current 0) and
        // on each growth: the sum of the deltas is what the instance holds.
        let delta = desired.saturating_sub(current);
        if self.used.saturating_add(delta) > self.max_bytes || !self.budget.try_take(delta) {
            self.hit = true;
            return Ok(false);
        }
        self.used += delta;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_is_capped_across_its_memories_and_the_host_across_instances() {
        let budget = MemoryBudget::new(10 << 20);
        let mut a = MemoryLimiter::new(6 << 20, budget.clone());
        // Two memories of 3 MiB each: 6 MiB together is the instance's cap.
        assert!(a.memory_growing(0, 3 << 20, None).unwrap());
        assert!(a.memory_growing(0, 3 << 20, None).unwrap());
        assert!(!a.memory_growing(3 << 20, 4 << 20, None).unwrap());
        assert!(a.hit());
        // The host has 4 MiB left: a second instance cannot take 5.
        let mut b = MemoryLimiter::new(6 << 20, budget.clone());
        assert!(!b.memory_growing(0, 5 << 20, None).unwrap());
        assert!(b.memory_growing(0, 4 << 20, None).unwrap());
        assert_eq!(budget.used(), 10 << 20);
        // Instances give their memory back when they go.
        drop(a);
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}
