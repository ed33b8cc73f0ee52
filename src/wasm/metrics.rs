//! The performance logger as JS sees it: the seed's API (`get_performance_logger()`,
//! `log_model_loading(…)`, …, `get_performance_summary()`) over a [`PerformanceLogger`] that
//! writes every record to IndexedDB (or memory, saying why).
//!
//! `log_*` calls are synchronous: they build the records, return them, and queue them for the
//! store; a write starts at once in the background and `flush()` waits for it. Reading methods
//! (`records`, `get_performance_summary`, exports) flush first, so they see everything logged.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::clock::PerformanceClock;
use super::store::{MetricsStore, DEFAULT_RETENTION};
use crate::metrics::export::{export_json, export_log};
use crate::metrics::logger::memory_now;
use crate::metrics::record::{Device, Environment, Memory, ModelIdentity};
use crate::metrics::{performance_summary, Clock, PerformanceLogger, Record, Thresholds};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Alert limits: a breach adds an `alert` record. */
export interface Thresholds { minTokensPerSecond?: number | null; maxLoadSeconds?: number | null; maxErrorRatePercent?: number | null }
/** Which model produced a record. */
export interface ModelIdentity { id: string; url: string | null; revision: string | null; dtype: string | null; sha256: string | null }
/** Options of get_performance_logger / PerformanceLogger.open (all optional). */
export interface LoggerOptions { database?: string; retention?: number; sessionId?: string; thresholds?: Thresholds }
/** One stored measurement: see www/performance_metrics.schema.json (and www/summarizer.d.ts for the full union). */
export interface MetricRecord { schemaVersion: 1; timestamp: number; sessionId: string; runId: string; model: ModelIdentity; appVersion: string; environment: { userAgent: string; hardwareConcurrency: number | null; crossOriginIsolated: boolean }; type: 'model_loading' | 'inference' | 'preprocessing' | 'total_processing' | 'memory' | 'error' | 'alert'; [field: string]: unknown }
export interface StageStats { count: number; mean: number; p50: number; p95: number; min: number; max: number }
/** What get_performance_summary() resolves to. */
export interface PerformanceSummary { recordCount: number; stages: Record<string, StageStats>; tokensPerSecond: StageStats | null; charsPerSecond: StageStats | null; successCount: number; errorCount: number; successRatePercent: number; errorRatePercent: number; errorsLogged: number; alerts: number }
/** Where records are kept. */
export interface StorageStatus { persistent: boolean; reason: string | null; database: string; retention: number; corruptRecords: number; sessionId: string }
"#;

/// IndexedDB database the app's records live in.
pub const DEFAULT_DATABASE: &str = "t5-summarizer-metrics";

/// One logger and its store, shared by the JS handle and the summarizer.
pub(crate) struct Shared {
    pub(crate) logger: RefCell<PerformanceLogger>,
    store: MetricsStore,
    pending: RefCell<Vec<Record>>,
    /// The latest scheduled write; each write waits for the one before it, so records land in
    /// order and `flush` can wait for all of them.
    last_write: RefCell<js_sys::Promise>,
    /// The records of the latest `push` (what the last logged event produced).
    pub(crate) last: RefCell<Vec<Record>>,
    /// Records that could not be parsed at the last read.
    corrupt: Cell<usize>,
    database: String,
}

thread_local! {
    static GLOBAL: RefCell<Option<Rc<Shared>>> = const { RefCell::new(None) };
}

/// The logger `get_performance_logger()` opened, if it did.
pub(crate) fn global() -> Option<Rc<Shared>> {
    GLOBAL.with(|g| g.borrow().clone())
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn js_err(message: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&message.to_string()).into()
}

/// A small JS object of `value` (serde-wasm-bindgen, JSON-compatible: maps become objects).
pub(crate) fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js_err)
}

/// A JS value of bulk data (record arrays, summaries), built by the browser's `JSON.parse` from
/// one string: one boundary crossing instead of one per field, several times faster than
/// serde-wasm-bindgen here, which matters for the logger's overhead.
pub(crate) fn bulk_to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let json = serde_json::to_string(value).map_err(js_err)?;
    js_sys::JSON::parse(&json)
}

/// Reads a JS value as JSON into `T` (strict: unknown fields are errors where `T` says so).
pub(crate) fn from_js<T: serde::de::DeserializeOwned>(value: &JsValue) -> Result<T, String> {
    let json = js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| "expected a plain object".to_string())?;
    serde_json::from_str(&json).map_err(|e| e.to_string())
}

/// Where the code runs: `navigator.userAgent`, `hardwareConcurrency`, `crossOriginIsolated` of
/// the global scope (window or worker).
pub fn environment() -> Environment {
    let global = js_sys::global();
    let navigator = get(&global, "navigator");
    Environment {
        user_agent: get(&navigator, "userAgent")
            .as_string()
            .unwrap_or_else(|| "unknown".into()),
        hardware_concurrency: get(&navigator, "hardwareConcurrency")
            .as_f64()
            .map(|n| n as u32),
        cross_origin_isolated: get(&global, "crossOriginIsolated").is_truthy(),
    }
}

/// This build's device: wasm on the CPU, SIMD128 (and relaxed SIMD) as compiled, and the threads the kernels use
/// (1 in the single-thread build).
pub fn device() -> Device {
    Device {
        backend: "cpu-wasm".into(),
        simd: cfg!(target_feature = "simd128"),
        threads: super::kernel_threads() as u32,
        relaxed_simd: cfg!(target_feature = "relaxed-simd"),
    }
}

/// Bytes of this module's linear memory.
pub fn linear_memory_bytes() -> u64 {
    wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length() as u64
}

/// `performance.memory.usedJSHeapSize` where the browser exposes it (Chromium), else `None`.
pub fn js_heap_bytes() -> Option<u64> {
    let memory = get(&get(&js_sys::global(), "performance"), "memory");
    get(&memory, "usedJSHeapSize").as_f64().map(|n| n as u64)
}

/// A memory reading with the browser's figures filled in.
pub fn memory_reading(model_bytes: u64) -> Memory {
    memory_now(model_bytes, Some(linear_memory_bytes()), js_heap_bytes())
}

fn random_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Unreachable in a browser (crypto.getRandomValues); fall back to the clock's origin.
        let t = PerformanceClock::new().unix_ms(0.0) as u64;
        bytes = t.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Options of `get_performance_logger` / `PerformanceLogger.open`.
#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct OpenOptions {
    database: Option<String>,
    retention: Option<usize>,
    session_id: Option<String>,
    thresholds: Option<Thresholds>,
}

impl Shared {
    async fn open(options: &JsValue) -> Result<Rc<Shared>, JsValue> {
        let options: OpenOptions = if options.is_undefined() || options.is_null() {
            OpenOptions::default()
        } else {
            from_js(options).map_err(|e| js_err(format!("Invalid logger option: {e}")))?
        };
        let retention = options.retention.unwrap_or(DEFAULT_RETENTION);
        if retention == 0 {
            return Err(js_err(
                "Invalid logger option: retention must be at least 1",
            ));
        }
        let database = options
            .database
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        let store = MetricsStore::open(&database, retention).await;
        let session = options.session_id.unwrap_or_else(random_id);
        let mut logger =
            PerformanceLogger::new(Box::new(PerformanceClock::new()), session, environment());
        if let Some(t) = options.thresholds {
            logger.set_thresholds(t);
        }
        Ok(Rc::new(Shared {
            logger: RefCell::new(logger),
            store,
            pending: RefCell::new(Vec::new()),
            last_write: RefCell::new(js_sys::Promise::resolve(&JsValue::UNDEFINED)),
            last: RefCell::new(Vec::new()),
            corrupt: Cell::new(0),
            database,
        }))
    }

    /// Queues `records` for the store and schedules their write; returns them.
    pub(crate) fn push(self: &Rc<Self>, records: Vec<Record>) -> Vec<Record> {
        self.pending.borrow_mut().extend(records.iter().cloned());
        self.last.replace(records.clone());
        let previous = self.last_write.borrow().clone();
        let this = self.clone();
        let write = wasm_bindgen_futures::future_to_promise(async move {
            let _ = wasm_bindgen_futures::JsFuture::from(previous).await;
            let batch = std::mem::take(&mut *this.pending.borrow_mut());
            if !batch.is_empty() {
                this.store.append(&batch).await;
            }
            Ok(JsValue::UNDEFINED)
        });
        *self.last_write.borrow_mut() = write;
        records
    }

    /// Waits until every write scheduled so far (and any scheduled meanwhile) has finished,
    /// and reports the queued User Timing measures.
    async fn flush(&self) {
        loop {
            let write = self.flush_scheduled().await;
            if js_sys::Object::is(&self.last_write.borrow(), &write) {
                return;
            }
        }
    }

    /// Waits for the writes scheduled so far (each waits for the one before it, so the latest
    /// covers them all), not for any scheduled meanwhile, and reports the queued User Timing
    /// measures. Returns the write it waited for.
    async fn flush_scheduled(&self) -> js_sys::Promise {
        super::clock::flush_user_timing();
        let write = self.last_write.borrow().clone();
        let _ = wasm_bindgen_futures::JsFuture::from(write.clone()).await;
        write
    }

    async fn read(&self) -> Vec<Record> {
        self.flush().await;
        let back = self.store.read_all().await;
        self.corrupt.set(back.corrupt);
        back.records
    }

    /// Runs `f` on the logger with `model` as the records' model id (the seed's calls name the
    /// model); the identity is kept whole when it already has that id.
    fn with_model<T>(&self, model: &str, f: impl FnOnce(&mut PerformanceLogger) -> T) -> T {
        let mut logger = self.logger.borrow_mut();
        if model.is_empty() || logger.model().id == model {
            return f(&mut logger);
        }
        let saved = logger.model().clone();
        logger.set_model(ModelIdentity {
            id: model.to_string(),
            ..Default::default()
        });
        let out = f(&mut logger);
        logger.set_model(saved);
        out
    }
}

/// Where records are kept, as `storage_status()` reports it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StorageStatus<'a> {
    /// True when records persist in IndexedDB.
    persistent: bool,
    /// Why they are in memory only, when they are.
    reason: Option<String>,
    database: &'a str,
    retention: usize,
    /// Stored records that could not be parsed at the last read (skipped).
    corrupt_records: usize,
    session_id: &'a str,
}

/// The performance logger: builds records, keeps them in IndexedDB, summarizes and exports them.
#[wasm_bindgen(js_name = PerformanceLogger)]
pub struct JsPerformanceLogger {
    pub(crate) shared: Rc<Shared>,
}

/// The app-wide logger (the seed's `get_performance_logger()`): opened on the first call with
/// `options` (`database`, `retention`, `sessionId`, `thresholds`), the same object afterwards.
/// The summarizer in this scope logs to it by itself.
#[wasm_bindgen]
pub async fn get_performance_logger(
    #[wasm_bindgen(unchecked_param_type = "LoggerOptions | undefined")] options: JsValue,
) -> Result<JsPerformanceLogger, JsValue> {
    super::start();
    if let Some(shared) = global() {
        return Ok(JsPerformanceLogger { shared });
    }
    let shared = Shared::open(&options).await?;
    // Two calls racing through the open: the first to finish wins, the other's store is closed.
    let shared = GLOBAL.with(|g| {
        let mut g = g.borrow_mut();
        match &*g {
            Some(existing) => {
                shared.store.close();
                existing.clone()
            }
            None => {
                *g = Some(shared.clone());
                shared
            }
        }
    });
    Ok(JsPerformanceLogger { shared })
}

#[wasm_bindgen(js_class = PerformanceLogger)]
impl JsPerformanceLogger {
    /// A logger of its own (not the app-wide one), for example on another database.
    pub async fn open(
        #[wasm_bindgen(unchecked_param_type = "LoggerOptions | undefined")] options: JsValue,
    ) -> Result<JsPerformanceLogger, JsValue> {
        Ok(JsPerformanceLogger {
            shared: Shared::open(&options).await?,
        })
    }

    /// Session id every record carries.
    #[wasm_bindgen(getter, js_name = sessionId)]
    pub fn session_id(&self) -> String {
        self.shared.logger.borrow().session_id().to_string()
    }

    /// Sets the model identity of the records that follow: `{ id, url, revision, dtype, sha256 }`.
    pub fn set_model(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Partial<ModelIdentity> & { id: string }")]
        model: JsValue,
    ) -> Result<(), JsValue> {
        let model: ModelIdentity = from_js(&model).map_err(js_err)?;
        self.shared.logger.borrow_mut().set_model(model);
        Ok(())
    }

    /// Sets the alert limits: `{ minTokensPerSecond, maxLoadSeconds, maxErrorRatePercent }`
    /// (each optional).
    pub fn set_thresholds(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Thresholds | undefined")] thresholds: JsValue,
    ) -> Result<(), JsValue> {
        let t: Thresholds = if thresholds.is_undefined() || thresholds.is_null() {
            Thresholds::default()
        } else {
            from_js(&thresholds).map_err(|e| js_err(format!("Invalid threshold: {e}")))?
        };
        self.shared.logger.borrow_mut().set_thresholds(t);
        Ok(())
    }

    /// The alert limits in force.
    #[wasm_bindgen(unchecked_return_type = "Thresholds")]
    pub fn thresholds(&self) -> Result<JsValue, JsValue> {
        to_js(self.shared.logger.borrow().thresholds())
    }

    /// Starts a new run (records that follow share its id) and returns the id.
    pub fn begin_run(&self) -> String {
        self.shared.logger.borrow_mut().begin_run().to_string()
    }

    /// `log_model_loading(model, seconds, device)`: a load the caller timed. Returns the records
    /// written (the load, and an alert when it breached `maxLoadSeconds`).
    #[wasm_bindgen(unchecked_return_type = "MetricRecord[]")]
    pub fn log_model_loading(
        &self,
        model: &str,
        seconds: f64,
        device: Option<String>,
    ) -> Result<JsValue, JsValue> {
        let mut dev = self::device();
        if let Some(d) = device {
            dev.backend = d;
        }
        let records = self.shared.with_model(model, |l| {
            l.log_model_loading(crate::metrics::ModelLoad {
                load_seconds: seconds,
                parse_seconds: None,
                hash_seconds: None,
                device: dev,
                files: Vec::new(),
                memory_before: None,
                memory_after: memory_reading(0),
                model_size_bytes: None,
            })
        });
        bulk_to_js(&self.shared.push(records))
    }

    /// `log_inference_performance(model, seconds, input_len, output_len, chunk_id)`: one call
    /// the caller timed; lengths are characters.
    #[wasm_bindgen(unchecked_return_type = "MetricRecord[]")]
    pub fn log_inference_performance(
        &self,
        model: &str,
        seconds: f64,
        input_len: usize,
        output_len: usize,
        chunk_id: Option<String>,
    ) -> Result<JsValue, JsValue> {
        let chunk = chunk_id.unwrap_or_else(|| "chunk_1".to_string());
        let records = self.shared.with_model(model, |l| {
            l.log_inference_call(&chunk, seconds, input_len, output_len)
        });
        bulk_to_js(&self.shared.push(records))
    }

    /// `log_preprocessing(operation, seconds, text_length, chunk_count)`.
    #[wasm_bindgen(unchecked_return_type = "MetricRecord[]")]
    pub fn log_preprocessing(
        &self,
        operation: &str,
        seconds: f64,
        text_length: usize,
        chunk_count: Option<usize>,
    ) -> Result<JsValue, JsValue> {
        let records = self.shared.logger.borrow_mut().log_preprocessing(
            operation,
            seconds,
            text_length,
            chunk_count.unwrap_or(0),
        );
        bulk_to_js(&self.shared.push(records))
    }

    /// `log_total_processing(seconds, chunk_count, success_count, error_count)`.
    #[wasm_bindgen(unchecked_return_type = "MetricRecord[]")]
    pub fn log_total_processing(
        &self,
        seconds: f64,
        chunk_count: usize,
        success_count: usize,
        error_count: usize,
    ) -> Result<JsValue, JsValue> {
        let records = self.shared.logger.borrow_mut().log_total_processing(
            seconds,
            chunk_count,
            success_count,
            error_count,
        );
        bulk_to_js(&self.shared.push(records))
    }

    /// `log_error(error, context)`: `error` is an Error or a message; `context` an object whose
    /// `stage` (default `app`) names where it failed; all of it is kept.
    #[wasm_bindgen(unchecked_return_type = "MetricRecord[]")]
    pub fn log_error(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Error | string")] error: JsValue,
        #[wasm_bindgen(
            unchecked_param_type = "{ stage?: string; [key: string]: unknown } | undefined"
        )]
        context: JsValue,
    ) -> Result<JsValue, JsValue> {
        let message = error
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| error.as_string())
            .unwrap_or_else(|| format!("{error:?}"));
        let context: serde_json::Value = if context.is_undefined() || context.is_null() {
            serde_json::Value::Object(Default::default())
        } else {
            from_js(&context).map_err(js_err)?
        };
        let stage = context
            .get("stage")
            .and_then(|s| s.as_str())
            .unwrap_or("app")
            .to_string();
        let records = self
            .shared
            .logger
            .borrow_mut()
            .log_error(&stage, &message, context);
        bulk_to_js(&self.shared.push(records))
    }

    /// `log_memory(model_bytes)`: current and peak Rust heap, wasm linear memory and the JS heap
    /// (where exposed), with the caller's model size.
    #[wasm_bindgen(unchecked_return_type = "MetricRecord[]")]
    pub fn log_memory(&self, model_bytes: Option<f64>) -> Result<JsValue, JsValue> {
        let memory = memory_reading(model_bytes.unwrap_or(0.0) as u64);
        let records = self
            .shared
            .logger
            .borrow_mut()
            .log(crate::metrics::RecordKind::Memory { memory });
        bulk_to_js(&self.shared.push(records))
    }

    /// Adds records produced elsewhere (another worker whose storage failed) as they are.
    pub fn ingest(
        &self,
        #[wasm_bindgen(unchecked_param_type = "MetricRecord[]")] records: JsValue,
    ) -> Result<usize, JsValue> {
        let records: Vec<Record> = from_js(&records).map_err(js_err)?;
        let n = records.len();
        self.shared.push(records);
        Ok(n)
    }

    /// The records the latest logged event produced (for example, a failed summarize's error and
    /// total), without reading the store.
    #[wasm_bindgen(getter, js_name = lastRecords, unchecked_return_type = "MetricRecord[]")]
    pub fn last_records(&self) -> Result<JsValue, JsValue> {
        bulk_to_js(&*self.shared.last.borrow())
    }

    /// Waits until every record logged so far is stored (records logged meanwhile, by a run
    /// that started after this call, are not waited for).
    pub async fn flush(&self) {
        let _ = self.shared.flush_scheduled().await;
    }

    /// Every stored record, oldest first (unreadable ones are skipped and counted in
    /// `storage_status().corruptRecords`).
    #[wasm_bindgen(unchecked_return_type = "MetricRecord[]")]
    pub async fn records(&self) -> Result<JsValue, JsValue> {
        bulk_to_js(&self.shared.read().await)
    }

    /// `get_performance_summary()`: per stage count, mean, p50, p95, min, max; success and
    /// error rates; tokens/s.
    #[wasm_bindgen(unchecked_return_type = "PerformanceSummary")]
    pub async fn get_performance_summary(&self) -> Result<JsValue, JsValue> {
        bulk_to_js(&performance_summary(&self.shared.read().await))
    }

    /// The text of `performance_metrics.json`: every record and the summary.
    pub async fn export_json(&self) -> Result<String, JsValue> {
        let records = self.shared.read().await;
        let now = self.shared.logger.borrow().clock().unix_ms_now();
        serde_json::to_string_pretty(&export_json(&records, now)).map_err(js_err)
    }

    /// The text of `performance.log` in local time.
    pub async fn export_log(&self) -> Result<String, JsValue> {
        let records = self.shared.read().await;
        // getTimezoneOffset is minutes *west* of UTC.
        let offset = -(js_sys::Date::new_0().get_timezone_offset() as i32);
        Ok(export_log(&records, offset))
    }

    /// Deletes every stored record.
    pub async fn clear(&self) -> Result<(), JsValue> {
        // Records logged before the clear are written first, then deleted with the rest.
        self.shared.flush().await;
        self.shared.store.clear().await.map_err(js_err)?;
        self.shared.corrupt.set(0);
        Ok(())
    }

    /// `{ persistent, reason, database, retention, corruptRecords, sessionId }`.
    #[wasm_bindgen(unchecked_return_type = "StorageStatus")]
    pub fn storage_status(&self) -> Result<JsValue, JsValue> {
        let logger = self.shared.logger.borrow();
        to_js(&StorageStatus {
            persistent: self.shared.store.fallback_reason().is_none(),
            reason: self.shared.store.fallback_reason(),
            database: &self.shared.database,
            retention: self.shared.store.retention(),
            corrupt_records: self.shared.corrupt.get(),
            session_id: logger.session_id(),
        })
    }

    /// Closes the database connection; the object cannot store records afterwards.
    pub fn close(&self) {
        self.shared.store.close();
    }
}
