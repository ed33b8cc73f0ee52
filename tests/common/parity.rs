//! Reading `reference.json` (transformers' outputs) and comparing with ours; shared by the native
//! parity suite and the browser tests.

use candle_core::{Device, Tensor};
use serde_json::Value;
use t5_summarizer::generation::{EarlyStopping, Flow, GenerationConfig};
use t5_summarizer::model::{T5Config, Weights, T5};
use t5_summarizer::Summarizer;

use super::Fixture;

/// Largest allowed absolute difference from the reference, for encoder outputs and logits.
pub const TOLERANCE: f32 = 1e-4;

impl Fixture {
    /// The parsed `reference.json`.
    pub fn reference(&self) -> Value {
        serde_json::from_str(self.reference).unwrap()
    }

    /// The bare T5 model (no tokenizer).
    pub fn model(&self) -> T5 {
        let cfg = T5Config::from_json(self.config).unwrap();
        let weights = Weights::from_bytes("model.safetensors", self.weights, &Device::Cpu).unwrap();
        T5::load(&weights, &cfg, &Device::Cpu).unwrap()
    }
}

pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

pub fn matrix(v: &Value) -> Vec<Vec<f32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

/// Largest absolute difference between two equally shaped matrices.
pub fn max_abs_diff(ours: &[Vec<f32>], theirs: &[Vec<f32>]) -> f32 {
    assert_eq!(ours.len(), theirs.len(), "row count");
    ours.iter()
        .zip(theirs)
        .flat_map(|(a, b)| {
            assert_eq!(a.len(), b.len(), "row length");
            a.iter().zip(b).map(|(x, y)| (x - y).abs())
        })
        .fold(0.0, f32::max)
}

/// A transformers `generate()` settings object as our generation settings.
pub fn settings(s: &Value, cfg: &T5Config) -> GenerationConfig {
    let mut g = GenerationConfig::new(
        cfg.decoder_start_token_id,
        cfg.eos_token_ids.clone(),
        20 - 1,
    );
    let int = |k: &str| s.get(k).and_then(Value::as_u64).map(|n| n as usize);
    let float = |k: &str| s.get(k).and_then(Value::as_f64).map(|n| n as f32);
    if let Some(n) = int("max_length") {
        g.max_new_tokens = n - 1;
    }
    if let Some(n) = int("max_new_tokens") {
        g.max_new_tokens = n;
    }
    if let Some(n) = int("min_length") {
        g.min_new_tokens = n - 1;
    }
    if let Some(n) = int("min_new_tokens") {
        g.min_new_tokens = g.min_new_tokens.max(n);
    }
    g.num_beams = int("num_beams").unwrap_or(1);
    g.no_repeat_ngram_size = int("no_repeat_ngram_size").unwrap_or(0);
    g.length_penalty = float("length_penalty").unwrap_or(1.0);
    g.repetition_penalty = float("repetition_penalty").unwrap_or(1.0);
    if let Some(e) = s.get("early_stopping") {
        g.early_stopping = serde_json::from_value::<EarlyStopping>(e.clone()).unwrap();
    }
    for key in s.as_object().unwrap().keys() {
        assert!(
            [
                "max_length",
                "max_new_tokens",
                "min_length",
                "min_new_tokens",
                "num_beams",
                "no_repeat_ngram_size",
                "length_penalty",
                "repetition_penalty",
                "early_stopping"
            ]
            .contains(&key.as_str()),
            "the test does not map setting {key}"
        );
    }
    g
}

/// Encoder output of `input` ("short" or "long"): our max abs difference from the reference.
pub fn encoder_diff(m: &T5, r: &Value, input: &str) -> f32 {
    let input_ids = ids(&r["inputs"][input]);
    let x = Tensor::from_slice(&input_ids, (1, input_ids.len()), &Device::Cpu).unwrap();
    let ours = m.encode(&x).unwrap().squeeze(0).unwrap().to_vec2().unwrap();
    max_abs_diff(&ours, &matrix(&r["encoder"][input]))
}

/// Teacher-forced logits at every decoder position: max abs difference from the reference for
/// one pass without a cache, and for step-by-step decoding with the cache.
pub fn logits_diffs(m: &T5, r: &Value) -> (f32, f32) {
    let tf = &r["teacher_forced"];
    let input_ids = ids(&r["inputs"][tf["input"].as_str().unwrap()]);
    let decoder_ids = ids(&tf["decoder_input_ids"]);
    let expected = matrix(&tf["logits"]);
    assert!(decoder_ids.len() >= 30);
    let x = Tensor::from_slice(&input_ids, (1, input_ids.len()), &Device::Cpu).unwrap();
    let enc = m.encode(&x).unwrap();
    let mut cache = m.start_decoder(&enc, 1).unwrap();
    let d = Tensor::from_slice(&decoder_ids, (1, decoder_ids.len()), &Device::Cpu).unwrap();
    let all_at_once = m
        .decode(&mut cache, &d)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec2()
        .unwrap();
    let mut cache = m.start_decoder(&enc, 1).unwrap();
    let stepped: Vec<Vec<f32>> = decoder_ids
        .iter()
        .map(|&t| m.step(&mut cache, &[t]).unwrap().swap_remove(0))
        .collect();
    (
        max_abs_diff(&all_at_once, &expected),
        max_abs_diff(&stepped, &expected),
    )
}

/// Runs every `generate()` setting of the reference on both inputs and asserts identical tokens;
/// returns how many settings ran.
pub fn assert_generate_matches(name: &str, s: &Summarizer, r: &Value) -> usize {
    let all = r["settings"].as_object().unwrap();
    for (setting, values) in all {
        let cfg = settings(values, s.config());
        for input in ["short", "long"] {
            let input_ids = ids(&r["inputs"][input]);
            let expected = ids(&r["generate"][setting][input]);
            let ours = s
                .generate(&input_ids, &cfg, &mut |_| Flow::Continue)
                .unwrap();
            assert_eq!(
                ours,
                expected[1..],
                "{name} {setting} ({input}): first difference at {:?}",
                ours.iter().zip(&expected[1..]).position(|(a, b)| a != b)
            );
        }
    }
    all.len()
}
