// Code for the built-in Summarizer, run in a module worker on top of the global install.
import '/summarizer-global.js?model=/fixtures/tiny-t5/';

try {
  const s = await Summarizer.create({ type: 'tldr', length: 'long', maxInputTokens: 64, maxNewTokens: 6 });
  postMessage(await s.summarize('The river rose after a week of rain. The bridge was closed.'));
  s.destroy();
} catch (e) {
  postMessage(`error: ${e?.name}: ${e?.message}`);
}
