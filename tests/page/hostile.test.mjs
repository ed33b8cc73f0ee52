// Hostile text: each input gets a summary or a clear message, the text in the box is kept as it
// was, nothing in it runs, and the next summarize works.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, controls, paste, setLimits, waitForOutcome, ARTICLE } from './harness.mjs';

let h;
before(async () => {
  h = await launch();
});
after(async () => {
  await h?.close();
});

// A deterministic byte soup: control characters, NULs, invalid-looking sequences as code units.
let seed = 7;
const garbage = Array.from({ length: 3000 }, () => String.fromCharCode((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 256)).join('');

const CASES = [
  ['binary garbage', garbage],
  ['lone surrogates', `Half a pair \uD800 here and \uDC00 there, \uDBFF\uDBFF twice. ${ARTICLE.slice(0, 300)}`],
  ['emoji, CJK and right-to-left text', '😀 👩‍👩‍👧 🇺🇳 漢字かな交じり文で書かれた文章です。 مرحبا بالعالم، هذا نص عربي. שלום עולם, זה טקסט בעברית. Ελληνικά.'],
  ['one 100 KB word with no spaces', 'x'.repeat(50_000) + 'abcdefghij'.repeat(5_000)],
  ['HTML and script tags', '<script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2"><b>bold</b> &amp; <iframe src="javascript:window.__pwned=3"></iframe> The council met on Tuesday.'],
];

test('hostile texts: a summary or a clear message, the text kept, nothing executed, the next run works', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  const c = controls(page);
  await setLimits(page, { maxNew: '8', maxInput: '64' });
  for (const [name, text] of CASES) {
    await paste(page, text);
    await c.summarize.click();
    const o = await waitForOutcome(page);
    assert.match(o.status, /^Done: /, `${name}: ${o.error}`);
    assert.equal(o.error, '', name);
    assert.equal(await c.text.inputValue(), text, `${name}: the text in the box changed`);
    assert.ok((await c.summary.textContent()).length > 0, `${name}: no summary`);
    assert.equal(await c.summarize.isEnabled(), true, name);
  }
  // Nothing from the HTML case ran or became an element: the box and the summary show text only.
  assert.equal(await page.evaluate(() => window.__pwned ?? null), null);
  assert.equal(await page.evaluate(() => document.querySelectorAll('img, iframe, b, main script').length), 0);
  assert.deepEqual(problems, []);
  await context.close();
});

test('a 5 MB text is chunked with progress, can be cancelled, and is kept whole', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  const c = controls(page);
  await setLimits(page, { maxNew: '8', maxInput: '256' });
  const text = ARTICLE.repeat(Math.ceil(5_000_000 / ARTICLE.length)).slice(0, 5_000_000);
  await paste(page, text);
  assert.match(await c.status.evaluate(() => document.getElementById('count').textContent), /5,000,000 characters/);
  await c.summarize.click();
  await page.waitForFunction(() => Number(/^Chunk (\d+) of/.exec(document.getElementById('status').textContent)?.[1]) >= 2, null, { timeout: 120_000 });
  const total = Number(/of (\d+)/.exec(await c.status.textContent())[1]);
  assert.ok(total > 1000, `only ${total} chunks for 5 MB`);
  // The page answers while the worker summarizes.
  const t0 = Date.now();
  await page.evaluate(() => document.getElementById('text').value.length);
  assert.ok(Date.now() - t0 < 5_000, 'the page froze');
  await c.cancel.click();
  const o = await waitForOutcome(page, 10_000);
  assert.equal(o.status, 'Cancelled.');
  assert.equal((await c.text.inputValue()).length, text.length, 'the text was changed');
  await paste(page, ARTICLE.slice(0, 800));
  await c.summarize.click();
  assert.match((await waitForOutcome(page)).status, /^Done: /);
  assert.deepEqual(problems, []);
  await context.close();
});

test('two Summarize clicks in a row run once; Cancel while the model loads stops the load and the next run works', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  const c = controls(page);
  await setLimits(page, { maxNew: '8', maxInput: '64' });
  // The weights arrive 2 s late, so the first load is surely in progress when Cancel is clicked.
  let delayed = 0;
  h.hooks.beforeServe = async (req) => {
    if (req.url === '/fixtures/tiny-t5/model.safetensors' && delayed++ === 0) await new Promise((r) => setTimeout(r, 2000));
  };
  await paste(page, ARTICLE.slice(0, 800));
  await c.summarize.click();
  // Cancel once the weights are on their way (the server holds them).
  for (let i = 0; i < 500 && !delayed; i++) await new Promise((r) => setTimeout(r, 20));
  assert.match(await c.status.textContent(), /^(Loading|Downloading)/);
  await c.cancel.click();
  const cancelled = await waitForOutcome(page, 10_000);
  assert.equal(cancelled.status, 'Cancelled.');
  assert.equal(cancelled.error, '');
  assert.ok(delayed >= 1, 'the weights request was not seen');
  // A double click: one run, one summary.
  let runs = 0;
  await page.exposeFunction('countRun', () => runs++);
  await page.evaluate(() => {
    new MutationObserver(() => /^Done/.test(document.getElementById('status').textContent) && window.countRun()).observe(
      document.getElementById('status'),
      { childList: true, characterData: true, subtree: true },
    );
  });
  await c.summarize.dblclick();
  const o = await waitForOutcome(page);
  assert.match(o.status, /^Done: /, o.error);
  await page.waitForTimeout(500);
  assert.equal(runs, 1, `${runs} runs for a double click`);
  assert.equal(await c.text.inputValue(), ARTICLE.slice(0, 800));
  assert.deepEqual(problems, []);
  h.hooks.beforeServe = null;
  await context.close();
});

test('a corrupt metrics record is skipped and reported; the other records are kept', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  const c = controls(page);
  await setLimits(page, { maxNew: '8', maxInput: '64' });
  await paste(page, ARTICLE.slice(0, 800));
  await c.summarize.click();
  assert.match((await waitForOutcome(page)).status, /^Done: /);
  await page.getByText('Performance dashboard').click();
  await page.waitForFunction(() => /^\d[\d,]* performance records/.test(document.getElementById('metrics-status').textContent));
  const count = Number((await page.locator('#metrics-status').textContent()).match(/^([\d,]+)/)[1].replaceAll(',', ''));
  assert.ok(count > 0);
  // Damage the store the way a crash mid-write or another program could: one record not JSON.
  await page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('t5-summarizer-metrics', 1);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const tx = open.result.transaction(['records'], 'readwrite');
          tx.objectStore('records').add('{not json');
          tx.oncomplete = () => {
            open.result.close();
            resolve();
          };
          tx.onerror = () => reject(tx.error);
        };
      }),
  );
  await page.reload();
  await page.getByText('Performance dashboard').click();
  await page.waitForFunction(() => /performance records/.test(document.getElementById('metrics-status').textContent));
  const status = await page.locator('#metrics-status').textContent();
  assert.match(status, new RegExp(`^${count.toLocaleString('en-US')} performance records, .* 1 unreadable record\\(s\\) were skipped\\.$`), status);
  assert.deepEqual(problems, []);
  await context.close();
});

test('full storage: the model still runs, the page says it could not be cached, and nothing half-written stays', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  // Chromium's own quota override: this origin may store 100 KB, less than the model's 0.86 MB.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(h.server.url).origin, quotaSize: 100_000 });
  const c = controls(page);
  await setLimits(page, { maxNew: '8', maxInput: '64' });
  await paste(page, ARTICLE.slice(0, 800));
  await c.summarize.click();
  // The notice shows while the summary is still being made.
  await page.waitForFunction(() => /^(Done|Cancelled)/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  assert.match(await c.status.textContent(), /^Done: /);
  assert.equal(await page.locator('#error').textContent(), 'The model works, but could not be cached for next time (storage is full).');
  const cached = await page.evaluate(async () => (await (await caches.open('t5-summarizer-models-v1')).keys()).map((r) => new URL(r.url).pathname));
  assert.ok(!cached.includes('/fixtures/tiny-t5/model.safetensors'), cached.join(' '));
  assert.equal(await c.text.inputValue(), ARTICLE.slice(0, 800));
  assert.deepEqual(problems, []);
  await context.close();
});

test('a connection dropped mid-download resumes where it broke off; one that keeps dropping gives up clearly', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  const c = controls(page);
  await setLimits(page, { maxNew: '8', maxInput: '64' });
  const weights = [];
  h.hooks.beforeServe = (req) => {
    if (req.url === '/fixtures/tiny-t5/model.safetensors') weights.push(req.headers.range ?? 'whole');
  };
  // The first response is cut off after 300 kB of the 816 kB.
  h.hooks.dropAfter = (req) => (req.url === '/fixtures/tiny-t5/model.safetensors' && weights.length === 1 ? 300_000 : null);
  await paste(page, ARTICLE.slice(0, 800));
  await c.summarize.click();
  const o = await waitForOutcome(page);
  // The stitched file passed the model's SHA-256 check, so it is byte for byte the original.
  assert.match(o.status, /^Done: /, o.error);
  assert.equal(weights.length, 2, weights.join(', '));
  assert.match(weights[1], /^bytes=\d+-$/);
  assert.ok(Number(/\d+/.exec(weights[1])[0]) > 0, weights[1]);

  // Now every response breaks off: after three resumes the page says so, and caches nothing.
  await page.evaluate(() => caches.delete('t5-summarizer-models-v1'));
  await c.model.selectOption('tiny-flan-t5-q8_0');
  h.hooks.beforeServe = null;
  h.hooks.dropAfter = (req) => (req.url === '/fixtures/tiny-flan-t5/model-q8_0.gguf' ? 50_000 : null);
  await c.summarize.click();
  const failed = await waitForOutcome(page);
  assert.match(failed.error, /^model-q8_0\.gguf: the download from http:\/\/localhost:\d+\/fixtures\/tiny-flan-t5\/model-q8_0\.gguf broke off after \d+ bytes \(resumed 3 times\)$/);
  const cached = await page.evaluate(async () => (await (await caches.open('t5-summarizer-models-v1')).keys()).map((r) => new URL(r.url).pathname));
  assert.ok(!cached.includes('/fixtures/tiny-flan-t5/model-q8_0.gguf'), cached.join(' '));
  h.hooks.dropAfter = null;
  await c.summarize.click();
  assert.match((await waitForOutcome(page)).status, /^Done: /);
  assert.equal(await c.text.inputValue(), ARTICLE.slice(0, 800));
  assert.deepEqual(problems.filter((p) => !/ERR_|Failed to load resource/.test(p)), []);
  await context.close();
});

test('a download shows bytes of total per file and can be aborted mid-file; nothing half-written is cached', async () => {
  const seen = h.requests.length;
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  const c = controls(page);
  // The weights stall after 300 kB (the first time), so Cancel catches them mid-file.
  let stalled = 0;
  h.hooks.stallAfter = (req) => (req.url === '/fixtures/tiny-t5/model.safetensors' && stalled++ === 0 ? 300_000 : null);
  await paste(page, ARTICLE.slice(0, 800));
  await c.summarize.click();
  const downloads = page.getByRole('list', { name: 'Downloads' });
  await page.waitForFunction(() => /model\.safetensors: 0\.30 MB of 0\.8\d MB$/m.test(document.getElementById('downloads').innerText));
  const rows = (await downloads.getByRole('listitem').allTextContents()).sort();
  assert.deepEqual(rows.map((r) => r.replace(/[\d.]+ MB/g, 'N MB')), ['config.json: N MB of N MB ✓', 'model.safetensors: N MB of N MB', 'tokenizer.json: N MB of N MB ✓']);
  await c.cancel.click();
  const cancelled = await waitForOutcome(page, 10_000);
  assert.equal(cancelled.status, 'Cancelled.');
  assert.ok(await downloads.isHidden(), 'the list goes when the download does');
  const cachedNow = await page.evaluate(async () => (await (await caches.open('t5-summarizer-models-v1')).keys()).map((r) => new URL(r.url).pathname));
  assert.ok(!cachedNow.includes('/fixtures/tiny-t5/model.safetensors'), cachedNow.join(' '));
  assert.equal(stalled, 1);
  h.hooks.stallAfter = null;
  await c.summarize.click();
  const o = await waitForOutcome(page);
  assert.match(o.status, /^Done: /, o.error);
  assert.equal(h.requests.slice(seen).filter((u) => u === '/fixtures/tiny-t5/model.safetensors').length, 2, 'the weights were downloaded again, whole');
  assert.deepEqual(problems, []);
  await context.close();
});

test('a download that stalls is resumed after stallSeconds; one that keeps stalling gives up clearly', { timeout: 60_000 }, async () => {
  const { page, context, problems } = await h.newPage('');
  // The weights send 300 kB and then nothing: the first time only, then every time.
  let stalls = 0;
  h.hooks.stallAfter = (req) => (req.url === '/fixtures/tiny-t5/model.safetensors' && stalls++ === 0 ? 300_000 : null);
  const create = (options) =>
    page.evaluate(async (o) => {
      const { Summarizer } = await import('./summarizer.js');
      try {
        const s = await Summarizer.create({ model: 'tiny-t5', metrics: false, ...o });
        const out = { summary: await s.summarize('The council met on Tuesday and voted to fund the new library.', { maxNewTokens: 5 }) };
        s.destroy();
        return out;
      } catch (e) {
        return { error: e.message, kind: e.kind };
      }
    }, options);
  const once = await create({ stallSeconds: 1 });
  assert.ok(once.summary?.length > 0, JSON.stringify(once));
  assert.equal(stalls, 2, 'stalled once, then resumed');
  // Every response stalls: after three resumes, a message that says so. Nothing is cached.
  await page.evaluate(() => caches.delete('t5-summarizer-models-v1'));
  h.hooks.stallAfter = (req) => (req.url === '/fixtures/tiny-t5/model.safetensors' ? (req.headers.range ? 0 : 300_000) : null);
  const never = await create({ stallSeconds: 1 });
  assert.equal(never.kind, 'download');
  assert.match(never.error, /^model\.safetensors: the download from http:\/\/[\w.:]+\/fixtures\/tiny-t5\/model\.safetensors stalled \(no data for 1 s\) after 300000 bytes \(resumed 3 times\)$/);
  const left = await page.evaluate(async () => (await (await caches.open('t5-summarizer-models-v1')).keys()).map((r) => new URL(r.url).pathname));
  assert.ok(!left.includes('/fixtures/tiny-t5/model.safetensors'), left.join(' '));
  h.hooks.stallAfter = null;
  // A server that never answers at all.
  h.hooks.beforeServe = (req) => (req.url === '/fixtures/tiny-t5/model.safetensors' ? new Promise(() => {}) : null);
  const mute = await create({ stallSeconds: 1 });
  assert.match(mute.error ?? '', /^model\.safetensors: no answer from http:\/\/[\w.:]+\/fixtures\/tiny-t5\/model\.safetensors within 1 s$/);
  h.hooks.beforeServe = null;
  assert.equal((await create({ stallSeconds: 0 })).kind, 'invalid-option');
  assert.ok((await create({})).summary?.length > 0, 'the next load works');
  assert.deepEqual(problems.filter((p) => !/Failed to load resource/.test(p)), []);
  await context.close();
});
