//! Memory accounting, as Redis's zmalloc keeps it.
//!
//! `Counting` wraps whatever global allocator the program uses and keeps `used_memory`: the
//! bytes in use, each allocation rounded up to jemalloc's size class as Redis counts
//! `zmalloc_size`. `maxmemory` compares against it before every command, so reading it
//! costs one atomic load. Under the `jemalloc` feature `Allocator` is jemalloc wrapped in
//! `Counting` (the `lockstep` binary's global allocator), and `allocator_stats` reads
//! jemalloc's own figures (allocated, active, resident) for INFO memory and MEMORY STATS, as
//! Redis reads them with `je_mallctl`.
//!
//! A program that installs neither (an embedder with its own allocator) still gets a
//! working server with estimated figures: `used_memory` falls back to jemalloc's
//! `stats.allocated` when jemalloc serves the process anyway, else to the process's RSS
//! (refreshed by `refresh`, which the server's cron calls).
//!
//! The allocator half of this module runs inside `malloc`: it must never allocate, lock or
//! panic.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Bytes in use through `Counting`, size classes included. 0 until `Counting` serves an
/// allocation (then never 0 again: the runtime keeps some memory for good).
static USED: AtomicUsize = AtomicUsize::new(0);
/// The largest `used_memory` seen by `refresh` or `used_memory_peak` (Redis's
/// `stat_peak_memory`, updated by its cron and by INFO).
static PEAK: AtomicU64 = AtomicU64::new(0);
/// The process's RSS as `refresh` last read it.
static RSS: AtomicU64 = AtomicU64::new(0);

/// A global allocator that counts what it hands out, around any other:
///
/// ```ignore
/// #[global_allocator]
/// static ALLOC: lockstep_server::alloc::Counting<std::alloc::System> =
///     lockstep_server::alloc::Counting(std::alloc::System);
/// ```
pub struct Counting<A>(pub A);

// SAFETY: every call goes to the inner allocator unchanged; the counter is a side effect
// that neither allocates nor panics.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc(layout);
        if !p.is_null() {
            USED.fetch_add(size_class(layout.size()), Ordering::Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc_zeroed(layout);
        if !p.is_null() {
            USED.fetch_add(size_class(layout.size()), Ordering::Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.0.dealloc(ptr, layout);
        USED.fetch_sub(size_class(layout.size()), Ordering::Relaxed);
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = self.0.realloc(ptr, layout, new_size);
        if !p.is_null() {
            let (old, new) = (size_class(layout.size()), size_class(new_size));
            if new >= old {
                USED.fetch_add(new - old, Ordering::Relaxed);
            } else {
                USED.fetch_sub(old - new, Ordering::Relaxed);
            }
        }
        p
    }
}

/// The `lockstep` binary's allocator: jemalloc, as Redis uses it, counted.
#[cfg(feature = "jemalloc")]
pub type Allocator = Counting<tikv_jemallocator::Jemalloc>;

/// `Allocator`'s value, for `#[global_allocator] static A: Allocator = alloc::ALLOCATOR;`.
#[cfg(feature = "jemalloc")]
pub const ALLOCATOR: Allocator = Counting(tikv_jemallocator::Jemalloc);

/// jemalloc's size class for an allocation of `n` bytes: 8, then steps of 16 up to 128,
/// then four classes per doubling (which also holds for its page-sized large classes).
#[inline]
pub const fn size_class(n: usize) -> usize {
    if n <= 8 {
        8
    } else if n <= 128 {
        n.div_ceil(16) * 16
    } else {
        let step = 1usize << (usize::BITS - (n - 1).leading_zeros() - 3);
        n.div_ceil(step) * step
    }
}

/// Where `used_memory` comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `Counting` is the global allocator: exact, as Redis's own counter.
    Counted,
    /// jemalloc serves the process without `Counting`: its `stats.allocated`.
    Jemalloc,
    /// Neither: the process's RSS, an overestimate.
    Rss,
}

pub fn source() -> Source {
    if USED.load(Ordering::Relaxed) > 0 {
        Source::Counted
    } else if jemalloc_is_global() {
        Source::Jemalloc
    } else {
        Source::Rss
    }
}

/// Redis's `zmalloc_used_memory()`: the bytes the server has allocated.
#[inline]
pub fn used_memory() -> u64 {
    let counted = USED.load(Ordering::Relaxed);
    if counted > 0 {
        return counted as u64;
    }
    if let Some(stats) = allocator_stats() {
        return stats.allocated;
    }
    match RSS.load(Ordering::Relaxed) {
        0 => refresh_rss(),
        rss => rss,
    }
}

/// The largest `used_memory` so far, taking the present one into account.
pub fn used_memory_peak() -> u64 {
    let used = used_memory();
    PEAK.fetch_max(used, Ordering::Relaxed).max(used)
}

/// What the server's cron does each tick: the peak, and the RSS that stands in for
/// `used_memory` when nothing counts allocations.
pub fn refresh() {
    refresh_rss();
    used_memory_peak();
}

fn refresh_rss() -> u64 {
    let rss = process_rss();
    RSS.store(rss, Ordering::Relaxed);
    rss
}

/// The process's resident set size in bytes (`/proc/self/statm`; 0 where it is missing).
pub fn process_rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// jemalloc's own view of its memory, as Redis's `zmalloc_get_allocator_info` reads it.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllocatorStats {
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
    pub mapped: u64,
    pub retained: u64,
}

/// jemalloc's figures, when jemalloc is the process's allocator; `None` otherwise.
pub fn allocator_stats() -> Option<AllocatorStats> {
    #[cfg(feature = "jemalloc")]
    {
        if !jemalloc_is_global() {
            return None;
        }
        use tikv_jemalloc_ctl::{epoch, stats};
        epoch::advance().ok()?;
        Some(AllocatorStats {
            allocated: stats::allocated::read().ok()? as u64,
            active: stats::active::read().ok()? as u64,
            resident: stats::resident::read().ok()? as u64,
            mapped: stats::mapped::read().ok()? as u64,
            retained: stats::retained::read().ok()? as u64,
        })
    }
    #[cfg(not(feature = "jemalloc"))]
    None
}

/// Whether jemalloc serves this process's allocations (found once, by watching its
/// counter while a large block is allocated).
pub fn jemalloc_is_global() -> bool {
    #[cfg(feature = "jemalloc")]
    {
        static GLOBAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *GLOBAL.get_or_init(|| {
            use tikv_jemalloc_ctl::{epoch, stats};
            let allocated = || {
                epoch::advance().ok()?;
                stats::allocated::read().ok()
            };
            let before = allocated().unwrap_or(0);
            let block = std::hint::black_box(vec![1u8; 4 << 20]);
            let during = allocated().unwrap_or(0);
            drop(block);
            during >= before + (4 << 20)
        })
    }
    #[cfg(not(feature = "jemalloc"))]
    false
}

/// INFO's `mem_allocator`: `jemalloc-5.3.0` as Redis shows it, or `libc`.
pub fn allocator_name() -> String {
    #[cfg(feature = "jemalloc")]
    if jemalloc_is_global() {
        let version = tikv_jemalloc_ctl::version::read().unwrap_or("");
        let short = version.split('-').next().unwrap_or(version);
        return format!("jemalloc-{short}");
    }
    "libc".to_string()
}

/// Starts jemalloc's background purging threads, as Redis's `jemalloc-bg-thread yes`
/// (its default) does, so that freed memory goes back to the system without waiting for
/// the next allocation. Nothing without jemalloc.
pub fn start_background_purge() {
    #[cfg(feature = "jemalloc")]
    if jemalloc_is_global() {
        let _ = tikv_jemalloc_ctl::background_thread::write(true);
    }
}

/// MEMORY PURGE: gives every arena's dirty pages back, as Redis's `jemalloc_purge`. False
/// when jemalloc is not the allocator.
pub fn purge() -> bool {
    #[cfg(feature = "jemalloc")]
    if jemalloc_is_global() {
        // "arena.<MALLCTL_ARENAS_ALL>.purge" takes no value, which tikv-jemalloc-ctl's
        // typed writes cannot express.
        let name = b"arena.4096.purge\0";
        // SAFETY: a NUL-terminated name, no old or new value, as jemalloc documents it.
        let rc = unsafe {
            tikv_jemalloc_sys::mallctl(
                name.as_ptr().cast(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            )
        };
        return rc == 0;
    }
    false
}

/// MEMORY MALLOC-STATS: jemalloc's statistics report, `None` without jemalloc.
pub fn malloc_stats() -> Option<Vec<u8>> {
    #[cfg(feature = "jemalloc")]
    if jemalloc_is_global() {
        let mut text = Vec::new();
        let options = tikv_jemalloc_ctl::stats_print::Options::default();
        tikv_jemalloc_ctl::stats_print::stats_print(&mut text, options).ok()?;
        return Some(text);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_jemallocs() {
        let classes = [
            (0, 8),
            (1, 8),
            (8, 8),
            (9, 16),
            (17, 32),
            (54, 64),
            (129, 160),
            (154, 160),
            (257, 320),
            (4097, 5120),
            (16385, 20480),
            (100_000, 114_688),
        ];
        for (n, class) in classes {
            assert_eq!(size_class(n), class, "size {n}");
        }
    }

    #[test]
    fn without_a_counting_allocator_used_memory_is_estimated_from_rss() {
        // The unit-test binary runs on the system allocator, uncounted.
        assert_eq!(source(), Source::Rss);
        let used = used_memory();
        assert!(used > 0 && used == RSS.load(Ordering::Relaxed));
        assert!(used_memory_peak() >= used);
    }
}
