//! The browser shell: wasm-bindgen exports that the Web Worker calls.
//!
//! Thin by design: bytes and options in, plain JS objects out, progress through a callback.
//! Errors become JS `Error`s whose `kind` property is [`crate::Error::kind`].

pub mod clock;
pub mod store;

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::generation::Flow;
use crate::pipeline::{Event, ModelFiles, SummarizeOptions, Summarizer};
use crate::Error;

/// Installs the panic hook so a Rust panic is logged with its message before the trap.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// Whether this build was compiled with WebAssembly SIMD128.
#[wasm_bindgen(js_name = simdEnabled)]
pub fn simd_enabled() -> bool {
    cfg!(target_feature = "simd128")
}

fn js_error(err: &Error) -> JsValue {
    let e = js_sys::Error::new(&err.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&e, &"kind".into(), &err.kind().into());
    e.into()
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsValue::from(js_sys::Error::new(&e.to_string())))
}

/// Reads summarize options from a JS object. Goes through JSON rather than serde-wasm-bindgen,
/// which only looks up known keys and so would silently ignore a misspelled option.
fn parse_options(options: &JsValue) -> Result<SummarizeOptions, Error> {
    if options.is_undefined() || options.is_null() {
        return Ok(SummarizeOptions::default());
    }
    let json = js_sys::JSON::stringify(options)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| Error::InvalidOption("options must be a plain object".into()))?;
    serde_json::from_str(&json).map_err(|e| Error::InvalidOption(e.to_string()))
}

/// Model facts the page shows and the worker reports.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelInfo {
    vocab_size: usize,
    d_model: usize,
    encoder_layers: usize,
    decoder_layers: usize,
    gated: bool,
    prefix: String,
    max_new_tokens: usize,
    min_new_tokens: usize,
    max_input_tokens: usize,
}

/// A loaded model, callable from JS.
#[wasm_bindgen]
pub struct WasmSummarizer {
    inner: Summarizer,
}

#[wasm_bindgen]
impl WasmSummarizer {
    /// Loads a model from the bytes of `config.json`, `tokenizer.json` and the weights file.
    #[wasm_bindgen(constructor)]
    pub fn new(
        config: &[u8],
        tokenizer: &[u8],
        weights: &[u8],
        weights_name: Option<String>,
    ) -> Result<WasmSummarizer, JsValue> {
        let weights_name = weights_name.unwrap_or_else(|| "model.safetensors".to_string());
        let files = ModelFiles {
            config,
            tokenizer,
            weights,
            weights_name: &weights_name,
        };
        let inner = Summarizer::load(&files).map_err(|e| js_error(&e))?;
        Ok(WasmSummarizer { inner })
    }

    /// Model facts and the default settings.
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let defaults = SummarizeOptions::default();
        let gen = self
            .inner
            .generation_config(&defaults)
            .map_err(|e| js_error(&e))?;
        let cfg = self.inner.config();
        to_js(&ModelInfo {
            vocab_size: cfg.vocab_size,
            d_model: cfg.d_model,
            encoder_layers: cfg.num_layers,
            decoder_layers: cfg.num_decoder_layers,
            gated: cfg.gated,
            prefix: self.inner.prefix(&defaults),
            max_new_tokens: gen.max_new_tokens,
            min_new_tokens: gen.min_new_tokens,
            max_input_tokens: crate::pipeline::DEFAULT_MAX_INPUT_TOKENS,
        })
    }

    /// Tokens in `text` (no special tokens).
    #[wasm_bindgen(js_name = countTokens)]
    pub fn count_tokens(&self, text: &str) -> Result<usize, JsValue> {
        self.inner.count_tokens(text).map_err(|e| js_error(&e))
    }

    /// Summarizes `text`. `options` is an object of [`SummarizeOptions`] fields (camelCase) or
    /// undefined; `on_event`, when given, receives progress objects and may return `false` to stop.
    pub fn summarize(
        &self,
        text: &str,
        options: JsValue,
        on_event: Option<js_sys::Function>,
    ) -> Result<JsValue, JsValue> {
        let options = parse_options(&options).map_err(|e| js_error(&e))?;
        let mut callback_error = None;
        let mut forward = |event: Event<'_>| -> Flow {
            let Some(f) = on_event.as_ref() else {
                return Flow::Continue;
            };
            let obj = js_sys::Object::new();
            let set = |k: &str, v: JsValue| {
                let _ = js_sys::Reflect::set(&obj, &k.into(), &v);
            };
            match event {
                Event::Planned { pass, chunks } => {
                    set("type", "planned".into());
                    set("pass", pass.into());
                    set("chunks", chunks.into());
                }
                Event::ChunkStarted { pass, index, total } => {
                    set("type", "chunk-start".into());
                    set("pass", pass.into());
                    set("index", index.into());
                    set("total", total.into());
                }
                Event::Token { pass, index, token } => {
                    set("type", "token".into());
                    set("pass", pass.into());
                    set("index", index.into());
                    set("token", token.into());
                }
                Event::ChunkDone {
                    pass,
                    index,
                    total,
                    summary,
                    delta,
                } => {
                    set("type", "chunk-done".into());
                    set("delta", delta.into());
                    set("pass", pass.into());
                    set("index", index.into());
                    set("total", total.into());
                    set("summary", summary.into());
                }
            }
            match f.call1(&JsValue::NULL, &obj) {
                Ok(v) if v == JsValue::FALSE => Flow::Stop,
                Ok(_) => Flow::Continue,
                Err(e) => {
                    callback_error = Some(e);
                    Flow::Stop
                }
            }
        };
        let result = self.inner.summarize(text, &options, &mut forward);
        if let Some(e) = callback_error {
            return Err(e);
        }
        let summary = result.map_err(|e| js_error(&e))?;
        to_js(&summary)
    }
}
