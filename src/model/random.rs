//! Seeded random T5 checkpoints with a real architecture, for tests and benchmarks (no model hub
//! is needed). Weights follow transformers' T5 initialization, scaled as the committed fixtures
//! are (strong position bias, sharper queries, weak embeddings, strong output projections) so
//! greedy decoding produces varied tokens instead of repeating one.

use std::collections::HashMap;

use candle_core::{Device, Tensor};

use super::weights::Weights;
use super::T5Config;
use crate::error::Result;
use crate::rng::Rng;

/// The shape of a random model.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden size.
    pub d_model: usize,
    /// Size of one attention head.
    pub d_kv: usize,
    /// Feed-forward size.
    pub d_ff: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Encoder and decoder blocks each.
    pub num_layers: usize,
    /// flan-t5 / t5 v1.1 style: gated-gelu and a separate LM head; else t5 (relu, tied).
    pub gated: bool,
    /// Scale the weights as the fixtures are, so greedy output varies (and is sensitive to any
    /// change); else transformers' plain initialization.
    pub sharp: bool,
}

impl Shape {
    /// t5-small's exact shape.
    pub fn t5_small() -> Self {
        Shape {
            vocab_size: 32128,
            d_model: 512,
            d_kv: 64,
            d_ff: 2048,
            num_heads: 8,
            num_layers: 6,
            gated: false,
            sharp: true,
        }
    }

    /// flan-t5-small's exact shape.
    pub fn flan_t5_small() -> Self {
        Shape {
            vocab_size: 32128,
            d_model: 512,
            d_kv: 64,
            d_ff: 1024,
            num_heads: 6,
            num_layers: 8,
            gated: true,
            sharp: true,
        }
    }

    /// config.json for this shape, as transformers writes it (t5: with the summarization
    /// defaults of t5-small).
    pub fn config_json(&self) -> String {
        let mut c = serde_json::json!({
            "architectures": ["T5ForConditionalGeneration"],
            "model_type": "t5",
            "vocab_size": self.vocab_size,
            "d_model": self.d_model,
            "d_kv": self.d_kv,
            "d_ff": self.d_ff,
            "num_layers": self.num_layers,
            "num_decoder_layers": self.num_layers,
            "num_heads": self.num_heads,
            "relative_attention_num_buckets": 32,
            "relative_attention_max_distance": 128,
            "layer_norm_epsilon": 1e-6,
            "feed_forward_proj": if self.gated { "gated-gelu" } else { "relu" },
            "tie_word_embeddings": !self.gated,
            "pad_token_id": 0,
            "eos_token_id": 1,
            "decoder_start_token_id": 0,
            "dropout_rate": 0.0,
            "initializer_factor": 1.0,
            "is_encoder_decoder": true,
            "use_cache": true,
        });
        if !self.gated {
            c["task_specific_params"] = serde_json::json!({"summarization": {
                "early_stopping": true, "length_penalty": 2.0, "max_length": 200,
                "min_length": 30, "no_repeat_ngram_size": 3, "num_beams": 4,
                "prefix": "summarize: "}});
        }
        serde_json::to_string_pretty(&c).expect("a JSON value serializes")
    }

    /// The configuration.
    pub fn config(&self) -> T5Config {
        T5Config::from_json(self.config_json().as_bytes()).expect("a valid generated config")
    }
}

/// Normal samples (Box-Muller over [`Rng`]).
fn normal(rng: &mut Rng, n: usize, std: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1 = rng.next_f64().max(f64::MIN_POSITIVE);
        let u2 = rng.next_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        out.push((r * t.cos()) as f32 * std);
        out.push((r * t.sin()) as f32 * std);
    }
    out.truncate(n);
    out
}

/// Tensors of a random checkpoint of `shape`, named as in Hugging Face checkpoints.
pub fn tensors(shape: &Shape, seed: u64) -> Result<HashMap<String, Tensor>> {
    let s = shape;
    let inner = s.num_heads * s.d_kv;
    let mut rng = Rng::new(seed);
    let mut out = HashMap::new();
    let dev = Device::Cpu;
    let mut put = |name: String, dims: (usize, usize), std: f32, rng: &mut Rng| -> Result<()> {
        let data = normal(rng, dims.0 * dims.1, std);
        out.insert(name, Tensor::from_vec(data, dims, &dev)?);
        Ok(())
    };
    let f = |x: usize| (x as f32).powf(-0.5);
    let sharp = |factor: f32| if s.sharp { factor } else { 1.0 };
    put(
        "shared.weight".into(),
        (s.vocab_size, s.d_model),
        sharp(0.05),
        &mut rng,
    )?;
    if s.gated {
        put(
            "lm_head.weight".into(),
            (s.vocab_size, s.d_model),
            sharp(0.05),
            &mut rng,
        )?;
    }
    for stack in ["encoder", "decoder"] {
        for i in 0..s.num_layers {
            let p = format!("{stack}.block.{i}.layer");
            let mut attention = |name: &str, cross: bool, rng: &mut Rng| -> Result<()> {
                let a = format!("{p}.{name}");
                put(
                    format!("{a}.q.weight"),
                    (inner, s.d_model),
                    sharp(16.0) * f(s.d_model * s.d_kv),
                    rng,
                )?;
                put(
                    format!("{a}.k.weight"),
                    (inner, s.d_model),
                    f(s.d_model),
                    rng,
                )?;
                put(
                    format!("{a}.v.weight"),
                    (inner, s.d_model),
                    f(s.d_model),
                    rng,
                )?;
                let o = sharp(if cross { 12.0 } else { 4.0 });
                put(
                    format!("{a}.o.weight"),
                    (s.d_model, inner),
                    o * f(inner),
                    rng,
                )
            };
            attention("0.SelfAttention", false, &mut rng)?;
            let ff = if stack == "decoder" {
                attention("1.EncDecAttention", true, &mut rng)?;
                2
            } else {
                1
            };
            let d = format!("{p}.{ff}.DenseReluDense");
            if s.gated {
                put(
                    format!("{d}.wi_0.weight"),
                    (s.d_ff, s.d_model),
                    f(s.d_model),
                    &mut rng,
                )?;
                put(
                    format!("{d}.wi_1.weight"),
                    (s.d_ff, s.d_model),
                    f(s.d_model),
                    &mut rng,
                )?;
            } else {
                put(
                    format!("{d}.wi.weight"),
                    (s.d_ff, s.d_model),
                    f(s.d_model),
                    &mut rng,
                )?;
            }
            put(
                format!("{d}.wo.weight"),
                (s.d_model, s.d_ff),
                sharp(4.0) * f(s.d_ff),
                &mut rng,
            )?;
            if i == 0 {
                put(
                    format!("{p}.0.SelfAttention.relative_attention_bias.weight"),
                    (32, s.num_heads),
                    sharp(30.0) * f(s.d_model),
                    &mut rng,
                )?;
            }
        }
    }
    let mut ones = |name: String| -> Result<()> {
        out.insert(
            name,
            Tensor::ones(s.d_model, candle_core::DType::F32, &dev)?,
        );
        Ok(())
    };
    for stack in ["encoder", "decoder"] {
        for i in 0..s.num_layers {
            let norms = if stack == "decoder" { 3 } else { 2 };
            for l in 0..norms {
                ones(format!("{stack}.block.{i}.layer.{l}.layer_norm.weight"))?;
            }
        }
        ones(format!("{stack}.final_layer_norm.weight"))?;
    }
    Ok(out)
}

/// A random checkpoint of `shape` as loadable weights.
pub fn weights(shape: &Shape, seed: u64) -> Result<Weights> {
    Ok(Weights::from_tensors("random", tensors(shape, seed)?))
}
