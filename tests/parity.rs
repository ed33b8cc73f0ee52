//! Parity with the reference implementation (PyTorch + transformers) on the committed fixtures.
//!
//! `tests/fixtures/<model>/reference.json` holds what transformers computed for the same weights
//! (written by `python3 tools/reference.py`): encoder outputs, teacher-forced decoder logits and
//! `generate()` token ids for greedy and beam-search settings. Both T5 variants are covered:
//! tiny-t5 (relu, tied embeddings, summarization defaults in config.json) and tiny-flan-t5
//! (gated-gelu, separate LM head). The browser suite (tests/web.rs) runs the same checks in wasm.

mod common;

use common::parity::{
    assert_generate_matches, encoder_diff, ids, logits_diffs, settings, TOLERANCE,
};
use common::FIXTURES;
use t5_summarizer::generation::{EarlyStopping, Flow};
use t5_summarizer::SummarizeOptions;

#[test]
fn encoder_output_matches_reference() {
    for fx in &FIXTURES {
        let (m, r) = (fx.model(), fx.reference());
        for input in ["short", "long"] {
            let diff = encoder_diff(&m, &r, input);
            println!("{} encoder ({input}): max abs diff {diff:.3e}", fx.name);
            assert!(diff <= TOLERANCE, "{} {input}: {diff}", fx.name);
        }
    }
}

/// Teacher-forced logits of every decoder position, in one pass without a cache and step by step
/// with the cache.
#[test]
fn decoder_logits_match_reference_with_and_without_cache() {
    for fx in &FIXTURES {
        let (no_cache, cached) = logits_diffs(&fx.model(), &fx.reference());
        println!(
            "{} logits: max abs diff {no_cache:.3e} without cache, {cached:.3e} with cache",
            fx.name
        );
        assert!(no_cache <= TOLERANCE, "{} no cache: {no_cache}", fx.name);
        assert!(cached <= TOLERANCE, "{} with cache: {cached}", fx.name);
    }
}

/// Every `generate()` setting of the reference, greedy and beam search, on both inputs.
#[test]
fn generate_matches_reference_token_for_token() {
    for fx in &FIXTURES {
        let n = assert_generate_matches(fx.name, &fx.load(), &fx.reference());
        assert!(n >= 10);
        println!("{}: {n} settings × 2 inputs token-identical", fx.name);
    }
}

/// With config.json's `task_specific_params.summarization`, the defaults are those settings and
/// reproduce transformers' output for them.
#[test]
fn summarization_defaults_come_from_config() {
    let fx = &FIXTURES[0];
    let (s, r) = (fx.load(), fx.reference());
    let defaults = s.generation_config(&SummarizeOptions::default()).unwrap();
    assert_eq!(
        defaults,
        settings(&r["settings"]["t5_summarization_defaults"], s.config())
    );
    assert_eq!(defaults.num_beams, 4);
    assert_eq!(defaults.early_stopping, EarlyStopping::Done);
    let input_ids = ids(&r["inputs"]["long"]);
    let ours = s
        .generate(&input_ids, &defaults, &mut |_| Flow::Continue)
        .unwrap();
    assert_eq!(
        ours,
        ids(&r["generate"]["t5_summarization_defaults"]["long"])[1..]
    );
    // Without those params (flan-t5 style) the default is greedy.
    let flan = FIXTURES[1].load();
    assert_eq!(
        flan.generation_config(&SummarizeOptions::default())
            .unwrap()
            .num_beams,
        1
    );
}

/// Sampling gives the same tokens for the same seed and different tokens for another.
#[test]
fn sampling_is_deterministic_per_seed() {
    let fx = &FIXTURES[1];
    let (s, r) = (fx.load(), fx.reference());
    let input_ids = ids(&r["inputs"]["short"]);
    let run = |seed: u64, temperature: f32, top_k: usize, top_p: f32| {
        let options = SummarizeOptions {
            do_sample: Some(true),
            seed: Some(seed),
            temperature: Some(temperature),
            top_k: Some(top_k),
            top_p: Some(top_p),
            max_new_tokens: Some(30),
            ..Default::default()
        };
        let cfg = s.generation_config(&options).unwrap();
        s.generate(&input_ids, &cfg, &mut |_| Flow::Continue)
            .unwrap()
    };
    for (temperature, top_k, top_p) in [(1.0, 50, 1.0), (0.7, 0, 0.9), (1.5, 10, 0.95)] {
        let a = run(42, temperature, top_k, top_p);
        assert_eq!(a, run(42, temperature, top_k, top_p));
        assert_ne!(a, run(43, temperature, top_k, top_p));
    }
    // A tiny temperature is greedy.
    assert_eq!(
        run(1, 1e-4, 0, 1.0)[..20],
        ids(&r["generate"]["greedy_40"]["short"])[1..21]
    );
}

/// The same checks on any model folder with a `reference.json`, for example one with the exact
/// t5-small shape (not committed; about 240 MB):
///
/// ```sh
/// python3 tools/make_bench_model.py t5-small /tmp/t5-small-random
/// python3 tools/reference.py /tmp/t5-small-random
/// T5_PARITY_DIR=/tmp/t5-small-random cargo test --release --test parity -- --ignored
/// ```
#[test]
#[ignore = "needs T5_PARITY_DIR: a model folder with reference.json (see the doc comment)"]
fn parity_on_a_model_folder() {
    let dir = std::path::PathBuf::from(
        std::env::var("T5_PARITY_DIR").expect("set T5_PARITY_DIR to a model folder"),
    );
    let read = |f: &str| -> &'static [u8] {
        Box::leak(
            std::fs::read(dir.join(f))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
                .into_boxed_slice(),
        )
    };
    let fx = common::Fixture {
        name: "model folder",
        config: read("config.json"),
        tokenizer: read("tokenizer.json"),
        weights: read("model.safetensors"),
        golden: "{}",
        reference: std::str::from_utf8(read("reference.json")).unwrap(),
    };
    let (m, r) = (fx.model(), fx.reference());
    for input in ["short", "long"] {
        let diff = encoder_diff(&m, &r, input);
        println!("encoder ({input}): max abs diff {diff:.3e}");
        assert!(diff <= TOLERANCE, "{input}: {diff}");
    }
    let (no_cache, cached) = logits_diffs(&m, &r);
    println!("logits: max abs diff {no_cache:.3e} without cache, {cached:.3e} with cache");
    assert!(no_cache <= TOLERANCE && cached <= TOLERANCE);
    let n = assert_generate_matches(fx.name, &fx.load(), &r);
    println!("{n} settings × 2 inputs token-identical");
}

/// The CLI drives the same generation: with `--input-ids` and beam-search flags it prints
/// transformers' tokens; bad flag values give one line on stderr and a non-zero exit.
#[test]
fn cli_reproduces_reference_beam_search() {
    let fx = &FIXTURES[1];
    let r = fx.reference();
    let dir = format!("{}/tests/fixtures/{}", env!("CARGO_MANIFEST_DIR"), fx.name);
    let input: Vec<String> = ids(&r["inputs"]["short"])
        .iter()
        .map(u32::to_string)
        .collect();
    // beam_4_lp_2_no_repeat_3: num_beams 4, max_new_tokens 40, length_penalty 2,
    // no_repeat_ngram_size 3, early_stopping true.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_summarize"))
        .args(["--model", &dir, "--input-ids", &input.join(",")])
        .args([
            "--num-beams",
            "4",
            "--max-new-tokens",
            "40",
            "--length-penalty",
            "2",
        ])
        .args([
            "--no-repeat-ngram-size",
            "3",
            "--early-stopping",
            "true",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        ids(&json["tokens"]),
        ids(&r["generate"]["beam_4_lp_2_no_repeat_3"]["short"])[1..]
    );
    for bad in [
        ["--early-stopping", "maybe"],
        ["--num-beams", "0"],
        ["--repetition-penalty", "x"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_summarize"))
            .args(["--model", &dir, "--input-ids", "5,1"])
            .args(bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{bad:?}: {err}");
        assert!(err.starts_with("summarize: "), "{err}");
    }
}
