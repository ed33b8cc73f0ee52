// Downloads a T5 model from the model hub into www/models/<name>/ so the app can be self-hosted
// (`?model=/models/<name>/`), with a manifest.json of the files' SHA-256 that the app checks.
//
//   node tools/fetch-model.mjs <repo id> [--revision main] [--name <folder>] [--out www/models]
//        [--weights model.safetensors] [--quantize q8_0]
// --quantize also writes model-<type>.gguf with this repository's quantizer (cargo run --bin quantize).
// HF_ENDPOINT (default https://huggingface.co) points at another hub or mirror. Each file is checked
// against the hub's own file list (SHA-256 of LFS files, git blob SHA-1 of the others, as the hub's
// client does) where the hub serves one; a file that does not match fails the command. Files are written
// to a temporary folder and moved into place only when all arrived whole: a failed or
// interrupted download leaves nothing behind. Exits 1 with a message saying what failed.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { spawnSync } from 'node:child_process';
import { checksumsFromTree } from '../www/integrity.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const argv = process.argv.slice(2);
const opts = { revision: 'main', out: path.join(root, 'www/models'), weights: 'model.safetensors', name: null, quantize: null };
let repo = null;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const key = a.replace(/^--/, '');
  if (a.startsWith('--') && key in opts && argv[i + 1] !== undefined) opts[key] = argv[++i];
  else if (!a.startsWith('--') && !repo) repo = a;
  else fail(`unknown or incomplete argument '${a}'`, 2);
}
if (!repo || !/^[\w.-]+(\/[\w.-]+)?$/.test(repo)) fail('usage: fetch-model <repo id, e.g. google-t5/t5-small> [--revision main] [--name folder] [--out dir]', 2);

function fail(message, code = 1) {
  console.error(`fetch-model: ${message}`);
  process.exit(code);
}

const endpoint = (process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/$/, '');
const name = opts.name ?? repo.split('/').pop();
const dest = path.resolve(opts.out, name);
const files = ['config.json', 'tokenizer.json', opts.weights];
fs.mkdirSync(opts.out, { recursive: true });
const tmp = fs.mkdtempSync(path.join(opts.out, `.${name}-`));

async function download(file) {
  const url = `${endpoint}/${repo}/resolve/${opts.revision}/${file}`;
  let response;
  try {
    response = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    const why = err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(err);
    throw new Error(`could not reach ${endpoint} for ${file} (${why}): fetching a model needs internet access (or HF_ENDPOINT pointing at a reachable mirror)`);
  }
  if (!response.ok) throw new Error(`${file}: HTTP ${response.status} for ${url}${response.status === 404 ? ' (no such repository, revision or file)' : ''}`);
  const total = Number(response.headers.get('content-length')) || null;
  const hash = crypto.createHash('sha256');
  const blob = crypto.createHash('sha1');
  if (total !== null) blob.update(`blob ${total}\0`);
  let loaded = 0;
  let shown = 0;
  const counted = Readable.fromWeb(response.body).on('data', (chunk) => {
    hash.update(chunk);
    blob.update(chunk);
    loaded += chunk.length;
    if (Date.now() - shown > 1000) {
      shown = Date.now();
      process.stderr.write(`  ${file}: ${(loaded / 1e6).toFixed(1)}${total ? ` of ${(total / 1e6).toFixed(1)}` : ''} MB\n`);
    }
  });
  try {
    await pipeline(counted, fs.createWriteStream(path.join(tmp, file)));
  } catch (err) {
    throw new Error(`${file}: the download broke off after ${loaded} bytes (${err?.message ?? err})`);
  }
  if (total !== null && loaded !== total) throw new Error(`${file}: received ${loaded} of ${total} bytes`);
  return { file, bytes: loaded, sha256: hash.digest('hex'), gitSha1: total !== null ? blob.digest('hex') : null };
}

/** The hub's checksums of the revision's files, or null (with a warning) where it has no list. */
async function hubChecksums() {
  const url = `${endpoint}/api/models/${repo}/tree/${opts.revision}`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return checksumsFromTree(await response.json());
  } catch (err) {
    console.error(`  warning: the hub's file list (${url}) could not be read (${err?.message ?? err}); the files are not checked against it`);
    return null;
  }
}

/** Throws when the hub lists a checksum for the file and it is not this one. */
function check(f, sums) {
  const want = sums?.[f.file];
  if (!want) return null;
  const [algorithm, got, expected] = want.sha256 ? ['SHA-256', f.sha256, want.sha256] : ['git blob SHA-1', f.gitSha1, want.gitSha1];
  if (got === null) return null; // no length given: the git blob id cannot be computed on the fly
  if (got !== expected) throw new Error(`${f.file}: its ${algorithm} (${got}) is not the one the hub lists (${expected}): the download is damaged or was changed`);
  return algorithm;
}

try {
  const manifest = { repo, revision: opts.revision, source: endpoint, files: {} };
  const sums = await hubChecksums();
  for (const file of files) {
    const f = await download(file);
    const checked = check(f, sums);
    manifest.files[f.file] = { bytes: f.bytes, sha256: f.sha256 };
    console.error(`  ${file}: ${f.bytes} bytes, sha256 ${f.sha256}${checked ? ` (matches the hub's ${checked})` : ''}`);
  }
  if (opts.quantize) {
    const out = `model-${opts.quantize}.gguf`;
    console.error(`  quantizing to ${out}…`);
    const q = spawnSync('cargo', ['run', '--quiet', '--release', '--bin', 'quantize', '--', path.join(tmp, opts.weights), path.join(tmp, out), '--type', opts.quantize], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    if (q.status !== 0) throw new Error(`quantizing to ${opts.quantize} failed (exit ${q.status ?? q.error?.message})`);
    const bytes = fs.readFileSync(path.join(tmp, out));
    manifest.files[out] = { bytes: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
  }
  fs.writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  fs.rmSync(dest, { recursive: true, force: true });
  fs.renameSync(tmp, dest);
  console.log(dest);
} catch (err) {
  fs.rmSync(tmp, { recursive: true, force: true });
  fail(err.message);
}
