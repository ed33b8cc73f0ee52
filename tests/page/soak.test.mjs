// Soak: 200 summaries in a row in one page, of mixed lengths, every tenth cancelled mid-run.
// The worker's wasm memory must stop growing after the first few runs, no worker or object URL
// may leak, and every finished run's records must be stored exactly once. The figures are
// printed (`# soak: …` lines in the test output).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { launch, controls, setLimits, paste, waitForOutcome, ARTICLE } from './harness.mjs';

let h;
before(async () => {
  h = await launch();
});
after(async () => {
  await h?.close();
});

const RUNS = 200;
const WARMUP = 10;

// Lengths cycle through short to the whole article; the longest comes first, so the warm-up
// runs have already met the largest input (and the largest allocation) of the soak.
const LENGTHS = [ARTICLE.length, 120, 600, 1500, 3000];
const cancelled = (i) => i % 10 === 7;
const textOf = (i) => (cancelled(i) ? ARTICLE : ARTICLE.slice(0, LENGTHS[i % LENGTHS.length]));

test('200 summaries in one page: wasm memory flat after the first few, no leaks, records stored once', async () => {
  const { page, context, problems } = await h.newPage('?model=tiny-t5');
  // Count the page's workers and object URLs from the first script on (a reload re-runs this).
  await context.addInitScript(() => {
    const Base = window.Worker;
    const counts = { made: 0, terminated: 0, urls: new Set() };
    window.Worker = class extends Base {
      constructor(...args) {
        super(...args);
        counts.made++;
      }
      terminate() {
        counts.terminated++;
        return super.terminate();
      }
    };
    const create = URL.createObjectURL.bind(URL);
    const revoke = URL.revokeObjectURL.bind(URL);
    URL.createObjectURL = (o) => {
      const u = create(o);
      counts.urls.add(u);
      return u;
    };
    URL.revokeObjectURL = (u) => {
      counts.urls.delete(u);
      return revoke(u);
    };
    window.__soak = () => ({ made: counts.made, terminated: counts.terminated, liveUrls: counts.urls.size });
  });
  await page.reload();
  const c = controls(page);
  await setLimits(page, { maxNew: '8', maxInput: '64' });
  const outcomes = { done: 0, cancelled: 0 };
  const started = Date.now();
  for (let i = 0; i < RUNS; i++) {
    await paste(page, textOf(i));
    await page.evaluate(() => {
      document.getElementById('status').textContent = '';
    });
    // A cancelled run is the whole article, cancelled when its second chunk starts: the
    // Cancel button is clicked from the page itself, the moment the status says so.
    const cancelling = cancelled(i)
      ? page.evaluate(
          () =>
            new Promise((resolve) => {
              const status = document.getElementById('status');
              const seen = new MutationObserver(() => {
                if (!/^Chunk [2-9]/.test(status.textContent)) return;
                seen.disconnect();
                document.getElementById('cancel').click();
                resolve();
              });
              seen.observe(status, { childList: true, characterData: true, subtree: true });
            }),
        )
      : null;
    await c.summarize.click();
    await cancelling;
    const { status, error } = await waitForOutcome(page);
    assert.equal(await page.locator('#error').isHidden(), true, `run ${i}: ${error}`);
    if (/^Cancelled/.test(status)) outcomes.cancelled++;
    else outcomes.done++;
    // The summary box is reset per run: nothing of earlier runs piles up in the DOM.
    assert.ok((await c.summary.evaluate((el) => el.childNodes.length)) <= 2, `run ${i}: summary nodes`);
  }
  const seconds = (Date.now() - started) / 1000;
  assert.equal(outcomes.cancelled, RUNS / 10, `every cancel took effect: ${JSON.stringify(outcomes)}`);

  // Counted before the export below, whose download URL lives 10 s by design.
  const leaks = await page.evaluate(() => window.__soak());
  // The stored records, as the user exports them.
  if (!(await page.locator('#dashboard').evaluate((d) => d.open))) await page.getByText('Performance dashboard').click();
  const [dl] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download performance_metrics.json' }).click(),
  ]);
  const { records } = JSON.parse(fs.readFileSync(await dl.path(), 'utf8'));
  const loadRun = records.find((r) => r.type === 'model_loading')?.runId;
  const summaryRuns = (type) => records.filter((r) => r.type === type && r.runId !== loadRun);
  const totals = summaryRuns('total_processing');
  const ids = totals.map((r) => r.runId);
  assert.equal(new Set(ids).size, ids.length, 'each run has one total_processing record');
  assert.equal(totals.length, outcomes.done, 'every finished run is stored, and only once');
  const memory = summaryRuns('memory').sort((a, b) => a.timestamp - b.timestamp);
  assert.equal(memory.length, outcomes.done, 'one memory record per finished run');
  assert.equal(new Set(memory.map((r) => r.runId)).size, memory.length, 'one memory record per run');
  // Each run's chunks are stored once each, all of them.
  const chunks = new Map();
  for (const r of summaryRuns('inference')) {
    const key = `${r.runId}/${r.chunkId}`;
    assert.ok(!chunks.has(key), `chunk ${key} stored twice`);
    chunks.set(key, r.runId);
  }
  for (const t of totals) {
    const n = [...chunks.values()].filter((id) => id === t.runId).length;
    assert.equal(n, t.chunkCount, `run ${t.runId}: ${n} chunk records for ${t.chunkCount} chunks`);
  }

  const linear = memory.map((r) => r.memory.linearMemoryBytes);
  const heap = memory.map((r) => r.memory.currentBytes);
  const warm = Math.min(WARMUP, linear.length - 1);
  const mb = (b) => (b / 2 ** 20).toFixed(2);
  const figures = {
    runs: RUNS,
    ...outcomes,
    seconds: Number(seconds.toFixed(1)),
    linearMemoryMB: { first: mb(linear[0]), afterWarmup: mb(linear[warm]), max: mb(Math.max(...linear)), last: mb(linear.at(-1)) },
    rustHeapMB: { first: mb(heap[0]), afterWarmup: mb(heap[warm]), max: mb(Math.max(...heap.slice(warm))), last: mb(heap.at(-1)) },
    workers: leaks.made,
    workersTerminated: leaks.terminated,
    liveObjectUrls: leaks.liveUrls,
    records: records.length,
  };
  console.log(`# soak: ${JSON.stringify(figures)}`);
  // Linear memory never shrinks; it must not grow after the warm-up runs.
  assert.equal(Math.max(...linear.slice(warm)), linear[warm], `wasm memory grew after run ${warm}: ${linear.map(mb).join(' ')}`);
  // What Rust holds between runs comes back to the same level (inputs differ, so allow 1 MB).
  assert.ok(heap.at(-1) <= heap[warm] + 2 ** 20, `Rust heap ${mb(heap[warm])} → ${mb(heap.at(-1))} MB`);
  assert.equal(leaks.made, 1, 'one worker for the whole soak');
  assert.equal(leaks.terminated, 0);
  assert.equal(leaks.liveUrls, 0, 'every object URL was revoked');
  assert.deepEqual(problems, []);
});
