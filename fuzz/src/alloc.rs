//! A counting global allocator: live and peak heap bytes requested through Rust's allocator, per thread.
//!
//! Targets that check memory bounds install it with `#[global_allocator]`; elsewhere (e.g. `cargo test`
//! without it) [`installed`] is false and the bound checks are skipped.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// The allocator. `#[global_allocator] static A: CountingAlloc = CountingAlloc;`
pub struct CountingAlloc;

// Per thread, so parallel tests do not see each other's allocations. Const-initialised `Cell`s without
// destructors: using them from inside the allocator never allocates. Counts wrap: a block freed on another
// thread than the one that allocated it only skews that thread's numbers.
thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}
static INSTALLED: AtomicBool = AtomicBool::new(false);

fn grow(n: usize) {
    let _ = LIVE.try_with(|live| {
        let v = live.get().wrapping_add(n);
        live.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
    INSTALLED.store(true, Relaxed);
}

fn shrink(n: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().wrapping_sub(n)));
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            grow(l.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(l);
        if !p.is_null() {
            grow(l.size());
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        shrink(l.size());
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            // Count the old and the new block together for a moment: a moving realloc holds both.
            grow(new);
            shrink(l.size());
        }
        q
    }
}

/// Whether the counting allocator is the global allocator of this process.
pub fn installed() -> bool {
    // Force one allocation so a fresh process reports correctly.
    drop(Box::new(0u8));
    INSTALLED.load(Relaxed)
}

/// Starts a measurement: resets the peak to the current live bytes and returns them (the baseline).
pub fn start() -> usize {
    let live = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(live));
    live
}

/// Highest live byte count on this thread since [`start`].
pub fn peak() -> usize {
    PEAK.with(Cell::get)
}
