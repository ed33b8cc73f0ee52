//! Fixture access shared by the native and the browser (wasm-bindgen-test) test suites.
//!
//! Fixture bytes are compiled in, so the same tests run where there is no file system.

#![allow(dead_code)]

pub mod parity;

use t5_summarizer::{ModelFiles, SummarizeOptions, Summarizer};

/// A committed fixture model.
pub struct Fixture {
    pub name: &'static str,
    pub config: &'static [u8],
    pub tokenizer: &'static [u8],
    pub weights: &'static [u8],
    /// The expected summary of `ARTICLE` under `golden_options()`, written by the native suite.
    pub golden: &'static str,
    /// transformers' outputs for these weights (`tools/reference.py`).
    pub reference: &'static str,
}

macro_rules! fixture {
    ($name:literal) => {
        Fixture {
            name: $name,
            config: include_bytes!(concat!("../fixtures/", $name, "/config.json")),
            tokenizer: include_bytes!(concat!("../fixtures/", $name, "/tokenizer.json")),
            weights: include_bytes!(concat!("../fixtures/", $name, "/model.safetensors")),
            golden: include_str!(concat!("../fixtures/", $name, "/expected-article.json")),
            reference: include_str!(concat!("../fixtures/", $name, "/reference.json")),
        }
    };
}

pub const FIXTURES: [Fixture; 2] = [fixture!("tiny-t5"), fixture!("tiny-flan-t5")];

/// A multi-paragraph English article.
pub const ARTICLE: &str = include_str!("../fixtures/article.txt");

impl Fixture {
    pub fn files(&self) -> ModelFiles<'_> {
        ModelFiles {
            config: self.config,
            tokenizer: self.tokenizer,
            weights: &self.weights,
            weights_name: "model.safetensors",
        }
    }

    pub fn load(&self) -> Summarizer {
        Summarizer::load(&self.files()).unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }
}

/// Settings that make the article several chunks and keep the run short.
pub fn golden_options() -> SummarizeOptions {
    SummarizeOptions {
        max_input_tokens: Some(96),
        max_new_tokens: Some(16),
        min_new_tokens: Some(4),
        ..Default::default()
    }
}
