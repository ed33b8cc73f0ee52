//! Text before and after the model: normalization, sentence-aware chunking, merging summaries.
//!
//! Pure string logic with no model or tokenizer inside; token counts come in through
//! [`chunk::TokenSpans`], so everything here is tested natively with a toy tokenizer.

pub mod chunk;
pub mod merge;
pub mod normalize;

pub use chunk::{plan_chunks, ChunkPlan, TokenSpans};
pub use merge::SummaryMerger;
pub use normalize::normalize;
