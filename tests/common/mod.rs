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

/// A tokenizer.json made the hub's way (a SentencePiece model converted by transformers:
/// `Precompiled` normalizer, legacy Metaspace spelling; `tools/make_spm_fixture.py`), and what
/// SentencePiece itself makes of some texts.
pub const SPM_TOKENIZER: &[u8] = include_bytes!("../fixtures/spm-tokenizer/tokenizer.json");
pub const SPM_REFERENCE: &str = include_str!("../fixtures/spm-tokenizer/reference.json");

/// Loads tiny-t5's weights with the hub-way tokenizer and checks, for every reference text, that
/// the encoder input the pipeline builds is SentencePiece's ids for "summarize: " + text and that
/// the ids decode to SentencePiece's text; then that a summary runs.
pub fn check_spm_tokenizer() {
    use t5_summarizer::generation::Flow;
    let files = ModelFiles {
        tokenizer: SPM_TOKENIZER,
        ..FIXTURES[0].files()
    };
    let s = Summarizer::load(&files).expect("the hub-way tokenizer loads");
    let reference: serde_json::Value = serde_json::from_str(SPM_REFERENCE).unwrap();
    let options = SummarizeOptions {
        max_new_tokens: Some(3),
        min_new_tokens: Some(3),
        num_beams: Some(1),
        refine: Some(false),
        ..Default::default()
    };
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let ids: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let summary = s
            .summarize(text, &options, &mut |_| Flow::Continue)
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(summary.passes[0].len(), 1);
        assert_eq!(summary.passes[0][0].input_ids, ids, "{text:?}");
        assert_eq!(summary.passes[0][0].output_ids.len(), 3);
        let decoded = s.decode(&ids).unwrap();
        assert_eq!(decoded, case["decoded"].as_str().unwrap(), "{text:?}");
    }
    let article = s
        .summarize(ARTICLE, &golden_options(), &mut |_| Flow::Continue)
        .unwrap();
    assert!(article.passes[0].len() > 1 && !article.text.is_empty());
}
