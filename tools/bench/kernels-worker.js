// The threaded bench build in a module worker: starts the pool on every core, then times
// `benchKernels` (matmul_int8 and matmul_f32 on all threads and on one, interleaved; the int8
// products in one pass, then the f32 ones) for each
// shape. Message in: { shapes: [[m, n, k], …], repeats }. Out: { threads, out: [{ m, n, k,
// int8Ms: [all, one], f32Ms: [all, one] }] } or { error }.
// With { single: true } it loads the single-thread relaxed-SIMD bench build (bench-out/pkg-relaxed)
// instead, where "all threads" and "one" are the same one thread.
self.onmessage = async ({ data }) => {
  try {
    const mod = await import(data.single ? '/bench-pkg-relaxed/t5_summarizer.js' : '/bench-pkg-threads/t5_summarizer.js');
    await mod.default();
    if (!data.single) await mod.initThreadPool(Math.max(1, navigator.hardwareConcurrency - 1)); // and this thread
    if (data.attention) {
      const [s, h, dk] = data.attention;
      self.postMessage({ attention: mod.benchAttention(s, h, dk, data.repeats), threads: mod.kernelThreads() });
      return;
    }
    const out = data.shapes.map(([m, n, k]) => ({ m, n, k, ...mod.benchKernels(m, n, k, data.repeats) }));
    self.postMessage({ out, threads: mod.kernelThreads() });
  } catch (e) {
    self.postMessage({ error: String(e?.stack ?? e) });
  }
};
