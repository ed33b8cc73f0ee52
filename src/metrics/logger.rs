//! The performance logger: turns measurements into [`Record`]s with their envelope, and checks
//! user thresholds. It stores nothing itself: callers hand the returned records to a store
//! (IndexedDB in the browser, memory in tests), so the same logic runs natively and in wasm.

use serde::{Deserialize, Serialize};

use super::memory;
use super::record::{
    Device, Environment, FileLoad, Memory, ModelIdentity, Record, RecordKind, SCHEMA_VERSION,
};
use super::timings::{ChunkTimings, RunTimings};
use super::Clock;

/// Limits whose breach raises an alert record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Thresholds {
    /// Alert when a chunk generates fewer tokens per second.
    pub min_tokens_per_second: Option<f64>,
    /// Alert when loading a model takes longer, in seconds.
    pub max_load_seconds: Option<f64>,
    /// Alert when a request's error rate is higher, in percent.
    pub max_error_rate_percent: Option<f64>,
}

/// What a model load measured, for [`PerformanceLogger::log_model_loading`].
#[derive(Debug, Clone)]
pub struct ModelLoad {
    /// Fetch, hash and parse, seconds.
    pub load_seconds: f64,
    /// Parse only, seconds.
    pub parse_seconds: Option<f64>,
    /// SHA-256 of the weights, seconds.
    pub hash_seconds: Option<f64>,
    pub device: Device,
    pub files: Vec<FileLoad>,
    pub memory_before: Option<Memory>,
    pub memory_after: Memory,
    pub model_size_bytes: Option<u64>,
}

/// Builds metric records for one session.
pub struct PerformanceLogger {
    clock: Box<dyn Clock>,
    session_id: String,
    app_version: String,
    environment: Environment,
    model: ModelIdentity,
    run_id: String,
    runs: u64,
    thresholds: Thresholds,
}

fn per_second(amount: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        amount / seconds
    } else {
        0.0
    }
}

impl PerformanceLogger {
    /// A logger for a session; records carry `session_id` and `environment`.
    pub fn new(
        clock: Box<dyn Clock>,
        session_id: impl Into<String>,
        environment: Environment,
    ) -> Self {
        let session_id = session_id.into();
        PerformanceLogger {
            clock,
            run_id: format!("{session_id}-0"),
            session_id,
            app_version: env!("CARGO_PKG_VERSION").to_string(),
            environment,
            model: ModelIdentity::default(),
            runs: 0,
            thresholds: Thresholds::default(),
        }
    }

    /// The clock records are timed on.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Sets the model identity of the records that follow.
    pub fn set_model(&mut self, model: ModelIdentity) {
        self.model = model;
    }

    /// The current model identity.
    pub fn model(&self) -> &ModelIdentity {
        &self.model
    }

    /// The session id records carry.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The id of the current run.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The alert thresholds in force.
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// Sets the alert thresholds.
    pub fn set_thresholds(&mut self, thresholds: Thresholds) {
        self.thresholds = thresholds;
    }

    /// Starts a new run (a load or a summarize request) and returns its id.
    pub fn begin_run(&mut self) -> &str {
        self.runs += 1;
        self.run_id = format!("{}-{}", self.session_id, self.runs);
        &self.run_id
    }

    /// Wraps `kind` in the envelope, stamped now.
    pub fn record(&self, kind: RecordKind) -> Record {
        Record {
            schema_version: SCHEMA_VERSION,
            timestamp: self.clock.unix_ms(self.clock.now_ms()),
            session_id: self.session_id.clone(),
            run_id: self.run_id.clone(),
            model: self.model.clone(),
            app_version: self.app_version.clone(),
            environment: self.environment.clone(),
            kind,
        }
    }

    fn alert(
        &self,
        metric: &str,
        direction: &str,
        threshold: f64,
        value: f64,
        unit: &str,
    ) -> Record {
        let message = format!(
            "{metric} {value:.2}{unit} is {direction} the threshold of {threshold:.2}{unit}"
        );
        self.record(RecordKind::Alert {
            metric: metric.to_string(),
            direction: direction.to_string(),
            threshold,
            value,
            message,
        })
    }

    /// Records `kind`, plus an alert record when it breaches a threshold.
    pub fn log(&mut self, kind: RecordKind) -> Vec<Record> {
        let alert = match &kind {
            RecordKind::ModelLoading { load_seconds, .. } => self
                .thresholds
                .max_load_seconds
                .filter(|&max| *load_seconds > max)
                .map(|max| ("load time", "above", max, *load_seconds, " s")),
            RecordKind::Inference {
                tokens_per_second: Some(tps),
                ..
            } => self
                .thresholds
                .min_tokens_per_second
                .filter(|&min| *tps < min)
                .map(|min| ("tokens/s", "below", min, *tps, "")),
            RecordKind::TotalProcessing {
                error_rate_percent, ..
            } => self
                .thresholds
                .max_error_rate_percent
                .filter(|&max| *error_rate_percent > max)
                .map(|max| ("error rate", "above", max, *error_rate_percent, " %")),
            _ => None,
        };
        let mut out = vec![self.record(kind)];
        if let Some((metric, direction, threshold, value, unit)) = alert {
            out.push(self.alert(metric, direction, threshold, value, unit));
        }
        out
    }

    /// A model load, plus an alert when it exceeded `maxLoadSeconds`.
    pub fn log_model_loading(&mut self, load: ModelLoad) -> Vec<Record> {
        self.log(RecordKind::ModelLoading {
            load_seconds: load.load_seconds,
            parse_seconds: load.parse_seconds,
            hash_seconds: load.hash_seconds,
            device: load.device,
            files: load.files,
            memory_before: load.memory_before,
            memory_after: load.memory_after,
            model_size_bytes: load.model_size_bytes,
        })
    }

    /// One chunk's inference, plus an alert when its tokens/s fell below `minTokensPerSecond`.
    pub fn log_inference_performance(
        &mut self,
        chunk_id: &str,
        t: &ChunkTimings,
        input_tokens: usize,
        output_tokens: usize,
    ) -> Vec<Record> {
        let seconds = t.total_ms / 1000.0;
        let decode_seconds = t.decode_ms() / 1000.0;
        self.log(RecordKind::Inference {
            chunk_id: chunk_id.to_string(),
            encoder_seconds: Some(t.encode_ms / 1000.0),
            time_to_first_token_seconds: Some(t.first_token_ms / 1000.0),
            decode_seconds: Some(decode_seconds),
            token_seconds: t.token_ms.iter().map(|ms| ms / 1000.0).collect(),
            inference_seconds: seconds,
            input_chars: t.input_chars as u64,
            output_chars: t.output_chars as u64,
            input_tokens: Some(input_tokens as u64),
            output_tokens: Some(output_tokens as u64),
            chars_per_second: per_second(t.input_chars as f64, seconds),
            tokens_per_second: Some(per_second(output_tokens as f64, decode_seconds)),
        })
    }

    /// A call timed as a whole by the caller (the seed's `log_inference_performance(model,
    /// seconds, input_len, output_len, chunk_id)`): stage fields are null.
    pub fn log_inference_call(
        &mut self,
        chunk_id: &str,
        seconds: f64,
        input_chars: usize,
        output_chars: usize,
    ) -> Vec<Record> {
        self.log(RecordKind::Inference {
            chunk_id: chunk_id.to_string(),
            encoder_seconds: None,
            time_to_first_token_seconds: None,
            decode_seconds: None,
            token_seconds: Vec::new(),
            inference_seconds: seconds,
            input_chars: input_chars as u64,
            output_chars: output_chars as u64,
            input_tokens: None,
            output_tokens: None,
            chars_per_second: per_second(input_chars as f64, seconds),
            tokens_per_second: None,
        })
    }

    /// A text stage (normalize, tokenize, chunk_plan, detokenize, merge).
    pub fn log_preprocessing(
        &mut self,
        operation: &str,
        seconds: f64,
        text_length: usize,
        chunk_count: usize,
    ) -> Vec<Record> {
        self.log(RecordKind::Preprocessing {
            operation: operation.to_string(),
            seconds,
            text_length: text_length as u64,
            chunk_count: chunk_count as u64,
            chars_per_second: per_second(text_length as f64, seconds),
        })
    }

    /// A finished request, plus an alert when its error rate exceeded `maxErrorRatePercent`.
    pub fn log_total_processing(
        &mut self,
        seconds: f64,
        chunk_count: usize,
        success_count: usize,
        error_count: usize,
    ) -> Vec<Record> {
        let attempts = success_count + error_count;
        let error_rate_percent = if attempts == 0 {
            0.0
        } else {
            100.0 * error_count as f64 / attempts as f64
        };
        self.log(RecordKind::TotalProcessing {
            total_seconds: seconds,
            chunk_count: chunk_count as u64,
            success_count: success_count as u64,
            error_count: error_count as u64,
            error_rate_percent,
            avg_seconds_per_chunk: if chunk_count == 0 {
                0.0
            } else {
                seconds / chunk_count as f64
            },
        })
    }

    /// A failure at `stage` with its context (model, chunk, input length…).
    pub fn log_error(
        &mut self,
        stage: &str,
        message: &str,
        context: serde_json::Value,
    ) -> Vec<Record> {
        vec![self.record(RecordKind::Error {
            stage: stage.to_string(),
            message: message.to_string(),
            context,
        })]
    }

    /// A memory reading; `linear_memory_bytes` and `js_heap_bytes` come from the browser.
    pub fn log_memory(
        &mut self,
        model_bytes: u64,
        linear_memory_bytes: Option<u64>,
        js_heap_bytes: Option<u64>,
    ) -> Vec<Record> {
        vec![self.record(RecordKind::Memory {
            memory: memory_now(model_bytes, linear_memory_bytes, js_heap_bytes),
        })]
    }

    /// All records of a finished summarize run: every text stage, every chunk, the total.
    pub fn log_run(
        &mut self,
        timings: &RunTimings,
        input_tokens: &[Vec<usize>],
        output_tokens: &[Vec<usize>],
    ) -> Vec<Record> {
        let mut out = self.log_preprocessing(
            "normalize",
            timings.normalize_ms / 1000.0,
            timings.input_chars,
            0,
        );
        let mut chunks = 0;
        for (p, pass) in timings.passes.iter().enumerate() {
            let n = pass.chunks.len();
            chunks += n;
            out.extend(self.log_preprocessing(
                "chunk_plan",
                pass.plan_ms / 1000.0,
                pass.text_chars,
                n,
            ));
            let sum = |f: fn(&ChunkTimings) -> f64| pass.chunks.iter().map(f).sum::<f64>() / 1000.0;
            out.extend(self.log_preprocessing(
                "tokenize",
                pass.tokenize_ms / 1000.0,
                pass.text_chars,
                n,
            ));
            for (i, c) in pass.chunks.iter().enumerate() {
                let inp = input_tokens
                    .get(p)
                    .and_then(|v| v.get(i))
                    .copied()
                    .unwrap_or(0);
                let outp = output_tokens
                    .get(p)
                    .and_then(|v| v.get(i))
                    .copied()
                    .unwrap_or(0);
                out.extend(self.log_inference_performance(
                    &format!("pass{p}-chunk{i}"),
                    c,
                    inp,
                    outp,
                ));
            }
            let summary_chars = pass.chunks.iter().map(|c| c.output_chars).sum();
            out.extend(self.log_preprocessing(
                "detokenize",
                sum(|c| c.detokenize_ms),
                summary_chars,
                n,
            ));
            out.extend(self.log_preprocessing("merge", pass.merge_ms / 1000.0, summary_chars, n));
        }
        out.extend(self.log_total_processing(timings.total_ms / 1000.0, chunks, chunks, 0));
        out
    }
}

/// Current and peak heap bytes from the counting allocator, with the given extra figures.
pub fn memory_now(
    model_bytes: u64,
    linear_memory_bytes: Option<u64>,
    js_heap_bytes: Option<u64>,
) -> Memory {
    Memory {
        current_bytes: memory::current_bytes(),
        peak_bytes: memory::peak_bytes(),
        linear_memory_bytes,
        model_bytes,
        js_heap_bytes,
    }
}
