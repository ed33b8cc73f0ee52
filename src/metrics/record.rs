//! Metric records: what the performance logger stores, exports and charts.
//!
//! Field names follow `www/performance_metrics.schema.json` (camelCase JSON). Every figure is a
//! measurement; nothing is estimated. Fields a platform cannot measure are `null`, never guessed.

use serde::{Deserialize, Serialize};

/// Version of the record layout; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Which model produced a record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelIdentity {
    /// Catalog id or a name for the model (`t5-small`).
    pub id: String,
    /// Where the weights came from (base URL), when known.
    pub url: Option<String>,
    /// Revision (commit or tag) of the files, when known.
    pub revision: Option<String>,
    /// Weight precision as stored (`f32`, `f16`, `bf16`, `q8_0`…).
    pub dtype: Option<String>,
    /// SHA-256 of the weights file, hex.
    pub sha256: Option<String>,
}

/// Where the code ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    /// Browser user agent, or `native` for the CLI and tests.
    pub user_agent: String,
    /// `navigator.hardwareConcurrency` (logical cores).
    pub hardware_concurrency: Option<u32>,
    /// `crossOriginIsolated` of the global scope.
    pub cross_origin_isolated: bool,
}

/// Where the model runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// `cpu-wasm` in a browser, `cpu` natively.
    pub backend: String,
    /// Whether the code was compiled with SIMD128 (wasm) or runs with SIMD (native).
    pub simd: bool,
    /// Threads used for tensor work.
    pub threads: u32,
    /// Whether the wasm build uses relaxed SIMD (fused multiply-add, int8 dot products); absent
    /// in records written before it existed and natively.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub relaxed_simd: bool,
}

/// One model file as it was obtained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileLoad {
    /// File name (`model.safetensors`).
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Whether it came from Cache Storage.
    pub cache_hit: bool,
    /// Seconds to fetch (or read from the cache).
    pub fetch_seconds: f64,
}

/// Memory figures in bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// Heap bytes allocated by Rust now.
    pub current_bytes: u64,
    /// Most heap bytes Rust had allocated at once so far.
    pub peak_bytes: u64,
    /// Size of the wasm linear memory (it never shrinks), or null natively.
    pub linear_memory_bytes: Option<u64>,
    /// Bytes of the model's tensors.
    pub model_bytes: u64,
    /// `performance.memory.usedJSHeapSize` where the browser exposes it.
    pub js_heap_bytes: Option<u64>,
}

/// The kind-specific part of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum RecordKind {
    /// A model was loaded.
    ModelLoading {
        /// From the first byte requested to a usable model (fetch, hash and parse), seconds.
        load_seconds: f64,
        /// Seconds to parse the files into a model, when the logger measured the parse.
        parse_seconds: Option<f64>,
        /// Seconds to hash the weights file (SHA-256), when it was hashed.
        hash_seconds: Option<f64>,
        device: Device,
        /// Each file as it was obtained (empty when the caller did not report files).
        files: Vec<FileLoad>,
        /// Memory before the parse (after the file bytes were copied into wasm memory), when
        /// measured.
        memory_before: Option<Memory>,
        /// Memory after the load.
        memory_after: Memory,
        /// Size of the weights file in bytes, when known.
        model_size_bytes: Option<u64>,
    },
    /// One chunk was summarized. Stage fields are null when the caller (a JS user of
    /// `log_inference_performance`) timed only the whole call.
    Inference {
        chunk_id: String,
        /// Encoder forward pass, seconds.
        encoder_seconds: Option<f64>,
        /// From the start of the chunk to its first generated token, seconds.
        time_to_first_token_seconds: Option<f64>,
        /// All decoder steps, seconds.
        decode_seconds: Option<f64>,
        /// Seconds of each decoder step, in order.
        token_seconds: Vec<f64>,
        /// Whole chunk (tokenize, encode, decode, detokenize), seconds.
        inference_seconds: f64,
        input_chars: u64,
        output_chars: u64,
        input_tokens: Option<u64>,
        output_tokens: Option<u64>,
        /// Input characters per second of `inference_seconds`.
        chars_per_second: f64,
        /// Generated tokens per second of `decode_seconds`.
        tokens_per_second: Option<f64>,
    },
    /// A text stage ran.
    Preprocessing {
        /// normalize, tokenize, chunk_plan, detokenize or merge.
        operation: String,
        seconds: f64,
        text_length: u64,
        chunk_count: u64,
        chars_per_second: f64,
    },
    /// One summarize request finished (or failed).
    TotalProcessing {
        total_seconds: f64,
        chunk_count: u64,
        success_count: u64,
        error_count: u64,
        error_rate_percent: f64,
        avg_seconds_per_chunk: f64,
    },
    /// A memory reading.
    Memory { memory: Memory },
    /// Something failed.
    Error {
        /// Stage that failed (load, download, normalize, inference…).
        stage: String,
        message: String,
        /// The model, chunk and input length involved, when known.
        context: serde_json::Value,
    },
    /// A threshold set by the user was crossed.
    Alert {
        metric: String,
        /// `below` or `above`.
        direction: String,
        threshold: f64,
        value: f64,
        message: String,
    },
}

/// One stored measurement with its envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub schema_version: u32,
    /// Unix time in milliseconds (clock origin + reading), so page and worker timelines merge.
    pub timestamp: f64,
    /// One per page or process lifetime.
    pub session_id: String,
    /// One per load or summarize request.
    pub run_id: String,
    pub model: ModelIdentity,
    pub app_version: String,
    pub environment: Environment,
    #[serde(flatten)]
    pub kind: RecordKind,
}

impl Record {
    /// The `type` tag of the record.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            RecordKind::ModelLoading { .. } => "model_loading",
            RecordKind::Inference { .. } => "inference",
            RecordKind::Preprocessing { .. } => "preprocessing",
            RecordKind::TotalProcessing { .. } => "total_processing",
            RecordKind::Memory { .. } => "memory",
            RecordKind::Error { .. } => "error",
            RecordKind::Alert { .. } => "alert",
        }
    }
}
