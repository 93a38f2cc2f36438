// Node cannot import TypeScript by itself and a worker thread does not inherit the loader the main
// thread registered, so on Node the reader thread registers tsx first. Deno runs the .ts directly.
if (!("Deno" in globalThis)) {
  const { register } = await import("tsx/esm/api");
  register();
}
await import("./file-reader-thread.ts");
