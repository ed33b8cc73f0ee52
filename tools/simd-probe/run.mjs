// Builds the probe and measures it in headless Chromium: GMAC/s per operation, median of 7
// rounds taken round-robin (the machine's speed drifts; round-robin keeps the ratios honest).
// Usage: node tools/simd-probe/run.mjs   (from the repository root or anywhere)
import path from 'node:path';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { chromium } from '../../tests/page/node_modules/playwright-core/index.mjs';

const dir = path.dirname(new URL(import.meta.url).pathname);
execFileSync('cargo', ['build', '--release', '--target', 'wasm32-unknown-unknown'], {
  cwd: dir,
  stdio: 'inherit',
  env: {
    ...process.env,
    RUSTFLAGS: '-C target-feature=+simd128',
    CARGO_TARGET_DIR: path.join(dir, 'target'),
  },
});
const wasm = fs.readFileSync(path.join(dir, 'target/wasm32-unknown-unknown/release/simd_probe.wasm'));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const page = await browser.newPage();
const result = await page.evaluate(async (bytes) => {
  const { instance } = await WebAssembly.instantiate(new Uint8Array(bytes), {});
  const e = instance.exports;
  const a = e.alloc(64 * 16), b = e.alloc(8 * 16), out = e.alloc(8 * 16);
  const ops = [['f32_mul_add', 4], ['f32_relaxed_madd', 4], ['i16_dot_add', 8], ['i8_relaxed_dot_add', 16]];
  const n = 5e6;
  const times = Object.fromEntries(ops.map(([f]) => [f, []]));
  for (const [f] of ops) e[f](a, b, out, n / 10); // warm-up (optimizing tier)
  for (let round = 0; round < 7; round++) {
    for (const [f] of ops) {
      const t = performance.now();
      e[f](a, b, out, n);
      times[f].push(performance.now() - t);
    }
  }
  return ops.map(([f, macs]) => {
    const t = times[f].sort((x, y) => x - y);
    return { op: f, gmacs: (n * 8 * macs) / t[3] / 1e6, min: (n * 8 * macs) / t[6] / 1e6, max: (n * 8 * macs) / t[0] / 1e6 };
  });
}, [...wasm]);
await browser.close();
console.log(`${await (async () => browser.version())()}`);
for (const r of result) {
  console.log(`${r.op.padEnd(20)} ${r.gmacs.toFixed(1).padStart(6)} GMAC/s  (${r.min.toFixed(1)}–${r.max.toFixed(1)})`);
}
