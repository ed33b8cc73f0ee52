// One benchmark system in a fresh module worker (a fresh wasm instance, so its memory size at the
// end is this system's peak). Message in: { pkg, model, file, system, lengths, steps, repeats,
// threads } (threads > 1: the threaded build, its pool started with that many workers).
// Message out: the Rust figures plus { memoryBytes, memoryBeforeBytes } or { error }.
self.onmessage = async ({ data }) => {
  try {
    const mod = await import(data.pkg);
    const wasm = await mod.default();
    if (data.threads > 1) await mod.initThreadPool(data.threads);
    const get = async (name) => {
      const r = await fetch(data.model + name);
      if (!r.ok) throw new Error(`${name}: HTTP ${r.status}`);
      return r;
    };
    const config = await (await get('config.json')).text();
    const weights = new Uint8Array(await (await get(data.file)).arrayBuffer());
    const memoryBeforeBytes = wasm.memory.buffer.byteLength;
    const r = mod.benchSystem(data.system, config, weights, Uint32Array.from(data.lengths), data.steps, data.repeats);
    self.postMessage({ ...r, memoryBytes: wasm.memory.buffer.byteLength, memoryBeforeBytes, fileBytes: weights.length, threads: mod.kernelThreads() });
  } catch (e) {
    self.postMessage({ error: String(e?.stack ?? e) });
  }
};
