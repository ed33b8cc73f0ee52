//! Why the project has its own T5: where candle-transformers 0.11.1's `models::t5` and
//! `models::quantized_t5` depart from transformers, measured against the same goldens the parity
//! suite uses. If a future candle fixes one of these, its test fails and says so.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use candle_core::quantized::GgmlDType;
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::{quantized_t5, t5};
use common::parity::{ids, matrix, max_abs_diff};
use common::{Fixture, FIXTURES};
use t5_summarizer::model::quantize::quantize;
use t5_summarizer::model::Weights;

fn stock_config(fx: &Fixture) -> t5::Config {
    let mut cfg: t5::Config = serde_json::from_slice(fx.config).unwrap();
    cfg.use_cache = false;
    cfg
}

/// Stock logits at every decoder position, each from a full pass over the prefix (no cache).
fn stock_logits(fx: &Fixture, input: &[u32], decoder: &[u32]) -> Vec<Vec<f32>> {
    let vb = candle_nn::VarBuilder::from_buffered_safetensors(
        fx.weights.to_vec(),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let mut m = t5::T5ForConditionalGeneration::load(vb, &stock_config(fx)).unwrap();
    let x = Tensor::from_slice(input, (1, input.len()), &Device::Cpu).unwrap();
    let enc = m.encode(&x).unwrap();
    (1..=decoder.len())
        .map(|n| {
            m.clear_kv_cache();
            let d = Tensor::from_slice(&decoder[..n], (1, n), &Device::Cpu).unwrap();
            m.decode(&d, &enc)
                .unwrap()
                .squeeze(0)
                .unwrap()
                .to_vec1()
                .unwrap()
        })
        .collect()
}

/// Largest absolute difference per decoder position.
fn per_position(ours: &[Vec<f32>], theirs: &[Vec<f32>]) -> Vec<f32> {
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| max_abs_diff(std::slice::from_ref(a), std::slice::from_ref(b)))
        .collect()
}

/// Fact 1: the decoder's position buckets are bidirectional (16 per direction, exact below 8),
/// transformers' are unidirectional (32, exact below 16): both put distances up to 8 in the same
/// bucket, so logits agree at decoder positions 0..=8 and differ from position 9 on.
#[test]
fn stock_decoder_diverges_from_position_9() {
    let fx = &FIXTURES[1]; // untied head: no output scaling involved
    let r = fx.reference();
    let tf = &r["teacher_forced"];
    let expected = matrix(&tf["logits"]);
    let got = stock_logits(
        fx,
        &ids(&r["inputs"]["short"]),
        &ids(&tf["decoder_input_ids"]),
    );
    let diffs = per_position(&got, &expected);
    let shown: Vec<String> = diffs.iter().map(|d| format!("{d:.1e}")).collect();
    println!(
        "stock t5, {}: max abs logit diff per decoder position: {}",
        fx.name,
        shown.join(" ")
    );
    assert!(diffs[..9].iter().all(|&d| d <= 1e-4), "{diffs:?}");
    assert!(diffs[9] > 1e-3, "{diffs:?}");
    assert!(diffs[10..].iter().all(|&d| d > 1e-2), "{diffs:?}");
}

/// Fact 3: with tied embeddings the stock decoder output is multiplied by sqrt(d_model) where
/// transformers multiplies by d_model^-0.5, so logits come out d_model times too large.
#[test]
fn stock_tied_logits_are_d_model_times_too_large() {
    let fx = &FIXTURES[0];
    let r = fx.reference();
    let tf = &r["teacher_forced"];
    let expected = matrix(&tf["logits"]);
    let got = stock_logits(
        fx,
        &ids(&r["inputs"]["short"]),
        &ids(&tf["decoder_input_ids"])[..1],
    );
    let d_model = stock_config(fx).d_model as f32;
    let rescaled: Vec<Vec<f32>> = vec![got[0].iter().map(|v| v / d_model).collect()];
    let diff = max_abs_diff(&rescaled, &expected[..1]);
    let unscaled = max_abs_diff(&got, &expected[..1]);
    println!(
        "stock t5, {}: position 0 logits differ by {unscaled:.3} as computed, by {diff:.1e} once divided by d_model",
        fx.name
    );
    assert!(diff <= 1e-4 && unscaled > 1.0);
}

/// Fact 4: `quantized_t5` does not clamp large distances to the last bucket: inputs longer than
/// 128 tokens fail or give wrong encoder outputs, shorter ones match.
#[test]
fn stock_quantized_t5_breaks_beyond_128_tokens() {
    let fx = &FIXTURES[1];
    let r = fx.reference();
    let weights = Weights::from_bytes("model.safetensors", fx.weights, &Device::Cpu).unwrap();
    let (gguf, _) = quantize(&weights, GgmlDType::F32).unwrap();
    let vb = quantized_t5::VarBuilder::from_gguf_buffer(&gguf, &Device::Cpu).unwrap();
    let cfg: quantized_t5::Config = serde_json::from_slice(fx.config).unwrap();
    let mut m = quantized_t5::T5ForConditionalGeneration::load(vb, &cfg).unwrap();
    let mut encode = |input: &str| {
        let input_ids = ids(&r["inputs"][input]);
        let x = Tensor::from_slice(&input_ids, (1, input_ids.len()), &Device::Cpu).unwrap();
        m.encode(&x).map(|e| {
            max_abs_diff(
                &e.squeeze(0).unwrap().to_vec2().unwrap(),
                &matrix(&r["encoder"][input]),
            )
        })
    };
    let short = encode("short").unwrap();
    let long = encode("long");
    println!("stock quantized_t5 (f32 GGUF), {}: encoder diff {short:.1e} at 48 tokens; at 200 tokens: {long:?}", fx.name);
    assert!(short <= 1e-4);
    assert!(!matches!(long, Ok(d) if d <= 1e-3), "{long:?}");
}
