// The module Web Worker that owns the wasm summarizer: loads model files, runs summaries, logs
// performance, and reports progress. All heavy work happens here so the page never freezes.
//
// Protocol (every message carries the request `id`):
//   page → worker  { type: 'load', model, metrics, download, quantize }   model as resolved by models.js; metrics:
//                                                       false, or { sessionId, thresholds, database };
//                                                       download: { stallSeconds }; quantize: 'int8' or null
//                  { type: 'summarize', text, options, events }   events: false to send no progress events
//                                                       (text events still come with options.stream)
//                  { type: 'count', text }            the text's token count, as the result
//                  { type: 'thresholds', thresholds }
//                  { type: 'cancel', id }             drop request `id` if queued, stop it after its
//                                                       current decoder step if running
// Requests run one at a time, in order; a summary runs a decoder step at a time with the event
// loop in between, so a cancel is seen within one step.
//   worker → page  { type: 'progress', phase: 'download' | 'load', file?, loaded?, total? }
//                  { type: 'event', event }           events from WasmSummarizer.summarize
//                  { type: 'loaded', info, files, simd, runtime, integrity, identity }   { type: 'result', summary }
//                  { type: 'records', records, storage }   metric records just logged
//                  { type: 'error', message, kind, fatal }   fatal: the wasm instance is unusable
//                  { type: 'cancelled' }              a cancelled summary stopped
import { evict, fetchFile } from './model-files.js';
import { checksumsFromCatalog, checksumsFromManifest, checksumsFromTree, hubTreeUrl, mismatch, sha256 } from './integrity.js';

/**
 * A minimal module whose one function uses `f32x4.relaxed_madd`: it validates exactly where the
 * browser runs WebAssembly relaxed SIMD (Chrome 114+, not Safari).
 */
const RELAXED_SIMD_PROBE = (() => {
  const zeros = [0xfd, 0x0c, ...new Array(16).fill(0)]; // v128.const 0
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // types: () -> v128
    0x03, 0x02, 0x01, 0x00, // one function of type 0
    0x0a, 0x3d, 0x01, 0x3b, 0x00, ...zeros, ...zeros, ...zeros, 0xfd, 0x85, 0x02, 0x0b, // relaxed_madd
  ]);
})();

function relaxedSimd() {
  try {
    return WebAssembly.validate(RELAXED_SIMD_PROBE);
  } catch {
    return false;
  }
}

/**
 * The wasm build: the threaded one (pkg-threads: kernels split over a pool of workers, relaxed
 * SIMD) when the page is cross-origin isolated, the browser has relaxed SIMD and the worker was
 * not told `?threads=0`; else the single-thread one, with relaxed SIMD (pkg-relaxed: fused
 * multiply-add and int8 dot products) where the browser has it and the worker was not told
 * `?relaxed=0`, else plain SIMD128 (pkg). Resolves to { pkg, runtime: { build, threads, simd,
 * fallback } }.
 */
async function start() {
  let fallback = null;
  const params = new URL(self.location.href).searchParams;
  const relaxed = params.get('relaxed') !== '0' && relaxedSimd();
  if (params.get('threads') === '0') fallback = 'threads switched off';
  else if (!self.crossOriginIsolated) fallback = 'the page is not cross-origin isolated (no COOP/COEP headers)';
  else if (!relaxed) fallback = 'the threaded build needs WebAssembly relaxed SIMD, which this browser lacks';
  else {
    try {
      const pkg = await import('./pkg-threads/t5_summarizer.js');
      await pkg.default();
      // One pool thread per core but the calling thread's (which shares the kernels' work).
      await pkg.initThreadPool(Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 8) - 1));
      return { pkg, runtime: { build: 'threads', threads: pkg.kernelThreads(), simd: 'relaxed', fallback: null } };
    } catch (err) {
      fallback = `the threaded build failed to start: ${err?.message ?? err}`;
    }
  }
  const pkg = relaxed ? await import('./pkg-relaxed/t5_summarizer.js') : await import('./pkg/t5_summarizer.js');
  await pkg.default();
  return { pkg, runtime: { build: 'single', threads: 1, simd: relaxed ? 'relaxed' : 'simd128', fallback } };
}

/**
 * The app's own files this worker loaded (this script, its modules, the wasm build's JS and
 * wasm), from its resource timing: what an offline start needs again. Model files are not
 * among them (they live in their own cache).
 */
function appFiles() {
  const base = new URL('./', self.location.href).href;
  const loaded = performance.getEntriesByType('resource').map((e) => e.name);
  return [...new Set([self.location.href.split('?')[0], ...loaded])].filter(
    (u) => u.startsWith(base) && /^(pkg(-relaxed|-threads)?\/[\w./-]+|[\w-]+)\.(js|wasm)$/.test(u.slice(base.length)),
  );
}

let WasmLoad, Sha256, simdEnabled, get_performance_logger, outOfMemory, runtime;
const ready = start().then(({ pkg, runtime: r }) => {
  ({ WasmLoad, Sha256, simdEnabled, get_performance_logger, outOfMemory } = pkg);
  runtime = { ...r, appFiles: appFiles() };
});
let summarizer = null;
/** Why the loaded model became unusable before any request (its warm-up pass failed), if it did. */
let brokenBy = null;
let logger = null; // the worker's performance logger, once a load asked for metrics

function post(id, message) {
  self.postMessage({ id, ...message });
}

function describe(err) {
  // A trap (panic, out of memory) poisons the wasm instance: the page must restart the worker.
  const fatal = err instanceof WebAssembly.RuntimeError;
  if (!fatal) return { message: String(err?.message ?? err), kind: err?.kind ?? 'internal', fatal };
  let oom = null;
  try {
    oom = outOfMemory?.() ?? null; // set when the allocator was refused memory just before the trap
  } catch {
    // The instance cannot even answer that: an ordinary crash then.
  }
  if (oom) {
    const mb = (n) => `${Math.round(n / 2 ** 20)} MB`;
    return {
      message:
        `The summarizer ran out of memory: it asked for ${mb(oom.requested)} more with ${mb(oom.memoryBytes)} in use, ` +
        'and the browser gave no more. It has been restarted; try fewer input tokens per chunk, fewer beams or fewer new tokens.',
      kind: 'out-of-memory',
      fatal,
    };
  }
  return { message: `The summarizer crashed (${err.message}). It has been restarted; try again.`, kind: 'crash', fatal };
}

/**
 * Waits until freshly logged records are stored, then sends them to the page (for alerts, live
 * charts, and storage fallback): when the page receives them, they are in IndexedDB.
 */
async function report(id, records) {
  if (!logger || !records?.length) return;
  await logger.flush();
  post(id, { type: 'records', records, storage: logger.storage_status() });
}

async function openLogger(metrics) {
  if (metrics === false) return null;
  // Opened once per worker; later loads only update the thresholds.
  logger ??= await get_performance_logger({
    ...(metrics?.sessionId ? { sessionId: metrics.sessionId } : {}),
    ...(metrics?.database ? { database: metrics.database } : {}),
  });
  if (metrics?.thresholds) logger.set_thresholds(metrics.thresholds);
  return logger;
}

/** The revision in a hub URL (`…/resolve/<revision>/`), else null. */
function revisionOf(baseUrl) {
  return /\/resolve\/([^/]+)\//.exec(baseUrl)?.[1] ?? null;
}

/** Where the hub's file list of a model is kept in the model cache: next to its files. */
const HUB_CHECKSUMS = 'hub-checksums.json';

const json = (bytes) => JSON.parse(new TextDecoder().decode(bytes));

/**
 * What each file must hash to: { source, sums, cacheUrl?, note? }. `source` is 'catalog' (the
 * model's own `sha256` map), 'hub' (the hub's file list, for a base URL in the hub's layout),
 * 'manifest' (a manifest.json next to the files or among the opened ones) or null, with `note`
 * saying why nothing could be checked. `cacheUrl`: where the list is cached, evicted with a file
 * that does not match it (the list may be the stale one).
 */
async function expectedChecksums(model) {
  if (model.sha256) return { source: 'catalog', sums: checksumsFromCatalog(model.sha256) };
  if (model.blobs) {
    if (!model.blobs.manifest) return { source: null, sums: {}, note: 'no manifest.json was among the opened files' };
    let manifest;
    try {
      manifest = json(new Uint8Array(await model.blobs.manifest.arrayBuffer()));
    } catch (err) {
      throw Object.assign(new Error(`the opened manifest.json is not valid JSON: ${err?.message ?? err}`), { kind: 'model-file' });
    }
    return { source: 'manifest', sums: checksumsFromManifest(manifest) };
  }
  let note = 'the model has no checksums';
  const tree = hubTreeUrl(model.baseUrl);
  if (tree) {
    const cacheUrl = new URL(HUB_CHECKSUMS, model.baseUrl).href;
    try {
      const { bytes } = await fetchFile(tree, 'hub-checksums', { cacheAs: cacheUrl });
      try {
        return { source: 'hub', sums: checksumsFromTree(json(bytes)), cacheUrl };
      } catch (err) {
        await evict([cacheUrl]);
        note = `the hub's file list (${tree}) could not be read (${err?.message ?? err})`;
      }
    } catch (err) {
      note = `the hub's file list could not be fetched (${String(err?.message ?? err).replace(/^hub-checksums: /, '')})`;
    }
  }
  if (model.manifest === false) return { source: null, sums: {}, note };
  const cacheUrl = new URL('manifest.json', model.baseUrl).href;
  let manifest;
  try {
    manifest = json((await fetchFile(cacheUrl, 'manifest.json')).bytes);
  } catch (err) {
    // No manifest: nothing to check against.
    if (err?.kind === 'download') return { source: null, sums: {}, note: tree ? note : `there is no manifest.json next to the model` };
    await evict([cacheUrl]);
    throw Object.assign(new Error(`manifest.json of ${model.baseUrl} is not valid JSON: ${err?.message ?? err}`), { kind: 'model-file' });
  }
  return { source: 'manifest', sums: checksumsFromManifest(manifest), cacheUrl };
}

/**
 * A local file (picked or dropped), nothing cached: config and tokenizer are read into memory;
 * the weights stay the picked file itself (`blob`), which the model reads range by range.
 */
async function readLocal(blob, file, onProgress, key) {
  onProgress({ file, loaded: 0, total: blob.size });
  if (key === 'weights') {
    onProgress({ file, loaded: blob.size, total: blob.size });
    return { blob, cached: false, local: true, sha256: null, hashSeconds: null };
  }
  let bytes;
  try {
    bytes = new Uint8Array(await blob.arrayBuffer());
  } catch (err) {
    throw Object.assign(new Error(`${file}: the file could not be read (${err?.message ?? err}); open it again`), { kind: 'model-file', file });
  }
  onProgress({ file, loaded: bytes.length, total: blob.size });
  return { bytes, cached: false, local: true };
}

/** SHA-256 of a blob, read as a stream chunk by chunk (never whole in memory): { sha256, hashSeconds }. */
async function hashBlob(blob, file) {
  const t0 = performance.now();
  const h = new Sha256();
  try {
    const reader = blob.stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      h.update(value);
    }
    return { sha256: h.finish(), hashSeconds: (performance.now() - t0) / 1000 };
  } catch (err) {
    throw Object.assign(new Error(`${file}: the file could not be read (${err?.message ?? err}); open or download it again`), { kind: 'model-file', file });
  } finally {
    h.free();
  }
}

/** Frees the memory behind `bytes` at once (detaching its buffer), where the browser can. */
function release(bytes) {
  detach(bytes.buffer);
}

/**
 * Frees an ArrayBuffer's memory at once, where the browser can: one made by this script; one a
 * browser API made stays alive in the browser until the collector runs, detached or not.
 */
function detach(buffer) {
  try {
    buffer.transfer?.(0);
  } catch {
    // Not detachable (shared or already detached): the collector frees it.
  }
}

/** How the last load read the weights: 'stream' (BYOB), 'file-reader' (FileReaderSync) or 'bytes'. */
let weightsRead = null;

/** Whether this browser reads a Blob's stream into a buffer of the reader's own (BYOB). */
function byobBlobs() {
  try {
    new Blob([]).stream().getReader({ mode: 'byob' }).releaseLock();
    return true;
  } catch {
    return false;
  }
}

/**
 * Bytes `start..end` of `blob`, read by a BYOB stream into `buffer` (a new one when it is too
 * small): { bytes, buffer }. The buffer moves with every read; the caller passes the returned
 * one on to the next call, so one buffer serves every tensor and no read leaves garbage.
 */
async function readRange(blob, start, end, buffer, file) {
  const n = end - start;
  if (buffer.byteLength < n) {
    detach(buffer);
    buffer = new ArrayBuffer(n);
  }
  let at = 0;
  try {
    const reader = blob.slice(start, end).stream().getReader({ mode: 'byob' });
    while (at < n) {
      const { done, value } = await reader.read(new Uint8Array(buffer, at, n - at));
      if (value) buffer = value.buffer;
      else buffer = new ArrayBuffer(n); // a read that ends without a view leaves the buffer detached
      if (done) break;
      at += value.byteLength;
    }
    reader.releaseLock();
  } catch (err) {
    throw Object.assign(new Error(`${file}: the file could not be read (${err?.message ?? err}); open or download it again`), { kind: 'model-file', file });
  }
  if (at < n) {
    throw Object.assign(new Error(`${file}: the file ended at byte ${start + at} of ${end}; open or download it again`), { kind: 'model-file', file });
  }
  return { bytes: new Uint8Array(buffer, 0, n), buffer };
}

/**
 * The model built from its files: tensor by tensor, each read from a weights Blob by a BYOB
 * stream into one reused buffer (freed at the end), where the browser has them; else the
 * weights are read by the wasm side (a Uint8Array, or a Blob through FileReaderSync).
 */
async function buildModel(config, tokenizer, weights, file, options) {
  const load = new WasmLoad(config, tokenizer, weights, options);
  let buffer = new ArrayBuffer(0);
  try {
    weightsRead = weights instanceof Blob && byobBlobs() ? 'stream' : weights instanceof Blob ? 'file-reader' : 'bytes';
    if (weightsRead === 'stream') {
      for (let range; (range = load.nextRange()); ) {
        const got = await readRange(weights, range[0], range[1], buffer, file);
        buffer = got.buffer;
        load.read(got.bytes);
      }
    } else {
      load.readRest();
    }
  } catch (err) {
    load.free();
    throw err;
  } finally {
    detach(buffer);
  }
  return load.finish();
}

async function load(id, model, metrics, download, quantize) {
  if (summarizer) {
    summarizer.free();
    summarizer = null;
  }
  brokenBy = null;
  await openLogger(metrics);
  const names = ['config', 'tokenizer', 'weights'];
  const startedAt = performance.now();
  let results;
  try {
    results = await Promise.all(
      names.map(async (key) => {
        const t0 = performance.now();
        const onProgress = (p) => post(id, { type: 'progress', phase: 'download', ...p });
        // The weights come back as a blob on disk where Cache Storage is there (else as bytes).
        const r = model.blobs
          ? await readLocal(model.blobs[key], model.files[key], onProgress, key)
          : await fetchFile(model.urls[key], model.files[key], {
              onProgress,
              stallSeconds: download?.stallSeconds,
              ...(key === 'weights' ? { asBlob: true, hasher: () => new Sha256() } : {}),
            });
        return { ...r, fetchSeconds: (performance.now() - t0) / 1000 };
      }),
    );
  } catch (err) {
    if (logger) {
      logger.set_model({ id: model.id, url: model.baseUrl, revision: revisionOf(model.baseUrl), dtype: null, sha256: null });
      logger.begin_run();
      await report(id, logger.log_error(err, { stage: 'download', kind: err?.kind ?? 'download', model: model.id, file: err?.file ?? null, url: err?.url ?? null }));
    }
    throw err;
  }
  post(id, { type: 'progress', phase: 'load' });
  const [config, tokenizer] = results.map((r) => r.bytes);
  const weights = results[2].blob ?? results[2].bytes;
  const sizeOf = (r) => r.bytes?.length ?? r.blob.size;
  const files = names.map((key, i) => ({
    file: model.files[key],
    bytes: sizeOf(results[i]),
    cacheHit: results[i].cached,
    fetchSeconds: results[i].fetchSeconds,
  }));
  const expected = await expectedChecksums(model);
  const weightsFile = model.files.weights;
  // The weights' digest: computed as they streamed into the cache (or kept from then), else now.
  const known = { sha256: results[2].sha256 ?? null, hashSeconds: results[2].hashSeconds ?? null };
  const needed = logger || expected.sums[weightsFile]?.sha256;
  const hash = known.sha256 || !needed ? known : results[2].blob ? await hashBlob(results[2].blob, weightsFile) : await sha256(weights);
  const checked = {};
  for (const [i, key] of names.entries()) {
    const file = model.files[key];
    const want = expected.sums[file];
    checked[file] = want ? (want.sha256 ? 'SHA-256' : 'git blob SHA-1') : null;
    if (!want) continue;
    // A blob is read into memory only for a git blob SHA-1 (files too small for Git LFS).
    const bytes = results[i].bytes ?? (want.sha256 ? null : new Uint8Array(await results[i].blob.arrayBuffer()));
    const bad = await mismatch(bytes, want, key === 'weights' ? hash.sha256 : null);
    if (!bad) continue;
    // A corrupt or altered copy must not be served again from the cache, nor a stale list.
    if (!model.blobs) await evict([model.urls[key], ...(expected.cacheUrl ? [expected.cacheUrl] : [])]);
    const by = expected.source === 'hub' ? 'the one the hub lists' : 'the expected';
    const err = new Error(
      `${file}: its ${bad.algorithm} (${bad.got.slice(0, 16)}…) is not ${by} ${bad.want.slice(0, 16)}…: ` +
        `the file is damaged or was changed. ${model.blobs ? 'Open an intact copy.' : 'It was removed from the cache; try again, or check the model source.'}`,
    );
    err.kind = 'integrity';
    err.file = file;
    err.url = model.urls[key];
    if (logger) {
      logger.set_model({ id: model.id, url: model.baseUrl, revision: revisionOf(model.baseUrl), dtype: null, sha256: hash.sha256 });
      logger.begin_run();
      await report(id, logger.log_error(err, { stage: 'integrity', kind: 'integrity', model: model.id, file, url: err.url }));
    }
    throw err;
  }
  const unchecked = Object.keys(checked).filter((f) => !checked[f]);
  const integrity = {
    source: expected.source,
    files: checked,
    note: unchecked.length ? `${unchecked.join(', ')} not checked: ${expected.note ?? `the ${expected.source} lists no checksum for ${unchecked.length > 1 ? 'them' : 'it'}`}` : null,
  };
  const revision = revisionOf(model.baseUrl);
  try {
    summarizer = await buildModel(config, tokenizer, weights, model.files.weights, {
      weightsName: model.files.weights,
      id: model.id,
      url: model.baseUrl,
      revision,
      sha256: hash.sha256,
      hashSeconds: hash.hashSeconds,
      files,
      startedAt,
      metrics: Boolean(logger),
      quantize: quantize ?? null,
    });
  } catch (err) {
    if (logger) await report(id, logger.lastRecords);
    // A cached copy that does not parse would fail forever: drop it so a retry downloads anew.
    if (!model.blobs) await evict(names.map((k) => model.urls[k]));
    throw err;
  } finally {
    // The model copied the weights out tensor by tensor: free the file's bytes now (when they
    // were in memory at all), not whenever the collector gets to them, so they never add to the
    // memory a summary needs.
    if (weights instanceof Uint8Array) release(weights);
  }
  await report(id, summarizer.loadRecords);
  const fileFacts = names.map((key, i) => ({
    file: model.files[key],
    bytes: files[i].bytes,
    cached: results[i].cached,
    cacheError: results[i].cacheError,
  }));
  post(id, {
    type: 'loaded',
    info: summarizer.info(),
    files: fileFacts,
    simd: simdEnabled(),
    runtime: { ...runtime, weightsRead },
    integrity,
    identity: summarizer.identity,
    storage: logger?.storage_status() ?? null,
  });
  warmUp();
}

/** Input ids of the warm-up pass after a load. */
const WARM_UP_TOKENS = 64;

// Once a model is loaded (and the page told), one short pass on a made-up input, on this thread
// alone: browsers optimize a wasm function only after it has run a while, and they do it on
// another core, which a pass here leaves free. A request sent meanwhile waits for it (tens of
// milliseconds); the first summary then meets optimized kernels.
function warmUp() {
  try {
    summarizer.warmUp(WARM_UP_TOKENS);
  } catch (err) {
    // Nothing of the user's is lost; a broken instance is reported by the next request.
    if (err instanceof WebAssembly.RuntimeError) {
      summarizer = null;
      brokenBy = err.message;
    }
  }
}

/**
 * A macrotask's pause: the worker's event loop runs in between, so messages that arrived
 * meanwhile (a cancel) are handled. A MessageChannel, as timers nested this deep wait 4 ms.
 */
const pause = (() => {
  const channel = new MessageChannel();
  const waiting = [];
  channel.port1.onmessage = () => waiting.shift()?.();
  return () =>
    new Promise((resolve) => {
      waiting.push(resolve);
      channel.port2.postMessage(0);
    });
})();

/** The summary being computed: { id, job, cancelled }. */
let running = null;

async function summarize(id, text, options, events) {
  if (!summarizer) {
    const why = brokenBy ? `The model failed right after loading (${brokenBy}); load it again.` : 'No model is loaded.';
    throw Object.assign(new Error(why), { kind: 'no-model' });
  }
  // Progress events cost a message each: sent when the page listens (or streams the text).
  const stream = options?.stream === true;
  // (The callback returns nothing: a `false` would stop the run.)
  const onEvent =
    events || stream
      ? (event) => {
          if (events || event.type === 'text') post(id, { type: 'event', event });
        }
      : undefined;
  let summary;
  const job = summarizer.start(text, options ?? undefined, onEvent);
  running = { id, job, cancelled: false };
  try {
    // One decoder step at a time, with the event loop in between: a cancel stops the run
    // within one step (freeing the job drops it), and the other requests wait their turn.
    while ((summary = job.step()) === undefined) {
      await pause();
      if (running.cancelled) {
        post(id, { type: 'cancelled' });
        return;
      }
    }
  } catch (err) {
    // The summarizer logged the failure (an error and the request's total); pass them on.
    if (logger && !(err instanceof WebAssembly.RuntimeError)) await report(id, logger.lastRecords);
    throw err;
  } finally {
    running = null;
    try {
      job.free();
    } catch {
      // After a trap the instance refuses every call; the trap is what gets reported.
    }
  }
  // The summary goes out first; its records are serialized, stored and sent right after, so
  // metrics never delay the result, nor the next request: a summary asked for as soon as this
  // one resolved waited ~3 ms for this one's write to the store before it could start.
  post(id, { type: 'result', summary });
  if (logger && summary.runId) {
    report(id, logger.lastRecords).catch((e) => console.warn('metrics report failed:', e));
  }
}

/** Requests waiting for the one before them to finish (a load or a summary at a time). */
const queue = [];
let busy = false;

async function handle(data) {
  const { id, type } = data;
  try {
    await ready;
    if (type === 'load') await load(id, data.model, data.metrics, data.download, data.quantize);
    else if (type === 'summarize') await summarize(id, data.text, data.options, data.events !== false);
    else if (type === 'count') post(id, { type: 'result', summary: summarizer ? summarizer.countTokens(data.text) : null });
    else if (type === 'thresholds') {
      logger?.set_thresholds(data.thresholds ?? {});
      post(id, { type: 'result', summary: null });
    } else throw new Error(`unknown request ${type}`);
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) summarizer = null;
    post(id, { type: 'error', ...describe(err) });
  }
}

self.onmessage = async ({ data }) => {
  if (data.type === 'cancel') {
    // A queued request is dropped; the running one stops after its current step.
    const at = queue.findIndex((q) => q.id === data.id);
    if (at >= 0) queue.splice(at, 1);
    if (running?.id === data.id) running.cancelled = true;
    return;
  }
  queue.push(data);
  if (busy) return;
  busy = true;
  while (queue.length) await handle(queue.shift());
  busy = false;
};
