//! Native speed benchmark: our T5 against the stock candle-transformers T5 on a seeded random
//! model with an exact t5-small (or flan-t5-small) shape, in one run, single thread.
//!
//! ```text
//! cargo run --release --features bench --bin bench -- [--shape t5-small|flan-t5-small]
//!     [--lengths 128,256,512] [--steps 64] [--repeats 5] [--json out.json]
//! ```
//! For each system and input length: model parse/load from bytes in memory, encoder ms, decoder
//! ms per token over `steps` forced tokens (greedy choice, end token ignored), each measured
//! `repeats` times after one warm-up; medians with min and max. Every figure is also printed as a
//! ratio to the stock f32 T5 of the same run.

use std::time::Instant;

use candle_core::quantized::GgmlDType;
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::{quantized_t5, t5 as stock};
use t5_summarizer::generation::logits::argmax;
use t5_summarizer::metrics::memory;
use t5_summarizer::model::quantize::quantize;
use t5_summarizer::model::random::{self, Shape};
use t5_summarizer::model::{T5Config, Weights, T5};

struct Args {
    shape: String,
    lengths: Vec<usize>,
    steps: usize,
    repeats: usize,
    json: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        shape: "t5-small".into(),
        lengths: vec![128, 256, 512],
        steps: 64,
        repeats: 5,
        json: None,
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
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if a.repeats == 0 || a.steps == 0 {
        return Err("--steps and --repeats must be at least 1".into());
    }
    Ok(a)
}

/// Median, min and max of some measurements (ms).
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
}

fn stat(mut xs: Vec<f64>) -> Stat {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let median = if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    };
    Stat {
        median,
        min: xs[0],
        max: xs[n - 1],
    }
}

/// A model under test: encode once, then decode forced tokens one at a time.
trait Runner {
    fn encode(&mut self, ids: &[u32]) -> candle_core::Result<()>;
    fn step(&mut self, token: u32) -> candle_core::Result<Vec<f32>>;
}

struct Ours {
    model: T5,
    cache: Option<t5_summarizer::model::DecoderCache>,
}

impl Runner for Ours {
    fn encode(&mut self, ids: &[u32]) -> candle_core::Result<()> {
        let x = Tensor::from_slice(ids, (1, ids.len()), &Device::Cpu)?;
        let enc = self.model.encode(&x).map_err(candle_core::Error::wrap)?;
        self.cache = Some(
            self.model
                .start_decoder(&enc, 1)
                .map_err(candle_core::Error::wrap)?,
        );
        Ok(())
    }

    fn step(&mut self, token: u32) -> candle_core::Result<Vec<f32>> {
        let cache = self.cache.as_mut().expect("encode first");
        Ok(self
            .model
            .step(cache, &[token])
            .map_err(candle_core::Error::wrap)?
            .swap_remove(0))
    }
}

/// A stock candle-transformers model (f32 or quantized: the same API) with its encoder output.
struct Stock<M> {
    model: M,
    enc: Option<Tensor>,
}

/// The calls both stock T5 types offer.
trait StockT5 {
    fn clear(&mut self);
    fn encode(&mut self, x: &Tensor) -> candle_core::Result<Tensor>;
    fn decode(&mut self, d: &Tensor, enc: &Tensor) -> candle_core::Result<Tensor>;
}

macro_rules! stock_t5 {
    ($t:ty) => {
        impl StockT5 for $t {
            fn clear(&mut self) {
                self.clear_kv_cache()
            }
            fn encode(&mut self, x: &Tensor) -> candle_core::Result<Tensor> {
                <$t>::encode(self, x)
            }
            fn decode(&mut self, d: &Tensor, enc: &Tensor) -> candle_core::Result<Tensor> {
                <$t>::decode(self, d, enc)
            }
        }
    };
}
stock_t5!(stock::T5ForConditionalGeneration);
stock_t5!(quantized_t5::T5ForConditionalGeneration);

impl<M: StockT5> Runner for Stock<M> {
    fn encode(&mut self, ids: &[u32]) -> candle_core::Result<()> {
        self.model.clear();
        let x = Tensor::from_slice(ids, (1, ids.len()), &Device::Cpu)?;
        self.enc = Some(self.model.encode(&x)?);
        Ok(())
    }

    fn step(&mut self, token: u32) -> candle_core::Result<Vec<f32>> {
        let d = Tensor::from_slice(&[token], (1, 1), &Device::Cpu)?;
        self.model
            .decode(&d, self.enc.as_ref().expect("encode first"))?
            .squeeze(0)?
            .to_vec1()
    }
}

#[derive(Debug, serde::Serialize)]
struct Row {
    system: String,
    weights_bytes: usize,
    load_ms: f64,
    /// Peak heap growth from before loading (the weights file bytes, already in memory, not counted).
    peak_bytes: u64,
    /// Per input length: (tokens, encode ms, decode ms per token).
    lengths: Vec<(usize, Stat, Stat)>,
}

fn measure(
    runner: &mut dyn Runner,
    lengths: &[usize],
    steps: usize,
    repeats: usize,
    vocab: u32,
) -> candle_core::Result<Vec<(usize, Stat, Stat)>> {
    let mut out = Vec::new();
    for &len in lengths {
        let ids: Vec<u32> = (0..len as u32)
            .map(|i| 3 + (i * 7919) % (vocab - 3))
            .chain([1])
            .take(len)
            .collect();
        let (mut enc, mut dec) = (Vec::new(), Vec::new());
        for rep in 0..=repeats {
            let t = Instant::now();
            runner.encode(&ids)?;
            let e = t.elapsed().as_secs_f64() * 1e3;
            let mut token = 0;
            let t = Instant::now();
            for _ in 0..steps {
                let logits = runner.step(token)?;
                // Forced continuation: the greedy choice, but never the end token.
                token = argmax(&logits).max(2);
            }
            let d = t.elapsed().as_secs_f64() * 1e3 / steps as f64;
            if rep > 0 {
                enc.push(e);
                dec.push(d);
            }
        }
        out.push((len, stat(enc), stat(dec)));
    }
    Ok(out)
}

fn run(args: Args) -> Result<Vec<Row>, String> {
    let shape = match args.shape.as_str() {
        "t5-small" => Shape::t5_small(),
        "flan-t5-small" => Shape::flan_t5_small(),
        other => {
            return Err(format!(
                "unknown shape '{other}' (t5-small or flan-t5-small)"
            ))
        }
    };
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let config_json = shape.config_json();
    let cfg = T5Config::from_json(config_json.as_bytes()).map_err(|x| e(&x))?;
    eprintln!("generating a random {} …", args.shape);
    let f32w = random::weights(&shape, 1).map_err(|x| e(&x))?;
    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    for (name, dtype) in [
        ("f32", GgmlDType::F32),
        ("q8_0", GgmlDType::Q8_0),
        ("q4k", GgmlDType::Q4K),
    ] {
        files.push((name, quantize(&f32w, dtype).map_err(|x| e(&x))?.0));
    }
    drop(f32w);
    let vocab = shape.vocab_size as u32;
    let mut rows = Vec::new();
    let stock_cfg = || -> Result<stock::Config, String> {
        let mut c: stock::Config = serde_json::from_str(&config_json).map_err(|x| e(&x))?;
        c.use_cache = true;
        Ok(c)
    };

    // Loads one system (timed, heap growth from here on counted), then measures it.
    let mut bench = |system: String,
                     bytes: usize,
                     load: &dyn Fn() -> Result<Box<dyn Runner>, String>|
     -> Result<(), String> {
        memory::reset_peak();
        let before = memory::current_bytes();
        let t = Instant::now();
        let mut runner = load()?;
        let load_ms = t.elapsed().as_secs_f64() * 1e3;
        eprintln!("{system} …");
        let lengths = measure(
            runner.as_mut(),
            &args.lengths,
            args.steps,
            args.repeats,
            vocab,
        )
        .map_err(|x| e(&x))?;
        rows.push(Row {
            system,
            weights_bytes: bytes,
            load_ms,
            peak_bytes: memory::peak_bytes().saturating_sub(before),
            lengths,
        });
        Ok(())
    };

    // Stock f32: the f32 GGUF read into a VarBuilder (as a safetensors file would be).
    let f32_bytes = &files[0].1;
    bench(
        "stock candle-transformers T5 f32".into(),
        f32_bytes.len(),
        &|| {
            let w = Weights::from_bytes("f32.gguf", f32_bytes, &Device::Cpu).map_err(|x| e(&x))?;
            let mut tensors = std::collections::HashMap::new();
            for n in w.names() {
                let t = w.get_f32(n).map_err(|x| e(&x))?.expect("a listed tensor");
                tensors.insert(n.to_string(), t);
            }
            let vb = candle_nn::VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
            let model =
                stock::T5ForConditionalGeneration::load(vb, &stock_cfg()?).map_err(|x| e(&x))?;
            Ok(Box::new(Stock { model, enc: None }))
        },
    )?;
    let q8 = &files[1].1;
    bench(
        "stock candle-transformers quantized T5 q8_0".into(),
        q8.len(),
        &|| {
            let vb =
                quantized_t5::VarBuilder::from_gguf_buffer(q8, &Device::Cpu).map_err(|x| e(&x))?;
            let qcfg: quantized_t5::Config =
                serde_json::from_str(&config_json).map_err(|x| e(&x))?;
            let model =
                quantized_t5::T5ForConditionalGeneration::load(vb, &qcfg).map_err(|x| e(&x))?;
            Ok(Box::new(Stock { model, enc: None }))
        },
    )?;
    for (name, bytes) in &files {
        bench(format!("ours {name}"), bytes.len(), &|| {
            let w = Weights::from_bytes("model.gguf", bytes, &Device::Cpu).map_err(|x| e(&x))?;
            let model = T5::load(&w, &cfg, &Device::Cpu).map_err(|x| e(&x))?;
            Ok(Box::new(Ours { model, cache: None }))
        })?;
    }
    Ok(rows)
}

fn print_table(rows: &[Row], shape: &str) {
    let base = &rows[0];
    println!(
        "\nnative, 1 thread, random {shape}; medians of the repeats, (ratio to {})",
        base.system
    );
    let mut header = format!("{:<46} {:>10} {:>10}", "system", "load ms", "+peak MB");
    for (len, _, _) in &base.lengths {
        header += &format!(
            " {:>22} {:>22}",
            format!("encode ms @{len}"),
            format!("decode ms/tok @{len}")
        );
    }
    println!("{header}");
    for r in rows {
        let mut line = format!(
            "{:<46} {:>10.0} {:>10.0}",
            r.system,
            r.load_ms,
            r.peak_bytes as f64 / 1e6
        );
        for ((_, enc, dec), (_, benc, bdec)) in r.lengths.iter().zip(&base.lengths) {
            line += &format!(
                " {:>22} {:>22}",
                format!(
                    "{:.1} ({:.2}) ±{:.0}%",
                    enc.median,
                    enc.median / benc.median,
                    spread(enc)
                ),
                format!(
                    "{:.2} ({:.2}) ±{:.0}%",
                    dec.median,
                    dec.median / bdec.median,
                    spread(dec)
                ),
            );
        }
        println!("{line}");
    }
}

/// Half the min–max range as a percentage of the median.
fn spread(s: &Stat) -> f64 {
    (s.max - s.min) / 2.0 / s.median * 100.0
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(m) => {
            eprintln!("bench: {m}");
            return std::process::ExitCode::from(2);
        }
    };
    let (shape, json) = (args.shape.clone(), args.json.clone());
    match run(args) {
        Ok(rows) => {
            print_table(&rows, &shape);
            if let Some(path) = json {
                let doc = serde_json::json!({ "shape": shape, "native": rows });
                if let Err(err) = std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap())
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
