//! Text before and after the model: normalization, sentence-aware chunking, merging summaries.
//!
//! Pure string logic with no model or tokenizer inside; the chunker takes the byte ranges of a
//! text's tokens, so everything here is tested natively with toy tokenizers.

pub mod chunk;
pub mod merge;
pub mod normalize;

pub use chunk::{plan_chunks, ChunkPlan};
pub use merge::SummaryMerger;
pub use normalize::normalize;
