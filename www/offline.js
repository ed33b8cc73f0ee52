// Offline support on the page: registers the service worker (sw.js) and hands it the files the
// summarizer worker loaded, so that after one visit the app starts and summarizes with no
// network. Models are cached by the worker itself (model-files.js).

let registration = null;

/**
 * Registers sw.js. Resolves to a short status string for the page; never throws (a browser or
 * origin without service workers still runs the app online).
 */
export async function registerOffline() {
  if (!('serviceWorker' in navigator)) return 'This browser cannot keep the app for offline use.';
  if (new URLSearchParams(location.search).get('sw') === '0') return 'Offline use is switched off (?sw=0).';
  try {
    registration = await navigator.serviceWorker.register(new URL('./sw.js', import.meta.url), { scope: './' });
    return null;
  } catch (err) {
    return `The app could not be kept for offline use: ${err?.message ?? err}`;
  }
}

/**
 * Asks the service worker to keep `urls` (the summarizer worker's own scripts and wasm, as it
 * reports them in `runtime.appFiles`). Resolves once the request is handed over.
 */
export async function rememberAppFiles(urls) {
  if (!registration || !urls?.length) return;
  const ready = await navigator.serviceWorker.ready;
  ready.active?.postMessage({ type: 'cache-app-files', urls });
}
