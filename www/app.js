// The page: wires the form to the Summarizer API and keeps the user informed.
//
// Nothing here touches the model directly; everything goes through summarizer.js. The text in
// the textarea is never cleared or altered, whatever fails.
import { Summarizer } from './summarizer.js';
import { MODELS, resolveModel } from './models.js';

const $ = (id) => document.getElementById(id);
const ui = {
  model: $('model'),
  text: $('text'),
  count: $('count'),
  summarize: $('summarize'),
  cancel: $('cancel'),
  progress: $('progress'),
  status: $('status'),
  error: $('error'),
  summary: $('summary'),
  maxNew: $('max-new-tokens'),
  minNew: $('min-new-tokens'),
  maxInput: $('max-input-tokens'),
  refine: $('refine'),
};

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

function settings() {
  return {
    maxNewTokens: readNumber(ui.maxNew),
    minNewTokens: readNumber(ui.minNew),
    maxInputTokens: readNumber(ui.maxInput),
    refine: ui.refine.checked,
  };
}

async function getSummarizer(signal) {
  const wanted = resolveModel(ui.model.value);
  if (summarizer && summarizer.model.baseUrl === wanted.baseUrl) return summarizer;
  summarizer?.destroy();
  summarizer = null;
  setStatus(`Loading ${wanted.label}…`);
  const s = await Summarizer.create({
    model: wanted,
    signal,
    monitor(m) {
      m.addEventListener('downloadprogress', (e) => {
        ui.progress.value = e.loaded;
        if (e.phase === 'load') setStatus(`Preparing ${wanted.label}…`);
        else setStatus(`Downloading ${e.file}… ${mb(e.bytesLoaded)}${e.bytesTotal ? ` of ${mb(e.bytesTotal)}` : ''}`);
      });
    },
  });
  summarizer = s;
  const info = s.info;
  ui.maxNew.placeholder = String(info.maxNewTokens);
  ui.minNew.placeholder = String(info.minNewTokens);
  ui.maxInput.placeholder = String(info.maxInputTokens);
  const notCached = s.files.filter((f) => f.cacheError);
  if (notCached.length) showError(`The model works, but could not be cached for next time (${notCached[0].cacheError}).`);
  return s;
}

function setRunning(on) {
  ui.summarize.disabled = on;
  ui.cancel.disabled = !on;
  ui.model.disabled = on;
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
  ui.progress.value = 0;
  const started = performance.now();
  let tokens = 0;
  let genStart = null;
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
          setStatus(`${what} ${e.index + 1} of ${e.total}…${rate()}`);
        } else if (e.type === 'token') {
          genStart ??= performance.now();
          tokens++;
        } else if (e.type === 'chunk-done') {
          ui.progress.value = (e.index + 1) / e.total;
          if (e.pass === 0) ui.summary.textContent += e.delta;
        }
      },
    });
    ui.summary.textContent = result.text;
    ui.progress.value = 1;
    const chunks = result.passes[0].length;
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    setStatus(`Done: ${chunks} chunk${chunks === 1 ? '' : 's'} in ${secs} s${rate()}.`);
  } catch (err) {
    if (err?.name === 'AbortError') {
      setStatus('Cancelled.');
    } else {
      setStatus('');
      showError(err?.message ?? String(err));
      if (!summarizer?.info || err?.kind === 'download' || err?.kind === 'model-file') {
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
    if (file.type && !file.type.startsWith('text/') && file.type !== 'application/json') {
      showError(`"${file.name}" is not a text file; drop a .txt or .md file, or paste the text.`);
      return;
    }
    t.value = await file.text();
    updateCount();
    showError('');
  });
}

fillModelPicker();
setupDrop();
updateCount();
ui.text.addEventListener('input', updateCount);
ui.summarize.addEventListener('click', summarize);
ui.cancel.addEventListener('click', () => running?.abort());
ui.text.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) summarize();
});
