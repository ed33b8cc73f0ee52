//! `performance_metrics.json` and `performance.log`: the two downloads of the dashboard.
//!
//! The JSON layout is specified by `www/performance_metrics.schema.json`; tests validate exports
//! against it.

use serde::Serialize;

use super::logline::log_lines;
use super::record::{Record, SCHEMA_VERSION};
use super::summary::{performance_summary, PerformanceSummary};

/// The content of `performance_metrics.json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsExport<'a> {
    pub schema_version: u32,
    /// Unix time in milliseconds.
    pub exported_at: f64,
    pub records: &'a [Record],
    pub summary: PerformanceSummary,
}

/// The export of `records`, stamped `exported_at` (Unix ms).
pub fn export_json(records: &[Record], exported_at: f64) -> MetricsExport<'_> {
    MetricsExport {
        schema_version: SCHEMA_VERSION,
        exported_at,
        records,
        summary: performance_summary(records),
    }
}

/// The content of `performance.log`: the records' lines in order, local time `offset_minutes`
/// east of UTC.
pub fn export_log(records: &[Record], offset_minutes: i32) -> String {
    let mut out = String::new();
    for r in records {
        for line in log_lines(r, offset_minutes) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}
