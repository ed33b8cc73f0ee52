// `./build.sh fetch-model`: downloads from a hub (here a local mirror in the hub's URL layout,
// through HF_ENDPOINT) with a SHA-256 manifest, and fails clearly, leaving nothing behind,
// when the hub cannot be reached or a file is missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { startServer } from '../../tools/serve.mjs';
import { ROOT, FIXTURES } from './harness.mjs';

let server;
let out;
before(async () => {
  server = await startServer({
    root: fs.mkdtempSync(path.join(os.tmpdir(), 'empty-')),
    mounts: { '/org/tiny-t5/resolve/main': path.join(FIXTURES, 'tiny-t5') },
    port: 0,
  });
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'fetched-'));
});
after(async () => {
  await server?.close();
  fs.rmSync(out, { recursive: true, force: true });
});

// Asynchronous: the mirror is served from this process.
const fetchModel = (args, endpoint) =>
  new Promise((resolve) => {
    const child = spawn('bash', [path.join(ROOT, 'build.sh'), 'fetch-model', ...args, '--out', out], {
      env: { ...process.env, HF_ENDPOINT: endpoint },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    child.on('close', (status) => resolve({ status, stderr }));
  });

test('fetches config, tokenizer and weights with a manifest of their SHA-256', async () => {
  const r = await fetchModel(['org/tiny-t5'], server.url);
  assert.equal(r.status, 0, r.stderr);
  const dir = path.join(out, 'tiny-t5');
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  assert.equal(manifest.repo, 'org/tiny-t5');
  for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) {
    const want = fs.readFileSync(path.join(FIXTURES, 'tiny-t5', f));
    assert.ok(fs.readFileSync(path.join(dir, f)).equals(want), f);
    assert.equal(manifest.files[f].sha256, crypto.createHash('sha256').update(want).digest('hex'), f);
    assert.equal(manifest.files[f].bytes, want.length);
  }
});

test('no network: a clear message, exit 1, nothing written', async () => {
  const r = await fetchModel(['org/other-model'], 'http://127.0.0.1:9');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /fetch-model: could not reach http:\/\/127\.0\.0\.1:9 .*needs internet access/);
  assert.deepEqual(fs.readdirSync(out).filter((f) => f !== 'tiny-t5'), []);
});

test('a missing file: the HTTP status and URL, and nothing half-written', async () => {
  const r = await fetchModel(['org/tiny-t5', '--weights', 'model-missing.safetensors', '--name', 'partial'], server.url);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /model-missing\.safetensors: HTTP 404 .*no such repository, revision or file/);
  assert.deepEqual(fs.readdirSync(out).filter((f) => f !== 'tiny-t5'), []);
});
