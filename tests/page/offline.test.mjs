// Offline: after one visit, the app opens and summarizes with its server gone. The service
// worker keeps the page, its scripts and the wasm build the worker ran; the worker keeps the
// model files. The server is really shut down (not an emulated offline switch).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, controls, summarizeText, ARTICLE } from './harness.mjs';

async function summarizeOnce(page) {
  const o = await summarizeText(page, ARTICLE.slice(0, 2000));
  assert.equal(o.error, '');
  assert.match(o.status, /^Done: /);
  return o;
}

let h;
after(async () => {
  await h?.close();
});

for (const [name, query, engine] of [
  ['the threaded build', '?model=tiny-t5', /, 2 threads\.$/],
  ['the single-thread build', '?model=tiny-t5&threads=0', /, 1 thread\.$/],
]) {
  test(`after one visit the page reloads and summarizes with the server shut down (${name})`, async () => {
    h = await launch();
    const { page, problems } = await h.newPage(query);
    await page.evaluate(() => navigator.serviceWorker.ready);
    const first = await summarizeOnce(page);
    assert.ok(first.summary.length > 0);
    assert.match(first.status, engine);
    // The wasm build the worker ran is in the app cache (handed to the service worker).
    await page.waitForFunction(
      async () => {
        const cache = await caches.open('t5-summarizer-app-v1');
        const keys = (await cache.keys()).map((r) => new URL(r.url).pathname);
        return keys.some((k) => k.endsWith('_bg.wasm')) && keys.includes('/worker.js') && keys.includes('/');
      },
      null,
      { timeout: 30_000, polling: 200 },
    );
    await h.server.close();
    await page.reload();
    const c = controls(page);
    await c.summarize.waitFor();
    const second = await summarizeOnce(page);
    assert.equal(second.summary, first.summary, 'the offline summary differs from the online one');
    assert.match(second.status, engine);
    assert.deepEqual(
      problems.filter((p) => !/ERR_CONNECTION_REFUSED|Failed to load resource/.test(p)),
      [],
    );
    await h.close();
    h = null;
  });
}
