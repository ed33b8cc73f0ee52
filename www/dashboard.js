// The performance dashboard: charts and tables drawn from stored metric records.
//
// Pure functions of the records (and the Rust-computed summary), rendered as inline SVG and
// HTML tables, so nothing else has to be downloaded. Every figure shown is a measured field of a
// record; runs are grouped by model identity (URL + revision + SHA-256 of the weights).

const SVG = 'http://www.w3.org/2000/svg';

/** Stages of a run in the stacked bar, in pipeline order. */
export const STAGES = [
  { key: 'normalize', label: 'normalize' },
  { key: 'chunk_plan', label: 'chunk plan' },
  { key: 'tokenize', label: 'tokenize' },
  { key: 'encoder', label: 'encode' },
  { key: 'decode', label: 'decode' },
  { key: 'detokenize', label: 'detokenize' },
  { key: 'merge', label: 'merge' },
  { key: 'other', label: 'other (events, glue)' },
];
const COLORS = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac', '#eeca3b'];

/** Key of a model identity: runs of the same files share it. */
export function modelKey(m) {
  return [m.url ?? m.id, m.revision ?? '', m.sha256 ?? ''].join('|');
}

/** A short human label of a model identity. */
export function modelLabel(m) {
  const parts = [m.dtype, m.revision && m.revision !== 'main' ? m.revision : null, m.sha256 ? `sha256 ${m.sha256.slice(0, 8)}` : null];
  return `${m.id} (${parts.filter(Boolean).join(', ') || 'no hash'})`;
}

const median = (xs) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

/**
 * Summarize runs (those with a total_processing record), oldest first:
 * { runId, model, key, timestamp, total, stages: {stage: s}, tokensPerSecond, chunks, errors }.
 */
export function runsOf(records) {
  const byRun = new Map();
  for (const r of records) {
    if (!byRun.has(r.runId)) byRun.set(r.runId, []);
    byRun.get(r.runId).push(r);
  }
  const runs = [];
  for (const [runId, rs] of byRun) {
    const total = rs.find((r) => r.type === 'total_processing');
    if (!total) continue;
    const stages = Object.fromEntries(STAGES.map((s) => [s.key, 0]));
    const tps = [];
    const ttft = [];
    for (const r of rs) {
      if (r.type === 'preprocessing' && r.operation in stages) stages[r.operation] += r.seconds;
      if (r.type === 'inference') {
        stages.encoder += r.encoderSeconds ?? 0;
        stages.decode += r.decodeSeconds ?? 0;
        if (r.tokensPerSecond != null) tps.push(r.tokensPerSecond);
        if (r.timeToFirstTokenSeconds != null) ttft.push(r.timeToFirstTokenSeconds);
      }
    }
    const known = STAGES.filter((s) => s.key !== 'other').reduce((n, s) => n + stages[s.key], 0);
    stages.other = Math.max(0, total.totalSeconds - known);
    runs.push({
      runId,
      model: total.model,
      key: modelKey(total.model),
      timestamp: total.timestamp,
      total: total.totalSeconds,
      stages,
      tokensPerSecond: mean(tps),
      timeToFirstToken: mean(ttft),
      chunks: total.chunkCount,
      errors: total.errorCount,
    });
  }
  return runs.sort((a, b) => a.timestamp - b.timestamp);
}

/** Models seen in `records`, by identity: { key, model, label, color }. */
export function modelsOf(records) {
  const models = new Map();
  for (const r of records) {
    const key = modelKey(r.model);
    if (!models.has(key)) models.set(key, { key, model: r.model, label: modelLabel(r.model), color: COLORS[models.size % COLORS.length] });
  }
  return models;
}

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    // Styles through the CSSOM: the Content-Security-Policy refuses inline style attributes.
    if (k === 'style') Object.assign(node.style, v);
    else if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

const fmt = (x, digits = 3) => (x == null || Number.isNaN(x) ? '–' : Number(x).toFixed(digits));
const time = (ms) => new Date(ms).toLocaleString();

function figure(title, svg, legend) {
  return el('figure', { class: 'chart' }, el('figcaption', {}, title), svg, legend ?? null);
}

function legendOf(items) {
  return el('ul', { class: 'legend' }, items.map((i) => el('li', {}, el('span', { class: 'swatch', style: { background: i.color } }), i.label)));
}

function emptyNote(text) {
  return el('p', { class: 'empty' }, text);
}

/** Stacked horizontal bars: each run's seconds per stage. */
export function stageChart(runs, limit = 12) {
  const shown = runs.slice(-limit);
  if (!shown.length) return figure('Stage breakdown per run', emptyNote('No finished runs yet.'));
  const W = 640, row = 22, left = 150, H = shown.length * row + 30;
  const max = Math.max(...shown.map((r) => r.total), 1e-9);
  const x = (s) => (s / max) * (W - left - 70);
  const svg = el('svg:svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', role: 'img', 'aria-label': 'Stage breakdown per run' });
  shown.forEach((run, i) => {
    const y = 5 + i * row;
    svg.append(el('svg:text', { x: 0, y: y + 14, class: 'axis' }, `${run.model.id} · ${new Date(run.timestamp).toLocaleTimeString()}`));
    let at = left;
    STAGES.forEach((s, j) => {
      const w = x(run.stages[s.key]);
      if (w <= 0) return;
      svg.append(
        el('svg:rect', { x: at, y, width: Math.max(w, 0.5), height: row - 6, fill: COLORS[j], 'data-stage': s.key },
          el('svg:title', {}, `${s.label}: ${fmt(run.stages[s.key], 4)} s`)),
      );
      at += w;
    });
    svg.append(el('svg:text', { x: at + 4, y: y + 14, class: 'axis' }, `${fmt(run.total, 2)} s`));
  });
  svg.append(el('svg:text', { x: left, y: H - 4, class: 'axis' }, `0 s … ${fmt(max, 2)} s`));
  return figure('Stage breakdown per run (seconds)', svg, legendOf(STAGES.map((s, j) => ({ label: s.label, color: COLORS[j] }))));
}

/** A time series per model: points (x = timestamp, y = value), joined by lines. */
export function timeChart(title, series, unit) {
  const points = series.flatMap((s) => s.points);
  if (!points.length) return figure(title, emptyNote('Nothing measured yet.'));
  const W = 640, H = 220, L = 56, B = 28, T = 10, R = 10;
  const xs = points.map((p) => p.t), ys = points.map((p) => p.v);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const y1 = Math.max(...ys) * 1.1 || 1;
  const px = (t) => (x1 === x0 ? (L + W - R) / 2 : L + ((t - x0) / (x1 - x0)) * (W - L - R));
  const py = (v) => T + (1 - v / y1) * (H - T - B);
  const svg = el('svg:svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', role: 'img', 'aria-label': title });
  svg.append(el('svg:line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'gridline' }));
  svg.append(el('svg:line', { x1: L, y1: T, x2: L, y2: H - B, class: 'gridline' }));
  for (const f of [0, 0.5, 1]) {
    const v = y1 * f;
    svg.append(el('svg:text', { x: L - 4, y: py(v) + 4, class: 'axis', 'text-anchor': 'end' }, fmt(v, v < 10 ? 2 : 0)));
  }
  svg.append(el('svg:text', { x: L, y: H - 8, class: 'axis' }, time(x0)));
  if (x1 !== x0) svg.append(el('svg:text', { x: W - R, y: H - 8, class: 'axis', 'text-anchor': 'end' }, time(x1)));
  for (const s of series) {
    const pts = s.points.sort((a, b) => a.t - b.t);
    if (pts.length > 1) svg.append(el('svg:polyline', { points: pts.map((p) => `${px(p.t)},${py(p.v)}`).join(' '), fill: 'none', stroke: s.color, 'stroke-width': 1.5 }));
    for (const p of pts) {
      svg.append(el('svg:circle', { cx: px(p.t), cy: py(p.v), r: 3, fill: s.color, 'data-value': p.v }, el('svg:title', {}, `${s.label}: ${fmt(p.v, 2)} ${unit} at ${time(p.t)}`)));
    }
  }
  return figure(title, svg, legendOf(series));
}

function table(caption, head, rows) {
  return el(
    'table',
    {},
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, head.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c, i) => (i === 0 ? el('th', { scope: 'row' }, c) : el('td', {}, c)))))),
  );
}

function change(now, before, higherIsBetter) {
  if (now == null || before == null || before === 0) return '–';
  const pct = ((now - before) / before) * 100;
  const better = higherIsBetter ? pct > 0 : pct < 0;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)} %${Math.abs(pct) < 0.05 ? '' : better ? ' (better)' : ' (worse)'}`;
}

/** The latest run against the previous runs of the same model. */
export function historyTable(runs) {
  const last = runs.at(-1);
  if (!last) return emptyNote('No finished runs yet.');
  const prev = runs.filter((r) => r.key === last.key && r !== last);
  const m = (f) => median(prev.map(f).filter((v) => v != null));
  const rows = [
    ['Total seconds', fmt(last.total), fmt(m((r) => r.total)), change(last.total, m((r) => r.total), false)],
    ['Tokens/s (mean of chunks)', fmt(last.tokensPerSecond, 1), fmt(m((r) => r.tokensPerSecond), 1), change(last.tokensPerSecond, m((r) => r.tokensPerSecond), true)],
    ['Time to first token (s)', fmt(last.timeToFirstToken), fmt(m((r) => r.timeToFirstToken)), change(last.timeToFirstToken, m((r) => r.timeToFirstToken), false)],
    ['Encode seconds', fmt(last.stages.encoder), fmt(m((r) => r.stages.encoder)), change(last.stages.encoder, m((r) => r.stages.encoder), false)],
    ['Chunks', String(last.chunks), fmt(m((r) => r.chunks), 1), ''],
  ];
  return table(`Latest run of ${modelLabel(last.model)} against its ${prev.length} previous run${prev.length === 1 ? '' : 's'} (median)`, ['Metric', 'This run', 'Previous', 'Change'], rows);
}

/** Model against model: one row per model identity. */
export function modelsTable(records, runs, models) {
  if (!models.size) return emptyNote('No models measured yet.');
  const rows = [...models.values()].map(({ key, label }) => {
    const rs = runs.filter((r) => r.key === key);
    const loads = records.filter((r) => r.type === 'model_loading' && modelKey(r.model) === key).map((r) => r.loadSeconds);
    const chunks = rs.reduce((n, r) => n + r.chunks, 0);
    const errors = rs.reduce((n, r) => n + r.errors, 0);
    return [
      label,
      String(rs.length),
      String(loads.length),
      fmt(median(loads), 3),
      fmt(median(rs.map((r) => r.tokensPerSecond).filter((v) => v != null)), 1),
      fmt(median(rs.map((r) => r.total)), 3),
      chunks + errors ? `${((100 * errors) / Math.max(chunks, 1)).toFixed(1)} %` : '–',
    ];
  });
  return table('Models compared (grouped by URL, revision and weights hash; medians)', ['Model', 'Runs', 'Loads', 'Load s', 'Tokens/s', 'Total s', 'Errors'], rows);
}

/** Per-stage statistics from get_performance_summary(). */
export function summaryTable(summary) {
  const rows = Object.entries(summary.stages).map(([stage, s]) => [stage, String(s.count), fmt(s.mean, 4), fmt(s.p50, 4), fmt(s.p95, 4), fmt(s.min, 4), fmt(s.max, 4)]);
  if (summary.tokensPerSecond) {
    const s = summary.tokensPerSecond;
    rows.push(['tokens/s', String(s.count), fmt(s.mean, 1), fmt(s.p50, 1), fmt(s.p95, 1), fmt(s.min, 1), fmt(s.max, 1)]);
  }
  return table(
    `Per stage (seconds) over ${summary.recordCount} records · success ${summary.successRatePercent.toFixed(1)} %, errors ${summary.errorRatePercent.toFixed(1)} % · ${summary.errorsLogged} errors logged · ${summary.alerts} alerts`,
    ['Stage', 'Count', 'Mean', 'p50', 'p95', 'Min', 'Max'],
    rows,
  );
}

/** Renders every chart and table into `container` (replacing its content). */
export function renderDashboard(container, { records, summary }) {
  const runs = runsOf(records);
  const models = modelsOf(records);
  // One series per model: the items of that model with a measured value.
  const series = (items, keyOf, value) =>
    [...models.values()]
      .map((m) => ({
        label: m.label,
        color: m.color,
        points: items.filter((x) => keyOf(x) === m.key && value(x) != null).map((x) => ({ t: x.timestamp, v: value(x) })),
      }))
      .filter((s) => s.points.length);
  const loads = records.filter((r) => r.type === 'model_loading');
  container.replaceChildren(
    stageChart(runs),
    timeChart(
      "Tokens per second over time (mean of each run's chunks)",
      series(runs, (r) => r.key, (r) => r.tokensPerSecond),
      'tokens/s',
    ),
    timeChart('Model load time over time (seconds)', series(loads, (r) => modelKey(r.model), (r) => r.loadSeconds), 's'),
    historyTable(runs),
    modelsTable(records, runs, models),
    summaryTable(summary),
  );
}
