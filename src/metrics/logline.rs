//! `performance.log` lines in the format of the Python logger this project replaces:
//! `2025-12-20 20:45:04 - model_performance_logger - INFO - Model 't5-small' loaded on cpu in 3.5869 seconds`.

use super::record::{Record, RecordKind};

const LOGGER: &str = "model_performance_logger";
const MB: f64 = 1024.0 * 1024.0;

/// `YYYY-MM-DD HH:MM:SS` of a Unix time in milliseconds, shifted by `offset_minutes` (east of UTC).
pub fn format_timestamp(unix_ms: f64, offset_minutes: i32) -> String {
    let secs = (unix_ms / 1000.0).floor() as i64 + i64::from(offset_minutes) * 60;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The log lines of one record (a model load also logs its memory line, as the seed does).
pub fn log_lines(record: &Record, offset_minutes: i32) -> Vec<String> {
    let ts = format_timestamp(record.timestamp, offset_minutes);
    let line = |level: &str, msg: String| format!("{ts} - {LOGGER} - {level} - {msg}");
    let model = &record.model.id;
    match &record.kind {
        RecordKind::ModelLoading { load_seconds, device, memory_after, .. } => vec![
            line("INFO", format!("Model '{model}' loaded on {} in {load_seconds:.4} seconds", device.backend)),
            line("INFO", memory_message(memory_after)),
        ],
        RecordKind::Inference {
            inference_seconds, input_chars, output_chars, chars_per_second, tokens_per_second, chunk_id, ..
        } => vec![line(
            "INFO",
            format!(
                "Inference completed - Model: {model}, Chunk: {chunk_id}, Time: {inference_seconds:.4}s, \
                 Input: {input_chars} chars, Output: {output_chars} chars, \
                 Throughput: {chars_per_second:.2} chars/s{}",
                tokens_per_second.map(|t| format!(", {t:.2} tokens/s")).unwrap_or_default()
            ),
        )],
        RecordKind::Preprocessing { operation, seconds, text_length, chunk_count, chars_per_second } => vec![line(
            "INFO",
            format!(
                "Preprocessing completed - Operation: {operation}, Time: {seconds:.4}s, Text: {text_length} chars, \
                 Chunks: {chunk_count}, Throughput: {chars_per_second:.2} chars/s"
            ),
        )],
        RecordKind::TotalProcessing {
            total_seconds, chunk_count, success_count, error_count, error_rate_percent, avg_seconds_per_chunk,
        } => vec![line(
            "INFO",
            format!(
                "Total processing completed - Time: {total_seconds:.4}s, Chunks: {chunk_count}, \
                 Success: {success_count}, Errors: {error_count} ({error_rate_percent:.1}%), \
                 Avg time per chunk: {avg_seconds_per_chunk:.4}s"
            ),
        )],
        RecordKind::Memory { memory } => vec![line("INFO", memory_message(memory))],
        RecordKind::Error { stage, message, context } => {
            vec![line("ERROR", format!("Error in {stage}: {message} - Context: {context}"))]
        }
        RecordKind::Alert { message, .. } => vec![line("WARNING", format!("Alert: {message}"))],
    }
}

fn memory_message(m: &super::record::Memory) -> String {
    format!(
        "Memory usage - Peak: {:.2} MB, Current: {:.2} MB, Model: {:.2} MB",
        m.peak_bytes as f64 / MB,
        m.current_bytes as f64 / MB,
        m.model_bytes as f64 / MB
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_civil_dates() {
        assert_eq!(format_timestamp(0.0, 0), "1970-01-01 00:00:00");
        // 2025-12-20 20:45:04 UTC
        assert_eq!(
            format_timestamp(1_766_263_504_999.0, 0),
            "2025-12-20 20:45:04"
        );
        assert_eq!(
            format_timestamp(1_766_263_504_000.0, 60),
            "2025-12-20 21:45:04"
        );
        assert_eq!(
            format_timestamp(1_766_263_504_000.0, -21 * 60),
            "2025-12-19 23:45:04"
        );
        assert_eq!(
            format_timestamp(951_782_400_000.0, 0),
            "2000-02-29 00:00:00"
        );
    }
}
