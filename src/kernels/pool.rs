//! The thread pool and how work is split over it: column ranges of a product, rows, heads.

#[cfg(feature = "threads")]
use super::BLOCK_COLS;

/// Multiply-adds below which a product (or a set of attention heads) is not worth splitting
/// over threads. A fork-join on the wasm pool costs tens of microseconds (workers woken through
/// `Atomics.notify`), about what a 512 × 512 q8_0 matrix-vector product takes on one thread; at
/// 1 << 16 every product of a decoder step was split and two threads decoded slower than one.
/// At 1 << 21 a decoder step splits only its LM head, and encoding (hundreds of rows) splits
/// everything.
#[cfg(feature = "threads")]
pub(super) const PARALLEL_MIN_WORK: usize = 1 << 21;

/// Activation values below which quantizing them is not worth splitting over threads.
#[cfg(feature = "threads")]
pub(super) const PARALLEL_MIN_QUANTIZE: usize = 1 << 16;

/// Whether the kernels may split their work over the thread pool (threaded builds).
#[cfg(feature = "threads")]
pub(super) static PARALLEL: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(true);

/// Lets the kernels use the thread pool (`true`, the default) or keeps them on the calling
/// thread (`false`): the benchmark measures one threaded instance both ways, interleaved. No
/// effect in single-thread builds.
pub fn set_parallel(enabled: bool) {
    #[cfg(feature = "threads")]
    PARALLEL.store(enabled, std::sync::atomic::Ordering::Relaxed);
    let _ = enabled;
}

/// Keeps the kernels on the calling thread while it lives ([`set_parallel`]`(false)`), and
/// restores what was set before when dropped.
pub struct OneThread {
    #[cfg(feature = "threads")]
    before: bool,
}

impl OneThread {
    pub fn new() -> Self {
        #[cfg(feature = "threads")]
        {
            let before = PARALLEL.swap(false, std::sync::atomic::Ordering::Relaxed);
            OneThread { before }
        }
        #[cfg(not(feature = "threads"))]
        OneThread {}
    }
}

impl Default for OneThread {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OneThread {
    fn drop(&mut self) {
        #[cfg(feature = "threads")]
        PARALLEL.store(self.before, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Threads the kernels split work over now: the calling thread and every pool thread (the
/// pool holds one thread fewer than the machine has cores, the caller being the last: with a
/// pool of one per core, an idle pool thread woken by rayon spun on a core the work needed).
#[cfg(feature = "threads")]
pub(super) fn pool_threads() -> usize {
    if PARALLEL.load(std::sync::atomic::Ordering::Relaxed) && !SHARING.with(|on| on.get()) {
        rayon::current_num_threads() + 1
    } else {
        1
    }
}

/// Runs `f(i)` for every `i` in `0..count` on the calling thread and `helpers` pool threads
/// together: each takes the next index until none is left. The caller starts at once; a helper
/// woken from sleep (on a virtual machine that can take longer than a small product) joins
/// when it is up and takes what remains, or nothing. The caller returns once every index it or a
/// helper took is done: a helper that arrives later takes no index and touches nothing of `f`.
///
/// (rayon's `par_iter` from outside the pool would put the caller to sleep and wait for two
/// woken workers; through the public API in Chromium two threads then encoded only 1.1× faster
/// than one.)
#[cfg(feature = "threads")]
pub(super) fn run_shared(count: usize, helpers: usize, f: &(dyn Fn(usize) + Sync)) {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    /// On return or unwind: no index is handed out any more, and every one taken is waited for.
    struct Wait<'a>(&'a Shared);
    impl Drop for Wait<'_> {
        fn drop(&mut self) {
            let taken = self
                .0
                .next
                .swap(usize::MAX / 2, Ordering::AcqRel)
                .min(self.0.count);
            while self.0.done.load(Ordering::Acquire) < taken {
                std::hint::spin_loop();
            }
        }
    }

    // SAFETY: only the lifetime is erased; `Wait` keeps every call within `f`'s lifetime.
    let f: *const Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static Job>(f) };
    let shared = Arc::new(Shared {
        next: std::sync::atomic::AtomicUsize::new(0),
        done: std::sync::atomic::AtomicUsize::new(0),
        count,
        f,
    });
    let _wait = Wait(&shared);
    let wanted = helpers.min(count.saturating_sub(1));
    for _ in 0..wanted {
        let s = Arc::clone(&shared);
        rayon::spawn(move || s.work());
    }
    shared.work();
}

/// The work of `f` a [`run_shared`] call hands out: indices `0..count`.
#[cfg(feature = "threads")]
pub(super) type Job = dyn Fn(usize) + Sync;

/// One [`run_shared`] call's indices, as its caller and helpers take them.
#[cfg(feature = "threads")]
pub(super) struct Shared {
    next: std::sync::atomic::AtomicUsize,
    done: std::sync::atomic::AtomicUsize,
    count: usize,
    f: *const Job,
}

// SAFETY: `f` is `Sync` and only called for indices taken before `count` ran out, all of
// which the caller waits for while `f` is alive; once it returns, `next` is past `count`.
#[cfg(feature = "threads")]
unsafe impl Send for Shared {}
#[cfg(feature = "threads")]
unsafe impl Sync for Shared {}

#[cfg(feature = "threads")]
impl Shared {
    /// Takes indices and runs them until none is left.
    fn work(&self) {
        use std::sync::atomic::Ordering;
        /// Counts an index as done when its call returns or unwinds.
        struct Finish<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Release);
            }
        }
        loop {
            let i = self.next.fetch_add(1, Ordering::AcqRel);
            if i >= self.count {
                return;
            }
            let _finish = Finish(&self.done);
            let outer = SHARING.with(|on| on.replace(true));
            // SAFETY: see `Shared`: index `i` was taken before `count` ran out.
            unsafe { (*self.f)(i) };
            SHARING.with(|on| on.set(outer));
        }
    }
}

#[cfg(feature = "threads")]
thread_local! {
    /// Whether this thread is inside a share of [`run_shared`]: work nested in it (the products
    /// of one attention head) stays on the thread, already one of the busy ones.
    static SHARING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Pool threads that may help the caller now (all of them, or none).
#[cfg(feature = "threads")]
pub(super) fn helpers() -> usize {
    pool_threads().saturating_sub(1)
}

/// Runs `f` over column ranges covering `0..n` (multiples of [`BLOCK_COLS`] long, but the last):
/// shared with pool threads ([`run_shared`]) in threaded builds when the product is big enough,
/// else as one range.
pub(super) fn split_columns(n: usize, work: usize, f: impl Fn(std::ops::Range<usize>) + Sync) {
    #[cfg(feature = "threads")]
    {
        let threads = pool_threads();
        let split = threads > 1 && work >= PARALLEL_MIN_WORK && n >= 8;
        // Sixteen ranges per thread: a helper that joins late still gets a share, and the
        // thread that finishes first waits at most a sixteenth of its share for the other.
        let step = if split {
            n.div_ceil(threads * 16).next_multiple_of(BLOCK_COLS)
        } else {
            n.max(1)
        };
        let job = |c: usize| f(c * step..((c + 1) * step).min(n));
        if split {
            run_shared(n.div_ceil(step), helpers(), &job);
        } else {
            run_here(1, &job);
        }
    }
    #[cfg(not(feature = "threads"))]
    {
        let _ = work;
        f(0..n)
    }
}

/// Runs `job(i)` for every `i` in `0..count` on this thread, through the very function
/// [`run_shared`] calls. The compiler would otherwise inline the job here and give the shared
/// path a copy of its own, which the browser compiles and optimizes apart: V8 runs a function
/// with its baseline compiler until it has run a while, so a short input (never shared) left
/// the shared copy unoptimized, and optimizing it while both cores were busy with the first long
/// input took the threaded build about three long runs.
#[cfg(feature = "threads")]
pub(super) fn run_here(count: usize, job: &(dyn Fn(usize) + Sync)) {
    let job = std::hint::black_box(job);
    for i in 0..count {
        job(i);
    }
}

/// `f(0..m)` collected in order: shared with pool threads in threaded builds when the work is
/// big enough (quantizing the activations of a long input is too much to leave on one thread).
pub(super) fn map_rows<T: Send>(m: usize, work: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let mut slots: Vec<()> = vec![(); m];
    map_rows_mut(&mut slots, 1, work, |r, _| f(r))
}

/// `f(r, row)` for each row of `out` (`width` values each), in place, results collected in
/// order: shared with pool threads in threaded builds when the work is big enough.
pub(super) fn map_rows_mut<T: Send, A: Send>(
    out: &mut [A],
    width: usize,
    work: usize,
    f: impl Fn(usize, &mut [A]) -> T + Sync,
) -> Vec<T> {
    #[cfg(feature = "threads")]
    {
        /// Rows handed out at a time.
        const ROWS: usize = 16;
        let width = width.max(1);
        let rows = out.len() / width;
        let mut results: Vec<Option<T>> = (0..rows).map(|_| None).collect();
        struct Ptrs<A, T>(*mut A, *mut Option<T>);
        // SAFETY: each block of rows (and its results) is written by the one thread that
        // took it; `run_shared` returns only when every block is done.
        unsafe impl<A, T> Sync for Ptrs<A, T> {}
        let ptrs = Ptrs(out.as_mut_ptr(), results.as_mut_ptr());
        let ptrs = &ptrs;
        let job = |block: usize| {
            for r in block * ROWS..((block + 1) * ROWS).min(rows) {
                // SAFETY: row `r` lies inside `out` and belongs to this block alone.
                let row = unsafe { std::slice::from_raw_parts_mut(ptrs.0.add(r * width), width) };
                let value = f(r, row);
                // SAFETY: as above, for result `r`.
                unsafe { *ptrs.1.add(r) = Some(value) };
            }
        };
        if pool_threads() > 1 && work >= PARALLEL_MIN_QUANTIZE && rows > 1 {
            run_shared(rows.div_ceil(ROWS), helpers(), &job);
        } else {
            run_here(rows.div_ceil(ROWS), &job);
        }
        results
            .into_iter()
            .map(|v| v.expect("every row was mapped"))
            .collect()
    }
    #[cfg(not(feature = "threads"))]
    {
        let _ = work;
        out.chunks_mut(width.max(1))
            .enumerate()
            .map(|(r, row)| f(r, row))
            .collect()
    }
}

/// Runs `f` for every head `0..count`: shared with pool threads ([`run_shared`]) in threaded
/// builds when the work is big enough, else one after another.
pub(super) fn for_each_head(count: usize, work: usize, f: impl Fn(usize) + Sync) {
    #[cfg(feature = "threads")]
    {
        if pool_threads() > 1 && work >= PARALLEL_MIN_WORK && count > 1 {
            run_shared(count, helpers(), &f);
        } else {
            run_here(count, &f);
        }
    }
    #[cfg(not(feature = "threads"))]
    {
        let _ = work;
        (0..count).for_each(f)
    }
}
