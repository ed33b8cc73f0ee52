// The service worker: keeps the app itself (page, scripts, the wasm build the worker runs) in
// Cache Storage so the page opens and summarizes with no network once it has been used.
//
// Network first, cache as the fallback: online, a rebuilt app is picked up on the next load;
// offline (or when the server is gone), the last copy that arrived whole is served. Only the app's
// own files are handled here. Model files are not: the worker keeps them in their own cache
// (model-files.js), and every other request goes to the network untouched.
//
// page → service worker  { type: 'cache-app-files', urls }   files the summarizer worker loaded
//                                                             (the wasm build it picked), stored
//                                                             so the next offline start finds them
const APP_CACHE = 't5-summarizer-app-v1';

/** The page and the scripts every start needs; the wasm builds are added as they are used. */
const SHELL = [
  './',
  'index.html',
  'integrity.js',
  'style.css',
  'app.js',
  'dashboard.js',
  'model-files.js',
  'models.js',
  'offline.js',
  'summarizer.js',
  'summarizer-global.js',
  'summary-shape.js',
  'worker.js',
];

const scope = new URL(self.registration.scope);

/** Whether `url` is one of the app's own files (the shell or a file of a wasm build). */
function isAppFile(url) {
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return false;
  const rel = url.pathname.slice(scope.pathname.length);
  return rel === '' || SHELL.includes(rel) || /^pkg(-relaxed|-threads)?\/[\w./-]+\.(js|wasm)$/.test(rel);
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(APP_CACHE);
      // `reload`: fresh from the server, not from the HTTP cache.
      await cache.addAll(SHELL.map((f) => new Request(new URL(f, scope), { cache: 'reload' })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith('t5-summarizer-app-') && name !== APP_CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

async function networkFirst(request) {
  const cache = await caches.open(APP_CACHE);
  // A navigation (`/?model=tiny-t5`) is the page itself, whatever its query.
  const key = request.mode === 'navigate' ? new URL('./', scope).href : request.url;
  let response;
  try {
    response = await fetch(request);
  } catch (err) {
    const cached = await cache.match(key, { ignoreSearch: true });
    if (cached) return cached;
    throw err;
  }
  if (response.ok && response.type === 'basic') {
    // Storage full (or any other failure to keep a copy) must not cost the page this response.
    try {
      await cache.put(key, response.clone());
    } catch {
      // Not kept for offline use this time.
    }
  }
  return response;
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (!isAppFile(url)) return;
  event.respondWith(networkFirst(request));
});

self.addEventListener('message', (event) => {
  const { type, urls } = event.data ?? {};
  if (type !== 'cache-app-files' || !Array.isArray(urls)) return;
  event.waitUntil(
    (async () => {
      const cache = await caches.open(APP_CACHE);
      for (const u of urls) {
        const url = new URL(u, scope);
        if (!isAppFile(url) || (await cache.match(url.href))) continue;
        try {
          const response = await fetch(url.href);
          if (response.ok) await cache.put(url.href, response);
        } catch {
          // Offline right now: the next online start caches it on the way.
        }
      }
    })(),
  );
});
