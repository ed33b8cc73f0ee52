// Page tests: the real app in headless Chromium, served by tools/serve.mjs, running the tiny-t5
// fixture model. Each test checks what a person sees, by the controls' accessible names.
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

const DONE = /^Done: /;

async function summarize(page, text, { maxNew = '12', maxInput = '64' } = {}) {
  const c = controls(page);
  await setLimits(page, { maxNew, maxInput });
  if (text.length > 100_000) {
    await paste(page, text); // typing a megabyte key by key through the test driver takes minutes
  } else {
    await c.text.fill(text);
  }
  await c.summarize.click();
  return c;
}

test('summarizes a multi-chunk text with the fixture model, streaming chunk by chunk', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  const c = controls(page);
  const deltas = [];
  await page.exposeFunction('recordSummary', (t) => deltas.push(t));
  await page.evaluate(() => {
    new MutationObserver(() => window.recordSummary(document.getElementById('summary').textContent)).observe(
      document.getElementById('summary'),
      { childList: true, characterData: true, subtree: true },
    );
  });
  await summarize(page, ARTICLE);
  await waitForOutcome(page);
  assert.match(await c.status.textContent(), DONE);
  assert.equal(await c.alert.isHidden(), true);
  const summary = (await c.summary.textContent()).trim();
  assert.ok(summary.length > 0, 'summary is empty');
  assert.ok(new Set(deltas).size > 2, `summary did not grow chunk by chunk: ${deltas.length} updates`);
  assert.equal(await c.progress.evaluate((p) => p.value), 1);
  assert.equal(await c.summarize.isEnabled(), true);
  assert.equal(await c.cancel.isDisabled(), true);
  assert.deepEqual(problems, []);
  await context.close();
});

test('Cancel stops a long run at once and the next summarize works', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  // The generation rate is updated while a chunk is being generated, not only between chunks. A
  // fixture chunk can take less time than a polling interval, so every status the page shows is seen.
  await page.evaluate(() => {
    const status = document.getElementById('status');
    window.__rates = new Map();
    new MutationObserver(() => {
      const m = /^(Chunk \d+ of \d+…) \((\d+\.\d) tokens\/s\)$/.exec(status.textContent);
      if (m) window.__rates.set(m[1], new Set([...(window.__rates.get(m[1]) ?? []), m[2]]));
    }).observe(status, { childList: true, characterData: true, subtree: true });
  });
  const c = await summarize(page, ARTICLE.repeat(30), { maxNew: '199', maxInput: '256' });
  await page.waitForFunction(() => /Chunk 2 of/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  await page.waitForFunction(() => [...window.__rates.values()].some((rates) => rates.size >= 2), null, { timeout: 30_000 });
  await c.cancel.click();
  await page.waitForFunction(() => document.getElementById('status').textContent === 'Cancelled.', null, { timeout: 5_000 });
  assert.equal(await c.summarize.isEnabled(), true);
  assert.equal((await c.text.inputValue()).length, ARTICLE.repeat(30).length, 'the text was changed');
  await summarize(page, ARTICLE.slice(0, 600));
  await waitForOutcome(page);
  assert.match(await c.status.textContent(), DONE);
  assert.ok((await c.summary.textContent()).trim().length > 0);
  assert.deepEqual(problems, []);
  await context.close();
});

test('empty or whitespace-only text gives a clear message and loads no model', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  const before = h.requests.length;
  const c = controls(page);
  for (const text of ['', '   \n\t  ']) {
    await c.text.fill(text);
    await c.summarize.click();
    await assert.doesNotReject(c.alert.waitFor({ state: 'visible', timeout: 5_000 }));
    assert.match(await c.alert.textContent(), /no text to summarize/i);
  }
  assert.equal(h.requests.slice(before).filter((u) => u.includes('/fixtures/')).length, 0, 'a model file was requested');
  assert.equal(await c.summarize.isEnabled(), true);
  assert.deepEqual(problems, []);
  await context.close();
});

test('broken model files give a message naming the file, and the page stays usable', async () => {
  const cases = [
    ['/broken/missing-weights/', /model\.safetensors: HTTP 404.*\/broken\/missing-weights\/model\.safetensors/],
    ['/broken/truncated/', /model\.safetensors: not a readable safetensors file/],
    ['/broken/bad-config/', /config\.json: not a valid T5 config/],
    ['/broken/bad-tokenizer/', /tokenizer\.json: not a valid tokenizer/],
    ['/broken/mismatched-config/', /^model\.safetensors: tensor 'shared\.weight' has shape \[593, 64\] but config\.json implies \[593, 128\]$/],
    ['/broken/wrong-vocab/', /^tokenizer\.json: the tokenizer has 593 tokens but the model only 100 \(they do not belong together\)$/],
    ['/broken/wrong-dtype/', /^model\.safetensors: tensor '[\w.]+' has dtype i32; expected f32, f16 or bf16$/],
    ['/broken/too-large/', /^model\.safetensors is 3\.2 GB: too large for WebAssembly memory in a browser tab \(at most 2\.1 GB of weights fit\); nothing was downloaded\./],
  ];
  for (const [base, expected] of cases) {
    const { page, context, problems } = await h.newPage(`?model=${encodeURIComponent(base)}`);
    const c = await summarize(page, ARTICLE.slice(0, 400));
    await c.alert.waitFor({ state: 'visible', timeout: 30_000 });
    assert.match(await c.alert.textContent(), expected);
    assert.equal(await c.summarize.isEnabled(), true);
    // Only the browser's own log line for the 404 itself is expected.
    assert.deepEqual(problems.filter((p) => !/status of 404/.test(p)), [], base);
    // The next summarize, with a good model, works.
    await c.model.selectOption('tiny-t5');
    await c.summarize.click();
    await waitForOutcome(page);
    assert.match(await c.status.textContent(), DONE, base);
    assert.equal(await c.alert.isHidden(), true);
    await context.close();
  }
});

test('a 1 MB text is chunked with progress while the page stays responsive', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  let big = '';
  while (big.length < 1_000_000) big += ARTICLE;
  const c = await summarize(page, big, { maxNew: '8', maxInput: '512' });
  // Chunk 3 or later: a fixture chunk can come and go between two polls.
  await page.waitForFunction(() => Number(/^Chunk (\d+) of \d+/.exec(document.getElementById('status').textContent)?.[1]) >= 3, null, { timeout: 60_000 });
  const total = Number((await c.status.textContent()).match(/of (\d+)/)[1]);
  assert.ok(total > 100, `expected many chunks, got ${total}`);
  // The main thread keeps handling input and progress messages while the worker computes.
  await c.text.press('End');
  await c.text.type('!');
  await page.waitForFunction(() => /Chunk (\d+) of/.test(document.getElementById('status').textContent) &&
    Number(document.getElementById('status').textContent.match(/Chunk (\d+)/)[1]) > 5, null, { timeout: 60_000 });
  assert.ok(await c.progress.evaluate((p) => p.value > 0 && p.value < 1));
  await c.cancel.click();
  await page.waitForFunction(() => document.getElementById('status').textContent === 'Cancelled.');
  assert.equal((await c.text.inputValue()).length, big.length + 1);
  assert.deepEqual(problems, []);
  await context.close();
});

test('model files come from Cache Storage after the first download', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  const weights = () => h.requests.filter((u) => u === '/fixtures/tiny-t5/model.safetensors').length;
  const start = weights();
  await summarize(page, ARTICLE.slice(0, 500));
  await waitForOutcome(page);
  assert.equal(weights() - start, 1);
  await page.reload();
  await summarize(page, ARTICLE.slice(0, 500));
  await waitForOutcome(page);
  assert.match(await controls(page).status.textContent(), DONE);
  assert.equal(weights() - start, 1, 'the weights were downloaded again after a reload');
  assert.deepEqual(problems, []);
  await context.close();
});

test('the settings show the model defaults, beam search streams its best hypothesis, and bad settings are refused', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  const c = controls(page);
  const seen = [];
  await page.exposeFunction('recordPending', (t) => seen.push(t));
  await page.evaluate(() => {
    new MutationObserver(() => {
      const p = document.querySelector('#summary .pending');
      if (p?.textContent) window.recordPending(p.textContent);
    }).observe(document.getElementById('summary'), { childList: true, characterData: true, subtree: true });
  });
  await summarize(page, ARTICLE.slice(0, 500), { maxNew: '16', maxInput: '128' });
  await waitForOutcome(page);
  assert.match(await c.status.textContent(), DONE);
  // tiny-t5's config.json carries t5's summarization defaults: 4 beams.
  assert.equal(await c.numBeams.getAttribute('placeholder'), '4');
  assert.ok(seen.length >= 3, `the chunk's best hypothesis was not shown while generating (${seen.length})`);
  const beamSummary = (await c.summary.textContent()).trim();
  assert.ok(beamSummary.length > 0);
  assert.equal(await page.locator('#summary .pending').count(), 0, 'the final summary replaces the pending text');

  // Sampling with more than one beam is refused before anything runs; the text stays.
  await c.numBeams.fill('3');
  await c.doSample.check();
  await c.summarize.click();
  await page.waitForFunction(() => !document.getElementById('error').hidden);
  assert.match(await c.alert.textContent(), /Sampling works with 1 beam/);
  assert.equal(await c.text.inputValue(), ARTICLE.slice(0, 500));

  // Greedy sampling with a seed works and differs from beam search.
  await c.numBeams.fill('1');
  await c.seed.fill('5');
  await c.summarize.click();
  await waitForOutcome(page);
  assert.match(await c.status.textContent(), DONE);
  assert.equal(await c.alert.isHidden(), true);
  assert.ok((await c.summary.textContent()).trim().length > 0);
  assert.deepEqual(problems, []);
  await context.close();
});

test('the summary type and length are the Summarizer API options: key points as lines, a headline, budgets as placeholders', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  const c = controls(page);
  await summarize(page, ARTICLE.slice(0, 1500), { maxNew: '', maxInput: '128' });
  await waitForOutcome(page);
  assert.match(await c.status.textContent(), DONE);
  // Paragraph (tldr), long: 128 new tokens per chunk unless the field says otherwise.
  assert.equal(await c.maxNew.getAttribute('placeholder'), '128');
  await page.locator('#summary-type').selectOption('key-points');
  await page.locator('#summary-length').selectOption('short');
  assert.equal(await c.maxNew.getAttribute('placeholder'), '64');
  await c.summarize.click();
  await waitForOutcome(page);
  assert.match(await c.status.textContent(), DONE);
  const points = (await c.summary.textContent()).trim().split('\n');
  assert.ok(points.length >= 1 && points.length <= 3, JSON.stringify(points));
  assert.ok(points.every((p) => !p.startsWith('- ')), 'plain text: no markdown bullets');
  await page.locator('#summary-type').selectOption('headline');
  await c.summarize.click();
  await waitForOutcome(page);
  const headline = (await c.summary.textContent()).trim();
  assert.ok(headline.split(/\s+/).length <= 12 && !headline.includes('\n'), headline);
  assert.deepEqual(problems, []);
  await context.close();
});
