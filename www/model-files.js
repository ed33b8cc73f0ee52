// Downloads model files with byte progress and keeps them in Cache Storage.
//
// Runs in the worker (and on the page for `availability()`). A file enters the cache only after
// it arrived whole, so an interrupted download leaves nothing half-written behind.

export const CACHE_NAME = 't5-summarizer-models-v1';

/**
 * SHA-256 of the cached files, hex, under the same URLs: a file streamed into the cache is hashed
 * on the way, and its digest is known only once the entry's headers are written.
 */
const DIGEST_CACHE = 't5-summarizer-digests-v1';

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

async function openCache(name = CACHE_NAME) {
  try {
    return globalThis.caches ? await globalThis.caches.open(name) : null;
  } catch {
    return null; // Cache Storage is unavailable (opaque origin, private mode): just don't cache.
  }
}

/** The digest kept for a cached file, or null. */
async function cachedDigest(url) {
  try {
    const hit = await (await openCache(DIGEST_CACHE))?.match(url);
    const hex = hit ? (await hit.text()).trim() : '';
    return /^[0-9a-f]{64}$/.test(hex) ? hex : null;
  } catch {
    return null;
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
  for (const cache of [await openCache(), await openCache(DIGEST_CACHE)]) {
    if (cache) await Promise.all(urls.map((u) => cache.delete(u)));
  }
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
  if (globalThis.caches) await Promise.all([CACHE_NAME, DIGEST_CACHE].map((n) => globalThis.caches.delete(n)));
}

/**
 * Fetches one file. Resolves to { bytes: Uint8Array, cached: boolean, cacheError?: string }, or
 * with `asBlob` (the weights) to { blob: Blob, sha256, hashSeconds, cached } where Cache Storage
 * is there: the download streams straight into the cache, hashed on the way by `hasher()` (an
 * object with `update(chunk)` and `finish()` → hex), and the blob read back is the cached file
 * on disk, so the file is never held whole in memory. `sha256` is null when it is not known (no
 * hasher, or a file cached before digests were kept); `hashSeconds` is the time spent hashing.
 * onProgress({ file, loaded, total }) is called as bytes arrive (total is null when unknown).
 * `cacheAs`: the URL to keep it under in the cache (default `url`); `stallSeconds`: how long a
 * connection may send nothing before the download is resumed (default STALL_SECONDS).
 */
export async function fetchFile(url, file, { onProgress = () => {}, signal, cacheAs = url, stallSeconds = STALL_SECONDS, asBlob = false, hasher = null } = {}) {
  const cache = await openCache();
  const hit = cache ? await cache.match(cacheAs) : undefined;
  if (hit && asBlob) {
    const blob = await hit.blob();
    onProgress({ file, loaded: blob.size, total: blob.size });
    return { blob, cached: true, sha256: await cachedDigest(cacheAs), hashSeconds: null };
  }
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    onProgress({ file, loaded: bytes.length, total: bytes.length });
    return { bytes, cached: true };
  }
  const { response, total } = await request(url, file, { signal, stallSeconds });
  const type = response.headers.get('Content-Type') ?? 'application/octet-stream';
  const options = { file, url, total, onProgress, signal, stallSeconds };
  if (asBlob && cache) {
    const streamed = await streamIntoCache(cache, cacheAs, response, type, options, hasher);
    if (streamed.blob) return { ...streamed, cached: false };
    // The cache refused the file (storage full): download it again into memory, uncached.
    const again = await request(url, file, { signal, stallSeconds });
    const bytes = await readBody(again.response, { ...options, total: again.total });
    return { bytes, cached: false, cacheError: streamed.cacheError };
  }
  const bytes = await readBody(response, options);
  const result = { bytes, cached: false };
  if (cache) {
    try {
      await cache.put(cacheAs, new Response(bytes, { headers: { 'Content-Type': type, 'Content-Length': String(bytes.length) } }));
    } catch (err) {
      result.cacheError = cacheErrorText(err);
    }
  }
  return result;
}

const cacheErrorText = (err) => (err?.name === 'QuotaExceededError' ? 'storage is full' : String(err?.message ?? err));

/** The response for `url` and its length (null when unknown), or a DownloadError saying why not. */
async function request(url, file, { signal, stallSeconds }) {
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
  return { response, total };
}

/**
 * Streams a response body into the cache under `key`, hashing it on the way. Resolves to
 * { blob, sha256, hashSeconds } (the blob is the cached copy), or to { cacheError } when the
 * cache refused it (storage full); rejects with the download's own error when the download
 * failed, in which case nothing was cached (a put whose body errors stores nothing).
 */
async function streamIntoCache(cache, key, response, type, options, hasher) {
  const chunks = bodyChunks(response, options);
  const h = hasher?.() ?? null;
  let hashMs = 0;
  let loaded = 0;
  let failure = null;
  const body = new ReadableStream({
    async pull(controller) {
      try {
        const { done, value } = await chunks.next();
        if (done) return controller.close();
        if (h) {
          const t0 = performance.now();
          h.update(value);
          hashMs += performance.now() - t0;
        }
        loaded += value.length;
        controller.enqueue(value);
      } catch (err) {
        failure = err;
        controller.error(err);
      }
    },
    cancel() {
      chunks.return();
    },
  });
  const headers = { 'Content-Type': type, ...(options.total !== null ? { 'Content-Length': String(options.total) } : {}) };
  const digests = await openCache(DIGEST_CACHE);
  await digests?.delete(key).catch(() => {}); // a digest never outlives the copy it was taken of
  try {
    await cache.put(key, new Response(body, { headers }));
  } catch (err) {
    h?.free();
    if (failure) throw failure;
    await cache.delete(key).catch(() => {});
    return { cacheError: cacheErrorText(err) };
  }
  const sha256 = h ? h.finish() : null;
  h?.free();
  if (sha256) {
    try {
      await digests?.put(key, new Response(sha256, { headers: { 'Content-Type': 'text/plain' } }));
    } catch {
      // Without its digest the file is hashed again when next loaded.
    }
  }
  const stored = await cache.match(key);
  const blob = await stored?.blob();
  if (!blob || blob.size !== loaded) {
    await evict([key]);
    throw new DownloadError(`${options.file}: the cached copy has ${blob?.size ?? 0} of ${loaded} bytes; try again`, { file: options.file, url: options.url });
  }
  return { blob, sha256, hashSeconds: h ? hashMs / 1000 : null };
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
 * A response body's chunks, with progress. When the connection drops, or sends nothing for
 * `stallSeconds`, the download resumes where it broke off (an HTTP Range request; a server that
 * ignores ranges sends the whole file again, and the part already received is skipped), up to
 * RESUMES times with a growing pause. Throws a DownloadError when it cannot go on, or the
 * body ends short of its Content-Length.
 */
async function* bodyChunks(response, { file, url, total, onProgress, signal, stallSeconds }) {
  let reader = response.body.getReader();
  let loaded = 0;
  let resumes = 0;
  let skip = 0; // bytes of a resent file that arrived before
  onProgress({ file, loaded, total });
  try {
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
        // A server that ignores ranges sends the whole file again: skip what already arrived.
        if (resumed.status === 200) skip = loaded;
        reader = resumed.body.getReader();
        continue;
      }
      let { done, value } = chunk;
      if (done) break;
      if (skip > 0) {
        const n = Math.min(skip, value.length);
        skip -= n;
        value = value.subarray(n);
        if (!value.length) continue;
      }
      loaded += value.length;
      if (loaded > MAX_FILE_BYTES) {
        const err = new DownloadError(`${file} is larger than ${(MAX_FILE_BYTES / 1e9).toFixed(1)} GB: too large for WebAssembly memory in a browser tab; the download was stopped.`, { file, url });
        err.kind = 'too-large';
        throw err;
      }
      yield value;
      onProgress({ file, loaded, total });
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  if (total !== null && loaded !== total) {
    throw new DownloadError(`${file}: received ${loaded} of ${total} bytes from ${url}`, { file, url });
  }
}

/** Reads a response body into memory, with progress and resumption (see bodyChunks). */
async function readBody(response, options) {
  let buffer = new Uint8Array(options.total ?? 1 << 20);
  let loaded = 0;
  for await (const value of bodyChunks(response, options)) {
    if (loaded + value.length > buffer.length) {
      const grown = new Uint8Array(Math.max(buffer.length * 2, loaded + value.length));
      grown.set(buffer.subarray(0, loaded));
      buffer = grown;
    }
    buffer.set(value, loaded);
    loaded += value.length;
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
