//! The kernels against candle (the reference path): products with f32 and q8_0 weights for one
//! row (greedy decoding), four (beams), many (encoding, past one chunk of rows), odd output counts
//! (the non-SIMD tail) and t5-small sizes; attention with a position bias and a causal mask;
//! softmax against an f64 one. Run natively (plain loops) and in the browser (SIMD128).

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Tensor};
use t5_summarizer::kernels::{self, Linear};

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
        // Past one chunk of rows, an odd row count (the one-row tile) and a column tail.
        (101, 37, 64),
        (512, 8, 64),
        // Enough activations that threaded builds quantize them on the pool.
        (256, 12, 512),
        // One row against an LM-head-sized matrix: the one product of a decoder step that
        // threaded builds split over the pool.
        (1, 4100, 512),
        // Split over the pool in threaded builds into blocks of 16 columns, the last range
        // two columns wide (below one group of four), with an odd row count.
        (131, 50, 512),
    ] {
        let x = Tensor::from_vec(values(m * k, 1 + m as u64), (1, m, k), &Device::Cpu).unwrap();
        let w = Tensor::from_vec(values(n * k, 7 + n as u64), (n, k), &Device::Cpu).unwrap();
        let mut f32_layer = Linear::new(QMatMul::Tensor(w.clone()));
        f32_layer.set_kernel_rows(usize::MAX);
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
        // The fused ReLU: exactly the product with its negatives zeroed.
        for layer in [&f32_layer, &q8_layer] {
            let flat = |t: Tensor| -> Vec<f32> { t.flatten_all().unwrap().to_vec1().unwrap() };
            let plain = flat(layer.forward(&x).unwrap());
            let relu = flat(layer.forward_relu(&x).unwrap());
            assert!(plain.iter().any(|&v| v < 0.0) && plain.iter().any(|&v| v > 0.0));
            let want: Vec<f32> = plain.iter().map(|&v| v.max(0.0)).collect();
            assert_eq!(relu, want, "relu m={m} n={n} k={k}");
        }
    }
    // Both forms of the relaxed-SIMD int8 tiles (elsewhere one tile, twice), then this
    // machine's choice.
    for form in [Some(false), Some(true), None] {
        kernels::force_split_relaxed_dot(form);
        check_int8();
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

/// The layer norm kernel gives candle-nn's bits, on one row, a few, and an encoder's worth
/// (which candle-nn, and in threaded builds the kernel, splits over threads).
pub fn check_rms_norm() {
    let d = 96;
    let alpha = Tensor::from_vec(values(d, 50), d, &Device::Cpu).unwrap();
    for rows in [1, 4, 33, 700] {
        let x = Tensor::from_vec(
            values(rows * d, 51 + rows as u64),
            (1, rows, d),
            &Device::Cpu,
        )
        .unwrap();
        let flat = |t: Tensor| -> Vec<f32> { t.flatten_all().unwrap().to_vec1().unwrap() };
        let got = kernels::rms_norm(&x, &alpha, 1e-6).unwrap();
        assert_eq!(got.dims(), x.dims());
        let want = candle_nn::ops::rms_norm(&x, &alpha, 1e-6).unwrap();
        assert_eq!(flat(got), flat(want), "{rows} rows");
    }
}

/// Layers stacked into one ([`Linear::stack`]) give each part's outputs side by side, equal to
/// the parts' own products (f32 and int8; int8 parts whose rows end inside a group of 8 only
/// as the last part); candle's quantized types are not stacked.
pub fn check_stacking() {
    let (m, k) = (37, 96);
    let x = Tensor::from_vec(values(m * k, 21), (1, m, k), &Device::Cpu).unwrap();
    let flat = |t: Tensor| -> Vec<f32> { t.flatten_all().unwrap().to_vec1().unwrap() };
    for (case, sizes) in [
        ("whole groups", vec![16, 8, 24]),
        ("ragged last", vec![8, 16, 13]),
    ] {
        let ws: Vec<Vec<f32>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| values(n * k, 30 + i as u64))
            .collect();
        let f32_parts: Vec<Linear> = ws
            .iter()
            .zip(&sizes)
            .map(|(w, &n)| {
                let t = Tensor::from_vec(w.clone(), (n, k), &Device::Cpu).unwrap();
                Linear::new(QMatMul::Tensor(t))
            })
            .collect();
        let int8_parts: Vec<Linear> = ws
            .iter()
            .zip(&sizes)
            .map(|(w, &n)| Linear::int8(kernels::Int8Rows::quantize(w, n, k)))
            .collect();
        for parts in [&f32_parts, &int8_parts] {
            let refs: Vec<&Linear> = parts.iter().collect();
            let stacked = Linear::stack(&refs).expect("these layers stack");
            assert_eq!(stacked.kind(), parts[0].kind());
            let got = flat(stacked.forward(&x).unwrap());
            let total: usize = sizes.iter().sum();
            assert_eq!(got.len(), m * total);
            let mut offset = 0;
            for (part, &n) in parts.iter().zip(&sizes) {
                let want = flat(part.forward(&x).unwrap());
                for r in 0..m {
                    assert_eq!(
                        got[r * total + offset..][..n],
                        want[r * n..][..n],
                        "{} {case}: row {r}, part at {offset}",
                        part.kind()
                    );
                }
                offset += n;
            }
        }
        // A part of rows ending inside a group, followed by another, does not stack.
        let ragged = [&int8_parts[2], &int8_parts[0]];
        assert!(sizes[2] % 8 == 0 || Linear::stack(&ragged).is_none());
    }
    // Written as heads by the kernel: each part `[b, heads, seq, d_kv]`, as the product's
    // columns reshaped and transposed.
    let (b, seq, heads, d_kv) = (2, 7, 2, 16);
    let width = heads * d_kv;
    let x = Tensor::from_vec(values(b * seq * k, 22), (b, seq, k), &Device::Cpu).unwrap();
    let ws: Vec<Vec<f32>> = (0..3).map(|i| values(width * k, 40 + i)).collect();
    let f32_parts: Vec<Linear> = ws
        .iter()
        .map(|w| {
            Linear::new(QMatMul::Tensor(
                Tensor::from_vec(w.clone(), (width, k), &Device::Cpu).unwrap(),
            ))
        })
        .collect();
    let int8_parts: Vec<Linear> = ws
        .iter()
        .map(|w| Linear::int8(kernels::Int8Rows::quantize(w, width, k)))
        .collect();
    for parts in [&f32_parts, &int8_parts] {
        let stacked = Linear::stack(&parts.iter().collect::<Vec<_>>()).unwrap();
        let layout = kernels::HeadsLayout { seq, heads, d_kv };
        let Some(all) = stacked.forward_heads(&x, layout).unwrap() else {
            // Only the int8 kernel runs everywhere; f32 products are candle's natively.
            assert_ne!(
                stacked.kind(),
                "int8",
                "int8 layers always run their kernel"
            );
            continue;
        };
        assert_eq!(all.dims(), &[3, b, heads, seq, d_kv]);
        for (p, part) in parts.iter().enumerate() {
            let want = part
                .forward(&x)
                .unwrap()
                .reshape((b, seq, heads, d_kv))
                .unwrap()
                .transpose(1, 2)
                .unwrap();
            assert_eq!(
                flat(all.get(p).unwrap()),
                flat(want),
                "{} part {p} as heads",
                part.kind()
            );
        }
        // A head size the layout cannot take (not a multiple of 16 columns): no kernel output.
        let odd = kernels::HeadsLayout {
            seq,
            heads: 4,
            d_kv: 8,
        };
        assert!(stacked.forward_heads(&x, odd).unwrap().is_none());
    }
    let w = Tensor::from_vec(values(64 * 64, 3), (64, 64), &Device::Cpu).unwrap();
    let q8 = || {
        Linear::new(QMatMul::QTensor(Arc::new(
            QTensor::quantize(&w, GgmlDType::Q8_0).unwrap(),
        )))
    };
    assert!(Linear::stack(&[&q8(), &q8()]).is_none());
    let k32 = Linear::int8(kernels::Int8Rows::quantize(&values(8 * 32, 4), 8, 32));
    let k64 = Linear::int8(kernels::Int8Rows::quantize(&values(8 * 64, 4), 8, 64));
    assert!(
        Linear::stack(&[&k32, &k64]).is_none(),
        "rows of different lengths"
    );
}

/// The activations the int8 kernel multiplies, back in f32: per row `s · (q − z)` with
/// `lo = min(0, min x)`, `hi = max(0, max x)`, `s = (hi − lo) / 127`, `z = round(−lo / s)`,
/// `q = clamp(round(x / s) + z, 0, 127)`.
fn int8_activations(x: &[f32], k: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks_exact(k) {
        let lo = row.iter().fold(0f32, |a, &v| a.min(v));
        let hi = row.iter().fold(0f32, |a, &v| a.max(v));
        let s = if hi > lo { (hi - lo) / 127.0 } else { 1.0 };
        let inv = 1.0 / s;
        let z = (-lo * inv).round().clamp(0.0, 127.0) as i32;
        out.extend(
            row.iter()
                .map(|&v| (((v * inv).round() as i32 + z).clamp(0, 127) - z) as f32 * s),
        );
    }
    out
}

/// The int8 kernel against the same product computed in f64 from its dequantized operands
/// (what it computes exactly, but for the final rounding), and against the f32 product
/// (the quantization error: within 3 % of the largest value on these inputs); one layer's
/// output equals its reference path's and its fused ReLU.
fn check_int8() {
    for (m, n, k) in [
        (1, 7, 64),
        (4, 13, 96),
        (3, 9, 40),
        (1, 2048, 512),
        (5, 512, 2048),
        (101, 37, 64),
        (256, 12, 512),
        (1, 4100, 512),
        (131, 50, 512),
    ] {
        let mut x = values(m * k, 11 + m as u64);
        // A post-ReLU row (all ≥ 0), and a row of zeros.
        if m > 2 {
            x[..k].iter_mut().for_each(|v| *v = v.max(0.0));
            x[k..2 * k].iter_mut().for_each(|v| *v = 0.0);
        }
        let w = values(n * k, 13 + n as u64);
        let rows = kernels::Int8Rows::quantize(&w, n, k);
        if k % 32 == 0 {
            // Converted straight from q8_0 blocks: the same rows as from their f32 values.
            let wt = Tensor::from_vec(w.clone(), (n, k), &Device::Cpu).unwrap();
            let q = QTensor::quantize(&wt, GgmlDType::Q8_0).unwrap();
            let deq: Vec<f32> = q
                .dequantize(&Device::Cpu)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(
                kernels::Int8Rows::from_q8_0(&q.data().unwrap(), n, k).dequantize(),
                kernels::Int8Rows::quantize(&deq, n, k).dequantize(),
                "int8 rows from q8_0 blocks, n={n} k={k}"
            );
        }
        let wq = rows.dequantize();
        let xq = int8_activations(&x, k);
        let layer = Linear::int8(rows);
        assert_eq!(layer.kind(), "int8");
        let xt = Tensor::from_vec(x.clone(), (1, m, k), &Device::Cpu).unwrap();
        let got: Vec<f32> = layer
            .forward(&xt)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(got.len(), m * n);
        let dot = |a: &[f32], b: &[f32]| -> f64 {
            a.iter().zip(b).map(|(&p, &q)| p as f64 * q as f64).sum()
        };
        let (mut exact_diff, mut f32_diff, mut scale) = (0f64, 0f64, 1f64);
        for r in 0..m {
            for j in 0..n {
                let g = got[r * n + j] as f64;
                let exact = dot(&xq[r * k..(r + 1) * k], &wq[j * k..(j + 1) * k]);
                let full = dot(&x[r * k..(r + 1) * k], &w[j * k..(j + 1) * k]);
                exact_diff = exact_diff.max((g - exact).abs());
                f32_diff = f32_diff.max((g - full).abs());
                scale = scale.max(full.abs());
            }
        }
        assert!(
            exact_diff <= 1e-5 * scale,
            "int8 m={m} n={n} k={k}: {exact_diff} from the exact product (largest {scale})"
        );
        assert!(
            f32_diff <= 0.03 * scale,
            "int8 m={m} n={n} k={k}: {f32_diff} from the f32 product (largest {scale})"
        );
        if m > 2 {
            assert!(got[n..2 * n].iter().all(|&v| v == 0.0), "a zero row");
        }
        let flat = |t: Tensor| -> Vec<f32> { t.flatten_all().unwrap().to_vec1().unwrap() };
        assert_eq!(flat(layer.forward_reference(&xt).unwrap()), got);
        let relu = flat(layer.forward_relu(&xt).unwrap());
        assert_eq!(relu, got.iter().map(|&v| v.max(0.0)).collect::<Vec<_>>());
    }
}

/// The largest difference between `got` and `want`, relative to the largest `want` (at least 1).
fn max_diff(got: &Tensor, want: &Tensor) -> f32 {
    assert_eq!(got.dims(), want.dims());
    let want: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
    let got: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
    let scale = want.iter().fold(1f32, |a, v| a.max(v.abs()));
    got.iter()
        .zip(&want)
        .fold(0f32, |a, (g, w)| a.max((g - w).abs()))
        / scale
}

/// Panics unless the attention kernel agrees with candle's ops (and softmax with an f64 one).
/// `len` logits over a wide range, the second masked (`-inf`) when there are more than two.
fn logit_row(len: usize, seed: u64) -> Vec<f32> {
    let mut row: Vec<f32> = values(len, seed + len as u64)
        .iter()
        .map(|v| v * 40.0)
        .collect();
    if len > 2 {
        row[1] = f32::NEG_INFINITY;
    }
    row
}

pub fn check_attention() {
    let dev = Device::Cpu;
    // (batch, heads, queries, keys, d_kv, bias batch, causal, key batch); keys of batch 1 are
    // shared by every query batch entry (beams attending to one encoder output).
    for (b, h, sq, sk, dk, bb, causal, kb) in [
        (1, 2, 6, 7, 16, 1, false, 1),
        (1, 1, 7, 9, 16, 1, true, 1),
        (2, 3, 5, 5, 8, 1, true, 2),
        (2, 2, 1, 13, 12, 2, false, 2),
        (1, 8, 64, 64, 64, 1, true, 1),
        (4, 3, 1, 21, 8, 1, false, 1),
        (3, 2, 4, 6, 12, 3, true, 1),
        // More queries than a block of work holds: blocks of one head, and blocks that span
        // batch entries sharing keys.
        (1, 2, 300, 40, 16, 1, true, 1),
        (3, 2, 100, 30, 8, 3, true, 1),
    ] {
        let t = |dims: &[usize], seed| {
            let n = dims.iter().product();
            Tensor::from_vec(values(n, seed), dims, &dev).unwrap()
        };
        let q = (t(&[b, h, sq, dk], 1) * 3.0).unwrap();
        let k = t(&[kb, h, sk, dk], 2);
        let v = t(&[kb, h, sk, dk], 3);
        let mut bias: Vec<f32> = values(bb * h * sq * sk, 4);
        if causal {
            for (at, x) in bias.iter_mut().enumerate() {
                let (i, j) = ((at / sk) % sq, at % sk);
                if j > i {
                    *x = f32::NEG_INFINITY;
                }
            }
        }
        let bias = Tensor::from_vec(bias, (bb, h, sq, sk), &dev).unwrap();
        for bias in [Some(&bias), None] {
            let got = kernels::attention(&q, &k, &v, bias).unwrap();
            let mut scores = q.broadcast_matmul(&k.t().unwrap()).unwrap();
            if let Some(bias) = bias {
                scores = scores.broadcast_add(bias).unwrap();
            }
            let probs = candle_nn::ops::softmax_last_dim(&scores).unwrap();
            let want = probs
                .broadcast_matmul(&v)
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .reshape((b, sq, h * dk))
                .unwrap();
            let diff = max_diff(&got, &want);
            assert!(
                diff <= 1e-5,
                "attention b={b} h={h} sq={sq} sk={sk} dk={dk} kb={kb} bias={}: differs by {diff}",
                bias.is_some()
            );
        }
    }
    // The log-softmax's max and sum of exponentials, up to a vocabulary-sized row (the sum's
    // f32 rounding grows with the length).
    for len in [1, 3, 4, 37, 512, 32129] {
        let row = logit_row(len, 11);
        let max = row.iter().fold(f32::NEG_INFINITY, |a, &x| a.max(x));
        let sum: f64 = row.iter().map(|&x| ((x - max) as f64).exp()).sum();
        let (got_max, got_sum) = kernels::max_and_sum_exp(&row);
        assert_eq!(got_max, max, "max len={len}");
        assert!(
            (got_sum as f64 - sum).abs() <= 2e-5 * sum,
            "sum of exponentials len={len}: {got_sum} vs {sum}"
        );
    }
    // Softmax to a few ulp over a wide range of logits, masked entries exactly 0.
    for len in [1, 3, 4, 37, 512] {
        let mut row = logit_row(len, 9);
        // The differences rounded to f32 as every implementation rounds them; then only the
        // exponential and the division may differ.
        let max = row.iter().fold(f32::NEG_INFINITY, |a, &x| a.max(x));
        let exps: Vec<f64> = row.iter().map(|&x| ((x - max) as f64).exp()).collect();
        let sum: f64 = exps.iter().sum();
        kernels::softmax_row(&mut row, None);
        for (i, (&got, e)) in row.iter().zip(&exps).enumerate() {
            let want = e / sum;
            assert!(
                (got as f64 - want).abs() <= 1e-6 * want + 1e-37,
                "softmax len={len} [{i}]: {got} vs {want}"
            );
        }
        if len > 2 {
            assert_eq!(row[1], 0.0);
        }
    }
}
