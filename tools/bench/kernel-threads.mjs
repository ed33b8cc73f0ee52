// Kernel diagnostic (never a verdict): how much faster the products run on all threads than on
// one, in headless Chromium, with the threaded bench build (bench-out/pkg-threads, which
// `./build.sh bench` makes). The encoder's shapes of t5-small at a 489-token input, and two of a
// decoder step.
//   node tools/bench/kernel-threads.mjs [--repeats 7] [--single]
// --single: the single-thread relaxed-SIMD bench build (bench-out/pkg-relaxed) instead, to compare
// the threaded build's one thread with the build one-thread users get.
import path from 'node:path';
import { chromium } from '../../tests/page/node_modules/playwright-core/index.mjs';
import { startServer } from '../serve.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const at = process.argv.indexOf('--repeats');
const repeats = at > 0 ? Number(process.argv[at + 1]) : 7;
const single = process.argv.includes('--single');
const SHAPES = [
  [489, 2048, 512, 'feed-forward wi'],
  [489, 512, 2048, 'feed-forward wo'],
  [489, 512, 512, 'attention q, k, v, o'],
  // A decoder step: one row against each weight matrix.
  [1, 2048, 512, 'decoder feed-forward wi, one row'],
  [1, 32128, 512, 'LM head, one row'],
];
const server = await startServer({
  root: path.join(root, 'www'),
  mounts: { '/bench-pkg-threads': path.join(root, 'bench-out/pkg-threads'), '/bench-pkg-relaxed': path.join(root, 'bench-out/pkg-relaxed'), '/bench': path.join(root, 'tools/bench') },
  port: 0,
});
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--headless=new', '--no-sandbox', '--disable-gpu', ...(process.env.CHROMIUM_EXTRA ? process.env.CHROMIUM_EXTRA.split(' ') : [])] });
try {
  const page = await browser.newPage();
  await page.goto(server.url);
  const r = await page.evaluate(
    (msg) =>
      new Promise((resolve) => {
        const w = new Worker('/bench/kernels-worker.js', { type: 'module' });
        w.onmessage = (e) => resolve(e.data);
        w.onerror = (e) => resolve({ error: e.message ?? 'worker error' });
        w.postMessage(msg);
      }),
    { shapes: SHAPES.map(([m, n, k]) => [m, n, k]), repeats, single },
  );
  if (r.error) throw new Error(r.error);
  console.log(`Chromium ${browser.version()}, ${single ? 'the single-thread build' : 'the threaded build'}, ${r.threads} threads; medians of ${repeats}, ms (all threads / one thread = speed-up):`);
  for (const [i, { m, n, k, int8Ms, f32Ms }] of r.out.entries()) {
    const row = ([all, one]) => `${all.toFixed(2)} / ${one.toFixed(2)} = ${(one / all).toFixed(2)}×`;
    console.log(`  ${SHAPES[i][3]} (${m}×${n}×${k}): int8 ${row(int8Ms)}, f32 ${row(f32Ms)}; int8 against 4 weight rows (mostly quantizing the activations) ${row(r.out[i].int8FourRowsMs)}; int8 with its weights out of the caches ${row(r.out[i].int8ColdMs)}`);
  }
} finally {
  await browser.close();
  await server.close();
}
