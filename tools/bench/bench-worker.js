// One benchmark system in a fresh module worker (a fresh wasm instance, so its memory size at the
// end is this system's peak). Message in: { pkg, model, file, system, lengths, steps, repeats,
// threads } (threads > 1: the threaded build, its pool started with that many workers).
// A threaded run also measures the same instance with the kernels on one thread, interleaved
// (serialLengths). Message out: the Rust figures plus { memoryBytes, memoryBeforeBytes } or { error }.
self.onmessage = async ({ data }) => {
  try {
    const mod = await import(data.pkg);
    const wasm = await mod.default();
    if (data.threads > 1) await mod.initThreadPool(data.threads - 1); // and this thread
    const get = async (name) => {
      const r = await fetch(data.model + name);
      if (!r.ok) throw new Error(`${name}: HTTP ${r.status}`);
      return r;
    };
    const config = await (await get('config.json')).text();
    if (data.interleaved) {
      // Several systems in this one instance, timed round-robin (their ratios resist drift).
      const weights = [];
      for (const [, file] of data.interleaved) weights.push(new Uint8Array(await (await get(file)).arrayBuffer()));
      const lengths = mod.benchInterleaved(data.interleaved.map(([system]) => system), config, weights, Uint32Array.from(data.lengths), data.steps, data.repeats);
      self.postMessage({ lengths });
      return;
    }
    const weights = new Uint8Array(await (await get(data.file)).arrayBuffer());
    const memoryBeforeBytes = wasm.memory.buffer.byteLength;
    const r = mod.benchSystem(data.system, config, weights, Uint32Array.from(data.lengths), data.steps, data.repeats, data.threads > 1);
    self.postMessage({ ...r, memoryBytes: wasm.memory.buffer.byteLength, memoryBeforeBytes, fileBytes: weights.length, threads: mod.kernelThreads() });
  } catch (e) {
    self.postMessage({ error: String(e?.stack ?? e) });
  }
};
