// The dev server (tools/serve.mjs), in Node: what it serves and what it refuses. No browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { startServer } from '../../tools/serve.mjs';

/** GET `rawPath` exactly as written (no client-side normalization), resolving to status and body. */
function get(port, rawPath) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: rawPath }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

test('only files inside the root and the mounts are served, never a sibling folder sharing their name', async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'serve-'));
  for (const [dir, text] of [['site', 'public'], ['site-private', 'SECRET'], ['data', 'mounted'], ['data2', 'SECRET2']]) {
    fs.mkdirSync(path.join(base, dir));
    fs.writeFileSync(path.join(base, dir, 'f.txt'), text);
  }
  const srv = await startServer({ root: path.join(base, 'site'), mounts: { '/data': path.join(base, 'data') }, port: 0 });
  try {
    assert.deepEqual(await get(srv.port, '/f.txt'), { status: 200, body: 'public' });
    assert.deepEqual(await get(srv.port, '/data/f.txt'), { status: 200, body: 'mounted' });
    for (const p of ['/..%2Fsite-private/f.txt', '/%2e%2e%2fsite-private/f.txt', '/data/..%2F..%2Fdata2/f.txt',
      '/data/..%2Fdata2/f.txt', '/..%2F..%2Fetc/passwd', '/..%5Csite-private/f.txt']) {
      const r = await get(srv.port, p);
      assert.ok(r.status === 403 || r.status === 404, `${p}: ${r.status}`);
      assert.ok(!r.body.includes('SECRET'), `${p} served a file outside the root`);
    }
  } finally {
    await srv.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
});
