//! Turning a decoder into token sequences: settings, logits processors and search strategies.
//!
//! Nothing here knows about tensors or T5: a search drives anything that implements
//! [`StepDecoder`], so the loops are tested natively with scripted logits, and against
//! transformers' `generate()` with the real model (tests/parity.rs).

pub mod config;
pub mod limits;
pub mod logits;
pub mod search;

pub use config::{EarlyStopping, GenerationConfig};
pub use search::{generate, generate_stepwise, Flow};

use crate::error::Result;

/// One decoder step for a set of hypotheses.
pub trait StepDecoder {
    /// Feeds one token per hypothesis and returns the next-token logits of each.
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>>;

    /// Keeps the hypotheses at `indices` (in that order, repeats allowed) for the next step.
    fn reorder(&mut self, indices: &[u32]) -> Result<()>;
}
