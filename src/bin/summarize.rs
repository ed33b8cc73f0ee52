//! Native command-line summarizer: the same pipeline as the browser, for scripts and parity checks.
//!
//! ```text
//! summarize --model <dir> (--text <string> | --input-ids <ids>) [--max-new-tokens N]
//!           [--min-new-tokens N] [--max-length N] [--min-length N] [--num-beams N]
//!           [--length-penalty F] [--early-stopping true|false|never]
//!           [--no-repeat-ngram-size N] [--repetition-penalty F]
//!           [--do-sample] [--temperature F] [--top-k N] [--top-p F] [--seed N]
//!           [--max-input-tokens N] [--json]
//! ```
//! Without `--text` or `--input-ids` the text is read from stdin. The weights are the folder's
//! `model.safetensors`, else its `model.gguf` (or the file `--weights <name>` names). Settings not given take the
//! model's defaults (config.json's `task_specific_params.summarization`, if any).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use t5_summarizer::generation::Flow;
use t5_summarizer::{ModelFiles, SummarizeOptions, Summarizer};

struct Args {
    model: PathBuf,
    text: Option<String>,
    input_ids: Option<Vec<u32>>,
    weights: Option<String>,
    options: SummarizeOptions,
    json: bool,
}

const USAGE: &str =
    "usage: summarize --model <dir> (--text <string> | --input-ids <comma-separated>) \
[--max-new-tokens N] [--min-new-tokens N] [--max-length N] [--min-length N] [--num-beams N] \
[--length-penalty F] [--early-stopping true|false|never] [--no-repeat-ngram-size N] \
[--repetition-penalty F] [--do-sample] [--temperature F] [--top-k N] [--top-p F] [--seed N] \
[--max-input-tokens N] [--weights <file>] [--json]";

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut model = None;
    let (mut text, mut input_ids, mut json, mut weights) = (None, None, false, None);
    let mut options = SummarizeOptions::default();
    let number = |flag: &str, v: Option<String>| -> Result<usize, String> {
        let v = v.ok_or(format!("{flag} needs a value"))?;
        v.parse()
            .map_err(|_| format!("{flag}: '{v}' is not a non-negative integer"))
    };
    let float = |flag: &str, v: Option<String>| -> Result<f32, String> {
        let v = v.ok_or(format!("{flag} needs a value"))?;
        v.parse()
            .map_err(|_| format!("{flag}: '{v}' is not a number"))
    };
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--model" => {
                model = Some(PathBuf::from(
                    argv.next().ok_or("--model needs a directory")?,
                ))
            }
            "--text" => text = Some(argv.next().ok_or("--text needs a value")?),
            "--weights" => weights = Some(argv.next().ok_or("--weights needs a file name")?),
            "--input-ids" => {
                let v = argv.next().ok_or("--input-ids needs a value")?;
                let ids = v
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse::<u32>()
                            .map_err(|_| format!("--input-ids: '{s}' is not a token id"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                input_ids = Some(ids);
            }
            "--max-new-tokens" => options.max_new_tokens = Some(number(&arg, argv.next())?),
            "--min-new-tokens" => options.min_new_tokens = Some(number(&arg, argv.next())?),
            "--max-length" => options.max_length = Some(number(&arg, argv.next())?),
            "--min-length" => options.min_length = Some(number(&arg, argv.next())?),
            "--num-beams" => options.num_beams = Some(number(&arg, argv.next())?),
            "--length-penalty" => options.length_penalty = Some(float(&arg, argv.next())?),
            "--early-stopping" => {
                let v = argv.next().ok_or("--early-stopping needs a value")?;
                options.early_stopping = Some(v.parse()?);
            }
            "--no-repeat-ngram-size" => {
                options.no_repeat_ngram_size = Some(number(&arg, argv.next())?)
            }
            "--repetition-penalty" => options.repetition_penalty = Some(float(&arg, argv.next())?),
            "--do-sample" => options.do_sample = Some(true),
            "--temperature" => options.temperature = Some(float(&arg, argv.next())?),
            "--top-k" => options.top_k = Some(number(&arg, argv.next())?),
            "--top-p" => options.top_p = Some(float(&arg, argv.next())?),
            "--seed" => options.seed = Some(number(&arg, argv.next())? as u64),
            "--max-input-tokens" => options.max_input_tokens = Some(number(&arg, argv.next())?),
            "--json" => json = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    let model = model.ok_or(format!("--model is required\n{USAGE}"))?;
    if text.is_some() && input_ids.is_some() {
        return Err("give either --text or --input-ids, not both".into());
    }
    Ok(Args {
        model,
        text,
        input_ids,
        weights,
        options,
        json,
    })
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, String> {
    std::fs::read(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()))
}

fn run(args: Args) -> Result<(Vec<u32>, String), String> {
    let config = read(&args.model, "config.json")?;
    // With --input-ids the tokenizer is optional: fall back to a minimal one for decoding only.
    let tokenizer = match read(&args.model, "tokenizer.json") {
        Ok(t) => t,
        Err(e) if args.input_ids.is_none() => return Err(e),
        Err(_) => {
            br#"{"version":"1.0","model":{"type":"WordLevel","vocab":{},"unk_token":"<unk>"}}"#
                .to_vec()
        }
    };
    let weights_name = match &args.weights {
        Some(name) => name.as_str(),
        None => ["model.safetensors", "model.gguf"]
            .into_iter()
            .find(|n| args.model.join(n).is_file())
            .ok_or_else(|| {
                format!(
                    "{}: no model.safetensors or model.gguf",
                    args.model.display()
                )
            })?,
    };
    let weights = read(&args.model, weights_name)?;
    let files = ModelFiles {
        config: &config,
        tokenizer: &tokenizer,
        weights: &weights,
        weights_name,
    };
    let summarizer = Summarizer::load(&files).map_err(|e| e.to_string())?;
    if let Some(ids) = args.input_ids {
        let cfg = summarizer
            .generation_config(&args.options)
            .map_err(|e| e.to_string())?;
        let tokens = summarizer
            .generate(&ids, &cfg, &mut |_| Flow::Continue)
            .map_err(|e| e.to_string())?;
        let text = summarizer.decode(&tokens).unwrap_or_default();
        return Ok((tokens, text));
    }
    let text = match args.text {
        Some(t) => t,
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("stdin: {e}"))?;
            s
        }
    };
    let summary = summarizer
        .summarize(&text, &args.options, &mut |_| Flow::Continue)
        .map_err(|e| e.to_string())?;
    let tokens = summary
        .passes
        .last()
        .into_iter()
        .flatten()
        .flat_map(|c| c.output_ids.clone())
        .collect();
    Ok((tokens, summary.text))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("summarize: {msg}");
            return ExitCode::from(2);
        }
    };
    let json = args.json;
    match run(args) {
        Ok((tokens, text)) => {
            if json {
                println!("{}", serde_json::json!({ "tokens": tokens, "text": text }));
            } else {
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("summarize: {msg}");
            ExitCode::FAILURE
        }
    }
}
