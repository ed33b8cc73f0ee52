//! `config.json` of a Hugging Face T5 checkpoint, with the defaults transformers uses.
//!
//! Only what the forward pass and summarization need is read; unknown keys are ignored so any
//! t5 / t5 v1.1 / flan-t5 config loads.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::generation::EarlyStopping;

/// The activation inside a T5 feed-forward block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `max(0, x)` (original t5).
    Relu,
    /// tanh-approximated GELU, transformers' `gelu_new` (t5 v1.1, flan-t5).
    GeluNew,
    /// exact (erf) GELU.
    Gelu,
    /// `x * sigmoid(x)`.
    Silu,
}

/// Generation settings that `task_specific_params.summarization` may carry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct SummarizationParams {
    /// Text put before the input, for example `"summarize: "`.
    pub prefix: Option<String>,
    /// Maximum decoder length, counting the start token (transformers' `max_length`).
    pub max_length: Option<usize>,
    /// Minimum decoder length, counting the start token.
    pub min_length: Option<usize>,
    /// Beam count.
    pub num_beams: Option<usize>,
    /// Exponent on the length in beam scores.
    pub length_penalty: Option<f32>,
    /// Ban repeating any n-gram of this size.
    pub no_repeat_ngram_size: Option<usize>,
    /// When beam search stops: `true`, `false` or `"never"`, as transformers reads it.
    pub early_stopping: Option<EarlyStopping>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct TaskSpecificParams {
    summarization: Option<SummarizationParams>,
}

fn default_buckets() -> usize {
    32
}
fn default_max_distance() -> usize {
    128
}
fn default_eps() -> f64 {
    1e-6
}
fn default_ff_proj() -> String {
    "relu".to_string()
}
fn default_true() -> bool {
    true
}
fn default_eos() -> TokenIdOrList {
    TokenIdOrList::One(1)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum TokenIdOrList {
    One(u32),
    Many(Vec<u32>),
}

#[derive(Debug, Clone, Deserialize)]
struct RawConfig {
    vocab_size: usize,
    d_model: usize,
    d_kv: usize,
    d_ff: usize,
    num_layers: usize,
    num_decoder_layers: Option<usize>,
    num_heads: usize,
    #[serde(default = "default_buckets")]
    relative_attention_num_buckets: usize,
    #[serde(default = "default_max_distance")]
    relative_attention_max_distance: usize,
    #[serde(default = "default_eps")]
    layer_norm_epsilon: f64,
    #[serde(default = "default_ff_proj")]
    feed_forward_proj: String,
    #[serde(default = "default_true")]
    tie_word_embeddings: bool,
    /// transformers 5 writes this instead of relying on `tie_word_embeddings`.
    scale_decoder_outputs: Option<bool>,
    #[serde(default)]
    pad_token_id: u32,
    #[serde(default = "default_eos")]
    eos_token_id: TokenIdOrList,
    decoder_start_token_id: Option<u32>,
    #[serde(default)]
    task_specific_params: Option<TaskSpecificParams>,
}

/// A validated T5 configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct T5Config {
    /// Vocabulary rows in the embedding and LM head.
    pub vocab_size: usize,
    /// Hidden size.
    pub d_model: usize,
    /// Size of one attention head.
    pub d_kv: usize,
    /// Inner size of the feed-forward block.
    pub d_ff: usize,
    /// Encoder blocks.
    pub num_layers: usize,
    /// Decoder blocks.
    pub num_decoder_layers: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Relative-position buckets.
    pub relative_attention_num_buckets: usize,
    /// Distance beyond which all positions share the last bucket.
    pub relative_attention_max_distance: usize,
    /// RMS norm epsilon.
    pub layer_norm_epsilon: f64,
    /// Feed-forward activation.
    pub activation: Activation,
    /// Whether the feed-forward block is gated (`wi_0`, `wi_1`).
    pub gated: bool,
    /// Whether the LM head is the shared embedding (transformers' `tie_word_embeddings`): then a
    /// checkpoint's own `lm_head.weight`, if any, is ignored, as transformers ignores it.
    pub tie_word_embeddings: bool,
    /// Whether the decoder output is scaled by `d_model^-0.5` before the LM head (original t5;
    /// not t5 v1.1 / flan-t5). Older configs say so through `tie_word_embeddings`.
    pub scale_decoder_outputs: bool,
    /// Padding token id (also the decoder start by default).
    pub pad_token_id: u32,
    /// End-of-sequence token ids.
    pub eos_token_ids: Vec<u32>,
    /// First decoder input token.
    pub decoder_start_token_id: u32,
    /// `task_specific_params.summarization`, when present.
    pub summarization: Option<SummarizationParams>,
}

impl T5Config {
    /// Parses and validates `config.json` bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let raw: RawConfig = serde_json::from_slice(bytes).map_err(|e| {
            Error::model_file("config.json", format!("not a valid T5 config ({e})"))
        })?;
        let (gated, act) = match raw.feed_forward_proj.split_once('-') {
            Some(("gated", act)) => (true, act),
            None => (false, raw.feed_forward_proj.as_str()),
            Some(_) => return Err(bad_ff(&raw.feed_forward_proj)),
        };
        let activation = match (gated, act) {
            // transformers maps "gated-gelu" to the tanh approximation for backwards compatibility.
            (true, "gelu") | (_, "gelu_new") => Activation::GeluNew,
            (false, "gelu") => Activation::Gelu,
            (_, "relu") => Activation::Relu,
            (_, "silu") => Activation::Silu,
            _ => return Err(bad_ff(&raw.feed_forward_proj)),
        };
        let eos_token_ids = match raw.eos_token_id {
            TokenIdOrList::One(id) => vec![id],
            TokenIdOrList::Many(ids) => ids,
        };
        let cfg = T5Config {
            vocab_size: raw.vocab_size,
            d_model: raw.d_model,
            d_kv: raw.d_kv,
            d_ff: raw.d_ff,
            num_layers: raw.num_layers,
            num_decoder_layers: raw.num_decoder_layers.unwrap_or(raw.num_layers),
            num_heads: raw.num_heads,
            relative_attention_num_buckets: raw.relative_attention_num_buckets,
            relative_attention_max_distance: raw.relative_attention_max_distance,
            layer_norm_epsilon: raw.layer_norm_epsilon,
            activation,
            gated,
            tie_word_embeddings: raw.tie_word_embeddings,
            scale_decoder_outputs: raw.scale_decoder_outputs.unwrap_or(raw.tie_word_embeddings),
            pad_token_id: raw.pad_token_id,
            eos_token_ids,
            decoder_start_token_id: raw.decoder_start_token_id.unwrap_or(raw.pad_token_id),
            summarization: raw.task_specific_params.and_then(|t| t.summarization),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("d_model", self.d_model),
            ("d_kv", self.d_kv),
            ("d_ff", self.d_ff),
            ("num_layers", self.num_layers),
            ("num_decoder_layers", self.num_decoder_layers),
            ("num_heads", self.num_heads),
            (
                "relative_attention_num_buckets",
                self.relative_attention_num_buckets,
            ),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(Error::model_file(
                    "config.json",
                    format!("{name} must be positive"),
                ));
            }
        }
        if self.relative_attention_num_buckets < 4 || self.relative_attention_max_distance < 2 {
            return Err(Error::model_file(
                "config.json",
                "relative attention needs at least 4 buckets and a max distance of at least 2",
            ));
        }
        if self.eos_token_ids.is_empty() {
            return Err(Error::model_file(
                "config.json",
                "eos_token_id is an empty list",
            ));
        }
        Ok(())
    }

    /// Inner size of all heads together.
    pub fn inner_dim(&self) -> usize {
        self.num_heads * self.d_kv
    }
}

fn bad_ff(value: &str) -> Error {
    Error::model_file(
        "config.json",
        format!(
            "unsupported feed_forward_proj {value:?} (expected relu, gated-gelu, gelu_new or silu)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T5_SMALL: &str = r#"{"vocab_size":32128,"d_model":512,"d_kv":64,"d_ff":2048,"num_layers":6,
        "num_heads":8,"feed_forward_proj":"relu","eos_token_id":1,"pad_token_id":0,
        "task_specific_params":{"summarization":{"early_stopping":true,"length_penalty":2.0,
        "max_length":200,"min_length":30,"no_repeat_ngram_size":3,"num_beams":4,"prefix":"summarize: "}}}"#;

    #[test]
    fn t5_small_defaults() {
        let cfg = T5Config::from_json(T5_SMALL.as_bytes()).unwrap();
        assert_eq!(cfg.num_decoder_layers, 6);
        assert_eq!(cfg.activation, Activation::Relu);
        assert!(!cfg.gated && cfg.scale_decoder_outputs);
        assert_eq!(cfg.decoder_start_token_id, 0);
        let s = cfg.summarization.unwrap();
        assert_eq!(s.prefix.as_deref(), Some("summarize: "));
        assert_eq!(s.num_beams, Some(4));
    }

    #[test]
    fn flan_gated_gelu_is_gelu_new() {
        let json = r#"{"vocab_size":10,"d_model":8,"d_kv":4,"d_ff":16,"num_layers":1,"num_heads":2,
            "feed_forward_proj":"gated-gelu","tie_word_embeddings":false,"eos_token_id":[1]}"#;
        let cfg = T5Config::from_json(json.as_bytes()).unwrap();
        assert!(cfg.gated);
        assert_eq!(cfg.activation, Activation::GeluNew);
        assert!(!cfg.scale_decoder_outputs);
        let v5 = json.replace(
            "\"tie_word_embeddings\":false",
            "\"tie_word_embeddings\":true,\"scale_decoder_outputs\":false",
        );
        assert!(
            !T5Config::from_json(v5.as_bytes())
                .unwrap()
                .scale_decoder_outputs
        );
        assert!(cfg.summarization.is_none());
    }

    #[test]
    fn early_stopping_never_loads() {
        let never = T5_SMALL.replace("\"early_stopping\":true", "\"early_stopping\":\"never\"");
        assert_ne!(never, T5_SMALL);
        let cfg = T5Config::from_json(never.as_bytes()).unwrap();
        assert_eq!(
            cfg.summarization.unwrap().early_stopping,
            Some(EarlyStopping::Never)
        );
        let bad = T5_SMALL.replace("\"early_stopping\":true", "\"early_stopping\":\"soon\"");
        let err = T5Config::from_json(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().starts_with("config.json: "), "{err}");
    }

    #[test]
    fn malformed_config_names_the_file() {
        let err = T5Config::from_json(b"{\"d_model\": 8}").unwrap_err();
        assert!(err.to_string().starts_with("config.json: "), "{err}");
        let err = T5Config::from_json(T5_SMALL.replace("relu", "swish-x").as_bytes()).unwrap_err();
        assert!(err.to_string().contains("feed_forward_proj"), "{err}");
    }
}
