//! The summarizer: model files in, summary out.
//!
//! normalize → plan chunks within the token budget (task prefix and end token included) →
//! generate per chunk → decode with special tokens skipped → merge, and when the merged summary
//! is itself longer than one chunk, summarize it again (bounded passes).

use std::ops::Range;

use candle_core::{Device, Tensor};
use tokenizers::Tokenizer;

use crate::error::{Error, Result};
use crate::generation::{generate_stepwise, EarlyStopping, Flow, GenerationConfig, StepDecoder};
use crate::metrics::{default_clock, profile, ChunkTimings, Clock, PassTimings, RunTimings, Span};
use crate::model::{ByteSource, DecoderCache, T5Config, WeightsReader, T5};
use crate::stepwise::{block_on, pause};
use crate::text::{normalize, plan_chunks, ChunkPlan, SummaryMerger};

/// Default input token budget per chunk (t5-small's training length).
pub const DEFAULT_MAX_INPUT_TOKENS: usize = 512;
/// Prefix used when config.json names none.
pub const DEFAULT_PREFIX: &str = "summarize: ";

/// The three files a model is made of, as bytes.
pub struct ModelFiles<'a> {
    /// `config.json`.
    pub config: &'a [u8],
    /// `tokenizer.json`.
    pub tokenizer: &'a [u8],
    /// Weights file contents (`&bytes` for bytes in memory; in the browser a JavaScript
    /// `Uint8Array`, read tensor by tensor).
    pub weights: &'a dyn ByteSource,
    /// Weights file name, used in messages (`model.safetensors`).
    pub weights_name: &'a str,
}

/// How a model is built from its files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadSettings {
    /// Linear layers converted to int8 rows with one scale each (`quantize: "int8"`), whatever
    /// the file stores; see [`crate::kernels::Int8Rows`].
    pub int8: bool,
}

/// Per-call settings; `None` fields take the model's defaults.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct SummarizeOptions {
    /// Input tokens per chunk, task prefix and end token included (default 512).
    pub max_input_tokens: Option<usize>,
    /// Task prefix (default: config.json's summarization prefix, else `"summarize: "`).
    pub prefix: Option<String>,
    /// Most new tokens per chunk summary.
    pub max_new_tokens: Option<usize>,
    /// Fewest new tokens per chunk summary.
    pub min_new_tokens: Option<usize>,
    /// transformers' `max_length` (counts the decoder start token); `maxNewTokens` wins.
    pub max_length: Option<usize>,
    /// transformers' `min_length` (counts the decoder start token); `minNewTokens` wins.
    pub min_length: Option<usize>,
    /// Beams (1: greedy search or sampling).
    pub num_beams: Option<usize>,
    /// Exponent of the length that divides beam scores.
    pub length_penalty: Option<f32>,
    /// When beam search stops: `true`, `false` or `"never"`.
    pub early_stopping: Option<EarlyStopping>,
    /// No n-gram of this size repeats (0: off).
    pub no_repeat_ngram_size: Option<usize>,
    /// Penalty for tokens already generated (1: off).
    pub repetition_penalty: Option<f32>,
    /// Sample instead of taking the most likely token.
    pub do_sample: Option<bool>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Sampling: keep the k most likely tokens (0: all).
    pub top_k: Option<usize>,
    /// Sampling: nucleus probability mass.
    pub top_p: Option<f32>,
    /// Sampling seed.
    pub seed: Option<u64>,
    /// Summarize the merged summary again while it exceeds one chunk (default true).
    pub refine: Option<bool>,
    /// Return a per-stage profile of the run in [`Summary::profile`] (a diagnostic; default false).
    pub profile: Option<bool>,
    /// Report the summary's text as it grows, in [`Event::Text`] (default false).
    pub stream: Option<bool>,
}

/// Progress reported while summarizing.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// Pass `pass` (0-based) was planned into `chunks` chunks.
    Planned { pass: usize, chunks: usize },
    /// Chunk `index` of `total` in pass `pass` starts generating.
    ChunkStarted {
        pass: usize,
        index: usize,
        total: usize,
    },
    /// A decoder step ran for the current chunk: `token` is the newest token of `hypothesis`, the
    /// current best output (with beam search it can differ from the previous one by more than
    /// one token).
    Token {
        pass: usize,
        index: usize,
        token: u32,
        hypothesis: &'a [u32],
    },
    /// Chunk `index` is summarized as `summary`; `delta` is what it appended to the pass's
    /// merged summary (the deltas of a pass concatenate to its merged summary).
    ChunkDone {
        pass: usize,
        index: usize,
        total: usize,
        summary: &'a str,
        delta: &'a str,
    },
    /// With `stream`: `delta` was appended to the text of pass `pass` so far, while generating
    /// chunk `index`. The deltas of a pass concatenate to its merged summary. Greedy search and
    /// sampling report text token by token (holding back a word until it is complete, and a
    /// chunk summary while it may still turn out a repeat of the one before, which the merge
    /// drops); beam search, whose best hypothesis may change at any step, when a chunk is done.
    Text {
        pass: usize,
        index: usize,
        delta: &'a str,
    },
}

/// The summary of one chunk.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkSummary {
    /// Encoder input ids (prefix, text and end token).
    pub input_ids: Vec<u32>,
    /// Generated ids, without the decoder start token.
    pub output_ids: Vec<u32>,
    /// Decoded summary of this chunk.
    pub text: String,
}

/// A finished summary with what produced it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The final summary.
    pub text: String,
    /// Chunk summaries of each pass; the last pass produced `text`.
    pub passes: Vec<Vec<ChunkSummary>>,
    /// How long each stage took (not serialized: it differs from run to run).
    #[serde(skip)]
    pub timings: RunTimings,
    /// Time per model and search stage, when the options asked for a profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Vec<profile::StageTotal>>,
}

/// A text as the model reads it: the ids of its tokens (no special tokens) and the byte range
/// of each.
struct EncodedText {
    ids: Vec<u32>,
    spans: Vec<Range<usize>>,
}

fn encode_text(tokenizer: &Tokenizer, text: &str) -> Result<EncodedText> {
    let enc = tokenizer
        .encode(text, false)
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
    Ok(EncodedText {
        ids: enc.get_ids().to_vec(),
        spans: enc.get_offsets().iter().map(|&(s, e)| s..e).collect(),
    })
}

/// A text planned into chunks, with the one encoding the chunks' token ranges index and the
/// task prefix's ids (tokenized once per pass, not per chunk).
pub struct PlannedText {
    /// The chunks.
    pub plan: ChunkPlan,
    ids: Vec<u32>,
    prefix_ids: Vec<u32>,
    /// Tokenizing the text, and planning, in milliseconds.
    tokenize_ms: f64,
    plan_ms: f64,
}

/// Runs one T5 decoding over a fixed encoder output.
struct T5Steps<'a> {
    model: &'a T5,
    cache: DecoderCache,
}

impl StepDecoder for T5Steps<'_> {
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
        self.model.step(&mut self.cache, tokens)
    }

    fn reorder(&mut self, indices: &[u32]) -> Result<()> {
        self.cache.reorder(indices)
    }
}

/// A [`Summarizer`] being loaded a tensor at a time, by a caller that fetches each tensor's bytes
/// itself between calls (see [`WeightsReader`]); config and tokenizer are checked first.
pub struct SummarizerLoad {
    config: T5Config,
    tokenizer: Tokenizer,
    weights: WeightsReader,
}

impl SummarizerLoad {
    /// Parses config and tokenizer, checks that they fit together, and reads the weights
    /// file's header from `files.weights` (which need hold no more than the header).
    pub fn begin(files: &ModelFiles<'_>, settings: &LoadSettings) -> Result<Self> {
        let config = T5Config::from_json(files.config)?;
        let mut tokenizer = Tokenizer::from_bytes(files.tokenizer).map_err(|e| {
            Error::model_file("tokenizer.json", format!("not a valid tokenizer ({e})"))
        })?;
        // A tokenizer.json may carry its own truncation and padding (the hub's often pad to a
        // fixed length): either would change the token counts the chunk plan relies on, and
        // truncation would drop input. The pipeline does both itself.
        tokenizer.with_truncation(None).map_err(|e| {
            Error::model_file(
                "tokenizer.json",
                format!("cannot turn truncation off ({e})"),
            )
        })?;
        tokenizer.with_padding(None);
        let vocab = tokenizer.get_vocab_size(true);
        if vocab > config.vocab_size {
            return Err(Error::model_file(
                "tokenizer.json",
                format!(
                    "the tokenizer has {vocab} tokens but the model only {} (they do not belong together)",
                    config.vocab_size
                ),
            ));
        }
        let weights = WeightsReader::new(
            files.weights_name,
            files.weights,
            &Device::Cpu,
            settings.int8,
        )?;
        Ok(SummarizerLoad {
            config,
            tokenizer,
            weights,
        })
    }

    /// The bytes of the weights file the next tensor is made of, or `None` when all are read.
    pub fn next_range(&self) -> Option<std::ops::Range<usize>> {
        self.weights.next_range()
    }

    /// Builds the next tensor from `source`, which holds the bytes of
    /// [`SummarizerLoad::next_range`] at their offsets in the weights file.
    pub fn read_next(&mut self, source: &dyn ByteSource) -> Result<()> {
        self.weights.read_next(source)
    }

    /// The summarizer, once every tensor has been read.
    pub fn finish(self) -> Result<Summarizer> {
        let device = Device::Cpu;
        let weights = self.weights.finish()?;
        let (model_bytes, weights_dtype) = (weights.loaded_bytes(), weights.compute_dtype());
        let model = T5::from_weights(weights, &self.config, &device)?;
        let tokenizer = self.tokenizer;
        let specials = special_tokens(&tokenizer)?;
        Ok(Summarizer {
            model,
            tokenizer,
            specials,
            clock: default_clock(),
            model_bytes,
            weights_dtype,
        })
    }
}

/// Generation defaults for summarizing with `cfg`: its `task_specific_params.summarization`
/// settings when present (lengths converted from transformers' `max_length` / `min_length`,
/// which count the start token), else greedy with at most 150 new tokens.
pub fn summarization_defaults(cfg: &T5Config) -> GenerationConfig {
    let p = cfg.summarization.clone().unwrap_or_default();
    let mut g = GenerationConfig::new(cfg.decoder_start_token_id, cfg.eos_token_ids.clone(), 150);
    if let Some(n) = p.max_length {
        g.max_new_tokens = n.saturating_sub(1).max(1);
    }
    if let Some(n) = p.min_length {
        g.min_new_tokens = n.saturating_sub(1);
    }
    if let Some(n) = p.num_beams {
        g.num_beams = n.max(1);
    }
    if let Some(v) = p.length_penalty {
        g.length_penalty = v;
    }
    if let Some(n) = p.no_repeat_ngram_size {
        g.no_repeat_ngram_size = n;
    }
    if let Some(e) = p.early_stopping {
        g.early_stopping = e;
    }
    g
}

/// The ids `tokenizer`'s post-processor puts before and after any input, found by where the
/// plain encoding of a probe text sits in its encoding with special tokens.
fn special_tokens(tokenizer: &Tokenizer) -> Result<(Vec<u32>, Vec<u32>)> {
    let encode = |specials| {
        tokenizer
            .encode("a b", specials)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| Error::model_file("tokenizer.json", e))
    };
    let (plain, with) = (encode(false)?, encode(true)?);
    (0..=with.len().saturating_sub(plain.len()))
        .find(|&at| with[at..].starts_with(&plain))
        .map(|at| (with[..at].to_vec(), with[at + plain.len()..].to_vec()))
        .ok_or_else(|| {
            Error::model_file(
                "tokenizer.json",
                "its post-processor changes the input's own tokens (only tokens added before and after are supported)",
            )
        })
}

/// A loaded model and tokenizer, ready to summarize.
pub struct Summarizer {
    model: T5,
    tokenizer: Tokenizer,
    /// Ids the tokenizer adds before and after any input (T5: none, and the end token).
    specials: (Vec<u32>, Vec<u32>),
    clock: Box<dyn Clock>,
    model_bytes: usize,
    weights_dtype: String,
}

impl Summarizer {
    /// Loads config, tokenizer and weights, checking that they fit together.
    pub fn load(files: &ModelFiles<'_>) -> Result<Self> {
        Self::load_with(files, &LoadSettings::default())
    }

    /// [`Summarizer::load`] with `settings`.
    pub fn load_with(files: &ModelFiles<'_>, settings: &LoadSettings) -> Result<Self> {
        let mut load = SummarizerLoad::begin(files, settings)?;
        while load.next_range().is_some() {
            load.read_next(files.weights)?;
        }
        load.finish()
    }

    /// Bytes of the model's tensors in memory.
    pub fn model_bytes(&self) -> usize {
        self.model_bytes
    }

    /// Precision of the weights file (`f32`, `f16`, `bf16`, `f32+q8_0`), followed by `→ int8`
    /// when linear layers were converted.
    pub fn weights_dtype(&self) -> &str {
        &self.weights_dtype
    }

    /// Replaces the clock stage timings are measured on.
    pub fn set_clock(&mut self, clock: Box<dyn Clock>) {
        self.clock = clock;
    }

    /// The clock stage timings are measured on.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The model's configuration.
    pub fn config(&self) -> &T5Config {
        self.model.config()
    }

    /// The task prefix `options` resolve to.
    pub fn prefix(&self, options: &SummarizeOptions) -> String {
        options.prefix.clone().unwrap_or_else(|| {
            self.config()
                .summarization
                .as_ref()
                .and_then(|s| s.prefix.clone())
                .unwrap_or_else(|| DEFAULT_PREFIX.to_string())
        })
    }

    /// Generation settings `options` resolve to: the model's summarization defaults (its
    /// `task_specific_params.summarization`, when config.json has them) with `options` on top.
    pub fn generation_config(&self, options: &SummarizeOptions) -> Result<GenerationConfig> {
        let o = options;
        let mut cfg = summarization_defaults(self.config());
        let from_length = |n: usize, name: &str| {
            n.checked_sub(1)
                .ok_or_else(|| Error::InvalidOption(format!("{name} must be at least 1")))
        };
        if let Some(n) = o.max_length {
            cfg.max_new_tokens = from_length(n, "maxLength")?;
        }
        if let Some(n) = o.min_length {
            cfg.min_new_tokens = from_length(n, "minLength")?;
        }
        if let Some(n) = o.max_new_tokens {
            cfg.max_new_tokens = n;
        }
        if let Some(n) = o.min_new_tokens {
            cfg.min_new_tokens = n;
        }
        if o.min_new_tokens.is_none() && o.min_length.is_none() {
            // A model's default minimum yields to a smaller maximum the caller asked for.
            cfg.min_new_tokens = cfg.min_new_tokens.min(cfg.max_new_tokens);
        }
        cfg.num_beams = o.num_beams.unwrap_or(cfg.num_beams);
        cfg.length_penalty = o.length_penalty.unwrap_or(cfg.length_penalty);
        cfg.early_stopping = o.early_stopping.unwrap_or(cfg.early_stopping);
        cfg.no_repeat_ngram_size = o.no_repeat_ngram_size.unwrap_or(cfg.no_repeat_ngram_size);
        cfg.repetition_penalty = o.repetition_penalty.unwrap_or(cfg.repetition_penalty);
        cfg.do_sample = o.do_sample.unwrap_or(cfg.do_sample);
        if cfg.do_sample && o.num_beams.is_none() {
            // Sampling asked for without a beam count: the model's default beams yield.
            cfg.num_beams = 1;
        }
        cfg.temperature = o.temperature.unwrap_or(cfg.temperature);
        cfg.top_k = o.top_k.unwrap_or(cfg.top_k);
        cfg.top_p = o.top_p.unwrap_or(cfg.top_p);
        cfg.seed = o.seed.unwrap_or(cfg.seed);
        cfg.validate()?;
        Ok(cfg)
    }

    fn max_input_tokens(&self, options: &SummarizeOptions) -> Result<usize> {
        let n = options.max_input_tokens.unwrap_or(DEFAULT_MAX_INPUT_TOKENS);
        crate::generation::limits::check("maxInputTokens", n as f64)?;
        Ok(n)
    }

    /// Token count of `text` without special tokens.
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(encode_text(&self.tokenizer, text)?.ids.len())
    }

    /// Tokenizes normalized `text` once and splits it into chunks for `options`.
    pub fn plan(&self, text: &str, options: &SummarizeOptions) -> Result<PlannedText> {
        let budget = self.max_input_tokens(options)?;
        let prefix_ids = encode_text(&self.tokenizer, &self.prefix(options))?.ids;
        let overhead = prefix_ids.len() + self.specials.0.len() + self.specials.1.len();
        if overhead >= budget {
            return Err(Error::InvalidOption(format!(
                "maxInputTokens {budget} leaves no room for text: the prefix and end token take {overhead}"
            )));
        }
        let clock = self.clock.as_ref();
        let (encoded, tokenize) = Span::time(clock, "t5:tokenize", || {
            profile::stage("text.tokenize", || encode_text(&self.tokenizer, text))
        });
        let encoded = encoded?;
        let (plan, span) = Span::time(clock, "t5:chunk_plan", || {
            profile::stage("text.chunk_plan", || {
                plan_chunks(text, &encoded.spans, budget - overhead)
            })
        });
        Ok(PlannedText {
            plan: plan?,
            ids: encoded.ids,
            prefix_ids,
            tokenize_ms: tokenize.ms,
            plan_ms: span.ms,
        })
    }

    /// Encoder ids for chunk `index` of `planned`: the special tokens the tokenizer puts before
    /// any input, the prefix, the chunk's tokens as the whole text's encoding has them, and the
    /// special tokens after (T5: `</s>`). Every token of the text is in one chunk's ids.
    pub fn chunk_ids(&self, planned: &PlannedText, index: usize) -> Vec<u32> {
        let tokens = &planned.ids[planned.plan.chunks[index].tokens.clone()];
        let (before, after) = &self.specials;
        [before.as_slice(), &planned.prefix_ids, tokens, after].concat()
    }

    /// Generates from encoder ids as given (no prefix, no chunking).
    pub fn generate(
        &self,
        input_ids: &[u32],
        cfg: &GenerationConfig,
        on_step: &mut dyn FnMut(&[u32]) -> Flow,
    ) -> Result<Vec<u32>> {
        let mut timings = ChunkTimings::default();
        block_on(self.generate_timed(input_ids, cfg, &mut timings, on_step))
    }

    /// [`Self::generate`], stepwise, filling the encoder and per-step times of `timings`.
    async fn generate_timed(
        &self,
        input_ids: &[u32],
        cfg: &GenerationConfig,
        timings: &mut ChunkTimings,
        on_step: &mut dyn FnMut(&[u32]) -> Flow,
    ) -> Result<Vec<u32>> {
        if input_ids.is_empty() {
            return Err(Error::InvalidOption("input ids are empty".into()));
        }
        let vocab = self.config().vocab_size as u32;
        if let Some(bad) = input_ids.iter().find(|&&id| id >= vocab) {
            return Err(Error::InvalidOption(format!(
                "input id {bad} is outside the vocabulary (size {vocab})"
            )));
        }
        let clock = self.clock.as_ref();
        let (cache, span) = Span::time(clock, "t5:encode", || -> Result<DecoderCache> {
            let ids = Tensor::from_slice(input_ids, (1, input_ids.len()), self.model.device())?;
            let encoded = self.model.encode(&ids)?;
            self.model.start_decoder(&encoded, 1)
        });
        timings.encode_ms = span.ms;
        let mut steps = T5Steps {
            model: &self.model,
            cache: cache?,
        };
        let decode_start = clock.now_ms();
        let mut last = decode_start;
        let start = timings.start_ms;
        let out = generate_stepwise(&mut steps, cfg, &mut |hypothesis| {
            let now = clock.now_ms();
            if timings.token_ms.is_empty() {
                timings.first_token_ms = now - start;
                clock.measure("t5:first_token", start, now);
            }
            timings.token_ms.push(now - last);
            last = now;
            profile::stage("event", || on_step(hypothesis))
        })
        .await;
        clock.measure("t5:decode", decode_start, last);
        out
    }

    /// Runs the model once on a short made-up input (`tokens` ids: an encode and two decoder
    /// steps, one thread) and throws the result away: nothing is logged or timed. Browsers
    /// start wasm on a baseline compiler and optimize a function only once it has run a while;
    /// done right after loading, this sets that going for every kernel a summary runs, on the
    /// calling thread alone so the optimizing compiler has the other cores, and a first summary
    /// asked for a moment later meets optimized code (one thread in Chromium: 340 → 296 ms for
    /// the first summary after a load and a one-second pause).
    pub fn warm_up(&self, tokens: usize) -> Result<()> {
        let cfg = self.config();
        let vocab = cfg.vocab_size.max(4) as u32;
        // Ids past the special ones, then the end token.
        let mut ids: Vec<u32> = (0..tokens.max(2) as u32 - 1)
            .map(|i| 3 + i % (vocab - 3))
            .collect();
        ids.push(
            cfg.eos_token_ids
                .first()
                .copied()
                .unwrap_or(1)
                .min(vocab - 1),
        );
        let _one_thread = crate::kernels::OneThread::new();
        let input = Tensor::from_slice(&ids, (1, ids.len()), self.model.device())?;
        let encoded = self.model.encode(&input)?;
        let mut cache = self.model.start_decoder(&encoded, 1)?;
        let logits = self.model.step(&mut cache, &[cfg.decoder_start_token_id])?;
        let next = crate::generation::logits::argmax(&logits[0]);
        self.model.step(&mut cache, &[next])?;
        Ok(())
    }

    /// Decodes ids to text with special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// Summarizes `text`, reporting progress to `on_event`; returning [`Flow::Stop`] cancels.
    pub fn summarize(
        &self,
        text: &str,
        options: &SummarizeOptions,
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Summary> {
        block_on(self.summarize_stepwise(text, options, on_event))
    }

    /// [`Self::summarize`], pausing after every decoder step and between chunks (see
    /// [`crate::stepwise`]); dropping the future cancels the run.
    pub async fn summarize_stepwise(
        &self,
        text: &str,
        options: &SummarizeOptions,
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Summary> {
        if options.profile != Some(true) {
            return self.summarize_unprofiled(text, options, on_event).await;
        }
        profile::start();
        let out = self.summarize_unprofiled(text, options, on_event).await;
        let stages = profile::finish();
        out.map(|s| Summary {
            profile: Some(stages),
            ..s
        })
    }

    async fn summarize_unprofiled(
        &self,
        text: &str,
        options: &SummarizeOptions,
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Summary> {
        let clock = self.clock.as_ref();
        let mut timings = RunTimings {
            start_ms: clock.now_ms(),
            input_chars: text.chars().count(),
            ..Default::default()
        };
        let (mut current, span) = Span::time(clock, "t5:normalize", || {
            profile::stage("text.normalize", || normalize(text))
        });
        timings.normalize_ms = span.ms;
        if current.is_empty() {
            return Err(Error::EmptyInput);
        }
        let gen = self.generation_config(options)?;
        let max_passes = if options.refine.unwrap_or(true) { 2 } else { 1 };
        let stream = options.stream == Some(true);
        let mut passes = Vec::new();
        loop {
            let pass = passes.len();
            let planned = self.plan(&current, options)?;
            let plan = &planned.plan;
            let mut pass_timings = PassTimings {
                tokenize_ms: planned.tokenize_ms,
                plan_ms: planned.plan_ms,
                text_chars: current.chars().count(),
                ..Default::default()
            };
            let total = plan.chunks.len();
            if on_event(Event::Planned {
                pass,
                chunks: total,
            }) == Flow::Stop
            {
                return Err(Error::Cancelled);
            }
            let mut results = Vec::with_capacity(total);
            let mut merger = SummaryMerger::default();
            for (index, chunk) in plan.texts(&current).enumerate() {
                if on_event(Event::ChunkStarted { pass, index, total }) == Flow::Stop {
                    return Err(Error::Cancelled);
                }
                let mut t = ChunkTimings {
                    start_ms: clock.now_ms(),
                    input_chars: chunk.chars().count(),
                    ..Default::default()
                };
                let input_ids = self.chunk_ids(&planned, index);
                // What this chunk has shown of its summary so far (see Event::Text).
                let mut shown = String::new();
                let stream_tokens = stream && gen.num_beams == 1;
                let output_ids = self
                    .generate_timed(&input_ids, &gen, &mut t, &mut |hypothesis| {
                        let flow = on_event(Event::Token {
                            pass,
                            index,
                            token: hypothesis.last().copied().unwrap_or_default(),
                            hypothesis,
                        });
                        if flow == Flow::Stop || !stream_tokens {
                            return flow;
                        }
                        let partial = self.decode(hypothesis).unwrap_or_default();
                        let sure = merger.provisional(&partial);
                        match sure.strip_prefix(shown.as_str()) {
                            Some(delta) if !delta.is_empty() => {
                                let flow = on_event(Event::Text { pass, index, delta });
                                shown = sure;
                                flow
                            }
                            _ => Flow::Continue,
                        }
                    })
                    .await?;
                let (text, span) = Span::time(clock, "t5:detokenize", || self.decode(&output_ids));
                t.detokenize_ms = span.ms;
                let text = text?;
                t.output_chars = text.chars().count();
                let (delta, span) =
                    Span::time(clock, "t5:merge", || merger.push(&text).to_string());
                pass_timings.merge_ms += span.ms;
                if stream {
                    // What was shown is where the chunk's delta starts (SummaryMerger::provisional).
                    let rest = delta.strip_prefix(shown.as_str()).unwrap_or_else(|| {
                        debug_assert!(false, "{shown:?} was shown, but the chunk added {delta:?}");
                        ""
                    });
                    if !rest.is_empty()
                        && on_event(Event::Text {
                            pass,
                            index,
                            delta: rest,
                        }) == Flow::Stop
                    {
                        return Err(Error::Cancelled);
                    }
                }
                t.total_ms = clock.now_ms() - t.start_ms;
                clock.measure("t5:chunk", t.start_ms, t.start_ms + t.total_ms);
                pass_timings.chunks.push(t);
                if on_event(Event::ChunkDone {
                    pass,
                    index,
                    total,
                    summary: &text,
                    delta: &delta,
                }) == Flow::Stop
                {
                    return Err(Error::Cancelled);
                }
                results.push(ChunkSummary {
                    input_ids,
                    output_ids,
                    text,
                });
                pause().await;
            }
            let merged = merger.finish();
            passes.push(results);
            timings.passes.push(pass_timings);
            let again = passes.len() < max_passes
                && total > 1
                && !merged.is_empty()
                && self.count_tokens(&merged)? > plan.text_budget;
            if !again {
                timings.total_ms = clock.now_ms() - timings.start_ms;
                clock.measure(
                    "t5:summarize",
                    timings.start_ms,
                    timings.start_ms + timings.total_ms,
                );
                return Ok(Summary {
                    text: merged,
                    passes,
                    timings,
                    profile: None,
                });
            }
            current = merged;
        }
    }
}
