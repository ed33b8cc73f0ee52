// The JS library API (www/summarizer.js) used from a page, as another web app would use it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, ARTICLE } from './harness.mjs';

let h;
before(async () => {
  h = await launch();
});
after(async () => {
  await h?.close();
});

test('availability, create with download progress, summarize, streaming and destroy', async () => {
  const { page, context, problems } = await h.newPage('');
  const out = await page.evaluate(async (text) => {
    const { Summarizer } = await import('./summarizer.js');
    const before = await Summarizer.availability({ model: 'tiny-t5' });
    const progress = [];
    const s = await Summarizer.create({
      model: 'tiny-t5',
      maxNewTokens: 10,
      maxInputTokens: 64,
      monitor(m) {
        m.addEventListener('downloadprogress', (e) => progress.push([e.type, e.loaded, e.phase, e.bytesTotal]));
      },
    });
    const after = await Summarizer.availability({ model: 'tiny-t5' });
    const whole = await s.summarize(text, { refine: false });
    const pieces = [];
    const reader = s.summarizeStreaming(text).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pieces.push(value);
    }
    const detailed = await s.summarizeDetailed(text);
    s.destroy();
    let afterDestroy = null;
    try {
      await s.summarize(text);
    } catch (e) {
      afterDestroy = e.name;
    }
    return { before, after, progress, whole, pieces, detailed, afterDestroy, info: s.info, files: s.files };
  }, ARTICLE);
  assert.equal(out.before, 'downloadable');
  assert.equal(out.after, 'available');
  assert.ok(out.progress.length >= 2);
  assert.ok(out.progress.every(([type]) => type === 'downloadprogress'));
  assert.deepEqual(out.progress.at(-1).slice(1, 3), [1, 'load']);
  const bytes = out.files.reduce((n, f) => n + f.bytes, 0);
  assert.ok(out.progress.some(([, , phase, total]) => phase === 'download' && total === bytes));
  assert.ok(out.whole.length > 0);
  assert.ok(out.pieces.length > 1, 'streaming gave one piece only');
  assert.equal(out.pieces.join(''), out.whole);
  assert.ok(out.detailed.passes[0].length > 1);
  assert.ok(out.detailed.passes[0].every((c) => c.inputIds.length <= 64 && c.outputIds.length <= 10));
  assert.equal(out.afterDestroy, 'InvalidStateError');
  assert.equal(out.info.prefix, 'summarize: ');
  assert.deepEqual(problems, []);
  await context.close();
});

test('a crash in the wasm instance is reported and the worker restarts', async () => {
  const { page, context, problems } = await h.newPage('');
  const out = await page.evaluate(async (text) => {
    const { Summarizer } = await import('./summarizer.js');
    const s = await Summarizer.create({ model: 'tiny-t5', maxNewTokens: 5 });
    let crash = null;
    try {
      // Attention over ~25,000 tokens at once needs more than wasm32's 4 GiB: the instance traps.
      await s.summarize(text.repeat(12), { maxInputTokens: 1_000_000 });
    } catch (e) {
      crash = { message: e.message, kind: e.kind };
    }
    const after = await s.summarize(text.slice(0, 300), { maxInputTokens: 64 });
    return { crash, after };
  }, ARTICLE);
  assert.equal(out.crash?.kind, 'crash', JSON.stringify(out.crash));
  assert.match(out.crash.message, /crashed.*restarted/);
  assert.ok(out.after.length > 0);
  // The panic hook logs the Rust panic to the console: that line is expected here, nothing else.
  assert.deepEqual(problems.filter((p) => !/panicked|RuntimeError|unreachable/.test(p)), []);
  await context.close();
});

test('an aborted signal rejects with AbortError and the summarizer stays usable', async () => {
  const { page, context, problems } = await h.newPage('');
  const out = await page.evaluate(async (text) => {
    const { Summarizer } = await import('./summarizer.js');
    const s = await Summarizer.create({ model: 'tiny-t5', maxInputTokens: 128 });
    const controller = new AbortController();
    const run = s.summarize(text.repeat(10), { signal: controller.signal, maxNewTokens: 199 });
    setTimeout(() => controller.abort(), 300);
    let name = null;
    try {
      await run;
    } catch (e) {
      name = e.name;
    }
    const again = await s.summarize(text.slice(0, 300), { maxNewTokens: 5 });
    return { name, again };
  }, ARTICLE);
  assert.equal(out.name, 'AbortError');
  assert.ok(out.again.length > 0);
  assert.deepEqual(problems, []);
  await context.close();
});

test('the page works on a plain static host without cross-origin isolation', async () => {
  const plain = await launch({ isolate: false });
  try {
    const { page, context, problems } = await plain.newPage('?model=tiny-t5');
    assert.equal(await page.evaluate(() => crossOriginIsolated), false);
    await page.getByText('Generation settings').click();
    await page.getByLabel('Max new tokens per chunk').fill('8');
    await page.getByLabel('Text to summarize').fill(ARTICLE.slice(0, 800));
    await page.getByRole('button', { name: 'Summarize' }).click();
    await page.waitForFunction(() => /^Done/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
    assert.ok((await page.getByRole('region', { name: 'Summary' }).textContent()).trim().length > 0);
    assert.deepEqual(problems, []);
    await context.close();
  } finally {
    await plain.close();
  }
  const { page, context } = await h.newPage('');
  assert.equal(await page.evaluate(() => crossOriginIsolated), true);
  await context.close();
});
