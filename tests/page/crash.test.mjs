// A crash in the middle of generation, driven through the page: the browser here gives
// WebAssembly at most 24 MiB (Chromium's --wasm-max-mem-pages, as a phone or a crowded tab
// might), enough to load the test model and start, not to finish, a 16-beam search over 1024
// new tokens. The allocator is refused, Rust aborts, the instance traps while tokens stream.
// The page must say what happened, keep the text, restart the worker and summarize again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, controls, setLimits, summarizeText, ARTICLE } from './harness.mjs';

// 384 pages of 64 KiB. Measured with this build: the model loads and the search starts from
// about 200 pages up, and it runs to the end from about 800.
const PAGES = 384;

let h;
before(async () => {
  h = await launch({ args: [`--js-flags=--wasm-max-mem-pages=${PAGES}`] });
});
after(async () => {
  await h?.close();
});

test('out of memory mid-generation: a clear message, the text kept, the worker restarted, the next run works', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5&threads=0');
  const c = controls(page);
  const text = ARTICLE.slice(0, 3000);
  await setLimits(page, { maxNew: '1024', maxInput: '512' });
  await page.getByLabel('Min new tokens').fill('1024');
  await c.numBeams.fill('16');
  await c.text.fill(text);
  await c.summarize.click();
  // Tokens stream first: the crash comes in the middle of generation.
  await page.waitForFunction(() => document.getElementById('summary').textContent.trim().length > 0, null, { timeout: 60_000 });
  await page.waitForFunction(() => !document.getElementById('error').hidden, null, { timeout: 120_000 });
  const error = await page.locator('#error').textContent();
  assert.match(error, /^The summarizer ran out of memory: it asked for \d+ MB more with \d+ MB in use, and the browser gave no more\. It has been restarted; try fewer input tokens per chunk, fewer beams or fewer new tokens\.$/);
  assert.equal(await c.text.inputValue(), text, 'the text is kept');
  assert.ok(await c.summarize.isEnabled());
  // The crash is in the metrics: the page logged it for the worker that died.
  const logged = await page.evaluate(async () => {
    const { getPerformanceLogger } = await import('./summarizer.js');
    return (await (await getPerformanceLogger()).records()).filter((r) => r.type === 'error' && r.context?.kind === 'out-of-memory').length;
  });
  assert.equal(logged, 1);
  // Smaller settings fit: the restarted worker summarizes.
  await c.numBeams.fill('1');
  await page.getByLabel('Min new tokens').fill('');
  const o = await summarizeText(page, text, { maxNew: '8', maxInput: '64' });
  assert.match(o.status, /^Done: /, o.error);
  assert.ok(o.summary.length > 0);
  // The panic hook and the trap are reported on the console: expected here, nothing else.
  assert.deepEqual(problems.filter((p) => !/RuntimeError|unreachable|memory allocation/.test(p)), []);
  await context.close();
});
