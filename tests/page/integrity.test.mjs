// Integrity: model files are checked against their SHA-256 (the catalog's hashes, or the
// manifest.json next to a self-hosted model) before use; a mismatch is refused with a clear
// message and the file is evicted from the cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, controls, summarizeText, ARTICLE } from './harness.mjs';

const run = (page) => summarizeText(page, ARTICLE.slice(0, 600), { timeout: 60_000 });

let h;
before(async () => {
  h = await launch();
});
after(async () => {
  await h?.close();
});

const cached = (page) =>
  page.evaluate(async () => (await (await caches.open('t5-summarizer-models-v1')).keys()).map((r) => new URL(r.url).pathname));

test('a self-hosted model whose files match its manifest loads, and its hash is in the records', async () => {
  const { page, context, problems } = await h.newPage(`?model=${encodeURIComponent('/broken/verified/')}`);
  const o = await run(page);
  assert.match(o.status, /^Done: /, o.error);
  const sha = await page.evaluate(async () => {
    const { getPerformanceLogger } = await import('./summarizer.js');
    const records = await (await getPerformanceLogger()).records();
    return records.find((r) => r.type === 'model_loading')?.model?.sha256 ?? null;
  });
  assert.match(sha ?? '', /^[0-9a-f]{64}$/);
  assert.deepEqual(problems, []);
  await context.close();
});

test('weights that do not match the manifest are refused, named, and evicted from the cache', async () => {
  const { page, context, problems } = await h.newPage(`?model=${encodeURIComponent('/broken/tampered/')}`);
  const o = await run(page);
  assert.match(o.error, /^model\.safetensors: its SHA-256 \([0-9a-f]{16}…\) is not the expected [0-9a-f]{16}…: the file is damaged or was changed\. It was removed from the cache/);
  const left = await cached(page);
  assert.ok(!left.includes('/broken/tampered/model.safetensors'), left.join(' '));
  assert.ok(left.includes('/broken/tampered/config.json'), 'the good files stay cached');
  // The page stays usable: the built-in test model (with its built-in hashes) summarizes next.
  await controls(page).model.selectOption('tiny-t5');
  assert.match((await run(page)).status, /^Done: /);
  assert.deepEqual(problems, []);
  await context.close();
});

test('a manifest that is not JSON is reported as such', async () => {
  const { page, context } = await h.newPage(`?model=${encodeURIComponent('/broken/bad-manifest/')}`);
  const o = await run(page);
  assert.match(o.error, /manifest\.json of .*\/broken\/bad-manifest\/ is not valid JSON/);
  await context.close();
});
