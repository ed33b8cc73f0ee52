//! In-browser T5 summarization: a pure Rust core (text, model, generation) and a thin
//! wasm-bindgen shell for the browser.
//!
//! - [`text`]: normalization, sentence-aware chunking, merging.
//! - [`model`]: T5 configuration, weights and forward pass.
//! - [`generation`]: generation settings, logits processors, search.
//! - [`pipeline`]: the summarizer tying them together.
//! - [`stepwise`]: running a summary one decoder step at a time.
//! - `wasm` (wasm32 only): the JS API used by the Web Worker.

#[cfg(feature = "bench")]
pub mod bench;
pub mod error;
pub mod generation;
pub mod kernels;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod rng;
pub mod stepwise;
pub mod text;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, Result};
pub use pipeline::{Event, LoadSettings, ModelFiles, SummarizeOptions, Summarizer, Summary};

/// Every allocation is counted so memory figures in the metrics are measured, not estimated.
#[global_allocator]
static ALLOCATOR: metrics::memory::CountingAlloc = metrics::memory::CountingAlloc;
