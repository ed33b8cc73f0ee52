//! Stage timings of one summarize run, measured by the pipeline on a [`super::Clock`].

use serde::Serialize;

/// Timings of one chunk, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkTimings {
    /// Clock reading when the chunk started.
    pub start_ms: f64,
    /// Encoder forward pass (and the cross-attention keys and values).
    pub encode_ms: f64,
    /// From the chunk's start to its first generated token.
    pub first_token_ms: f64,
    /// Each decoder step.
    pub token_ms: Vec<f64>,
    /// Ids to text.
    pub detokenize_ms: f64,
    /// The whole chunk.
    pub total_ms: f64,
    /// Characters of the chunk text and of its summary.
    pub input_chars: usize,
    pub output_chars: usize,
}

impl ChunkTimings {
    /// All decoder steps together.
    pub fn decode_ms(&self) -> f64 {
        self.token_ms.iter().sum()
    }
}

/// Timings of one pass over the text.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PassTimings {
    /// The pass's text to ids and token spans: once, for every chunk.
    pub tokenize_ms: f64,
    /// Sentence splitting and packing the tokens into chunks.
    pub plan_ms: f64,
    /// Characters planned.
    pub text_chars: usize,
    /// Joining the chunk summaries.
    pub merge_ms: f64,
    pub chunks: Vec<ChunkTimings>,
}

/// Timings of a whole summarize call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunTimings {
    /// Clock reading at the start.
    pub start_ms: f64,
    /// Characters of the input as given.
    pub input_chars: usize,
    pub normalize_ms: f64,
    pub passes: Vec<PassTimings>,
    /// The whole call.
    pub total_ms: f64,
}
