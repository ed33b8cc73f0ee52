//! Generation settings, with transformers' meaning for each field.

use crate::model::T5Config;

/// How many tokens to generate and when to stop.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// Most tokens to generate after the decoder start token (end token included).
    pub max_new_tokens: usize,
    /// The end token is banned until this many tokens have been generated.
    pub min_new_tokens: usize,
    /// Token that starts every decoder sequence.
    pub decoder_start_token_id: u32,
    /// Tokens that end a sequence.
    pub eos_token_ids: Vec<u32>,
}

impl GenerationConfig {
    /// Defaults for summarizing with `cfg`: its `task_specific_params.summarization` lengths when
    /// present (transformers' `max_length` / `min_length` count the start token), else 1..=150.
    pub fn summarization_defaults(cfg: &T5Config) -> Self {
        let params = cfg.summarization.clone().unwrap_or_default();
        GenerationConfig {
            max_new_tokens: params
                .max_length
                .map_or(150, |n| n.saturating_sub(1).max(1)),
            min_new_tokens: params.min_length.map_or(0, |n| n.saturating_sub(1)),
            decoder_start_token_id: cfg.decoder_start_token_id,
            eos_token_ids: cfg.eos_token_ids.clone(),
        }
    }

    /// Whether `token` ends a sequence.
    pub fn is_eos(&self, token: u32) -> bool {
        self.eos_token_ids.contains(&token)
    }
}
