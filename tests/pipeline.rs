//! Native end-to-end tests of the summarizer on the committed fixture models.
//!
//! `UPDATE_GOLDEN=1 cargo test --test pipeline` rewrites `expected-article.json` for each fixture;
//! the browser suite (`tests/web.rs`) checks wasm against the same files, so native and wasm must
//! produce the same tokens.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{golden_options, ARTICLE, FIXTURES};
use t5_summarizer::generation::Flow;
use t5_summarizer::{Error, Event, ModelFiles, SummarizeOptions, Summarizer, Summary};

#[test]
fn article_summary_matches_the_golden_file() {
    for fx in &FIXTURES {
        let s = fx.load();
        let summary = s
            .summarize(ARTICLE, &golden_options(), &mut |_| Flow::Continue)
            .unwrap();
        let actual = serde_json::to_value(&summary).unwrap();
        let path = format!(
            "{}/tests/fixtures/{}/expected-article.json",
            env!("CARGO_MANIFEST_DIR"),
            fx.name
        );
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
            continue;
        }
        let golden: serde_json::Value = serde_json::from_str(fx.golden).unwrap();
        assert_eq!(actual, golden, "{}: summary differs from {path}", fx.name);
        assert!(
            summary.passes[0].len() > 3,
            "{}: expected several chunks",
            fx.name
        );
        assert!(!summary.text.is_empty());
    }
}

#[test]
fn chunks_fit_the_budget_and_end_with_the_end_token() {
    for fx in &FIXTURES {
        let s = fx.load();
        for budget in [16, 40, 512] {
            let opts = SummarizeOptions {
                max_input_tokens: Some(budget),
                max_new_tokens: Some(3),
                ..Default::default()
            };
            let summary = s
                .summarize(ARTICLE, &opts, &mut |_| Flow::Continue)
                .unwrap();
            for chunk in &summary.passes[0] {
                assert!(
                    chunk.input_ids.len() <= budget,
                    "{} > {budget}",
                    chunk.input_ids.len()
                );
                assert_eq!(chunk.input_ids.last(), Some(&1));
                assert!(chunk.output_ids.len() <= 3);
            }
            // The prefix opens every chunk.
            let prefix = s.count_tokens("summarize: ").unwrap();
            let first = &summary.passes[0][0].input_ids[..prefix];
            assert!(summary.passes[0]
                .iter()
                .all(|c| &c.input_ids[..prefix] == first));
        }
    }
}

#[test]
fn events_report_every_chunk_in_order_and_deltas_rebuild_the_summary() {
    let s = FIXTURES[0].load();
    let opts = SummarizeOptions {
        refine: Some(false),
        ..golden_options()
    };
    let (mut started, mut done, mut tokens, mut streamed) = (vec![], vec![], 0, String::new());
    let summary = s
        .summarize(ARTICLE, &opts, &mut |e| {
            match e {
                Event::ChunkStarted { index, total, .. } => started.push((index, total)),
                Event::ChunkDone { index, delta, .. } => {
                    done.push(index);
                    streamed.push_str(delta);
                }
                Event::Token { .. } => tokens += 1,
                Event::Planned { .. } => {}
                Event::Text { .. } => panic!("text events only come when asked for"),
            }
            Flow::Continue
        })
        .unwrap();
    let n = summary.passes[0].len();
    assert_eq!(started, (0..n).map(|i| (i, n)).collect::<Vec<_>>());
    assert_eq!(done, (0..n).collect::<Vec<_>>());
    assert_eq!(
        tokens,
        summary.passes[0]
            .iter()
            .map(|c| c.output_ids.len())
            .sum::<usize>()
    );
    assert_eq!(streamed, summary.text);
}

/// The `stream` option's text deltas of a one-pass run, in order, with the chunk each came in.
fn streamed_text(
    s: &Summarizer,
    text: &str,
    opts: &SummarizeOptions,
) -> (Summary, Vec<(usize, String)>) {
    let opts = SummarizeOptions {
        stream: Some(true),
        refine: Some(false),
        ..opts.clone()
    };
    let mut deltas = Vec::new();
    let summary = s
        .summarize(text, &opts, &mut |e| {
            if let Event::Text { pass, index, delta } = e {
                assert_eq!(pass, 0);
                deltas.push((index, delta.to_string()));
            }
            Flow::Continue
        })
        .unwrap();
    (summary, deltas)
}

#[test]
fn streamed_text_grows_token_by_token_and_adds_up_to_the_summary() {
    for fixture in FIXTURES {
        let s = fixture.load();
        for beams in [1, 3] {
            let opts = SummarizeOptions {
                num_beams: Some(beams),
                max_input_tokens: Some(48),
                max_new_tokens: Some(12),
                min_new_tokens: Some(12),
                ..Default::default()
            };
            let (summary, deltas) = streamed_text(&s, ARTICLE, &opts);
            let joined: String = deltas.iter().map(|(_, d)| d.as_str()).collect();
            assert_eq!(joined, summary.text, "{} beams {beams}", fixture.name);
            let chunks = summary.passes[0].len();
            assert!(chunks > 1);
            let per_chunk = |i| deltas.iter().filter(|(c, _)| *c == i).count();
            for i in 0..chunks {
                if beams == 1 && !summary.passes[0][i].text.trim().is_empty() && per_chunk(i) > 0 {
                    // Greedy: the text arrives a word at a time, before the chunk is done.
                    assert!(
                        per_chunk(i) > 1
                            || summary.passes[0][i].text.split_whitespace().count() < 2,
                        "chunk {i}: {deltas:?}"
                    );
                } else if beams > 1 {
                    assert!(per_chunk(i) <= 1, "beam search streams a chunk at its end");
                }
            }
        }
    }
}

#[test]
fn a_stepwise_run_pauses_after_every_token_and_stops_when_dropped() {
    use t5_summarizer::stepwise::Steps;
    let s = FIXTURES[0].load();
    let opts = SummarizeOptions {
        num_beams: Some(1),
        max_new_tokens: Some(6),
        min_new_tokens: Some(6),
        refine: Some(false),
        ..Default::default()
    };
    let whole = s
        .summarize(ARTICLE, &opts, &mut |_| Flow::Continue)
        .unwrap();
    let tokens = std::cell::Cell::new(0);
    let mut on_event = |e: Event<'_>| {
        if matches!(e, Event::Token { .. }) {
            tokens.set(tokens.get() + 1);
        }
        Flow::Continue
    };
    let mut steps = Steps::new(s.summarize_stepwise(ARTICLE, &opts, &mut on_event));
    let mut polls = 0;
    let stepped = loop {
        polls += 1;
        let before = tokens.get();
        if let Some(out) = steps.step() {
            break out.unwrap();
        }
        assert!(tokens.get() - before <= 1, "one decoder step per poll");
    };
    assert_eq!((stepped.text, stepped.passes), (whole.text, whole.passes));
    assert!(
        polls > tokens.get(),
        "{polls} polls for {} tokens",
        tokens.get()
    );

    tokens.set(0);
    let mut on_event = |e: Event<'_>| {
        if matches!(e, Event::Token { .. }) {
            tokens.set(tokens.get() + 1);
        }
        Flow::Continue
    };
    let mut steps = Steps::new(s.summarize_stepwise(ARTICLE, &opts, &mut on_event));
    for _ in 0..3 {
        assert!(steps.step().is_none());
    }
    drop(steps);
    assert_eq!(tokens.get(), 3, "nothing runs after the run is dropped");
}

#[test]
fn a_profile_counts_every_stage_of_every_step_and_only_when_asked() {
    let s = FIXTURES[0].load();
    let text = "The river rose after a week of rain. The bridge was closed.";
    let greedy = SummarizeOptions {
        num_beams: Some(1),
        max_new_tokens: Some(7),
        min_new_tokens: Some(7),
        ..Default::default()
    };
    let plain = s.summarize(text, &greedy, &mut |_| Flow::Continue).unwrap();
    assert!(plain.profile.is_none());
    assert!(serde_json::to_value(&plain)
        .unwrap()
        .get("profile")
        .is_none());

    let opts = SummarizeOptions {
        profile: Some(true),
        ..greedy
    };
    let mut tokens = 0;
    let summary = s
        .summarize(text, &opts, &mut |e| {
            if matches!(e, Event::Token { .. }) {
                tokens += 1;
            }
            Flow::Continue
        })
        .unwrap();
    assert_eq!(summary.passes[0].len(), 1);
    assert_eq!(tokens, 7);
    let stages = summary.profile.expect("a profile was asked for");
    let calls = |name: &str| {
        stages
            .iter()
            .find(|s| s.stage == name)
            .unwrap_or_else(|| panic!("no stage {name} in {stages:?}"))
            .calls
    };
    let layers = s.config().num_decoder_layers as u64;
    // Every encoder stage runs once per encoder layer of the one chunk (none per decoder step).
    for stage in stages.iter().filter(|s| s.stage.starts_with("encoder.")) {
        let once = matches!(stage.stage, "encoder.embed" | "encoder.final_norm");
        let want = if once {
            1
        } else {
            s.config().num_layers as u64
        };
        assert_eq!(stage.calls, want, "{}", stage.stage);
    }
    assert_eq!(calls("encoder.attention"), s.config().num_layers as u64);
    assert_eq!(
        calls("encoder.attention.norm"),
        s.config().num_layers as u64
    );
    assert_eq!(calls("decoder.cross_kv"), 1);
    for stage in [
        "decoder.embed",
        "decoder.lm_head",
        "decoder.logits_out",
        "search",
        "event",
    ] {
        assert_eq!(calls(stage), 7, "{stage}");
    }
    for stage in [
        "decoder.self_attention",
        "decoder.cross_attention",
        "decoder.feed_forward",
    ] {
        assert_eq!(calls(stage), 7 * layers, "{stage}");
    }
    assert!(stages.iter().all(|s| s.ms >= 0.0));
    // The same tokens with and without the profile.
    assert_eq!(summary.passes, plain.passes);
}

#[test]
fn stopping_from_a_callback_cancels() {
    let s = FIXTURES[0].load();
    let mut seen = 0;
    let r = s.summarize(ARTICLE, &golden_options(), &mut |e| {
        if matches!(e, Event::Token { .. }) {
            seen += 1;
        }
        if seen == 3 {
            Flow::Stop
        } else {
            Flow::Continue
        }
    });
    assert!(matches!(r, Err(Error::Cancelled)));
    assert_eq!(seen, 3);
}

#[test]
fn long_merged_summaries_get_a_second_pass() {
    let s = FIXTURES[1].load();
    let opts = SummarizeOptions {
        max_input_tokens: Some(48),
        max_new_tokens: Some(30),
        min_new_tokens: Some(30),
        ..Default::default()
    };
    let summary = s
        .summarize(ARTICLE, &opts, &mut |_| Flow::Continue)
        .unwrap();
    assert_eq!(summary.passes.len(), 2);
    let no_refine = SummarizeOptions {
        refine: Some(false),
        ..opts
    };
    assert_eq!(
        s.summarize(ARTICLE, &no_refine, &mut |_| Flow::Continue)
            .unwrap()
            .passes
            .len(),
        1
    );
}

#[test]
fn empty_and_whitespace_text_is_refused_before_the_model_runs() {
    let s = FIXTURES[0].load();
    for text in ["", "  \n\t \r\n", "\u{200B}\u{FEFF}"] {
        let mut events = 0;
        let r = s.summarize(text, &golden_options(), &mut |_| {
            events += 1;
            Flow::Continue
        });
        assert!(matches!(r, Err(Error::EmptyInput)), "{text:?}");
        assert_eq!(events, 0);
    }
}

#[test]
fn unusual_text_summarizes() {
    let s = FIXTURES[0].load();
    let opts = SummarizeOptions {
        max_new_tokens: Some(4),
        max_input_tokens: Some(64),
        ..Default::default()
    };
    let word = "x".repeat(20_000);
    for text in [
        "今日は晴れ。明日は雨！ 👍🏽🎉 مرحبا بالعالم",
        "<script>alert(1)</script> <b>bold</b>",
        word.as_str(),
    ] {
        let summary = s.summarize(text, &opts, &mut |_| Flow::Continue).unwrap();
        assert!(summary.passes[0].iter().all(|c| c.input_ids.len() <= 64));
    }
}

fn load_err(config: &[u8], tokenizer: &[u8], weights: &[u8]) -> String {
    let files = ModelFiles {
        config,
        tokenizer,
        weights: &weights,
        weights_name: "model.safetensors",
    };
    match Summarizer::load(&files) {
        Ok(_) => panic!("loaded a broken model"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn broken_model_files_are_named_in_errors() {
    let fx = &FIXTURES[0];
    let truncated = &fx.weights[..fx.weights.len() / 2];
    assert!(load_err(fx.config, fx.tokenizer, truncated)
        .starts_with("model.safetensors: not a readable safetensors file"));
    assert!(load_err(fx.config, fx.tokenizer, b"").starts_with("model.safetensors: "));
    assert!(load_err(b"{oops", fx.tokenizer, fx.weights)
        .starts_with("config.json: not a valid T5 config"));
    assert!(load_err(fx.config, b"{\"x\":1}", fx.weights)
        .starts_with("tokenizer.json: not a valid tokenizer"));
    // A config that does not describe the weights.
    let wrong = String::from_utf8(fx.config.to_vec())
        .unwrap()
        .replace("\"num_layers\": 2", "\"num_layers\": 3");
    let msg = load_err(wrong.as_bytes(), fx.tokenizer, fx.weights);
    assert!(msg.contains("missing tensor 'encoder.block.2."), "{msg}");
    let wrong = String::from_utf8(fx.config.to_vec())
        .unwrap()
        .replace("\"d_ff\": 128", "\"d_ff\": 256");
    let msg = load_err(wrong.as_bytes(), fx.tokenizer, fx.weights);
    assert!(
        msg.contains("DenseReluDense") && msg.contains("but config.json implies"),
        "{msg}"
    );
    // A tokenizer from a bigger vocabulary than the model's.
    let small = String::from_utf8(fx.config.to_vec())
        .unwrap()
        .replace("\"vocab_size\": 593", "\"vocab_size\": 100");
    let msg = load_err(small.as_bytes(), fx.tokenizer, fx.weights);
    assert!(
        msg.starts_with("tokenizer.json: the tokenizer has 593 tokens but the model only 100"),
        "{msg}"
    );
}

#[test]
fn bad_options_are_refused() {
    let s = FIXTURES[0].load();
    for opts in [
        SummarizeOptions {
            max_input_tokens: Some(1),
            ..Default::default()
        },
        SummarizeOptions {
            max_input_tokens: Some(4),
            ..Default::default()
        },
        SummarizeOptions {
            max_new_tokens: Some(0),
            ..Default::default()
        },
        SummarizeOptions {
            max_new_tokens: Some(5),
            min_new_tokens: Some(6),
            ..Default::default()
        },
    ] {
        let r = s.summarize("Some text.", &opts, &mut |_| Flow::Continue);
        assert!(matches!(r, Err(Error::InvalidOption(_))), "{opts:?}: {r:?}");
    }
}

/// The JS API forwards the generation settings it lists (`GENERATION_OPTIONS` in
/// www/summarizer.js) and drops every other key, as WebIDL dictionaries do: the list must be
/// the Rust options' (all but `stream`, which summarizeStreaming sets itself).
#[test]
fn the_js_api_lists_every_generation_option() {
    let err = serde_json::from_str::<SummarizeOptions>(r#"{"noSuchOption": 1}"#)
        .unwrap_err()
        .to_string();
    let expected = err
        .split("expected one of")
        .nth(1)
        .expect("serde lists the fields");
    let mut rust: Vec<&str> = expected
        .split(',')
        .map(|f| {
            f.trim()
                .trim_matches(|c: char| c == '`' || c.is_whitespace())
        })
        .map(|f| f.split('`').next().unwrap_or(f))
        .filter(|f| *f != "stream")
        .collect();
    let js_src = include_str!("../www/summarizer.js");
    let list = js_src
        .split("export const GENERATION_OPTIONS = [")
        .nth(1)
        .and_then(|rest| rest.split("];").next())
        .expect("GENERATION_OPTIONS in www/summarizer.js");
    let mut js: Vec<&str> = list
        .split(',')
        .map(|f| f.trim().trim_matches('\''))
        .filter(|f| !f.is_empty())
        .collect();
    rust.sort_unstable();
    js.sort_unstable();
    assert_eq!(js, rust);
}

/// The page's form carries each numeric setting's range as the core declares it
/// (`generation::limits::LIMITS`): one limit, so the page never offers what the core refuses.
#[test]
fn the_page_form_limits_are_the_cores() {
    use t5_summarizer::generation::limits::LIMITS;
    let html = include_str!("../www/index.html");
    let attr = |tag: &str, name: &str| -> Option<f64> {
        let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        tag[at..].split('"').next()?.parse().ok()
    };
    let mut seen = Vec::new();
    // Each `<input …>` tag's attributes (the text before the first `<input` is no tag).
    for tag in html
        .split("<input")
        .skip(1)
        .map(|t| t.split('>').next().unwrap())
    {
        let Some(at) = tag.find("data-option=\"") else {
            continue;
        };
        let name = tag[at + 13..].split('"').next().unwrap();
        let limit = LIMITS
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("{name}: a form input with no declared limit"));
        assert_eq!(attr(tag, "min"), Some(limit.min), "{name}: min");
        assert_eq!(attr(tag, "max"), Some(limit.max), "{name}: max");
        seen.push(name);
    }
    let mut declared: Vec<&str> = LIMITS.iter().map(|l| l.name).collect();
    seen.sort_unstable();
    declared.sort_unstable();
    assert_eq!(seen, declared, "every declared limit has a form input");
    // The option names are the API's.
    let err = serde_json::from_str::<SummarizeOptions>(r#"{"noSuchOption": 1}"#)
        .unwrap_err()
        .to_string();
    for name in declared {
        assert!(
            err.contains(&format!("`{name}`")),
            "{name} is not an option"
        );
    }
}

#[test]
fn cli_json_output_and_errors() {
    let exe = env!("CARGO_BIN_EXE_summarize");
    let dir = format!("{}/tests/fixtures/tiny-t5", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(exe)
        .args([
            "--model",
            &dir,
            "--input-ids",
            "37,5,6,1",
            "--max-new-tokens",
            "6",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["tokens"].as_array().unwrap().len() <= 6);
    assert!(v["text"].is_string());

    for args in [
        vec!["--model", "/nonexistent", "--text", "x"],
        vec!["--bogus"],
        vec!["--model", &dir, "--max-new-tokens", "x"],
    ] {
        let out = std::process::Command::new(exe)
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("summarize: "), "{args:?}: {err}");
    }
}

#[test]
fn prefix_comes_from_the_config_then_the_options() {
    let fx = &FIXTURES[0];
    let config = String::from_utf8(fx.config.to_vec())
        .unwrap()
        .replace("\"summarize: \"", "\"tl;dr: \"");
    let files = ModelFiles {
        config: config.as_bytes(),
        ..fx.files()
    };
    let s = Summarizer::load(&files).unwrap();
    let ids_of = |text: &str| -> Vec<u32> {
        let n = s.count_tokens(text).unwrap();
        let opts = SummarizeOptions {
            max_new_tokens: Some(1),
            ..Default::default()
        };
        let opts = SummarizeOptions {
            prefix: Some(text.to_string()),
            ..opts
        };
        s.summarize("Body text here.", &opts, &mut |_| Flow::Continue)
            .unwrap()
            .passes[0][0]
            .input_ids[..n]
            .to_vec()
    };
    let default = s
        .summarize(
            "Body text here.",
            &SummarizeOptions {
                max_new_tokens: Some(1),
                ..Default::default()
            },
            &mut |_| Flow::Continue,
        )
        .unwrap();
    assert_eq!(s.prefix(&SummarizeOptions::default()), "tl;dr: ");
    assert!(default.passes[0][0]
        .input_ids
        .starts_with(&ids_of("tl;dr: ")));
    // Without a prefix in the config, the default applies; an explicit option wins over both.
    assert_eq!(
        FIXTURES[1].load().prefix(&SummarizeOptions::default()),
        "summarize: "
    );
    let custom = SummarizeOptions {
        prefix: Some("condense: ".into()),
        ..Default::default()
    };
    assert_eq!(s.prefix(&custom), "condense: ");
}

#[test]
fn half_precision_safetensors_load() {
    use candle_core::{DType, Device};
    let fx = &FIXTURES[1];
    let tensors = candle_core::safetensors::load_buffer(fx.weights, &Device::Cpu).unwrap();
    let dir = std::env::temp_dir().join(format!("t5-half-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for dtype in [DType::F16, DType::BF16] {
        let half: std::collections::HashMap<String, candle_core::Tensor> = tensors
            .iter()
            .map(|(k, v)| (k.clone(), v.to_dtype(dtype).unwrap()))
            .collect();
        let path = dir.join("model.safetensors");
        candle_core::safetensors::save(&half, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bytes.len() < fx.weights.len() * 6 / 10,
            "{dtype:?} file is not half size"
        );
        let s = Summarizer::load(&ModelFiles {
            weights: &bytes,
            ..fx.files()
        })
        .unwrap();
        let out = s
            .summarize(ARTICLE, &golden_options(), &mut |_| Flow::Continue)
            .unwrap();
        assert!(!out.text.is_empty(), "{dtype:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stage_timings_are_positive_and_nest_inside_the_total() {
    let s = FIXTURES[0].load();
    let summary = s
        .summarize(ARTICLE, &golden_options(), &mut |_| Flow::Continue)
        .unwrap();
    let t = &summary.timings;
    assert_eq!(t.input_chars, ARTICLE.chars().count());
    assert!(t.total_ms > 0.0 && t.normalize_ms >= 0.0);
    assert_eq!(t.passes.len(), summary.passes.len());
    let mut inside = t.normalize_ms;
    for (pass, results) in t.passes.iter().zip(&summary.passes) {
        assert_eq!(pass.chunks.len(), results.len());
        assert!(pass.tokenize_ms > 0.0 && pass.plan_ms >= 0.0);
        inside += pass.tokenize_ms + pass.plan_ms;
        for (c, r) in pass.chunks.iter().zip(results) {
            assert!(c.start_ms >= t.start_ms && c.start_ms + c.total_ms <= t.start_ms + t.total_ms);
            assert!(c.encode_ms > 0.0 && c.first_token_ms > c.encode_ms);
            assert_eq!(c.token_ms.len(), r.output_ids.len());
            assert!(c.token_ms.iter().all(|&ms| ms > 0.0));
            let parts = c.encode_ms + c.decode_ms() + c.detokenize_ms;
            assert!(parts <= c.total_ms, "{parts} > {}", c.total_ms);
            assert_eq!(c.output_chars, r.text.chars().count());
            inside += c.total_ms;
        }
    }
    assert!(inside <= t.total_ms, "{inside} > {}", t.total_ms);
}

#[test]
fn a_warm_up_pass_changes_no_summary() {
    for fx in &FIXTURES {
        let s = fx.load();
        let before = s
            .summarize(ARTICLE, &golden_options(), &mut |_| Flow::Continue)
            .unwrap();
        // Shorter than any input, one token, and longer than the model's usual window.
        for tokens in [64, 1, 600] {
            s.warm_up(tokens).unwrap();
        }
        let after = s
            .summarize(ARTICLE, &golden_options(), &mut |_| Flow::Continue)
            .unwrap();
        assert_eq!(
            serde_json::to_value(&after.passes).unwrap(),
            serde_json::to_value(&before.passes).unwrap(),
            "{}: a summary after warm-ups differs",
            fx.name
        );
        assert_eq!(after.text, before.text);
    }
}

/// Every token of the input reaches the encoder, in order, exactly once: a long sentence cut
/// inside a word is not re-tokenized (on its own, the piece after the cut can come out a token
/// longer than planned, which was then truncated away).
#[test]
fn chunks_hold_every_input_token_once() {
    let fx = &FIXTURES[0];
    let s = fx.load();
    let tokenizer = tokenizers::Tokenizer::from_bytes(fx.tokenizer).unwrap();
    // One long sentence of words that split into several tokens, then short ones.
    let text = "Municipalities reorganized transportation infrastructure and neighbourhoods \
        collaboratively, establishing comprehensive multigenerational recreational programmes \
        throughout uncharacteristically overcrowded districts without interruption. It rained. \
        The council met again.";
    let whole: Vec<u32> = tokenizer.encode(text, false).unwrap().get_ids().to_vec();
    let prefix = s.count_tokens("summarize: ").unwrap();
    for budget in [12, 13, 17, 24, 31] {
        let options = SummarizeOptions {
            max_input_tokens: Some(budget),
            max_new_tokens: Some(2),
            refine: Some(false),
            ..Default::default()
        };
        let summary = s
            .summarize(text, &options, &mut |_| Flow::Continue)
            .unwrap();
        let chunks = &summary.passes[0];
        assert!(chunks.len() > 2, "budget {budget}: {} chunks", chunks.len());
        let mut seen = Vec::new();
        for c in chunks {
            assert!(c.input_ids.len() <= budget, "budget {budget}");
            assert_eq!(c.input_ids.last(), Some(&1), "ends with </s>");
            seen.extend_from_slice(&c.input_ids[prefix..c.input_ids.len() - 1]);
        }
        assert_eq!(seen, whole, "budget {budget}");
    }
}
