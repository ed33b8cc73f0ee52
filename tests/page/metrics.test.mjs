// Page tests of the performance logger: a real summarize in headless Chromium, the dashboard,
// both downloads (the JSON validated against www/performance_metrics.schema.json with ajv),
// threshold alerts, persistence across reloads, Clear metrics, two tabs at once, and the memory
// fallback when IndexedDB cannot be opened.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import Ajv2020 from 'ajv/dist/2020.js';
import { launch, controls, setLimits, ARTICLE, ROOT, FIXTURES } from './harness.mjs';

let h;
before(async () => {
  h = await launch();
});
after(async () => {
  await h?.close();
});

const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'www/performance_metrics.schema.json'), 'utf8'));
const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
const FIXTURE_SHA = crypto.createHash('sha256').update(fs.readFileSync(path.join(FIXTURES, 'tiny-t5/model.safetensors'))).digest('hex');
const LOG_LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d - model_performance_logger - (INFO|WARNING|ERROR) - \S/;

async function summarize(page, text = ARTICLE) {
  const c = controls(page);
  await setLimits(page, { maxNew: '12', maxInput: '64' });
  await c.text.fill(text);
  await c.summarize.click();
  await page.waitForFunction(
    () => /^Done/.test(document.getElementById('status').textContent) || !document.getElementById('error').hidden,
    null,
    { timeout: 120_000 },
  );
  assert.equal(await page.locator('#error').isHidden(), true, await page.locator('#error').textContent());
}

async function openDashboard(page) {
  if (!(await page.locator('#dashboard').evaluate((d) => d.open))) await page.getByText('Performance dashboard').click();
  await page.getByRole('img', { name: 'Stage breakdown per run' }).or(page.getByText('No finished runs yet.')).first().waitFor();
  return page.locator('#metrics-status');
}

async function recordCount(page) {
  const text = await (await openDashboard(page)).textContent();
  return Number(/^([\d,]+) performance records/.exec(text)[1].replace(/,/g, ''));
}

async function downloadText(page, name) {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name }).click()]);
  assert.equal(dl.suggestedFilename(), name.replace('Download ', ''));
  return fs.readFileSync(await dl.path(), 'utf8');
}

test('a summarize is fully logged: dashboard, alert, both downloads valid, every stage present', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  // An unreachable tokens/s floor so the run must raise an alert.
  await openDashboard(page);
  await page.getByLabel('Alert when tokens/s falls below').fill('1000000');
  await page.getByLabel('Alert when tokens/s falls below').dispatchEvent('change');
  await summarize(page);

  const alerts = page.getByRole('region', { name: 'Performance alerts' });
  await alerts.waitFor();
  assert.match(await alerts.textContent(), /tokens\/s [\d.]+ is below the threshold of 1000000\.00/);

  await page.getByRole('img', { name: 'Stage breakdown per run' }).waitFor();
  for (const name of ["Tokens per second over time (mean of each run's chunks)", 'Model load time over time (seconds)']) {
    assert.ok((await page.getByRole('img', { name }).locator('circle').count()) > 0, `${name} has points`);
  }
  assert.ok((await page.locator('rect[data-stage=decode]').count()) >= 1);
  const models = page.locator('table', { hasText: 'Models compared' });
  assert.match(await models.textContent(), /tiny-t5 \(f32, sha256 [0-9a-f]{8}\)/);
  assert.match(await page.locator('table', { hasText: 'Per stage' }).textContent(), /decode_per_token/);

  const exported = JSON.parse(await downloadText(page, 'Download performance_metrics.json'));
  assert.ok(validate(exported), JSON.stringify(validate.errors, null, 1));
  const types = new Set(exported.records.map((r) => r.type));
  for (const t of ['model_loading', 'preprocessing', 'inference', 'total_processing', 'memory', 'alert']) assert.ok(types.has(t), `${t} missing`);
  const ops = new Set(exported.records.filter((r) => r.type === 'preprocessing').map((r) => r.operation));
  assert.deepEqual([...ops].sort(), ['chunk_plan', 'detokenize', 'merge', 'normalize', 'tokenize']);
  const load = exported.records.find((r) => r.type === 'model_loading');
  assert.equal(load.model.sha256, FIXTURE_SHA, 'the weights hash is measured, not invented');
  assert.equal(load.model.id, 'tiny-t5');
  assert.deepEqual(load.files.map((f) => f.file).sort(), ['config.json', 'model.safetensors', 'tokenizer.json']);
  assert.ok(load.files.every((f) => f.cacheHit === false && f.fetchSeconds >= 0 && f.bytes > 0));
  assert.ok(load.loadSeconds >= load.parseSeconds && load.parseSeconds > 0);
  assert.equal(load.device.backend, 'cpu-wasm');
  assert.ok(load.memoryAfter.linearMemoryBytes > 0);
  const inference = exported.records.filter((r) => r.type === 'inference');
  assert.ok(inference.length > 3);
  for (const r of inference) {
    assert.ok(r.encoderSeconds > 0 && r.decodeSeconds > 0 && r.tokenSeconds.length === r.outputTokens, JSON.stringify(r));
    assert.ok(r.encoderSeconds + r.decodeSeconds <= r.inferenceSeconds + 1e-9);
  }
  const total = exported.records.find((r) => r.type === 'total_processing');
  assert.ok(inference.reduce((n, r) => n + r.inferenceSeconds, 0) <= total.totalSeconds);
  assert.equal(total.errorCount, 0);
  assert.ok(exported.records.every((r) => r.environment.userAgent.includes('Chrome') && r.environment.hardwareConcurrency >= 1));
  assert.equal(new Set(exported.records.map((r) => r.sessionId)).size, 1, 'page and worker share the session id');
  assert.ok(exported.summary.stages.encoder.count === inference.length);

  const log = (await downloadText(page, 'Download performance.log')).trimEnd().split('\n');
  assert.ok(log.every((l) => LOG_LINE.test(l)), log.find((l) => !LOG_LINE.test(l)));
  assert.match(log[0], / - INFO - Model 'tiny-t5' loaded on cpu-wasm in \d+\.\d{4} seconds$/);
  assert.ok(log.some((l) => / - WARNING - Alert: tokens\/s /.test(l)));
  assert.ok(log.some((l) => /Total processing completed - Time: [\d.]+s, Chunks: \d+, Success: \d+, Errors: 0 \(0\.0%\)/.test(l)));

  // Survives a reload; Clear metrics asks first, and "no" keeps everything.
  const before = await recordCount(page);
  assert.equal(before, exported.records.length);
  await page.reload();
  assert.equal(await recordCount(page), before);
  page.once('dialog', (d) => d.dismiss());
  await page.getByRole('button', { name: 'Clear metrics' }).click();
  await page.waitForTimeout(300);
  assert.equal(await recordCount(page), before);
  page.once('dialog', (d) => {
    assert.match(d.message(), /Delete all [\d,]+ stored performance records\?/);
    d.accept();
  });
  await page.getByRole('button', { name: 'Clear metrics' }).click();
  await page.waitForFunction(() => /^0 performance records/.test(document.getElementById('metrics-status').textContent));

  // After the reload the model comes from the cache (the weights as a blob on disk, never read
  // whole): the digest taken while it streamed in is the file's, and nothing was hashed again.
  await summarize(page);
  const again = JSON.parse(await downloadText(page, 'Download performance_metrics.json'));
  const cachedLoad = again.records.find((r) => r.type === 'model_loading');
  assert.ok(cachedLoad.files.every((f) => f.cacheHit === true), JSON.stringify(cachedLoad.files));
  assert.equal(cachedLoad.model.sha256, FIXTURE_SHA);
  assert.deepEqual(problems, []);
  await context.close();
});

test('two tabs summarizing at once lose no records', async () => {
  const context = await h.browser.newContext();
  const pages = [await context.newPage(), await context.newPage()];
  for (const p of pages) await p.goto(`${h.server.url}?model=tiny-t5`);
  await Promise.all(pages.map((p) => summarize(p)));
  const counts = await pages[0].evaluate(async () => {
    const { getPerformanceLogger } = await import('./summarizer.js');
    const records = await (await getPerformanceLogger()).records();
    return {
      runs: records.filter((r) => r.type === 'total_processing').length,
      chunks: records.filter((r) => r.type === 'total_processing').reduce((n, r) => n + r.chunkCount, 0),
      inference: records.filter((r) => r.type === 'inference').length,
      loads: records.filter((r) => r.type === 'model_loading').length,
      sessions: new Set(records.map((r) => r.sessionId)).size,
    };
  });
  assert.deepEqual({ runs: counts.runs, loads: counts.loads, sessions: counts.sessions }, { runs: 2, loads: 2, sessions: 2 });
  assert.equal(counts.inference, counts.chunks);
  await context.close();
});

test('when IndexedDB cannot be opened, records stay in memory, the page says so, and nothing breaks', async () => {
  const context = await h.browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  // A newer version of the database exists: opening version 1 fails with a VersionError.
  await page.addInitScript(() => {
    indexedDB.open('t5-summarizer-metrics', 99).onsuccess = (e) => e.target.result.close();
  });
  await page.goto(`${h.server.url}?model=tiny-t5`);
  await summarize(page);
  const notice = page.locator('#metrics-notice');
  await notice.waitFor();
  assert.match(await notice.textContent(), /kept in memory only .*IndexedDB could not be opened/);
  const status = await openDashboard(page);
  assert.match(await status.textContent(), /kept in memory only/);
  assert.ok((await recordCount(page)) > 5, 'the worker\'s records reached the dashboard');
  const exported = JSON.parse(await downloadText(page, 'Download performance_metrics.json'));
  assert.ok(validate(exported), JSON.stringify(validate.errors));
  assert.deepEqual(problems, []);
  await context.close();
});

test('a failed download is recorded as an error with its file and URL, even though the worker is then stopped', async () => {
  const { page, context, problems } = await h.newPage('?model=/broken/missing-weights/');
  const c = controls(page);
  await c.text.fill(ARTICLE);
  await c.summarize.click();
  await page.waitForFunction(() => !document.getElementById('error').hidden);
  assert.match(await c.alert.textContent(), /model\.safetensors: HTTP 404/);
  const errors = await page.evaluate(async () => {
    const { getPerformanceLogger } = await import('./summarizer.js');
    return (await (await getPerformanceLogger()).records()).filter((r) => r.type === 'error');
  });
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.equal(errors[0].stage, 'download');
  assert.equal(errors[0].model.id, '/broken/missing-weights/');
  assert.match(errors[0].context.url, /\/broken\/missing-weights\/model\.safetensors$/);
  assert.equal(errors[0].context.file, 'model.safetensors');
  assert.ok(problems.every((p) => /404/.test(p)), problems.join('\n'));
  await context.close();
});
