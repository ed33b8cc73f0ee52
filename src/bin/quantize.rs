//! Converts safetensors weights (f32, f16 or bf16) to a quantized GGUF file the summarizer loads.
//!
//! ```text
//! quantize <in.safetensors> <out.gguf> --type q8_0|q4k|...
//! ```

use std::process::ExitCode;

use candle_core::Device;
use t5_summarizer::model::quantize::{parse_type, quantize, TYPES};
use t5_summarizer::model::Weights;

fn usage() -> String {
    format!(
        "usage: quantize <in.safetensors> <out.gguf> --type <{}>",
        TYPES.map(|(t, _)| t).join("|")
    )
}

fn run(args: Vec<String>) -> Result<String, String> {
    let mut paths = Vec::new();
    let mut kind = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--type" => kind = Some(it.next().ok_or("--type needs a value")?),
            "-h" | "--help" => return Err(usage()),
            s if s.starts_with("--") => return Err(format!("unknown argument '{s}'\n{}", usage())),
            _ => paths.push(a),
        }
    }
    let [input, output] = <[String; 2]>::try_from(paths)
        .map_err(|_| format!("give one input and one output file\n{}", usage()))?;
    let kind = kind.ok_or_else(|| format!("--type is required\n{}", usage()))?;
    let dtype = parse_type(&kind).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&input).map_err(|e| format!("{input}: {e}"))?;
    let name = std::path::Path::new(&input)
        .file_name()
        .map_or(input.clone(), |n| n.to_string_lossy().into_owned());
    let weights = Weights::from_bytes(&name, &bytes, &Device::Cpu).map_err(|e| e.to_string())?;
    let (gguf, report) = quantize(&weights, dtype).map_err(|e| e.to_string())?;
    std::fs::write(&output, gguf).map_err(|e| format!("{output}: {e}"))?;
    Ok(format!("{output}: {report}"))
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("quantize: {msg}");
            ExitCode::from(2)
        }
    }
}
