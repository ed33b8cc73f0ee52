//! The performance logger in headless Chrome, inside a dedicated worker as in the app: the seed's
//! JS API, the summarizer logging itself, `performance.now()` stage times, User Timing marks, and
//! exports validated against `www/performance_metrics.schema.json`.

#![cfg(target_arch = "wasm32")]

mod common;

use common::{ARTICLE, FIXTURES};
use t5_summarizer::wasm::metrics::{get_performance_logger, JsPerformanceLogger};
use t5_summarizer::wasm::WasmSummarizer;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

fn json(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap()
}

fn value(v: &JsValue) -> serde_json::Value {
    serde_json::from_str(&js_sys::JSON::stringify(v).unwrap().as_string().unwrap()).unwrap()
}

fn db_options(name: &str) -> JsValue {
    let name = format!("{name}-{}", js_sys::Math::random());
    json(&format!(
        r#"{{"database":"{name}","sessionId":"test-session"}}"#
    ))
}

fn validate(export: &str) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../www/performance_metrics.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let doc: serde_json::Value = serde_json::from_str(export).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "export does not match the schema: {errors:#?}"
    );
}

#[wasm_bindgen_test]
async fn seed_api_records_persist_and_summarize() {
    let options = db_options("seed-api");
    let logger = JsPerformanceLogger::open(options.clone()).await.unwrap();
    logger
        .set_thresholds(json(r#"{"maxLoadSeconds": 3.0}"#))
        .unwrap();
    let load = value(
        &logger
            .log_model_loading("t5-small", 3.58, Some("cpu-wasm".into()))
            .unwrap(),
    );
    assert_eq!(
        load.as_array().unwrap().len(),
        2,
        "a load over 3 s raises an alert"
    );
    assert_eq!(load[1]["type"], "alert");
    logger
        .log_inference_performance("t5-small", 1.25, 200, 50, Some("chunk_1".into()))
        .unwrap();
    logger
        .log_preprocessing("clean_text", 0.01, 200, Some(1))
        .unwrap();
    logger.log_total_processing(1.3, 1, 1, 0).unwrap();
    logger.log_memory(Some(1e6)).unwrap();
    logger
        .log_error(
            js_sys::Error::new("boom").into(),
            json(r#"{"stage":"inference","chunk":3}"#),
        )
        .unwrap();
    logger.flush().await;
    logger.close();

    // Reopen the database: everything is still there, in order.
    let again = JsPerformanceLogger::open(options).await.unwrap();
    let records = value(&again.records().await.unwrap());
    let types: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "model_loading",
            "alert",
            "inference",
            "preprocessing",
            "total_processing",
            "memory",
            "error"
        ]
    );
    let inference = &records[2];
    assert_eq!(inference["model"]["id"], "t5-small");
    assert_eq!(inference["chunkId"], "chunk_1");
    assert_eq!(inference["inputChars"], 200);
    assert_eq!(inference["charsPerSecond"], 160.0);
    assert!(
        inference["encoderSeconds"].is_null(),
        "not measured, so null"
    );
    let memory = &records[5]["memory"];
    assert!(memory["linearMemoryBytes"].as_f64().unwrap() > 1e6);
    assert_eq!(records[6]["stage"], "inference");
    assert_eq!(records[6]["context"]["chunk"], 3);
    assert!(records
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["sessionId"] == "test-session"
            && r["environment"]["userAgent"]
                .as_str()
                .unwrap()
                .contains("Chrome")));

    let summary = value(&again.get_performance_summary().await.unwrap());
    assert_eq!(summary["recordCount"], 7);
    assert_eq!(summary["stages"]["model_loading"]["count"], 1);
    assert_eq!(summary["errorsLogged"], 1);
    assert_eq!(summary["alerts"], 1);
    validate(&again.export_json().await.unwrap());
    let log = again.export_log().await.unwrap();
    assert!(log.lines().next().unwrap().ends_with(
        " - model_performance_logger - INFO - Model 't5-small' loaded on cpu-wasm in 3.5800 seconds"
    ));
    again.clear().await.unwrap();
    assert_eq!(
        value(&again.records().await.unwrap()),
        serde_json::json!([])
    );
}

#[wasm_bindgen_test]
async fn the_summarizer_logs_every_stage_by_itself() {
    let logger = get_performance_logger(db_options("app")).await.unwrap();
    let fx = &FIXTURES[0];
    let perf: web_sys::Performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .unwrap()
        .unchecked_into();
    let started_at = perf.now();
    let options = json(&format!(
        r#"{{"id":"tiny-t5","url":"http://localhost/fixtures/tiny-t5/","sha256":"{}",
            "hashSeconds":0.001,"startedAt":{started_at},
            "files":[{{"file":"model.safetensors","bytes":{},"cacheHit":false,"fetchSeconds":0.002}}]}}"#,
        "ab".repeat(32),
        fx.weights.len()
    ));
    let s = WasmSummarizer::new(
        fx.config,
        fx.tokenizer,
        js_sys::Uint8Array::from(fx.weights).into(),
        options,
    )
    .unwrap();
    let load = value(&s.load_records().unwrap());
    assert_eq!(load[0]["type"], "model_loading");
    assert_eq!(load[0]["model"]["dtype"], "f32");
    assert_eq!(load[0]["model"]["sha256"], "ab".repeat(32));
    assert_eq!(load[0]["device"]["backend"], "cpu-wasm");
    assert_eq!(load[0]["device"]["simd"], true);
    assert!(load[0]["parseSeconds"].as_f64().unwrap() > 0.0);
    assert!(load[0]["loadSeconds"].as_f64() >= load[0]["parseSeconds"].as_f64());
    assert!(load[0]["memoryAfter"]["modelBytes"].as_f64().unwrap() > 1e5);

    let result = s
        .summarize(
            ARTICLE,
            json(r#"{"maxInputTokens":96,"maxNewTokens":16,"minNewTokens":4}"#),
            None,
        )
        .unwrap();
    let result = value(&result);
    assert!(
        result.get("metrics").is_none(),
        "records are not copied into the result"
    );
    let records = value(&logger.last_records().unwrap());
    let records = records.as_array().unwrap();
    let run = result["runId"].as_str().unwrap();
    assert!(records.iter().all(|r| r["runId"] == run));
    let ops: Vec<&str> = records
        .iter()
        .filter(|r| r["type"] == "preprocessing")
        .map(|r| r["operation"].as_str().unwrap())
        .collect();
    for op in ["normalize", "chunk_plan", "tokenize", "detokenize", "merge"] {
        assert!(ops.contains(&op), "{op} missing from {ops:?}");
    }
    let total = records
        .iter()
        .find(|r| r["type"] == "total_processing")
        .unwrap();
    let total_s = total["totalSeconds"].as_f64().unwrap();
    let chunks = result["passes"][0].as_array().unwrap().len();
    let inferences: Vec<_> = records
        .iter()
        .filter(|r| r["type"] == "inference")
        .collect();
    assert!(inferences.len() >= chunks && chunks > 3);
    let mut sum = 0.0;
    for r in &inferences {
        let (enc, ttft, dec, all) = (
            r["encoderSeconds"].as_f64().unwrap(),
            r["timeToFirstTokenSeconds"].as_f64().unwrap(),
            r["decodeSeconds"].as_f64().unwrap(),
            r["inferenceSeconds"].as_f64().unwrap(),
        );
        assert!(
            enc > 0.0 && dec > 0.0,
            "performance.now() stage times are positive: {r}"
        );
        assert!(
            enc < ttft && ttft <= all && enc + dec <= all + 1e-9,
            "stages nest: {r}"
        );
        let steps: f64 = r["tokenSeconds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_f64().unwrap())
            .sum();
        assert!((steps - dec).abs() < 1e-9);
        assert!(r["tokensPerSecond"].as_f64().unwrap() > 0.0);
        sum += all;
    }
    assert!(
        sum <= total_s,
        "chunks ({sum}) nest inside the total ({total_s})"
    );
    assert!(records.iter().any(|r| r["type"] == "memory"
        && r["memory"]["peakBytes"].as_f64() >= r["memory"]["currentBytes"].as_f64()));

    // Every stage is also a User Timing measure, visible in the profiler (queued during the run,
    // reported when the logger flushes, as the worker does right after posting the summary).
    let none_yet = perf.get_entries_by_name("t5:encode").length();
    assert_eq!(none_yet, 0, "measures wait until the summary is out");
    logger.flush().await;
    let names: Vec<String> = perf
        .get_entries_by_type("measure")
        .iter()
        .map(|e| {
            js_sys::Reflect::get(&e, &"name".into())
                .unwrap()
                .as_string()
                .unwrap()
        })
        .collect();
    for stage in [
        "t5:parse",
        "t5:load",
        "t5:normalize",
        "t5:chunk_plan",
        "t5:tokenize",
        "t5:encode",
        "t5:first_token",
        "t5:decode",
        "t5:detokenize",
        "t5:merge",
        "t5:chunk",
        "t5:summarize",
    ] {
        assert!(
            names.iter().any(|n| n == stage),
            "{stage} missing from {names:?}"
        );
    }

    // Stored as well, and the export of them validates.
    let stored = value(&logger.records().await.unwrap());
    assert_eq!(
        stored.as_array().unwrap().len(),
        load.as_array().unwrap().len() + records.len()
    );
    validate(&logger.export_json().await.unwrap());

    // A failing request is logged with its stage and context, and counts as an error.
    let err = s.summarize("   ", JsValue::UNDEFINED, None).unwrap_err();
    assert!(err.is_object());
    let stored = value(&logger.records().await.unwrap());
    let last: Vec<&serde_json::Value> = stored.as_array().unwrap().iter().rev().take(2).collect();
    assert_eq!(last[1]["type"], "error");
    assert_eq!(last[1]["stage"], "input");
    assert_eq!(last[1]["context"]["kind"], "empty-input");
    assert_eq!(last[0]["type"], "total_processing");
    assert_eq!(last[0]["errorRatePercent"], 100.0);

    // Metrics off: nothing is logged.
    let mut s = s;
    s.set_metrics_enabled(false).unwrap();
    let before = stored.as_array().unwrap().len();
    let out = value(
        &s.summarize(
            "A short text. It has two sentences.",
            JsValue::UNDEFINED,
            None,
        )
        .unwrap(),
    );
    assert!(out.get("runId").is_none());
    assert_eq!(
        value(&logger.records().await.unwrap())
            .as_array()
            .unwrap()
            .len(),
        before
    );
}

#[wasm_bindgen_test]
async fn a_failed_load_is_logged() {
    let logger = get_performance_logger(JsValue::UNDEFINED).await.unwrap();
    let fx = &FIXTURES[0];
    let before = value(&logger.records().await.unwrap())
        .as_array()
        .unwrap()
        .len();
    let options = json(r#"{"id":"broken"}"#);
    assert!(WasmSummarizer::new(
        fx.config,
        fx.tokenizer,
        js_sys::Uint8Array::from(&fx.weights[..100]).into(),
        options
    )
    .is_err());
    let stored = value(&logger.records().await.unwrap());
    let stored = stored.as_array().unwrap();
    assert_eq!(stored.len(), before + 1);
    let r = &stored[before];
    assert_eq!(
        (r["type"].as_str(), r["stage"].as_str()),
        (Some("error"), Some("load"))
    );
    assert_eq!(r["model"]["id"], "broken");
    assert_eq!(r["context"]["kind"], "model-file");
}
