//! int8 rows with one scale each, int32 accumulation over the whole row, activations quantized
//! per row to 7 bits: the SIMD128, relaxed-SIMD and plain tiles.

use super::*;

/// Values the int8 kernel loads 16 bytes at a time: `i8`, `u8` and `i16`, for which all-zero
/// bytes are a valid value.
///
/// # Safety
/// Implementors must be plain integers: every bit pattern valid, no drop, no padding.
pub(super) unsafe trait Plain: Copy {}
// SAFETY: plain integers.
unsafe impl Plain for i8 {}
// SAFETY: plain integers.
unsafe impl Plain for u8 {}
// SAFETY: plain integers.
unsafe impl Plain for i16 {}

/// One 64-byte cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Line([u8; 64]);

/// `len` values starting on a cache-line boundary, zero-filled when made. The allocator aligns
/// a `Vec<u8>` to 8 bytes at best, so a quarter of the kernel's 16-byte loads from one could
/// straddle two cache lines, and how many did depended on where a buffer happened to land (in
/// the kernel diagnostic, before the buffers were aligned, the threaded build's one thread ran
/// the same int8 products up to 1.4× slower than the single-thread build's; aligned, equally
/// fast).
pub(super) struct Aligned<T: Plain> {
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
pub(super) const INT8_STEP: usize = 16;

/// Weight rows interleaved in [`Int8Rows::values`].
pub(super) const INT8_GROUP: usize = 8;

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
pub(super) struct Int8Activations {
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
pub(super) type Act = u8;
#[cfg(not(all(target_feature = "simd128", target_feature = "relaxed-simd")))]
pub(super) type Act = i16;

/// The smallest and largest of `row` and 0.
pub(super) fn min_max(row: &[f32]) -> (f32, f32) {
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
pub(super) fn quantize_activation_row(row: &[f32], out: &mut [Act]) -> (f32, i32) {
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

pub(super) fn quantize_activations(x: &[f32], m: usize, k: usize) -> Int8Activations {
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
pub(super) fn matmul_int8_then<const RELU: bool>(x: &[f32], m: usize, w: &Int8Rows, dst: Out) {
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
pub(super) const FEW_ROWS: usize = 4;

/// Where value `i` of member `c` of a group is in it ([`Int8Rows::values`]).
#[inline(always)]
pub(super) fn member_step(i: usize, c: usize) -> usize {
    i / INT8_STEP * INT8_STEP * INT8_GROUP + c * INT8_STEP + i % INT8_STEP
}

/// `MR` activation rows against four weight rows, half `half` of a group (`group`,
/// [`INT8_GROUP`] rows of `padded` values, interleaved): the exact integer dot products.
/// (`SPLIT` only matters to the relaxed-SIMD tile.)
#[cfg(not(target_feature = "simd128"))]
pub(super) fn tile_int8<const MR: usize, const SPLIT: bool>(
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
pub(super) fn tile_int8_group<const SPLIT: bool>(
    x: &[Act],
    group: &[i8],
    padded: usize,
) -> [i32; INT8_GROUP] {
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
pub(super) fn tile_int8<const MR: usize, const SPLIT: bool>(
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
pub(super) fn tile_int8_group<const SPLIT: bool>(
    x: &[Act],
    group: &[i8],
    padded: usize,
) -> [i32; INT8_GROUP] {
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
pub(super) fn tile_int8<const MR: usize, const SPLIT: bool>(
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
pub(super) fn tile_int8_group<const SPLIT: bool>(
    x: &[Act],
    group: &[i8],
    padded: usize,
) -> [i32; INT8_GROUP] {
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
pub(super) fn relaxed_dot<const SPLIT: bool>(
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
pub(super) fn group_lanes(acc: [core::arch::wasm32::v128; INT8_GROUP]) -> [i32; INT8_GROUP] {
    let [a0, a1, a2, a3, a4, a5, a6, a7] = acc;
    let (lo, hi) = (lanes_i32([a0, a1, a2, a3]), lanes_i32([a4, a5, a6, a7]));
    std::array::from_fn(|c| if c < 4 { lo[c] } else { hi[c - 4] })
}

/// Which form the relaxed int8 tiles use: `None` lets [`split_relaxed_dot`] decide by this
/// machine; tests set each in turn (both compute the same integers).
pub(super) static RELAXED_DOT_FORM: std::sync::atomic::AtomicU8 =
    std::sync::atomic::AtomicU8::new(0);

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
pub(super) fn split_relaxed_dot() -> bool {
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
pub(super) fn lanes_i32(acc: [core::arch::wasm32::v128; 4]) -> [i32; 4] {
    use core::arch::wasm32::*;
    let s = lane_sums(acc);
    [
        i32x4_extract_lane::<0>(s),
        i32x4_extract_lane::<1>(s),
        i32x4_extract_lane::<2>(s),
        i32x4_extract_lane::<3>(s),
    ]
}
