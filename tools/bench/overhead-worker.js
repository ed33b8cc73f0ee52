// Runs inside a module worker, as the app does: summarizes the same text with metrics on and
// off, alternating, and reports each run's wall time. "On" includes what the logger does before
// the summary is returned (performance.now() reads, User Timing marks, building the records);
// writing them to IndexedDB happens after the result is posted, as in the app, and is timed
// separately (flushMs) and awaited before the next run so it never overlaps a measurement.
import init, { WasmSummarizer, get_performance_logger, clockReads } from '/pkg/t5_summarizer.js';

self.onmessage = async ({ data: { base, text, options, reps } }) => {
  await init();
  const logger = await get_performance_logger({ database: `overhead-bench-${Math.random()}` });
  const [config, tokenizer, weights] = await Promise.all(
    ['config.json', 'tokenizer.json', 'model.safetensors'].map(async (f) => new Uint8Array(await (await fetch(base + f)).arrayBuffer())),
  );
  const s = new WasmSummarizer(config, tokenizer, weights, { id: 'bench' });
  const run = async (on) => {
    s.setMetricsEnabled(on);
    const reads0 = clockReads();
    const t0 = performance.now();
    const out = s.summarize(text, options);
    const reads = clockReads() - reads0;
    const t1 = performance.now();
    const records = on ? logger.lastRecords.length : 0; // serialized after the result, as in the app
    if (on) await logger.flush();
    const t2 = performance.now();
    return { ms: t1 - t0, flushMs: t2 - t1, loggingMs: on ? s.lastLoggingMs : 0, reads, chunks: out.passes[0].length, records };
  };
  // Cost of one timer read from wasm, for the pipeline's performance.now() calls.
  const clockCalls = 100000;
  let t = performance.now();
  for (let i = 0; i < clockCalls; i++) performance.now();
  const nowUs = ((performance.now() - t) / clockCalls) * 1000;
  await run(true); // warm-up: JIT, allocator, database
  await run(false);
  const results = [];
  for (let i = 0; i < reps; i++) {
    // ABBA order cancels slow drifts (thermal, GC) between the two settings.
    for (const on of i % 2 ? [false, true] : [true, false]) results.push({ on, ...(await run(on)) });
  }
  self.postMessage({ results, nowUs });
};
