//! The few-row kernels against candle's matmul (the reference path), for f32 and q8_0 weights:
//! one row (greedy decoding), four (beams), odd output counts (the non-SIMD tail), and t5-small
//! sizes. Run natively (plain loops) and in the browser (SIMD128).

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Tensor};
use t5_summarizer::model::kernels::Linear;

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Panics unless every kernel result is within tolerance of its reference (relative to the
/// largest reference value).
pub fn check_kernels() {
    for (m, n, k) in [
        (1, 7, 64),
        (4, 13, 96),
        (1, 2048, 512),
        (3, 512, 2048),
        (1, 8, 32),
    ] {
        let x = Tensor::from_vec(values(m * k, 1 + m as u64), (1, m, k), &Device::Cpu).unwrap();
        let w = Tensor::from_vec(values(n * k, 7 + n as u64), (n, k), &Device::Cpu).unwrap();
        let f32_layer = Linear::new(QMatMul::Tensor(w.clone()));
        let q = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
        let mut q8_layer = Linear::new(QMatMul::QTensor(Arc::new(q)));
        q8_layer.set_kernel_rows(16);
        // q8_0 × q8_0 computed in f32 from the dequantized weights and activations: what the
        // kernel computes exactly (up to summation order).
        let deq = |t: &Tensor| {
            QTensor::quantize(t, GgmlDType::Q8_0)
                .unwrap()
                .dequantize(&Device::Cpu)
                .unwrap()
        };
        let exact_q8 = deq(&x.reshape((m, k)).unwrap())
            .matmul(&deq(&w).t().unwrap())
            .unwrap()
            .reshape((1, m, n))
            .unwrap();
        // candle's own quantized matmul: on x86 it quantizes the activations differently
        // (a repacked AVX path), so only a looser agreement holds there.
        let candle_q8 = q8_layer.forward_reference(&x).unwrap();
        for (name, layer, want, tolerance) in [
            (
                "f32",
                &f32_layer,
                f32_layer.forward_reference(&x).unwrap(),
                1e-5,
            ),
            ("q8_0 vs exact q8_0 product", &q8_layer, exact_q8, 1e-5),
            ("q8_0 vs candle", &q8_layer, candle_q8, 2e-2),
        ] {
            let got = layer
                .forward_kernel(&x)
                .unwrap()
                .unwrap_or_else(|| panic!("{name}: the kernel must apply"));
            assert_eq!(got.dims(), want.dims());
            let want: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
            let got: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
            let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
            let diff = got
                .iter()
                .zip(&want)
                .fold(0f32, |a, (g, w)| a.max((g - w).abs()));
            assert!(
                diff <= tolerance * scale.max(1.0),
                "{name} m={m} n={n} k={k}: kernel differs by {diff} (largest value {scale})"
            );
        }
    }
    // Weights the kernels do not cover fall back to the reference path.
    let w = Tensor::from_vec(values(256 * 256, 3), (256, 256), &Device::Cpu).unwrap();
    let q4k = Linear::new(QMatMul::QTensor(Arc::new(
        QTensor::quantize(&w, GgmlDType::Q4K).unwrap(),
    )));
    let x = Tensor::from_vec(values(256, 5), (1, 1, 256), &Device::Cpu).unwrap();
    assert!(q4k.forward_kernel(&x).unwrap().is_none());
    assert_eq!(q4k.forward(&x).unwrap().dims(), &[1, 1, 256]);
}
