// Local model files: picked with the file input or dropped on the page, read on the device, and
// summarized with no network at all (the server shut down after one earlier visit).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { launch, controls, summarizeText, ARTICLE, FIXTURES } from './harness.mjs';

let h;
before(async () => {
  h = await launch();
});
after(async () => {
  await h?.close();
});

const run = (page) => summarizeText(page, ARTICLE.slice(0, 600), { timeout: 60_000 });
const TINY = ['config.json', 'tokenizer.json', 'model.safetensors'].map((f) => path.join(FIXTURES, 'tiny-t5', f));

test('dropped model files are used as the model, read locally, and give the same summary as the served copy', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  const served = await run(page);
  assert.match(served.status, /^Done: /, served.error);
  // Files as a person would drop them (made here from the fixture bytes).
  await page.evaluate(async () => {
    const dt = new DataTransfer();
    for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) {
      dt.items.add(new File([await (await fetch(`/fixtures/tiny-t5/${f}`)).blob()], f));
    }
    document.querySelector('h1').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  const c = controls(page);
  assert.equal(await c.model.inputValue(), 'local');
  assert.match(await c.model.locator('option:checked').textContent(), /^Local files: model\.safetensors · 0\.82 MB$/);
  const before = h.requests.length;
  const local = await run(page);
  assert.match(local.status, /^Done: /, local.error);
  assert.equal(local.summary, served.summary);
  // A new worker starts (its scripts come from the server or the app cache); no model file is requested.
  const modelRequests = h.requests.slice(before).filter((u) => /\/fixtures\/|\.safetensors|\.gguf|config\.json|tokenizer\.json|manifest\.json/.test(u));
  assert.deepEqual(modelRequests, [], 'the local model made model requests');
  // The picked weights are read range by range and hashed as a stream: the digest is the file's.
  const shas = await page.evaluate(async () => {
    const { getPerformanceLogger } = await import('./summarizer.js');
    return (await (await getPerformanceLogger()).records()).filter((r) => r.type === 'model_loading').map((r) => r.model.sha256);
  });
  assert.ok(shas.length >= 2, JSON.stringify(shas));
  assert.equal(shas.at(-1), shas[0], 'the local copy hashes like the served one');
  assert.match(shas[0] ?? '', /^[0-9a-f]{64}$/);
  assert.deepEqual(problems, []);
  await context.close();
});

test('an incomplete set of files says what is missing', async () => {
  const { page, context } = await h.newPage('?model=tiny-t5');
  await page.locator('#model-file-input').setInputFiles(TINY.slice(0, 2));
  assert.equal(await page.locator('#error').textContent(), "Open the model's files together: config.json, tokenizer.json and a .safetensors or .gguf weights file (missing: a .safetensors or .gguf weights file).");
  assert.equal(await controls(page).model.inputValue(), 'tiny-t5');
  await context.close();
});

test('with the server gone, picked model files summarize (after one earlier visit)', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  assert.match((await run(page)).status, /^Done: /);
  await page.waitForFunction(async () => {
    const keys = (await (await caches.open('t5-summarizer-app-v1')).keys()).map((r) => r.url);
    return keys.some((k) => k.endsWith('_bg.wasm'));
  });
  // No model in the cache: the only copy is the files picked below.
  await page.evaluate(() => caches.delete('t5-summarizer-models-v1'));
  await h.server.close();
  await page.reload();
  await page.locator('#model-file-input').setInputFiles(TINY);
  const c = controls(page);
  assert.match(await c.status.textContent(), /^Local model files ready: config\.json, tokenizer\.json, model\.safetensors\./);
  const o = await run(page);
  assert.match(o.status, /^Done: /, o.error);
  assert.deepEqual(problems.filter((p) => !/ERR_CONNECTION_REFUSED|Failed to load resource/.test(p)), []);
  await context.close();
});
