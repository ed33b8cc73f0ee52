//! q8_0 products (candle's GGUF blocks: an f16 scale and 32 int8 values), activations quantized
//! per block on the fly.

use super::*;

/// One activation row quantized to q8_0 as candle does it (`BlockQ8_0::from_float`): per block
/// of 32, scale `amax / 127` rounded to f16, values rounded to int8 (kept widened to int16).
pub(super) struct QuantizedRow {
    scales: Vec<f32>,
    values: Vec<i16>,
}

pub(super) fn quantize_row_q8_0(x: &[f32]) -> QuantizedRow {
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
    QuantizedRow { scales, values }
}

#[cfg(not(target_feature = "simd128"))]
pub(super) fn abs_max(block: &[f32]) -> f32 {
    block.iter().fold(0f32, |a, v| a.max(v.abs()))
}

#[cfg(not(target_feature = "simd128"))]
pub(super) fn quantize_block(block: &[f32], id: f32, out: &mut [i16]) {
    for (o, v) in out.iter_mut().zip(block) {
        *o = (v * id).round() as i8 as i16;
    }
}

#[cfg(target_feature = "simd128")]
pub(super) fn abs_max(block: &[f32]) -> f32 {
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
pub(super) fn quantize_block(block: &[f32], id: f32, out: &mut [i16]) {
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
}

impl Q8_0Blocks {
    pub fn new(w: &[u8], n: usize, blocks: usize) -> Self {
        let at = |j: usize, b: usize| (j * blocks + b) * Q8_0_BLOCK_BYTES;
        let scales = interleave(n, blocks, |j, b| {
            f16::from_le_bytes([w[at(j, b)], w[at(j, b) + 1]]).to_f32()
        });
        Q8_0Blocks { scales }
    }
}

/// `f(row, block)` for every block of `n` rows, in the layout of [`Q8_0Blocks`].
pub(super) fn interleave<T>(n: usize, blocks: usize, f: impl Fn(usize, usize) -> T) -> Vec<T> {
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
    // Four weight rows from `j`: their blocks and scales.
    let group = |j: usize| {
        (
            &w[j * row_bytes..(j + 4) * row_bytes],
            &scales[j * blocks..(j + 4) * blocks],
        )
    };
    tiled_product(
        m,
        n,
        k,
        Out::new(y, m, n),
        |r, j| {
            let (g, s) = group(j);
            tile_q8_0([&rows[r], &rows[r + 1]], g, s, blocks)
        },
        |r, j| {
            let (g, s) = group(j);
            tile_q8_0([&rows[r]], g, s, blocks)[0]
        },
        |r, j| {
            let row = &w[j * row_bytes..(j + 1) * row_bytes];
            dot_q8_0(&rows[r], row, &scales[j * blocks..(j + 1) * blocks], blocks)
        },
    );
}

/// The exact integer dot product of block `b` of `x` with the 32 int8 values that start `q`.
pub(super) fn block_dot(q: &[u8], x: &QuantizedRow, b: usize) -> i32 {
    q[..Q8_0_BLOCK]
        .iter()
        .zip(&x.values[b * Q8_0_BLOCK..(b + 1) * Q8_0_BLOCK])
        .map(|(&w, &v)| w as i8 as i32 * v as i32)
        .sum()
}

/// One activation row against one weight row (the tail of `matmul_q8_0`).
pub(super) fn dot_q8_0(x: &QuantizedRow, row: &[u8], scales: &[f32], blocks: usize) -> f32 {
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
pub(super) fn tile_q8_0<const MR: usize>(
    x: [&QuantizedRow; MR],
    group: &[u8],
    scales: &[f32],
    blocks: usize,
) -> [[f32; 4]; MR] {
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
#[cfg(target_feature = "simd128")]
#[inline(always)]
pub(super) fn tile_q8_0<const MR: usize>(
    x: [&QuantizedRow; MR],
    group: &[u8],
    scales: &[f32],
    blocks: usize,
) -> [[f32; 4]; MR] {
    use core::arch::wasm32::*;
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
pub(super) fn lane_sums(s: [core::arch::wasm32::v128; 4]) -> core::arch::wasm32::v128 {
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
