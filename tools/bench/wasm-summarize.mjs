// Times one summarize of a model in headless Chromium through the app's JS API: model load,
// encode + first decode step, and decode ms/token. Prints one JSON line per repetition.
//
//   node tools/bench/wasm-summarize.mjs <model dir> [chars=1200] [new tokens=32] [reps=5]
import path from 'node:path';
import fs from 'node:fs';
import { chromium } from '../../tests/page/node_modules/playwright-core/index.mjs';
import { startServer } from '../serve.mjs';

const [dir, chars = '1200', newTokens = '32', reps = '5'] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node tools/bench/wasm-summarize.mjs <model dir> [chars] [new tokens] [reps]');
  process.exit(2);
}
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const text = fs.readFileSync(path.join(root, 'tests/fixtures/article.txt'), 'utf8').repeat(20).slice(0, Number(chars));
const server = await startServer({ root: path.join(root, 'www'), mounts: { '/bench-model': path.resolve(dir) }, port: 0 });
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  await page.goto(server.url);
  for (let i = 0; i < Number(reps) + 1; i++) {
    const r = await page.evaluate(async ({ text, newTokens }) => {
      const { Summarizer } = await import('./summarizer.js');
      const t0 = performance.now();
      const s = await Summarizer.create({ model: '/bench-model/', type: 'tldr', length: 'long' });
      const loadMs = performance.now() - t0;
      let start = 0;
      const tokenTimes = [];
      const out = await s.summarizeDetailed(text, {
        maxInputTokens: 512, maxNewTokens: newTokens, minNewTokens: newTokens, refine: false,
        onProgress(e) {
          if (e.type === 'chunk-start' && e.index === 0) start = performance.now();
          if (e.type === 'token' && e.index === 0) tokenTimes.push(performance.now());
        },
      });
      s.destroy();
      const n = tokenTimes.length;
      return {
        inputTokens: out.passes[0][0].inputIds.length,
        loadMs,
        firstTokenMs: tokenTimes[0] - start,
        decodeMsPerToken: (tokenTimes[n - 1] - tokenTimes[0]) / (n - 1),
        crossOriginIsolated,
      };
    }, { text, newTokens: Number(newTokens) });
    if (i > 0) console.log(JSON.stringify(r)); // the first run warms the cache and the JIT
  }
} finally {
  await browser.close();
  await server.close();
}
