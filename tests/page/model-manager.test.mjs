// The model manager: lists downloaded models with their sizes and the site's storage, deletes
// one, clears all (after asking), and asks for persistent storage.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, controls, summarizeText, ARTICLE } from './harness.mjs';

async function run(page, model) {
  await controls(page).model.selectOption(model);
  const o = await summarizeText(page, ARTICLE.slice(0, 600), { timeout: 60_000 });
  assert.match(o.status, /^Done: /, o.error);
}

let h;
before(async () => {
  h = await launch();
});
after(async () => {
  await h?.close();
});

test('lists downloaded models with sizes and storage, deletes one, clears all, asks to persist', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  await run(page, 'tiny-t5');
  await run(page, 'tiny-flan-t5-q8_0');
  await page.getByText('Downloaded models', { exact: true }).click();
  const list = page.getByRole('list', { name: 'Downloaded models' });
  const status = page.locator('#storage-status');
  await page.waitForFunction(() => /2 downloaded models/.test(document.getElementById('storage-status').textContent));
  assert.match(await status.textContent(), /^2 downloaded models, 1\.\d\d MB\. This site uses [\d.]+ MB of the [\d.]+ MB the browser allows it\./);
  const items = await list.getByRole('listitem').allTextContents();
  assert.equal(items.length, 2, items.join(' | '));
  assert.match(items[0], /^tiny-t5 test modelconfig\.json, model\.safetensors, tokenizer\.json0\.86 MB/); // 856,274 bytes
  assert.match(items[1], /^tiny-flan-t5 test modelconfig\.json, model-q8_0\.gguf, tokenizer\.json0\.34 MB/); // 337,750 bytes

  // Delete one: its files leave the cache, the other stays, and using it again downloads it.
  await page.getByRole('button', { name: 'Delete tiny-t5 test model' }).click();
  await page.waitForFunction(() => /^1 downloaded model,/.test(document.getElementById('storage-status').textContent));
  const keys = () => page.evaluate(async () => (await (await caches.open('t5-summarizer-models-v1')).keys()).map((r) => new URL(r.url).pathname));
  assert.ok(!(await keys()).some((k) => k.startsWith('/fixtures/tiny-t5/')));
  assert.ok((await keys()).includes('/fixtures/tiny-flan-t5/model-q8_0.gguf'));
  const weights = () => h.requests.filter((u) => u === '/fixtures/tiny-t5/model.safetensors').length;
  const before = weights();
  await run(page, 'tiny-t5');
  assert.equal(weights(), before + 1, 'the deleted model was not downloaded again');

  // Clear all asks first; declining keeps everything.
  page.once('dialog', (d) => d.dismiss());
  await page.getByRole('button', { name: 'Delete all downloaded models' }).click();
  assert.equal((await keys()).length, 3 + 3);
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Delete all downloaded models' }).click();
  await page.waitForFunction(() => /^0 downloaded models/.test(document.getElementById('storage-status').textContent));
  assert.deepEqual(await list.getByRole('listitem').allTextContents(), ['No downloaded models.']);
  assert.equal(await page.getByRole('button', { name: 'Delete all downloaded models' }).isDisabled(), true);

  // Persistent storage: the browser decides; the page says which.
  const persist = page.getByRole('button', { name: 'Keep downloads when storage runs low' });
  if (await persist.isVisible()) {
    await persist.click();
    await page.waitForFunction(() => /kept even when storage runs low|declined to keep them/.test(document.getElementById('storage-status').textContent));
  }
  assert.deepEqual(problems, []);
  await context.close();
});
