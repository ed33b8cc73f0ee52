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
            &crate::model::kernels::set_parallel,
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
        &crate::model::kernels::set_parallel,
    )
    .map_err(|e| err(e.to_string()))?;
    serde_wasm_bindgen::to_value(&measured).map_err(|e| err(e.to_string()))
}
