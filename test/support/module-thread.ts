import { Worker } from "node:worker_threads";

/**
 * A thread that imports the TypeScript module `moduleUrl` and runs `body` with it as `m`, beside
 * `parentPort` and `workerData`. The test runner's TypeScript loader does not reach threads, so the
 * thread registers tsx itself before the import.
 *
 * @example
 * const w = moduleThread(new URL("../../core/ring/frame-ring.ts", import.meta.url), "parentPort.postMessage(typeof m.FrameRing)");
 */
export function moduleThread(moduleUrl: URL | string, body: string, workerData: Record<string, unknown> = {}): Worker {
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    import("tsx/esm/api")
      .then(({ register }) => {
        register();
        return import(workerData.moduleUrl);
      })
      .then((m) => {
        ${body}
      });`;
  return new Worker(code, { eval: true, workerData: { ...workerData, moduleUrl: String(moduleUrl) } });
}
