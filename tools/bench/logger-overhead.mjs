// Measures what the performance logger costs on a full summarize, in headless Chromium, inside a
// module worker as in the app: the same text summarized with metrics on and off, alternating.
// Prints medians, spread and the overhead in percent, and one JSON line.
//
//   node tools/bench/logger-overhead.mjs [model dir = tests/fixtures/tiny-t5] [reps = 15]
import path from 'node:path';
import fs from 'node:fs';
import { chromium } from '../../tests/page/node_modules/playwright-core/index.mjs';
import { startServer } from '../serve.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const [dir = path.join(root, 'tests/fixtures/tiny-t5'), reps = '15'] = process.argv.slice(2);
const text = fs.readFileSync(path.join(root, 'tests/fixtures/article.txt'), 'utf8');
const options = { maxInputTokens: 96, maxNewTokens: 16, minNewTokens: 4 };
const server = await startServer({
  root: path.join(root, 'www'),
  mounts: { '/bench-model': path.resolve(dir), '/bench': path.join(root, 'tools/bench') },
  port: 0,
});
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
});
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
try {
  const page = await browser.newPage();
  await page.goto(server.url);
  const { results, nowUs } = await page.evaluate(
    ({ text, options, reps }) =>
      new Promise((resolve, reject) => {
        const w = new Worker('/bench/overhead-worker.js', { type: 'module' });
        w.onmessage = (e) => resolve(e.data);
        w.onerror = (e) => reject(new Error(e.message));
        w.postMessage({ base: '/bench-model/', text, options, reps });
      }),
    { text, options, reps: Number(reps) },
  );
  const on = results.filter((r) => r.on).map((r) => r.ms);
  const off = results.filter((r) => !r.on).map((r) => r.ms);
  const [mOn, mOff] = [median(on), median(off)];
  // Each repetition ran once on and once off back to back: the median of those paired
  // differences is far less sensitive to the VM's drifting speed than a difference of medians.
  const diffs = [];
  for (let i = 0; i + 1 < results.length; i += 2) {
    const [a, b] = [results[i], results[i + 1]];
    diffs.push((a.on ? a.ms : b.ms) - (a.on ? b.ms : a.ms));
  }
  const overhead = (median(diffs) / mOff) * 100;
  const fmt = (xs) => `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, n=${xs.length})`;
  console.log(`model: ${dir}`);
  console.log(`summarize: ${results[0].chunks} chunks, ${results.find((r) => r.on).records} records per run`);
  console.log(`metrics on : ${fmt(on)}`);
  console.log(`metrics off: ${fmt(off)}`);
  const flush = results.filter((r) => r.on).map((r) => r.flushMs);
  console.log(`after the result: serialize, store in IndexedDB (mostly waiting for the commit): ${fmt(flush)}`);
  console.log(`paired difference on - off: median ${median(diffs).toFixed(2)} ms (min ${Math.min(...diffs).toFixed(1)}, max ${Math.max(...diffs).toFixed(1)})`);
  const withFlush = ((median(diffs) + median(flush)) / mOff) * 100;
  const logging = results.filter((r) => r.on).map((r) => r.loggingMs);
  console.log(`building + queuing the records (measured in the run): ${fmt(logging)}`);
  const reads = median(results.filter((r) => r.on).map((r) => r.reads));
  const readsMs = (reads * nowUs) / 1000;
  console.log(`timer reads during a run: ${reads} × ${nowUs.toFixed(3)} µs (one performance.now(), measured) = ${readsMs.toFixed(2)} ms`);
  const direct = median(logging) + readsMs;
  console.log(`logger work before the summary is returned: ${direct.toFixed(2)} ms = ${((direct / mOff) * 100).toFixed(2)} % of the median summarize (${((direct / Math.min(...off)) * 100).toFixed(2)} % of the fastest)`);
  console.log(`A/B check (noisy on a shared VM): on - off = ${overhead.toFixed(2)} % of the summarize time`);
  console.log(JSON.stringify({ model: dir, chunks: results[0].chunks, onMs: mOn, offMs: mOff, pairedDiffMs: median(diffs), overheadPercent: overhead, withFlushPercent: withFlush, loggingMs: median(logging), nowUs, reads, directMs: direct, directPercent: (direct / mOff) * 100, on, off, flush }));
} finally {
  await browser.close();
  await server.close();
}
