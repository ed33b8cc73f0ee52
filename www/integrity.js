// What a model file must hash to, and the hashing.
//
// Checksums come from one of three places:
// - the catalog (`sha256` of a built-in model);
// - a `manifest.json` next to a self-hosted model (`./build.sh fetch-model` writes one):
//   { files: { [name]: { sha256 } } };
// - the model hub's own file list, for a base URL in the hub's layout
//   (`…/<org>/<repo>/resolve/<revision>/`): `…/api/models/<org>/<repo>/tree/<revision>` lists each
//   file with `oid` (its git blob SHA-1) and, for files stored with Git LFS (the weights),
//   `lfs.oid` (the SHA-256 of the content). This is how the hub's own client checks downloads.
//
// A checksum is { sha256: hex } or { gitSha1: hex }; a checksum list is { [file name]: checksum }.

const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');

/** SHA-256 of `bytes`, hex, with the seconds it took; { sha256: null } where WebCrypto is missing. */
export async function sha256(bytes) {
  if (!globalThis.crypto?.subtle) return { sha256: null, hashSeconds: null };
  const t0 = performance.now();
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return { sha256: hex(digest), hashSeconds: (performance.now() - t0) / 1000 };
}

/** The git blob id of `bytes`: SHA-1 of `blob <length>\0` and the bytes; null without WebCrypto. */
export async function gitBlobSha1(bytes) {
  if (!globalThis.crypto?.subtle) return null;
  const header = new TextEncoder().encode(`blob ${bytes.length}\0`);
  const all = new Uint8Array(header.length + bytes.length);
  all.set(header);
  all.set(bytes, header.length);
  return hex(await crypto.subtle.digest('SHA-1', all));
}

/**
 * For a base URL in the hub's layout (`<hub>/<org>/<repo>/resolve/<revision>/`), the URL of the
 * hub's file list at that revision (`<hub>/api/models/<org>/<repo>/tree/<revision>`); else null.
 */
export function hubTreeUrl(baseUrl) {
  let url;
  try {
    url = new URL(baseUrl);
  } catch {
    return null;
  }
  const parts = url.pathname.split('/');
  if (parts.at(-1) !== '') return null; // a folder URL ends with '/'
  const i = parts.length - 3; // …, <org>, <repo>, 'resolve', <revision>, ''
  if (parts[i] !== 'resolve' || i < 3 || !parts[i - 2] || !parts[i - 1] || !parts[i + 1]) return null;
  const prefix = parts.slice(0, i - 2).join('/');
  return `${url.origin}${prefix}/api/models/${parts[i - 2]}/${parts[i - 1]}/tree/${parts[i + 1]}`;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX40 = /^[0-9a-f]{40}$/;

/** The checksum list in the hub's file list (the JSON array its tree API answers). */
export function checksumsFromTree(tree) {
  if (!Array.isArray(tree)) throw new Error('it is not a list of files');
  const sums = {};
  for (const entry of tree) {
    if (entry?.type !== 'file' || typeof entry.path !== 'string') continue;
    const lfs = String(entry.lfs?.oid ?? '').toLowerCase();
    const oid = String(entry.oid ?? '').toLowerCase();
    if (HEX64.test(lfs)) sums[entry.path] = { sha256: lfs };
    else if (HEX40.test(oid)) sums[entry.path] = { gitSha1: oid };
  }
  return sums;
}

/** The checksum list in a manifest.json ({ files: { [name]: { sha256 } } }). */
export function checksumsFromManifest(manifest) {
  const sums = {};
  for (const [file, entry] of Object.entries(manifest?.files ?? {})) {
    if (typeof entry?.sha256 === 'string') sums[file] = { sha256: entry.sha256.toLowerCase() };
  }
  return sums;
}

/** The catalog's { [name]: sha256 hex } as a checksum list. */
export function checksumsFromCatalog(map) {
  return Object.fromEntries(Object.entries(map).map(([file, h]) => [file, { sha256: h.toLowerCase() }]));
}

/**
 * Checks `bytes` against `want`. Resolves to null when they match (or WebCrypto is missing),
 * else to { algorithm, got, want }. `knownSha256` saves hashing the weights twice.
 */
export async function mismatch(bytes, want, knownSha256 = null) {
  if (want.sha256) {
    const got = knownSha256 ?? (await sha256(bytes)).sha256;
    return got === null || got === want.sha256 ? null : { algorithm: 'SHA-256', got, want: want.sha256 };
  }
  const got = await gitBlobSha1(bytes);
  return got === null || got === want.gitSha1 ? null : { algorithm: 'git blob SHA-1', got, want: want.gitSha1 };
}
