// Shared setup for page tests: the app's own server, Debian's Chromium via playwright-core, and a
// record of every console error and uncaught exception on the page.
import { chromium } from 'playwright-core';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../tools/serve.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = path.join(ROOT, 'tests/fixtures');
export const ARTICLE = fs.readFileSync(path.join(FIXTURES, 'article.txt'), 'utf8');

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const sha = (algo, ...parts) => parts.reduce((h, p) => h.update(p), crypto.createHash(algo)).digest('hex');

/**
 * The model hub's file list (the JSON its tree API answers) for the files in `dir`: each file's
 * git blob SHA-1 as `oid`, and for the weights (stored with Git LFS on the hub) the SHA-256 of
 * the content as `lfs.oid` (`oid` is then the id of the LFS pointer file).
 */
export function hubTree(dir, files = ['config.json', 'tokenizer.json', 'model.safetensors']) {
  const gitSha1 = (b) => sha('sha1', `blob ${b.length}\0`, b);
  return files.map((f) => {
    const b = fs.readFileSync(path.join(dir, f));
    if (!/\.(safetensors|gguf)$/.test(f)) return { type: 'file', oid: gitSha1(b), size: b.length, path: f };
    const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha('sha256', b)}\nsize ${b.length}\n`;
    return { type: 'file', oid: gitSha1(Buffer.from(pointer)), size: b.length, path: f, lfs: { oid: sha('sha256', b), size: b.length, pointerSize: pointer.length } };
  });
}

/** Writes broken model folders (from the tiny-t5 fixture) for error-path tests. */
export function makeBrokenModels() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 't5-broken-'));
  const src = path.join(FIXTURES, 'tiny-t5');
  const copy = (name, edit = (b) => b) => {
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) {
      fs.writeFileSync(path.join(dir, name, f), edit(fs.readFileSync(path.join(src, f)), f));
    }
  };
  copy('truncated', (b, f) => (f === 'model.safetensors' ? b.subarray(0, Math.floor(b.length / 2)) : b));
  copy('bad-config', (b, f) => (f === 'config.json' ? Buffer.from('{"d_model": 64, oops') : b));
  copy('bad-tokenizer', (b, f) => (f === 'tokenizer.json' ? Buffer.from('{"not": "a tokenizer"}') : b));
  // Integrity: a manifest of the true hashes, with weights that parse but differ by one value.
  const manifest = (b) => {
    const files = {};
    for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) {
      files[f] = { sha256: crypto.createHash('sha256').update(fs.readFileSync(path.join(src, f))).digest('hex') };
    }
    return Buffer.from(JSON.stringify({ files }));
  };
  copy('verified');
  fs.writeFileSync(path.join(dir, 'verified', 'manifest.json'), manifest());
  copy('tampered', (b, f) => {
    if (f !== 'model.safetensors') return b;
    const out = Buffer.from(b);
    out[out.length - 2] ^= 0x01; // the low mantissa bits of the last value
    return out;
  });
  fs.writeFileSync(path.join(dir, 'tampered', 'manifest.json'), manifest());
  copy('bad-manifest');
  fs.writeFileSync(path.join(dir, 'bad-manifest', 'manifest.json'), '{"files": oops');
  // Files that parse but do not belong together or hold the wrong kind of values.
  copy('mismatched-config', (b, f) => (f === 'config.json' ? Buffer.from(JSON.stringify({ ...JSON.parse(b), d_model: 2 * JSON.parse(b).d_model })) : b));
  copy('wrong-vocab', (b, f) => (f === 'config.json' ? Buffer.from(JSON.stringify({ ...JSON.parse(b), vocab_size: 100 })) : b));
  copy('wrong-dtype', (b, f) => {
    if (f !== 'model.safetensors') return b;
    const n = Number(b.readBigUInt64LE(0));
    const header = b.subarray(8, 8 + n).toString('utf8').replaceAll('"F32"', '"I32"');
    return Buffer.concat([b.subarray(0, 8), Buffer.from(header), b.subarray(8 + n)]);
  });
  // Too large for wasm memory: a sparse 3 GB file (no disk used), refused from its size alone.
  copy('too-large');
  fs.truncateSync(path.join(dir, 'too-large', 'model.safetensors'), 3 * 1024 ** 3);
  // A mirror in the model hub's layout, with the hub's file list (its tree API: git blob SHA-1
  // of each file, and the SHA-256 of LFS files) computed from the true files.
  const tree = hubTree(src);
  const hubRepo = (repo, { edit, api = true } = {}) => {
    copy(`hub/org/${repo}/resolve/main`, edit);
    if (!api) return;
    fs.mkdirSync(path.join(dir, `hub/api/models/org/${repo}/tree`), { recursive: true });
    fs.writeFileSync(path.join(dir, `hub/api/models/org/${repo}/tree/main`), JSON.stringify([{ type: 'directory', oid: '0'.repeat(40), size: 0, path: 'docs' }, ...tree]));
  };
  hubRepo('tiny-t5');
  hubRepo('tampered-weights', { edit: (b, f) => (f === 'model.safetensors' ? Buffer.from(b).fill(b.at(-2) ^ 0x01, b.length - 2, b.length - 1) : b) });
  // Still the same JSON, written differently: only its git blob SHA-1 can tell.
  hubRepo('edited-config', { edit: (b, f) => (f === 'config.json' ? Buffer.from(`${JSON.stringify(JSON.parse(b), null, 3)}\n\n`) : b) });
  hubRepo('no-api', { api: false });
  copy('missing-weights');
  fs.rmSync(path.join(dir, 'missing-weights', 'model.safetensors'));
  return dir;
}

/** Starts the server and the browser; returns helpers and a `close()`. */
export async function launch({ isolate = true, args = [] } = {}) {
  const broken = makeBrokenModels();
  const requests = [];
  const hooks = {};
  const server = await startServer({
    root: path.join(ROOT, 'www'),
    mounts: { '/fixtures': FIXTURES, '/broken': broken, '/examples': path.join(ROOT, 'tests/page/examples') },
    port: 0,
    isolate,
    onRequest: (req) => requests.push(req.url),
    beforeServe: (req) => hooks.beforeServe?.(req),
    dropAfter: (req) => hooks.dropAfter?.(req),
    stallAfter: (req) => hooks.stallAfter?.(req),
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, ...args] });
  return {
    server,
    browser,
    /** Every URL path the server was asked for, in order. */
    requests,
    /**
     * `hooks.beforeServe = async (req) => …` runs before each response (to slow one down);
     * `hooks.dropAfter = (req) => bytes | null` cuts a response off after that many bytes;
     * `hooks.stallAfter = (req) => bytes | null` sends that many and then nothing more.
     */
    hooks,
    async newPage(query = '?model=tiny-t5') {
      const context = await browser.newContext();
      const page = await context.newPage();
      const problems = [];
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      await page.goto(server.url + query);
      return { page, context, problems };
    },
    async close() {
      await browser.close();
      await server.close();
      fs.rmSync(broken, { recursive: true, force: true });
    },
  };
}

/** Accessible controls of the page, by the names the issue specifies. */
export function controls(page) {
  return {
    text: page.getByLabel('Text to summarize'),
    summarize: page.getByRole('button', { name: 'Summarize' }),
    cancel: page.getByRole('button', { name: 'Cancel' }),
    summary: page.getByRole('region', { name: 'Summary' }),
    progress: page.getByRole('progressbar', { name: 'Progress' }),
    model: page.getByLabel('Model', { exact: true }),
    status: page.getByRole('status'),
    alert: page.getByRole('alert'),
    maxNew: page.getByLabel('Max new tokens per chunk'),
    maxInput: page.getByLabel('Input tokens per chunk'),
    numBeams: page.getByLabel('Beams (1: greedy)'),
    doSample: page.getByLabel('Sample instead of picking the most likely token'),
    seed: page.getByLabel('Seed'),
  };
}

/** Opens the generation settings (if closed) and sets the per-chunk token limits. */
export async function setLimits(page, { maxNew, maxInput }) {
  const c = controls(page);
  if (!(await page.locator('#settings').evaluate((d) => d.open))) await page.getByText('Generation settings').click();
  await c.maxNew.fill(maxNew);
  await c.maxInput.fill(maxInput);
}

/** Sets the box as a paste would (typing megabytes through the driver takes minutes). */
export async function paste(page, text) {
  await controls(page).text.evaluate((el, t) => {
    el.value = t;
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, text);
}

/** Waits until the run ends ("Done…", "Cancelled.", or an error shown): { status, error }. */
export async function waitForOutcome(page, timeout = 120_000) {
  await page.waitForFunction(
    () => /^(Done|Cancelled)/.test(document.getElementById('status').textContent) || !document.getElementById('error').hidden,
    null,
    { timeout },
  );
  return { status: await page.locator('#status').textContent(), error: await page.locator('#error').textContent() };
}

/**
 * Puts `text` in the box (as a paste), sets the per-chunk limits, clicks Summarize and waits
 * until the run ends. Resolves to what the page then shows: { status, error, summary }.
 */
export async function summarizeText(page, text, { maxNew = '8', maxInput = '64', timeout = 120_000 } = {}) {
  await setLimits(page, { maxNew, maxInput });
  await paste(page, text);
  await controls(page).summarize.click();
  const outcome = await waitForOutcome(page, timeout);
  return { ...outcome, summary: (await controls(page).summary.textContent()).trim() };
}
