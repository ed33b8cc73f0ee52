// The JS API: a T5 summarizer running in a Web Worker, shaped like the web platform's built-in
// Summarizer API (availability / create / summarize / summarizeStreaming / destroy).
//
//   import { Summarizer } from './summarizer.js';
//   const s = await Summarizer.create({ model: 't5-small', monitor(m) {
//     m.addEventListener('downloadprogress', (e) => console.log(e.loaded)) } });
//   console.log(await s.summarize(longText));
//
// Cancelling (an aborted `signal`) stops work at once: the worker is terminated and a fresh one
// reloads the model from Cache Storage in the background.
import { resolveModel } from './models.js';
import { allCached } from './model-files.js';

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

/** Progress of a model download or load, dispatched as `downloadprogress`. */
export class ModelProgressEvent extends Event {
  constructor(type, init) {
    super(type);
    /** Fraction of all model bytes received, 0..1 (as the built-in API reports it). */
    this.loaded = init.loaded;
    /** Always 1: `loaded` is a fraction. */
    this.total = 1;
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

function abortError(signal) {
  return signal?.reason instanceof Error ? signal.reason : new DOMException('The operation was aborted.', 'AbortError');
}

function toError({ message, kind, fatal }) {
  return Object.assign(new Error(message), { kind, fatal });
}

/** A model loaded in a worker, ready to summarize. */
export class Summarizer {
  #model;
  #defaults;
  #worker = null;
  #nextId = 1;
  #pending = new Map();
  #loading = null;
  #ready = false;
  #destroyed = false;
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
   * fallback } (fallback: why the threaded build was not used, or null).
   */
  runtime = null;
  /** Model identity metric records carry: { id, url, revision, dtype, sha256 }. */
  identity = null;
  /** Where the worker keeps metric records: { persistent, reason, database, ... } or null. */
  storage = null;

  /**
   * 'unavailable' when this browser lacks WebAssembly or module workers, 'available' when the
   * model's files are cached, else 'downloadable'.
   */
  static async availability({ model } = {}) {
    if (typeof WebAssembly !== 'object' || typeof Worker !== 'function') return 'unavailable';
    const m = resolveModel(model);
    if (m.blobs) return 'available'; // local files: nothing to download
    return (await allCached(Object.values(m.urls))) ? 'available' : 'downloadable';
  }

  /**
   * Loads a model. Options: `model` (catalog id, base URL, { baseUrl, files }, or local files
   * { blobs: { config, tokenizer, weights, manifest? } }), `monitor(m)`
   * (m dispatches `downloadprogress`), `signal`, `metrics` (false to switch performance logging
   * off, or { sessionId, thresholds, database }), `onMetrics(records, storage)` (called with
   * every batch of metric records the worker logs), `threads` (false: always the single-thread
   * build; by default the threaded build runs when the page is cross-origin isolated),
   * `relaxedSimd` (false: plain SIMD128 even where the browser has relaxed SIMD),
   * `stallSeconds` (a download that sends nothing this long is resumed; default 30),
   * `quantize` ('int8': linear layers converted at load to int8 rows with one scale each, the
   * fastest format here, from any weights file), and
   * defaults for every summarize call
   * (`maxNewTokens`, `minNewTokens`, `maxInputTokens`, `prefix`, `refine`).
   */
  static async create({ model, monitor, signal, metrics, onMetrics, threads, relaxedSimd, stallSeconds, quantize, ...defaults } = {}) {
    const s = new Summarizer(resolveModel(model), defaults);
    if (stallSeconds !== undefined) {
      if (!(typeof stallSeconds === 'number' && stallSeconds > 0 && Number.isFinite(stallSeconds))) {
        throw Object.assign(new Error(`stallSeconds must be a positive number of seconds, not ${String(stallSeconds)}`), { kind: 'invalid-option' });
      }
      s.#download = { stallSeconds };
    }
    if (quantize !== undefined && quantize !== null && quantize !== 'int8') {
      throw Object.assign(new Error(`quantize must be 'int8' (or left out), not ${JSON.stringify(quantize)}`), { kind: 'invalid-option' });
    }
    s.#quantize = quantize ?? null;
    s.#threads = threads !== false;
    s.#relaxedSimd = relaxedSimd !== false;
    s.#metrics = metrics === false ? false : { ...(metrics ?? {}) };
    s.#onMetrics = onMetrics;
    if (monitor) monitor(s.#monitor);
    try {
      await s.#load(signal);
    } catch (err) {
      s.destroy();
      throw err;
    }
    return s;
  }

  constructor(model, defaults) {
    this.#model = model;
    this.#defaults = defaults;
    this.#monitor = new EventTarget();
  }

  /** The resolved model: { id, label, baseUrl, files, urls }. */
  get model() {
    return this.#model;
  }

  /**
   * Summarizes `text`; resolves to the summary string. Options: `signal`, `onProgress(event)`
   * (events: planned, chunk-start, token, chunk-done), and the generation settings.
   */
  async summarize(text, options = {}) {
    const result = await this.summarizeDetailed(text, options);
    return result.text;
  }

  /**
   * Like `summarize`, but resolves to { text, passes, runId }: every chunk's ids and summary, and
   * the run id its metric records carry (they reach `onMetrics` right after).
   */
  async summarizeDetailed(text, { signal, onProgress, ...options } = {}) {
    this.#checkAlive();
    if (signal?.aborted) throw abortError(signal);
    if (typeof text !== 'string') throw new TypeError('text must be a string');
    await this.#ensureLoaded(signal);
    const settings = { ...this.#defaults, ...options };
    return this.#request({ type: 'summarize', text, options: settings }, { signal, onEvent: onProgress });
  }

  /**
   * Streams the summary as it is produced, one piece per chunk: the pieces concatenate to the
   * summary of `summarize(text, { refine: false })` (a streamed summary is never rewritten).
   */
  summarizeStreaming(text, { signal, onProgress, ...options } = {}) {
    let controller;
    return new ReadableStream({
      start: (c) => {
        controller = c;
        this.summarizeDetailed(text, {
          ...options,
          refine: false,
          signal,
          onProgress: (event) => {
            onProgress?.(event);
            if (event.type === 'chunk-done' && event.delta) controller.enqueue(event.delta);
          },
        }).then(
          () => controller.close(),
          (err) => controller.error(err),
        );
      },
    });
  }

  /**
   * Sets the alert limits ({ minTokensPerSecond, maxLoadSeconds, maxErrorRatePercent }); a
   * breach adds an `alert` record to the run's metrics.
   */
  async setThresholds(thresholds) {
    this.#checkAlive();
    if (this.#metrics === false) return;
    this.#metrics.thresholds = thresholds;
    if (this.#worker && this.#ready) await this.#request({ type: 'thresholds', thresholds });
  }

  /** Stops the worker and frees the model. The object cannot be used afterwards. */
  destroy() {
    this.#destroyed = true;
    this.#terminate(new DOMException('The summarizer was destroyed.', 'AbortError'));
  }

  #checkAlive() {
    if (this.#destroyed) throw new DOMException('The summarizer was destroyed.', 'InvalidStateError');
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
      this.#restart(Object.assign(new Error(`The summarizer worker failed: ${e.message || 'it could not start'}`), { kind: 'worker', fatal: true }));
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

  /** Replaces a dead or cancelled worker and reloads the model in the background. */
  #restart(reason) {
    this.#terminate(reason);
    if (this.#destroyed) return;
    this.#loading = this.#load().catch(() => {
      this.#loading = null; // The next summarize call retries the load and reports its error.
    });
  }

  #request(message, { signal, onEvent } = {}) {
    if (!this.#worker) this.#spawn();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.#restart(abortError(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.#pending.set(id, {
        onEvent,
        resolve: (v) => {
          done();
          resolve(message.type === 'summarize' ? v.summary : v);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      this.#worker.postMessage({ id, ...message });
    });
  }

  async #ensureLoaded(signal) {
    if (this.#loading) await this.#loading;
    if (!this.#ready) await this.#load(signal);
  }

  async #load(signal) {
    const sizes = new Map();
    const report = (e) => {
      if (e.phase === 'download') sizes.set(e.file, e);
      const all = [...sizes.values()];
      const bytesLoaded = all.reduce((n, f) => n + f.loaded, 0);
      const known = all.length === 3 && all.every((f) => f.total);
      const bytesTotal = known ? all.reduce((n, f) => n + f.total, 0) : null;
      const loaded = e.phase === 'load' ? 1 : bytesTotal ? bytesLoaded / bytesTotal : 0;
      this.#monitor.dispatchEvent(
        new ModelProgressEvent('downloadprogress', {
          loaded,
          phase: e.phase,
          file: e.file,
          bytesLoaded,
          bytesTotal,
          files: all.map(({ file, loaded: l, total }) => ({ file, loaded: l, total: total ?? null })),
        }),
      );
    };
    const loaded = await this.#request({ type: 'load', model: this.#model, metrics: this.#metrics, download: this.#download, quantize: this.#quantize }, { signal, onEvent: report });
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
