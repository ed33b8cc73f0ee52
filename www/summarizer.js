// The JS API: the Writing Assistance APIs' Summarizer (the browser's built-in summarizer
// interface), on a T5 model running in a Web Worker, with this project's extensions.
//
//   import { Summarizer } from './summarizer.js';
//   const s = await Summarizer.create({ type: 'tldr', length: 'medium', monitor(m) {
//     m.addEventListener('downloadprogress', (e) => console.log(e.loaded)) } });
//   console.log(await s.summarize(longText));
//
// Requests run one at a time in the worker, a decoder step at a time: an aborted `signal`
// rejects its call at once and stops it within one step, and the other calls go on.
// `install()` in ./summarizer-global.js makes it the global `Summarizer`.
import { resolveModel } from './models.js';
import { allCached } from './model-files.js';
import { lengthBudget, shapeSummary, ShapedStream } from './summary-shape.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);
const PKG_URL = new URL('./pkg/t5_summarizer.js', import.meta.url);

/**
 * The performance logger of this scope (page or worker), the seed's `get_performance_logger()`:
 * loads the wasm module here if needed. Options (first call only): `database`, `retention`,
 * `sessionId`, `thresholds`. See the `PerformanceLogger` declarations in pkg/t5_summarizer.d.ts.
 */
export async function getPerformanceLogger(options) {
  const pkg = await import(PKG_URL.href);
  await pkg.default();
  return pkg.get_performance_logger(options);
}

// ---- The Writing Assistance APIs' Summarizer, as the specification has it -------------------

const ENUMS = {
  type: ['tldr', 'teaser', 'key-points', 'headline'],
  format: ['plain-text', 'markdown'],
  length: ['short', 'medium', 'long'],
  preference: ['auto', 'speed', 'capability'],
};
const ENUM_TYPES = { type: 'SummarizerType', format: 'SummarizerFormat', length: 'SummarizerLength', preference: 'PerformancePreference' };
const ENUM_DEFAULTS = { type: 'key-points', format: 'markdown', length: 'short', preference: 'auto' };

/** The languages the models summarize, read and write (T5's summarization is English). */
const LANGUAGES = ['en'];

/**
 * The generation settings a call may carry besides the specification's options (this
 * project's extension); tests/pipeline.rs checks the list against the Rust options.
 */
export const GENERATION_OPTIONS = [
  'maxInputTokens', 'prefix', 'maxNewTokens', 'minNewTokens', 'maxLength', 'minLength', 'numBeams',
  'lengthPenalty', 'earlyStopping', 'noRepeatNgramSize', 'repetitionPenalty', 'doSample',
  'temperature', 'topK', 'topP', 'seed', 'refine', 'profile',
];

/** A WebIDL dictionary argument: undefined and null are an empty one, anything else but an object is refused. */
function dictionary(value, what) {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' && typeof value !== 'function') throw new TypeError(`${what}: the options must be an object`);
  return value;
}

/** A language tag, validated and canonicalized as ECMA-402 does (RangeError when malformed). */
function canonicalTag(tag, key) {
  try {
    return Intl.getCanonicalLocales(String(tag))[0];
  } catch {
    throw new RangeError(`${key}: ${JSON.stringify(String(tag))} is not a valid language tag`);
  }
}

function tagList(value, key) {
  if (value === undefined) return [];
  if (value === null || typeof value !== 'object' || typeof value[Symbol.iterator] !== 'function') {
    throw new TypeError(`${key} must be a sequence of language tags`);
  }
  const tags = [];
  for (const tag of value) {
    const c = canonicalTag(tag, key);
    if (!tags.includes(c)) tags.push(c);
  }
  return tags;
}

/**
 * The specification's "validate and canonicalize summarizer options": enum values checked
 * (TypeError), language tags canonicalized and deduplicated (RangeError when malformed).
 */
function coreOptions(options, what) {
  const o = dictionary(options, what);
  const core = {};
  for (const key of Object.keys(ENUMS)) {
    const v = o[key];
    core[key] = v === undefined ? ENUM_DEFAULTS[key] : String(v);
    if (!ENUMS[key].includes(core[key])) {
      throw new TypeError(`${what}: '${core[key]}' is not a valid enum value of type ${ENUM_TYPES[key]}`);
    }
  }
  core.expectedInputLanguages = tagList(o.expectedInputLanguages, 'expectedInputLanguages');
  core.expectedContextLanguages = tagList(o.expectedContextLanguages, 'expectedContextLanguages');
  core.outputLanguage = o.outputLanguage === undefined ? null : canonicalTag(o.outputLanguage, 'outputLanguage');
  return core;
}

/** The supported tag `tag` best fits (dropping subtags from the end, ECMA-402's lookup), or null. */
function bestFit(tag) {
  for (let t = tag; t; t = t.includes('-') ? t.slice(0, t.lastIndexOf('-')) : '') {
    const hit = LANGUAGES.find((l) => l.toLowerCase() === t.toLowerCase());
    if (hit) return hit;
  }
  return null;
}

/**
 * Whether the model can take the languages of `core`: replaces each tag by its best fit
 * (as availability() does) and says false when one has none.
 */
function fitLanguages(core) {
  const fit = (tags) => [...new Set(tags.map(bestFit))];
  const input = fit(core.expectedInputLanguages);
  const context = fit(core.expectedContextLanguages);
  const output = core.outputLanguage === null ? null : bestFit(core.outputLanguage);
  if (input.includes(null) || context.includes(null) || (core.outputLanguage !== null && output === null)) return false;
  core.expectedInputLanguages = input;
  core.expectedContextLanguages = context;
  core.outputLanguage = output;
  return true;
}

/** A module that uses a SIMD128 instruction: it validates where the browser runs WebAssembly SIMD. */
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00,
  0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, ...new Array(16).fill(0), 0x0b,
]);

/** Why this browser cannot run the summarizer at all, or null. */
function platformGap() {
  if (typeof WebAssembly !== 'object') return 'this browser has no WebAssembly';
  if (typeof Worker !== 'function') return 'this browser has no Web Workers here';
  try {
    if (!WebAssembly.validate(SIMD_PROBE)) return 'this browser has no WebAssembly SIMD';
  } catch {
    return 'this browser has no WebAssembly SIMD';
  }
  return null;
}

/** Extension options every create() and availability() starts from (`install({ defaults })`). */
let installDefaults = {};

/** Base URLs of the models this page is downloading now (for `availability()`'s "downloading"). */
const downloading = new Map();

/** The specification's `CreateMonitor`: an EventTarget with an `ondownloadprogress` handler. */
export class CreateMonitor extends EventTarget {
  #handler = null;

  get ondownloadprogress() {
    return this.#handler;
  }

  set ondownloadprogress(fn) {
    if (this.#handler) this.removeEventListener('downloadprogress', this.#handler);
    this.#handler = typeof fn === 'function' ? fn : null;
    if (this.#handler) this.addEventListener('downloadprogress', this.#handler);
  }
}

/**
 * This project's extension to the monitor: a `modelprogress` event with byte-level detail,
 * dispatched on the same monitor beside the specification's `downloadprogress`.
 */
export class ModelProgressEvent extends Event {
  constructor(type, init) {
    super(type);
    /** Fraction of all model bytes received, 0..1 (1 while the model is parsed). */
    this.loaded = init.loaded;
    /** 'download' while bytes arrive, 'load' while the model is parsed. */
    this.phase = init.phase;
    /** The file the latest bytes belong to. */
    this.file = init.file ?? null;
    /** Bytes received over all files, and their total when known (else null). */
    this.bytesLoaded = init.bytesLoaded ?? 0;
    this.bytesTotal = init.bytesTotal ?? null;
    /** Each file heard of so far, in the order they started: [{ file, loaded, total }] (total null when unknown). */
    this.files = init.files ?? [];
  }
}

/** The DOMException name for each kind of failure this project reports. */
const ERROR_NAMES = {
  download: 'NetworkError',
  'too-large': 'QuotaExceededError',
  'out-of-memory': 'QuotaExceededError',
  integrity: 'OperationError',
  'model-file': 'OperationError',
  tokenizer: 'OperationError',
  'invalid-option': 'NotSupportedError',
  unsupported: 'NotSupportedError',
  language: 'NotSupportedError',
  compute: 'OperationError',
  'no-model': 'InvalidStateError',
  cancelled: 'AbortError',
};

/** A DOMException with the specification's name for `kind`, carrying `kind` (and the rest of `extra`). */
function domError(message, kind, extra = {}) {
  return Object.assign(new DOMException(message, ERROR_NAMES[kind] ?? 'UnknownError'), { kind, ...extra });
}

function toError({ message, kind, fatal }) {
  return domError(message, kind, { fatal });
}

function abortReason(signal) {
  return signal?.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

/** One signal aborted when any of `signals` is (AbortSignal.any where the browser has it). */
function anySignal(signals) {
  const list = signals.filter(Boolean);
  if (AbortSignal.any) return AbortSignal.any(list);
  const c = new AbortController();
  for (const s of list) {
    if (s.aborted) {
      c.abort(s.reason);
      break;
    }
    s.addEventListener('abort', () => c.abort(s.reason), { once: true });
  }
  return c.signal;
}

function checkSignal(signal, what) {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(`${what}: signal must be an AbortSignal`);
  return signal;
}

/** The extension settings among `options`: the generation options this project adds. */
function generationSettings(options) {
  return Object.fromEntries(GENERATION_OPTIONS.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
}

/**
 * A summarizer: the Writing Assistance APIs' `Summarizer` interface, on a T5 model running in a
 * Web Worker (see the README's JS API section for the options' effect and every extension).
 */
export class Summarizer {
  #model;
  #core;
  #sharedContext;
  #defaults;
  #destroyer = new AbortController();
  #worker = null;
  #nextId = 1;
  #pending = new Map();
  #loading = null;
  #ready = false;
  #monitor;
  #metrics;
  #onMetrics;
  #threads = true;
  #relaxedSimd = true;
  #quantize = null;
  #download = {};
  /** Model facts and defaults reported by the worker once loaded. */
  info = null;
  /** Per-file download facts of the last load: { file, bytes, cached, cacheError }. */
  files = [];
  /**
   * How the files of the last load were checked: { source: 'catalog' | 'hub' | 'manifest' | null,
   * files: { [name]: 'SHA-256' | 'git blob SHA-1' | null }, note } (note: what was not checked, and why).
   */
  integrity = null;
  /** Whether the wasm build uses SIMD128. */
  simd = false;
  /**
   * Which wasm build runs: { build: 'threads' | 'single', threads, simd: 'relaxed' | 'simd128',
   * fallback, weightsRead } (fallback: why the threaded build was not used, or null;
   * weightsRead: how the load read the weights file: 'stream' = a tensor at a time by a BYOB
   * stream into one reused buffer, 'file-reader' = FileReaderSync where Blob streams have no
   * BYOB readers, 'bytes' = from memory where there is no Cache Storage).
   */
  runtime = null;
  /** Model identity metric records carry: { id, url, revision, dtype, sha256 }. */
  identity = null;
  /** Where the worker keeps metric records: { persistent, reason, database, ... } or null. */
  storage = null;

  /**
   * "unavailable" (no WebAssembly SIMD or workers, or a language other than English asked
   * for), "downloading" (this page is downloading the model), "available" (its files are
   * cached, or local files) or "downloadable". Extension: `model`, as for create().
   */
  static async availability(options = undefined) {
    const o = { ...installDefaults, ...dictionary(options, 'Summarizer.availability') };
    const core = coreOptions(o, 'Summarizer.availability');
    if (platformGap() || !fitLanguages(core)) return 'unavailable';
    const m = resolveModel(o.model);
    if (m.blobs) return 'available'; // local files: nothing to download
    if (await allCached(Object.values(m.urls))) return 'available';
    return downloading.has(m.baseUrl) ? 'downloading' : 'downloadable';
  }

  /**
   * Loads a model: the specification's options (`type`, `format`, `length`, `preference`,
   * `sharedContext`, `expectedInputLanguages`, `expectedContextLanguages`, `outputLanguage`,
   * `monitor`, `signal`) and this project's extensions: `model` (catalog id, base URL,
   * { baseUrl, files }, or local files { blobs: { config, tokenizer, weights, manifest? } }),
   * `metrics` (false to switch performance logging off, or { sessionId, thresholds, database }),
   * `onMetrics(records, storage)` (called with every batch of metric records the worker logs),
   * `threads` (false: always the single-thread build; by default the threaded build runs when
   * the page is cross-origin isolated), `relaxedSimd` (false: plain SIMD128 even where the
   * browser has relaxed SIMD), `stallSeconds` (a download that sends nothing this long is
   * resumed; default 30), `quantize` ('int8': linear layers converted at load to int8 rows with
   * one scale each, the fastest format here, from any weights file), and defaults for every
   * call's generation settings (GENERATION_OPTIONS: `maxNewTokens`, `numBeams`, `refine`, …).
   */
  static async create(options = undefined) {
    const o = { ...installDefaults, ...dictionary(options, 'Summarizer.create') };
    const core = coreOptions(o, 'Summarizer.create');
    const signal = checkSignal(o.signal, 'Summarizer.create');
    if (o.monitor !== undefined && typeof o.monitor !== 'function') throw new TypeError('Summarizer.create: monitor must be a function');
    const { stallSeconds, quantize } = o;
    if (stallSeconds !== undefined && !(typeof stallSeconds === 'number' && stallSeconds > 0 && Number.isFinite(stallSeconds))) {
      throw Object.assign(new TypeError(`Summarizer.create: stallSeconds must be a positive number of seconds, not ${String(stallSeconds)}`), { kind: 'invalid-option' });
    }
    if (quantize !== undefined && quantize !== null && quantize !== 'int8') {
      throw Object.assign(new TypeError(`Summarizer.create: quantize must be 'int8' (or left out), not ${JSON.stringify(quantize)}`), { kind: 'invalid-option' });
    }
    if (signal?.aborted) throw abortReason(signal);
    const s = new Summarizer(resolveModel(o.model), generationSettings(o), core, o.sharedContext);
    s.#download = stallSeconds === undefined ? {} : { stallSeconds };
    s.#quantize = quantize ?? null;
    s.#threads = o.threads !== false;
    s.#relaxedSimd = o.relaxedSimd !== false;
    s.#metrics = o.metrics === false ? false : { ...(o.metrics ?? {}) };
    s.#onMetrics = o.onMetrics;
    // The callback may throw: create() then rejects with what it threw.
    if (o.monitor) o.monitor(s.#monitor);
    const gap = platformGap();
    if (gap) throw domError(`The summarizer cannot run here: ${gap}.`, 'unsupported');
    if (!fitLanguages(core)) {
      throw domError('The summarizer summarizes English text into English: a language asked for (expectedInputLanguages, expectedContextLanguages or outputLanguage) is not English.', 'language');
    }
    const stop = () => s.destroy(abortReason(signal));
    try {
      await s.#load(signal);
    } catch (err) {
      s.destroy(err);
      throw err;
    }
    // Aborted as the load ended: create() rejects, and the model is freed.
    if (signal?.aborted) {
      s.destroy(abortReason(signal));
      throw abortReason(signal);
    }
    // Aborting the create() signal later destroys the summarizer.
    signal?.addEventListener('abort', stop, { once: true });
    return s;
  }

  constructor(model, defaults, core = coreOptions({}, 'Summarizer'), sharedContext = undefined) {
    this.#model = model;
    this.#defaults = defaults;
    this.#core = core;
    this.#sharedContext = sharedContext === undefined ? '' : String(sharedContext);
    this.#monitor = new CreateMonitor();
  }

  /** The resolved model: { id, label, baseUrl, files, urls }. */
  get model() {
    return this.#model;
  }

  get sharedContext() {
    return this.#sharedContext;
  }

  get type() {
    return this.#core.type;
  }

  get format() {
    return this.#core.format;
  }

  get length() {
    return this.#core.length;
  }

  get preference() {
    return this.#core.preference;
  }

  get expectedInputLanguages() {
    return this.#core.expectedInputLanguages.length ? Object.freeze([...this.#core.expectedInputLanguages]) : null;
  }

  get expectedContextLanguages() {
    return this.#core.expectedContextLanguages.length ? Object.freeze([...this.#core.expectedContextLanguages]) : null;
  }

  get outputLanguage() {
    return this.#core.outputLanguage;
  }

  /** Unbounded: a long input is summarized chunk by chunk, each within the model's window. */
  get inputQuota() {
    return Infinity;
  }

  /**
   * 0, as the specification asks where the quota is unbounded (`inputQuota` is Infinity). The
   * input's token count, which says how many chunks it makes, is `countTokens()` (an extension).
   */
  async measureInputUsage(input, options = undefined) {
    const o = dictionary(options, 'measureInputUsage');
    const signal = this.#callSignal(checkSignal(o.signal, 'measureInputUsage'));
    if (signal.aborted) throw abortReason(signal);
    String(input);
    return 0;
  }

  /** Extension: the number of tokens the model's tokenizer makes of `input` (no special tokens). */
  async countTokens(input, options = undefined) {
    const o = dictionary(options, 'countTokens');
    const signal = this.#callSignal(checkSignal(o.signal, 'countTokens'));
    if (signal.aborted) throw abortReason(signal);
    await this.#ensureLoaded(signal);
    return this.#request({ type: 'count', text: String(input) }, { signal });
  }

  /**
   * Summarizes `input`; resolves to the summary shaped by the summarizer's type, format and
   * length. Options: `signal`, `context`, and the extensions: generation settings
   * (GENERATION_OPTIONS) and `onProgress(event)` (events: planned, chunk-start, token, chunk-done).
   */
  async summarize(input, options = undefined) {
    return (await this.summarizeDetailed(input, options)).text;
  }

  /**
   * Extension: like `summarize`, but resolves to { text, summary, passes, runId, settings }:
   * `summary` is the model's summary before shaping, `passes` every chunk's ids and summary,
   * `runId` the id its metric records carry (they reach `onMetrics` right after), `settings`
   * the generation settings the call ran with (those left out are the model's).
   */
  async summarizeDetailed(input, options = undefined) {
    const o = dictionary(options, 'summarize');
    const signal = this.#callSignal(checkSignal(o.signal, 'summarize'));
    if (signal.aborted) throw abortReason(signal);
    const text = String(input);
    if (!text.trim()) return { text: '', summary: '', passes: [], runId: null, settings: null };
    const call = new AbortController();
    const stop = () => call.abort(abortReason(signal));
    signal.addEventListener('abort', stop, { once: true });
    try {
      return await new Promise((resolve, reject) => {
        call.signal.addEventListener('abort', () => reject(call.signal.reason), { once: true });
        let settings;
        this.#ensureLoaded(call.signal)
          .then(() => {
            settings = this.#settings(o, false);
            return this.#request({ type: 'summarize', text, options: settings, events: Boolean(o.onProgress) }, { signal: call.signal, onEvent: o.onProgress });
          })
          .then((result) => resolve({ ...result, summary: result.text, text: shapeSummary(result.text, this.#core), settings }), reject);
      });
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  /**
   * Streams the summary as it is produced: a ReadableStream of strings that concatenate to the
   * shaped summary. With greedy search (preference "speed", or "auto") the text comes a word
   * at a time; with beam search ("capability", or numBeams > 1) a chunk at a time, since the
   * best beam can change until a chunk is done. Streamed summaries are never refined (a second
   * pass would rewrite text already given out). Cancelling the stream stops the model within
   * one decoder step.
   */
  summarizeStreaming(input, options = undefined) {
    const o = dictionary(options, 'summarizeStreaming');
    const signal = this.#callSignal(checkSignal(o.signal, 'summarizeStreaming'));
    if (signal.aborted) throw abortReason(signal);
    const text = String(input);
    const call = new AbortController();
    const shaped = new ShapedStream(this.#core);
    let onAbort;
    const settle = () => signal.removeEventListener('abort', onAbort);
    return new ReadableStream({
      start: (controller) => {
        if (!text.trim()) {
          controller.close();
          return;
        }
        onAbort = () => {
          call.abort(abortReason(signal));
          controller.error(abortReason(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        const onEvent = (event) => {
          o.onProgress?.(event);
          if (event.type === 'text' && !call.signal.aborted) {
            const piece = shaped.push(event.delta);
            if (piece) controller.enqueue(piece);
          }
        };
        this.#ensureLoaded(call.signal)
          .then(() => this.#request({ type: 'summarize', text, options: { ...this.#settings(o, true), stream: true, refine: false }, events: Boolean(o.onProgress) }, { signal: call.signal, onEvent }))
          .then(
            (result) => {
              settle();
              if (call.signal.aborted) return;
              const piece = shaped.finish(result.text);
              if (piece) controller.enqueue(piece);
              controller.close();
            },
            (err) => {
              settle();
              if (!call.signal.aborted) controller.error(err);
            },
          );
      },
      cancel: () => {
        settle();
        call.abort(new DOMException('The stream was cancelled.', 'AbortError'));
      },
    });
  }

  /**
   * Sets the alert limits ({ minTokensPerSecond, maxLoadSeconds, maxErrorRatePercent }); a
   * breach adds an `alert` record to the run's metrics.
   */
  async setThresholds(thresholds) {
    if (this.#destroyer.signal.aborted) throw abortReason(this.#destroyer.signal);
    if (this.#metrics === false) return;
    this.#metrics.thresholds = thresholds;
    if (this.#worker && this.#ready) await this.#request({ type: 'thresholds', thresholds });
  }

  /**
   * Stops the worker and frees the model: calls in flight and every later one reject with an
   * AbortError (or `reason`).
   */
  destroy(reason = new DOMException('The summarizer was destroyed.', 'AbortError')) {
    if (!this.#destroyer.signal.aborted) this.#destroyer.abort(reason);
    this.#terminate(this.#destroyer.signal.reason);
  }

  /** The signal a call stops on: its own or the summarizer's destruction. */
  #callSignal(signal) {
    return anySignal([this.#destroyer.signal, signal]);
  }

  /**
   * The generation settings of a call: the length's token budget, the preference's search
   * (speed: greedy; capability: the model's beams; auto: the model's beams, greedy when
   * streaming), the context as an instruction where the model takes one, then the create()
   * and call extensions, which win.
   */
  #settings(o, streaming) {
    const maxNewTokens = lengthBudget(this.#core.type, this.#core.length);
    const minDefault = this.info?.minNewTokens ?? 0;
    const base = { maxNewTokens, minNewTokens: Math.min(minDefault, Math.floor(maxNewTokens / 2)) };
    const pref = this.#core.preference;
    if (pref === 'speed' || (pref === 'auto' && streaming)) base.numBeams = 1;
    const prefix = this.#contextPrefix(o.context);
    if (prefix) base.prefix = prefix;
    const own = { ...this.#defaults, ...generationSettings(o) };
    // Lengths set in transformers' terms replace the budget; a smaller maxNewTokens lowers its minimum.
    if (own.maxLength !== undefined) delete base.maxNewTokens;
    if (own.minLength !== undefined) delete base.minNewTokens;
    const settings = { ...base, ...own };
    if (own.minNewTokens === undefined && own.minLength === undefined && settings.maxNewTokens !== undefined) {
      settings.minNewTokens = Math.min(settings.minNewTokens ?? 0, Math.floor(settings.maxNewTokens / 2));
    }
    return settings;
  }

  /** An instruction-tuned model (flan-t5) reads the contexts as part of its task prefix. */
  #contextPrefix(context) {
    if (!this.#model.instructions) return null;
    const parts = [this.#sharedContext, context === undefined ? '' : String(context)].map((c) => c.trim()).filter(Boolean);
    return parts.length ? `Context: ${parts.join(' ')}\nSummarize: ` : null;
  }

  #spawn() {
    const url = new URL(WORKER_URL);
    if (!this.#threads) url.searchParams.set('threads', '0');
    if (!this.#relaxedSimd) url.searchParams.set('relaxed', '0');
    const worker = new Worker(url, { type: 'module' });
    worker.onmessage = ({ data }) => {
      if (data.type === 'records') {
        if (data.storage) this.storage = data.storage;
        try {
          this.#onMetrics?.(data.records, data.storage);
        } catch (err) {
          console.warn('onMetrics threw', err);
        }
        return;
      }
      const p = this.#pending.get(data.id);
      if (!p) return;
      if (data.type === 'result' || data.type === 'loaded') {
        this.#pending.delete(data.id);
        p.resolve(data);
      } else if (data.type === 'error') {
        this.#pending.delete(data.id);
        if (data.fatal) this.#restart(toError(data));
        p.reject(toError(data));
      } else {
        p.onEvent?.(data.type === 'event' ? data.event : data);
      }
    };
    worker.onerror = (e) => {
      e.preventDefault();
      this.#restart(domError(`The summarizer worker failed: ${e.message || 'it could not start'}`, 'worker', { fatal: true }));
    };
    this.#worker = worker;
  }

  #terminate(reason) {
    this.#worker?.terminate();
    this.#worker = null;
    this.#loading = null;
    this.#ready = false;
    for (const p of this.#pending.values()) p.reject(reason);
    this.#pending.clear();
  }

  /** Replaces a dead worker and reloads the model in the background. */
  #restart(reason) {
    this.#terminate(reason);
    if (this.#destroyer.signal.aborted) return;
    this.#loading = this.#load().catch(() => {
      this.#loading = null; // The next summarize call retries the load and reports its error.
    });
  }

  /**
   * Sends a request to the worker; resolves to its result. An aborted `signal` rejects it with
   * the signal's reason and tells the worker to drop it (a queued request) or stop it after
   * the decoder step it is in; the other requests go on.
   */
  #request(message, { signal, onEvent } = {}) {
    if (!this.#worker) this.#spawn();
    const id = this.#nextId++;
    const worker = this.#worker;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const onAbort = () => {
        if (!this.#pending.delete(id)) return;
        done();
        worker.postMessage({ type: 'cancel', id });
        reject(abortReason(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.#pending.set(id, {
        onEvent,
        resolve: (v) => {
          done();
          resolve(message.type === 'summarize' || message.type === 'count' ? v.summary : v);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      worker.postMessage({ id, ...message });
    });
  }

  /** Waits for the model (reloading it if its worker died); a call's abort does not stop the load. */
  async #ensureLoaded(signal) {
    const wait = async () => {
      if (this.#loading) await this.#loading;
      if (!this.#ready) await this.#load();
    };
    if (!signal) return wait();
    const aborted = new Promise((_, reject) => {
      if (signal.aborted) reject(abortReason(signal));
      signal.addEventListener('abort', () => reject(abortReason(signal)), { once: true });
    });
    aborted.catch(() => {}); // an abort after the load is the caller's to report, not this race's
    return Promise.race([wait(), aborted]);
  }

  /**
   * Loads the model in the worker. Progress goes to the monitor twice: `downloadprogress`
   * (the specification's ProgressEvent: `loaded` a fraction in steps of 1/65536, at most
   * every 50 ms, first 0 and last 1) and `modelprogress` (ModelProgressEvent: bytes and files).
   * An aborted `signal` (create()'s) destroys the summarizer.
   */
  async #load(signal) {
    const sizes = new Map();
    let shown = null;
    let shownAt = 0;
    const fraction = (value, force = false) => {
      const q = Math.floor(value * 65536) / 65536;
      if (q === shown || (signal?.aborted ?? false)) return;
      const now = performance.now();
      if (!force && q !== 1 && shown !== null && now - shownAt < 50) return;
      shown = q;
      shownAt = now;
      this.#monitor.dispatchEvent(new ProgressEvent('downloadprogress', { loaded: q, total: 1, lengthComputable: true }));
    };
    fraction(0, true);
    const report = (e) => {
      if (e.phase === 'download') sizes.set(e.file, e);
      const all = [...sizes.values()];
      const bytesLoaded = all.reduce((n, f) => n + f.loaded, 0);
      const known = all.length === 3 && all.every((f) => f.total);
      const bytesTotal = known ? all.reduce((n, f) => n + f.total, 0) : null;
      const loaded = e.phase === 'load' ? 1 : bytesTotal ? bytesLoaded / bytesTotal : 0;
      fraction(loaded);
      this.#monitor.dispatchEvent(
        new ModelProgressEvent('modelprogress', {
          loaded,
          phase: e.phase,
          file: e.file,
          bytesLoaded,
          bytesTotal,
          files: all.map(({ file, loaded: l, total }) => ({ file, loaded: l, total: total ?? null })),
        }),
      );
    };
    const stop = () => this.destroy(abortReason(signal));
    signal?.addEventListener('abort', stop, { once: true });
    const key = this.#model.baseUrl;
    downloading.set(key, (downloading.get(key) ?? 0) + 1);
    let loaded;
    try {
      loaded = await this.#request({ type: 'load', model: this.#model, metrics: this.#metrics, download: this.#download, quantize: this.#quantize }, { onEvent: report });
    } finally {
      signal?.removeEventListener('abort', stop);
      const n = downloading.get(key) - 1;
      if (n > 0) downloading.set(key, n);
      else downloading.delete(key);
    }
    fraction(1, true);
    this.info = loaded.info;
    this.identity = loaded.identity;
    this.storage = loaded.storage;
    this.files = loaded.files;
    this.integrity = loaded.integrity;
    this.simd = loaded.simd;
    this.runtime = loaded.runtime;
    this.#ready = true;
    return loaded;
  }
}

/**
 * Makes this Summarizer the global `Summarizer` of `scope` (the page's or a worker's global)
 * where the browser has none, or replaces the browser's with `{ force: true }`. Returns the
 * `Summarizer` that is global afterwards. `defaults`: extension options (`model`, `quantize`,
 * `metrics`, …) every create() and availability() starts from, so that code written for the
 * built-in API needs no change. `import './summarizer-global.js'` does it in one line.
 */
export function install({ force = false, scope = globalThis, defaults } = {}) {
  if (defaults !== undefined) installDefaults = { ...dictionary(defaults, 'install') };
  const native = scope.Summarizer;
  if (typeof native === 'function' && native !== Summarizer && !force) return native;
  Object.defineProperty(scope, 'Summarizer', { value: Summarizer, writable: true, configurable: true, enumerable: false });
  return Summarizer;
}
