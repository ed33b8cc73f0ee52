//! The browser shell: wasm-bindgen exports that the Web Worker calls.
//!
//! Thin by design: bytes and options in, plain JS objects out, progress through a callback.
//! Errors become JS `Error`s whose `kind` property is [`crate::Error::kind`].

#[cfg(feature = "bench")]
pub mod bench;
pub mod clock;
pub mod metrics;
pub mod store;

use std::rc::Rc;

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::generation::Flow;
use crate::metrics::record::{FileLoad, ModelIdentity};
use crate::metrics::{Clock, ModelLoad, NullClock, Record};
use crate::pipeline::{Event, LoadSettings, ModelFiles, SummarizeOptions, Summarizer};
use crate::Error;
use clock::PerformanceClock;
use metrics::{from_js, memory_reading, Shared};

/// Installs the panic hook so a Rust panic is logged with its message before the trap, and
/// `performance.now()` as the core's clock. Runs when the module starts; the constructors run it
/// too (idempotent), for hosts that skip the start function.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    crate::metrics::clock::set_platform_clock(|| Box::new(PerformanceClock::new()));
}

/// Reports the stage User Timing measures queued by the last summarize to
/// `performance.measure` (the logger's `flush()` does this too).
#[wasm_bindgen(js_name = flushUserTiming)]
pub fn flush_user_timing() {
    clock::flush_user_timing();
}

/// `performance.now()` reads the summarizer's clocks have made in this instance.
#[wasm_bindgen(js_name = clockReads)]
pub fn clock_reads() -> f64 {
    clock::clock_reads() as f64
}

/// Starts the kernels' thread pool (`initThreadPool(n)` in JS; threaded build only, which needs
/// a cross-origin isolated page).
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Threads the kernels split their work over: 1 in the single-thread build; in the threaded
/// one, once `initThreadPool(n)` has run, the pool's `n` and the calling thread.
#[wasm_bindgen(js_name = kernelThreads)]
pub fn kernel_threads() -> usize {
    #[cfg(feature = "threads")]
    {
        // The pool and the calling thread.
        rayon::current_num_threads() + 1
    }
    #[cfg(not(feature = "threads"))]
    {
        1
    }
}

/// Whether this build was compiled with WebAssembly SIMD128.
#[wasm_bindgen(js_name = simdEnabled)]
pub fn simd_enabled() -> bool {
    cfg!(target_feature = "simd128")
}

/// After a trap: the size in bytes of the allocation that failed when the instance ran out of
/// memory, with the memory it had then, `{ requested, memoryBytes }`; null when no allocation
/// failed (the trap had another cause). Reading it is safe after the trap: it touches no state
/// the trap may have left half-changed.
#[wasm_bindgen(js_name = outOfMemory)]
pub fn out_of_memory() -> JsValue {
    match crate::metrics::memory::failed_allocation() {
        None => JsValue::NULL,
        Some(requested) => {
            let o = js_sys::Object::new();
            let memory = (core::arch::wasm32::memory_size(0) as f64) * 65536.0;
            let _ = js_sys::Reflect::set(&o, &"requested".into(), &(requested as f64).into());
            let _ = js_sys::Reflect::set(&o, &"memoryBytes".into(), &memory.into());
            o.into()
        }
    }
}

/// Whether this build was compiled with WebAssembly relaxed SIMD (`www/pkg-relaxed` and the
/// threaded build).
#[wasm_bindgen(js_name = relaxedSimdEnabled)]
pub fn relaxed_simd_enabled() -> bool {
    cfg!(target_feature = "relaxed-simd")
}

fn js_error(err: &Error) -> JsValue {
    let e = js_sys::Error::new(&err.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&e, &"kind".into(), &err.kind().into());
    e.into()
}

use metrics::{bulk_to_js, to_js};

/// Reads summarize options from a JS object. Goes through JSON rather than serde-wasm-bindgen,
/// which only looks up known keys and so would silently ignore a misspelled option.
fn parse_options(options: &JsValue) -> Result<SummarizeOptions, Error> {
    if options.is_undefined() || options.is_null() {
        return Ok(SummarizeOptions::default());
    }
    from_js(options).map_err(Error::InvalidOption)
}

/// What the worker tells the loader about the model and how its files were obtained; every
/// field is optional. The figures end up in the `model_loading` record.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct LoadOptions {
    /// Weights file name (decides the format): `model.safetensors` by default.
    weights_name: Option<String>,
    /// Model identity: catalog id or name, base URL, revision, SHA-256 of the weights.
    id: Option<String>,
    url: Option<String>,
    revision: Option<String>,
    sha256: Option<String>,
    /// Seconds spent hashing the weights.
    hash_seconds: Option<f64>,
    /// Each file as fetched: `{ file, bytes, cacheHit, fetchSeconds }`.
    files: Vec<FileLoad>,
    /// `performance.now()` when fetching began, so the load time covers fetch + hash + parse.
    started_at: Option<f64>,
    /// `false` switches metrics off for this model: no timer reads, no records.
    metrics: Option<bool>,
    /// `"int8"`: linear layers converted to int8 rows at load.
    quantize: Option<String>,
}

fn error_stage(err: &Error) -> &'static str {
    match err {
        Error::ModelFile { .. } => "load",
        Error::EmptyInput | Error::InvalidOption(_) => "input",
        Error::Tokenizer(_) => "tokenize",
        Error::Compute(_) => "inference",
        Error::Cancelled => "cancelled",
    }
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
    dtype: String,
    model_bytes: usize,
    generation: crate::generation::GenerationConfig,
}

/// A loaded model, callable from JS.
#[wasm_bindgen]
pub struct WasmSummarizer {
    inner: Rc<std::cell::RefCell<Summarizer>>,
    identity: ModelIdentity,
    metrics: bool,
    load_records: Vec<Record>,
    last_logging_ms: Rc<std::cell::Cell<f64>>,
    /// Whether a summary is running (one at a time: they share the logger's run).
    running: Rc<std::cell::Cell<bool>>,
}

/// A weights file held by JavaScript: tensors are copied out of it one at a time, so the whole
/// file is never copied into wasm memory.
pub(crate) struct JsBytes(pub(crate) js_sys::Uint8Array);

impl crate::model::ByteSource for JsBytes {
    fn len(&self) -> usize {
        self.0.length() as usize
    }

    fn read_at(&self, offset: usize, buf: &mut [u8]) -> std::io::Result<()> {
        self.0
            .subarray(offset as u32, (offset + buf.len()) as u32)
            .copy_to(buf);
        Ok(())
    }
}

/// A weights file as a `Blob` (a file in Cache Storage, or one the user picked): read range by
/// range with `FileReaderSync` (dedicated workers only), so the file stays on disk and neither
/// JavaScript nor wasm memory ever holds all of it. Small reads (a GGUF header's fields) are
/// served from one window read ahead, not one read each.
pub(crate) struct JsBlob {
    blob: web_sys::Blob,
    reader: web_sys::FileReaderSync,
    len: usize,
    /// Offset and bytes of the last window read.
    window: std::cell::RefCell<(usize, Vec<u8>)>,
}

/// Bytes read ahead for small reads.
const BLOB_WINDOW: usize = 1 << 20;

/// The largest piece read from a blob at once.
const BLOB_PIECE: usize = 4 << 20;

impl JsBlob {
    pub(crate) fn new(blob: web_sys::Blob) -> Result<Self, JsValue> {
        let reader = web_sys::FileReaderSync::new()?;
        let len = blob.size() as usize;
        Ok(JsBlob {
            blob,
            reader,
            len,
            window: std::cell::RefCell::new((0, Vec::new())),
        })
    }

    /// Reads `buf.len()` bytes at `offset`, in pieces of at most [`BLOB_PIECE`] bytes, each
    /// freed (its buffer detached) as soon as it is copied: a whole tensor read at once would
    /// leave its bytes behind as garbage until the collector ran, adding up over a load.
    fn read_range(&self, offset: usize, buf: &mut [u8]) -> std::io::Result<()> {
        for (i, piece) in buf.chunks_mut(BLOB_PIECE).enumerate() {
            self.read_piece(offset + i * BLOB_PIECE, piece)?;
        }
        Ok(())
    }

    fn read_piece(&self, offset: usize, buf: &mut [u8]) -> std::io::Result<()> {
        let fail = |e: JsValue| {
            let why = e
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .unwrap_or_else(|| format!("{e:?}"));
            std::io::Error::other(why)
        };
        let part = self
            .blob
            .slice_with_f64_and_f64(offset as f64, (offset + buf.len()) as f64)
            .map_err(fail)?;
        let buffer = self.reader.read_as_array_buffer(&part).map_err(fail)?;
        let bytes = js_sys::Uint8Array::new(&buffer);
        if bytes.length() as usize != buf.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} of {} bytes at {offset}", bytes.length(), buf.len()),
            ));
        }
        bytes.copy_to(buf);
        detach(&buffer);
        Ok(())
    }
}

/// Frees an `ArrayBuffer`'s memory now (`transfer(0)` detaches it), where the browser has
/// `ArrayBuffer.prototype.transfer`; elsewhere the collector frees it.
fn detach(buffer: &js_sys::ArrayBuffer) {
    if let Ok(transfer) = js_sys::Reflect::get(buffer, &"transfer".into()) {
        if let Some(transfer) = transfer.dyn_ref::<js_sys::Function>() {
            let _ = transfer.call1(buffer, &JsValue::from(0));
        }
    }
}

impl crate::model::ByteSource for JsBlob {
    fn len(&self) -> usize {
        self.len
    }

    fn read_at(&self, offset: usize, buf: &mut [u8]) -> std::io::Result<()> {
        if buf.len() >= BLOB_WINDOW / 4 {
            return self.read_range(offset, buf);
        }
        let mut window = self.window.borrow_mut();
        let (start, bytes) = &mut *window;
        if offset < *start || offset + buf.len() > *start + bytes.len() {
            let n = BLOB_WINDOW.min(self.len - offset).max(buf.len());
            bytes.resize(n, 0);
            self.read_range(offset, bytes)?;
            *start = offset;
        }
        buf.copy_from_slice(&bytes[offset - *start..offset - *start + buf.len()]);
        Ok(())
    }
}

/// The weights argument of [`WasmSummarizer::new`]: a `Uint8Array` or a `Blob`.
fn weights_source(weights: &JsValue) -> Result<Box<dyn crate::model::ByteSource>, JsValue> {
    if let Some(blob) = weights.dyn_ref::<web_sys::Blob>() {
        return Ok(Box::new(JsBlob::new(blob.clone())?));
    }
    match weights.dyn_ref::<js_sys::Uint8Array>() {
        Some(bytes) => Ok(Box::new(JsBytes(bytes.clone()))),
        None => Err(js_error(&Error::InvalidOption(
            "the weights must be a Uint8Array or a Blob".into(),
        ))),
    }
}

/// SHA-256 computed chunk by chunk (WebCrypto's digest wants the whole file at once), so a
/// file is hashed as it streams in and never has to be held whole: `new Sha256()`,
/// `update(chunk)` per chunk, `finish()` for the hex digest.
#[wasm_bindgen]
pub struct Sha256(sha2::Sha256);

#[wasm_bindgen]
impl Sha256 {
    #[wasm_bindgen(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Sha256 {
        use sha2::Digest;
        Sha256(sha2::Sha256::new())
    }

    /// Adds the next chunk of the file.
    pub fn update(&mut self, chunk: &[u8]) {
        use sha2::Digest;
        self.0.update(chunk);
    }

    /// The digest of everything added, as lowercase hex; the hasher starts over.
    pub fn finish(&mut self) -> String {
        use sha2::Digest;
        self.0
            .finalize_reset()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A model being loaded a tensor at a time, for a worker that reads each tensor's bytes from the
/// weights `Blob` itself (a BYOB stream into one buffer it reuses: reading leaves no garbage for
/// the collector, where `FileReaderSync` leaves every piece behind until it runs):
/// `new WasmLoad(config, tokenizer, weights, options)` (as for `WasmSummarizer`; only the
/// file's header is read from `weights`), then while `nextRange()` gives `[start, end]`,
/// `read(bytes of start..end)`; then `finish()`. A failed step logs the load's error record.
#[wasm_bindgen]
pub struct WasmLoad {
    /// `None` once finished or failed.
    load: Option<crate::pipeline::SummarizerLoad>,
    source: Box<dyn crate::model::ByteSource>,
    opts: LoadOptions,
    weights_name: String,
    metrics_on: bool,
    shared: Option<Rc<Shared>>,
    identity: ModelIdentity,
    clock: PerformanceClock,
    memory_before: Option<crate::metrics::record::Memory>,
    t0: f64,
}

/// The bytes of one range of a weights file, at their offsets in the file.
struct RangeBytes<'a> {
    start: usize,
    len: usize,
    bytes: &'a js_sys::Uint8Array,
}

impl crate::model::ByteSource for RangeBytes<'_> {
    fn len(&self) -> usize {
        self.len
    }

    fn read_at(&self, offset: usize, buf: &mut [u8]) -> std::io::Result<()> {
        let end = offset + buf.len();
        if offset < self.start || end > self.start + self.bytes.length() as usize {
            return Err(std::io::Error::other(format!(
                "bytes {offset}..{end} were asked for, not given"
            )));
        }
        self.bytes
            .subarray((offset - self.start) as u32, (end - self.start) as u32)
            .copy_to(buf);
        Ok(())
    }
}

#[wasm_bindgen]
impl WasmLoad {
    /// Starts loading a model from the bytes of `config.json` and `tokenizer.json` and the
    /// weights file (a `Uint8Array`, or a `Blob`: dedicated workers only); `options` as for
    /// `WasmSummarizer`. Checks config and tokenizer and reads the weights' header.
    #[wasm_bindgen(constructor)]
    pub fn new(
        config: &[u8],
        tokenizer: &[u8],
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | Blob")] weights: JsValue,
        options: JsValue,
    ) -> Result<WasmLoad, JsValue> {
        start();
        let source = weights_source(&weights)?;
        let opts: LoadOptions = if let Some(name) = options.as_string() {
            LoadOptions {
                weights_name: Some(name),
                ..Default::default()
            }
        } else if options.is_undefined() || options.is_null() {
            LoadOptions::default()
        } else {
            from_js(&options).map_err(|e| js_error(&Error::InvalidOption(e)))?
        };
        let weights_name = opts
            .weights_name
            .clone()
            .unwrap_or_else(|| "model.safetensors".to_string());
        let metrics_on = opts.metrics != Some(false);
        let shared = metrics::global().filter(|_| metrics_on);
        let identity = ModelIdentity {
            id: opts.id.clone().unwrap_or_else(|| "unnamed".to_string()),
            url: opts.url.clone(),
            revision: opts.revision.clone(),
            dtype: None,
            sha256: opts.sha256.clone(),
        };
        let settings = match opts.quantize.as_deref() {
            None => LoadSettings::default(),
            Some("int8") => LoadSettings { int8: true },
            Some(other) => {
                return Err(js_error(&Error::InvalidOption(format!(
                    "quantize must be \"int8\" (or left out), not \"{other}\""
                ))))
            }
        };
        let clock = PerformanceClock::new();
        let memory_before = shared.as_ref().map(|_| memory_reading(0));
        let t0 = clock.now_ms();
        let mut this = WasmLoad {
            load: None,
            source,
            opts,
            weights_name,
            metrics_on,
            shared,
            identity,
            clock,
            memory_before,
            t0,
        };
        let files = ModelFiles {
            config,
            tokenizer,
            weights: this.source.as_ref(),
            weights_name: &this.weights_name,
        };
        match crate::pipeline::SummarizerLoad::begin(&files, &settings) {
            Ok(load) => this.load = Some(load),
            Err(e) => return Err(this.fail(&e)),
        }
        Ok(this)
    }

    /// `[start, end]`: the bytes of the weights file the next tensor is made of; `undefined`
    /// when every tensor has been read (or the load failed).
    #[wasm_bindgen(js_name = nextRange)]
    pub fn next_range(&self) -> Option<Vec<f64>> {
        let r = self.load.as_ref()?.next_range()?;
        Some(vec![r.start as f64, r.end as f64])
    }

    /// Builds the next tensor from `bytes`: the weights file's bytes `nextRange()` named.
    pub fn read(&mut self, bytes: &js_sys::Uint8Array) -> Result<(), JsValue> {
        let Some(load) = self.load.as_mut() else {
            return Err(js_error(&Error::InvalidOption("the load is over".into())));
        };
        let Some(range) = load.next_range() else {
            return Ok(());
        };
        let source = RangeBytes {
            start: range.start,
            len: self.source.len(),
            bytes,
        };
        if let Err(e) = load.read_next(&source) {
            self.load = None;
            return Err(self.fail(&e));
        }
        Ok(())
    }

    /// Reads every tensor still unread from the weights given to the constructor (range by
    /// range with `FileReaderSync` for a `Blob`).
    #[wasm_bindgen(js_name = readRest)]
    pub fn read_rest(&mut self) -> Result<(), JsValue> {
        let Some(load) = self.load.as_mut() else {
            return Err(js_error(&Error::InvalidOption("the load is over".into())));
        };
        while load.next_range().is_some() {
            if let Err(e) = load.read_next(self.source.as_ref()) {
                self.load = None;
                return Err(self.fail(&e));
            }
        }
        Ok(())
    }

    /// The summarizer, once every tensor has been read.
    pub fn finish(mut self) -> Result<WasmSummarizer, JsValue> {
        let Some(load) = self.load.take() else {
            return Err(js_error(&Error::InvalidOption("the load is over".into())));
        };
        let loaded = load.finish();
        let t1 = self.clock.now_ms();
        self.clock.measure("t5:parse", self.t0, t1);
        if let Some(start) = self.opts.started_at {
            self.clock.measure("t5:load", start, t1);
        }
        let mut inner = match loaded {
            Ok(inner) => inner,
            Err(e) => return Err(self.fail(&e)),
        };
        let mut identity = self.identity.clone();
        identity.dtype = Some(inner.weights_dtype().to_string());
        if !self.metrics_on {
            inner.set_clock(Box::new(NullClock));
        }
        let mut load_records = Vec::new();
        if let Some(s) = &self.shared {
            let parse_seconds = (t1 - self.t0) / 1000.0;
            let load = ModelLoad {
                load_seconds: self
                    .opts
                    .started_at
                    .map_or(parse_seconds, |st| (t1 - st) / 1000.0),
                parse_seconds: Some(parse_seconds),
                hash_seconds: self.opts.hash_seconds,
                device: metrics::device(),
                files: std::mem::take(&mut self.opts.files),
                memory_before: self.memory_before.take(),
                memory_after: memory_reading(inner.model_bytes() as u64),
                model_size_bytes: Some(self.source.len() as u64),
            };
            let records = {
                let mut l = s.logger.borrow_mut();
                l.set_model(identity.clone());
                l.begin_run();
                l.log_model_loading(load)
            };
            load_records = s.push(records);
        }
        Ok(WasmSummarizer {
            inner: Rc::new(std::cell::RefCell::new(inner)),
            identity,
            metrics: self.metrics_on,
            load_records,
            last_logging_ms: Rc::default(),
            running: Rc::default(),
        })
    }
}

impl WasmLoad {
    /// The error `e` for JavaScript, with its record logged (the load's time measured too).
    fn fail(&self, e: &Error) -> JsValue {
        let t1 = self.clock.now_ms();
        self.clock.measure("t5:parse", self.t0, t1);
        if let Some(s) = &self.shared {
            let context = serde_json::json!({
                "stage": "load",
                "kind": e.kind(),
                "model": self.identity.id,
                "url": self.identity.url,
                "weightsFile": self.weights_name,
                "weightsBytes": self.source.len(),
            });
            let records = {
                let mut l = s.logger.borrow_mut();
                l.set_model(self.identity.clone());
                l.begin_run();
                l.log_error("load", &e.to_string(), context)
            };
            s.push(records);
        }
        js_error(e)
    }
}

#[wasm_bindgen]
impl WasmSummarizer {
    /// Loads a model from the bytes of `config.json`, `tokenizer.json` and the weights file (a
    /// `Uint8Array`, or a `Blob` read range by range: dedicated workers only).
    /// `options` is the weights file name or an object (see `LoadOptions`: model identity, file
    /// fetch facts, `metrics: false`). When `get_performance_logger()` has been opened in this
    /// scope, the load and every summarize are logged to it.
    #[wasm_bindgen(constructor)]
    pub fn new(
        config: &[u8],
        tokenizer: &[u8],
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | Blob")] weights: JsValue,
        options: JsValue,
    ) -> Result<WasmSummarizer, JsValue> {
        let mut load = WasmLoad::new(config, tokenizer, weights, options)?;
        load.read_rest()?;
        load.finish()
    }

    /// The records the load produced (empty when no logger was open).
    #[wasm_bindgen(getter, js_name = loadRecords, unchecked_return_type = "MetricRecord[]")]
    pub fn load_records(&self) -> Result<JsValue, JsValue> {
        bulk_to_js(&self.load_records)
    }

    /// Milliseconds the last summarize spent building and queuing its metric
    /// records (measured with `performance.now()`; the overhead benchmark reports it).
    #[wasm_bindgen(getter, js_name = lastLoggingMs)]
    pub fn last_logging_ms(&self) -> f64 {
        self.last_logging_ms.get()
    }

    /// The model identity records carry: `{ id, url, revision, dtype, sha256 }`.
    #[wasm_bindgen(getter, unchecked_return_type = "ModelIdentity")]
    pub fn identity(&self) -> Result<JsValue, JsValue> {
        to_js(&self.identity)
    }

    /// Switches metrics on or off: off, the pipeline reads no timer and nothing is logged
    /// (used to measure what the metrics cost).
    #[wasm_bindgen(js_name = setMetricsEnabled)]
    pub fn set_metrics_enabled(&mut self, on: bool) -> Result<(), JsValue> {
        let mut inner = self.inner.try_borrow_mut().map_err(|_| {
            js_error(&Error::InvalidOption(
                "metrics cannot be switched while a summary runs".into(),
            ))
        })?;
        self.metrics = on;
        if on {
            inner.set_clock(Box::new(PerformanceClock::new()));
        } else {
            inner.set_clock(Box::new(NullClock));
        }
        Ok(())
    }

    fn logger(&self) -> Option<Rc<Shared>> {
        metrics::global().filter(|_| self.metrics)
    }

    /// Model facts and the default settings.
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let defaults = SummarizeOptions::default();
        let inner = self.inner.borrow();
        let gen = inner
            .generation_config(&defaults)
            .map_err(|e| js_error(&e))?;
        let cfg = inner.config();
        to_js(&ModelInfo {
            vocab_size: cfg.vocab_size,
            d_model: cfg.d_model,
            encoder_layers: cfg.num_layers,
            decoder_layers: cfg.num_decoder_layers,
            gated: cfg.gated,
            prefix: inner.prefix(&defaults),
            max_new_tokens: gen.max_new_tokens,
            min_new_tokens: gen.min_new_tokens,
            max_input_tokens: crate::pipeline::DEFAULT_MAX_INPUT_TOKENS,
            dtype: inner.weights_dtype().to_string(),
            model_bytes: inner.model_bytes(),
            generation: gen,
        })
    }

    /// Runs the model once on a short made-up input and discards the result (see
    /// [`Summarizer::warm_up`]): the worker calls it right after a load, so the browser
    /// optimizes the kernels before the first summary.
    #[wasm_bindgen(js_name = warmUp)]
    pub fn warm_up(&self, tokens: usize) -> Result<(), JsValue> {
        self.inner
            .borrow()
            .warm_up(tokens)
            .map_err(|e| js_error(&e))
    }

    /// Tokens in `text` (no special tokens).
    #[wasm_bindgen(js_name = countTokens)]
    pub fn count_tokens(&self, text: &str) -> Result<usize, JsValue> {
        self.inner
            .borrow()
            .count_tokens(text)
            .map_err(|e| js_error(&e))
    }

    /// Summarizes `text`. `options` is an object of [`SummarizeOptions`] fields (camelCase) or
    /// undefined; `on_event`, when given, receives progress objects and may return `false` to stop.
    pub fn summarize(
        &self,
        text: &str,
        options: JsValue,
        on_event: Option<js_sys::Function>,
    ) -> Result<JsValue, JsValue> {
        let run = self.run_context()?;
        crate::stepwise::block_on(run.summarize(text.to_string(), options, on_event))
    }

    /// Starts summarizing `text` (arguments as for `summarize`) and returns the run, which
    /// goes on one decoder step per `SummaryJob.step()`: the worker returns to its event loop
    /// between steps, so it can stop a run (by freeing it) within one step. One run at a time:
    /// a second `start` or `summarize` before the first finished or was freed throws.
    pub fn start(
        &self,
        text: &str,
        options: JsValue,
        on_event: Option<js_sys::Function>,
    ) -> Result<SummaryJob, JsValue> {
        let run = self.run_context()?;
        let future = run.summarize(text.to_string(), options, on_event);
        Ok(SummaryJob {
            steps: crate::stepwise::Steps::new(future),
        })
    }

    fn run_context(&self) -> Result<Run, JsValue> {
        if self.running.get() {
            return Err(js_error(&Error::InvalidOption(
                "a summary is already running on this model; wait for it or free it".into(),
            )));
        }
        self.running.set(true);
        Ok(Run {
            inner: self.inner.clone(),
            identity: self.identity.clone(),
            logger: self.logger(),
            last_logging_ms: self.last_logging_ms.clone(),
            running: RunningGuard(self.running.clone()),
        })
    }
}

/// Clears the model's running flag when a run ends or is dropped.
struct RunningGuard(Rc<std::cell::Cell<bool>>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// What one summary run needs of its model, owned so that the run can outlive the call that
/// started it.
struct Run {
    inner: Rc<std::cell::RefCell<Summarizer>>,
    identity: ModelIdentity,
    logger: Option<Rc<Shared>>,
    last_logging_ms: Rc<std::cell::Cell<f64>>,
    #[allow(dead_code)] // held for its Drop
    running: RunningGuard,
}

impl Run {
    // The model stays borrowed for the whole run, across its pauses: `setMetricsEnabled` (the
    // one mutable use) meanwhile fails with a message instead of changing the clock mid-run.
    #[allow(clippy::await_holding_refcell_ref)]
    async fn summarize(
        self,
        text: String,
        options: JsValue,
        on_event: Option<js_sys::Function>,
    ) -> Result<JsValue, JsValue> {
        // Stage marks a previous run queued, if nobody flushed them.
        clock::flush_user_timing();
        let logger = self.logger.clone();
        let inner = self.inner.borrow();
        if let Some(s) = &logger {
            s.last.replace(Vec::new());
            let mut l = s.logger.borrow_mut();
            l.set_model(self.identity.clone());
            l.begin_run();
        }
        let options = match parse_options(&options) {
            Ok(options) => options,
            Err(e) => {
                if let Some(s) = &logger {
                    let context = serde_json::json!({
                        "stage": "input", "kind": e.kind(), "model": self.identity.id,
                    });
                    let records = s
                        .logger
                        .borrow_mut()
                        .log_error("input", &e.to_string(), context);
                    s.push(records);
                }
                return Err(js_error(&e));
            }
        };
        let start_ms = inner.clock().now_ms();
        let (mut planned, mut done) = (0usize, 0usize);
        let mut callback_error = None;
        let mut forward = |event: Event<'_>| -> Flow {
            // Counted for the error record even when nobody listens.
            match &event {
                Event::Planned { pass: 0, chunks } => planned = *chunks,
                Event::ChunkDone { pass: 0, .. } => done += 1,
                _ => {}
            }
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
                Event::Token {
                    pass,
                    index,
                    token,
                    hypothesis,
                } => {
                    set("type", "token".into());
                    set("pass", pass.into());
                    set("index", index.into());
                    set("token", token.into());
                    // The current best output of this chunk, as text (beam search may revise it).
                    set("text", inner.decode(hypothesis).unwrap_or_default().into());
                }
                Event::Text { pass, index, delta } => {
                    set("type", "text".into());
                    set("pass", pass.into());
                    set("index", index.into());
                    set("delta", delta.into());
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
        let result = inner
            .summarize_stepwise(&text, &options, &mut forward)
            .await;
        if let Some(e) = callback_error {
            return Err(e);
        }
        let summary = match result {
            Ok(summary) => summary,
            Err(e) => {
                if let (Some(s), false) = (&logger, matches!(e, Error::Cancelled)) {
                    let seconds = (inner.clock().now_ms() - start_ms) / 1000.0;
                    let context = serde_json::json!({
                        "stage": error_stage(&e),
                        "kind": e.kind(),
                        "model": self.identity.id,
                        "chunk": done,
                        "chunks": planned,
                        "inputChars": text.chars().count(),
                    });
                    let records = {
                        let mut l = s.logger.borrow_mut();
                        let mut r = l.log_error(error_stage(&e), &e.to_string(), context);
                        r.extend(l.log_total_processing(seconds, planned.max(done), done, 1));
                        r
                    };
                    s.push(records);
                }
                return Err(js_error(&e));
            }
        };
        let out = bulk_to_js(&summary)?;
        if let Some(s) = &logger {
            let logging_start = inner.clock().now_ms();
            let count = |f: fn(&crate::pipeline::ChunkSummary) -> usize| -> Vec<Vec<usize>> {
                summary
                    .passes
                    .iter()
                    .map(|p| p.iter().map(f).collect())
                    .collect()
            };
            let records = {
                let mut l = s.logger.borrow_mut();
                let mut r = l.log_run(
                    &summary.timings,
                    &count(|c| c.input_ids.len()),
                    &count(|c| c.output_ids.len()),
                );
                r.extend(l.log(crate::metrics::RecordKind::Memory {
                    memory: memory_reading(inner.model_bytes() as u64),
                }));
                r
            };
            // The records are not copied into the result (that would cost as much as building
            // them): the caller reads them from the logger's `lastRecords` when it has time.
            s.push(records);
            let run_id = s.logger.borrow().run_id().to_string();
            let _ = js_sys::Reflect::set(&out, &"runId".into(), &run_id.into());
            self.last_logging_ms
                .set(inner.clock().now_ms() - logging_start);
        }
        Ok(out)
    }
}

/// A summary being computed one decoder step at a time (`WasmSummarizer.start`). Freeing it
/// cancels the run.
#[wasm_bindgen]
pub struct SummaryJob {
    steps: crate::stepwise::Steps<'static, Result<JsValue, JsValue>>,
}

#[wasm_bindgen]
impl SummaryJob {
    /// Runs to the end of the next decoder step (or chunk): `undefined` while the run goes on,
    /// then its result, what `summarize` returns (and `undefined` after that); throws what
    /// `summarize` throws.
    pub fn step(&mut self) -> Result<JsValue, JsValue> {
        self.steps.step().unwrap_or(Ok(JsValue::UNDEFINED))
    }

    /// Whether the run has ended.
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> bool {
        self.steps.is_done()
    }
}
