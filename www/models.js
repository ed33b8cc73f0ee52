// The built-in model catalog and how a model choice turns into file URLs.
//
// A model is { id, label, baseUrl, files: { config, tokenizer, weights }, sha256?, manifest?,
// instructions? } (instructions: instruction-tuned, so the Summarizer API's contexts go into its prefix);
// `baseUrl` may be relative to the page. `sha256` ({ [file name]: hex }) is what each file must
// hash to; without it the worker looks for a manifest.json next to the files (as written by
// `./build.sh fetch-model`) unless `manifest: false`. A model in the hub's URL layout
// (`…/<org>/<repo>/resolve/<revision>/`) is checked against the hub's own file list instead
// (integrity.js): the hub entries carry no hashes of their own, since none could be read from the
// hub where this was built and a guessed hash would refuse good files. Anything served with CORS
// works: the public model hub, a CDN, a folder next to the app (`?model=/models/my-t5/`).

const HUB = 'https://huggingface.co';
const STANDARD_FILES = { config: 'config.json', tokenizer: 'tokenizer.json', weights: 'model.safetensors' };

// GGUF files made by candle's quantizer (lmz/candle-quantized-t5); sizes estimated from the
// parameter count at 6.6 bits per weight, not measured (no hub is reachable where this is built).
const CANDLE_GGUF = `${HUB}/lmz/candle-quantized-t5/resolve/main/`;

/** Models offered in the picker. Sizes are of the weights file. */
export const MODELS = [
  {
    id: 't5-small',
    label: 't5-small · f32 · 242 MB',
    baseUrl: `${HUB}/google-t5/t5-small/resolve/main/`,
    files: STANDARD_FILES,
    manifest: false,
  },
  {
    id: 'flan-t5-small',
    // Instruction-tuned: the Summarizer API's contexts go into its task prefix.
    instructions: true,
    label: 'flan-t5-small · f32 · 308 MB',
    baseUrl: `${HUB}/google/flan-t5-small/resolve/main/`,
    files: STANDARD_FILES,
    manifest: false,
  },
  {
    id: 't5-small-gguf',
    label: 't5-small · quantized GGUF · ≈ 50 MB',
    baseUrl: CANDLE_GGUF,
    files: { config: 'config.json', tokenizer: 'tokenizer.json', weights: 'model.gguf' },
    manifest: false,
  },
  {
    id: 'flan-t5-small-gguf',
    // Instruction-tuned: the Summarizer API's contexts go into its task prefix.
    instructions: true,
    label: 'flan-t5-small · quantized GGUF · ≈ 64 MB',
    baseUrl: CANDLE_GGUF,
    files: { config: 'config-flan-t5-small.json', tokenizer: 'tokenizer.json', weights: 'model-flan-t5-small.gguf' },
    manifest: false,
  },
  {
    id: 'tiny-t5',
    label: 'tiny-t5 test model · random weights · f32 · 0.8 MB',
    baseUrl: 'fixtures/tiny-t5/',
    files: STANDARD_FILES,
    // Checked before use (tools/make_fixtures.py rewriting the fixtures means new hashes here).
    sha256: {
      'config.json': '38aee09fb6c5069ee8ba519efd86315ea743ef16c9c6bf07cf4029a222d81317',
      'tokenizer.json': 'ab516ad1a91429bce5cc51f89b8413a3905b1b4831c94778759cfc6ff6ba5706',
      'model.safetensors': 'afb73c230af7ac18df8c17eddf30a516c01c2ec4359572c81bf8994a543c38cc',
    },
  },
  {
    id: 'tiny-flan-t5-q8_0',
    // Instruction-tuned: the Summarizer API's contexts go into its task prefix.
    instructions: true,
    label: 'tiny-flan-t5 test model · random weights · q8_0 GGUF · 0.3 MB',
    baseUrl: 'fixtures/tiny-flan-t5/',
    files: { ...STANDARD_FILES, weights: 'model-q8_0.gguf' },
    sha256: {
      'config.json': 'f9c7492f7dce6f14e08c40f765513573c94da6c8ccb04cfa6f4411df894703ae',
      'tokenizer.json': 'ab516ad1a91429bce5cc51f89b8413a3905b1b4831c94778759cfc6ff6ba5706',
      'model-q8_0.gguf': 'ef95ab6a7bfd6f0dbaea7700cf971f2931af94929b9ad223ba110387422fb509',
    },
  },
];

/** The model used when none is chosen. */
export const DEFAULT_MODEL_ID = 't5-small';

/**
 * Resolves a model choice to a full description with absolute file URLs.
 * @param {string|object|undefined} choice catalog id, base URL, or { baseUrl, files?, id? }
 * @param {string} base URL relative base URLs are resolved against
 */
export function resolveModel(choice, base = globalThis.location?.href) {
  let model;
  if (choice === undefined || choice === null || choice === '') {
    model = MODELS.find((m) => m.id === DEFAULT_MODEL_ID);
  } else if (typeof choice === 'string') {
    model = MODELS.find((m) => m.id === choice) ?? { id: choice, label: choice, baseUrl: choice };
  } else if (typeof choice === 'object' && choice.blobs) {
    return resolveLocal(choice);
  } else if (typeof choice === 'object' && typeof choice.baseUrl === 'string') {
    model = { id: choice.id ?? choice.baseUrl, label: choice.label ?? choice.baseUrl, ...choice };
  } else {
    throw new TypeError('model must be a catalog id, a base URL, or an object with a baseUrl');
  }
  let baseUrl = new URL(model.baseUrl, base).href;
  if (!baseUrl.endsWith('/')) baseUrl += '/';
  const files = { ...STANDARD_FILES, ...(model.files ?? {}) };
  const urls = Object.fromEntries(Object.entries(files).map(([k, name]) => [k, new URL(name, baseUrl).href]));
  return { ...model, baseUrl, files, urls };
}

/**
 * A model from local files (a file picker or drag and drop): `{ blobs: { config, tokenizer,
 * weights, manifest? } }` of File or Blob objects. Nothing is downloaded or cached; a
 * manifest.json among them is checked like a served one.
 */
function resolveLocal(choice) {
  const b = choice.blobs;
  for (const k of ['config', 'tokenizer', 'weights']) {
    if (!(b[k] instanceof Blob)) throw new TypeError(`local model files: the ${k} file is missing`);
  }
  const files = {
    config: b.config.name || 'config.json',
    tokenizer: b.tokenizer.name || 'tokenizer.json',
    weights: b.weights.name || 'model.safetensors',
  };
  // Distinct per set of files, so picking other files loads them anew.
  const key = `local:${encodeURIComponent(files.weights)}-${b.weights.size}-${b.weights.lastModified ?? 0}`;
  const urls = Object.fromEntries(Object.entries(files).map(([k, name]) => [k, `${key}/${encodeURIComponent(name)}`]));
  return {
    id: choice.id ?? `local:${files.weights}`,
    label: choice.label ?? `Local files: ${files.weights}`,
    baseUrl: `${key}/`,
    files,
    urls,
    blobs: b,
    manifest: false,
  };
}

/**
 * Sorts dropped or picked files into a local model's `{ config, tokenizer, weights, manifest? }`.
 * Throws an Error saying what is missing or doubled.
 */
export function localModelFiles(fileList) {
  const found = { config: [], tokenizer: [], weights: [], manifest: [] };
  for (const f of fileList) {
    const name = f.name.toLowerCase();
    if (name.endsWith('.safetensors') || name.endsWith('.gguf')) found.weights.push(f);
    else if (name.endsWith('tokenizer.json')) found.tokenizer.push(f);
    else if (name === 'manifest.json') found.manifest.push(f);
    else if (name.endsWith('.json') && name.includes('config')) found.config.push(f);
  }
  const missing = ['config', 'tokenizer', 'weights'].filter((k) => found[k].length === 0);
  const names = { config: 'config.json', tokenizer: 'tokenizer.json', weights: 'a .safetensors or .gguf weights file' };
  if (missing.length) {
    throw new Error(`Open the model's files together: config.json, tokenizer.json and a .safetensors or .gguf weights file (missing: ${missing.map((k) => names[k]).join(', ')}).`);
  }
  const doubled = Object.entries(found).filter(([, v]) => v.length > 1);
  if (doubled.length) {
    const [k, v] = doubled[0];
    throw new Error(`Open one model at a time: ${v.map((f) => f.name).join(' and ')} are both ${k === 'weights' ? 'weights files' : `${k} files`}.`);
  }
  return { config: found.config[0], tokenizer: found.tokenizer[0], weights: found.weights[0], ...(found.manifest[0] ? { manifest: found.manifest[0] } : {}) };
}
