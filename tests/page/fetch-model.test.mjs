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
import { ROOT, FIXTURES, hubTree } from './harness.mjs';

let server;
let out;
before(async () => {
  // The hub's file list of org/tiny-t5 and org/altered-t5 (whose weights differ from it by a bit).
  const api = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-api-'));
  const altered = fs.mkdtempSync(path.join(os.tmpdir(), 'altered-'));
  for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) fs.copyFileSync(path.join(FIXTURES, 'tiny-t5', f), path.join(altered, f));
  const w = fs.readFileSync(path.join(altered, 'model.safetensors'));
  w[w.length - 2] ^= 0x01;
  fs.writeFileSync(path.join(altered, 'model.safetensors'), w);
  for (const repo of ['tiny-t5', 'altered-t5']) {
    fs.mkdirSync(path.join(api, repo, 'tree'), { recursive: true });
    fs.writeFileSync(path.join(api, repo, 'tree', 'main'), JSON.stringify(hubTree(path.join(FIXTURES, 'tiny-t5'))));
  }
  server = await startServer({
    root: fs.mkdtempSync(path.join(os.tmpdir(), 'empty-')),
    mounts: {
      '/org/tiny-t5/resolve/main': path.join(FIXTURES, 'tiny-t5'),
      '/org/altered-t5/resolve/main': altered,
      '/org/no-list/resolve/main': path.join(FIXTURES, 'tiny-t5'),
      '/api/models/org': api,
    },
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

test('fetches config, tokenizer and weights, checked against the hub, with a manifest of their SHA-256', async () => {
  const r = await fetchModel(['org/tiny-t5'], server.url);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /config\.json: \d+ bytes, sha256 [0-9a-f]{64} \(matches the hub's git blob SHA-1\)/);
  assert.match(r.stderr, /model\.safetensors: \d+ bytes, sha256 [0-9a-f]{64} \(matches the hub's SHA-256\)/);
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
  assert.deepEqual(fs.readdirSync(out).filter((f) => !['tiny-t5', 'no-list'].includes(f)), []);
});

test('a missing file: the HTTP status and URL, and nothing half-written', async () => {
  const r = await fetchModel(['org/tiny-t5', '--weights', 'model-missing.safetensors', '--name', 'partial'], server.url);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /model-missing\.safetensors: HTTP 404 .*no such repository, revision or file/);
  assert.deepEqual(fs.readdirSync(out).filter((f) => !['tiny-t5', 'no-list'].includes(f)), []);
});

test("a file that does not match the hub's list fails the command and nothing is written", async () => {
  const r = await fetchModel(['org/altered-t5'], server.url);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /fetch-model: model\.safetensors: its SHA-256 \([0-9a-f]{64}\) is not the one the hub lists \([0-9a-f]{64}\): the download is damaged or was changed/);
  assert.deepEqual(fs.readdirSync(out).filter((f) => !['tiny-t5', 'no-list'].includes(f)), []);
});

test("without the hub's file list the files are fetched, with a warning that they were not checked", async () => {
  const r = await fetchModel(['org/no-list'], server.url);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: the hub's file list \(http:\/\/[\w.]+:\d+\/api\/models\/org\/no-list\/tree\/main\) could not be read \(HTTP 404\); the files are not checked against it/);
  assert.doesNotMatch(r.stderr, /matches the hub/);
  assert.ok(fs.existsSync(path.join(out, 'no-list', 'manifest.json')));
});
