// Privacy and security: the text never leaves the page, every request stays on the app's own
// origin, and the Content-Security-Policy refuses inline script, inline style, outside hosts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, controls, summarizeText, ARTICLE } from './harness.mjs';

let h;
before(async () => {
  h = await launch();
});
after(async () => {
  await h?.close();
});

/** A fresh context whose every request (page, workers, service worker) is recorded from the start. */
async function recordedPage(query) {
  const context = await h.browser.newContext();
  const requests = [];
  context.on('request', (r) => requests.push(r));
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.goto(h.server.url + query);
  return { context, page, requests, problems };
}

test('the text appears in no request (URL, header or body) and no request leaves the app origin', async () => {
  const marker = 'Quixotic-zebra-7f3a9c private sentence';
  const text = `${ARTICLE.slice(0, 1500)} ${marker}. ${ARTICLE.slice(1500, 3000)}`;
  const { context, page, requests, problems } = await recordedPage('?model=tiny-t5');
  const o = await summarizeText(page, text);
  assert.match(o.status, /^Done: /, o.error);
  const origin = new URL(h.server.url).origin;
  const seen = [];
  const needles = [marker, encodeURIComponent(marker), marker.replaceAll(' ', '+'), 'Quixotic-zebra'];
  for (const r of requests) {
    const url = r.url();
    const short = url.length > 120 ? `${url.slice(0, 120)}…` : url;
    seen.push(new URL(url).pathname);
    if (!url.startsWith('blob:') && !url.startsWith('data:')) assert.equal(new URL(url).origin, origin, `request to ${url}`);
    const headers = JSON.stringify(await r.allHeaders());
    const body = r.postDataBuffer()?.toString('latin1') ?? '';
    for (const n of needles) {
      assert.ok(!url.includes(n), `the text is in the URL ${short}`);
      assert.ok(!headers.includes(n), `the text is in a header of ${short}`);
      assert.ok(!body.includes(n), `the text is in the body of ${short}`);
    }
  }
  // The record covers the worker's own requests (the wasm build and the model files), so a
  // leak from the worker would have been seen.
  assert.ok(seen.some((p) => p.endsWith('_bg.wasm')), seen.join(' '));
  assert.ok(seen.includes('/fixtures/tiny-t5/model.safetensors'), seen.join(' '));
  assert.deepEqual(problems, []);
  await context.close();
});

test('the Content-Security-Policy refuses inline script, inline style attributes and outside hosts', async () => {
  const { context, page } = await recordedPage('?model=tiny-t5');
  const outcome = await page.evaluate(async () => {
    const violations = [];
    document.addEventListener('securitypolicyviolation', (e) => violations.push(e.effectiveDirective));
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = true;';
    document.body.append(s);
    const div = document.createElement('div');
    div.innerHTML = '<span id="styled" style="color: rgb(255, 0, 0)">x</span>';
    document.body.append(div);
    const color = getComputedStyle(document.getElementById('styled')).color;
    let outside = 'fetched';
    try {
      await fetch('https://example.org/');
    } catch (e) {
      outside = e.name;
    }
    await new Promise((r) => setTimeout(r, 100));
    return { inlineRan: window.__inlineRan ?? false, color, outside, violations };
  });
  assert.equal(outcome.inlineRan, false);
  assert.notEqual(outcome.color, 'rgb(255, 0, 0)');
  assert.equal(outcome.outside, 'TypeError');
  for (const d of ['script-src-elem', 'style-src-attr', 'connect-src']) assert.ok(outcome.violations.includes(d), JSON.stringify(outcome));
  await context.close();
});

test('a model on a host the policy does not allow is refused with a message that says so', async () => {
  // 127.0.0.1 is another origin than the page's localhost: the same files, not allowed.
  const other = h.server.url.replace('localhost', '127.0.0.1');
  const { context, page } = await recordedPage(`?model=${encodeURIComponent(`${other}fixtures/tiny-t5/`)}`);
  const c = controls(page);
  const { error } = await summarizeText(page, ARTICLE.slice(0, 500));
  assert.match(error, /Content-Security-Policy/, error);
  assert.match(error, /config\.json|tokenizer\.json|model\.safetensors/, error);
  assert.equal(await c.summarize.isEnabled(), true);
  assert.equal(await c.text.inputValue(), ARTICLE.slice(0, 500), 'the text was lost');
  await context.close();
});
