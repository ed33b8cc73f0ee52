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

/// Where the kernels write: every `(row, column)` of the output by exactly one column range,
/// so ranges may run on different threads.
#[derive(Clone, Copy)]
struct Out {
    ptr: *mut f32,
    n: usize,
}

// SAFETY: the ranges handed out by `split_columns` are disjoint, so no element is written twice
// or written while read; the output outlives the (scoped) parallel region.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    fn new(y: &mut [f32], m: usize, n: usize) -> Self {
        assert!(y.len() >= m * n);
        Out {
            ptr: y.as_mut_ptr(),
            n,
        }
    }

    /// Writes `y[r][j..j + values.len()]`.
    #[inline(always)]
    fn put(&self, r: usize, j: usize, values: &[f32]) {
        // SAFETY: `new` checked the length; callers stay within their own columns.
        unsafe {
            std::ptr::copy_nonoverlapping(
                values.as_ptr(),
                self.ptr.add(r * self.n + j),
                values.len(),
            )
        }
    }
}

/// Multiply-adds below which a product is not worth splitting over threads.
#[cfg(feature = "threads")]
const PARALLEL_MIN_WORK: usize = 1 << 16;

/// Runs `f` over column ranges covering `0..n` (multiples of 4 long, but the last): in parallel on
/// the rayon pool in threaded builds when the product is big enough, else as one range.
fn split_columns(n: usize, work: usize, f: impl Fn(std::ops::Range<usize>) + Sync) {
    #[cfg(feature = "threads")]
    {
        let threads = rayon::current_num_threads();
        if threads > 1 && work >= PARALLEL_MIN_WORK && n >= 8 {
            use rayon::prelude::*;
            // A few ranges per thread, so a thread slowed by the page still finishes in step.
            let step = (n.div_ceil(threads * 4) + 3) & !3;
            (0..n.div_ceil(step))
                .into_par_iter()
                .for_each(|c| f(c * step..((c + 1) * step).min(n)));
            return;
        }
    }
    let _ = work;
    f(0..n)
}

/// `y[r * n + j] = x[r * k ..][..k] · w[j * k ..][..k]` for `m` rows of `x` and `n` rows of `w`.
pub fn matmul_f32(x: &[f32], m: usize, w: &[f32], n: usize, k: usize, y: &mut [f32]) {
    assert!(x.len() >= m * k && w.len() >= n * k);
    let out = Out::new(y, m, n);
    split_columns(n, m * n * k, |cols| {
        let mut j = cols.start;
        while j + 4 <= cols.end {
            let rows = [
                &w[j * k..(j + 1) * k],
                &w[(j + 1) * k..(j + 2) * k],
                &w[(j + 2) * k..(j + 3) * k],
                &w[(j + 3) * k..(j + 4) * k],
            ];
            for r in 0..m {
                out.put(r, j, &dot4_f32(&x[r * k..(r + 1) * k], rows));
            }
            j += 4;
        }
        for j in j..cols.end {
            let row = &w[j * k..(j + 1) * k];
            for r in 0..m {
                let dot: f32 = row
                    .iter()
                    .zip(&x[r * k..(r + 1) * k])
                    .map(|(a, b)| a * b)
                    .sum();
                out.put(r, j, &[dot]);
            }
        }
    });
}

#[cfg(target_feature = "simd128")]
fn dot4_f32(x: &[f32], w: [&[f32]; 4]) -> [f32; 4] {
    use core::arch::wasm32::*;
    let k = x.len();
    let mut acc = [f32x4_splat(0.0); 4];
    let mut i = 0;
    // SAFETY: every load reads 4 f32 at i < k - 3 of slices of length k.
    unsafe {
        while i + 4 <= k {
            let xv = v128_load(x.as_ptr().add(i) as *const v128);
            for t in 0..4 {
                let wv = v128_load(w[t].as_ptr().add(i) as *const v128);
                acc[t] = f32x4_add(acc[t], f32x4_mul(wv, xv));
            }
            i += 4;
        }
    }
    let mut out = [0f32; 4];
    for t in 0..4 {
        let a = acc[t];
        out[t] = (f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a))
            + (f32x4_extract_lane::<2>(a) + f32x4_extract_lane::<3>(a));
        for i in i..k {
            out[t] += x[i] * w[t][i];
        }
    }
    out
}

#[cfg(not(target_feature = "simd128"))]
fn dot4_f32(x: &[f32], w: [&[f32]; 4]) -> [f32; 4] {
    w.map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
}

/// One activation row quantized to q8_0 as candle does it (`BlockQ8_0::from_float`): per block
/// of 32, scale `amax / 127` rounded to f16, values rounded to int8 (kept widened to int16).
struct QuantizedRow {
    scales: Vec<f32>,
    values: Vec<i16>,
}

fn quantize_row_q8_0(x: &[f32]) -> QuantizedRow {
    let blocks = x.len() / Q8_0_BLOCK;
    let mut scales = Vec::with_capacity(blocks);
    let mut values = Vec::with_capacity(x.len());
    for block in x.chunks_exact(Q8_0_BLOCK) {
        let amax = block.iter().fold(0f32, |a, v| a.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        scales.push(f16::from_f32(d).to_f32());
        values.extend(block.iter().map(|v| (v * id).round() as i8 as i16));
    }
    QuantizedRow { scales, values }
}

/// The f32 value of every block scale of q8_0 data (`w` as `n × k / 32` blocks), row by row:
/// converting f16 in the inner loop costs more than the multiply it scales.
pub fn q8_0_scales(w: &[u8]) -> Vec<f32> {
    w.chunks_exact(Q8_0_BLOCK_BYTES)
        .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
        .collect()
}

/// `y = x · wᵀ` with `w` as `n` rows of `k / 32` q8_0 blocks (`k` a multiple of 32) whose scales
/// are `scales` (see [`q8_0_scales`]): the activations are quantized to q8_0 first, as candle's
/// quantized matmul does.
pub fn matmul_q8_0(
    x: &[f32],
    m: usize,
    w: &[u8],
    scales: &[f32],
    n: usize,
    k: usize,
    y: &mut [f32],
) {
    assert!(k % Q8_0_BLOCK == 0);
    let blocks = k / Q8_0_BLOCK;
    let row_bytes = blocks * Q8_0_BLOCK_BYTES;
    assert!(x.len() >= m * k && w.len() >= n * row_bytes);
    assert!(scales.len() >= n * blocks);
    let rows: Vec<QuantizedRow> = (0..m)
        .map(|r| quantize_row_q8_0(&x[r * k..(r + 1) * k]))
        .collect();
    let out = Out::new(y, m, n);
    split_columns(n, m * n * k, |cols| {
        let mut j = cols.start;
        while j + 4 <= cols.end {
            let group = &w[j * row_bytes..(j + 4) * row_bytes];
            let group_scales = &scales[j * blocks..(j + 4) * blocks];
            for (r, xq) in rows.iter().enumerate() {
                out.put(r, j, &dot4_q8_0(xq, group, group_scales, blocks));
            }
            j += 4;
        }
        for j in j..cols.end {
            let row = &w[j * row_bytes..(j + 1) * row_bytes];
            let row_scales = &scales[j * blocks..(j + 1) * blocks];
            for (r, xq) in rows.iter().enumerate() {
                out.put(r, j, &[dot_q8_0(xq, row, row_scales, blocks)]);
            }
        }
    });
}

/// One activation row against one weight row (the tail of `matmul_q8_0`).
fn dot_q8_0(x: &QuantizedRow, row: &[u8], scales: &[f32], blocks: usize) -> f32 {
    let mut acc = 0f32;
    for b in 0..blocks {
        let q = &row[b * Q8_0_BLOCK_BYTES + 2..(b + 1) * Q8_0_BLOCK_BYTES];
        let xs = &x.values[b * Q8_0_BLOCK..(b + 1) * Q8_0_BLOCK];
        let sum: i32 = q
            .iter()
            .zip(xs)
            .map(|(&w, &v)| w as i8 as i32 * v as i32)
            .sum();
        acc += sum as f32 * (scales[b] * x.scales[b]);
    }
    acc
}

#[cfg(not(target_feature = "simd128"))]
fn dot4_q8_0(x: &QuantizedRow, group: &[u8], scales: &[f32], blocks: usize) -> [f32; 4] {
    let row_bytes = blocks * Q8_0_BLOCK_BYTES;
    std::array::from_fn(|t| {
        dot_q8_0(
            x,
            &group[t * row_bytes..(t + 1) * row_bytes],
            &scales[t * blocks..(t + 1) * blocks],
            blocks,
        )
    })
}

/// Four consecutive weight rows (`group`) against one activation row: the activation block is
/// loaded once for all four; per block the int32 lane sums are scaled and added in f32 lanes.
#[cfg(target_feature = "simd128")]
fn dot4_q8_0(x: &QuantizedRow, group: &[u8], scales: &[f32], blocks: usize) -> [f32; 4] {
    use core::arch::wasm32::*;
    let row_bytes = blocks * Q8_0_BLOCK_BYTES;
    let mut acc = [f32x4_splat(0.0); 4];
    for b in 0..blocks {
        // SAFETY: x.values holds blocks * 32 i16; each weight row holds `blocks` blocks of
        // 34 bytes, the 32 int8 values at +2; scales holds 4 * blocks; all reads stay inside.
        unsafe {
            let xp = x.values.as_ptr().add(b * Q8_0_BLOCK);
            let x0 = v128_load(xp as *const v128);
            let x1 = v128_load(xp.add(8) as *const v128);
            let x2 = v128_load(xp.add(16) as *const v128);
            let x3 = v128_load(xp.add(24) as *const v128);
            let dx = x.scales[b];
            for (t, acc) in acc.iter_mut().enumerate() {
                let at = t * row_bytes + b * Q8_0_BLOCK_BYTES;
                let wp = group.as_ptr().add(at + 2) as *const i8;
                let s = i32x4_add(
                    i32x4_add(
                        i32x4_dot_i16x8(i16x8_load_extend_i8x8(wp), x0),
                        i32x4_dot_i16x8(i16x8_load_extend_i8x8(wp.add(8)), x1),
                    ),
                    i32x4_add(
                        i32x4_dot_i16x8(i16x8_load_extend_i8x8(wp.add(16)), x2),
                        i32x4_dot_i16x8(i16x8_load_extend_i8x8(wp.add(24)), x3),
                    ),
                );
                let d = *scales.get_unchecked(t * blocks + b) * dx;
                *acc = f32x4_add(*acc, f32x4_mul(f32x4_convert_i32x4(s), f32x4_splat(d)));
            }
        }
    }
    acc.map(|a| {
        (f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a))
            + (f32x4_extract_lane::<2>(a) + f32x4_extract_lane::<3>(a))
    })
}

/// A bias-free linear layer: candle's `QMatMul` (the reference path, used for many rows) and,
/// for f32 and q8_0 weights, the few-row kernels above.
pub struct Linear {
    reference: QMatMul,
    /// f32 block scales of q8_0 weights, made when the kernels are first enabled.
    q8_0_scales: Option<Vec<f32>>,
    /// Rows up to which the kernels run (0: never).
    kernel_rows: usize,
}

/// Whether this build runs the kernels by default: only with SIMD128 (wasm). Native builds have
/// candle's AVX paths, which are faster than a portable loop.
pub const KERNELS_BY_DEFAULT: bool = cfg!(target_feature = "simd128");

/// Up to this many rows (hypotheses × positions) f32 products go through the kernel; beyond,
/// candle's packed GEMM wins (measured in headless Chromium, t5-small shape: at 512 rows the
/// kernel gave no gain). q8_0 products always do: candle's generic quantized matmul took
/// 3.6 s to encode 512 tokens where the kernel takes 2.0 s.
pub const F32_KERNEL_MAX_ROWS: usize = 16;

impl Linear {
    /// Wraps `reference`; where [`KERNELS_BY_DEFAULT`], q8_0 weights always go through the
    /// kernel and f32 weights up to [`F32_KERNEL_MAX_ROWS`] rows.
    pub fn new(reference: QMatMul) -> Self {
        let rows = match &reference {
            QMatMul::QTensor(_) => usize::MAX,
            _ => F32_KERNEL_MAX_ROWS,
        };
        let mut layer = Linear {
            reference,
            q8_0_scales: None,
            kernel_rows: 0,
        };
        if KERNELS_BY_DEFAULT {
            layer.set_kernel_rows(rows);
        }
        layer
    }

    /// Makes the kernels run for up to `rows` rows (0: always the reference path).
    pub fn set_kernel_rows(&mut self, rows: usize) {
        self.kernel_rows = rows;
        if let QMatMul::QTensor(q) = &self.reference {
            if rows > 0 && q.dtype() == GgmlDType::Q8_0 && self.q8_0_scales.is_none() {
                self.q8_0_scales = q.data().ok().map(|d| q8_0_scales(&d));
            }
        }
    }

    /// `xs · wᵀ` for `xs` of shape `[..., in]`.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let rows = xs.elem_count() / xs.dim(D::Minus1)?.max(1);
        if rows <= self.kernel_rows {
            if let Some(out) = self.forward_kernel(xs)? {
                return Ok(out);
            }
        }
        self.forward_reference(xs)
    }

    /// candle's matmul.
    pub fn forward_reference(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.reference.forward(xs)?)
    }

    /// The kernels' product, or `None` where they do not apply (weights neither f32 nor q8_0,
    /// activations not f32 on the CPU, kernels never enabled for q8_0 weights).
    pub fn forward_kernel(&self, xs: &Tensor) -> Result<Option<Tensor>> {
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
        let y = match &self.reference {
            QMatMul::Tensor(w) | QMatMul::TensorF16(w) if w.dtype() == DType::F32 => {
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
                let mut y = vec![0f32; m * n];
                matmul_f32(x, m, &w_cpu.as_slice::<f32>()?[a..b], n, k, &mut y);
                *dims.last_mut().expect("rank >= 1") = n;
                y
            }
            QMatMul::QTensor(q) if q.dtype() == GgmlDType::Q8_0 => {
                let (n, wk) = q.shape().dims2()?;
                let Some(scales) = &self.q8_0_scales else {
                    return Ok(None);
                };
                if wk != k || k % Q8_0_BLOCK != 0 {
                    return Ok(None);
                }
                let data = q.data()?;
                let mut y = vec![0f32; m * n];
                matmul_q8_0(x, m, &data, scales, n, k, &mut y);
                *dims.last_mut().expect("rank >= 1") = n;
                y
            }
            _ => return Ok(None),
        };
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
