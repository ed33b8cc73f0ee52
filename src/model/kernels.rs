//! Hand-written kernels for the few-row products of decoding (one row per hypothesis), where
//! candle's general matmul spends more time packing and dispatching than multiplying.
//!
//! `y[r][j] = Σ_i x[r][i] · w[j][i]` with `w` stored as the linear layer's `[out, in]` rows, in
//! f32 or in q8_0 blocks (an f16 scale and 32 int8 values). With WebAssembly SIMD128 they use
//! 128-bit lanes (f32x4 multiply-adds; int8 widened to int16 and `i32x4.dot_i16x8_s`); elsewhere a
//! plain loop computes the same thing. Both are tested against candle's own matmul (the
//! reference path), natively and in the browser.

use candle_core::quantized::{GgmlDType, QMatMul};
use candle_core::{DType, Device, Module, Storage, Tensor, D};
use half::f16;

use crate::error::Result;

/// Bytes of one q8_0 block: an f16 scale, then 32 int8 values.
pub const Q8_0_BLOCK_BYTES: usize = 34;
/// Values per q8_0 block.
pub const Q8_0_BLOCK: usize = 32;

/// Where the kernels write: every `(row, column)` of the output by exactly one column range (or,
/// in attention, one head), so ranges may run on different threads.
#[derive(Clone, Copy)]
struct Out {
    ptr: *mut f32,
    n: usize,
    /// Columns that are attention heads, written head-major (see [`HeadsLayout`]), with the
    /// values of one part (`m · heads · d_kv`).
    heads: Option<(HeadsLayout, usize)>,
}

/// The columns of a product as attention heads: rows are `batch · seq` positions, columns
/// `parts · heads · d_kv` (q, k and v side by side, say). Written head-major, part after part:
/// part `p` is `[batch, heads, seq, d_kv]`, what attention reads, with no copy between.
#[derive(Clone, Copy, Debug)]
pub struct HeadsLayout {
    pub seq: usize,
    pub heads: usize,
    pub d_kv: usize,
}

// SAFETY: the ranges handed out by `split_columns` (and the heads of `for_each_head`, each
// writing its own columns) are disjoint, so no element is written twice
// or written while read; the output outlives the (scoped) parallel region.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    fn new(y: &mut [f32], m: usize, n: usize) -> Self {
        assert!(y.len() >= m * n);
        Out {
            ptr: y.as_mut_ptr(),
            n,
            heads: None,
        }
    }

    /// The `m × n` outputs [`written`] hands its kernel.
    fn at(y: Unwritten, n: usize) -> Self {
        Out {
            ptr: y.0,
            n,
            heads: None,
        }
    }

    /// `y` for `m` rows of `n` columns laid out as `heads` says: every write the products make
    /// (at most [`BLOCK_COLS`] columns from a multiple of 4, never across a multiple of
    /// [`BLOCK_COLS`]) stays within one head, as `d_kv` is a multiple of [`BLOCK_COLS`].
    fn heads(y: Unwritten, m: usize, n: usize, heads: HeadsLayout) -> Self {
        let width = heads.heads * heads.d_kv;
        assert!(heads.d_kv % BLOCK_COLS == 0 && width > 0 && n % width == 0);
        assert!(heads.seq > 0 && m % heads.seq == 0 && y.1 >= m * n);
        Out {
            heads: Some((heads, m * width)),
            ..Out::at(y, n)
        }
    }

    /// Writes `y[r][j..j + values.len()]`.
    #[inline(always)]
    fn put(&self, r: usize, j: usize, values: &[f32]) {
        let at = match self.heads {
            None => r * self.n + j,
            Some((l, part_len)) => {
                let (column_head, d) = (j / l.d_kv, j % l.d_kv);
                debug_assert!(d + values.len() <= l.d_kv);
                let (part, head) = (column_head / l.heads, column_head % l.heads);
                let (b, i) = (r / l.seq, r % l.seq);
                part * part_len + ((b * l.heads + head) * l.seq + i) * l.d_kv + d
            }
        };
        // SAFETY: `new` checked the length (a head layout is a permutation of the same
        // elements); callers stay within their own columns.
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), self.ptr.add(at), values.len()) }
    }
}

/// The allocated, not yet written outputs [`written`] hands to a kernel: a pointer and a length.
#[derive(Clone, Copy)]
struct Unwritten(*mut f32, usize);

/// A vector of `len` outputs, each written by `fill` through the [`Unwritten`] it is given
/// (every product kernel writes each of its outputs exactly once): no zeroing first. An encoder
/// layer's outputs are megabytes, zeroed on one thread before the product split over threads.
fn written(len: usize, fill: impl FnOnce(Unwritten)) -> Vec<f32> {
    let mut y: Vec<f32> = Vec::with_capacity(len);
    // Debug builds start from NaN, so an output a kernel missed shows in every comparison.
    #[cfg(debug_assertions)]
    for v in y.spare_capacity_mut() {
        v.write(f32::NAN);
    }
    fill(Unwritten(y.spare_capacity_mut().as_mut_ptr().cast(), len));
    // SAFETY: `fill` wrote all `len` elements (its kernel writes every output).
    unsafe { y.set_len(len) };
    y
}

/// Multiply-adds below which a product (or a set of attention heads) is not worth splitting
/// over threads. A fork-join on the wasm pool costs tens of microseconds (workers woken through
/// `Atomics.notify`), about what a 512 × 512 q8_0 matrix-vector product takes on one thread; at
/// 1 << 16 every product of a decoder step was split and two threads decoded slower than one.
/// At 1 << 21 a decoder step splits only its LM head, and encoding (hundreds of rows) splits
/// everything.
#[cfg(feature = "threads")]
const PARALLEL_MIN_WORK: usize = 1 << 21;

/// Activation values below which quantizing them is not worth splitting over threads.
#[cfg(feature = "threads")]
const PARALLEL_MIN_QUANTIZE: usize = 1 << 16;

/// Whether the kernels may split their work over the thread pool (threaded builds).
#[cfg(feature = "threads")]
static PARALLEL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

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
fn pool_threads() -> usize {
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
fn run_shared(count: usize, helpers: usize, f: &(dyn Fn(usize) + Sync)) {
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
type Job = dyn Fn(usize) + Sync;

/// One [`run_shared`] call's indices, as its caller and helpers take them.
#[cfg(feature = "threads")]
struct Shared {
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
fn helpers() -> usize {
    pool_threads().saturating_sub(1)
}

/// Runs `f` over column ranges covering `0..n` (multiples of [`BLOCK_COLS`] long, but the last):
/// shared with pool threads ([`run_shared`]) in threaded builds when the product is big enough,
/// else as one range.
fn split_columns(n: usize, work: usize, f: impl Fn(std::ops::Range<usize>) + Sync) {
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
fn run_here(count: usize, job: &(dyn Fn(usize) + Sync)) {
    let job = std::hint::black_box(job);
    for i in 0..count {
        job(i);
    }
}

/// `f(0..m)` collected in order: shared with pool threads in threaded builds when the work is
/// big enough (quantizing the activations of a long input is too much to leave on one thread).
fn map_rows<T: Send>(m: usize, work: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let mut slots: Vec<()> = vec![(); m];
    map_rows_mut(&mut slots, 1, work, |r, _| f(r))
}

/// `f(r, row)` for each row of `out` (`width` values each), in place, results collected in
/// order: shared with pool threads in threaded builds when the work is big enough.
fn map_rows_mut<T: Send, A: Send>(
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

/// Rows of `x` per pass over the weights: the chunk of activations stays in cache while every
/// group of four weight rows streams past it once.
const ROW_CHUNK: usize = 96;

/// Columns per block of gathered outputs (see [`tiled_product`]): one 64-byte cache line of f32.
const BLOCK_COLS: usize = 16;

/// The outputs of one chunk of rows and one block of columns, gathered before they are stored.
#[repr(C, align(64))]
struct Gathered([[f32; BLOCK_COLS]; ROW_CHUNK]);

/// The loop the products share. Over the column ranges of [`split_columns`], chunks of
/// [`ROW_CHUNK`] rows and blocks of [`BLOCK_COLS`] columns, each group of four columns `j..j + 4`
/// is computed against two rows at a time (`pair(r, j)`: rows `r` and `r + 1`), an odd last row
/// (`one(r, j)`), and columns past the last group one by one (`single(r, j)`).
///
/// A block's outputs are gathered, then stored 64 bytes to a row. Stored as each group is done
/// (16 bytes a row, rows an output row apart: 2 KB and more, so a few cache sets took them
/// all), they cost a cache line per row per group.
fn tiled_product(
    m: usize,
    n: usize,
    k: usize,
    out: Out,
    pair: impl Fn(usize, usize) -> [[f32; 4]; 2] + Sync,
    one: impl Fn(usize, usize) -> [f32; 4] + Sync,
    single: impl Fn(usize, usize) -> f32 + Sync,
) {
    split_columns(n, m * n * k, |cols| {
        let mut block = Gathered([[0.0; BLOCK_COLS]; ROW_CHUNK]);
        for r0 in (0..m).step_by(ROW_CHUNK) {
            let r1 = (r0 + ROW_CHUNK).min(m);
            for b0 in cols.clone().step_by(BLOCK_COLS) {
                let b1 = (b0 + BLOCK_COLS).min(cols.end);
                let rows = &mut block.0[..r1 - r0];
                let mut j = b0;
                while j + 4 <= b1 {
                    let c = j - b0;
                    let mut pairs = rows.chunks_exact_mut(2);
                    for (p, two) in (&mut pairs).enumerate() {
                        let t = pair(r0 + 2 * p, j);
                        two[0][c..c + 4].copy_from_slice(&t[0]);
                        two[1][c..c + 4].copy_from_slice(&t[1]);
                    }
                    if let [last] = pairs.into_remainder() {
                        last[c..c + 4].copy_from_slice(&one(r1 - 1, j));
                    }
                    j += 4;
                }
                for j in j..b1 {
                    for (r, row) in (r0..r1).zip(rows.iter_mut()) {
                        row[j - b0] = single(r, j);
                    }
                }
                for (r, row) in (r0..r1).zip(rows.iter()) {
                    out.put(r, b0, &row[..b1 - b0]);
                }
            }
        }
    });
}

/// Runs `f` for every head `0..count`: shared with pool threads ([`run_shared`]) in threaded
/// builds when the work is big enough, else one after another.
fn for_each_head(count: usize, work: usize, f: impl Fn(usize) + Sync) {
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

/// `y[r * n + j] = x[r * k ..][..k] · w[j * k ..][..k]` for `m` rows of `x` and `n` rows of `w`.
///
/// Register-tiled: two activation rows against four weight rows at a time (eight accumulators,
/// each loaded operand used two or four times), activations in chunks of [`ROW_CHUNK`] rows.
/// The weights are used as stored (no packed copy).
pub fn matmul_f32(x: &[f32], m: usize, w: &[f32], n: usize, k: usize, y: &mut [f32]) {
    matmul_f32_into(x, m, w, n, k, Out::new(y, m, n))
}

/// [`matmul_f32`] into `out`.
fn matmul_f32_into(x: &[f32], m: usize, w: &[f32], n: usize, k: usize, out: Out) {
    assert!(x.len() >= m * k && w.len() >= n * k);
    let rows = |r: usize, count: usize| &x[r * k..(r + count) * k];
    let four = |j: usize| &w[j * k..(j + 4) * k];
    tiled_product(
        m,
        n,
        k,
        out,
        |r, j| tile_f32::<2>(rows(r, 2), four(j), k),
        |r, j| tile_f32::<1>(rows(r, 1), four(j), k)[0],
        |r, j| {
            let row = &w[j * k..(j + 1) * k];
            row.iter().zip(rows(r, 1)).map(|(a, b)| a * b).sum()
        },
    );
}

/// `c + a · b` in four f32 lanes: `f32x4.relaxed_madd` in relaxed-SIMD builds (one fused
/// multiply-add where the machine has FMA, so rounded once instead of twice), else a multiply
/// and an add.
#[cfg(target_feature = "simd128")]
#[inline(always)]
fn madd(
    a: core::arch::wasm32::v128,
    b: core::arch::wasm32::v128,
    c: core::arch::wasm32::v128,
) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::*;
    #[cfg(target_feature = "relaxed-simd")]
    {
        f32x4_relaxed_madd(a, b, c)
    }
    #[cfg(not(target_feature = "relaxed-simd"))]
    {
        f32x4_add(c, f32x4_mul(a, b))
    }
}

/// `MR` consecutive rows of `x` (`MR × k`) against four consecutive weight rows (`4 × k`).
// Indexing `acc[r][c]` by both loop counters reads as the tile it is.
#[allow(clippy::needless_range_loop)]
#[cfg(target_feature = "simd128")]
#[inline(always)]
fn tile_f32<const MR: usize>(x: &[f32], w: &[f32], k: usize) -> [[f32; 4]; MR] {
    use core::arch::wasm32::*;
    assert!(x.len() >= MR * k && w.len() >= 4 * k);
    let mut acc = [[f32x4_splat(0.0); 4]; MR];
    let (xp, wp) = (x.as_ptr(), w.as_ptr());
    let mut i = 0;
    // SAFETY: every load reads 4 f32 at offset i + 3 < k within a row of length k; the asserts
    // above bound the rows.
    unsafe {
        while i + 4 <= k {
            let mut a = [f32x4_splat(0.0); MR];
            for (r, a) in a.iter_mut().enumerate() {
                *a = v128_load(xp.add(r * k + i) as *const v128);
            }
            for c in 0..4 {
                let b = v128_load(wp.add(c * k + i) as *const v128);
                for r in 0..MR {
                    acc[r][c] = madd(a[r], b, acc[r][c]);
                }
            }
            i += 4;
        }
    }
    let mut out = [[0f32; 4]; MR];
    for r in 0..MR {
        for c in 0..4 {
            let a = acc[r][c];
            let mut s = (f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a))
                + (f32x4_extract_lane::<2>(a) + f32x4_extract_lane::<3>(a));
            for i in i..k {
                s += x[r * k + i] * w[c * k + i];
            }
            out[r][c] = s;
        }
    }
    out
}

#[cfg(not(target_feature = "simd128"))]
fn tile_f32<const MR: usize>(x: &[f32], w: &[f32], k: usize) -> [[f32; 4]; MR] {
    std::array::from_fn(|r| {
        std::array::from_fn(|c| {
            let (x, w) = (&x[r * k..(r + 1) * k], &w[c * k..(c + 1) * k]);
            x.iter().zip(w).map(|(a, b)| a * b).sum()
        })
    })
}

/// One activation row quantized to q8_0 as candle does it (`BlockQ8_0::from_float`): per block
/// of 32, scale `amax / 127` rounded to f16, values rounded to int8 (kept widened to int16).
struct QuantizedRow {
    scales: Vec<f32>,
    values: Vec<i16>,
    /// Relaxed-SIMD builds: each block's values split for `i32x4.relaxed_dot_i8x16_i7x16_add_s`,
    /// whose second operand must fit in 7 bits: `v = 2 · (hi − 64) + lo` with `hi = (v >> 1) + 64`
    /// (0..=127) in the block's first 32 bytes and `lo = v & 1` in the next 32.
    #[cfg(all(target_feature = "relaxed-simd", feature = "relaxed-q8"))]
    split: Vec<u8>,
}

fn quantize_row_q8_0(x: &[f32]) -> QuantizedRow {
    let blocks = x.len() / Q8_0_BLOCK;
    let mut scales = Vec::with_capacity(blocks);
    let mut values = vec![0i16; blocks * Q8_0_BLOCK];
    for (block, out) in x
        .chunks_exact(Q8_0_BLOCK)
        .zip(values.chunks_exact_mut(Q8_0_BLOCK))
    {
        let amax = abs_max(block);
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        scales.push(f16::from_f32(d).to_f32());
        quantize_block(block, id, out);
    }
    QuantizedRow {
        scales,
        #[cfg(all(target_feature = "relaxed-simd", feature = "relaxed-q8"))]
        split: split_for_relaxed_dot(&values),
        values,
    }
}

/// [`QuantizedRow::split`] of `values` (whole blocks of int8 values widened to int16).
#[cfg(all(target_feature = "relaxed-simd", feature = "relaxed-q8"))]
fn split_for_relaxed_dot(values: &[i16]) -> Vec<u8> {
    use core::arch::wasm32::*;
    let mut split = vec![0u8; values.len() * 2];
    for (block, out) in values
        .chunks_exact(Q8_0_BLOCK)
        .zip(split.chunks_exact_mut(2 * Q8_0_BLOCK))
    {
        let (hi, lo) = out.split_at_mut(Q8_0_BLOCK);
        for h in 0..2 {
            // SAFETY: a block holds 32 int16 (16 at 16 · h and 8 more); hi and lo 32 bytes each.
            unsafe {
                let a = v128_load(block.as_ptr().add(16 * h) as *const v128);
                let b = v128_load(block.as_ptr().add(16 * h + 8) as *const v128);
                let high = |v| i16x8_add(i16x8_shr(v, 1), i16x8_splat(64));
                let low = |v| v128_and(v, i16x8_splat(1));
                v128_store(
                    hi.as_mut_ptr().add(16 * h) as *mut v128,
                    u8x16_narrow_i16x8(high(a), high(b)),
                );
                v128_store(
                    lo.as_mut_ptr().add(16 * h) as *mut v128,
                    u8x16_narrow_i16x8(low(a), low(b)),
                );
            }
        }
    }
    split
}

#[cfg(not(target_feature = "simd128"))]
fn abs_max(block: &[f32]) -> f32 {
    block.iter().fold(0f32, |a, v| a.max(v.abs()))
}

#[cfg(not(target_feature = "simd128"))]
fn quantize_block(block: &[f32], id: f32, out: &mut [i16]) {
    for (o, v) in out.iter_mut().zip(block) {
        *o = (v * id).round() as i8 as i16;
    }
}

#[cfg(target_feature = "simd128")]
fn abs_max(block: &[f32]) -> f32 {
    use core::arch::wasm32::*;
    let mut m = f32x4_splat(0.0);
    for c in block.chunks_exact(4) {
        // SAFETY: a chunk holds 4 f32.
        m = f32x4_max(
            m,
            f32x4_abs(unsafe { v128_load(c.as_ptr() as *const v128) }),
        );
    }
    f32x4_extract_lane::<0>(m)
        .max(f32x4_extract_lane::<1>(m))
        .max(f32x4_extract_lane::<2>(m).max(f32x4_extract_lane::<3>(m)))
}

/// `round(v · id)` (halves away from zero, as `f32::round`) narrowed to int8 range, eight at a
/// time.
#[cfg(target_feature = "simd128")]
fn quantize_block(block: &[f32], id: f32, out: &mut [i16]) {
    use core::arch::wasm32::*;
    let round = |x: v128| {
        let t = f32x4_trunc(x);
        let half = f32x4_ge(f32x4_abs(f32x4_sub(x, t)), f32x4_splat(0.5));
        let one = v128_or(f32x4_splat(1.0), v128_and(x, f32x4_splat(-0.0)));
        i32x4_trunc_sat_f32x4(f32x4_add(t, v128_and(half, one)))
    };
    let ids = f32x4_splat(id);
    for (c, o) in block.chunks_exact(8).zip(out.chunks_exact_mut(8)) {
        // SAFETY: a chunk holds 8 f32 and its output 8 i16.
        unsafe {
            let a = round(f32x4_mul(v128_load(c.as_ptr() as *const v128), ids));
            let b = round(f32x4_mul(v128_load(c.as_ptr().add(4) as *const v128), ids));
            let q = i16x8_narrow_i32x4(a, b);
            let q = i16x8_min(i16x8_max(q, i16x8_splat(-128)), i16x8_splat(127));
            v128_store(o.as_mut_ptr() as *mut v128, q);
        }
    }
}

/// What the kernels need of each q8_0 weight block, computed once when the kernels are enabled
/// (`w` as `n` rows of `blocks` blocks), laid out for them: for each group of four rows, block by
/// block, the four rows' values side by side (`[(g * blocks + b) * 4 + t]`); the last `n % 4`
/// rows after them, row by row (`[j * blocks + b]`).
pub struct Q8_0Blocks {
    /// The f32 value of each block's f16 scale: converting f16 in the inner loop costs more than
    /// the multiply it scales.
    scales: Vec<f32>,
    /// Relaxed-SIMD builds: 128 × the sum of each block's 32 values (the correction the split
    /// activations need, see [`QuantizedRow::split`]); empty otherwise.
    sums: Vec<i32>,
}

impl Q8_0Blocks {
    pub fn new(w: &[u8], n: usize, blocks: usize) -> Self {
        let at = |j: usize, b: usize| (j * blocks + b) * Q8_0_BLOCK_BYTES;
        let scales = interleave(n, blocks, |j, b| {
            f16::from_le_bytes([w[at(j, b)], w[at(j, b) + 1]]).to_f32()
        });
        let sums = if cfg!(all(target_feature = "relaxed-simd", feature = "relaxed-q8")) {
            interleave(n, blocks, |j, b| {
                let values = &w[at(j, b) + 2..at(j, b) + Q8_0_BLOCK_BYTES];
                128 * values.iter().map(|&v| v as i8 as i32).sum::<i32>()
            })
        } else {
            Vec::new()
        };
        Q8_0Blocks { scales, sums }
    }
}

/// `f(row, block)` for every block of `n` rows, in the layout of [`Q8_0Blocks`].
fn interleave<T>(n: usize, blocks: usize, f: impl Fn(usize, usize) -> T) -> Vec<T> {
    let groups = n / 4;
    let mut out = Vec::with_capacity(n * blocks);
    for g in 0..groups {
        for b in 0..blocks {
            out.extend((0..4).map(|t| f(4 * g + t, b)));
        }
    }
    for j in 4 * groups..n {
        out.extend((0..blocks).map(|b| f(j, b)));
    }
    out
}

/// `y = x · wᵀ` with `w` as `n` rows of `k / 32` q8_0 blocks (`k` a multiple of 32) described by
/// `info` (see [`Q8_0Blocks`]): the activations are quantized to q8_0 first, as candle's
/// quantized matmul does, and each block's integer dot product is exact before it is scaled.
///
/// Register-tiled like [`matmul_f32`]: two activation rows against four weight rows.
pub fn matmul_q8_0(
    x: &[f32],
    m: usize,
    w: &[u8],
    info: &Q8_0Blocks,
    n: usize,
    k: usize,
    y: &mut [f32],
) {
    let scales = &info.scales;
    assert!(k % Q8_0_BLOCK == 0);
    let blocks = k / Q8_0_BLOCK;
    let row_bytes = blocks * Q8_0_BLOCK_BYTES;
    assert!(x.len() >= m * k && w.len() >= n * row_bytes);
    assert!(scales.len() >= n * blocks);
    let rows = map_rows(m, m * k, |r| quantize_row_q8_0(&x[r * k..(r + 1) * k]));
    // Four weight rows from `j`: their blocks, scales and sums.
    let group = |j: usize| {
        (
            &w[j * row_bytes..(j + 4) * row_bytes],
            &scales[j * blocks..(j + 4) * blocks],
            info.sums.get(j * blocks..(j + 4) * blocks).unwrap_or(&[]),
        )
    };
    tiled_product(
        m,
        n,
        k,
        Out::new(y, m, n),
        |r, j| {
            let (g, s, sums) = group(j);
            tile_q8_0([&rows[r], &rows[r + 1]], g, s, sums, blocks)
        },
        |r, j| {
            let (g, s, sums) = group(j);
            tile_q8_0([&rows[r]], g, s, sums, blocks)[0]
        },
        |r, j| {
            let row = &w[j * row_bytes..(j + 1) * row_bytes];
            dot_q8_0(&rows[r], row, &scales[j * blocks..(j + 1) * blocks], blocks)
        },
    );
}

/// The exact integer dot product of block `b` of `x` with the 32 int8 values that start `q`.
fn block_dot(q: &[u8], x: &QuantizedRow, b: usize) -> i32 {
    q[..Q8_0_BLOCK]
        .iter()
        .zip(&x.values[b * Q8_0_BLOCK..(b + 1) * Q8_0_BLOCK])
        .map(|(&w, &v)| w as i8 as i32 * v as i32)
        .sum()
}

/// One activation row against one weight row (the tail of `matmul_q8_0`).
fn dot_q8_0(x: &QuantizedRow, row: &[u8], scales: &[f32], blocks: usize) -> f32 {
    let mut acc = 0f32;
    for b in 0..blocks {
        let sum = block_dot(&row[b * Q8_0_BLOCK_BYTES + 2..], x, b);
        acc += sum as f32 * (scales[b] * x.scales[b]);
    }
    acc
}

/// `MR` quantized activation rows against four consecutive weight rows (`group`, with their
/// interleaved `scales`).
#[cfg(not(target_feature = "simd128"))]
fn tile_q8_0<const MR: usize>(
    x: [&QuantizedRow; MR],
    group: &[u8],
    scales: &[f32],
    sums: &[i32],
    blocks: usize,
) -> [[f32; 4]; MR] {
    let _ = sums;
    let row_bytes = blocks * Q8_0_BLOCK_BYTES;
    std::array::from_fn(|r| {
        std::array::from_fn(|t| {
            let mut acc = 0f32;
            for b in 0..blocks {
                let at = t * row_bytes + b * Q8_0_BLOCK_BYTES + 2;
                let sum = block_dot(&group[at..], x[r], b);
                acc += sum as f32 * (scales[b * 4 + t] * x[r].scales[b]);
            }
            acc
        })
    })
}

/// The SIMD128 tile: per block and 8 values, each weight row is widened to int16 once and
/// multiplied into every activation row with `i32x4.dot_i16x8_s`; at the end of the block the
/// four rows' integer sums are transposed into one vector and scaled by the four weight scales
/// at once.
// Indexing `acc[r][c]` by both loop counters reads as the tile it is.
#[allow(clippy::needless_range_loop)]
#[cfg(all(
    target_feature = "simd128",
    not(all(target_feature = "relaxed-simd", feature = "relaxed-q8"))
))]
#[inline(always)]
fn tile_q8_0<const MR: usize>(
    x: [&QuantizedRow; MR],
    group: &[u8],
    scales: &[f32],
    sums: &[i32],
    blocks: usize,
) -> [[f32; 4]; MR] {
    use core::arch::wasm32::*;
    let _ = sums;
    let row_bytes = blocks * Q8_0_BLOCK_BYTES;
    assert!(group.len() >= 4 * row_bytes && scales.len() >= 4 * blocks);
    for xr in &x {
        assert!(xr.values.len() >= blocks * Q8_0_BLOCK && xr.scales.len() >= blocks);
    }
    let mut acc = [f32x4_splat(0.0); MR];
    for b in 0..blocks {
        // SAFETY: the asserts above bound every read: 8 int16 at b * 32 + q * 8 < blocks * 32 of
        // each activation row; 8 int8 at byte 2 + q * 8 of block b of each of the 4 weight rows;
        // 4 scales at b * 4.
        unsafe {
            let mut sums = [[i32x4_splat(0); 4]; MR];
            for q in 0..4 {
                let mut a = [i32x4_splat(0); MR];
                for (r, a) in a.iter_mut().enumerate() {
                    *a = v128_load(x[r].values.as_ptr().add(b * Q8_0_BLOCK + q * 8) as *const v128);
                }
                for c in 0..4 {
                    let at = c * row_bytes + b * Q8_0_BLOCK_BYTES + 2 + q * 8;
                    let wv = i16x8_load_extend_i8x8(group.as_ptr().add(at) as *const i8);
                    for r in 0..MR {
                        sums[r][c] = i32x4_add(sums[r][c], i32x4_dot_i16x8(wv, a[r]));
                    }
                }
            }
            let dw = v128_load(scales.as_ptr().add(b * 4) as *const v128);
            for r in 0..MR {
                let s = lane_sums(sums[r]);
                let d = f32x4_mul(dw, f32x4_splat(*x[r].scales.get_unchecked(b)));
                acc[r] = madd(f32x4_convert_i32x4(s), d, acc[r]);
            }
        }
    }
    acc.map(|a| {
        [
            f32x4_extract_lane::<0>(a),
            f32x4_extract_lane::<1>(a),
            f32x4_extract_lane::<2>(a),
            f32x4_extract_lane::<3>(a),
        ]
    })
}

/// `[Σ lanes of s[0], Σ lanes of s[1], Σ lanes of s[2], Σ lanes of s[3]]`: four rows' block sums
/// transposed into one vector, so their four scales apply at once.
#[cfg(target_feature = "simd128")]
#[inline(always)]
fn lane_sums(s: [core::arch::wasm32::v128; 4]) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::*;
    let [s0, s1, s2, s3] = s;
    let s01 = i32x4_add(
        i32x4_shuffle::<0, 4, 1, 5>(s0, s1),
        i32x4_shuffle::<2, 6, 3, 7>(s0, s1),
    );
    let s23 = i32x4_add(
        i32x4_shuffle::<0, 4, 1, 5>(s2, s3),
        i32x4_shuffle::<2, 6, 3, 7>(s2, s3),
    );
    i32x4_add(
        i32x4_shuffle::<0, 1, 4, 5>(s01, s23),
        i32x4_shuffle::<2, 3, 6, 7>(s01, s23),
    )
}

/// The relaxed-SIMD tile, only with the `relaxed-q8` feature: through the public API in
/// Chromium (`./build.sh bench --peer`) it decoded at 23.2 ms/token and encoded 489 tokens in
/// 1.82 s where the plain tile took 16.9 ms and 1.29 s (this machine has no VNNI, and the split
/// activations double the dot products), so relaxed builds run the plain tile for q8_0 and
/// keep relaxed SIMD for the f32 multiply-adds.
///
/// `i32x4.relaxed_dot_i8x16_i7x16_add_s` multiplies 16 int8 weights by
/// 16 7-bit values and adds groups of four into an int32 accumulator (one instruction on machines
/// with VNNI). Activation values do not fit in 7 bits, so each block uses their split
/// ([`QuantizedRow::split`]): `Σ w·v = 2 · Σ w·hi + Σ w·lo − 128 · Σ w`, every term exact (no
/// product or pair sum can saturate: |w| ≤ 128, hi ≤ 127), so the result is the same integer
/// as the plain tile's. `128 · Σ w` comes precomputed (`sums`, four rows side by side) and is
/// subtracted after the same transpose; then the same scaling.
#[allow(clippy::needless_range_loop)]
#[cfg(all(
    target_feature = "simd128",
    target_feature = "relaxed-simd",
    feature = "relaxed-q8"
))]
#[inline(always)]
fn tile_q8_0<const MR: usize>(
    x: [&QuantizedRow; MR],
    group: &[u8],
    scales: &[f32],
    sums: &[i32],
    blocks: usize,
) -> [[f32; 4]; MR] {
    use core::arch::wasm32::*;
    let row_bytes = blocks * Q8_0_BLOCK_BYTES;
    assert!(group.len() >= 4 * row_bytes && scales.len() >= 4 * blocks);
    assert!(sums.len() >= 4 * blocks);
    for xr in &x {
        assert!(xr.split.len() >= blocks * 2 * Q8_0_BLOCK && xr.scales.len() >= blocks);
    }
    let dot = |w, v, acc| i32x4_relaxed_dot_i8x16_i7x16_add(w, v, acc);
    let mut acc = [f32x4_splat(0.0); MR];
    for b in 0..blocks {
        // SAFETY: the asserts above bound every read: 32 bytes at byte 2 of block b of each of
        // the 4 weight rows; 64 split bytes at b * 64 of each activation row; 4 scales and 4
        // sums at b * 4.
        unsafe {
            let mut dots = [[i32x4_splat(0); 4]; MR];
            for c in 0..4 {
                let at = c * row_bytes + b * Q8_0_BLOCK_BYTES + 2;
                let w0 = v128_load(group.as_ptr().add(at) as *const v128);
                let w1 = v128_load(group.as_ptr().add(at + 16) as *const v128);
                for r in 0..MR {
                    let s = x[r].split.as_ptr().add(b * 2 * Q8_0_BLOCK);
                    let load = |i: usize| v128_load(s.add(16 * i) as *const v128);
                    let hi = dot(w1, load(1), dot(w0, load(0), i32x4_splat(0)));
                    dots[r][c] = dot(w1, load(3), dot(w0, load(2), i32x4_shl(hi, 1)));
                }
            }
            let dw = v128_load(scales.as_ptr().add(b * 4) as *const v128);
            let correction = v128_load(sums.as_ptr().add(b * 4) as *const v128);
            for r in 0..MR {
                let s = i32x4_sub(lane_sums(dots[r]), correction);
                let d = f32x4_mul(dw, f32x4_splat(*x[r].scales.get_unchecked(b)));
                acc[r] = madd(f32x4_convert_i32x4(s), d, acc[r]);
            }
        }
    }
    acc.map(|a| {
        [
            f32x4_extract_lane::<0>(a),
            f32x4_extract_lane::<1>(a),
            f32x4_extract_lane::<2>(a),
            f32x4_extract_lane::<3>(a),
        ]
    })
}

/// Values the int8 kernel loads 16 bytes at a time: `i8`, `u8` and `i16`, for which all-zero
/// bytes are a valid value.
///
/// # Safety
/// Implementors must be plain integers: every bit pattern valid, no drop, no padding.
unsafe trait Plain: Copy {}
// SAFETY: plain integers.
unsafe impl Plain for i8 {}
// SAFETY: plain integers.
unsafe impl Plain for u8 {}
// SAFETY: plain integers.
unsafe impl Plain for i16 {}

/// One 64-byte cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// `len` values starting on a cache-line boundary, zero-filled when made. The allocator aligns
/// a `Vec<u8>` to 8 bytes at best, so a quarter of the kernel's 16-byte loads from one could
/// straddle two cache lines, and how many did depended on where a buffer happened to land (in
/// the kernel diagnostic, before the buffers were aligned, the threaded build's one thread ran
/// the same int8 products up to 1.4× slower than the single-thread build's; aligned, equally
/// fast).
struct Aligned<T: Plain> {
    lines: Vec<Line>,
    len: usize,
    of: std::marker::PhantomData<T>,
}

impl<T: Plain> Aligned<T> {
    fn zeroed(len: usize) -> Self {
        let bytes = len * std::mem::size_of::<T>();
        Aligned {
            lines: vec![Line([0; 64]); bytes.div_ceil(64)],
            len,
            of: std::marker::PhantomData,
        }
    }
}

impl<T: Plain> std::ops::Deref for Aligned<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the lines hold at least `len` values' bytes, initialized (zeroed, then only
        // written as `T`), aligned to 64 ≥ align_of::<T>(); any bytes are a valid `T` (`Plain`).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr() as *const T, self.len) }
    }
}

impl<T: Plain> std::ops::DerefMut for Aligned<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, borrowed mutably through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr() as *mut T, self.len) }
    }
}

/// Linear-layer weights as int8 rows, each with one f32 scale (`amax / 127`, symmetric), made
/// from f32 values when a model loads with `quantize: "int8"`. Products accumulate in int32 over
/// the whole row and are scaled once, where q8_0 scales and converts every 32 values; with the
/// activations quantized per row to 7 bits and a zero point (see [`Int8Activations`]) the
/// relaxed-SIMD build runs them on `i32x4.relaxed_dot_i8x16_i7x16_add_s` (16 products per
/// instruction) and the plain SIMD128 build on `i32x4.dot_i16x8_s`, both to the same integers.
pub struct Int8Rows {
    /// `[rows, values per row]`.
    shape: [usize; 2],
    /// `k` rounded up to a multiple of 16; rows are zero-padded to it.
    padded: usize,
    /// The rows in groups of [`INT8_GROUP`] (the last one padded with rows of zeros), from a
    /// cache-line boundary. A group is stored by steps of 16 values: the group's 8 rows' values
    /// `i..i + 16`, one row after another, then the next 16 ([`Int8Rows::at`]). A product
    /// with one activation row so reads its weights as one stream, 128 bytes per step; stored
    /// row after row, the four rows a tile reads at once were four streams 512 bytes apart,
    /// and an LM head whose weights had left the caches (as every decoder step meets it) ran
    /// at 7.6 GB/s (natively, the same loop on the same machine: 8.3 GB/s; interleaved by 8
    /// rows: 26 GB/s).
    values: Aligned<i8>,
    /// Per row: its scale.
    scales: Vec<f32>,
    /// Per row: the sum of its values (what a zero point costs the product).
    sums: Vec<i32>,
}

/// Activations and int8 rows are padded to a multiple of this many values.
const INT8_STEP: usize = 16;

/// Weight rows interleaved in [`Int8Rows::values`].
const INT8_GROUP: usize = 8;

impl Int8Rows {
    /// Quantizes `w`, `n` rows of `k` values: per row, scale `amax / 127` and values
    /// `round(w / scale)` (halves away from zero).
    pub fn quantize(w: &[f32], n: usize, k: usize) -> Self {
        assert!(w.len() >= n * k);
        Self::from_rows(n, k, |j, row| row.copy_from_slice(&w[j * k..(j + 1) * k]))
    }

    /// Quantizes q8_0 blocks (`n` rows of `k / 32` blocks, as candle stores them) row by row:
    /// only one row is ever held in f32.
    pub fn from_q8_0(data: &[u8], n: usize, k: usize) -> Self {
        assert!(k % Q8_0_BLOCK == 0);
        let row_bytes = k / Q8_0_BLOCK * Q8_0_BLOCK_BYTES;
        assert!(data.len() >= n * row_bytes);
        Self::from_rows(n, k, |j, row| {
            let blocks = data[j * row_bytes..(j + 1) * row_bytes].chunks_exact(Q8_0_BLOCK_BYTES);
            for (block, out) in blocks.zip(row.chunks_exact_mut(Q8_0_BLOCK)) {
                let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
                for (o, &v) in out.iter_mut().zip(&block[2..]) {
                    *o = v as i8 as f32 * d;
                }
            }
        })
    }

    /// `n` rows of `k`, each written into a buffer by `fill(row, buffer)` and quantized.
    fn from_rows(n: usize, k: usize, mut fill: impl FnMut(usize, &mut [f32])) -> Self {
        let padded = k.div_ceil(INT8_STEP) * INT8_STEP;
        let mut rows = Int8Rows {
            shape: [n, k],
            padded,
            values: Aligned::<i8>::zeroed(n.div_ceil(INT8_GROUP) * INT8_GROUP * padded),
            scales: Vec::with_capacity(n),
            sums: Vec::with_capacity(n),
        };
        let mut row = vec![0f32; k];
        let mut out = vec![0i8; padded];
        for j in 0..n {
            fill(j, &mut row);
            let amax = row.iter().fold(0f32, |a, v| a.max(v.abs()));
            let scale = if amax > 0.0 { amax / 127.0 } else { 1.0 };
            let inv = 1.0 / scale;
            for (o, v) in out.iter_mut().zip(&row) {
                *o = (v * inv).round().clamp(-127.0, 127.0) as i8;
            }
            for (i, step) in out.chunks_exact(INT8_STEP).enumerate() {
                let at = rows.at(j, i * INT8_STEP);
                rows.values[at..at + INT8_STEP].copy_from_slice(step);
            }
            rows.scales.push(scale);
            rows.sums.push(out.iter().map(|&v| v as i32).sum());
        }
        rows
    }

    /// The rows of `parts`, one after another, as one matrix: `None` unless every part has the
    /// same row length and all but the last whole groups of rows (a padded group inside would
    /// put rows of zeros among them).
    pub fn stack(parts: &[&Int8Rows]) -> Option<Self> {
        let first = parts.first()?;
        let k = first.shape[1];
        let (_, inner) = parts.split_last()?;
        if parts.iter().any(|p| p.shape[1] != k)
            || inner.iter().any(|p| p.shape[0] % INT8_GROUP != 0)
        {
            return None;
        }
        let n: usize = parts.iter().map(|p| p.shape[0]).sum();
        let mut values = Aligned::<i8>::zeroed(n.div_ceil(INT8_GROUP) * INT8_GROUP * first.padded);
        let mut at = 0;
        for p in parts {
            values[at..at + p.values.len()].copy_from_slice(&p.values);
            at += p.values.len();
        }
        Some(Int8Rows {
            shape: [n, k],
            padded: first.padded,
            values,
            scales: parts
                .iter()
                .flat_map(|p| p.scales.iter().copied())
                .collect(),
            sums: parts.iter().flat_map(|p| p.sums.iter().copied()).collect(),
        })
    }

    /// Where value `i` of row `j` is in [`Self::values`].
    #[inline(always)]
    fn at(&self, j: usize, i: usize) -> usize {
        j / INT8_GROUP * INT8_GROUP * self.padded + member_step(i, j % INT8_GROUP)
    }

    /// The group of rows `INT8_GROUP · g..`: `INT8_GROUP · padded` values.
    #[inline(always)]
    fn group(&self, g: usize) -> &[i8] {
        let len = INT8_GROUP * self.padded;
        &self.values[g * len..(g + 1) * len]
    }

    /// `(rows, values per row)`.
    pub fn dims(&self) -> (usize, usize) {
        (self.shape[0], self.shape[1])
    }

    /// `[rows, values per row]`.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Row `j` back in f32.
    pub fn dequantize_row(&self, j: usize) -> impl Iterator<Item = f32> + '_ {
        let s = self.scales[j];
        (0..self.shape[1]).map(move |i| self.values[self.at(j, i)] as f32 * s)
    }

    /// Bytes held (values, scales and sums).
    pub fn bytes(&self) -> usize {
        self.values.len() + 8 * self.shape[0]
    }

    /// The weights back in f32 (`value · scale`), `n` rows of `k`.
    pub fn dequantize(&self) -> Vec<f32> {
        let [n, k] = self.shape;
        let mut out = Vec::with_capacity(n * k);
        for j in 0..n {
            out.extend(self.dequantize_row(j));
        }
        out
    }
}

/// Activation rows quantized for [`matmul_int8`]: per row, `lo = min(0, min x)`,
/// `hi = max(0, max x)`, scale `s = (hi − lo) / 127`, zero point `z = round(−lo / s)` and values
/// `q = clamp(round(x / s) + z, 0, 127)`, so `x ≈ s · (q − z)` with zero exact. Seven bits
/// because the relaxed int8 dot product takes its second operand as 7-bit; the product of a
/// row with weight row `j` is then `s · s_j · (Σ w·q − z · Σ w)`.
struct Int8Activations {
    scales: Vec<f32>,
    zeros: Vec<i32>,
    /// `m` rows of `padded` values (zero-padded), from a cache-line boundary: bytes for the
    /// relaxed dot product, widened to int16 for `i32x4.dot_i16x8_s` elsewhere.
    values: Aligned<Act>,
}

impl Int8Activations {
    /// Row `r`'s product with a weight row (scale `w_scale`, values summing to `w_sum`) whose
    /// integer dot product with the row's values is `dot`: `s · s_w · (dot − z · Σ w)`.
    #[inline(always)]
    fn output(&self, r: usize, dot: i32, w_sum: i32, w_scale: f32) -> f32 {
        (dot - self.zeros[r] * w_sum) as f32 * (w_scale * self.scales[r])
    }
}

/// The 7-bit activation value type of this build (see [`Int8Activations::values`]).
#[cfg(all(target_feature = "simd128", target_feature = "relaxed-simd"))]
type Act = u8;
#[cfg(not(all(target_feature = "simd128", target_feature = "relaxed-simd")))]
type Act = i16;

/// The smallest and largest of `row` and 0.
fn min_max(row: &[f32]) -> (f32, f32) {
    #[cfg(target_feature = "simd128")]
    {
        use core::arch::wasm32::*;
        let (mut lo, mut hi) = (f32x4_splat(0.0), f32x4_splat(0.0));
        let chunks = row.chunks_exact(4);
        let tail = chunks.remainder();
        for c in chunks {
            // SAFETY: a chunk holds 4 f32.
            let v = unsafe { v128_load(c.as_ptr() as *const v128) };
            lo = f32x4_pmin(lo, v);
            hi = f32x4_pmax(hi, v);
        }
        let lanes = |v: v128, f: fn(f32, f32) -> f32| {
            f(
                f(f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v)),
                f(f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)),
            )
        };
        let (lo, hi) = (lanes(lo, f32::min), lanes(hi, f32::max));
        tail.iter()
            .fold((lo, hi), |(l, h), &v| (l.min(v), h.max(v)))
    }
    #[cfg(not(target_feature = "simd128"))]
    row.iter()
        .fold((0f32, 0f32), |(l, h), &v| (l.min(v), h.max(v)))
}

/// One row of [`Int8Activations`]: returns `(scale, zero point)` and fills `out` (padded).
fn quantize_activation_row(row: &[f32], out: &mut [Act]) -> (f32, i32) {
    let (lo, hi) = min_max(row);
    let scale = if hi > lo { (hi - lo) / 127.0 } else { 1.0 };
    let inv = 1.0 / scale;
    let zero = (-lo * inv).round().clamp(0.0, 127.0) as i32;
    let (body, _) = out.split_at_mut(row.len());
    #[cfg(target_feature = "simd128")]
    {
        use core::arch::wasm32::*;
        // `round(v · inv)` with halves away from zero, as `f32::round`.
        let round = |x: v128| {
            let t = f32x4_trunc(x);
            let half = f32x4_ge(f32x4_abs(f32x4_sub(x, t)), f32x4_splat(0.5));
            let one = v128_or(f32x4_splat(1.0), v128_and(x, f32x4_splat(-0.0)));
            i32x4_trunc_sat_f32x4(f32x4_add(t, v128_and(half, one)))
        };
        let (invs, zeros) = (f32x4_splat(inv), i32x4_splat(zero));
        let q = |p: *const f32| {
            // SAFETY (of the callers): `p` starts 4 f32 inside the row.
            let v = unsafe { v128_load(p as *const v128) };
            i32x4_add(round(f32x4_mul(v, invs)), zeros)
        };
        let n16 = row.len() / 16 * 16;
        for i in (0..n16).step_by(16) {
            let p = row[i..].as_ptr();
            // SAFETY: 16 f32 from i < n16 are in the row; 16 outputs from i are in `body`.
            unsafe {
                let a = i16x8_narrow_i32x4(q(p), q(p.add(4)));
                let b = i16x8_narrow_i32x4(q(p.add(8)), q(p.add(12)));
                // Narrowing saturates to int16; the clamp keeps 0..=127.
                let (a, b) = (
                    i16x8_min(i16x8_max(a, i16x8_splat(0)), i16x8_splat(127)),
                    i16x8_min(i16x8_max(b, i16x8_splat(0)), i16x8_splat(127)),
                );
                let o = body.as_mut_ptr().add(i);
                #[cfg(target_feature = "relaxed-simd")]
                v128_store(o as *mut v128, u8x16_narrow_i16x8(a, b));
                #[cfg(not(target_feature = "relaxed-simd"))]
                {
                    v128_store(o as *mut v128, a);
                    v128_store(o.add(8) as *mut v128, b);
                }
            }
        }
        for (o, v) in body[n16..].iter_mut().zip(&row[n16..]) {
            *o = ((v * inv).round() as i32)
                .saturating_add(zero)
                .clamp(0, 127) as Act;
        }
    }
    #[cfg(not(target_feature = "simd128"))]
    for (o, v) in body.iter_mut().zip(row) {
        *o = ((v * inv).round() as i32)
            .saturating_add(zero)
            .clamp(0, 127) as Act;
    }
    (scale, zero)
}

fn quantize_activations(x: &[f32], m: usize, k: usize) -> Int8Activations {
    let padded = k.div_ceil(INT8_STEP) * INT8_STEP;
    let mut values = Aligned::<Act>::zeroed(m * padded);
    let (scales, zeros) = map_rows_mut(&mut values, padded, m * k, |r, out| {
        quantize_activation_row(&x[r * k..(r + 1) * k], out)
    })
    .into_iter()
    .unzip();
    Int8Activations {
        scales,
        zeros,
        values,
    }
}

/// `y = x · wᵀ` for `m` rows of `x` (`k` values each) and int8 weights `w`: the activations
/// are quantized per row (see [`Int8Activations`]), every product is an exact integer sum over
/// the whole row, then scaled once.
///
/// Up to [`FEW_ROWS`] rows (a decoder step: one per hypothesis), each row against the eight
/// weight rows of a group at a time, so the weights stream past once, in order. More rows, tiled
/// like [`matmul_f32`]: two activation rows against four weight rows (half a group).
pub fn matmul_int8(x: &[f32], m: usize, w: &Int8Rows, y: &mut [f32]) {
    matmul_int8_then::<false>(x, m, w, Out::new(y, m, w.shape[0]))
}

/// [`matmul_int8`] into `dst`, with ReLU applied to each output as it is made when `RELU`.
fn matmul_int8_then<const RELU: bool>(x: &[f32], m: usize, w: &Int8Rows, dst: Out) {
    let ([n, k], padded) = (w.shape, w.padded);
    assert!(x.len() >= m * k);
    let a = quantize_activations(x, m, k);
    let row = |r: usize| &a.values[r * padded..(r + 1) * padded];
    let out = |r: usize, j: usize, dot: i32| {
        let v = a.output(r, dot, w.sums[j], w.scales[j]);
        // `max(v, 0)` as a compare and select (`f32::max` calls `fmaxf`).
        if RELU && v < 0.0 {
            0.0
        } else {
            v
        }
    };
    let split = split_relaxed_dot();
    if m <= FEW_ROWS {
        split_columns(n, m * n * k, |cols| {
            // Ranges start on a multiple of BLOCK_COLS, so on a group.
            for j in cols.clone().step_by(INT8_GROUP) {
                let (group, width) = (w.group(j / INT8_GROUP), (cols.end - j).min(INT8_GROUP));
                for r in 0..m {
                    let dots = if split {
                        tile_int8_group::<true>(row(r), group, padded)
                    } else {
                        tile_int8_group::<false>(row(r), group, padded)
                    };
                    let values: [f32; INT8_GROUP] = std::array::from_fn(|c| {
                        if c < width {
                            out(r, j + c, dots[c])
                        } else {
                            0.0
                        }
                    });
                    dst.put(r, j, &values[..width]);
                }
            }
        });
        return;
    }
    let half = |j: usize| (w.group(j / INT8_GROUP), j % INT8_GROUP / 4);
    let tile2 = |r: usize, j: usize| {
        let (x, (group, h)) = ([row(r), row(r + 1)], half(j));
        if split {
            tile_int8::<2, true>(x, group, h, padded)
        } else {
            tile_int8::<2, false>(x, group, h, padded)
        }
    };
    let tile1 = |r: usize, j: usize| {
        let (group, h) = half(j);
        if split {
            tile_int8::<1, true>([row(r)], group, h, padded)
        } else {
            tile_int8::<1, false>([row(r)], group, h, padded)
        }
    };
    let finish = |r: usize, j: usize, dots: [i32; 4]| -> [f32; 4] {
        std::array::from_fn(|c| out(r, j + c, dots[c]))
    };
    tiled_product(
        m,
        n,
        k,
        dst,
        |r, j| {
            let [d0, d1] = tile2(r, j);
            [finish(r, j, d0), finish(r + 1, j, d1)]
        },
        |r, j| finish(r, j, tile1(r, j)[0]),
        |r, j| {
            let dot: i32 = (0..k)
                .map(|i| w.values[w.at(j, i)] as i32 * row(r)[i] as i32)
                .sum();
            out(r, j, dot)
        },
    );
}

/// Activation rows up to which [`matmul_int8`] streams each group of weights once per row
/// (a group of 8 rows of 512 values stays in the first-level cache for the next row).
const FEW_ROWS: usize = 4;

/// Where value `i` of member `c` of a group is in it ([`Int8Rows::values`]).
#[inline(always)]
fn member_step(i: usize, c: usize) -> usize {
    i / INT8_STEP * INT8_STEP * INT8_GROUP + c * INT8_STEP + i % INT8_STEP
}

/// `MR` activation rows against four weight rows, half `half` of a group (`group`,
/// [`INT8_GROUP`] rows of `padded` values, interleaved): the exact integer dot products.
/// (`SPLIT` only matters to the relaxed-SIMD tile.)
#[cfg(not(target_feature = "simd128"))]
fn tile_int8<const MR: usize, const SPLIT: bool>(
    x: [&[Act]; MR],
    group: &[i8],
    half: usize,
    padded: usize,
) -> [[i32; 4]; MR] {
    std::array::from_fn(|r| {
        std::array::from_fn(|c| {
            (0..padded)
                .map(|i| group[member_step(i, 4 * half + c)] as i32 * x[r][i] as i32)
                .sum()
        })
    })
}

/// One activation row against the [`INT8_GROUP`] weight rows of `group`.
#[cfg(not(target_feature = "simd128"))]
fn tile_int8_group<const SPLIT: bool>(x: &[Act], group: &[i8], padded: usize) -> [i32; INT8_GROUP] {
    std::array::from_fn(|c| {
        (0..padded)
            .map(|i| group[member_step(i, c)] as i32 * x[i] as i32)
            .sum()
    })
}

/// The SIMD128 tile: eight values at a time, each weight row widened to int16 once and
/// multiplied into every activation row with `i32x4.dot_i16x8_s`, int32 lanes summed at the end.
#[allow(clippy::needless_range_loop)]
#[cfg(all(target_feature = "simd128", not(target_feature = "relaxed-simd")))]
#[inline(always)]
fn tile_int8<const MR: usize, const SPLIT: bool>(
    x: [&[Act]; MR],
    group: &[i8],
    half: usize,
    padded: usize,
) -> [[i32; 4]; MR] {
    use core::arch::wasm32::*;
    assert!(group.len() >= INT8_GROUP * padded && padded % INT8_STEP == 0 && half < 2);
    for xr in &x {
        assert!(xr.len() >= padded);
    }
    let mut acc = [[i32x4_splat(0); 4]; MR];
    for i in (0..padded).step_by(8) {
        // SAFETY: the asserts bound every read: 8 int16 at i < padded of each activation row,
        // 8 int8 of member 4 · half + c < INT8_GROUP at step i of the group.
        unsafe {
            let mut a = [i32x4_splat(0); MR];
            for r in 0..MR {
                a[r] = v128_load(x[r].as_ptr().add(i) as *const v128);
            }
            for c in 0..4 {
                let wv = i16x8_load_extend_i8x8(group.as_ptr().add(member_step(i, 4 * half + c)));
                for r in 0..MR {
                    acc[r][c] = i32x4_add(acc[r][c], i32x4_dot_i16x8(wv, a[r]));
                }
            }
        }
    }
    acc.map(lanes_i32)
}

/// One activation row against a whole group, eight values at a time (as [`tile_int8`]).
#[cfg(all(target_feature = "simd128", not(target_feature = "relaxed-simd")))]
#[inline(always)]
fn tile_int8_group<const SPLIT: bool>(x: &[Act], group: &[i8], padded: usize) -> [i32; INT8_GROUP] {
    use core::arch::wasm32::*;
    assert!(group.len() >= INT8_GROUP * padded && padded % INT8_STEP == 0 && x.len() >= padded);
    let mut acc = [i32x4_splat(0); INT8_GROUP];
    for i in (0..padded).step_by(8) {
        // SAFETY: the assert bounds every read: 8 int16 at i < padded of the activation row,
        // 8 int8 of member c < INT8_GROUP at step i of the group.
        unsafe {
            let a = v128_load(x.as_ptr().add(i) as *const v128);
            for (c, acc) in acc.iter_mut().enumerate() {
                let wv = i16x8_load_extend_i8x8(group.as_ptr().add(member_step(i, c)));
                *acc = i32x4_add(*acc, i32x4_dot_i16x8(wv, a));
            }
        }
    }
    group_lanes(acc)
}

/// The relaxed-SIMD tile: sixteen values at a time with
/// `i32x4.relaxed_dot_i8x16_i7x16_add_s` (int8 weights, 7-bit activations; no intermediate can
/// saturate: |w · q| ≤ 128 · 127 and a pair sums to at most 32 512), so the integers equal the
/// plain tile's. With `SPLIT` ([`split_relaxed_dot`]) as `i16x8.relaxed_dot_i8x16_i7x16_s`,
/// widened and added by `i32x4.dot_i16x8_s` against ones: the same integers. (Widened with
/// `i32x4.extadd_pairwise_i16x8_s` and added, LLVM fuses the three back into the one.)
#[allow(clippy::needless_range_loop)]
#[cfg(all(target_feature = "simd128", target_feature = "relaxed-simd"))]
#[inline(always)]
fn tile_int8<const MR: usize, const SPLIT: bool>(
    x: [&[Act]; MR],
    group: &[i8],
    half: usize,
    padded: usize,
) -> [[i32; 4]; MR] {
    use core::arch::wasm32::*;
    assert!(group.len() >= INT8_GROUP * padded && padded % INT8_STEP == 0 && half < 2);
    for xr in &x {
        assert!(xr.len() >= padded);
    }
    let mut acc = [[i32x4_splat(0); 4]; MR];
    let ones = i16x8_splat(1);
    let base = group.as_ptr().wrapping_add(4 * half * INT8_STEP);
    for i in (0..padded).step_by(INT8_STEP) {
        // SAFETY: the asserts bound every read: 16 bytes at i < padded of each activation row
        // and of member 4 · half + c < INT8_GROUP at step i of the group.
        unsafe {
            let mut a = [i32x4_splat(0); MR];
            for r in 0..MR {
                a[r] = v128_load(x[r].as_ptr().add(i) as *const v128);
            }
            for c in 0..4 {
                let wv = v128_load(base.add(member_step(i, c)) as *const v128);
                for r in 0..MR {
                    acc[r][c] = relaxed_dot::<SPLIT>(wv, a[r], acc[r][c], ones);
                }
            }
        }
    }
    acc.map(lanes_i32)
}

/// One activation row against a whole group, sixteen values at a time (as [`tile_int8`]): the
/// group's 128 bytes of a step are one stretch of memory.
#[cfg(all(target_feature = "simd128", target_feature = "relaxed-simd"))]
#[inline(always)]
fn tile_int8_group<const SPLIT: bool>(x: &[Act], group: &[i8], padded: usize) -> [i32; INT8_GROUP] {
    use core::arch::wasm32::*;
    assert!(group.len() >= INT8_GROUP * padded && padded % INT8_STEP == 0 && x.len() >= padded);
    let mut acc = [i32x4_splat(0); INT8_GROUP];
    let ones = i16x8_splat(1);
    for i in (0..padded).step_by(INT8_STEP) {
        // SAFETY: the assert bounds every read: 16 bytes at i < padded of the activation row and
        // of member c < INT8_GROUP at step i of the group.
        unsafe {
            let a = v128_load(x.as_ptr().add(i) as *const v128);
            for (c, acc) in acc.iter_mut().enumerate() {
                let wv = v128_load(group.as_ptr().add(member_step(i, c)) as *const v128);
                *acc = relaxed_dot::<SPLIT>(wv, a, *acc, ones);
            }
        }
    }
    group_lanes(acc)
}

/// `acc` plus the dot products of groups of four int8 `w` and 7-bit `a` (see [`tile_int8`]).
#[cfg(all(target_feature = "simd128", target_feature = "relaxed-simd"))]
#[inline(always)]
fn relaxed_dot<const SPLIT: bool>(
    w: core::arch::wasm32::v128,
    a: core::arch::wasm32::v128,
    acc: core::arch::wasm32::v128,
    ones: core::arch::wasm32::v128,
) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::*;
    if SPLIT {
        i32x4_add(
            acc,
            i32x4_dot_i16x8(i16x8_relaxed_dot_i8x16_i7x16(w, a), ones),
        )
    } else {
        i32x4_relaxed_dot_i8x16_i7x16_add(w, a, acc)
    }
}

/// The lane sums of a group's eight accumulators.
#[cfg(target_feature = "simd128")]
#[inline(always)]
fn group_lanes(acc: [core::arch::wasm32::v128; INT8_GROUP]) -> [i32; INT8_GROUP] {
    let [a0, a1, a2, a3, a4, a5, a6, a7] = acc;
    let (lo, hi) = (lanes_i32([a0, a1, a2, a3]), lanes_i32([a4, a5, a6, a7]));
    std::array::from_fn(|c| if c < 4 { lo[c] } else { hi[c - 4] })
}

/// Which form the relaxed int8 tiles use: `None` lets [`split_relaxed_dot`] decide by this
/// machine; tests set each in turn (both compute the same integers).
static RELAXED_DOT_FORM: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Makes the relaxed-SIMD int8 tiles use the split form (`Some(true)`), the one instruction
/// (`Some(false)`), or whichever is faster on this machine (`None`, the default). For tests; no
/// effect outside relaxed-SIMD builds.
pub fn force_split_relaxed_dot(split: Option<bool>) {
    let form = match split {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    };
    RELAXED_DOT_FORM.store(form, std::sync::atomic::Ordering::Relaxed);
}

/// Whether the relaxed int8 tiles use the split form: where this machine's
/// `i32x4.relaxed_dot_i8x16_i7x16_add_s` is the emulated one (x86 without VNNI). There V8 emits
/// five instructions for it (`pmaddubsw`, `pmaddwd` against ones it builds each time, `paddd`),
/// each input in a register of its own; `i16x8.relaxed_dot_i8x16_i7x16_s` then `i32x4.dot_i16x8_s`
/// against ones and an add take three. In the kernel diagnostic (2-core AMD EPYC without VNNI,
/// Chromium 156) the split form ran t5-small's encoder products 1.12–1.18× faster. With VNNI
/// (or Arm's `sdot`) the one instruction is one instruction. They are told apart by what they
/// compute outside the range the int8 product uses: 127 · 255 four times is 129 540 as VNNI
/// sums it, 65 534 when each pair saturates to int16 first, −508 when 255 is read as signed.
fn split_relaxed_dot() -> bool {
    use std::sync::atomic::Ordering;
    #[cfg(all(target_feature = "simd128", target_feature = "relaxed-simd"))]
    {
        use core::arch::wasm32::*;
        match RELAXED_DOT_FORM.load(Ordering::Relaxed) {
            1 => false,
            2 => true,
            _ => {
                static EMULATED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
                *EMULATED.get_or_init(|| {
                    let (w, a) = std::hint::black_box((i8x16_splat(127), u8x16_splat(255)));
                    let dot = i32x4_relaxed_dot_i8x16_i7x16_add(w, a, i32x4_splat(0));
                    i32x4_extract_lane::<0>(std::hint::black_box(dot)) == 65_534
                })
            }
        }
    }
    #[cfg(not(all(target_feature = "simd128", target_feature = "relaxed-simd")))]
    {
        RELAXED_DOT_FORM.load(Ordering::Relaxed) == 2
    }
}

/// The four lane sums of four int32 accumulators.
#[cfg(target_feature = "simd128")]
#[inline(always)]
fn lanes_i32(acc: [core::arch::wasm32::v128; 4]) -> [i32; 4] {
    use core::arch::wasm32::*;
    let s = lane_sums(acc);
    [
        i32x4_extract_lane::<0>(s),
        i32x4_extract_lane::<1>(s),
        i32x4_extract_lane::<2>(s),
        i32x4_extract_lane::<3>(s),
    ]
}

/// `y[r * n + j] = Σ_i x[r * k + i] · w[i * n + j]`: like [`matmul_f32`] but with `w` stored as
/// `[k, n]` (the values of attention, `[keys, d_kv]`), so nothing is transposed. Four rows of
/// `x` against eight columns of `w` at a time: each step loads two vectors of `w` and broadcasts
/// one value of each row of `x`.
pub fn matmul_f32_kn(x: &[f32], m: usize, w: &[f32], k: usize, n: usize, y: &mut [f32]) {
    assert!(x.len() >= m * k && w.len() >= k * n && y.len() >= m * n);
    let body = n - n % 8;
    let mut r = 0;
    while r < m {
        let rows = (m - r).min(4);
        for j in (0..body).step_by(8) {
            let t = match rows {
                4 => tile_kn::<4>(&x[r * k..], k, w, n, j),
                3 => pad_rows(tile_kn::<3>(&x[r * k..], k, w, n, j)),
                2 => pad_rows(tile_kn::<2>(&x[r * k..], k, w, n, j)),
                _ => pad_rows(tile_kn::<1>(&x[r * k..], k, w, n, j)),
            };
            for (t, row) in t.iter().take(rows).enumerate() {
                y[(r + t) * n + j..][..8].copy_from_slice(row);
            }
        }
        for t in 0..rows {
            for j in body..n {
                y[(r + t) * n + j] = (0..k).map(|i| x[(r + t) * k + i] * w[i * n + j]).sum();
            }
        }
        r += rows;
    }
}

fn pad_rows<const MR: usize>(t: [[f32; 8]; MR]) -> [[f32; 8]; 4] {
    std::array::from_fn(|r| if r < MR { t[r] } else { [0.0; 8] })
}

/// `MR` rows of `x` (row stride `k`) against columns `j..j + 8` of `w` (`[k, n]`).
#[cfg(target_feature = "simd128")]
#[inline(always)]
fn tile_kn<const MR: usize>(x: &[f32], k: usize, w: &[f32], n: usize, j: usize) -> [[f32; 8]; MR] {
    use core::arch::wasm32::*;
    assert!(k == 0 || (x.len() >= MR * k && w.len() >= (k - 1) * n + j + 8));
    let mut acc = [[f32x4_splat(0.0); 2]; MR];
    let (xp, wp) = (x.as_ptr(), w.as_ptr());
    // SAFETY: the assert bounds every read: x[r * k + i] for r < MR, i < k; w[i * n + j..][..8].
    unsafe {
        for i in 0..k {
            let w0 = v128_load(wp.add(i * n + j) as *const v128);
            let w1 = v128_load(wp.add(i * n + j + 4) as *const v128);
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = v128_load32_splat(xp.add(r * k + i) as *const u32);
                acc[0] = madd(a, w0, acc[0]);
                acc[1] = madd(a, w1, acc[1]);
            }
        }
    }
    acc.map(|[a, b]| {
        let mut out = [0f32; 8];
        // SAFETY: out holds 8 f32.
        unsafe {
            v128_store(out.as_mut_ptr() as *mut v128, a);
            v128_store(out.as_mut_ptr().add(4) as *mut v128, b);
        }
        out
    })
}

#[cfg(not(target_feature = "simd128"))]
fn tile_kn<const MR: usize>(x: &[f32], k: usize, w: &[f32], n: usize, j: usize) -> [[f32; 8]; MR] {
    std::array::from_fn(|r| {
        std::array::from_fn(|c| (0..k).map(|i| x[r * k + i] * w[i * n + j + c]).sum())
    })
}

/// Borrows the f32 values of `t` (made contiguous first) for `f`.
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        return Err(candle_core::Error::Msg("kernels: tensor not on the CPU".into()).into());
    };
    f(&cpu.as_slice::<f32>()?[layout.start_offset()..][..t.elem_count()])
}

/// Unscaled dot-product attention (T5 folds the scale into its weights):
/// `softmax(q · kᵀ + bias) · v` for `q` `[b, h, sq, dk]`, `k` and `v` `[b or 1, h, sk, dk]` and
/// an additive `bias` `[1 or b, h, sq, sk]` (position bias, `-inf` where masked), returned as
/// `[b, sq, h · dk]`, the layout the output projection takes. Per head: the scores by
/// [`matmul_f32`], bias, softmax ([`softmax_row`]), then the values by [`matmul_f32_kn`]. (Scores
/// as a row-broadcast product against keys transposed once were about twice as fast per head in
/// a kernel diagnostic, but their summation order moved ours f32 off transformers.js fp32 after
/// 22 of 64 greedy tokens on the bench's random model, where these dot products keep 63.)
/// Keys and values of batch 1 serve every query batch entry (the encoder output all beams
/// attend to): each head's keys are then read once for the queries of all `b` entries. The
/// reference is candle's `matmul` (broadcast over the batch), `broadcast_add` and
/// `softmax_last_dim`.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (b, h, sq, dk) = q.dims4()?;
    let (kb, kh, sk, kdk) = k.dims4()?;
    if (kb != b && kb != 1) || (kh, kdk) != (h, dk) || v.dims() != k.dims() {
        return Err(candle_core::Error::Msg(format!(
            "attention kernel: q {:?}, k {:?}, v {:?} do not fit",
            q.dims(),
            k.dims(),
            v.dims()
        ))
        .into());
    }
    let bias_batches = match bias {
        Some(bias) => {
            let (bb, bh, bq, bk) = bias.dims4()?;
            if (bh, bq, bk) != (h, sq, sk) || (bb != 1 && bb != b) {
                return Err(candle_core::Error::Msg(format!(
                    "attention kernel: bias {:?} does not fit scores [{b}, {h}, {sq}, {sk}]",
                    bias.dims()
                ))
                .into());
            }
            bb
        }
        None => 1,
    };
    // A unit of work: one head of one batch entry, or with shared keys one head of every entry.
    let entries = if kb == b { 1 } else { b };
    // ... cut into blocks of queries, so two threads share eight heads evenly and a block's
    // scores (128 × 512 f32: 256 KB, not a whole head's megabyte) stay in the cache.
    let head_rows = entries * sq;
    let blocks = head_rows.div_ceil(QUERY_BLOCK);
    let mut out = vec![0f32; b * sq * h * dk];
    let dst = Out::new(&mut out, b * sq, h * dk);
    let no_bias = Tensor::zeros(1, DType::F32, q.device())?;
    with_f32(q, |q| {
        with_f32(k, |k| {
            with_f32(v, |v| {
                with_f32(bias.unwrap_or(&no_bias), |bias_values| {
                    for_each_head(kb * h * blocks, b * h * sq * sk * dk, |unit| {
                        let (unit, block) = (unit / blocks, unit % blocks);
                        let (kbi, hi) = (unit / h, unit % h);
                        let rows = block * QUERY_BLOCK..((block + 1) * QUERY_BLOCK).min(head_rows);
                        let kh = &k[unit * sk * dk..][..sk * dk];
                        let vh = &v[unit * sk * dk..][..sk * dk];
                        // Row `at` of a unit's queries: batch entry `kbi + at / sq`, query `at % sq`.
                        let query = |at: usize| ((kbi + at / sq) * h + hi) * sq + at % sq;
                        let gathered;
                        let qh = if entries == 1 {
                            &q[query(rows.start) * dk..][..rows.len() * dk]
                        } else {
                            gathered = rows
                                .clone()
                                .flat_map(|at| &q[query(at) * dk..][..dk])
                                .copied()
                                .collect::<Vec<f32>>();
                            &gathered
                        };
                        let mut scores = written(rows.len() * sk, |y| {
                            matmul_f32_into(qh, rows.len(), kh, sk, dk, Out::at(y, sk))
                        });
                        for (at, row) in rows.clone().zip(scores.chunks_exact_mut(sk)) {
                            let (bi, i) = (kbi + at / sq, at % sq);
                            let bias_row = bias.is_some().then(|| {
                                let head = (bi % bias_batches) * h + hi;
                                &bias_values[(head * sq + i) * sk..][..sk]
                            });
                            softmax_row(row, bias_row);
                        }
                        let mut ctx = vec![0f32; rows.len() * dk];
                        matmul_f32_kn(&scores, rows.len(), vh, sk, dk, &mut ctx);
                        // Head `hi` owns columns hi·dk.. of every row of its batch entries.
                        for (at, row) in rows.zip(ctx.chunks_exact(dk)) {
                            dst.put(kbi * sq + at, hi * dk, row);
                        }
                    });
                    Ok(())
                })
            })
        })
    })?;
    Ok(Tensor::from_vec(out, (b, sq, h * dk), q.device())?)
}

/// Query rows of one unit of [`attention`]'s work.
const QUERY_BLOCK: usize = 128;

/// `row = softmax(row + bias)` in place (`-inf` entries become 0). With SIMD128 the max, the
/// exponentials and the sum run four lanes at a time ([`exp_f32x4`]); elsewhere a plain loop.
pub fn softmax_row(row: &mut [f32], bias: Option<&[f32]>) {
    if let Some(bias) = bias {
        for (x, b) in row.iter_mut().zip(bias) {
            *x += b;
        }
    }
    softmax_in_place(row);
}

#[cfg(not(target_feature = "simd128"))]
fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().fold(f32::NEG_INFINITY, |a, &x| a.max(x));
    let mut sum = 0f32;
    for x in row.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in row.iter_mut() {
        *x /= sum;
    }
}

#[cfg(target_feature = "simd128")]
fn softmax_in_place(row: &mut [f32]) {
    use core::arch::wasm32::*;
    let n = row.len();
    let body = n - n % 4;
    let mx = f32x4_splat(row_max(row));
    let p = row.as_mut_ptr();
    // SAFETY: vector loads and stores cover i..i + 4 <= body <= n.
    unsafe {
        let mut s = f32x4_splat(0.0);
        for i in (0..body).step_by(4) {
            let e = exp_f32x4(f32x4_sub(v128_load(p.add(i) as *const v128), mx));
            v128_store(p.add(i) as *mut v128, e);
            s = f32x4_add(s, e);
        }
        let mut sum = (f32x4_extract_lane::<0>(s) + f32x4_extract_lane::<1>(s))
            + (f32x4_extract_lane::<2>(s) + f32x4_extract_lane::<3>(s));
        if body < n {
            let mut tail = [f32::NEG_INFINITY; 4];
            tail[..n - body].copy_from_slice(&row[body..]);
            let e = exp_f32x4(f32x4_sub(v128_load(tail.as_ptr() as *const v128), mx));
            v128_store(tail.as_mut_ptr() as *mut v128, e);
            row[body..].copy_from_slice(&tail[..n - body]);
            sum += tail[..n - body].iter().sum::<f32>();
        }
        let ds = f32x4_splat(sum);
        for i in (0..body).step_by(4) {
            v128_store(
                p.add(i) as *mut v128,
                f32x4_div(v128_load(p.add(i) as *const v128), ds),
            );
        }
        for x in &mut row[body..] {
            *x /= sum;
        }
    }
}

/// The largest value of `row` (`-inf` for an empty one), four lanes at a time.
#[cfg(target_feature = "simd128")]
fn row_max(row: &[f32]) -> f32 {
    use core::arch::wasm32::*;
    let body = row.len() - row.len() % 4;
    let mut m = f32x4_splat(f32::NEG_INFINITY);
    for c in row[..body].chunks_exact(4) {
        // SAFETY: `c` holds four f32 values.
        m = f32x4_pmax(m, unsafe { v128_load(c.as_ptr() as *const v128) });
    }
    let mut max = f32x4_extract_lane::<0>(m)
        .max(f32x4_extract_lane::<1>(m))
        .max(f32x4_extract_lane::<2>(m).max(f32x4_extract_lane::<3>(m)));
    for &x in &row[body..] {
        max = max.max(x);
    }
    max
}

/// The largest value of `row` and `Σ e^(x - max)` over it: what a log-softmax needs. Four lanes
/// at a time with SIMD128 ([`exp_f32x4`]), else a plain loop (`f32::exp`).
pub fn max_and_sum_exp(row: &[f32]) -> (f32, f32) {
    #[cfg(target_feature = "simd128")]
    {
        use core::arch::wasm32::*;
        let n = row.len();
        let body = n - n % 4;
        let p = row.as_ptr();
        let max = row_max(row);
        // SAFETY: vector loads cover i..i + 4 <= body <= n.
        unsafe {
            let mx = f32x4_splat(max);
            let mut s = f32x4_splat(0.0);
            for i in (0..body).step_by(4) {
                s = f32x4_add(
                    s,
                    exp_f32x4(f32x4_sub(v128_load(p.add(i) as *const v128), mx)),
                );
            }
            let mut sum = (f32x4_extract_lane::<0>(s) + f32x4_extract_lane::<1>(s))
                + (f32x4_extract_lane::<2>(s) + f32x4_extract_lane::<3>(s));
            for &x in &row[body..] {
                sum += (x - max).exp();
            }
            (max, sum)
        }
    }
    #[cfg(not(target_feature = "simd128"))]
    {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        (max, row.iter().map(|&x| (x - max).exp()).sum())
    }
}

/// `e^x` in four lanes, to about 2 ulp (Cephes' `expf`): `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`,
/// `e^r` by a degree-6 polynomial, `2^n` built in the exponent bits. Below the smallest normal
/// result (`x < -87.34`, `-inf` included) it gives 0.
#[cfg(target_feature = "simd128")]
#[inline(always)]
fn exp_f32x4(x: core::arch::wasm32::v128) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::*;
    const LOW: f32 = -87.336_55;
    let underflow = f32x4_lt(x, f32x4_splat(LOW));
    // Pseudo-min/max (one instruction each on x86; `f32x4.min/max` take several to order NaNs).
    let x = f32x4_pmin(f32x4_pmax(x, f32x4_splat(LOW)), f32x4_splat(88.0));
    let n = f32x4_nearest(f32x4_mul(x, f32x4_splat(std::f32::consts::LOG2_E)));
    let r = f32x4_sub(
        f32x4_sub(x, f32x4_mul(n, f32x4_splat(0.693_359_4))),
        f32x4_mul(n, f32x4_splat(-2.121_944_4e-4)),
    );
    let mut p = f32x4_splat(1.987_569_1e-4);
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        0.166_666_65,
        0.5,
    ] {
        p = f32x4_add(f32x4_mul(p, r), f32x4_splat(c));
    }
    let y = f32x4_add(
        f32x4_add(f32x4_mul(p, f32x4_mul(r, r)), r),
        f32x4_splat(1.0),
    );
    let pow2n = i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(n), i32x4_splat(127)), 23);
    v128_andnot(f32x4_mul(y, pow2n), underflow)
}

/// T5's layer norm of each row of `xs` (`[..., d]`, f32), scaled by `alpha` (`[d]`): candle-nn's
/// `rms_norm` arithmetic (the same sum in the same order, so the same bits), with the rows of a
/// long input shared over threads through [`map_rows_mut`]. candle-nn hands more than 32 rows to
/// rayon's `par_chunks`, whose caller sleeps until woken pool threads are done: in the threaded
/// build the encoder's norms and residual adds then took 13 ms of a 489-token encode, against
/// 5 ms on one thread.
pub fn rms_norm(xs: &Tensor, alpha: &Tensor, eps: f32) -> Result<Tensor> {
    let d = xs.dim(D::Minus1)?;
    if alpha.dims1()? != d || xs.dtype() != DType::F32 || alpha.dtype() != DType::F32 {
        return Ok(candle_nn::ops::rms_norm(xs, alpha, eps)?);
    }
    let mut out = vec![0f32; xs.elem_count()];
    with_f32(xs, |x| {
        with_f32(alpha, |alpha| {
            map_rows_mut(&mut out, d, x.len(), |r, dst| {
                let src = &x[r * d..(r + 1) * d];
                let sum2 = src.iter().map(|&v| v * v).sum::<f32>();
                let m = (sum2 / d as f32 + eps).sqrt();
                for ((o, &v), &a) in dst.iter_mut().zip(src).zip(alpha) {
                    *o = v / m * a;
                }
            });
            Ok(())
        })
    })?;
    Ok(Tensor::from_vec(out, xs.dims(), xs.device())?)
}

/// `v = if v < 0 { 0 } else { v }` for each value: with SIMD128 four lanes at a time, as a
/// pseudo-max (`v < 0 ? 0 : v`, one
/// instruction on x86; written as a compare in a loop it may become a branch per value, which
/// the signs of a layer's outputs make unpredictable).
fn relu_in_place(values: &mut [f32]) {
    #[cfg(target_feature = "simd128")]
    {
        use core::arch::wasm32::*;
        let mut chunks = values.chunks_exact_mut(4);
        for c in &mut chunks {
            // SAFETY: a chunk holds 4 f32.
            unsafe {
                let v = v128_load(c.as_ptr() as *const v128);
                v128_store(c.as_mut_ptr() as *mut v128, f32x4_pmax(v, f32x4_splat(0.0)));
            }
        }
        for v in chunks.into_remainder() {
            *v = if *v < 0.0 { 0.0 } else { *v };
        }
    }
    #[cfg(not(target_feature = "simd128"))]
    for v in values {
        *v = if *v < 0.0 { 0.0 } else { *v };
    }
}

/// A bias-free linear layer: candle's `QMatMul` (the reference path, used for many rows) and,
/// for f32 and q8_0 weights, the few-row kernels above; or int8 rows, which only the int8
/// kernel multiplies.
pub struct Linear {
    weight: Weight,
    /// Block facts of q8_0 weights, made when the kernels are first enabled.
    q8_0_blocks: Option<Q8_0Blocks>,
    /// Rows up to which the kernels run (0: never).
    kernel_rows: usize,
}

enum Weight {
    Candle(QMatMul),
    Int8(std::sync::Arc<Int8Rows>),
}

/// Whether this build runs the kernels by default: only with SIMD128 (wasm). Native builds have
/// candle's AVX paths, which are faster than a portable loop.
pub const KERNELS_BY_DEFAULT: bool = cfg!(target_feature = "simd128");

impl Linear {
    /// Wraps `reference`; where [`KERNELS_BY_DEFAULT`], f32 and q8_0 products of any number of
    /// rows go through the kernels (in headless Chromium they beat candle's packed GEMM by
    /// about 1.3× on t5-small's 512-row encoder products, and its generic quantized matmul by
    /// more).
    pub fn new(reference: QMatMul) -> Self {
        let mut layer = Linear {
            weight: Weight::Candle(reference),
            q8_0_blocks: None,
            kernel_rows: 0,
        };
        if KERNELS_BY_DEFAULT {
            layer.set_kernel_rows(usize::MAX);
        }
        layer
    }

    /// A layer of int8 rows: every product, of any number of rows, goes through
    /// [`matmul_int8`] (candle has no such type, so there is no reference path).
    pub fn int8(rows: impl Into<std::sync::Arc<Int8Rows>>) -> Self {
        Linear {
            weight: Weight::Int8(rows.into()),
            q8_0_blocks: None,
            kernel_rows: usize::MAX,
        }
    }

    /// The rows of `parts`' weights, one after another, as one layer (`[.., in]` to the parts'
    /// outputs side by side), which runs as one product: one pass over the input, one
    /// quantization of it, one split over threads. `None` where the weights cannot be joined
    /// (candle's quantized types, mixed types or row lengths).
    pub fn stack(parts: &[&Linear]) -> Option<Linear> {
        let first = parts.first()?;
        let weight = match &first.weight {
            Weight::Int8(_) => {
                let rows = parts
                    .iter()
                    .map(|p| match &p.weight {
                        Weight::Int8(r) => Some(&**r),
                        Weight::Candle(_) => None,
                    })
                    .collect::<Option<Vec<_>>>()?;
                Weight::Int8(std::sync::Arc::new(Int8Rows::stack(&rows)?))
            }
            Weight::Candle(first_weight @ (QMatMul::Tensor(_) | QMatMul::TensorF16(_))) => {
                // Every part of the same kind as the first (cat refuses mixed dtypes).
                let tensors = parts
                    .iter()
                    .map(|p| match (&p.weight, first_weight) {
                        (Weight::Candle(QMatMul::Tensor(t)), QMatMul::Tensor(_))
                        | (Weight::Candle(QMatMul::TensorF16(t)), QMatMul::TensorF16(_)) => Some(t),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?;
                let joined = Tensor::cat(&tensors, 0).ok()?;
                Weight::Candle(match first_weight {
                    QMatMul::TensorF16(_) => QMatMul::TensorF16(joined),
                    _ => QMatMul::Tensor(joined),
                })
            }
            Weight::Candle(QMatMul::QTensor(_)) => return None,
        };
        Some(Linear {
            weight,
            q8_0_blocks: None,
            kernel_rows: first.kernel_rows,
        })
    }

    /// The weights' type: `f32`, `q8_0`, ... (candle's), or `int8`.
    pub fn kind(&self) -> String {
        match &self.weight {
            Weight::Candle(QMatMul::QTensor(q)) => format!("{:?}", q.dtype()).to_lowercase(),
            Weight::Candle(QMatMul::Tensor(t) | QMatMul::TensorF16(t)) => {
                format!("{:?}", t.dtype()).to_lowercase()
            }
            Weight::Int8(_) => "int8".to_string(),
        }
    }

    /// Makes the kernels run for up to `rows` rows (0: always the reference path). Int8 layers
    /// always run their kernel.
    pub fn set_kernel_rows(&mut self, rows: usize) {
        let Weight::Candle(reference) = &self.weight else {
            return;
        };
        self.kernel_rows = rows;
        if let QMatMul::QTensor(q) = reference {
            if rows > 0 && q.dtype() == GgmlDType::Q8_0 && self.q8_0_blocks.is_none() {
                if let (Ok(data), Ok((n, k))) = (q.data(), q.shape().dims2()) {
                    self.q8_0_blocks = Some(Q8_0Blocks::new(&data, n, k / Q8_0_BLOCK));
                }
            }
        }
    }

    /// `xs · wᵀ` for `xs` of shape `[..., in]`.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let rows = xs.elem_count() / xs.dim(D::Minus1)?.max(1);
        if rows <= self.kernel_rows {
            if let Some(out) = self.forward_kernel_then(xs, false)? {
                return Ok(out);
            }
        }
        self.forward_reference(xs)
    }

    /// `relu(xs · wᵀ)`: on the kernel path the ReLU is applied to the product before it becomes a
    /// tensor (no second pass through candle); the reference path is candle's matmul and `relu`.
    pub fn forward_relu(&self, xs: &Tensor) -> Result<Tensor> {
        let rows = xs.elem_count() / xs.dim(D::Minus1)?.max(1);
        if rows <= self.kernel_rows {
            if let Some(out) = self.forward_kernel_then(xs, true)? {
                return Ok(out);
            }
        }
        Ok(self.forward_reference(xs)?.relu()?)
    }

    /// `xs · wᵀ` for `xs` `[b, seq, in]` with the output's columns taken as `parts` of
    /// attention heads ([`HeadsLayout`]), written head-major by the kernel as it makes them:
    /// `[parts, b, heads, seq, d_kv]`. `None` where no kernel runs (candle's reference path,
    /// candle's quantized types) or the shapes do not fit the layout.
    pub fn forward_heads(&self, xs: &Tensor, layout: HeadsLayout) -> Result<Option<Tensor>> {
        let (b, seq, k) = xs.dims3()?;
        let width = layout.heads * layout.d_kv;
        let m = b * seq;
        let fits = |n: usize| {
            seq == layout.seq && layout.d_kv % BLOCK_COLS == 0 && width > 0 && n % width == 0
        };
        if xs.dtype() != DType::F32 || !xs.device().is_cpu() || m > self.kernel_rows {
            return Ok(None);
        }
        let product = with_f32(xs, |x| {
            Ok(match &self.weight {
                Weight::Int8(w) => {
                    let (n, wk) = w.dims();
                    (wk == k && fits(n)).then(|| {
                        let y = written(m * n, |y| {
                            matmul_int8_then::<false>(x, m, w, Out::heads(y, m, n, layout))
                        });
                        (n, y)
                    })
                }
                Weight::Candle(QMatMul::Tensor(w)) if w.dtype() == DType::F32 => {
                    let (n, wk) = w.dims2()?;
                    if wk != k || !fits(n) {
                        return Ok(None);
                    }
                    with_f32(w, |w| {
                        let y = written(m * n, |y| {
                            matmul_f32_into(x, m, w, n, k, Out::heads(y, m, n, layout))
                        });
                        Ok(Some((n, y)))
                    })?
                }
                _ => None,
            })
        })?;
        let Some((n, y)) = product else {
            return Ok(None);
        };
        let shape = (n / width, b, layout.heads, seq, layout.d_kv);
        Ok(Some(Tensor::from_vec(y, shape, &Device::Cpu)?))
    }

    /// candle's matmul (for int8 rows, which candle cannot multiply, the int8 kernel).
    pub fn forward_reference(&self, xs: &Tensor) -> Result<Tensor> {
        match &self.weight {
            Weight::Candle(reference) => Ok(reference.forward(xs)?),
            Weight::Int8(_) => self
                .forward_kernel_then(&xs.to_dtype(DType::F32)?, false)?
                .ok_or_else(|| {
                    candle_core::Error::Msg("int8 weights need activations on the CPU".into())
                        .into()
                }),
        }
    }

    /// The kernels' product, or `None` where they do not apply (weights neither f32, q8_0 nor
    /// int8, activations not f32 on the CPU, kernels never enabled for q8_0 weights).
    pub fn forward_kernel(&self, xs: &Tensor) -> Result<Option<Tensor>> {
        self.forward_kernel_then(xs, false)
    }

    /// [`Self::forward_kernel`], with ReLU applied to the product when `relu`.
    fn forward_kernel_then(&self, xs: &Tensor, relu: bool) -> Result<Option<Tensor>> {
        if xs.dtype() != DType::F32 || !xs.device().is_cpu() {
            return Ok(None);
        }
        let mut dims = xs.dims().to_vec();
        let k = *dims.last().unwrap_or(&0);
        let m = xs.elem_count() / k.max(1);
        let xs = xs.contiguous()?;
        let (xs_storage, xs_layout) = xs.storage_and_layout();
        let Storage::Cpu(xs_cpu) = &*xs_storage else {
            return Ok(None);
        };
        let x = &xs_cpu.as_slice::<f32>()?[xs_layout.start_offset()..][..m * k];
        let mut y = match &self.weight {
            Weight::Int8(w) => {
                let (n, wk) = w.dims();
                if wk != k {
                    return Ok(None);
                }
                let y = written(m * n, |y| match relu {
                    true => matmul_int8_then::<true>(x, m, w, Out::at(y, n)),
                    false => matmul_int8_then::<false>(x, m, w, Out::at(y, n)),
                });
                *dims.last_mut().expect("rank >= 1") = n;
                return Ok(Some(Tensor::from_vec(y, dims, &Device::Cpu)?));
            }
            Weight::Candle(QMatMul::Tensor(w) | QMatMul::TensorF16(w))
                if w.dtype() == DType::F32 =>
            {
                let (n, wk) = w.dims2()?;
                if wk != k {
                    return Ok(None);
                }
                let (w_storage, w_layout) = w.storage_and_layout();
                let Storage::Cpu(w_cpu) = &*w_storage else {
                    return Ok(None);
                };
                let Some((a, b)) = w_layout.contiguous_offsets() else {
                    return Ok(None);
                };
                let w = &w_cpu.as_slice::<f32>()?[a..b];
                let y = written(m * n, |y| matmul_f32_into(x, m, w, n, k, Out::at(y, n)));
                *dims.last_mut().expect("rank >= 1") = n;
                y
            }
            Weight::Candle(QMatMul::QTensor(q)) if q.dtype() == GgmlDType::Q8_0 => {
                let (n, wk) = q.shape().dims2()?;
                let Some(info) = &self.q8_0_blocks else {
                    return Ok(None);
                };
                if wk != k || k % Q8_0_BLOCK != 0 {
                    return Ok(None);
                }
                let data = q.data()?;
                let mut y = vec![0f32; m * n];
                matmul_q8_0(x, m, &data, info, n, k, &mut y);
                *dims.last_mut().expect("rank >= 1") = n;
                y
            }
            _ => return Ok(None),
        };
        if relu {
            relu_in_place(&mut y);
        }
        Ok(Some(Tensor::from_vec(y, dims, &Device::Cpu)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_kernel_matches_a_plain_product_with_a_tail() {
        let (m, n, k) = (3, 7, 10);
        let x: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut y = vec![0f32; m * n];
        matmul_f32(&x, m, &w, n, k, &mut y);
        for r in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|i| x[r * k + i] * w[j * k + i]).sum();
                assert!((y[r * n + j] - want).abs() < 1e-5);
            }
        }
    }
}
