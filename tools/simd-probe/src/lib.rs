//! Multiply-accumulate throughput of each WebAssembly SIMD operation a matrix kernel can be built
//! from, measured in the browser that runs the app: eight independent accumulators (enough to
//! hide every latency), operands from a small array that stays in L1, `n` rounds.
//! `run.mjs` reports GMAC/s per operation.

use core::arch::wasm32::*;

/// Zeroed 16-byte-aligned bytes for the operands (leaked: the probe lives for one page).
#[no_mangle]
pub extern "C" fn alloc(bytes: usize) -> *mut u8 {
    let v = vec![0u128; bytes.div_ceil(16)];
    Box::leak(v.into_boxed_slice()).as_mut_ptr() as *mut u8
}

const ACC: usize = 8;
const OPERANDS: usize = 64;

/// f32: `acc += a * b` as `f32x4.mul` then `f32x4.add` (SIMD128 has no fused multiply-add).
/// 4 MACs per step.
///
/// # Safety
/// `a` holds 64 vectors, `b` 8, `out` 8.
#[no_mangle]
pub unsafe extern "C" fn f32_mul_add(a: *const v128, b: *const v128, out: *mut v128, n: usize) {
    let mut acc = [f32x4_splat(0.0); ACC];
    for i in 0..n {
        let x = *a.add(i % OPERANDS);
        for (j, acc) in acc.iter_mut().enumerate() {
            *acc = f32x4_add(*acc, f32x4_mul(x, *b.add(j)));
        }
    }
    for (j, acc) in acc.iter().enumerate() {
        *out.add(j) = *acc;
    }
}

/// f32: `f32x4.relaxed_madd` (relaxed SIMD; fused where the machine has FMA). 4 MACs per step.
///
/// # Safety
/// As [`f32_mul_add`].
#[no_mangle]
#[target_feature(enable = "relaxed-simd")]
pub unsafe extern "C" fn f32_relaxed_madd(
    a: *const v128,
    b: *const v128,
    out: *mut v128,
    n: usize,
) {
    let mut acc = [f32x4_splat(0.0); ACC];
    for i in 0..n {
        let x = *a.add(i % OPERANDS);
        for (j, acc) in acc.iter_mut().enumerate() {
            *acc = f32x4_relaxed_madd(x, *b.add(j), *acc);
        }
    }
    for (j, acc) in acc.iter().enumerate() {
        *out.add(j) = *acc;
    }
}

/// int16 pairs: `i32x4.dot_i16x8_s` then `i32x4.add` (what the q8_0 kernels use, int8 widened to
/// int16). 8 MACs per step.
///
/// # Safety
/// As [`f32_mul_add`].
#[no_mangle]
pub unsafe extern "C" fn i16_dot_add(a: *const v128, b: *const v128, out: *mut v128, n: usize) {
    let mut acc = [i32x4_splat(0); ACC];
    for i in 0..n {
        let x = *a.add(i % OPERANDS);
        for (j, acc) in acc.iter_mut().enumerate() {
            *acc = i32x4_add(*acc, i32x4_dot_i16x8(x, *b.add(j)));
        }
    }
    for (j, acc) in acc.iter().enumerate() {
        *out.add(j) = *acc;
    }
}

/// int8: `i32x4.relaxed_dot_i8x16_i7x16_add_s` (relaxed SIMD; one operand limited to 7 bits).
/// 16 MACs per step.
///
/// # Safety
/// As [`f32_mul_add`].
#[no_mangle]
#[target_feature(enable = "relaxed-simd")]
pub unsafe extern "C" fn i8_relaxed_dot_add(
    a: *const v128,
    b: *const v128,
    out: *mut v128,
    n: usize,
) {
    let mut acc = [i32x4_splat(0); ACC];
    for i in 0..n {
        let x = *a.add(i % OPERANDS);
        for (j, acc) in acc.iter_mut().enumerate() {
            *acc = i32x4_relaxed_dot_i8x16_i7x16_add(x, *b.add(j), *acc);
        }
    }
    for (j, acc) in acc.iter().enumerate() {
        *out.add(j) = *acc;
    }
}
