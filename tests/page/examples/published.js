// Example code of the kind MDN and Chrome's built-in AI documentation publish for the
// built-in Summarizer, unchanged: it only assumes a global `Summarizer`.
const input = document.getElementById('input');
const output = document.getElementById('output');
const status = document.getElementById('status');
window.results = { progress: [] };
let summarizer;

async function getSummarizer() {
  if (summarizer) return summarizer;
  if (!('Summarizer' in self)) throw new Error('The Summarizer API is not supported.');
  const availability = await Summarizer.availability();
  window.results.availability = availability;
  if (availability === 'unavailable') throw new Error('The Summarizer API is not usable.');
  const options = {
    sharedContext: 'This is a news article',
    type: 'key-points',
    format: 'markdown',
    length: 'medium',
    monitor(m) {
      m.addEventListener('downloadprogress', (e) => {
        console.log(`Downloaded ${e.loaded * 100}%`);
        window.results.progress.push(e.loaded);
      });
    },
  };
  // Creating a summarizer that must download its model needs a user gesture.
  if (navigator.userActivation.isActive) summarizer = await Summarizer.create(options);
  else throw new Error('Click a button first.');
  return summarizer;
}

document.getElementById('summarize').addEventListener('click', async () => {
  const s = await getSummarizer();
  const usage = await s.measureInputUsage(input.value);
  if (usage > s.inputQuota) throw new Error('Not enough quota to summarize this text.');
  const summary = await s.summarize(input.value, { context: 'This article is intended for a tech-savvy audience.' });
  output.textContent = summary;
  window.results.summary = summary;
  window.results.usage = usage;
  window.results.quota = s.inputQuota;
});

document.getElementById('stream').addEventListener('click', async () => {
  const s = await getSummarizer();
  const stream = s.summarizeStreaming(input.value, { context: 'This article is intended for junior developers.' });
  output.textContent = '';
  const chunks = [];
  for await (const chunk of stream) {
    output.append(chunk);
    chunks.push(chunk);
  }
  window.results.streamed = chunks;
});

document.getElementById('stream-stoppable').addEventListener('click', async () => {
  const s = await getSummarizer();
  const controller = new AbortController();
  document.getElementById('stop').onclick = () => controller.abort();
  output.textContent = '';
  const chunks = [];
  try {
    const stream = s.summarizeStreaming(input.value, { signal: controller.signal });
    for await (const chunk of stream) {
      output.append(chunk);
      chunks.push(chunk);
    }
    status.textContent = 'done';
  } catch (e) {
    status.textContent = e.name === 'AbortError' ? 'stopped' : `failed: ${e.message}`;
  }
  window.results.stoppable = { chunks, status: status.textContent };
});
