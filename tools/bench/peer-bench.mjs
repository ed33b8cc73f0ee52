// Side-by-side benchmark through the public APIs, the way a user meets both: this project's JS
// API (Summarizer.create / summarizeDetailed) against transformers.js (AutoModelForSeq2SeqLM,
// onnxruntime-web) on the same generated t5-small-shaped weights (ONNX export of them, fp32 and
// q8), the same ~512-token input, in headless Chromium. Each system runs in a fresh browser;
// the rounds are interleaved (round 1 of every system, then round 2, …) so the machine's drift
// cannot favour one. Prints medians with their range, ratios to transformers.js with a verdict
// per target (issue 15), and writes bench-out/peer-<shape>.{json,txt}.
//
//   node tools/bench/peer-bench.mjs [--shape t5-small] [--rounds 3] [--tokens 64] [--beam 1]
//        [--models bench-out/models] [--peer bench-out/peer] [--only 'q8;…' (a whole system name picks it alone, other terms match within names)] [--json …]
//        [--warmups 1 (short summaries each system runs before the timed ones; 0: the timed run is the first)]
//        [--pause 0 (ms each system waits before its timed run, as a user pastes or reads: with
//        --warmups 0 --pause 1000, the first summary a user meets after a load)]
//        [--baseline DIR (a copy of www/ built from another commit: each of ours picked runs from it
//        too, as "baseline: <name>", interleaved with the rest; a before/after in one run)]
//   CHROMIUM_EXTRA='--js-flags=…' passes switches to Chromium (a diagnostic: --no-liftoff
//   compiles all wasm with the optimizing compiler at once).
//   SMAPS=1 prints, at each phase mark, the page renderer's resident memory by kind of mapping
//   (anonymous by permissions and size, file-backed by name) to stderr: where a peak comes from.
// Run by `./build.sh bench --peer`, which builds the app, generates the model and exports it.
import path from 'node:path';
import fs from 'node:fs';
import { chromium } from '../../tests/page/node_modules/playwright-core/index.mjs';
import { Tokenizer } from './peer/node_modules/@huggingface/tokenizers/dist/tokenizers.mjs';
import { startServer } from '../serve.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const args = { shape: 't5-small', rounds: '3', tokens: '64', beam: '1', models: 'bench-out/models', peer: 'bench-out/peer', only: null, json: null, baseline: null, warmups: '1', pause: '0' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '');
  if (!(key in args) || argv[i + 1] === undefined) {
    console.error(`peer-bench: unknown or incomplete argument '${argv[i]}'`);
    process.exit(2);
  }
  args[key] = argv[i + 1];
}
args.json ??= `bench-out/peer-${args.shape}.json`;
const rounds = Number(args.rounds);
const tokens = Number(args.tokens);
const modelDir = path.resolve(root, args.models, args.shape);
const peerDir = path.resolve(root, args.peer, args.shape);
for (const f of [path.join(modelDir, 'tokenizer.json'), path.join(peerDir, 'onnx/encoder_model_quantized.onnx')]) {
  if (!fs.existsSync(f)) {
    console.error(`peer-bench: ${f} is missing: run ./build.sh bench --peer (it generates and exports the model)`);
    process.exit(1);
  }
}

// The input: the test article, repeated and cut at a sentence end so that prefix + text + end
// token is as close to 512 tokens as fits (one chunk for both systems).
const PREFIX = 'summarize: ';
const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(path.join(modelDir, 'tokenizer.json'), 'utf8')), {});
const article = fs.readFileSync(path.join(root, 'tests/fixtures/article.txt'), 'utf8').replace(/\s+/g, ' ').trim();
const sentences = article.repeat(20).match(/[^.!?]+[.!?]+\s*/g);
let text = '';
for (const s of sentences) {
  const next = text + s;
  if (tokenizer.encode(PREFIX + next.trim()).ids.length > 512) break;
  text = next;
}
text = text.trim();

// [name, kind, options]: ours = this project's API (file: weights; threads: false = the
// single-thread build, true = the threaded build on every core; relaxedSimd: false = plain
// SIMD128; quantize: 'int8' = the q8_0 file converted at load to int8 rows); peer =
// transformers.js (dtype, onnxruntime threads).
const INT8 = { file: 'model-q8_0.gguf', quantize: 'int8' };
const ALL_SYSTEMS = [
  ['transformers.js q8', 'peer', { dtype: 'q8', threads: 1 }],
  ['ours int8', 'ours', { ...INT8, threads: false }],
  ['ours int8 (plain SIMD128 build)', 'ours', { ...INT8, threads: false, relaxedSimd: false }],
  ['ours q8_0', 'ours', { file: 'model-q8_0.gguf', threads: false }],
  ['ours q8_0 (plain SIMD128 build)', 'ours', { file: 'model-q8_0.gguf', threads: false, relaxedSimd: false }],
  ['transformers.js q8, 2 threads', 'peer', { dtype: 'q8', threads: 2 }],
  ['ours int8, 2 threads', 'ours', { ...INT8, threads: true }],
  ['ours q8_0, 2 threads', 'ours', { file: 'model-q8_0.gguf', threads: true }],
  ['transformers.js fp32', 'peer', { dtype: 'fp32', threads: 1 }],
  ['ours f32', 'ours', { file: 'model.safetensors', threads: false }],
  ['transformers.js fp32, 2 threads', 'peer', { dtype: 'fp32', threads: 2 }],
  ['ours f32, 2 threads', 'ours', { file: 'model.safetensors', threads: true }],
];
// --only: terms separated by ';' (names hold commas); a term that is a system's whole name picks
// that system alone, any other term every system whose name contains it.
const terms = args.only?.split(';').map((o) => o.trim());
const isName = (term) => ALL_SYSTEMS.some(([name]) => name === term);
const PICKED = ALL_SYSTEMS.filter(([name]) => !terms || terms.some((o) => (isName(o) ? name === o : name.includes(o))));
const SYSTEMS = args.baseline
  ? PICKED.flatMap((s) => (s[1] === 'ours' ? [s, [`baseline: ${s[0]}`, 'ours', { ...s[2], baseline: true }]] : [s]))
  : PICKED;

const MOUNTS = {
  '/bench-model': modelDir,
  '/peer-model/model': peerDir,
  '/peer-js': path.join(root, 'tools/bench/peer/node_modules/@huggingface/transformers/dist'),
  '/peer-ort': path.join(root, 'tools/bench/peer/node_modules/onnxruntime-web/dist'),
  '/bench': path.join(root, 'tools/bench'),
};
const server = await startServer({ root: path.join(root, 'www'), mounts: MOUNTS, port: 0 });
const baselineServer = args.baseline ? await startServer({ root: path.resolve(args.baseline), mounts: MOUNTS, port: 0 }) : null;

/** Resident memory of each of the browser's renderer processes, bytes: Map pid → RSS. */
function rendererRss(browserPid) {
  const children = new Map();
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  const rss = new Map();
  const walk = (pid) => {
    for (const c of children.get(pid) ?? []) {
      try {
        if (fs.readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('--type=renderer')) {
          const kb = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${c}/status`, 'utf8'));
          if (kb) rss.set(c, Number(kb[1]) * 1024);
        }
      } catch {
        // gone meanwhile
      }
      walk(c);
    }
  };
  walk(browserPid);
  return rss;
}

/**
 * Peaks of renderer memory over a run, sampled: per renderer process, and of their sum. Chromium
 * runs more renderers than the page's (a spare one kept warm, one for its own internals); the
 * page and its workers live in one, which is the one that grows by the model's size at load:
 * `page()` is the peak of the renderer that was the largest at the last `mark()`.
 */
class RssPeaks {
  constructor(browserPid) {
    this.browserPid = browserPid;
    this.byPid = new Map();
    this.sum = 0;
    this.pagePid = null;
  }

  sample() {
    const now = rendererRss(this.browserPid);
    let total = 0;
    for (const [pid, bytes] of now) {
      total += bytes;
      this.byPid.set(pid, Math.max(this.byPid.get(pid) ?? 0, bytes));
    }
    this.sum = Math.max(this.sum, total);
    return now;
  }

  /** Samples, takes the largest renderer as the page's; a snapshot to resolve with `at()`. */
  mark() {
    const now = this.sample();
    let largest = null;
    for (const [pid, bytes] of now) if (largest === null || bytes > now.get(largest)) largest = pid;
    if (largest !== null) this.pagePid = largest;
    return { now, peaks: new Map(this.byPid) };
  }

  /** A mark's { nowBytes, peakBytes } of the page renderer (as known at the last mark). */
  at({ now, peaks }) {
    return { nowBytes: now.get(this.pagePid) ?? 0, peakBytes: peaks.get(this.pagePid) ?? 0 };
  }

  page() {
    return this.byPid.get(this.pagePid) ?? 0;
  }
}

/** A diagnostic (SMAPS=1): the page renderer's resident memory by kind of mapping, to stderr. */
function smapsSummary(pid, phase) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return;
  }
  const byName = new Map();
  let name = null;
  let size = 0;
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      name = head[2] || `[anon ${head[1]}]`;
      size = 0;
      continue;
    }
    const m = /^(Size|Rss):\s+(\d+) kB/.exec(line);
    if (m?.[1] === 'Size') size = Number(m[2]);
    if (m?.[1] === 'Rss' && name !== null) {
      const key = name.startsWith('/') ? path.basename(name) : `${name} (${size >= 65536 ? '≥64 MB' : size >= 1024 ? '1–64 MB' : '<1 MB'} mappings)`;
      byName.set(key, (byName.get(key) ?? 0) + Number(m[2]));
    }
  }
  const top = [...byName].sort((a, b) => b[1] - a[1]).slice(0, 8);
  process.stderr.write(`\n  smaps at ${phase}: ${top.map(([k, kb]) => `${k} ${(kb / 1024).toFixed(0)} MB`).join(', ')}\n`);
}

const LAUNCH_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', ...(process.env.CHROMIUM_EXTRA ? process.env.CHROMIUM_EXTRA.split(' ') : [])];

/** One round of one system: a fresh browser, a fresh profile. */
async function measure(kind, options) {
  const browserServer = await chromium.launchServer({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: LAUNCH_ARGS });
  const pid = browserServer.process().pid;
  const peaks = new RssPeaks(pid);
  const sampler = setInterval(() => peaks.sample(), 50);
  try {
    const browser = await chromium.connect(browserServer.wsEndpoint());
    const page = await browser.newPage();
    // Where the memory goes: the page renderer's RSS now and its peak so far, at each phase's end.
    const marks = {};
    await page.exposeFunction('benchMark', (phase) => {
      marks[phase] = peaks.mark();
      if (process.env.SMAPS) smapsSummary(peaks.pagePid, phase);
    });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${(options.baseline ? baselineServer : server).url}bench/peer.html`);
    if (!(await page.evaluate(() => crossOriginIsolated))) throw new Error('the bench page is not cross-origin isolated');
    const r = await page.evaluate(
      async ({ kind, options }) => {
        const m = await import('/bench/peer-run.js');
        return kind === 'ours' ? m.runOurs(options) : m.runPeer(options);
      },
      { kind, options: { ...options, text, tokens, beam: args.beam !== '0', prefix: PREFIX, warmups: Number(args.warmups), pauseMs: Number(args.pause) } },
    );
    peaks.sample(); // not a mark: the model is freed by now, so the largest renderer may be another
    await browser.close();
    for (const phase of Object.keys(marks)) marks[phase] = peaks.at(marks[phase]);
    return { ...r, peakRendererBytes: peaks.page(), peakAllRenderersBytes: peaks.sum, marks, browser: browser.version() };
  } finally {
    clearInterval(sampler);
    await browserServer.close();
  }
}

const results = Object.fromEntries(SYSTEMS.map(([name]) => [name, []]));
let browserVersion = null;
try {
  for (let round = 1; round <= rounds; round++) {
    for (const [name, kind, options] of SYSTEMS) {
      process.stderr.write(`round ${round}/${rounds}: ${name} …`);
      const r = await measure(kind, options);
      browserVersion = r.browser;
      results[name].push(r);
      process.stderr.write(` load ${r.loadMs.toFixed(0)} ms, first token ${r.greedy.firstTokenMs.toFixed(0)} ms, ${r.greedy.decodeMsPerToken.toFixed(1)} ms/token\n`);
    }
  }
} finally {
  await server.close();
  await baselineServer?.close();
}

// ---- report ----
const stat = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  return { median: v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2, min: v[0], max: v.at(-1), n: v.length };
};
const pick = (name, f) => stat(results[name].map(f));
const METRICS = {
  loadS: (r) => r.loadMs / 1000,
  encodeMs: (r) => r.greedy.encodeMs,
  firstTokenMs: (r) => r.greedy.firstTokenMs,
  decodeMsPerToken: (r) => r.greedy.decodeMsPerToken,
  greedyTotalMs: (r) => r.greedy.totalMs,
  beamTotalMs: (r) => r.beam?.totalMs ?? null,
  beamSteps: (r) => r.beam?.steps ?? null,
  beamMsPerStep: (r) => r.beam?.decodeMsPerToken ?? null,
  peakMB: (r) => r.peakRendererBytes / 1e6,
  peakAllMB: (r) => (r.peakAllRenderersBytes ? r.peakAllRenderersBytes / 1e6 : null),
};
const table = Object.fromEntries(SYSTEMS.map(([name]) => [name, Object.fromEntries(Object.entries(METRICS).map(([k, f]) => [k, pick(name, f)]))]));

// Same input for everyone, and how far the greedy tokens agree.
const inputs = SYSTEMS.map(([name]) => [name, results[name][0].inputIds]);
const [, refIds] = inputs[0];
const sameInput = inputs.every(([, ids]) => ids.length === refIds.length && ids.every((x, i) => x === refIds[i]));
const agreement = (a, b) => {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
};

const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d));
const cell = (s, d = 0) => (s ? `${fmt(s.median, d)} (${fmt(s.min, d)}–${fmt(s.max, d)})` : '–');
const lines = [];
const out = (s = '') => lines.push(s);
out(`\n${args.shape} (seeded random weights), Chromium ${browserVersion}, input ${refIds.length} tokens${sameInput ? ' (the same ids for every system)' : ' — INPUT IDS DIFFER between systems: see inputTokens in the JSON'},`);
out(`greedy ${tokens} forced new tokens; beam = t5-small's summarization settings; median (min–max) of ${rounds} round(s), each system in a fresh browser, rounds interleaved, ${args.warmups} short warm-up summar${args.warmups === '1' ? 'y' : 'ies'} first${args.pause !== '0' ? `, then a pause of ${args.pause} ms` : ''}.`);
out("encode = first token less one decode step (what the input costs); load = create() from the local server into a fresh profile; peak = the page renderer's RSS (where the page and its workers run: the renderer the model load grew); all renderers = the sum over every renderer Chromium ran (its spare and internal ones too).");
const cols = [
  ['encode ms', 'encodeMs', 0],
  ['first token ms', 'firstTokenMs', 0],
  ['decode ms/token', 'decodeMsPerToken', 1],
  [`greedy ${tokens} ms`, 'greedyTotalMs', 0],
  ['beam ms', 'beamTotalMs', 0],
  ['beam steps', 'beamSteps', 0],
  ['beam ms/step', 'beamMsPerStep', 1],
  ['load s', 'loadS', 2],
  ['peak MB', 'peakMB', 0],
  ['all renderers MB', 'peakAllMB', 0],
];
out(`| system | ${cols.map(([h]) => h).join(' | ')} |`);
out(`|---|${cols.map(() => '---').join('|')}|`);
for (const [name] of SYSTEMS) out(`| ${name} | ${cols.map(([, k, d]) => cell(table[name][k], d)).join(' | ')} |`);

// Fidelity beside speed: ours against transformers.js on the same weights (greedy ids).
out('\ngreedy tokens in agreement with transformers.js (leading tokens equal, of ' + tokens + '):');
for (const [ours, peer] of [['ours f32', 'transformers.js fp32'], ['ours int8', 'transformers.js q8'], ['ours int8', 'transformers.js fp32'], ['ours int8', 'ours f32'], ['ours q8_0', 'transformers.js fp32'], ['transformers.js q8', 'transformers.js fp32']]) {
  if (results[ours] && results[peer]) out(`  ${ours} vs ${peer}: ${agreement(results[ours][0].greedy.outputIds, results[peer][0].greedy.outputIds)}`);
}
const beamNote = results['transformers.js q8']?.[0]?.beam;
if (beamNote) out('note: transformers.js 4.3.2 accepts num_beams but keeps one hypothesis (its beam sampler\'s first candidate): its "beam" row is greedy search with the other settings; ours runs 4 beams as one batch.');

// Where ours spends a greedy run (median over rounds of each stage's ms per call × calls / tokens).
const profiled = SYSTEMS.filter(([name, kind]) => kind === 'ours' && results[name][0].profile?.stages);
if (profiled.length) {
  out(`\nours, per stage (profile: true; ms per generated token, median of rounds; encoder stages per run):`);
  const stages = [...new Set(profiled.flatMap(([name]) => results[name][0].profile.stages.map((s) => s.stage)))];
  out(`| stage | ${profiled.map(([n]) => n).join(' | ')} |`);
  out(`|---|${profiled.map(() => '---').join('|')}|`);
  for (const stage of stages) {
    const perRun = stage.startsWith('encoder') || stage.startsWith('text.') || stage === 'decoder.cross_kv';
    const cells = profiled.map(([name]) => {
      const s = stat(results[name].map((r) => {
        const st = r.profile.stages.find((x) => x.stage === stage);
        return st ? st.ms / (perRun ? 1 : tokens) : null;
      }));
      return s ? fmt(s.median, perRun ? 0 : 2) : '–';
    });
    out(`| ${stage}${perRun ? ' (ms per run)' : ''} | ${cells.join(' | ')} |`);
  }
  const cells = profiled.map(([name]) => fmt(stat(results[name].map((r) => r.profile.totalMs)).median, 0));
  out(`| whole profiled run, ms | ${cells.join(' | ')} |`);
}

// Where the peak comes from: renderer RSS at each phase's end (now / peak so far), and for ours
// the worker's wasm linear memory and Rust heap peak (from its metric records).
out("\nthe page renderer's memory by phase, MB (median of rounds; now / peak so far at the end of each phase; ours: wasm linear memory, Rust heap peak, model tensors):");
out('| system | before load | downloaded | load | greedy | beam | wasm memory | Rust heap peak | model |');
out('|---|---|---|---|---|---|---|---|---|');
for (const [name, kind] of SYSTEMS) {
  const at = (phase) => {
    const n = stat(results[name].map((r) => (r.marks?.[phase] ? r.marks[phase].nowBytes / 1e6 : null)));
    const p = stat(results[name].map((r) => (r.marks?.[phase] ? r.marks[phase].peakBytes / 1e6 : null)));
    return n ? `${fmt(n.median)} / ${fmt(p.median)}` : '–';
  };
  const w = (k) => (kind === 'ours' ? cell(stat(results[name].map((r) => (r.wasm?.[k] ? r.wasm[k] / 1e6 : null)))) : '–');
  out(`| ${name} | ${at('start')} | ${at('downloaded')} | ${at('load')} | ${at('greedy')} | ${at('beam')} | ${w('linearMemoryBytes')} | ${w('rustPeakBytes')} | ${w('modelBytes')} |`);
}

// Where ours' load time goes (its model_loading record): the slowest file's fetch (download into
// the cache, hashing on the way), hashing, parsing (reading the tensors from the cached file).
out('\nours, the first token (ms, median of rounds) as the page saw it / as the worker timed it from its chunk\'s start / of which the encoder (with the cross-attention keys and values):');
for (const [name, kind] of SYSTEMS) {
  if (kind !== 'ours') continue;
  const w = (f) => fmt(pick(name, (r) => (r.greedy.worker ? f(r.greedy.worker) : null))?.median, 1);
  out(`  ${name}: ${fmt(table[name].firstTokenMs.median, 1)} / ${w((x) => x.firstTokenMs)} / ${w((x) => x.encoderMs)}`);
}
out('\nours, load (s, median of rounds): whole / slowest fetch (download, streamed into the cache and hashed) / of which hashing / building the model from the cached file:');
for (const [name, kind] of SYSTEMS) {
  if (kind !== 'ours') continue;
  const f = (k) => fmt(stat(results[name].map((r) => r.loading?.[k] ?? null))?.median, 3);
  out(`  ${name}: ${f('loadSeconds')} / ${f('fetchSeconds')} / ${f('hashSeconds')} / ${f('parseSeconds')}`);
}

// Targets of issue 15: ratios to transformers.js in this run.
const verdicts = [];
const ratio = (a, b, key) => (table[a]?.[key] && table[b]?.[key] ? table[a][key].median / table[b][key].median : null);
const check = (what, value, limit) => {
  if (value === null) {
    out(`  NOT MEASURED  ${what}`);
    verdicts.push({ target: what, value: null, limit, holds: null });
    return;
  }
  const holds = value <= limit;
  verdicts.push({ target: what, value, limit, holds });
  out(`  ${holds ? 'HOLDS ' : 'MISSED'}  ${what}: ${fmt(value, 2)} (limit ${limit})`);
};
out('\ntargets (ratio of medians, ours ÷ transformers.js, same run):');
// Ours "q8" is the int8-row format (the same 8-bit download as q8_0, converted at load).
const Q8 = 'ours int8';
out(`  (ours q8 = "${Q8}")`);
check('q8 encode, 1 thread', ratio(Q8, 'transformers.js q8', 'encodeMs'), 0.7);
check('q8 encode, 2 threads', ratio(`${Q8}, 2 threads`, 'transformers.js q8, 2 threads', 'encodeMs'), 0.7);
check('f32 encode, 1 thread', ratio('ours f32', 'transformers.js fp32', 'encodeMs'), 0.8);
check('q8 decode ms/token, 1 thread', ratio(Q8, 'transformers.js q8', 'decodeMsPerToken'), 0.35);
check('q8 decode ms/token, 2 threads ÷ ours 1 thread', ratio(`${Q8}, 2 threads`, Q8, 'decodeMsPerToken'), 1.0);
check('q8 encode, 2 threads ÷ ours 1 thread (≥ 1.7× faster)', ratio(`${Q8}, 2 threads`, Q8, 'encodeMs'), 1 / 1.7);
check(`q8 whole summarize (greedy, ${tokens} tokens)`, ratio(Q8, 'transformers.js q8', 'greedyTotalMs'), 0.5);
check('q8 load', ratio(Q8, 'transformers.js q8', 'loadS'), 0.5);
check('q8 peak memory', ratio(Q8, 'transformers.js q8', 'peakMB'), 0.6);
// Diagnostics (no limit): what 4 beams as one batch cost per step against one hypothesis.
for (const name of ['ours int8', 'ours q8_0', 'ours f32']) {
  const r = ratio(name, name, 'beamMsPerStep') && table[name].beamMsPerStep.median / table[name].decodeMsPerToken.median;
  if (r) out(`  (${name}: a 4-beam step costs ${fmt(r, 2)}× a greedy step)`);
}

const doc = { shape: args.shape, browser: `Chromium ${browserVersion}`, rounds, tokens, inputTokens: refIds.length, sameInput, table, targets: verdicts, results };
console.log(lines.join('\n'));
fs.mkdirSync(path.dirname(path.resolve(root, args.json)), { recursive: true });
fs.writeFileSync(path.resolve(root, args.json), JSON.stringify(doc, null, 2));
fs.writeFileSync(path.resolve(root, args.json).replace(/\.json$/, '.txt'), lines.join('\n') + '\n');
console.error(`wrote ${args.json}`);
