//! Browser tests (wasm-bindgen-test in headless Chrome, inside a dedicated worker as in the app):
//! the wasm build gives the same tokens as the native build, and the JS-facing API behaves.

#![cfg(target_arch = "wasm32")]

mod common;
#[path = "common/kernels.rs"]
mod kernels;

use common::{golden_options, ARTICLE, FIXTURES};
use t5_summarizer::generation::Flow;
use t5_summarizer::wasm::WasmSummarizer;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen_test]
fn article_summary_equals_the_native_golden() {
    for fx in &FIXTURES {
        let s = fx.load();
        let summary = s
            .summarize(ARTICLE, &golden_options(), &mut |_| Flow::Continue)
            .unwrap();
        let actual = serde_json::to_value(&summary).unwrap();
        let golden: serde_json::Value = serde_json::from_str(fx.golden).unwrap();
        assert_eq!(
            actual, golden,
            "{}: wasm differs from the native golden",
            fx.name
        );
        assert!(summary.passes[0].len() > 3);
    }
}

/// The hub-way (SentencePiece-converted) tokenizer gives SentencePiece's ids here too.
#[wasm_bindgen_test]
fn hub_way_sentencepiece_tokenizer_matches_sentencepiece() {
    common::check_spm_tokenizer();
}

#[wasm_bindgen_test]
fn simd128_kernels_match_candle_matmul() {
    assert!(
        t5_summarizer::wasm::simd_enabled(),
        "the test build must use SIMD128"
    );
    kernels::check_kernels();
}

#[wasm_bindgen_test]
fn simd128_stacked_layers_match_their_parts() {
    kernels::check_stacking();
}

#[wasm_bindgen_test]
fn simd128_attention_matches_candle_ops() {
    kernels::check_attention();
}

/// The fixture loaded through the JS-facing constructor, weights as a `Uint8Array`.
fn load_js(fx: &common::Fixture) -> WasmSummarizer {
    WasmSummarizer::new(
        fx.config,
        fx.tokenizer,
        bytes(fx.weights),
        JsValue::UNDEFINED,
    )
    .unwrap()
}

fn bytes(b: &[u8]) -> JsValue {
    js_sys::Uint8Array::from(b).into()
}

/// `b` as a `Blob` (what the worker passes for a file in Cache Storage or a picked file).
fn blob(b: &[u8]) -> JsValue {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(b));
    web_sys::Blob::new_with_u8_array_sequence(&parts)
        .unwrap()
        .into()
}

#[wasm_bindgen_test]
fn weights_as_a_blob_summarize_like_bytes() {
    for fx in &FIXTURES {
        let s = WasmSummarizer::new(
            fx.config,
            fx.tokenizer,
            blob(fx.weights),
            JsValue::UNDEFINED,
        )
        .unwrap();
        let options =
            js_sys::JSON::parse(r#"{"maxInputTokens":96,"maxNewTokens":16,"minNewTokens":4}"#)
                .unwrap();
        let result = s.summarize(ARTICLE, options, None).unwrap();
        let golden: serde_json::Value = serde_json::from_str(fx.golden).unwrap();
        assert_eq!(
            get(&result, "text").as_string().unwrap(),
            golden["text"].as_str().unwrap(),
            "{}",
            fx.name
        );
        assert_eq!(
            get(&s.info().unwrap(), "modelBytes").as_f64(),
            get(&load_js(fx).info().unwrap(), "modelBytes").as_f64()
        );
    }
}

#[wasm_bindgen_test]
fn weights_of_another_type_are_refused() {
    let (kind, message) = load_error(&FIXTURES[0], "weights".into());
    assert_eq!(kind, "invalid-option");
    assert!(message.contains("Uint8Array or a Blob"), "{message}");
}

#[wasm_bindgen_test]
fn sha256_by_chunks_equals_the_digest_of_the_whole() {
    use t5_summarizer::wasm::Sha256;
    let mut h = Sha256::new();
    h.update(b"abc");
    assert_eq!(
        h.finish(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let whole = FIXTURES[0].weights;
    for chunk in whole.chunks(65_537) {
        h.update(chunk);
    }
    let chunked = h.finish();
    h.update(whole);
    assert_eq!(chunked, h.finish());
    assert_eq!(chunked.len(), 64);
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &key.into()).unwrap()
}

#[wasm_bindgen_test]
fn js_api_summarizes_with_events() {
    let fx = &FIXTURES[0];
    let s = load_js(fx);
    let events = js_sys::Array::new();
    let sink = events.clone();
    let on_event = Closure::<dyn Fn(JsValue)>::new(move |e: JsValue| {
        sink.push(&get(&e, "type"));
    });
    let options =
        js_sys::JSON::parse(r#"{"maxInputTokens":96,"maxNewTokens":16,"minNewTokens":4}"#).unwrap();
    let result = s
        .summarize(
            ARTICLE,
            options,
            Some(
                on_event
                    .as_ref()
                    .unchecked_ref::<js_sys::Function>()
                    .clone(),
            ),
        )
        .unwrap();
    let golden: serde_json::Value = serde_json::from_str(fx.golden).unwrap();
    assert_eq!(
        get(&result, "text").as_string().unwrap(),
        golden["text"].as_str().unwrap()
    );
    let types: Vec<String> = events.iter().map(|v| v.as_string().unwrap()).collect();
    assert_eq!(types.first().map(String::as_str), Some("planned"));
    assert!(types.iter().filter(|t| *t == "chunk-done").count() > 3);
    assert!(types.iter().any(|t| t == "token"));
    assert_eq!(
        get(&s.info().unwrap(), "prefix").as_string().unwrap(),
        "summarize: "
    );
}

/// The `(kind, message)` of loading `fx` with these weights, which must fail.
fn load_error(fx: &common::Fixture, weights: JsValue) -> (String, String) {
    let Err(err) = WasmSummarizer::new(fx.config, fx.tokenizer, weights, JsValue::UNDEFINED) else {
        panic!("{}: loaded with weights that must be refused", fx.name);
    };
    error_kind(&err)
}

fn error_kind(err: &JsValue) -> (String, String) {
    (
        get(err, "kind").as_string().unwrap_or_default(),
        get(err, "message").as_string().unwrap_or_default(),
    )
}

#[wasm_bindgen_test]
fn load_errors_carry_a_kind() {
    let fx = &FIXTURES[0];
    for weights in [bytes(&fx.weights[..100]), blob(&fx.weights[..100])] {
        let (kind, message) = load_error(fx, weights);
        assert_eq!(kind, "model-file");
        assert!(message.starts_with("model.safetensors: "), "{message}");
    }
}

#[wasm_bindgen_test]
fn summarize_errors_carry_a_kind() {
    let fx = &FIXTURES[0];
    let s = load_js(fx);
    let Err(err) = s.summarize("   ", JsValue::UNDEFINED, None) else {
        panic!("empty text summarized");
    };
    assert_eq!(error_kind(&err).0, "empty-input");
    let bad = js_sys::JSON::parse(r#"{"maxNewTokenz":3}"#).unwrap();
    let Err(err) = s.summarize("Text.", bad, None) else {
        panic!("an unknown option was accepted");
    };
    let (kind, message) = error_kind(&err);
    assert_eq!(kind, "invalid-option", "{message}");
    assert!(message.contains("maxNewTokenz"), "{message}");
}

#[wasm_bindgen_test]
fn simd_is_compiled_in() {
    assert!(t5_summarizer::wasm::simd_enabled());
}

/// The parity checks of tests/parity.rs, in the browser: encoder and logits within 1e-4 of
/// transformers (with and without the cache), and every reference `generate()` setting
/// (greedy and beam search) token-identical, for both fixtures.
#[wasm_bindgen_test]
fn parity_with_transformers_in_the_browser() {
    use common::parity::{assert_generate_matches, encoder_diff, logits_diffs, TOLERANCE};
    for fx in &FIXTURES {
        let (m, r) = (fx.model(), fx.reference());
        for input in ["short", "long"] {
            let diff = encoder_diff(&m, &r, input);
            assert!(diff <= TOLERANCE, "{} encoder {input}: {diff}", fx.name);
        }
        let (no_cache, cached) = logits_diffs(&m, &r);
        assert!(no_cache <= TOLERANCE, "{} no cache: {no_cache}", fx.name);
        assert!(cached <= TOLERANCE, "{} with cache: {cached}", fx.name);
        assert!(assert_generate_matches(fx.name, &fx.load(), &r) >= 10);
    }
}

#[wasm_bindgen_test]
fn simd128_layer_norm_matches_candle() {
    kernels::check_rms_norm();
}
