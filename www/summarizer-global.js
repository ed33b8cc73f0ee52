// Importing this module makes this project's Summarizer the global `Summarizer` (page or worker):
//   import './summarizer-global.js';
//   if ('Summarizer' in self) { const s = await Summarizer.create(); … }
// A browser's own Summarizer is left in place when it can summarize here (its availability()
// is anything but "unavailable"); one that cannot (Chromium without its on-device model says
// "unavailable") is replaced, and `?force` replaces it always. `?model=<catalog id or base URL>`
// picks the model create() loads by default (a self-hosted copy: `?model=/models/t5-small/`).
import { install } from './summarizer.js';

const params = new URL(import.meta.url).searchParams;
const model = params.get('model');
let force = params.has('force');
const native = globalThis.Summarizer;
if (!force && typeof native?.availability === 'function') {
  try {
    force = (await native.availability()) === 'unavailable';
  } catch {
    force = true;
  }
}
install({ force, ...(model ? { defaults: { model } } : {}) });
