// Node cannot import TypeScript by itself, and Piscina's worker threads do not inherit the loader the
// main thread registered, so on Node the worker entry registers tsx first. Deno runs the .ts directly.
if (!("Deno" in globalThis)) {
  const { register } = await import("tsx/esm/api");
  register();
}
const mod = await import("./decode-worker.ts");
export default mod.default;
