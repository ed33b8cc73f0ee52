//! Native speed benchmark: our T5 against the stock candle-transformers T5 on a seeded random
//! model with an exact t5-small (or flan-t5-small) shape, in one run, single thread.
//!
//! ```text
//! cargo run --release --features bench --bin bench -- [--shape t5-small|flan-t5-small]
//!     [--lengths 128,256,512] [--steps 64] [--repeats 5] [--json out.json] [--out bench-out/models]
//!     [--models-only]
//! ```
//! Writes the model (config.json, model.safetensors f32, model-q8_0.gguf, model-q4k.gguf) into
//! `<out>/<shape>/` for the browser half (`tools/bench/wasm-bench.mjs`), then, for each system and
//! input length: model parse/load from bytes in memory, encoder ms, decoder
//! ms per token over `steps` forced tokens (greedy choice, end token ignored), each measured
//! `repeats` times after one warm-up; medians with min and max. Every figure is also printed as a
//! ratio to the stock f32 T5 of the same run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::quantized::GgmlDType;
use t5_summarizer::bench::{self, AtLength, System};
use t5_summarizer::metrics::memory;
use t5_summarizer::model::quantize::quantize;
use t5_summarizer::model::random::{self, Shape};
use t5_summarizer::model::Weights;

struct Args {
    shape: String,
    lengths: Vec<usize>,
    steps: usize,
    repeats: usize,
    json: Option<String>,
    out: PathBuf,
    /// Only write the model files (for `./build.sh bench --peer`).
    models_only: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        shape: "t5-small".into(),
        lengths: vec![128, 256, 512],
        steps: 64,
        repeats: 5,
        json: None,
        out: PathBuf::from("bench-out/models"),
        models_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--shape" => a.shape = value()?,
            "--lengths" => {
                a.lengths = value()?
                    .split(',')
                    .map(|s| s.trim().parse().map_err(|_| format!("--lengths: '{s}'")))
                    .collect::<Result<_, _>>()?
            }
            "--steps" => a.steps = value()?.parse().map_err(|_| "--steps: a number")?,
            "--repeats" => a.repeats = value()?.parse().map_err(|_| "--repeats: a number")?,
            "--json" => a.json = Some(value()?),
            "--out" => a.out = PathBuf::from(value()?),
            "--models-only" => a.models_only = true,
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if a.repeats == 0 || a.steps == 0 || a.lengths.iter().any(|&l| l < 2) {
        return Err("--steps and --repeats must be at least 1, --lengths at least 2".into());
    }
    Ok(a)
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    system: String,
    file: String,
    file_bytes: usize,
    load_ms: f64,
    /// Peak heap from before loading, the file's bytes (already in memory) not counted.
    peak_heap_bytes: u64,
    lengths: Vec<AtLength>,
}

/// The systems measured, with the file each loads.
const SYSTEMS: [(&str, System, &str); 5] = [
    (
        "stock candle-transformers T5 f32",
        System::StockF32,
        "model.safetensors",
    ),
    (
        "stock candle-transformers quantized T5 q8_0",
        System::StockQuantized,
        "model-q8_0.gguf",
    ),
    ("ours f32", System::Ours, "model.safetensors"),
    ("ours q8_0", System::Ours, "model-q8_0.gguf"),
    ("ours q4k", System::Ours, "model-q4k.gguf"),
];

/// Writes the random model of `shape` into `dir`: config.json, f32 safetensors, q8_0 and q4k GGUF.
fn write_models(shape: &Shape, dir: &Path) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| format!("{}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(|x| e(&x))?;
    std::fs::write(dir.join("config.json"), shape.config_json()).map_err(|x| e(&x))?;
    let tensors = random::tensors(shape, 1).map_err(|x| e(&x))?;
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).map_err(|x| e(&x))?;
    let weights = Weights::from_tensors("model.safetensors", tensors);
    for (name, dtype) in [
        ("model-q8_0.gguf", GgmlDType::Q8_0),
        ("model-q4k.gguf", GgmlDType::Q4K),
    ] {
        let (bytes, _) = quantize(&weights, dtype).map_err(|x| e(&x))?;
        std::fs::write(dir.join(name), bytes).map_err(|x| e(&x))?;
    }
    Ok(())
}

fn run(args: &Args) -> Result<Vec<Row>, String> {
    let shape = match args.shape.as_str() {
        "t5-small" => Shape::t5_small(),
        "flan-t5-small" => Shape::flan_t5_small(),
        other => {
            return Err(format!(
                "unknown shape '{other}' (t5-small or flan-t5-small)"
            ))
        }
    };
    let dir = args.out.join(&args.shape);
    eprintln!("writing a random {} into {} …", args.shape, dir.display());
    write_models(&shape, &dir)?;
    if args.models_only {
        return Ok(Vec::new());
    }
    let config_json = shape.config_json();
    let start = Instant::now();
    let now_ms = || start.elapsed().as_secs_f64() * 1e3;
    let mut rows = Vec::new();
    for (name, system, file) in SYSTEMS {
        let bytes = std::fs::read(dir.join(file)).map_err(|x| format!("{file}: {x}"))?;
        eprintln!("{name} …");
        memory::reset_peak();
        let before = memory::current_bytes();
        let t = now_ms();
        let mut runner = bench::load(system, &config_json, &bytes)?;
        let load_ms = now_ms() - t;
        let lengths = bench::measure(
            runner.as_mut(),
            &args.lengths,
            args.steps,
            args.repeats,
            shape.vocab_size as u32,
            &now_ms,
        )
        .map_err(|x| x.to_string())?;
        rows.push(Row {
            system: name.to_string(),
            file: file.to_string(),
            file_bytes: bytes.len(),
            load_ms,
            peak_heap_bytes: memory::peak_bytes().saturating_sub(before),
            lengths,
        });
    }
    Ok(rows)
}

fn print_table(rows: &[Row], shape: &str) {
    let base = &rows[0];
    println!(
        "\nnative, 1 thread, random {shape}; medians (ratio to {}) ±spread",
        base.system
    );
    let mut header = format!("{:<44} {:>8} {:>9}", "system", "load ms", "+peak MB");
    for l in &base.lengths {
        header += &format!(
            " {:>20} {:>20}",
            format!("encode ms @{}", l.tokens),
            format!("decode ms/tok @{}", l.tokens)
        );
    }
    println!("{header}");
    for r in rows {
        let mut line = format!(
            "{:<44} {:>8.0} {:>9.0}",
            r.system,
            r.load_ms,
            r.peak_heap_bytes as f64 / 1e6
        );
        for (l, b) in r.lengths.iter().zip(&base.lengths) {
            let cell = |s: &bench::Stat, b: &bench::Stat, digits: usize| {
                format!(
                    "{:.*} ({:.2}) ±{:.0}%",
                    digits,
                    s.median,
                    s.median / b.median,
                    s.spread_percent()
                )
            };
            line += &format!(
                " {:>20} {:>20}",
                cell(&l.encode_ms, &b.encode_ms, 0),
                cell(&l.decode_ms_per_token, &b.decode_ms_per_token, 1)
            );
        }
        println!("{line}");
    }
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(m) => {
            eprintln!("bench: {m}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(_) if args.models_only => std::process::ExitCode::SUCCESS,
        Ok(rows) => {
            print_table(&rows, &args.shape);
            if let Some(path) = &args.json {
                let doc = serde_json::json!({
                    "shape": args.shape,
                    "steps": args.steps,
                    "repeats": args.repeats,
                    "native": rows,
                });
                if let Err(err) = std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap())
                {
                    eprintln!("bench: {path}: {err}");
                    return std::process::ExitCode::FAILURE;
                }
                eprintln!("wrote {path}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(m) => {
            eprintln!("bench: {m}");
            std::process::ExitCode::FAILURE
        }
    }
}
