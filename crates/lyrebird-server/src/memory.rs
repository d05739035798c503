//! The last line against running out of memory: the process's resident memory, read from the
//! kernel ten times a second, against a limit. Above it, new requests are refused with
//! `503 memory_pressure` and `Retry-After: 1` until the memory is back under it.
//!
//! Every budget of its own (bodies, renders, expressions, imports, callbacks) bounds what one
//! request or one tenant can take; this one bounds what they take together, so that load the
//! other budgets each let through slows the server down rather than getting it killed by the
//! kernel or ended by a failed allocation. Requests already under way finish; health checks are
//! always answered.
//!
//! The limit is `--memory-limit-bytes`, or else 85% of the memory the process may have: the
//! smaller of its cgroup's limit and the machine's memory. Where the kernel gives no resident
//! size (not Linux), the guard is off.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the resident size is read.
const EVERY: Duration = Duration::from_millis(100);
/// The share of the memory the process may have that it uses before refusing new requests.
const DEFAULT_SHARE_PERCENT: u64 = 85;

/// The resident size against the limit, shared by every request.
#[derive(Debug)]
pub struct MemoryGuard {
    limit: u64,
    resident: AtomicU64,
}

impl MemoryGuard {
    /// A guard with `limit`, or the default limit; it reads the resident size now and then
    /// every [`EVERY`] until it is dropped. Needs a Tokio runtime.
    pub fn start(limit: Option<u64>) -> Arc<Self> {
        let limit = limit.or_else(default_limit).unwrap_or(u64::MAX);
        let resident = resident_bytes();
        let guard = Arc::new(Self {
            limit,
            resident: AtomicU64::new(resident.unwrap_or(0)),
        });
        if resident.is_some() {
            tokio::spawn(watch(Arc::downgrade(&guard)));
        } else {
            tracing::warn!("the resident memory size cannot be read here: the memory guard is off");
        }
        guard
    }

    /// Whether new requests are refused: the process holds more than its limit.
    pub fn pressed(&self) -> bool {
        self.resident.load(Ordering::Relaxed) > self.limit
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }
}

async fn watch(guard: Weak<MemoryGuard>) {
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(guard) = guard.upgrade() else {
            return;
        };
        if let Some(bytes) = resident_bytes() {
            guard.resident.store(bytes, Ordering::Relaxed);
        }
    }
}

/// `VmRSS` of `/proc/self/status`, in bytes.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    kibibytes_of(&status, "VmRSS:")
}

/// [`DEFAULT_SHARE_PERCENT`] of the smaller of the cgroup's memory limit and the machine's
/// memory, when either is known.
fn default_limit() -> Option<u64> {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|meminfo| kibibytes_of(&meminfo, "MemTotal:"));
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .into_iter()
    .find_map(|path| {
        std::fs::read_to_string(path)
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
    });
    let available = match (machine, cgroup) {
        (Some(machine), Some(cgroup)) => machine.min(cgroup),
        (one, other) => one.or(other)?,
    };
    Some(available / 100 * DEFAULT_SHARE_PERCENT)
}

/// The value of a `Name:   1234 kB` line, in bytes.
fn kibibytes_of(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find_map(|line| line.strip_prefix(name))?;
    let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_from_the_kernels_lines() {
        let status = "Name:\tlyrebird\nVmPeak:\t  200 kB\nVmRSS:\t    1536 kB\n";
        assert_eq!(kibibytes_of(status, "VmRSS:"), Some(1536 * 1024));
        assert_eq!(kibibytes_of(status, "VmSwap:"), None);
    }

    #[tokio::test]
    async fn a_process_over_its_limit_is_pressed_and_one_under_it_is_not() {
        if resident_bytes().is_none() {
            panic!("these tests run where /proc/self/status gives the resident size (Linux)");
        }
        assert!(MemoryGuard::start(Some(1)).pressed());
        let roomy = MemoryGuard::start(Some(u64::MAX - 1));
        assert!(!roomy.pressed());
        assert!(
            MemoryGuard::start(None).limit() < u64::MAX,
            "a default limit was found"
        );
    }
}
