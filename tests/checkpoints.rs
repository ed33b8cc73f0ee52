//! Checkpoints whose files say more than the common case: an LM head beside
//! `tie_word_embeddings`, summarization settings spelled as transformers allows, tokenizer files
//! with their own truncation and padding. Each loads as transformers loads it.

mod common;

use candle_core::{Device, Tensor};
use common::FIXTURES;
use t5_summarizer::generation::EarlyStopping;
use t5_summarizer::model::random::{self, Shape};
use t5_summarizer::model::{T5Config, Weights, T5};

fn small(gated: bool) -> Shape {
    Shape {
        vocab_size: 96,
        d_model: 16,
        d_kv: 4,
        d_ff: 32,
        num_heads: 4,
        num_layers: 2,
        gated,
        sharp: true,
    }
}

/// Logits of three teacher-forced decoder steps.
fn logits(cfg: &T5Config, tensors: &std::collections::HashMap<String, Tensor>) -> Vec<Vec<f32>> {
    let weights = Weights::from_tensors("model.safetensors", tensors.clone());
    let m = T5::load(&weights, cfg, &Device::Cpu).unwrap();
    let x = Tensor::from_slice(&[5u32, 17, 33, 8, 1], (1, 5), &Device::Cpu).unwrap();
    let enc = m.encode(&x).unwrap();
    let mut cache = m.start_decoder(&enc, 1).unwrap();
    [0u32, 12, 40]
        .iter()
        .map(|&t| m.step(&mut cache, &[t]).unwrap().swap_remove(0))
        .collect()
}

/// transformers (4.57, `T5ForConditionalGeneration.from_pretrained`) ties the LM head to
/// `shared` whenever `tie_word_embeddings` is true, ignoring a stored `lm_head.weight`; without
/// it the stored head is used, and a checkpoint lacking one is refused.
#[test]
fn tied_config_ignores_a_stored_lm_head_and_untied_uses_it() {
    let shape = small(false);
    let cfg = shape.config();
    assert!(cfg.tie_word_embeddings);
    let plain = random::tensors(&shape, 7).unwrap();
    assert!(!plain.contains_key("lm_head.weight"));
    let mut with_head = plain.clone();
    let other = random::tensors(&shape, 8).unwrap();
    with_head.insert("lm_head.weight".into(), other["shared.weight"].clone());
    assert_eq!(logits(&cfg, &with_head), logits(&cfg, &plain));

    let shape = small(true);
    let cfg = shape.config();
    assert!(!cfg.tie_word_embeddings);
    let plain = random::tensors(&shape, 7).unwrap();
    let mut swapped = plain.clone();
    swapped.insert("lm_head.weight".into(), other["shared.weight"].clone());
    assert_ne!(logits(&cfg, &swapped), logits(&cfg, &plain));
    let mut headless = plain.clone();
    headless.remove("lm_head.weight");
    let weights = Weights::from_tensors("model.safetensors", headless);
    let err = T5::load(&weights, &cfg, &Device::Cpu)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("lm_head"), "{err}");
}

/// `early_stopping: "never"` in `task_specific_params.summarization` (transformers accepts
/// `true`, `false` and `"never"`) loads and becomes the summarization default.
#[test]
fn summarization_early_stopping_never_is_the_default() {
    let f = &FIXTURES[0];
    let json = String::from_utf8(f.config.to_vec()).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["task_specific_params"]["summarization"]["early_stopping"] = "never".into();
    let bytes = serde_json::to_vec(&v).unwrap();
    let files = t5_summarizer::ModelFiles {
        config: &bytes,
        ..f.files()
    };
    let s = t5_summarizer::Summarizer::load(&files).unwrap();
    let g = s.generation_config(&Default::default()).unwrap();
    assert_eq!(g.early_stopping, EarlyStopping::Never);
}

/// A tokenizer.json with truncation to 8 tokens and padding to 64 summarizes as the same file
/// without them: the pipeline plans chunks on exact token counts and pads nothing.
#[test]
fn tokenizer_truncation_and_padding_are_switched_off() {
    use t5_summarizer::generation::Flow;
    for f in &FIXTURES {
        let mut v: serde_json::Value = serde_json::from_slice(f.tokenizer).unwrap();
        v["truncation"] = serde_json::json!({
            "direction": "Right", "max_length": 8, "strategy": "LongestFirst", "stride": 0
        });
        v["padding"] = serde_json::json!({
            "strategy": {"Fixed": 64}, "direction": "Right", "pad_to_multiple_of": null,
            "pad_id": 0, "pad_type_id": 0, "pad_token": "<pad>"
        });
        let bytes = serde_json::to_vec(&v).unwrap();
        let files = t5_summarizer::ModelFiles {
            tokenizer: &bytes,
            ..f.files()
        };
        let odd = t5_summarizer::Summarizer::load(&files).unwrap();
        let plain = f.load();
        let run = |s: &t5_summarizer::Summarizer| {
            s.summarize(common::ARTICLE, &common::golden_options(), &mut |_| {
                Flow::Continue
            })
            .unwrap()
        };
        let (a, b) = (run(&odd), run(&plain));
        assert!(!b.text.is_empty());
        assert_eq!(a.text, b.text, "{}", f.name);
        let tokens = |s: &t5_summarizer::Summary| -> Vec<Vec<u32>> {
            s.passes[0].iter().map(|c| c.input_ids.clone()).collect()
        };
        assert_eq!(tokens(&a), tokens(&b), "{}", f.name);
    }
}

/// Beam search's cache: batch-1 cross-attention keys serve every hypothesis of one input; keys
/// per hypothesis (two inputs here) move with their rows; a reorder naming a hypothesis that
/// does not exist, or a step with the wrong number of rows, is an error, not a guess.
#[test]
fn decoder_cache_reorder_keeps_rows_with_their_inputs() {
    let shape = small(false);
    let cfg = shape.config();
    let weights = random::weights(&shape, 3).unwrap();
    let m = T5::load(&weights, &cfg, &Device::Cpu).unwrap();
    let dev = Device::Cpu;
    let a = m
        .encode(&Tensor::from_slice(&[5u32, 17, 33, 1], (1, 4), &dev).unwrap())
        .unwrap();
    let b = m
        .encode(&Tensor::from_slice(&[40u32, 2, 61, 1], (1, 4), &dev).unwrap())
        .unwrap();
    let step =
        |cache: &mut t5_summarizer::model::DecoderCache, tokens: &[u32]| m.step(cache, tokens);
    // One input, widened to three beams after the first step.
    let mut one = m.start_decoder(&a, 1).unwrap();
    let first = step(&mut one, &[0]).unwrap();
    one.reorder(&[0, 0, 0]).unwrap();
    let three = step(&mut one, &[7, 7, 9]).unwrap();
    assert_eq!(three[0], three[1]);
    assert!(step(&mut one, &[7, 7]).is_err(), "2 rows for 3 hypotheses");
    assert!(one.reorder(&[3]).is_err(), "hypothesis 3 of 3");
    // Two inputs, one hypothesis each: swapping the rows swaps what they read.
    let both = Tensor::cat(&[&a, &b], 0).unwrap();
    let mut two = m.start_decoder(&both, 2).unwrap();
    let rows = step(&mut two, &[0, 0]).unwrap();
    let close = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(p, q)| (p - q).abs() < 1e-5);
    assert!(close(&rows[0], &first[0]));
    two.reorder(&[1, 0]).unwrap();
    let swapped = step(&mut two, &[7, 7]).unwrap();
    let mut alone = m.start_decoder(&b, 1).unwrap();
    step(&mut alone, &[0]).unwrap();
    let b_next = step(&mut alone, &[7]).unwrap();
    assert!(close(&swapped[0], &b_next[0]), "row 0 now reads input b");
    assert!(close(&swapped[1], &three[0]), "row 1 now reads input a");
    assert!(two.reorder(&[0, 2]).is_err());
    // Declared three hypotheses, fed two at the first step (nothing cached yet to disagree).
    let mut declared = m.start_decoder(&a, 3).unwrap();
    assert_eq!(declared.rows(), 3);
    assert!(step(&mut declared, &[0, 0]).is_err());
}

/// A tokenizer.json converted from a SentencePiece model, as the hub's t5 ones were: the same
/// ids and text as SentencePiece (the browser runs the same check, tests/web.rs).
#[test]
fn hub_way_sentencepiece_tokenizer_matches_sentencepiece() {
    common::check_spm_tokenizer();
}
