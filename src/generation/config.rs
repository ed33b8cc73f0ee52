//! Generation settings, with transformers' meaning for each field.

use crate::error::{Error, Result};

/// When beam search stops (transformers' `early_stopping`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "EarlyStoppingValue", into = "EarlyStoppingValue")]
pub enum EarlyStopping {
    /// `false`: stop when the best running beam, at its current length, cannot beat the worst
    /// finished one (transformers' heuristic).
    #[default]
    Heuristic,
    /// `true`: stop as soon as `num_beams` hypotheses are finished.
    Done,
    /// `"never"`: the canonical rule; with a positive length penalty the best running beam is
    /// judged at the maximum length.
    Never,
}

/// `early_stopping` as JSON spells it: `true`, `false` or `"never"`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum EarlyStoppingValue {
    Bool(bool),
    Word(String),
}

impl TryFrom<EarlyStoppingValue> for EarlyStopping {
    type Error = String;

    fn try_from(v: EarlyStoppingValue) -> std::result::Result<Self, String> {
        match v {
            EarlyStoppingValue::Bool(true) => Ok(EarlyStopping::Done),
            EarlyStoppingValue::Bool(false) => Ok(EarlyStopping::Heuristic),
            EarlyStoppingValue::Word(w) if w == "never" => Ok(EarlyStopping::Never),
            EarlyStoppingValue::Word(w) => Err(format!(
                "earlyStopping must be true, false or \"never\", not \"{w}\""
            )),
        }
    }
}

impl From<EarlyStopping> for EarlyStoppingValue {
    fn from(e: EarlyStopping) -> Self {
        match e {
            EarlyStopping::Heuristic => EarlyStoppingValue::Bool(false),
            EarlyStopping::Done => EarlyStoppingValue::Bool(true),
            EarlyStopping::Never => EarlyStoppingValue::Word("never".into()),
        }
    }
}

impl std::str::FromStr for EarlyStopping {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "true" => Ok(EarlyStopping::Done),
            "false" => Ok(EarlyStopping::Heuristic),
            "never" => Ok(EarlyStopping::Never),
            other => Err(format!(
                "early stopping must be true, false or never, not '{other}'"
            )),
        }
    }
}

/// How to generate one sequence. Lengths count generated tokens (the decoder start token is not
/// counted; transformers' `max_length = max_new_tokens + 1` for T5).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    /// Most tokens to generate after the decoder start token (end token included).
    pub max_new_tokens: usize,
    /// The end token is banned until this many tokens have been generated.
    pub min_new_tokens: usize,
    /// Beams; 1 is greedy search (or sampling).
    pub num_beams: usize,
    /// Beam scores are divided by `length ^ length_penalty`.
    pub length_penalty: f32,
    /// When beam search stops.
    pub early_stopping: EarlyStopping,
    /// No n-gram of this size occurs twice in a sequence (0: off).
    pub no_repeat_ngram_size: usize,
    /// Scores of tokens already in the sequence are divided (positive) or multiplied (negative)
    /// by this (1: off).
    pub repetition_penalty: f32,
    /// Sample the next token instead of taking the most likely one (greedy only).
    pub do_sample: bool,
    /// Sampling: logits are divided by this.
    pub temperature: f32,
    /// Sampling: keep the `top_k` most likely tokens (0: all).
    pub top_k: usize,
    /// Sampling: keep the smallest set of tokens whose probability reaches `top_p`.
    pub top_p: f32,
    /// Sampling: the random seed; the same seed gives the same tokens.
    pub seed: u64,
    /// Token that starts every decoder sequence.
    #[serde(skip)]
    pub decoder_start_token_id: u32,
    /// Tokens that end a sequence.
    #[serde(skip)]
    pub eos_token_ids: Vec<u32>,
}

impl GenerationConfig {
    /// transformers' defaults (greedy, no penalties) for the given special tokens.
    pub fn new(
        decoder_start_token_id: u32,
        eos_token_ids: Vec<u32>,
        max_new_tokens: usize,
    ) -> Self {
        GenerationConfig {
            max_new_tokens,
            min_new_tokens: 0,
            num_beams: 1,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::Heuristic,
            no_repeat_ngram_size: 0,
            repetition_penalty: 1.0,
            do_sample: false,
            temperature: 1.0,
            top_k: 50,
            top_p: 1.0,
            seed: 0,
            decoder_start_token_id,
            eos_token_ids,
        }
    }

    /// Whether `token` ends a sequence.
    pub fn is_eos(&self, token: u32) -> bool {
        self.eos_token_ids.contains(&token)
    }

    /// Checks that every setting is usable; the message names the setting (camelCase, as the JS
    /// API and the page spell it).
    pub fn validate(&self) -> Result<()> {
        use super::limits::check;
        let bad = |m: String| Err(Error::InvalidOption(m));
        check("maxNewTokens", self.max_new_tokens as f64)?;
        check("minNewTokens", self.min_new_tokens as f64)?;
        if self.min_new_tokens > self.max_new_tokens {
            return bad(format!(
                "minNewTokens ({}) is larger than maxNewTokens ({})",
                self.min_new_tokens, self.max_new_tokens
            ));
        }
        check("numBeams", self.num_beams as f64)?;
        check("lengthPenalty", self.length_penalty as f64)?;
        check("noRepeatNgramSize", self.no_repeat_ngram_size as f64)?;
        check("repetitionPenalty", self.repetition_penalty as f64)?;
        if self.do_sample {
            if self.num_beams > 1 {
                return bad("sampling works with numBeams 1 only".into());
            }
            check("temperature", self.temperature as f64)?;
            check("topK", self.top_k as f64)?;
            check("topP", self.top_p as f64)?;
        }
        check("seed", self.seed as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_stopping_reads_json_spellings() {
        let v: Vec<EarlyStopping> = serde_json::from_str(r#"[true, false, "never"]"#).unwrap();
        assert_eq!(
            v,
            [
                EarlyStopping::Done,
                EarlyStopping::Heuristic,
                EarlyStopping::Never
            ]
        );
        assert!(serde_json::from_str::<EarlyStopping>(r#""sometimes""#).is_err());
        assert_eq!(
            serde_json::to_string(&EarlyStopping::Never).unwrap(),
            r#""never""#
        );
    }
}
