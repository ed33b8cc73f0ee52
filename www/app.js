// The page: wires the form to the Summarizer API and keeps the user informed.
//
// Nothing here touches the model directly; everything goes through summarizer.js. The text in
// the textarea is never cleared or altered, whatever fails.
import { Summarizer, getPerformanceLogger } from './summarizer.js';
import { MODELS, resolveModel, localModelFiles } from './models.js';
import { renderDashboard } from './dashboard.js';
import { registerOffline, rememberAppFiles } from './offline.js';
import { listCached, evict, clearCached } from './model-files.js';
import { lengthBudget } from './summary-shape.js';

const $ = (id) => document.getElementById(id);
const ui = {
  model: $('model'),
  type: $('summary-type'),
  length: $('summary-length'),
  text: $('text'),
  count: $('count'),
  summarize: $('summarize'),
  cancel: $('cancel'),
  progress: $('progress'),
  downloads: $('downloads'),
  status: $('status'),
  error: $('error'),
  summary: $('summary'),
  maxNew: $('max-new-tokens'),
  minNew: $('min-new-tokens'),
  maxInput: $('max-input-tokens'),
  refine: $('refine'),
  numBeams: $('num-beams'),
  lengthPenalty: $('length-penalty'),
  earlyStopping: $('early-stopping'),
  noRepeat: $('no-repeat-ngram'),
  repetitionPenalty: $('repetition-penalty'),
  doSample: $('do-sample'),
  temperature: $('temperature'),
  topK: $('top-k'),
  topP: $('top-p'),
  seed: $('seed'),
  notice: $('metrics-notice'),
  alerts: $('perf-alerts'),
  alertList: $('alert-list'),
  dashboard: $('dashboard'),
  metricsStatus: $('metrics-status'),
  charts: $('charts'),
  downloadJson: $('download-json'),
  downloadLog: $('download-log'),
  clearMetrics: $('clear-metrics'),
  minTps: $('min-tps'),
  maxLoad: $('max-load'),
  maxError: $('max-error'),
  offline: $('offline-status'),
  manager: $('model-manager'),
  storageStatus: $('storage-status'),
  cachedModels: $('cached-models'),
  persist: $('persist-storage'),
  clearModels: $('clear-models'),
  openFiles: $('open-files'),
  fileInput: $('model-file-input'),
};
const THRESHOLDS_KEY = 't5-summarizer-thresholds';

let summarizer = null;
let running = null; // AbortController of the current run

const mb = (n) => `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)} MB`;

function setStatus(text) {
  ui.status.textContent = text;
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = !message;
}

function fillModelPicker() {
  for (const m of MODELS) ui.model.add(new Option(m.label, m.id));
  const requested = new URLSearchParams(location.search).get('model');
  if (requested) {
    if (!MODELS.some((m) => m.id === requested)) ui.model.add(new Option(`Custom: ${requested}`, requested));
    ui.model.value = requested;
  }
}

function readNumber(input) {
  if (input.value.trim() === '') return undefined;
  const n = Number(input.value);
  if (!Number.isInteger(n) || n < Number(input.min) || n > Number(input.max)) {
    throw new Error(`${input.labels[0].textContent} must be a whole number from ${input.min} to ${input.max}.`);
  }
  return n;
}

function readDecimal(input) {
  if (input.value.trim() === '') return undefined;
  const n = Number(input.value);
  if (!Number.isFinite(n) || n < Number(input.min) || n > Number(input.max)) {
    throw new Error(`${input.labels[0].textContent} must be a number from ${input.min} to ${input.max}.`);
  }
  return n;
}

function settings() {
  const early = ui.earlyStopping.value;
  const options = {
    maxNewTokens: readNumber(ui.maxNew),
    minNewTokens: readNumber(ui.minNew),
    maxInputTokens: readNumber(ui.maxInput),
    refine: ui.refine.checked,
    numBeams: readNumber(ui.numBeams),
    lengthPenalty: readDecimal(ui.lengthPenalty),
    earlyStopping: early === '' ? undefined : early === 'never' ? 'never' : early === 'true',
    noRepeatNgramSize: readNumber(ui.noRepeat),
    repetitionPenalty: readDecimal(ui.repetitionPenalty),
    doSample: ui.doSample.checked || undefined,
    temperature: readDecimal(ui.temperature),
    topK: readNumber(ui.topK),
    topP: readDecimal(ui.topP),
    seed: readNumber(ui.seed),
  };
  if (options.doSample && (options.numBeams ?? 1) > 1) {
    throw new Error('Sampling works with 1 beam: set Beams to 1 or turn sampling off.');
  }
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}

/**
 * Shows the settings a run uses when an input is empty, as its placeholder: the token budget of
 * the chosen summary type and length, and the model's own generation settings.
 */
function showDefaults(info) {
  const g = info.generation ?? {};
  const budget = lengthBudget(ui.type.value, ui.length.value);
  ui.maxNew.placeholder = String(budget);
  ui.minNew.placeholder = String(Math.min(info.minNewTokens, Math.floor(budget / 2)));
  ui.maxInput.placeholder = String(info.maxInputTokens);
  if (g.numBeams !== undefined) {
    ui.numBeams.placeholder = String(g.numBeams);
    ui.lengthPenalty.placeholder = String(g.lengthPenalty);
    ui.noRepeat.placeholder = String(g.noRepeatNgramSize);
    ui.repetitionPenalty.placeholder = String(g.repetitionPenalty);
    ui.temperature.placeholder = String(g.temperature);
    ui.topK.placeholder = String(g.topK);
    ui.topP.placeholder = String(g.topP);
    ui.seed.placeholder = String(g.seed);
    const names = { true: 'when enough beams are done', false: 'when no beam can improve', never: 'never early' };
    ui.earlyStopping.options[0].textContent = `model default (${names[String(g.earlyStopping)]})`;
  }
}

// ---- Performance metrics -------------------------------------------------------------------
// The worker logs every load and run to IndexedDB by itself. The page opens the same database
// through its own logger to draw the dashboard and export; when the worker could not persist
// (IndexedDB blocked or full), the page keeps the worker's records in its own logger instead.

let pageLogger = null;
function metricsLogger() {
  pageLogger ??= getPerformanceLogger({ thresholds: thresholds() }).catch((err) => {
    showNotice(`Performance metrics are unavailable on this page (${err?.message ?? err}).`);
    return null;
  });
  return pageLogger;
}

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
}

function storageNotice(storage) {
  if (storage && !storage.persistent) {
    showNotice(`Performance records are kept in memory only and will be lost when this page closes: ${storage.reason}.`);
  }
}

function thresholds() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(THRESHOLDS_KEY) ?? '{}') ?? {};
  } catch {
    saved = {};
  }
  return {
    minTokensPerSecond: saved.minTokensPerSecond ?? null,
    maxLoadSeconds: saved.maxLoadSeconds ?? null,
    maxErrorRatePercent: saved.maxErrorRatePercent ?? null,
  };
}

function readThreshold(input) {
  if (input.value.trim() === '') return null;
  const n = Number(input.value);
  if (!Number.isFinite(n) || n < Number(input.min) || (input.max && n > Number(input.max))) {
    throw new Error(`${input.labels[0].textContent}: enter a number from ${input.min}${input.max ? ` to ${input.max}` : ' up'}.`);
  }
  return n;
}

async function saveThresholds() {
  let t;
  try {
    t = { minTokensPerSecond: readThreshold(ui.minTps), maxLoadSeconds: readThreshold(ui.maxLoad), maxErrorRatePercent: readThreshold(ui.maxError) };
  } catch (err) {
    showError(err.message);
    return;
  }
  showError('');
  try {
    localStorage.setItem(THRESHOLDS_KEY, JSON.stringify(t));
  } catch {
    // Storage blocked: the thresholds still apply to this page.
  }
  (await metricsLogger())?.set_thresholds(t);
  await summarizer?.setThresholds(t).catch(() => {});
}

function showAlerts(records) {
  for (const r of records.filter((x) => x.type === 'alert')) {
    ui.alertList.prepend(Object.assign(document.createElement('li'), { textContent: `${new Date(r.timestamp).toLocaleTimeString()} · ${r.model.id}: ${r.message}` }));
    ui.alerts.hidden = false;
  }
}

async function onMetrics(records, storage) {
  showAlerts(records);
  storageNotice(storage);
  if (storage && !storage.persistent) (await metricsLogger())?.ingest(records);
  if (ui.dashboard.open) refreshDashboard();
}

let refreshing = null;
let refreshAgain = false;
function refreshDashboard() {
  if (refreshing) {
    // Records arrived while drawing: draw once more when this pass ends.
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      const logger = await metricsLogger();
      if (!logger) {
        ui.metricsStatus.textContent = 'Performance metrics are unavailable on this page.';
        return;
      }
      const records = await logger.records();
      const summary = await logger.get_performance_summary();
      const status = logger.storage_status();
      const where = status.persistent
        ? `stored in this browser (IndexedDB; the newest ${status.retention.toLocaleString()} are kept)`
        : `kept in memory only: ${status.reason}`;
      const corrupt = status.corruptRecords ? ` ${status.corruptRecords} unreadable record(s) were skipped.` : '';
      ui.metricsStatus.textContent = `${records.length.toLocaleString()} performance records, ${where}.${corrupt}`;
      if (!status.persistent) storageNotice(status);
      renderDashboard(ui.charts, { records, summary });
    } catch (err) {
      ui.metricsStatus.textContent = `The dashboard could not be drawn: ${err?.message ?? err}`;
    } finally {
      refreshing = null;
      if (refreshAgain) {
        refreshAgain = false;
        refreshDashboard();
      }
    }
  })();
  return refreshing;
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function exportMetrics(kind) {
  const logger = await metricsLogger();
  if (!logger) return;
  try {
    if (kind === 'json') download('performance_metrics.json', await logger.export_json(), 'application/json');
    else download('performance.log', await logger.export_log(), 'text/plain');
  } catch (err) {
    showError(`The export failed: ${err?.message ?? err}`);
  }
}

async function clearMetrics() {
  const logger = await metricsLogger();
  if (!logger) return;
  const n = (await logger.records()).length;
  if (!confirm(`Delete all ${n.toLocaleString()} stored performance records? This cannot be undone.`)) return;
  try {
    await logger.clear();
  } catch (err) {
    showError(`The metrics could not be cleared: ${err?.message ?? err}`);
  }
  ui.alertList.replaceChildren();
  ui.alerts.hidden = true;
  await refreshDashboard();
}

let localModel = null; // the model from local files, when the picker shows it

/** Takes picked or dropped model files: selects them as the model, or says what is missing. */
function useLocalFiles(fileList) {
  let model;
  try {
    model = resolveModel({ blobs: localModelFiles(fileList) });
  } catch (err) {
    showError(err.message);
    return;
  }
  showError('');
  localModel = model;
  const mbs = mb(model.blobs.weights.size);
  let option = ui.model.querySelector('option[value="local"]');
  if (!option) ui.model.add((option = new Option('', 'local')));
  option.textContent = `${model.label} · ${mbs}`;
  ui.model.value = 'local';
  setStatus(`Local model files ready: ${Object.values(model.files).join(', ')}. They are read on this device, not uploaded.`);
}

function setupLocalFiles() {
  ui.openFiles.addEventListener('click', () => ui.fileInput.click());
  ui.fileInput.addEventListener('change', () => {
    if (ui.fileInput.files?.length) useLocalFiles([...ui.fileInput.files]);
    ui.fileInput.value = '';
  });
  // Model files dropped anywhere but on the text box (which takes text files).
  const isModelDrop = (e) => e.target !== ui.text && e.dataTransfer?.types.includes('Files');
  document.addEventListener('dragover', (e) => {
    if (isModelDrop(e)) e.preventDefault();
  });
  document.addEventListener('drop', (e) => {
    if (!isModelDrop(e)) return;
    e.preventDefault();
    if (running) {
      showError('Wait for the current summary to finish (or cancel it) before opening other model files.');
      return;
    }
    const files = [...e.dataTransfer.files];
    if (!files.some((f) => /\.(json|safetensors|gguf)$/i.test(f.name))) {
      showError('Drop text files onto the text box; model files (config.json, tokenizer.json, weights) go anywhere else on the page.');
      return;
    }
    useLocalFiles(files);
  });
}

/** Shows each model file's bytes while they download (`files` from a progress event); null hides the list. */
function showDownloads(files) {
  ui.downloads.hidden = !files?.length;
  if (!files?.length) return ui.downloads.replaceChildren();
  ui.downloads.replaceChildren(
    ...files.map(({ file, loaded, total }) => {
      const li = document.createElement('li');
      const done = total !== null && loaded >= total;
      li.textContent = `${file}: ${total === null ? mb(loaded) : `${mb(loaded)} of ${mb(total)}`}${done ? ' ✓' : ''}`;
      return li;
    }),
  );
}

async function getSummarizer(signal) {
  const wanted = ui.model.value === 'local' && localModel ? localModel : resolveModel(ui.model.value);
  const shape = { type: ui.type.value, length: ui.length.value };
  if (summarizer && summarizer.model.baseUrl === wanted.baseUrl && summarizer.type === shape.type && summarizer.length === shape.length) return summarizer;
  summarizer?.destroy();
  summarizer = null;
  setStatus(`Loading ${wanted.label}…`);
  const logger = await metricsLogger();
  const query = new URLSearchParams(location.search);
  // Cancel stops the load; aborting create()'s own signal later would destroy the summarizer.
  const loading = new AbortController();
  const relay = () => loading.abort(signal.reason);
  signal?.addEventListener('abort', relay, { once: true });
  const s = await Summarizer.create({
    // The Summarizer API's own options; plain text, as the page shows text, not markdown.
    ...shape,
    format: 'plain-text',
    model: wanted,
    // `?threads=0` / `?relaxed=0`: the single-thread or plain SIMD128 build (for comparison).
    threads: query.get('threads') !== '0',
    relaxedSimd: query.get('relaxed') !== '0',
    signal: loading.signal,
    metrics: { sessionId: logger?.sessionId, thresholds: thresholds() },
    onMetrics,
    monitor(m) {
      m.addEventListener('modelprogress', (e) => {
        ui.progress.value = e.loaded;
        if (e.phase === 'load') setStatus(`Preparing ${wanted.label}…`);
        else setStatus(`Downloading ${e.file}… ${mb(e.bytesLoaded)}${e.bytesTotal ? ` of ${mb(e.bytesTotal)}` : ''}`);
        showDownloads(e.phase === 'load' ? null : e.files);
      });
    },
  }).finally(() => {
    signal?.removeEventListener('abort', relay);
    showDownloads(null);
  });
  summarizer = s;
  showDefaults(s.info);
  rememberAppFiles(s.runtime?.appFiles).catch(() => {});
  if (ui.manager.open) refreshModels();
  const notCached = s.files.filter((f) => f.cacheError);
  if (notCached.length) showError(`The model works, but could not be cached for next time (${notCached[0].cacheError}).`);
  return s;
}

// ---- Downloaded models ----------------------------------------------------------------------

/** The catalog label of a cached folder, else its URL. */
function folderLabel(baseUrl) {
  return MODELS.find((m) => resolveModel(m.id).baseUrl === baseUrl)?.label.split(' · ')[0] ?? baseUrl;
}

async function refreshModels() {
  try {
    const folders = await listCached();
    ui.cachedModels.replaceChildren(
      ...folders.map((f) => {
        const li = document.createElement('li');
        const name = Object.assign(document.createElement('span'), { textContent: folderLabel(f.baseUrl), title: f.baseUrl });
        const files = Object.assign(document.createElement('span'), { className: 'meta', textContent: f.files.map((x) => x.name).join(', ') });
        const size = Object.assign(document.createElement('span'), { className: 'size', textContent: mb(f.bytes) });
        const del = Object.assign(document.createElement('button'), { type: 'button', className: 'secondary', textContent: 'Delete' });
        del.setAttribute('aria-label', `Delete ${folderLabel(f.baseUrl)}`);
        del.addEventListener('click', async () => {
          await evict(f.files.map((x) => x.url));
          await refreshModels();
        });
        li.append(name, files, size, del);
        return li;
      }),
    );
    if (!folders.length) ui.cachedModels.replaceChildren(Object.assign(document.createElement('li'), { className: 'empty', textContent: 'No downloaded models.' }));
    ui.clearModels.disabled = !folders.length;
    let text = `${folders.length} downloaded model${folders.length === 1 ? '' : 's'}, ${mb(folders.reduce((n, f) => n + f.bytes, 0))}.`;
    if (navigator.storage?.estimate) {
      const { usage, quota } = await navigator.storage.estimate();
      text += ` This site uses ${mb(usage ?? 0)} of the ${mb(quota ?? 0)} the browser allows it.`;
    }
    if (navigator.storage?.persisted) {
      const kept = await navigator.storage.persisted();
      text += kept ? ' Downloads are kept even when storage runs low.' : ' The browser may remove downloads when storage runs low.';
      ui.persist.hidden = kept;
    }
    ui.storageStatus.textContent = text;
  } catch (err) {
    ui.storageStatus.textContent = `The downloaded models could not be listed: ${err?.message ?? err}`;
  }
}

function setupModelManager() {
  ui.manager.addEventListener('toggle', () => ui.manager.open && refreshModels());
  ui.persist.addEventListener('click', async () => {
    const granted = await navigator.storage?.persist?.().catch(() => false);
    await refreshModels();
    if (!granted) ui.storageStatus.textContent += ' The browser declined to keep them permanently (it decides by how the site is used).';
  });
  ui.clearModels.addEventListener('click', async () => {
    if (!confirm('Delete all downloaded models? They will be downloaded again when used.')) return;
    await clearCached();
    await refreshModels();
  });
}

function setRunning(on) {
  ui.summarize.disabled = on;
  ui.cancel.disabled = !on;
  ui.model.disabled = on;
  ui.openFiles.disabled = on;
}

async function summarize() {
  if (running) return;
  showError('');
  const text = ui.text.value;
  if (!text.trim()) {
    showError('There is no text to summarize: the input is empty or only whitespace.');
    ui.text.focus();
    return;
  }
  let options;
  try {
    options = settings();
  } catch (err) {
    showError(err.message);
    return;
  }
  const controller = new AbortController();
  running = controller;
  setRunning(true);
  ui.summary.textContent = '';
  let committed = '';
  const pending = document.createElement('span');
  pending.className = 'pending';
  const showPending = (text) => {
    pending.textContent = text ? `${committed ? ' ' : ''}${text}` : '';
    ui.summary.replaceChildren(committed, pending);
  };
  ui.progress.value = 0;
  const started = performance.now();
  let tokens = 0;
  let genStart = null;
  let chunkLabel = '';
  let rateShown = 0;
  try {
    const s = await getSummarizer(controller.signal);
    setStatus('Summarizing…');
    const result = await s.summarizeDetailed(text, {
      ...options,
      signal: controller.signal,
      onProgress(e) {
        if (e.type === 'planned') {
          if (e.pass > 0) setStatus(`Summarizing the summary (${e.chunks} chunks)…`);
        } else if (e.type === 'chunk-start') {
          ui.progress.value = e.index / e.total;
          const what = e.pass > 0 ? 'Refining: chunk' : 'Chunk';
          chunkLabel = `${what} ${e.index + 1} of ${e.total}…`;
          setStatus(`${chunkLabel}${rate()}`);
        } else if (e.type === 'token') {
          genStart ??= performance.now();
          tokens++;
          // The rate while generating, a few times a second.
          if (performance.now() - rateShown > 250) {
            rateShown = performance.now();
            setStatus(`${chunkLabel}${rate()}`);
          }
          // The chunk's current best output, shown after the finished chunks until it is done.
          if (e.pass === 0) showPending(e.text);
        } else if (e.type === 'chunk-done') {
          ui.progress.value = (e.index + 1) / e.total;
          if (e.pass === 0) {
            committed += e.delta;
            showPending('');
          }
        }
      },
    });
    ui.summary.textContent = result.text;
    ui.progress.value = 1;
    const chunks = result.passes[0].length;
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    const rt = summarizer?.runtime;
    const engine = rt?.build === 'threads' ? `${rt.threads} threads` : '1 thread';
    const unchecked = summarizer?.integrity?.note ? ` Model files: ${summarizer.integrity.note}.` : '';
    setStatus(`Done: ${chunks} chunk${chunks === 1 ? '' : 's'} in ${secs} s${rate()}, ${engine}.${unchecked}`);
    ui.status.title = rt?.fallback ? `Single-thread build: ${rt.fallback}` : '';
  } catch (err) {
    if (err?.name === 'AbortError') {
      setStatus('Cancelled.');
    } else {
      if (err?.fatal) {
        // The worker died with its logger (a trap, out of memory, a failed worker): record it from the page.
        (await metricsLogger())?.log_error(err, { stage: 'worker', kind: err.kind, model: ui.model.value });
      }
      setStatus('');
      showError(err?.message ?? String(err));
      if (!summarizer?.info || err?.kind === 'download' || err?.kind === 'model-file' || err?.kind === 'integrity') {
        summarizer?.destroy();
        summarizer = null;
      }
    }
  } finally {
    running = null;
    setRunning(false);
  }

  function rate() {
    if (!genStart || tokens < 2) return '';
    const secs = (performance.now() - genStart) / 1000;
    return ` (${(tokens / secs).toFixed(1)} tokens/s)`;
  }
}

function updateCount() {
  const n = ui.text.value.length;
  ui.count.textContent = `${n.toLocaleString()} character${n === 1 ? '' : 's'}`;
}

function setupDrop() {
  const t = ui.text;
  t.addEventListener('dragover', (e) => {
    if (e.dataTransfer?.types.includes('Files')) {
      e.preventDefault();
      t.classList.add('dragging');
    }
  });
  t.addEventListener('dragleave', () => t.classList.remove('dragging'));
  t.addEventListener('drop', async (e) => {
    const file = e.dataTransfer?.files?.[0];
    t.classList.remove('dragging');
    if (!file) return;
    e.preventDefault();
    // Model files dropped on the text box are still model files.
    if ([...e.dataTransfer.files].some((f) => /\.(safetensors|gguf)$/i.test(f.name))) {
      if (!running) useLocalFiles([...e.dataTransfer.files]);
      return;
    }
    if (file.type && !file.type.startsWith('text/') && file.type !== 'application/json') {
      showError(`"${file.name}" is not a text file; drop a .txt or .md file, or paste the text.`);
      return;
    }
    t.value = await file.text();
    updateCount();
    showError('');
  });
}

function setupMetrics() {
  const t = thresholds();
  ui.minTps.value = t.minTokensPerSecond ?? '';
  ui.maxLoad.value = t.maxLoadSeconds ?? '';
  ui.maxError.value = t.maxErrorRatePercent ?? '';
  for (const input of [ui.minTps, ui.maxLoad, ui.maxError]) input.addEventListener('change', saveThresholds);
  ui.dashboard.addEventListener('toggle', () => ui.dashboard.open && refreshDashboard());
  ui.downloadJson.addEventListener('click', () => exportMetrics('json'));
  ui.downloadLog.addEventListener('click', () => exportMetrics('log'));
  ui.clearMetrics.addEventListener('click', clearMetrics);
  metricsLogger().then((logger) => logger && storageNotice(logger.storage_status()));
}

fillModelPicker();
registerOffline().then((problem) => {
  if (problem) ui.offline.textContent = problem;
});
setupMetrics();
setupModelManager();
setupLocalFiles();
setupDrop();
updateCount();
ui.text.addEventListener('input', updateCount);
// The token budget follows the summary's type and length (a new summarizer is made on the next run).
for (const select of [ui.type, ui.length]) select.addEventListener('change', () => summarizer?.info && showDefaults(summarizer.info));
ui.summarize.addEventListener('click', summarize);
ui.cancel.addEventListener('click', () => running?.abort());
ui.text.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) summarize();
});
