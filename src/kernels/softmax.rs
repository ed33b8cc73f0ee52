//! Softmax and the SIMD exponential it uses (log-softmax of the searches too).

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
pub(super) fn softmax_in_place(row: &mut [f32]) {
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
pub(super) fn softmax_in_place(row: &mut [f32]) {
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
pub(super) fn row_max(row: &[f32]) -> f32 {
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
pub(super) fn exp_f32x4(x: core::arch::wasm32::v128) -> core::arch::wasm32::v128 {
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
