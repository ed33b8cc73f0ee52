// The in-page half of tools/bench/peer-bench.mjs: one system measured through its public API in
// the page it is loaded into (a fresh browser per call). Both halves time the same things the
// same way, from the page, with performance.now():
//
//   load      create the summarizer / tokenizer + model from the local server (fresh profile: no cache)
//   greedy    one summarize of the ~512-token input, greedy, exactly `tokens` new tokens:
//             first token (from the call), each later token, the whole call
//   beam      one summarize with t5-small's summarization settings (4 beams, length penalty 2,
//             no repeated trigrams, 30–200 tokens, early stopping)
//   profile   (ours) the greedy summarize again with `profile: true`: ms per stage
//
// A short warm-up summarize runs first (compilation, first-use allocations), as an app would have
// done by its second request (`warmups`: that many, as by the app's request warmups + 1).

const now = () => performance.now();

/** Tells the bench a phase ended (it samples the renderers' memory then); a no-op elsewhere. */
const mark = async (phase) => globalThis.benchMark?.(phase);

/** Figures of one timed generation from its token timestamps (page clock). */
function figures(t0, tokenTimes, t1, ids) {
  const n = tokenTimes.length;
  const firstTokenMs = tokenTimes[0] - t0;
  const decodeMsPerToken = n > 1 ? (tokenTimes[n - 1] - tokenTimes[0]) / (n - 1) : null;
  return {
    totalMs: t1 - t0,
    firstTokenMs,
    decodeMsPerToken,
    // The input's cost: the first token less one ordinary step (what a longer input adds).
    encodeMs: decodeMsPerToken === null ? null : firstTokenMs - decodeMsPerToken,
    steps: n,
    outputIds: ids,
  };
}

/** Ours: the app's JS API (www/summarizer.js), as a web app would call it. */
export async function runOurs({ text, file, threads, relaxedSimd, quantize, tokens, beam, warmups = 1, pauseMs = 0 }) {
  const { Summarizer } = await import('/summarizer.js');
  // The worker's own memory figures (wasm linear memory, Rust heap), from its metric records.
  const wasm = { linearMemoryBytes: 0, rustPeakBytes: 0, modelBytes: 0 };
  let loading = null; // where the load's time went: fetch, hash, parse (the model_loading record)
  const inference = new Map(); // runId → the run's inference record (the worker's own timings)
  const onMetrics = (records) => {
    for (const r of records) {
      if (r.type === 'inference') inference.set(r.runId, r);
      if (r.type === 'model_loading') {
        loading = { loadSeconds: r.loadSeconds, parseSeconds: r.parseSeconds, hashSeconds: r.hashSeconds, fetchSeconds: Math.max(...r.files.map((f) => f.fetchSeconds)) };
      }
      if (!r.memory) continue;
      wasm.linearMemoryBytes = Math.max(wasm.linearMemoryBytes, r.memory.linearMemoryBytes ?? 0);
      wasm.rustPeakBytes = Math.max(wasm.rustPeakBytes, r.memory.peakBytes ?? 0);
      wasm.modelBytes = Math.max(wasm.modelBytes, r.memory.modelBytes ?? 0);
    }
  };
  await mark('start');
  let downloaded = null; // the mark when every file is in (before the model is built from them)
  let t0 = now();
  const s = await Summarizer.create({
    monitor(m) {
      m.addEventListener('modelprogress', (e) => {
        if (e.phase === 'load') downloaded ??= mark('downloaded');
      });
    },
    // The model's whole summary, unshaped (the Summarizer API's defaults cut it to key points).
    type: 'tldr',
    length: 'long',
    model: { baseUrl: '/bench-model/', files: { weights: file } },
    threads,
    relaxedSimd,
    quantize,
    onMetrics,
  });
  const loadMs = now() - t0;
  await downloaded;
  await mark('load');
  const runtime = s.runtime;
  const run = async (options) => {
    const times = [];
    const t = now();
    const out = await s.summarizeDetailed(text, {
      maxInputTokens: 512,
      refine: false,
      ...options,
      onProgress(e) {
        if (e.type === 'token') times.push(now());
      },
    });
    const t1 = now();
    const chunks = out.passes[0];
    if (chunks.length !== 1) throw new Error(`the input was split into ${chunks.length} chunks; the bench wants one`);
    return { ...figures(t, times, t1, chunks[0].outputIds), inputIds: chunks[0].inputIds, profile: out.profile ?? null, runId: out.runId };
  };
  const greedy = { numBeams: 1, noRepeatNgramSize: 0, maxNewTokens: tokens, minNewTokens: tokens };
  let warmup;
  for (let i = 0; i < warmups; i++) warmup = await run({ ...greedy, maxNewTokens: 4, minNewTokens: 4 });
  if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
  const g = await run(greedy);
  await mark('greedy');
  const b = beam ? await run({}) : null; // the model's own summarization defaults
  if (beam) await mark('beam');
  // Where the greedy run's time goes, stage by stage (an extra run: profiling reads the clock
  // around every stage, so it is kept out of the timed ones).
  const profiled = await run({ ...greedy, profile: true });
  // The greedy run as the worker timed it, from its chunk's start (the page's first token less
  // this is what the API adds: messages to and from the worker, the call into wasm).
  // Records reach onMetrics after their run's result: wait for them a little if need be.
  for (let i = 0; i < 40 && !inference.has(g.runId); i++) await new Promise((r) => setTimeout(r, 50));
  const own = inference.get(g.runId);
  g.worker = own ? { firstTokenMs: own.timeToFirstTokenSeconds * 1000, encoderMs: own.encoderSeconds * 1000 } : null;
  s.destroy();
  return {
    loadMs, runtime, warmupMs: warmup?.totalMs ?? null, greedy: g, beam: b, inputTokens: g.inputIds.length, inputIds: g.inputIds, wasm, loading,
    profile: { totalMs: profiled.totalMs, stages: profiled.profile },
  };
}

/** transformers.js: AutoTokenizer + AutoModelForSeq2SeqLM from a local model path, onnxruntime-web on wasm. */
export async function runPeer({ text, dtype, threads, tokens, beam, prefix, warmups = 1, pauseMs = 0 }) {
  await mark('start');
  const t0 = now();
  const { env, AutoTokenizer, AutoModelForSeq2SeqLM } = await import('/peer-js/transformers.js');
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = '/peer-model/';
  env.backends.onnx.wasm.wasmPaths = '/peer-ort/';
  env.backends.onnx.wasm.numThreads = threads;
  const tokenizer = await AutoTokenizer.from_pretrained('model');
  const model = await AutoModelForSeq2SeqLM.from_pretrained('model', { dtype, device: 'wasm' });
  const loadMs = now() - t0;
  await mark('load');
  const run = async (options) => {
    const times = [];
    let encoderDone = null;
    const streamer = {
      put() {
        // The first call carries the decoder start ids, right after the encoder ran.
        if (encoderDone === null) encoderDone = now();
        else times.push(now());
      },
      end() {},
    };
    const t = now();
    const inputs = await tokenizer(prefix + text, { truncation: true, max_length: 512 });
    const tg = now();
    const out = await model.generate({ ...inputs, do_sample: false, ...options, streamer });
    const ids = Array.from(out.tolist()[0], Number).slice(1);
    tokenizer.decode(ids, { skip_special_tokens: true });
    const t1 = now();
    return {
      ...figures(t, times, t1, ids),
      encoderOnlyMs: encoderDone - tg,
      inputIds: Array.from(inputs.input_ids.tolist()[0], Number),
    };
  };
  const greedy = { num_beams: 1, no_repeat_ngram_size: 0, max_new_tokens: tokens, min_new_tokens: tokens };
  let warmup;
  for (let i = 0; i < warmups; i++) warmup = await run({ ...greedy, max_new_tokens: 4, min_new_tokens: 4 });
  if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
  const g = await run(greedy);
  await mark('greedy');
  // t5-small's task_specific_params.summarization, passed explicitly (transformers.js does not
  // read task_specific_params).
  const b = beam
    ? await run({ num_beams: 4, length_penalty: 2.0, no_repeat_ngram_size: 3, min_length: 30, max_length: 200, early_stopping: true })
    : null;
  if (beam) await mark('beam');
  await model.dispose();
  return { loadMs, runtime: { threads, dtype }, warmupMs: warmup?.totalMs ?? null, greedy: g, beam: b, inputTokens: g.inputIds.length, inputIds: g.inputIds };
}
