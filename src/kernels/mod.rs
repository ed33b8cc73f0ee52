//! Hand-written kernels: the products, attention and row operations of the T5 forward pass,
//! where candle's general matmul spends more time packing and dispatching than multiplying.
//!
//! `y[r][j] = Σ_i x[r][i] · w[j][i]` with `w` stored as the linear layer's `[out, in]` rows, in
//! f32, in q8_0 blocks (an f16 scale and 32 int8 values) or in int8 rows. With WebAssembly
//! SIMD128 they use 128-bit lanes (f32x4 multiply-adds; int8 widened to int16 and
//! `i32x4.dot_i16x8_s`, or the relaxed int8 dot product); elsewhere a plain loop computes the same
//! thing. All are tested against candle's own ops (the reference path), natively and in the
//! browser (tests/common/kernels.rs).
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | where kernels write ([`HeadsLayout`], the output ranges), borrowing tensors as f32 |
//! | `pool.rs` | the thread pool and how work is split (column ranges, rows, heads) |
//! | `float.rs` | f32 products |
//! | `q8_0.rs` | q8_0 products |
//! | `int8.rs` | int8-row products ([`Int8Rows`]) |
//! | `attention.rs` | attention in blocks of queries |
//! | `softmax.rs` | softmax and the SIMD exponential |
//! | `norm.rs` | RMS norm and ReLU |
//! | `linear.rs` | the linear layer ([`Linear`]): which kernel multiplies which weights |

use candle_core::quantized::{GgmlDType, QMatMul};
use candle_core::{DType, Device, Module, Storage, Tensor, D};
use half::f16;

use crate::error::Result;

mod attention;
mod float;
mod int8;
mod linear;
mod norm;
mod pool;
mod q8_0;
mod softmax;

pub use attention::*;
pub use float::*;
pub use int8::*;
pub use linear::*;
pub use norm::*;
pub use pool::*;
pub use q8_0::*;
pub use softmax::*;

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

/// Borrows the f32 values of `t` (made contiguous first) for `f`.
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        return Err(candle_core::Error::Msg("kernels: tensor not on the CPU".into()).into());
    };
    f(&cpu.as_slice::<f32>()?[layout.start_offset()..][..t.elem_count()])
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
