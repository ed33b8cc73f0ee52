//! The browser half of the speed benchmark (`--features bench` builds only): one system per
//! fresh wasm instance, so the instance's memory size afterwards is that system's peak.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::clock::PerformanceClock;
use crate::bench::{self, AtLength, System};
use crate::metrics::{memory, Clock};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Measured {
    load_ms: f64,
    /// Peak bytes allocated through Rust's allocator from before loading (the stock systems'
    /// copy of the whole file included; the JS-side file bytes are not wasm memory).
    peak_heap_bytes: u64,
    lengths: Vec<AtLength>,
    /// With `compareSerial`: the same instance with the kernels kept on one thread, measured
    /// interleaved with `lengths`.
    #[serde(skip_serializing_if = "Option::is_none")]
    serial_lengths: Option<Vec<AtLength>>,
}

/// Loads `system` (`stock-f32`, `stock-quantized`, `ours`) from `weights` and times it (see
/// `crate::bench::measure`). Returns `{ loadMs, peakHeapBytes, lengths: [{ tokens, encodeMs,
/// decodeMsPerToken }] }`. With `compare_serial` (threaded builds) every repetition also runs
/// with the kernels on one thread, interleaved, reported as `serialLengths`.
#[wasm_bindgen(js_name = benchSystem)]
pub fn bench_system(
    system: &str,
    config_json: &str,
    weights: js_sys::Uint8Array,
    lengths: Vec<u32>,
    steps: u32,
    repeats: u32,
    compare_serial: bool,
) -> Result<JsValue, JsValue> {
    let err = |m: String| JsValue::from(js_sys::Error::new(&m));
    let system = System::parse(system).map_err(err)?;
    let vocab: serde_json::Value =
        serde_json::from_str(config_json).map_err(|e| err(e.to_string()))?;
    let vocab = vocab["vocab_size"].as_u64().unwrap_or(32128) as u32;
    let clock = PerformanceClock::new();
    let now = || clock.now_ms();
    memory::reset_peak();
    let before = memory::current_bytes();
    let t = now();
    let mut runner = bench::load(system, config_json, &super::JsBytes(weights))?;
    let load_ms = now() - t;
    let lengths: Vec<usize> = lengths.into_iter().map(|l| l as usize).collect();
    let (lengths, serial_lengths) = if compare_serial {
        let slots = [true, false].map(|parallel| bench::Slot {
            runner: 0,
            parallel,
        });
        let mut runners = [runner];
        let mut both = bench::measure_interleaved(
            &mut runners,
            &slots,
            &lengths,
            steps as usize,
            repeats as usize,
            vocab,
            &now,
            &crate::kernels::set_parallel,
        )
        .map_err(|e| err(e.to_string()))?;
        let serial = both.pop();
        (both.pop().unwrap_or_default(), serial)
    } else {
        let measured = bench::measure(
            runner.as_mut(),
            &lengths,
            steps as usize,
            repeats as usize,
            vocab,
            &now,
        )
        .map_err(|e| err(e.to_string()))?;
        (measured, None)
    };
    let out = Measured {
        load_ms,
        peak_heap_bytes: memory::peak_bytes().saturating_sub(before),
        lengths,
        serial_lengths,
    };
    serde_wasm_bindgen::to_value(&out).map_err(|e| err(e.to_string()))
}

/// Loads every `systems[i]` (as in `benchSystem`) from `weights[i]` (a `Uint8Array`) into this one
/// instance and times them interleaved (see `crate::bench::measure_interleaved`): the fair way
/// to compare them on a machine whose speed drifts. Returns one `[{ tokens, encodeMs,
/// decodeMsPerToken }]` per system.
#[wasm_bindgen(js_name = benchInterleaved)]
pub fn bench_interleaved(
    systems: Vec<String>,
    config_json: &str,
    weights: js_sys::Array,
    lengths: Vec<u32>,
    steps: u32,
    repeats: u32,
) -> Result<JsValue, JsValue> {
    let err = |m: String| JsValue::from(js_sys::Error::new(&m));
    if systems.len() != weights.length() as usize {
        return Err(err("benchInterleaved: one weights array per system".into()));
    }
    let vocab: serde_json::Value =
        serde_json::from_str(config_json).map_err(|e| err(e.to_string()))?;
    let vocab = vocab["vocab_size"].as_u64().unwrap_or(32128) as u32;
    let mut runners = Vec::new();
    for (i, name) in systems.iter().enumerate() {
        let system = System::parse(name).map_err(err)?;
        let bytes = js_sys::Uint8Array::new(&weights.get(i as u32));
        runners.push(bench::load(system, config_json, &super::JsBytes(bytes))?);
    }
    let slots: Vec<bench::Slot> = (0..runners.len())
        .map(|runner| bench::Slot {
            runner,
            parallel: true,
        })
        .collect();
    let clock = PerformanceClock::new();
    let now = || clock.now_ms();
    let lengths: Vec<usize> = lengths.into_iter().map(|l| l as usize).collect();
    let measured = bench::measure_interleaved(
        &mut runners,
        &slots,
        &lengths,
        steps as usize,
        repeats as usize,
        vocab,
        &now,
        &crate::kernels::set_parallel,
    )
    .map_err(|e| err(e.to_string()))?;
    serde_wasm_bindgen::to_value(&measured).map_err(|e| err(e.to_string()))
}

/// A kernel diagnostic (not a verdict): `matmul_int8` and `matmul_f32` on seeded `m × k`
/// activations and `n × k` weights, each timed `repeats` times with the kernels on all threads
/// and on one, interleaved (the int8 products in one pass, then the f32 ones). Returns
/// `{ int8Ms: [all, one], f32Ms: [all, one] }`, medians.
#[wasm_bindgen(js_name = benchKernels)]
pub fn bench_kernels(m: usize, n: usize, k: usize, repeats: u32) -> Result<JsValue, JsValue> {
    use crate::kernels::{matmul_f32, matmul_int8, set_parallel, Int8Rows};
    let clock = PerformanceClock::new();
    let value = |i: usize, p: usize| ((i * p) % 1000) as f32 / 500.0 - 1.0;
    let x: Vec<f32> = (0..m * k).map(|i| value(i, 7919)).collect();
    let w: Vec<f32> = (0..n * k).map(|i| value(i, 104_729)).collect();
    let q = Int8Rows::quantize(&w, n, k);
    let mut y = vec![0f32; m * n];
    let q4 = Int8Rows::quantize(&w[..4 * k], 4, k);
    let mut y4 = vec![0f32; m * 4];
    let mut quantize_times = [Vec::new(), Vec::new()];
    let mut times = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
    // The int8 products first, then the f32 ones: timed in turn (four-row int8, int8, f32), the
    // int8 product took up to 1.6× longer on one thread than in a pass of its own, which made
    // its speed-up on two look larger. An f32 product right before each int8 one did not
    // reproduce that, so what did is not known.
    let pass = |time: &mut dyn FnMut(usize)| {
        for _ in 0..repeats.max(1) + 1 {
            for (slot, parallel) in [true, false].into_iter().enumerate() {
                set_parallel(parallel);
                time(slot);
            }
        }
    };
    pass(&mut |slot| {
        let t = clock.now_ms();
        matmul_int8(&x, m, &q4, &mut y4);
        quantize_times[slot].push(clock.now_ms() - t);
        let t = clock.now_ms();
        matmul_int8(&x, m, &q, &mut y);
        times[0][slot].push(clock.now_ms() - t);
    });
    pass(&mut |slot| {
        let t = clock.now_ms();
        matmul_f32(&x, m, &w, n, k, &mut y);
        times[1][slot].push(clock.now_ms() - t);
    });
    // The int8 product with its weights out of the caches, as a decoder step meets its LM head
    // (the step's other weights and the cross-attention keys pass through the caches first):
    // 64 MB read before each one, more than the last-level cache.
    let flush = vec![1u8; 64 << 20];
    let mut cold_times = [Vec::new(), Vec::new()];
    pass(&mut |slot| {
        let sum = flush
            .chunks_exact(64)
            .fold(0u8, |s, c| s.wrapping_add(c[0]));
        std::hint::black_box(sum);
        let t = clock.now_ms();
        matmul_int8(&x, m, &q, &mut y);
        cold_times[slot].push(clock.now_ms() - t);
    });
    set_parallel(true);
    let median = |v: &mut Vec<f64>| {
        v.remove(0); // the warm-up
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [[mut i_all, mut i_one], [mut f_all, mut f_one]] = times;
    let [mut q_all, mut q_one] = quantize_times;
    let [mut c_all, mut c_one] = cold_times;
    let out = serde_json::json!({
        "int8Ms": [median(&mut i_all), median(&mut i_one)],
        "f32Ms": [median(&mut f_all), median(&mut f_one)],
        "int8FourRowsMs": [median(&mut q_all), median(&mut q_one)],
        "int8ColdMs": [median(&mut c_all), median(&mut c_one)],
    });
    out.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsValue::from(js_sys::Error::new(&e.to_string())))
}

/// A kernel diagnostic (not a verdict): the encoder's attention on seeded `[1, heads, s, d_kv]`
/// queries, keys and values with a position bias, timed `repeats` times with the kernels on all
/// threads, and its parts on one head: the scores (`matmul_f32`), the softmax, the context
/// (`matmul_f32_kn`). Returns `{ attentionMs, scoresMs, softmaxMs, contextMs }` (medians; the
/// parts per head).
#[wasm_bindgen(js_name = benchAttention)]
pub fn bench_attention(
    s: usize,
    heads: usize,
    d_kv: usize,
    repeats: u32,
) -> Result<JsValue, JsValue> {
    use crate::kernels::{attention, matmul_f32, matmul_f32_kn, softmax_row};
    use candle_core::{Device, Tensor};
    let clock = PerformanceClock::new();
    let err = |e: candle_core::Error| JsValue::from(js_sys::Error::new(&e.to_string()));
    let value = |i: usize, p: usize| ((i * p) % 1000) as f32 / 500.0 - 1.0;
    let seeded = |len: usize, p: usize| (0..len).map(|i| value(i, p)).collect::<Vec<f32>>();
    let t = |p: usize, shape: (usize, usize, usize, usize)| {
        let len = shape.0 * shape.1 * shape.2 * shape.3;
        Tensor::from_vec(seeded(len, p), shape, &Device::Cpu).map_err(err)
    };
    let (q, k, v) = (
        t(7919, (1, heads, s, d_kv))?,
        t(104_729, (1, heads, s, d_kv))?,
        t(31, (1, heads, s, d_kv))?,
    );
    let bias = t(17, (1, heads, s, s))?;
    let (qh, kh, vh) = (
        seeded(s * d_kv, 7919),
        seeded(s * d_kv, 104_729),
        seeded(s * d_kv, 31),
    );
    let bias_row = seeded(s, 17);
    let mut scores = vec![0f32; s * s];
    let mut ctx = vec![0f32; s * d_kv];
    let mut times = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..repeats.max(1) + 1 {
        let t0 = clock.now_ms();
        std::hint::black_box(
            attention(&q, &k, &v, Some(&bias)).map_err(|e| JsValue::from(e.to_string()))?,
        );
        let t1 = clock.now_ms();
        matmul_f32(&qh, s, &kh, s, d_kv, &mut scores);
        let t2 = clock.now_ms();
        for row in scores.chunks_exact_mut(s) {
            softmax_row(row, Some(&bias_row));
        }
        let t3 = clock.now_ms();
        matmul_f32_kn(&scores, s, &vh, s, d_kv, &mut ctx);
        let t4 = clock.now_ms();
        for (slot, ms) in [t1 - t0, t2 - t1, t3 - t2, t4 - t3].into_iter().enumerate() {
            times[slot].push(ms);
        }
    }
    let [a, sc, sm, cx] = times.map(|mut v| {
        v.remove(0);
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    });
    serde_json::json!({ "attentionMs": a, "scoresMs": sc, "softmaxMs": sm, "contextMs": cx })
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsValue::from(js_sys::Error::new(&e.to_string())))
}
