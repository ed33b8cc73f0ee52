// Integrity: model files are checked against their SHA-256 (the catalog's hashes, or the
// manifest.json next to a self-hosted model) before use; a mismatch is refused with a clear
// message and the file is evicted from the cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, controls, summarizeText, ARTICLE } from './harness.mjs';

const run = (page) => summarizeText(page, ARTICLE.slice(0, 600), { timeout: 60_000 });

let h;
before(async () => {
  h = await launch();
});
after(async () => {
  await h?.close();
});

const cached = (page) =>
  page.evaluate(async () => (await (await caches.open('t5-summarizer-models-v1')).keys()).map((r) => new URL(r.url).pathname));

test('a self-hosted model whose files match its manifest loads, and its hash is in the records', async () => {
  const { page, context, problems } = await h.newPage(`?model=${encodeURIComponent('/broken/verified/')}`);
  const o = await run(page);
  assert.match(o.status, /^Done: /, o.error);
  const sha = await page.evaluate(async () => {
    const { getPerformanceLogger } = await import('./summarizer.js');
    const records = await (await getPerformanceLogger()).records();
    return records.find((r) => r.type === 'model_loading')?.model?.sha256 ?? null;
  });
  assert.match(sha ?? '', /^[0-9a-f]{64}$/);
  assert.deepEqual(problems, []);
  await context.close();
});

test('weights that do not match the manifest are refused, named, and evicted from the cache', async () => {
  const { page, context, problems } = await h.newPage(`?model=${encodeURIComponent('/broken/tampered/')}`);
  const o = await run(page);
  assert.match(o.error, /^model\.safetensors: its SHA-256 \([0-9a-f]{16}…\) is not the expected [0-9a-f]{16}…: the file is damaged or was changed\. It was removed from the cache/);
  const left = await cached(page);
  assert.ok(!left.includes('/broken/tampered/model.safetensors'), left.join(' '));
  assert.ok(left.includes('/broken/tampered/config.json'), 'the good files stay cached');
  // The page stays usable: the built-in test model (with its built-in hashes) summarizes next.
  await controls(page).model.selectOption('tiny-t5');
  assert.match((await run(page)).status, /^Done: /);
  assert.deepEqual(problems, []);
  await context.close();
});

test('a manifest that is not JSON is reported as such', async () => {
  const { page, context } = await h.newPage(`?model=${encodeURIComponent('/broken/bad-manifest/')}`);
  const o = await run(page);
  assert.match(o.error, /manifest\.json of .*\/broken\/bad-manifest\/ is not valid JSON/);
  await context.close();
});

// A model in the hub's layout is checked against the hub's own file list (its tree API), as the
// hub's client does: SHA-256 for Git LFS files (the weights), git blob SHA-1 for the others.
const HUB_MODEL = (repo) => `?model=${encodeURIComponent(`/broken/hub/org/${repo}/resolve/main/`)}`;

test("a hub model is checked against the hub's file list, which is cached with it", async () => {
  const { page, context, problems } = await h.newPage(HUB_MODEL('tiny-t5'));
  const seen = h.requests.length;
  const o = await run(page);
  assert.match(o.status, /^Done: [^]*\.$/, o.error);
  assert.doesNotMatch(o.status, /not checked/);
  assert.ok(h.requests.slice(seen).includes('/broken/hub/api/models/org/tiny-t5/tree/main'), 'the file list was asked for');
  const integrity = await page.evaluate(async () => {
    const { Summarizer } = await import('./summarizer.js');
    const s = await Summarizer.create({ model: '/broken/hub/org/tiny-t5/resolve/main/', metrics: false });
    s.destroy();
    return s.integrity;
  });
  assert.deepEqual(integrity, {
    source: 'hub',
    files: { 'config.json': 'git blob SHA-1', 'tokenizer.json': 'git blob SHA-1', 'model.safetensors': 'SHA-256' },
    note: null,
  });
  assert.ok((await cached(page)).includes('/broken/hub/org/tiny-t5/resolve/main/hub-checksums.json'));
  // Next time everything, the file list included, comes from the cache and is checked again.
  await page.reload();
  const again = h.requests.length;
  assert.match((await run(page)).status, /^Done: /);
  assert.deepEqual(h.requests.slice(again).filter((u) => u.startsWith('/broken/hub/')), []);
  assert.deepEqual(problems, []);
  await context.close();
});

test('weights whose SHA-256 is not the one the hub lists are refused and evicted with the list', async () => {
  const { page, context, problems } = await h.newPage(HUB_MODEL('tampered-weights'));
  const o = await run(page);
  assert.match(o.error, /^model\.safetensors: its SHA-256 \([0-9a-f]{16}…\) is not the one the hub lists [0-9a-f]{16}…: the file is damaged or was changed\. It was removed from the cache/);
  const left = await cached(page);
  assert.ok(!left.some((u) => /tampered-weights\/resolve\/main\/(model\.safetensors|hub-checksums\.json)$/.test(u)), left.join(' '));
  assert.deepEqual(problems, []);
  await context.close();
});

test('a small file whose git blob SHA-1 is not the one the hub lists is refused', async () => {
  const { page, context } = await h.newPage(HUB_MODEL('edited-config'));
  const o = await run(page);
  assert.match(o.error, /^config\.json: its git blob SHA-1 \([0-9a-f]{16}…\) is not the one the hub lists [0-9a-f]{16}…/);
  await context.close();
});

test('without a file list from the hub the model runs, and the page says its files were not checked', async () => {
  const { page, context } = await h.newPage(HUB_MODEL('no-api'));
  const o = await run(page);
  assert.match(o.status, /^Done: .* Model files: config\.json, tokenizer\.json, model\.safetensors not checked: the hub's file list could not be fetched \(HTTP 404 Not Found for http:\/\/[\w.]+:\d+\/broken\/hub\/api\/models\/org\/no-api\/tree\/main\)\.$/);
  await context.close();
});

test("the hub's file list URL and git blob ids, as the hub and git compute them", async () => {
  const { hubTreeUrl, gitBlobSha1, checksumsFromTree } = await import('../../www/integrity.js');
  const { MODELS } = await import('../../www/models.js');
  assert.equal(hubTreeUrl('https://huggingface.co/google-t5/t5-small/resolve/main/'), 'https://huggingface.co/api/models/google-t5/t5-small/tree/main');
  assert.equal(hubTreeUrl('https://mirror.example/hf/org/repo/resolve/v1.0/'), 'https://mirror.example/hf/api/models/org/repo/tree/v1.0');
  assert.equal(hubTreeUrl('https://huggingface.co/t5-small/resolve/main/'), null, 'a repository without its owner is not guessed');
  assert.equal(hubTreeUrl('http://localhost:8080/models/my-t5/'), null);
  // Every hub model in the picker is checked against the hub's list.
  for (const m of MODELS.filter((m) => m.baseUrl.startsWith('https://huggingface.co/'))) assert.ok(hubTreeUrl(m.baseUrl), m.id);
  // `printf 'hello\n' | git hash-object --stdin`
  assert.equal(await gitBlobSha1(new TextEncoder().encode('hello\n')), 'ce013625030ba8dba906f756967f9e9ca394464a');
  assert.deepEqual(
    checksumsFromTree([
      { type: 'directory', oid: 'a'.repeat(40), path: 'onnx' },
      { type: 'file', oid: 'b'.repeat(40), path: 'config.json' },
      { type: 'file', oid: 'c'.repeat(40), path: 'model.safetensors', lfs: { oid: 'D'.repeat(64), size: 1, pointerSize: 130 } },
      { type: 'file', oid: 'not a hash', path: 'odd.txt' },
    ]),
    { 'config.json': { gitSha1: 'b'.repeat(40) }, 'model.safetensors': { sha256: 'd'.repeat(64) } },
  );
  assert.throws(() => checksumsFromTree({ error: 'Repository not found' }), /not a list of files/);
});
