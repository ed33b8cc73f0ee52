//! Native tests of the performance logger on a real summarize run of the fixture model.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{golden_options, ARTICLE, FIXTURES};
use t5_summarizer::generation::Flow;
use t5_summarizer::metrics::logline::log_lines;
use t5_summarizer::metrics::record::{Device, Environment, Memory, ModelIdentity, RecordKind};
use t5_summarizer::metrics::{
    clock::SystemClock, performance_summary, ModelLoad, PerformanceLogger, Record, Thresholds,
};

fn logger() -> PerformanceLogger {
    let env = Environment {
        user_agent: "native".into(),
        hardware_concurrency: Some(2),
        cross_origin_isolated: false,
    };
    let mut l = PerformanceLogger::new(Box::new(SystemClock::default()), "session-1", env);
    l.set_model(ModelIdentity {
        id: "tiny-t5".into(),
        dtype: Some("f32".into()),
        ..Default::default()
    });
    l
}

fn run_records(l: &mut PerformanceLogger) -> Vec<Record> {
    let s = FIXTURES[0].load();
    l.begin_run();
    let summary = s
        .summarize(ARTICLE, &golden_options(), &mut |_| Flow::Continue)
        .unwrap();
    let ids = |f: fn(&t5_summarizer::pipeline::ChunkSummary) -> usize| -> Vec<Vec<usize>> {
        summary
            .passes
            .iter()
            .map(|p| p.iter().map(f).collect())
            .collect()
    };
    l.log_run(
        &summary.timings,
        &ids(|c| c.input_ids.len()),
        &ids(|c| c.output_ids.len()),
    )
}

#[test]
fn a_run_logs_every_stage_chunk_and_total() {
    let mut l = logger();
    let records = run_records(&mut l);
    let types: Vec<&str> = records.iter().map(Record::type_name).collect();
    let chunks = types.iter().filter(|t| **t == "inference").count();
    assert!(chunks > 3);
    assert_eq!(types.last(), Some(&"total_processing"));
    let ops: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.kind {
            RecordKind::Preprocessing { operation, .. } => Some(operation.clone()),
            _ => None,
        })
        .collect();
    for op in ["normalize", "chunk_plan", "tokenize", "detokenize", "merge"] {
        assert!(ops.iter().any(|o| o == op), "no {op} record");
    }
    let first = &records[0];
    assert!(records
        .iter()
        .all(|r| r.run_id == "session-1-1" && r.session_id == "session-1"));
    assert!(records
        .iter()
        .all(|r| r.timestamp >= first.timestamp && r.timestamp > 1.7e12));
    for r in &records {
        if let RecordKind::Inference {
            token_seconds,
            output_tokens,
            tokens_per_second,
            decode_seconds,
            ..
        } = &r.kind
        {
            assert_eq!(Some(token_seconds.len() as u64), *output_tokens);
            assert!(tokens_per_second.unwrap() > 0.0);
            assert!((token_seconds.iter().sum::<f64>() - decode_seconds.unwrap()).abs() < 1e-9);
        }
    }
    let json = serde_json::to_value(&records[0]).unwrap();
    assert_eq!(json["type"], "preprocessing");
    assert_eq!(json["schemaVersion"], 1);
    assert_eq!(json["model"]["id"], "tiny-t5");
    assert_eq!(json["environment"]["hardwareConcurrency"], 2);
    let back: Record = serde_json::from_value(json).unwrap();
    assert_eq!(&back, &records[0]);
}

#[test]
fn summary_aggregates_stages_rates_and_throughput() {
    let mut l = logger();
    let mut records = run_records(&mut l);
    records.extend(l.log_total_processing(2.0, 4, 3, 1));
    records.extend(l.log_error("inference", "boom", serde_json::json!({ "chunk": 2 })));
    let s = performance_summary(&records);
    assert_eq!(s.record_count, records.len());
    for stage in [
        "encoder",
        "time_to_first_token",
        "decode_per_token",
        "inference",
        "total_processing",
        "preprocessing.normalize",
    ] {
        assert!(s.stages.contains_key(stage), "missing {stage}");
    }
    let inference = &s.stages["inference"];
    assert!(
        inference.min <= inference.p50
            && inference.p50 <= inference.p95
            && inference.p95 <= inference.max
    );
    assert!(s.tokens_per_second.as_ref().unwrap().mean > 0.0);
    assert_eq!(s.errors_logged, 1);
    let chunks = records
        .iter()
        .filter(|r| r.type_name() == "inference")
        .count() as u64;
    assert_eq!((s.success_count, s.error_count), (chunks + 3, 1));
    assert!((s.error_rate_percent - 100.0 / (chunks + 4) as f64).abs() < 1e-9);
    assert!((s.success_rate_percent + s.error_rate_percent - 100.0).abs() < 1e-9);
}

#[test]
fn thresholds_raise_alerts() {
    let mut l = logger();
    l.set_thresholds(Thresholds {
        min_tokens_per_second: Some(1e12),
        max_load_seconds: Some(0.5),
        max_error_rate_percent: Some(10.0),
    });
    let records = run_records(&mut l);
    assert!(records
        .iter()
        .any(|r| matches!(&r.kind, RecordKind::Alert { metric, .. } if metric == "tokens/s")));
    let device = Device {
        backend: "cpu".into(),
        simd: true,
        threads: 1,
        relaxed_simd: false,
    };
    let load = ModelLoad {
        load_seconds: 0.75,
        parse_seconds: Some(0.5),
        hash_seconds: None,
        device,
        files: vec![],
        memory_before: Some(Memory::default()),
        memory_after: Memory::default(),
        model_size_bytes: Some(1),
    };
    let out = l.log_model_loading(load);
    assert_eq!(out.len(), 2);
    match &out[1].kind {
        RecordKind::Alert {
            metric,
            direction,
            threshold,
            value,
            message,
        } => {
            assert_eq!(
                (metric.as_str(), direction.as_str(), *threshold, *value),
                ("load time", "above", 0.5, 0.75)
            );
            assert_eq!(message, "load time 0.75 s is above the threshold of 0.50 s");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        l.log_total_processing(1.0, 10, 9, 1).len(),
        1,
        "10 % is not above 10 %"
    );
    assert_eq!(l.log_total_processing(1.0, 10, 8, 2).len(), 2);
}

#[test]
fn log_lines_follow_the_seed_format() {
    let mut l = logger();
    let device = Device {
        backend: "cpu-wasm".into(),
        simd: true,
        threads: 1,
        relaxed_simd: true,
    };
    let mem = Memory {
        current_bytes: 0,
        peak_bytes: 0,
        linear_memory_bytes: None,
        model_bytes: 242_021_482,
        js_heap_bytes: None,
    };
    let mut r = l.log_model_loading(ModelLoad {
        load_seconds: 3.58694,
        parse_seconds: Some(1.0),
        hash_seconds: Some(0.1),
        device,
        files: vec![],
        memory_before: Some(Memory::default()),
        memory_after: mem,
        model_size_bytes: Some(1),
    });
    r[0].timestamp = 1_766_263_504_000.0;
    r[0].model.id = "t5-small".into();
    let lines = log_lines(&r[0], 0);
    assert_eq!(lines[0], "2025-12-20 20:45:04 - model_performance_logger - INFO - Model 't5-small' loaded on cpu-wasm in 3.5869 seconds");
    assert_eq!(lines[1], "2025-12-20 20:45:04 - model_performance_logger - INFO - Memory usage - Peak: 0.00 MB, Current: 0.00 MB, Model: 230.81 MB");
    let mut t = l.log_total_processing(3.0424, 2, 2, 0);
    t[0].timestamp = 1_766_263_512_000.0;
    assert_eq!(
        log_lines(&t[0], 0)[0],
        "2025-12-20 20:45:12 - model_performance_logger - INFO - Total processing completed - Time: 3.0424s, Chunks: 2, Success: 2, Errors: 0 (0.0%), Avg time per chunk: 1.5212s"
    );
    let e = l.log_error(
        "download",
        "config.json: HTTP 404",
        serde_json::json!({"file": "config.json"}),
    );
    assert!(log_lines(&e[0], 0)[0].contains(
        " - ERROR - Error in download: config.json: HTTP 404 - Context: {\"file\":\"config.json\"}"
    ));
    for r in run_records(&mut l) {
        for line in log_lines(&r, 0) {
            assert!(line.contains(" - model_performance_logger - "), "{line}");
        }
    }
}

#[test]
fn exports_validate_against_the_schema() {
    use t5_summarizer::metrics::export::{export_json, export_log};
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../www/performance_metrics.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut l = logger();
    l.set_thresholds(Thresholds {
        min_tokens_per_second: Some(1e12),
        ..Default::default()
    });
    let mut records = run_records(&mut l);
    records.extend(l.log_memory(1234, None, None));
    records.extend(l.log_error(
        "inference",
        "boom",
        serde_json::json!({ "chunk": 2, "inputLength": 10 }),
    ));
    let device = Device {
        backend: "cpu".into(),
        simd: true,
        threads: 1,
        relaxed_simd: false,
    };
    records.extend(l.log_model_loading(ModelLoad {
        load_seconds: 0.2,
        parse_seconds: Some(0.1),
        hash_seconds: Some(0.02),
        device,
        files: vec![],
        memory_before: Some(Memory::default()),
        memory_after: Memory::default(),
        model_size_bytes: Some(10),
    }));
    let kinds: std::collections::BTreeSet<&str> = records.iter().map(Record::type_name).collect();
    assert_eq!(kinds.len(), 7, "{kinds:?}");
    let export = serde_json::to_value(export_json(&records, 1.0e12)).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&export)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    // The schema can fail: a misspelled field, a wrong type and a missing field are all caught.
    let mut bad = export.clone();
    bad["records"][0]["sessionID"] = "x".into();
    assert!(!validator.is_valid(&bad));
    let mut bad = export.clone();
    bad["records"][0]["timestamp"] = "yesterday".into();
    assert!(!validator.is_valid(&bad));
    let mut bad = export;
    bad["summary"].as_object_mut().unwrap().remove("stages");
    assert!(!validator.is_valid(&bad));

    let log = export_log(&records, 0);
    assert_eq!(
        log.lines().count(),
        records.len() + 1,
        "a model load logs two lines"
    );
}
