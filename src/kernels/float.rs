//! f32 products: `x · wᵀ` tiled over rows and columns, and `x · w` for `[k, n]` values.

use super::*;

/// Rows of `x` per pass over the weights: the chunk of activations stays in cache while every
/// group of four weight rows streams past it once.
pub(super) const ROW_CHUNK: usize = 96;

/// Columns per block of gathered outputs (see [`tiled_product`]): one 64-byte cache line of f32.
pub(super) const BLOCK_COLS: usize = 16;

/// The outputs of one chunk of rows and one block of columns, gathered before they are stored.
#[repr(C, align(64))]
pub(super) struct Gathered([[f32; BLOCK_COLS]; ROW_CHUNK]);

/// The loop the products share. Over the column ranges of [`split_columns`], chunks of
/// [`ROW_CHUNK`] rows and blocks of [`BLOCK_COLS`] columns, each group of four columns `j..j + 4`
/// is computed against two rows at a time (`pair(r, j)`: rows `r` and `r + 1`), an odd last row
/// (`one(r, j)`), and columns past the last group one by one (`single(r, j)`).
///
/// A block's outputs are gathered, then stored 64 bytes to a row. Stored as each group is done
/// (16 bytes a row, rows an output row apart: 2 KB and more, so a few cache sets took them
/// all), they cost a cache line per row per group.
pub(super) fn tiled_product(
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

/// `y[r * n + j] = x[r * k ..][..k] · w[j * k ..][..k]` for `m` rows of `x` and `n` rows of `w`.
///
/// Register-tiled: two activation rows against four weight rows at a time (eight accumulators,
/// each loaded operand used two or four times), activations in chunks of [`ROW_CHUNK`] rows.
/// The weights are used as stored (no packed copy).
pub fn matmul_f32(x: &[f32], m: usize, w: &[f32], n: usize, k: usize, y: &mut [f32]) {
    matmul_f32_into(x, m, w, n, k, Out::new(y, m, n))
}

/// [`matmul_f32`] into `out`.
pub(super) fn matmul_f32_into(x: &[f32], m: usize, w: &[f32], n: usize, k: usize, out: Out) {
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
pub(super) fn madd(
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
pub(super) fn tile_f32<const MR: usize>(x: &[f32], w: &[f32], k: usize) -> [[f32; 4]; MR] {
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
pub(super) fn tile_f32<const MR: usize>(x: &[f32], w: &[f32], k: usize) -> [[f32; 4]; MR] {
    std::array::from_fn(|r| {
        std::array::from_fn(|c| {
            let (x, w) = (&x[r * k..(r + 1) * k], &w[c * k..(c + 1) * k]);
            x.iter().zip(w).map(|(a, b)| a * b).sum()
        })
    })
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

pub(super) fn pad_rows<const MR: usize>(t: [[f32; 8]; MR]) -> [[f32; 8]; 4] {
    std::array::from_fn(|r| if r < MR { t[r] } else { [0.0; 8] })
}

/// `MR` rows of `x` (row stride `k`) against columns `j..j + 8` of `w` (`[k, n]`).
#[cfg(target_feature = "simd128")]
#[inline(always)]
pub(super) fn tile_kn<const MR: usize>(
    x: &[f32],
    k: usize,
    w: &[f32],
    n: usize,
    j: usize,
) -> [[f32; 8]; MR] {
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
pub(super) fn tile_kn<const MR: usize>(
    x: &[f32],
    k: usize,
    w: &[f32],
    n: usize,
    j: usize,
) -> [[f32; 8]; MR] {
    std::array::from_fn(|r| {
        std::array::from_fn(|c| (0..k).map(|i| x[r * k + i] * w[i * n + j + c]).sum())
    })
}
