// The module Web Worker that owns the wasm summarizer: loads model files, runs summaries, and
// reports progress. All heavy work happens here so the page never freezes.
//
// Protocol (every message carries the request `id`):
//   page → worker  { type: 'load', model }            model as resolved by models.js
//                  { type: 'summarize', text, options }
//   worker → page  { type: 'progress', phase: 'download' | 'load', file?, loaded?, total? }
//                  { type: 'event', event }           events from WasmSummarizer.summarize
//                  { type: 'loaded', info, files }    { type: 'result', summary }
//                  { type: 'error', message, kind, fatal }   fatal: the wasm instance is unusable
import init, { WasmSummarizer, simdEnabled } from './pkg/t5_summarizer.js';
import { evict, fetchFile } from './model-files.js';

const ready = init();
let summarizer = null;

function post(id, message) {
  self.postMessage({ id, ...message });
}

function describe(err) {
  // A trap (panic, out of memory) poisons the wasm instance: the page must restart the worker.
  const fatal = err instanceof WebAssembly.RuntimeError;
  const message = fatal
    ? `The summarizer crashed (${err.message}). It has been restarted; try again.`
    : String(err?.message ?? err);
  return { message, kind: fatal ? 'crash' : err?.kind ?? 'internal', fatal };
}

async function load(id, model) {
  if (summarizer) {
    summarizer.free();
    summarizer = null;
  }
  const names = ['config', 'tokenizer', 'weights'];
  const results = await Promise.all(
    names.map((key) =>
      fetchFile(model.urls[key], model.files[key], {
        onProgress: (p) => post(id, { type: 'progress', phase: 'download', ...p }),
      }),
    ),
  );
  post(id, { type: 'progress', phase: 'load' });
  const [config, tokenizer, weights] = results.map((r) => r.bytes);
  try {
    summarizer = new WasmSummarizer(config, tokenizer, weights, model.files.weights);
  } catch (err) {
    // A cached copy that does not parse would fail forever: drop it so a retry downloads anew.
    await evict(names.map((k) => model.urls[k]));
    throw err;
  }
  const files = names.map((key, i) => ({
    file: model.files[key],
    bytes: results[i].bytes.length,
    cached: results[i].cached,
    cacheError: results[i].cacheError,
  }));
  post(id, { type: 'loaded', info: summarizer.info(), files, simd: simdEnabled() });
}

function summarize(id, text, options) {
  if (!summarizer) throw Object.assign(new Error('No model is loaded.'), { kind: 'no-model' });
  const summary = summarizer.summarize(text, options ?? undefined, (event) => {
    post(id, { type: 'event', event });
  });
  post(id, { type: 'result', summary });
}

self.onmessage = async ({ data }) => {
  const { id, type } = data;
  try {
    await ready;
    if (type === 'load') await load(id, data.model);
    else if (type === 'summarize') summarize(id, data.text, data.options);
    else throw new Error(`unknown request ${type}`);
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) summarizer = null;
    post(id, { type: 'error', ...describe(err) });
  }
};
