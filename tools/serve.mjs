// Static file server for the app and its tests: no dependencies, Node >= 18.
//
// Sends COOP/COEP (so the page is cross-origin isolated and can use threads) and correct MIME
// types (application/wasm for streaming compilation). Folders can be mounted under URL prefixes.
//
//   node tools/serve.mjs [--port 8080] [--root www] [--mount /fixtures=tests/fixtures]
//        [--model-host https://models.example.org] ...
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ts': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Where the built-in models come from (the hub redirects downloads to its CDN hosts). */
export const HUB_HOSTS = ['https://huggingface.co', 'https://*.huggingface.co', 'https://*.hf.co'];

/**
 * The Content-Security-Policy sent with every file: scripts only from this origin (and wasm
 * compilation), no inline script or style, no eval, workers from this origin (and the blob:
 * workers of the thread pool), and network access only to this origin and the model hosts.
 * www/index.html carries the same policy in a <meta> tag for hosts that cannot send headers;
 * the header also covers the worker, whose fetches a <meta> tag cannot reach.
 */
export function contentSecurityPolicy(modelHosts = []) {
  return [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${[...HUB_HOSTS, ...modelHosts].join(' ')}`,
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * Starts a server; resolves to { server, port, url, close() }. `modelHosts`: origins besides the
 * hub the app may download models from (added to the policy's connect-src).
 */
export function startServer({ root, mounts = {}, port = 8080, host = '127.0.0.1', isolate = true, log = false, onRequest, beforeServe, dropAfter, stallAfter, modelHosts = [] } = {}) {
  const csp = contentSecurityPolicy(modelHosts);
  const table = Object.entries({ ...mounts, '/': root })
    .map(([prefix, dir]) => [prefix.endsWith('/') ? prefix : prefix + '/', path.resolve(dir)])
    .sort((a, b) => b[0].length - a[0].length);

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    onRequest?.(req);
    // Tests slow a response down to catch the app mid-download.
    await beforeServe?.(req);
    let pathname;
    try {
      pathname = decodeURIComponent(url.pathname);
    } catch {
      res.writeHead(400).end('bad path');
      return;
    }
    const entry = table.find(([prefix]) => (pathname + '/').startsWith(prefix) || pathname.startsWith(prefix));
    const [prefix, dir] = entry;
    let file = path.join(dir, pathname.slice(prefix.length - 1));
    // Containment, not a string prefix: `/srv/www-private` starts with `/srv/www` too.
    const rel = path.relative(dir, file);
    if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
      res.writeHead(403).end('forbidden');
      return;
    }
    const headers = { 'Cache-Control': 'no-cache', 'Cross-Origin-Resource-Policy': 'same-origin', 'Content-Security-Policy': csp };
    if (isolate) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
    }
    fs.stat(file, (err, st) => {
      if (!err && st.isDirectory()) {
        file = path.join(file, 'index.html');
        st = fs.existsSync(file) ? fs.statSync(file) : null;
      }
      if (err || !st) {
        if (log) console.log(`404 ${req.method} ${req.url}`);
        res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end(`Not found: ${pathname}`);
        return;
      }
      headers['Content-Type'] = TYPES[path.extname(file)] ?? 'application/octet-stream';
      headers['Accept-Ranges'] = 'bytes';
      // One open range (`bytes=N-`), what a resumed download asks for.
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = range ? Number(range[1]) : 0;
      if (range && start >= st.size) {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${st.size}` }).end();
        return;
      }
      headers['Content-Length'] = st.size - start;
      if (range) headers['Content-Range'] = `bytes ${start}-${st.size - 1}/${st.size}`;
      const status = range ? 206 : 200;
      if (log) console.log(`${status} ${req.method} ${req.url}`);
      res.writeHead(status, headers);
      if (req.method === 'HEAD') return res.end();
      // Tests hold a response after some bytes, as a stalled connection would, until the client goes.
      const held = stallAfter?.(req);
      if (held != null) {
        if (held > 0) fs.createReadStream(file, { start, end: start + held - 1 }).pipe(res, { end: false });
        else res.flushHeaders();
        return;
      }
      // Tests cut a response off after some bytes, as a dropped connection would.
      const cut = dropAfter?.(req);
      if (cut == null) return fs.createReadStream(file, { start }).pipe(res);
      fs.createReadStream(file, { start, end: start + cut - 1 })
        .on('end', () => setTimeout(() => req.socket.destroy(), 50))
        .pipe(res, { end: false });
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const actual = server.address().port;
      resolve({
        server,
        port: actual,
        url: `http://localhost:${actual}/`,
        // Open keep-alive connections too: a closed server is gone, as a dropped network is.
        close: () =>
          new Promise((r) => {
            server.close(r);
            server.closeAllConnections?.();
          }),
      });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opts = { root: 'www', mounts: {}, port: 8080, log: true };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--port') opts.port = Number(args[++i]);
    else if (a === '--root') opts.root = args[++i];
    else if (a === '--mount') {
      const [prefix, dir] = args[++i].split('=');
      opts.mounts[prefix] = dir;
    } else if (a === '--no-isolation') opts.isolate = false;
    else if (a === '--model-host') (opts.modelHosts ??= []).push(new URL(args[++i]).origin);
    else {
      console.error(`serve: unknown argument ${a}`);
      process.exit(2);
    }
  }
  const { url } = await startServer(opts);
  console.log(`Serving ${opts.root} at ${url}  (Ctrl-C to stop)`);
}
