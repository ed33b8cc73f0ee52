//! Turning a decoder into token sequences: settings, logits processors and search strategies.
//!
//! Nothing here knows about tensors or T5: a search drives anything that implements
//! [`StepDecoder`], so the loop is tested natively with scripted logits.

pub mod config;
pub mod logits;
pub mod search;

pub use config::GenerationConfig;
pub use search::{greedy, Flow};

use crate::error::Result;

/// One decoder step for a set of hypotheses.
pub trait StepDecoder {
    /// Feeds one token per hypothesis and returns the next-token logits of each.
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>>;
}
