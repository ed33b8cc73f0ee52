// Downloads model files with byte progress and keeps them in Cache Storage.
//
// Runs in the worker (and on the page for `availability()`). A file enters the cache only after
// it arrived whole, so an interrupted download leaves nothing half-written behind.

export const CACHE_NAME = 't5-summarizer-models-v1';

/**
 * The largest model file the app downloads: a wasm32 instance has at most 4 GiB of memory, and
 * the weights are held as tensors there (f16 files widen to f32) next to the file's bytes.
 */
export const MAX_FILE_BYTES = 2 * 1024 ** 3;

/** A model file could not be fetched; the message names the file and the URL. */
export class DownloadError extends Error {
  constructor(message, { file, url, cause } = {}) {
    super(message, { cause });
    this.name = 'DownloadError';
    this.kind = 'download';
    this.file = file;
    this.url = url;
  }
}

// URLs the Content-Security-Policy refused in this scope, to say so instead of a bare network
// error (the policy's connect-src lists the hosts models may come from).
const refusedByPolicy = new Set();
globalThis.addEventListener?.('securitypolicyviolation', (e) => refusedByPolicy.add(e.blockedURI));

async function openCache() {
  try {
    return globalThis.caches ? await globalThis.caches.open(CACHE_NAME) : null;
  } catch {
    return null; // Cache Storage is unavailable (opaque origin, private mode): just don't cache.
  }
}

/** Whether every URL is in the cache. */
export async function allCached(urls) {
  const cache = await openCache();
  if (!cache) return false;
  const hits = await Promise.all(urls.map((u) => cache.match(u)));
  return hits.every(Boolean);
}

/** Removes URLs from the cache (a file that failed to parse must not be served again). */
export async function evict(urls) {
  const cache = await openCache();
  if (cache) await Promise.all(urls.map((u) => cache.delete(u)));
}

/**
 * The downloaded models: the cached files grouped by folder, largest first, as
 * [{ baseUrl, files: [{ name, url, bytes }], bytes }]. Empty where there is no Cache Storage.
 */
export async function listCached() {
  const cache = await openCache();
  if (!cache) return [];
  const folders = new Map();
  for (const request of await cache.keys()) {
    const url = request.url;
    const baseUrl = url.slice(0, url.lastIndexOf('/') + 1);
    const response = await cache.match(request);
    const header = Number(response?.headers.get('Content-Length'));
    const bytes = Number.isFinite(header) && header > 0 ? header : (await response?.blob())?.size ?? 0;
    const folder = folders.get(baseUrl) ?? { baseUrl, files: [], bytes: 0 };
    folder.files.push({ name: url.slice(baseUrl.length), url, bytes });
    folder.bytes += bytes;
    folders.set(baseUrl, folder);
  }
  for (const f of folders.values()) f.files.sort((a, b) => a.name.localeCompare(b.name));
  return [...folders.values()].sort((a, b) => b.bytes - a.bytes);
}

/** Deletes every downloaded model file. */
export async function clearCached() {
  if (globalThis.caches) await globalThis.caches.delete(CACHE_NAME);
}

/**
 * Fetches one file. Resolves to { bytes: Uint8Array, cached: boolean, cacheError?: string }.
 * onProgress({ file, loaded, total }) is called as bytes arrive (total is null when unknown).
 * `cacheAs`: the URL to keep it under in the cache (default `url`); `stallSeconds`: how long a
 * connection may send nothing before the download is resumed (default STALL_SECONDS).
 */
export async function fetchFile(url, file, { onProgress = () => {}, signal, cacheAs = url, stallSeconds = STALL_SECONDS } = {}) {
  const cache = await openCache();
  const hit = cache ? await cache.match(cacheAs) : undefined;
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    onProgress({ file, loaded: bytes.length, total: bytes.length });
    return { bytes, cached: true };
  }
  let response;
  try {
    response = await fetchWithin(url, { signal, credentials: 'omit' }, stallSeconds);
  } catch (cause) {
    if (cause?.name === 'AbortError') throw cause;
    if (cause?.stalled) throw new DownloadError(`${file}: no answer from ${url} within ${stallSeconds} s`, { file, url, cause });
    // The violation event is queued as a task; let it arrive before telling the two apart.
    await new Promise((r) => setTimeout(r, 0));
    if (refusedByPolicy.has(url) || refusedByPolicy.has(new URL(url).origin)) {
      throw new DownloadError(
        `${file}: ${new URL(url).origin} is not a model host this page allows (its Content-Security-Policy connect-src); ` +
          'self-host the model next to the app, or serve the app with that host added (tools/serve.mjs --model-host)',
        { file, url, cause },
      );
    }
    throw new DownloadError(`${file}: could not download ${url} (network error or blocked by CORS)`, { file, url, cause });
  }
  if (!response.ok) {
    throw new DownloadError(`${file}: HTTP ${response.status} ${response.statusText || ''} for ${url}`.replace('  ', ' '), { file, url });
  }
  const header = Number(response.headers.get('Content-Length'));
  const encoded = response.headers.get('Content-Encoding');
  const total = Number.isFinite(header) && header > 0 && !encoded ? header : null;
  if ((total ?? 0) > MAX_FILE_BYTES) {
    response.body?.cancel().catch(() => {});
    const err = new DownloadError(
      `${file} is ${(total / 1e9).toFixed(1)} GB: too large for WebAssembly memory in a browser tab ` +
        `(at most ${(MAX_FILE_BYTES / 1e9).toFixed(1)} GB of weights fit); nothing was downloaded. Try a smaller or quantized (GGUF) model.`,
      { file, url },
    );
    err.kind = 'too-large';
    throw err;
  }
  const bytes = await readBody(response, { file, url, total, onProgress, signal, stallSeconds });
  const result = { bytes, cached: false };
  if (cache) {
    try {
      const type = response.headers.get('Content-Type') ?? 'application/octet-stream';
      await cache.put(cacheAs, new Response(bytes, { headers: { 'Content-Type': type, 'Content-Length': String(bytes.length) } }));
    } catch (err) {
      result.cacheError = err?.name === 'QuotaExceededError' ? 'storage is full' : String(err?.message ?? err);
    }
  }
  return result;
}

/** How often a download that broke off is resumed before giving up. */
const RESUMES = 3;

/** Seconds without a byte after which a download counts as broken off (and is resumed). */
export const STALL_SECONDS = 30;

/** fetch() that gives up when no response comes within `seconds` (the body is not limited by it). */
async function fetchWithin(url, init, seconds) {
  const controller = new AbortController();
  const outer = init.signal;
  if (outer?.aborted) controller.abort(outer.reason);
  outer?.addEventListener('abort', () => controller.abort(outer.reason), { once: true });
  let silent = false;
  const timer = setTimeout(() => {
    silent = true;
    controller.abort();
  }, seconds * 1000);
  try {
    return await fetch(url, { ...init, signal: controller.signal });
  } catch (err) {
    if (silent) throw Object.assign(new Error(`no answer for ${seconds} s`), { stalled: true });
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** The next chunk of `reader`, or a rejection when none comes within `seconds`. */
async function readWithin(reader, seconds) {
  let timer;
  const silent = new Promise((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no data for ${seconds} s`), { stalled: true })), seconds * 1000);
  });
  try {
    return await Promise.race([reader.read(), silent]);
  } catch (err) {
    if (err?.stalled) reader.cancel().catch(() => {});
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads a response body with progress. When the connection drops, or sends nothing for
 * `stallSeconds`, the download resumes where it broke off (an HTTP Range request; a server that
 * ignores ranges sends the whole file again), up to RESUMES times with a growing pause.
 */
async function readBody(response, { file, url, total, onProgress, signal, stallSeconds }) {
  let reader = response.body.getReader();
  let buffer = new Uint8Array(total ?? 1 << 20);
  let loaded = 0;
  let resumes = 0;
  onProgress({ file, loaded, total });
  for (;;) {
    let chunk;
    try {
      chunk = await readWithin(reader, stallSeconds);
    } catch (cause) {
      if (cause?.name === 'AbortError') throw cause;
      let resumed = null;
      while (!resumed && resumes < RESUMES) {
        resumes++;
        await new Promise((r) => setTimeout(r, 250 * resumes));
        resumed = await resume(url, loaded, signal, stallSeconds);
      }
      if (!resumed) {
        const how = cause?.stalled ? `stalled (no data for ${stallSeconds} s)` : 'broke off';
        throw new DownloadError(`${file}: the download from ${url} ${how} after ${loaded} bytes (resumed ${resumes} times)`, { file, url, cause });
      }
      if (resumed.status === 200) loaded = 0; // the server sent the whole file again
      reader = resumed.body.getReader();
      continue;
    }
    const { done, value } = chunk;
    if (done) break;
    if (loaded + value.length > buffer.length) {
      const grown = new Uint8Array(Math.max(buffer.length * 2, loaded + value.length));
      grown.set(buffer.subarray(0, loaded));
      buffer = grown;
    }
    buffer.set(value, loaded);
    loaded += value.length;
    if (loaded > MAX_FILE_BYTES) {
      await reader.cancel().catch(() => {});
      const err = new DownloadError(`${file} is larger than ${(MAX_FILE_BYTES / 1e9).toFixed(1)} GB: too large for WebAssembly memory in a browser tab; the download was stopped.`, { file, url });
      err.kind = 'too-large';
      throw err;
    }
    onProgress({ file, loaded, total });
  }
  if (total !== null && loaded !== total) {
    throw new DownloadError(`${file}: received ${loaded} of ${total} bytes from ${url}`, { file, url });
  }
  return loaded === buffer.length ? buffer : buffer.slice(0, loaded);
}

/** The rest of `url` from byte `from` (206), or all of it (200), or null when that failed. */
async function resume(url, from, signal, stallSeconds) {
  try {
    const r = await fetchWithin(url, { signal, credentials: 'omit', headers: { Range: `bytes=${from}-` } }, stallSeconds);
    if (r.status === 206 && (r.headers.get('Content-Range') ?? '').startsWith(`bytes ${from}-`)) return r;
    if (r.status === 200) return r;
    r.body?.cancel().catch(() => {});
    return null;
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    return null;
  }
}
