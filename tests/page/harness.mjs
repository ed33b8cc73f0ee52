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
  copy('missing-weights');
  fs.rmSync(path.join(dir, 'missing-weights', 'model.safetensors'));
  return dir;
}

/** Starts the server and the browser; returns helpers and a `close()`. */
export async function launch({ isolate = true } = {}) {
  const broken = makeBrokenModels();
  const requests = [];
  const hooks = {};
  const server = await startServer({
    root: path.join(ROOT, 'www'),
    mounts: { '/fixtures': FIXTURES, '/broken': broken },
    port: 0,
    isolate,
    onRequest: (req) => requests.push(req.url),
    beforeServe: (req) => hooks.beforeServe?.(req),
    dropAfter: (req) => hooks.dropAfter?.(req),
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  return {
    server,
    browser,
    /** Every URL path the server was asked for, in order. */
    requests,
    /**
     * `hooks.beforeServe = async (req) => …` runs before each response (to slow one down);
     * `hooks.dropAfter = (req) => bytes | null` cuts a response off after that many bytes.
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

/**
 * Puts `text` in the box (as a paste), sets the per-chunk limits, clicks Summarize and waits
 * until the run ends ("Done…", or an error shown). Resolves to what the page then shows:
 * { status, error, summary }.
 */
export async function summarizeText(page, text, { maxNew = '8', maxInput = '64', timeout = 120_000 } = {}) {
  const c = controls(page);
  if (!(await page.locator('#settings').evaluate((d) => d.open))) await page.getByText('Generation settings').click();
  await c.maxNew.fill(maxNew);
  await c.maxInput.fill(maxInput);
  await c.text.evaluate((el, t) => {
    el.value = t;
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, text);
  await c.summarize.click();
  await page.waitForFunction(
    () => /^Done/.test(document.getElementById('status').textContent) || !document.getElementById('error').hidden,
    null,
    { timeout },
  );
  return {
    status: await c.status.textContent(),
    error: await page.locator('#error').textContent(),
    summary: (await c.summary.textContent()).trim(),
  };
}
