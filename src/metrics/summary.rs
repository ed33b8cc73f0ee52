//! Aggregates over stored records: per-stage statistics, success and error rates, throughput.

use std::collections::BTreeMap;

use serde::Serialize;

use super::record::{Record, RecordKind};
use super::stats::Stats;

/// What `get_performance_summary` reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceSummary {
    /// Records summarized.
    pub record_count: usize,
    /// Seconds per stage: `model_loading`, `encoder`, `time_to_first_token`, `decode_per_token`,
    /// `inference`, `total_processing` and `preprocessing.<operation>`.
    pub stages: BTreeMap<String, Stats>,
    /// Generated tokens per second over chunks.
    pub tokens_per_second: Option<Stats>,
    /// Input characters per second over chunks.
    pub chars_per_second: Option<Stats>,
    /// Chunks summarized and failed, over all requests.
    pub success_count: u64,
    pub error_count: u64,
    /// Percentages of chunk attempts.
    pub success_rate_percent: f64,
    pub error_rate_percent: f64,
    /// Error records and alert records.
    pub errors_logged: usize,
    pub alerts: usize,
}

/// Summarizes `records`.
pub fn performance_summary(records: &[Record]) -> PerformanceSummary {
    let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut add = |k: &str, v: f64| series.entry(k.to_string()).or_default().push(v);
    let (mut tps, mut cps) = (Vec::new(), Vec::new());
    let mut s = PerformanceSummary {
        record_count: records.len(),
        ..Default::default()
    };
    for r in records {
        match &r.kind {
            RecordKind::ModelLoading { load_seconds, .. } => add("model_loading", *load_seconds),
            RecordKind::Inference {
                encoder_seconds,
                time_to_first_token_seconds,
                token_seconds,
                inference_seconds,
                tokens_per_second,
                chars_per_second,
                ..
            } => {
                if let Some(v) = encoder_seconds {
                    add("encoder", *v);
                }
                if let Some(v) = time_to_first_token_seconds {
                    add("time_to_first_token", *v);
                }
                add("inference", *inference_seconds);
                for t in token_seconds {
                    add("decode_per_token", *t);
                }
                tps.extend(*tokens_per_second);
                cps.push(*chars_per_second);
            }
            RecordKind::Preprocessing {
                operation, seconds, ..
            } => add(&format!("preprocessing.{operation}"), *seconds),
            RecordKind::TotalProcessing {
                total_seconds,
                success_count,
                error_count,
                ..
            } => {
                add("total_processing", *total_seconds);
                s.success_count += success_count;
                s.error_count += error_count;
            }
            RecordKind::Memory { .. } => {}
            RecordKind::Error { .. } => s.errors_logged += 1,
            RecordKind::Alert { .. } => s.alerts += 1,
        }
    }
    s.stages = series
        .into_iter()
        .filter_map(|(k, v)| Some((k, Stats::of(v)?)))
        .collect();
    s.tokens_per_second = Stats::of(tps);
    s.chars_per_second = Stats::of(cps);
    let attempts = (s.success_count + s.error_count) as f64;
    if attempts > 0.0 {
        s.success_rate_percent = 100.0 * s.success_count as f64 / attempts;
        s.error_rate_percent = 100.0 * s.error_count as f64 / attempts;
    }
    s
}
