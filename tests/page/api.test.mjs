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
      type: 'tldr',
      length: 'long',
      preference: 'speed',
      maxNewTokens: 10,
      maxInputTokens: 64,
      monitor(m) {
        m.addEventListener('modelprogress', (e) => progress.push([e.type, e.loaded, e.phase, e.bytesTotal]));
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
  assert.ok(out.progress.every(([type]) => type === 'modelprogress'));
  assert.deepEqual(out.progress.at(-1).slice(1, 3), [1, 'load']);
  const bytes = out.files.reduce((n, f) => n + f.bytes, 0);
  assert.ok(out.progress.some(([, , phase, total]) => phase === 'download' && total === bytes));
  assert.ok(out.whole.length > 0);
  assert.ok(out.pieces.length > 1, 'streaming gave one piece only');
  assert.equal(out.pieces.join(''), out.whole);
  assert.ok(out.detailed.passes[0].length > 1);
  assert.ok(out.detailed.passes[0].every((c) => c.inputIds.length <= 64 && c.outputIds.length <= 10));
  assert.equal(out.afterDestroy, 'AbortError');
  assert.equal(out.info.prefix, 'summarize: ');
  assert.deepEqual(problems, []);
  await context.close();
});

test('profile: true says where the time went, stage by stage, and changes no token', async () => {
  const { page, context, problems } = await h.newPage('');
  const out = await page.evaluate(async () => {
    const { Summarizer } = await import('./summarizer.js');
    const s = await Summarizer.create({ model: 'tiny-t5' });
    const text = 'The river rose after a week of rain. The bridge was closed for two days.';
    const opts = { numBeams: 1, maxNewTokens: 6, minNewTokens: 6 };
    const plain = await s.summarizeDetailed(text, opts);
    const profiled = await s.summarizeDetailed(text, { ...opts, profile: true });
    s.destroy();
    return { plain, profiled };
  });
  assert.equal(out.plain.profile, undefined);
  assert.deepEqual(out.profiled.passes, out.plain.passes);
  const stages = Object.fromEntries(out.profiled.profile.map((s) => [s.stage, s]));
  for (const name of ['decoder.lm_head', 'search', 'event']) assert.equal(stages[name]?.calls, 6, name);
  assert.equal(stages['decoder.feed_forward'].calls, 6 * 2); // two decoder layers
  assert.ok(out.profiled.profile.every((s) => s.ms >= 0 && s.ms < 60_000));
  assert.ok(out.profiled.profile.some((s) => s.ms > 0), 'no stage took any time');
  assert.deepEqual(problems, []);
  await context.close();
});

test('a crash in the wasm instance is reported and the worker restarts', async () => {
  // A chunk beyond the declared range is refused up front, with the range (it used to trap).
  const { page: first, context: firstContext } = await h.newPage('');
  const refused = await first.evaluate(async (text) => {
    const { Summarizer } = await import('./summarizer.js');
    const s = await Summarizer.create({ model: 'tiny-t5', maxNewTokens: 5 });
    try {
      await s.summarize(text, { maxInputTokens: 1_000_000 });
      return null;
    } catch (e) {
      return { message: e.message, kind: e.kind, name: e.name };
    }
  }, ARTICLE);
  assert.equal(refused?.kind, 'invalid-option', JSON.stringify(refused));
  assert.match(refused.message, /maxInputTokens must be in \[2, 4096\], not 1000000/);
  await firstContext.close();
  // Within the range, a browser that gives WebAssembly at most 64 MiB (as a phone or a crowded
  // tab might) cannot hold the position bias of a 4096-token chunk (4 heads × 4096² f32: 256 MiB):
  // the allocator is refused and the instance traps mid-run.
  const small = await launch({ args: ['--js-flags=--wasm-max-mem-pages=1024'] });
  try {
    const { page, context, problems } = await small.newPage('');
    const out = await page.evaluate(async (text) => {
      const { Summarizer } = await import('./summarizer.js');
      const s = await Summarizer.create({ model: 'tiny-t5', maxNewTokens: 5, threads: false });
      let crash = null;
      try {
        await s.summarize(text.repeat(12), { maxInputTokens: 4096 });
      } catch (e) {
        crash = { message: e.message, kind: e.kind, name: e.name };
      }
      const after = await s.summarize(text.slice(0, 300), { maxInputTokens: 64 });
      return { crash, after };
    }, ARTICLE);
    assert.equal(out.crash?.kind, 'out-of-memory', JSON.stringify(out.crash));
    assert.equal(out.crash.name, 'QuotaExceededError');
    assert.match(out.crash.message, /ran out of memory.*It has been restarted/);
    assert.ok(out.after.length > 0, 'the restarted worker summarizes');
    // The panic hook logs the Rust abort to the console: that line is expected here, nothing else.
    assert.deepEqual(problems.filter((p) => !/panicked|RuntimeError|unreachable|memory allocation/.test(p)), []);
    await context.close();
  } finally {
    await small.close();
  }
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

test('generation settings: beam search, sampling per seed, clear errors, and a GGUF model', async () => {
  const { page, context, problems } = await h.newPage('');
  const out = await page.evaluate(async (text) => {
    const { Summarizer } = await import('./summarizer.js');
    const chunk = text.slice(0, 400);
    const base = { maxInputTokens: 128, maxNewTokens: 12, refine: false };
    const s = await Summarizer.create({ model: 'tiny-flan-t5-q8_0', ...base });
    const texts = [];
    const beam = await s.summarizeDetailed(chunk, {
      numBeams: 3,
      lengthPenalty: 1.5,
      noRepeatNgramSize: 2,
      repetitionPenalty: 1.2,
      earlyStopping: 'never',
      onProgress: (e) => e.type === 'token' && texts.push(e.text),
    });
    const greedy = await s.summarize(chunk, { numBeams: 1 });
    const sample = (seed) => s.summarize(chunk, { doSample: true, seed, temperature: 1.5, topK: 0, topP: 0.95 });
    const [a, b, c] = [await sample(7), await sample(7), await sample(8)];
    const errors = [];
    for (const bad of [{ numBeams: 2, doSample: true }, { numBeams: 0 }, { earlyStopping: 'sometimes' }, { topP: 1.5, doSample: true }]) {
      try {
        await s.summarize(chunk, bad);
        errors.push(null);
      } catch (e) {
        errors.push({ kind: e.kind, message: e.message });
      }
    }
    const after = await s.summarize(chunk);
    return { info: s.info, beam: beam.text, texts, greedy, a, b, c, errors, after };
  }, ARTICLE);
  assert.equal(out.info.dtype, 'f32+q8_0');
  assert.equal(out.info.generation.numBeams, 1);
  assert.ok(out.beam.length > 0);
  assert.ok(out.texts.length >= 2, 'token events carry the current best text');
  assert.ok(out.texts.every((t) => typeof t === 'string'));
  assert.equal(out.a, out.b, 'the same seed gives the same summary');
  assert.notEqual(out.a, out.c, 'another seed gives another summary');
  for (const e of out.errors) assert.equal(e?.kind, 'invalid-option', JSON.stringify(e));
  assert.match(out.errors[0].message, /sampling works with numBeams 1 only/);
  assert.match(out.errors[1].message, /numBeams must be in \[1, 16\], not /);
  assert.match(out.errors[2].message, /earlyStopping must be true, false or "never"/);
  assert.match(out.errors[3].message, /topP must be in \(0, 1\]/);
  assert.ok(out.after.length > 0, 'the summarizer works after bad settings');
  assert.deepEqual(problems, []);
  await context.close();
});

test("quantize: 'int8' converts any weights file at load; the relaxed-SIMD and plain builds give the same tokens", async () => {
  const { page, context, problems } = await h.newPage('');
  const out = await page.evaluate(async (text) => {
    const { Summarizer } = await import('./summarizer.js');
    const chunk = text.slice(0, 400);
    const opts = { maxInputTokens: 128, numBeams: 1, maxNewTokens: 12, minNewTokens: 12, refine: false };
    const run = async (model, create) => {
      const s = await Summarizer.create({ model, threads: false, ...create });
      const d = await s.summarizeDetailed(chunk, opts);
      const r = { dtype: s.info.dtype, simd: s.runtime.simd, weightsRead: s.runtime.weightsRead, ids: d.passes[0][0].outputIds, text: d.text };
      s.destroy();
      return r;
    };
    const f32 = await run('tiny-t5', {});
    const int8 = await run('tiny-t5', { quantize: 'int8' });
    const int8Plain = await run('tiny-t5', { quantize: 'int8', relaxedSimd: false });
    const fromQ8 = await run('tiny-flan-t5-q8_0', { quantize: 'int8' });
    const fromQ8Plain = await run('tiny-flan-t5-q8_0', { quantize: 'int8', relaxedSimd: false });
    let bad = null;
    try {
      await Summarizer.create({ model: 'tiny-t5', quantize: 'int4' });
    } catch (e) {
      bad = { kind: e.kind, message: e.message };
    }
    return { f32, int8, int8Plain, fromQ8, fromQ8Plain, bad };
  }, ARTICLE);
  assert.equal(out.f32.dtype, 'f32');
  assert.equal(out.int8.dtype, 'f32 → int8');
  assert.equal(out.fromQ8.dtype, 'f32+q8_0 → int8');
  assert.equal(out.int8.simd, 'relaxed', 'headless Chromium runs the relaxed-SIMD build');
  assert.equal(out.int8Plain.simd, 'simd128');
  // Weights from Cache Storage are read a tensor at a time by a BYOB stream (no garbage behind).
  for (const r of [out.f32, out.int8, out.fromQ8Plain]) assert.equal(r.weightsRead, 'stream');
  for (const r of [out.int8, out.fromQ8]) assert.ok(r.text.length > 0 && r.ids.length === 12);
  // Both builds compute the same integers (relaxed int8 dot vs i32x4.dot_i16x8_s) and scale
  // them the same way, so they pick the same tokens.
  assert.deepEqual(out.int8Plain.ids, out.int8.ids);
  assert.deepEqual(out.fromQ8Plain.ids, out.fromQ8.ids);
  assert.equal(out.bad?.kind, 'invalid-option');
  assert.match(out.bad.message, /quantize must be 'int8'/);
  assert.deepEqual(problems, []);
  await context.close();
});
