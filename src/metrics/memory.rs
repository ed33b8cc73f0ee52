//! Heap accounting: a global allocator that counts the bytes Rust has allocated, now and at peak.
//!
//! Measured, not estimated: every allocation and free passes through [`CountingAlloc`]. In wasm
//! the linear memory size (which never shrinks) is reported beside it by the browser shell.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// The size of the last allocation the system allocator refused (0: none yet).
static FAILED: AtomicUsize = AtomicUsize::new(0);

/// The system allocator with byte counters.
pub struct CountingAlloc;

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            FAILED.store(layout.size(), Ordering::Relaxed);
        } else {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            FAILED.store(layout.size(), Ordering::Relaxed);
        } else {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            FAILED.store(new_size, Ordering::Relaxed);
        } else {
            if new_size >= layout.size() {
                grow(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

fn grow(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

/// Bytes allocated through Rust's allocator right now.
pub fn current_bytes() -> u64 {
    CURRENT.load(Ordering::Relaxed) as u64
}

/// Most bytes allocated at once since start (or since [`reset_peak`]).
pub fn peak_bytes() -> u64 {
    PEAK.load(Ordering::Relaxed) as u64
}

/// The size in bytes of the last allocation the system allocator refused, if any. Rust aborts
/// the program after such a refusal (in wasm: a trap), so this is what tells an out-of-memory
/// crash apart from other ones afterwards (the instance's memory can still be read).
pub fn failed_allocation() -> Option<u64> {
    match FAILED.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n as u64),
    }
}

/// Starts a new peak window at the current level.
pub fn reset_peak() {
    PEAK.store(CURRENT.load(Ordering::Relaxed), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_allocations_and_peak() {
        // Other tests allocate concurrently, so only lower bounds are certain.
        let before = peak_bytes();
        let big = vec![1u8; 64 << 20];
        assert!(current_bytes() >= 64 << 20);
        assert!(peak_bytes() >= before.max(64 << 20));
        drop(big);
        assert!(peak_bytes() >= 64 << 20);
    }
}
