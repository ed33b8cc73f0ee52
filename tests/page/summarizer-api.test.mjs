// Conformance of www/summarizer.js to the Writing Assistance APIs' Summarizer interface
// (webmachinelearning/writing-assistance-apis, index.bs): options and attributes, availability,
// the monitor's progress events, errors, abort and destroy, streaming, measuring usage, and the
// global install. Written from the specification; the model is the tiny-t5 test fixture.
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

/** Runs `fn(text)` in a fresh page of the app's origin (it imports the API itself); returns its result. */
async function inPage(fn, arg = ARTICLE) {
  const { page, context, problems } = await h.newPage('');
  try {
    return { out: await page.evaluate(fn, arg), problems };
  } finally {
    await context.close();
  }
}

test('create(): the specification defaults and every option readable back', async () => {
  const { out, problems } = await inPage(async () => {
    const { Summarizer } = await import('./summarizer.js');
    const d = await Summarizer.create({ model: 'tiny-t5' });
    const o = await Summarizer.create({
      model: 'tiny-t5',
      type: 'headline',
      format: 'plain-text',
      length: 'long',
      preference: 'speed',
      sharedContext: 'A news story.',
      expectedInputLanguages: ['en-US', 'EN-us', 'en'],
      expectedContextLanguages: ['en-GB'],
      outputLanguage: 'EN',
    });
    const read = (s) => ({
      type: s.type,
      format: s.format,
      length: s.length,
      preference: s.preference,
      sharedContext: s.sharedContext,
      expectedInputLanguages: s.expectedInputLanguages,
      expectedContextLanguages: s.expectedContextLanguages,
      outputLanguage: s.outputLanguage,
      inputQuota: String(s.inputQuota),
      frozen: s.expectedInputLanguages === null || Object.isFrozen(s.expectedInputLanguages),
      methods: ['summarize', 'summarizeStreaming', 'measureInputUsage', 'destroy'].every((m) => typeof s[m] === 'function'),
    });
    const r = [read(d), read(o)];
    d.destroy();
    o.destroy();
    return r;
  });
  assert.deepEqual(out[0], {
    type: 'key-points',
    format: 'markdown',
    length: 'short',
    preference: 'auto',
    sharedContext: '',
    expectedInputLanguages: null,
    expectedContextLanguages: null,
    outputLanguage: null,
    inputQuota: 'Infinity',
    frozen: true,
    methods: true,
  });
  assert.deepEqual(out[1], {
    type: 'headline',
    format: 'plain-text',
    length: 'long',
    preference: 'speed',
    sharedContext: 'A news story.',
    // Canonicalized, deduplicated, then replaced by their best fit among the supported ones.
    expectedInputLanguages: ['en'],
    expectedContextLanguages: ['en'],
    outputLanguage: 'en',
    inputQuota: 'Infinity',
    frozen: true,
    methods: true,
  });
  assert.deepEqual(problems, []);
});

test('options are validated as the specification says: TypeError for enums, RangeError for tags', async () => {
  const { out } = await inPage(async () => {
    const { Summarizer } = await import('./summarizer.js');
    const name = async (p) => {
      try {
        await p();
        return 'resolved';
      } catch (e) {
        return e.constructor.name;
      }
    };
    const bad = [
      { type: 'summary' },
      { format: 'html' },
      { length: 'tiny' },
      { preference: 'fast' },
      { expectedInputLanguages: 'en' },
      { expectedInputLanguages: ['not a language tag'] },
      { expectedContextLanguages: ['en', '123456789'] },
      { outputLanguage: '' },
      { signal: 'not a signal' },
      { monitor: 'not a function' },
    ];
    const results = {};
    for (const o of bad) {
      const key = JSON.stringify(o);
      results[key] = [await name(() => Summarizer.create({ model: 'tiny-t5', ...o })), await name(() => Summarizer.availability({ model: 'tiny-t5', ...o }))];
    }
    return results;
  });
  const expect = (o, create, availability) => assert.deepEqual(out[JSON.stringify(o)], [create, availability], JSON.stringify(o));
  expect({ type: 'summary' }, 'TypeError', 'TypeError');
  expect({ format: 'html' }, 'TypeError', 'TypeError');
  expect({ length: 'tiny' }, 'TypeError', 'TypeError');
  expect({ preference: 'fast' }, 'TypeError', 'TypeError');
  expect({ expectedInputLanguages: 'en' }, 'TypeError', 'TypeError');
  expect({ expectedInputLanguages: ['not a language tag'] }, 'RangeError', 'RangeError');
  expect({ expectedContextLanguages: ['en', '123456789'] }, 'RangeError', 'RangeError');
  expect({ outputLanguage: '' }, 'RangeError', 'RangeError');
  // availability() takes no signal or monitor: they are ignored there.
  expect({ signal: 'not a signal' }, 'TypeError', 'resolved');
  expect({ monitor: 'not a function' }, 'TypeError', 'resolved');
});

test('availability(): downloadable, downloading, available, and unavailable for other languages', async () => {
  const { out } = await inPage(async () => {
    const { Summarizer } = await import('./summarizer.js');
    const a = (o = {}) => Summarizer.availability({ model: 'tiny-t5', ...o });
    const before = await a();
    const creating = Summarizer.create({ model: 'tiny-t5' });
    const during = await a();
    const s = await creating;
    const after = await a();
    const languages = {
      en: await a({ expectedInputLanguages: ['en'] }),
      'en-GB': await a({ expectedInputLanguages: ['en-GB'], outputLanguage: 'en-US' }),
      ja: await a({ expectedInputLanguages: ['ja'] }),
      'output fr': await a({ outputLanguage: 'fr' }),
      'context de': await a({ expectedContextLanguages: ['de'] }),
    };
    let createJa = null;
    try {
      await Summarizer.create({ model: 'tiny-t5', expectedInputLanguages: ['ja'] });
    } catch (e) {
      createJa = [e.name, e instanceof DOMException];
    }
    s.destroy();
    return { before, during, after, languages, createJa };
  });
  assert.equal(out.before, 'downloadable');
  assert.equal(out.during, 'downloading');
  assert.equal(out.after, 'available');
  assert.deepEqual(out.languages, { en: 'available', 'en-GB': 'available', ja: 'unavailable', 'output fr': 'unavailable', 'context de': 'unavailable' });
  assert.deepEqual(out.createJa, ['NotSupportedError', true]);
});

test('availability() is unavailable and create() rejects with NotSupportedError without WebAssembly SIMD or workers', async () => {
  const { out } = await inPage(async () => {
    const { Summarizer } = await import('./summarizer.js');
    const probe = async () => {
      let create = null;
      try {
        (await Summarizer.create({ model: 'tiny-t5' })).destroy();
        create = 'resolved';
      } catch (e) {
        create = [e.name, e instanceof DOMException, /SIMD|Workers/.test(e.message)];
      }
      return { availability: await Summarizer.availability({ model: 'tiny-t5' }), create };
    };
    const validate = WebAssembly.validate;
    // A browser without SIMD128 fails to validate a module that uses it.
    WebAssembly.validate = (bytes) => !new Uint8Array(bytes).includes(0xfd) && validate(bytes);
    const noSimd = await probe();
    WebAssembly.validate = validate;
    const worker = self.Worker;
    self.Worker = undefined;
    const noWorker = await probe();
    self.Worker = worker;
    return { noSimd, noWorker, restored: await Summarizer.availability({ model: 'tiny-t5' }) };
  });
  for (const gap of ['noSimd', 'noWorker']) {
    assert.deepEqual(out[gap], { availability: 'unavailable', create: ['NotSupportedError', true, true] }, gap);
  }
  assert.equal(out.restored, 'downloadable');
});

test('monitor(): ProgressEvents from 0 to 1 in steps of 1/65536, the handler attribute, and the byte-level extension', async () => {
  const { out, problems } = await inPage(async () => {
    const { Summarizer } = await import('./summarizer.js');
    const events = [];
    let handled = 0;
    let detail = [];
    const s = await Summarizer.create({
      model: 'tiny-t5',
      monitor(m) {
        m.addEventListener('downloadprogress', (e) => events.push({ loaded: e.loaded, total: e.total, lengthComputable: e.lengthComputable, isProgress: e instanceof ProgressEvent }));
        m.ondownloadprogress = () => handled++;
        m.addEventListener('modelprogress', (e) => detail.push([e.phase, e.bytesLoaded, e.bytesTotal]));
      },
    });
    const files = s.files.reduce((n, f) => n + f.bytes, 0);
    s.destroy();
    // A second create finds the files cached: still a 0 and a 1.
    const again = [];
    const s2 = await Summarizer.create({ model: 'tiny-t5', monitor: (m) => m.addEventListener('downloadprogress', (e) => again.push(e.loaded)) });
    s2.destroy();
    let thrown = null;
    const boom = new Error('monitor failed');
    try {
      await Summarizer.create({
        model: 'tiny-t5',
        monitor() {
          throw boom;
        },
      });
    } catch (e) {
      thrown = e === boom;
    }
    return { events, handled, detail, files, again, thrown };
  });
  const loaded = out.events.map((e) => e.loaded);
  assert.equal(loaded[0], 0);
  assert.equal(loaded.at(-1), 1);
  assert.ok(loaded.every((x, i) => i === 0 || x > loaded[i - 1]), `increasing: ${loaded}`);
  assert.ok(loaded.every((x) => Number.isInteger(x * 65536)));
  assert.ok(out.events.every((e) => e.total === 1 && e.lengthComputable && e.isProgress));
  assert.equal(out.handled, out.events.length);
  assert.ok(out.detail.some(([phase, bytes, total]) => phase === 'download' && bytes === out.files && total === out.files));
  assert.equal(out.detail.at(-1)[0], 'load');
  assert.deepEqual(out.again, [0, 1]);
  assert.equal(out.thrown, true);
  assert.deepEqual(problems, []);
});

test('abort and destroy: the signal reason, others in flight complete, destroy rejects all with AbortError', async () => {
  const { out, problems } = await inPage(async (text) => {
    const { Summarizer } = await import('./summarizer.js');
    // What a promise settles to: its value, or what it rejected with.
    const reasonOf = async (p) => {
      try {
        return await p;
      } catch (e) {
        return e;
      }
    };
    // An already aborted create() signal rejects at once with its reason.
    const early = new AbortController();
    const why = new Error('not now');
    early.abort(why);
    const preAborted = (await reasonOf(Summarizer.create({ model: 'tiny-t5', signal: early.signal }))) === why;
    // Aborted while loading.
    const mid = new AbortController();
    const loading = reasonOf(Summarizer.create({ model: 'tiny-t5', signal: mid.signal }));
    mid.abort('stop loading');
    const midReason = await loading;

    const opts = { maxNewTokens: 12, minNewTokens: 12, maxInputTokens: 64, numBeams: 1, refine: false };
    // The runs the worker finished: their metric records arrive whether or not a caller waits.
    const finished = new Set();
    const onMetrics = (records) => records.forEach((r) => r.type === 'total_processing' && finished.add(r.runId));
    const s = await Summarizer.create({ model: 'tiny-t5', type: 'tldr', length: 'long', onMetrics });
    const alone = await s.summarize(text, opts);
    // Three calls in flight; the middle one is aborted while the first runs.
    const c = new AbortController();
    // (Each promise is watched at once: a rejection nobody handles yet is a page error.)
    const calls = [s.summarize(text, opts), s.summarize(text, { ...opts, signal: c.signal }), s.summarize(text, opts)].map(reasonOf);
    const reason = new DOMException('user pressed stop', 'AbortError');
    c.abort(reason);
    const results = await Promise.all(calls);
    // The running one aborted: the next still completes.
    const c2 = new AbortController();
    const running = reasonOf(s.summarize(text, { ...opts, signal: c2.signal }));
    const queued = reasonOf(s.summarize(text, opts));
    await new Promise((r) => setTimeout(r, 30));
    c2.abort();
    const afterRunning = [(await running).name, await queued];
    // Only the calls nobody aborted ran to the end: alone, the first and third of three, queued.
    await new Promise((r) => setTimeout(r, 200));
    const finishedRuns = finished.size;
    // Already aborted call signals.
    const gone = new AbortController();
    gone.abort('gone');
    const preCall = [await reasonOf(s.summarize(text, { signal: gone.signal })), await reasonOf(s.measureInputUsage(text, { signal: gone.signal }))];
    let streamThrew = null;
    try {
      s.summarizeStreaming(text, { signal: gone.signal });
    } catch (e) {
      streamThrew = e;
    }
    // destroy(): what is pending and everything after rejects with AbortError.
    const pending = reasonOf(s.summarize(text, opts));
    s.destroy();
    const destroyed = await pending;
    const later = [await reasonOf(s.summarize(text)), await reasonOf(s.measureInputUsage(text))];
    let laterStream = null;
    try {
      s.summarizeStreaming(text);
    } catch (e) {
      laterStream = e.name;
    }
    // Aborting create()'s signal after it resolved destroys the summarizer.
    const owner = new AbortController();
    const s2 = await Summarizer.create({ model: 'tiny-t5', signal: owner.signal });
    owner.abort('page closed');
    const afterOwner = await reasonOf(s2.summarize(text));
    return {
      preAborted,
      midReason,
      alone,
      results: [results[0], results[1] === reason, results[2]],
      afterRunning,
      finishedRuns,
      preCall,
      streamThrew,
      destroyed: [destroyed.name, destroyed instanceof DOMException],
      later: later.map((e) => e.name),
      laterStream,
      afterOwner,
    };
  });
  assert.equal(out.preAborted, true);
  assert.equal(out.midReason, 'stop loading');
  assert.ok(out.alone.length > 0);
  assert.deepEqual(out.results, [out.alone, true, out.alone]);
  assert.deepEqual(out.afterRunning, ['AbortError', out.alone]);
  assert.equal(out.finishedRuns, 4, 'an aborted call kept running in the worker');
  assert.deepEqual(out.preCall, ['gone', 'gone']);
  assert.equal(out.streamThrew, 'gone');
  assert.deepEqual(out.destroyed, ['AbortError', true]);
  assert.deepEqual(out.later, ['AbortError', 'AbortError']);
  assert.equal(out.laterStream, 'AbortError');
  assert.equal(out.afterOwner, 'page closed');
  assert.deepEqual(problems, []);
});

test('summarizeStreaming(): word by word, adding up to the summary; cancel and break stop the model at once', async () => {
  const { out, problems } = await inPage(async (text) => {
    const { Summarizer } = await import('./summarizer.js');
    const finished = new Set();
    const onMetrics = (records) => records.forEach((r) => r.type === 'total_processing' && finished.add(r.runId));
    const s = await Summarizer.create({ model: 'tiny-t5', type: 'tldr', length: 'long', maxInputTokens: 128, maxNewTokens: 24, minNewTokens: 24, onMetrics });
    const chunk = text.slice(0, 400);
    const pieces = [];
    for await (const piece of s.summarizeStreaming(chunk)) pieces.push(piece);
    const whole = await s.summarize(chunk, { numBeams: 1, refine: false });
    // Beam search: a chunk's text once it is done.
    const beamPieces = [];
    for await (const piece of s.summarizeStreaming(text, { numBeams: 2 })) beamPieces.push(piece);
    const beamWhole = await s.summarize(text, { numBeams: 2, refine: false });
    // reader.cancel() after the first piece: no token comes after the next step.
    let tokens = 0;
    const reader = s.summarizeStreaming(text, { onProgress: (e) => e.type === 'token' && tokens++ }).getReader();
    await reader.read();
    await reader.cancel();
    const atCancel = tokens;
    await new Promise((r) => setTimeout(r, 500));
    const afterCancel = tokens - atCancel;
    // break out of for await.
    let broke = 0;
    for await (const piece of s.summarizeStreaming(text, { onProgress: (e) => e.type === 'token' && broke++ })) {
      if (piece) break;
    }
    const atBreak = broke;
    await new Promise((r) => setTimeout(r, 500));
    const afterBreak = broke - atBreak;
    // The summarizer still works after both.
    const still = await s.summarize(chunk, { numBeams: 1, refine: false });
    await new Promise((r) => setTimeout(r, 200));
    // Four runs before the cancelled and the broken-off one, and one after: those two stopped.
    const finishedRuns = finished.size;
    // Empty input: a stream that closes with no chunk.
    const empty = await s.summarizeStreaming('   ').getReader().read();
    s.destroy();
    return { pieces, whole, beamPieces, beamWhole, afterCancel, afterBreak, still, finishedRuns, empty, chunks: Math.ceil(text.length / 400) };
  });
  assert.ok(out.pieces.length > 3, `only ${out.pieces.length} pieces`);
  assert.equal(out.pieces.join(''), out.whole);
  assert.equal(out.beamPieces.join(''), out.beamWhole);
  // Token events already on their way when the page cancelled may still arrive; the run stops.
  assert.ok(out.afterCancel <= 3, `${out.afterCancel} tokens after cancel`);
  assert.ok(out.afterBreak <= 3, `${out.afterBreak} tokens after break`);
  assert.equal(out.still, out.whole);
  assert.equal(out.finishedRuns, 5, 'a cancelled stream kept running in the worker');
  assert.equal(out.empty.done, true);
  assert.deepEqual(problems, []);
});

test('empty input resolves "", measureInputUsage is 0 with an unbounded quota, countTokens counts', async () => {
  const { out } = await inPage(async () => {
    const { Summarizer } = await import('./summarizer.js');
    const s = await Summarizer.create({ model: 'tiny-t5' });
    const r = {
      empty: await s.summarize(''),
      blank: await s.summarize(' \n\t '),
      usage: await s.measureInputUsage('Some words to measure.'),
      quota: String(s.inputQuota),
      tokens: await s.countTokens('Some words to measure.'),
    };
    s.destroy();
    return r;
  });
  assert.deepEqual({ ...out, tokens: out.tokens > 2 }, { empty: '', blank: '', usage: 0, quota: 'Infinity', tokens: true });
});

test('the options shape the output: length budgets, key points, headline, plain text', async () => {
  const { out } = await inPage(async (text) => {
    const { Summarizer } = await import('./summarizer.js');
    const run = async (o) => {
      const s = await Summarizer.create({ model: 'tiny-t5', maxInputTokens: 128, ...o });
      const d = await s.summarizeDetailed(text);
      s.destroy();
      return { text: d.text, settings: d.settings, longest: Math.max(...d.passes.at(-1).map((c) => c.outputIds.length)) };
    };
    return {
      short: await run({ type: 'tldr', length: 'short' }),
      long: await run({ type: 'tldr', length: 'long', refine: false }),
      headline: await run({ type: 'headline', length: 'short' }),
      points: await run({ type: 'key-points', format: 'markdown', length: 'medium' }),
      plainPoints: await run({ type: 'key-points', format: 'plain-text', length: 'medium' }),
    };
  });
  assert.equal(out.short.settings.maxNewTokens, 40);
  assert.equal(out.long.settings.maxNewTokens, 128);
  assert.equal(out.headline.settings.maxNewTokens, 24);
  assert.equal(out.points.settings.maxNewTokens, 112);
  assert.ok(out.short.longest <= 40 && out.long.longest <= 128 && out.headline.longest <= 24);
  assert.ok(!out.short.text.includes('\n') && out.short.text.split(/(?<=[.!?])\s+/).length === 1, out.short.text);
  assert.ok(out.headline.text.split(/\s+/).length <= 12 && !/[.!?]$/.test(out.headline.text), out.headline.text);
  const md = out.points.text.split('\n');
  assert.ok(md.length <= 5 && md.every((l) => l.startsWith('- ')), out.points.text);
  assert.ok(out.plainPoints.text.split('\n').every((l) => !l.startsWith('- ')));
});

test('preference and context: speed is greedy, contexts reach an instruction-tuned model only', async () => {
  const { out } = await inPage(async (text) => {
    const { Summarizer } = await import('./summarizer.js');
    const chunk = text.slice(0, 300);
    const ids = async (model, o, call = {}) => {
      const s = await Summarizer.create({ model, type: 'tldr', length: 'long', ...o });
      const d = await s.summarizeDetailed(chunk, { refine: false, ...(typeof call === 'function' ? call(s) : call) });
      s.destroy();
      return { input: d.passes[0][0].inputIds.length, output: d.passes[0][0].outputIds.join(','), beams: d.settings.numBeams ?? s.info.generation.numBeams };
    };
    return {
      speed: await ids('tiny-t5', { preference: 'speed' }),
      greedy: await ids('tiny-t5', {}, { numBeams: 1 }),
      capability: await ids('tiny-t5', { preference: 'capability' }),
      defaultBeams: await ids('tiny-t5', {}, (s) => ({ numBeams: s.info.generation.numBeams })),
      t5Plain: await ids('tiny-t5', {}),
      t5Context: await ids('tiny-t5', { sharedContext: 'A report about a flood in a small town.' }, { context: 'For engineers.' }),
      flanPlain: await ids('tiny-flan-t5-q8_0', {}),
      flanContext: await ids('tiny-flan-t5-q8_0', { sharedContext: 'A report about a flood in a small town.' }, { context: 'For engineers.' }),
    };
  });
  assert.equal(out.speed.beams, 1);
  assert.equal(out.speed.output, out.greedy.output);
  assert.ok(out.capability.beams > 1, "the fixture's settings use beam search");
  assert.equal(out.capability.output, out.defaultBeams.output);
  assert.equal(out.t5Context.input, out.t5Plain.input, 't5-small takes no instructions: contexts are ignored');
  assert.ok(out.flanContext.input > out.flanPlain.input + 5, 'flan-t5 reads the contexts');
});

test('errors are DOMExceptions with the specification names, still carrying kind', async () => {
  const { out } = await inPage(async () => {
    const { Summarizer } = await import('./summarizer.js');
    const err = async (o) => {
      try {
        await Summarizer.create({ metrics: false, ...o });
        return 'resolved';
      } catch (e) {
        return [e instanceof DOMException, e.name, e.kind];
      }
    };
    return {
      missing: await err({ model: '/no-such-model/' }),
      broken: await err({ model: '/broken/bad-config/' }),
      tooLarge: await err({ model: '/broken/too-large/' }),
    };
  });
  assert.deepEqual(out.missing, [true, 'NetworkError', 'download']);
  assert.deepEqual(out.broken, [true, 'OperationError', 'model-file']);
  assert.deepEqual(out.tooLarge, [true, 'QuotaExceededError', 'too-large']);
});

test('install(): the global Summarizer where there is none or it cannot summarize, a working one left alone unless forced, in workers too', async () => {
  const { page, context, problems } = await h.newPage('');
  try {
    const out = await page.evaluate(async () => {
      // Chromium ships a Summarizer whose on-device model is missing here: it says "unavailable".
      const native = self.Summarizer ?? null;
      const nativeAvailability = native ? await native.availability() : null;
      await import('./summarizer-global.js?model=tiny-t5');
      const { Summarizer, install } = await import('./summarizer.js');
      const installed = self.Summarizer === Summarizer;
      // A working built-in one is left alone, unless forced.
      const working = function Native() {};
      working.availability = async () => 'available';
      const scope = { Summarizer: working };
      const kept = install({ scope }) === working && scope.Summarizer === working;
      const forced = install({ scope, force: true }) === Summarizer && scope.Summarizer === Summarizer;
      const empty = {};
      const filled = install({ scope: empty }) === Summarizer && empty.Summarizer === Summarizer;
      // The default model comes from the module URL: create() with no model loads tiny-t5.
      const s = await self.Summarizer.create();
      const id = s.model.id;
      s.destroy();
      // A module worker that imports the global install summarizes with its own nested worker.
      const worker = new Worker('/examples/worker-example.js', { type: 'module' });
      const inWorker = await new Promise((resolve) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => resolve(`error: ${e.message}`);
      });
      worker.terminate();
      return { native: Boolean(native), nativeAvailability, installed, kept, forced, filled, id, inWorker };
    });
    if (out.native) assert.equal(out.nativeAvailability, 'unavailable');
    assert.equal(out.installed, true);
    assert.equal(out.kept, true);
    assert.equal(out.forced, true);
    assert.equal(out.filled, true);
    assert.equal(out.id, 'tiny-t5');
    assert.equal(typeof out.inWorker, 'string');
    assert.ok(out.inWorker.length > 0 && !out.inWorker.startsWith('error'), out.inWorker);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('published example code runs unchanged on the global install: monitor, quota, streaming, a Stop button', async () => {
  const { page, context, problems } = await h.newPage('examples/published.html');
  try {
    // A long text, so that the stoppable stream is still running when Stop is clicked.
    await page.locator('#input').fill(ARTICLE.repeat(3));
    await page.locator('#summarize').click();
    await page.waitForFunction(() => window.results.summary !== undefined, null, { timeout: 120_000 });
    await page.locator('#stream').click();
    await page.waitForFunction(() => window.results.streamed !== undefined, null, { timeout: 120_000 });
    await page.locator('#stream-stoppable').click();
    await page.waitForFunction(() => document.getElementById('output').textContent.length > 0, null, { timeout: 60_000 });
    await page.locator('#stop').click();
    await page.waitForFunction(() => window.results.stoppable !== undefined, null, { timeout: 60_000 });
    const r = await page.evaluate(() => window.results);
    assert.equal(r.availability, 'downloadable');
    assert.equal(r.progress[0], 0);
    assert.equal(r.progress.at(-1), 1);
    assert.equal(r.usage, 0);
    assert.equal(r.quota, Infinity);
    const lines = r.summary.split('\n');
    assert.ok(lines.length >= 1 && lines.length <= 5 && lines.every((l) => l.startsWith('- ')), r.summary);
    assert.ok(r.streamed.length > 1);
    assert.equal(r.stoppable.status, 'stopped');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
