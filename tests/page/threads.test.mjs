// The threaded wasm build: picked when the page is cross-origin isolated, with a pool as large as
// the machine's cores; the single-thread build otherwise (and when asked), saying why. Both give
// the same summaries (f32 and q8_0 kernels split across threads), and load records say which ran.
// Chromium runs relaxed SIMD, so the relaxed builds are the default; the plain SIMD128 build runs
// when asked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, ARTICLE } from './harness.mjs';

async function summarizeWith(page, model, threads, relaxedSimd) {
  return page.evaluate(
    async ({ text, model, threads, relaxedSimd }) => {
      const { Summarizer } = await import('./summarizer.js');
      const records = [];
      const s = await Summarizer.create({
        model,
        threads,
        relaxedSimd,
        maxNewTokens: 24,
        maxInputTokens: 96,
        onMetrics: (r) => records.push(...r),
      });
      const out = await s.summarizeDetailed(text, { numBeams: 3 });
      s.destroy();
      const load = records.find((r) => r.type === 'model_loading');
      return {
        runtime: s.runtime,
        storage: s.storage,
        ids: out.passes[0].map((c) => c.outputIds),
        text: out.text,
        device: load?.device,
        cores: navigator.hardwareConcurrency,
        isolated: crossOriginIsolated,
      };
    },
    { text: ARTICLE, model, threads, relaxedSimd },
  );
}

test('isolated page: threaded build, same summaries as the single-thread build', async () => {
  const h = await launch();
  try {
    const { page, problems } = await h.newPage('');
    for (const model of ['tiny-t5', 'tiny-flan-t5-q8_0']) {
      const threaded = await summarizeWith(page, model, undefined);
      const single = await summarizeWith(page, model, false);
      const plain = await summarizeWith(page, model, false, false);
      assert.ok(threaded.isolated);
      assert.equal(threaded.runtime.build, 'threads', JSON.stringify(threaded.runtime));
      assert.equal(threaded.runtime.threads, Math.min(threaded.cores, 8));
      assert.equal(threaded.device.threads, threaded.runtime.threads, 'load records say which build ran');
      // IndexedDB writes work from the threaded build too (its futures resume in later tasks).
      assert.equal(threaded.storage.persistent, true, JSON.stringify(threaded.storage));
      assert.equal(threaded.runtime.simd, 'relaxed');
      assert.equal(threaded.device.relaxedSimd, true);
      const { appFiles, ...singleRuntime } = single.runtime;
      assert.deepEqual(singleRuntime, { build: 'single', threads: 1, simd: 'relaxed', fallback: 'threads switched off', weightsRead: 'stream' });
      // What the service worker is asked to keep for offline starts: the build that ran.
      assert.ok(appFiles.some((u) => u.endsWith('/pkg-relaxed/t5_summarizer_bg.wasm')), appFiles.join(', '));
      assert.ok(threaded.runtime.appFiles.some((u) => u.endsWith('/pkg-threads/t5_summarizer_bg.wasm')));
      assert.equal(single.device.threads, 1);
      assert.equal(single.device.relaxedSimd, true);
      const { appFiles: plainFiles, ...plainRuntime } = plain.runtime;
      assert.deepEqual(plainRuntime, { build: 'single', threads: 1, simd: 'simd128', fallback: 'threads switched off', weightsRead: 'stream' });
      assert.ok(plainFiles.some((u) => u.endsWith('/pkg/t5_summarizer_bg.wasm')), plainFiles.join(', '));
      assert.equal(plain.device.relaxedSimd, undefined, 'plain SIMD128 records carry no relaxedSimd');
      // Not token-equal to the relaxed build: fused multiply-adds round once instead of twice,
      // and on these random tiny models beam search can then take another token at a near tie.
      // Faithfulness of both builds is what the parity and golden-summary tests of tests/web.rs
      // check; `./build.sh test` runs them in each build.
      assert.ok(plain.ids[0].length > 3, `${model}: the plain SIMD128 build summarizes`);
      assert.ok(threaded.ids[0].length > 3);
      assert.deepEqual(threaded.ids, single.ids, `${model}: threads changed the tokens`);
      assert.equal(threaded.text, single.text);
    }
    assert.deepEqual(problems, []);
  } finally {
    await h.close();
  }
});

test('page without COOP/COEP: single-thread build, and it says why', async () => {
  const h = await launch({ isolate: false });
  try {
    const { page } = await h.newPage('');
    const r = await summarizeWith(page, 'tiny-t5', undefined);
    assert.equal(r.isolated, false);
    assert.equal(r.runtime.build, 'single');
    assert.match(r.runtime.fallback, /not cross-origin isolated/);
    assert.ok(r.ids[0].length > 3);
  } finally {
    await h.close();
  }
});
