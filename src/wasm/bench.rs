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
}

/// Loads `system` (`stock-f32`, `stock-quantized`, `ours`) from `weights` and times it (see
/// `crate::bench::measure`). Returns `{ loadMs, peakHeapBytes, lengths: [{ tokens, encodeMs,
/// decodeMsPerToken }] }`.
#[wasm_bindgen(js_name = benchSystem)]
pub fn bench_system(
    system: &str,
    config_json: &str,
    weights: js_sys::Uint8Array,
    lengths: Vec<u32>,
    steps: u32,
    repeats: u32,
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
    let lengths = bench::measure(
        runner.as_mut(),
        &lengths,
        steps as usize,
        repeats as usize,
        vocab,
        &now,
    )
    .map_err(|e| err(e.to_string()))?;
    let out = Measured {
        load_ms,
        peak_heap_bytes: memory::peak_bytes().saturating_sub(before),
        lengths,
    };
    serde_wasm_bindgen::to_value(&out).map_err(|e| err(e.to_string()))
}
