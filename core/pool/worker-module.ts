import { fileURLToPath, pathToFileURL } from "node:url";
import { isDeno } from "../runtime/host-runtime.ts";
import { bundleModule, stopBundler } from "./module-bundle.js";

/**
 * The module a worker thread runs, as something the runtime can load fast.
 *
 * Deno runs TypeScript natively: the `.ts` module itself. Node 20 cannot, and registering tsx in a
 * worker costs about 120 ms per thread (its loader starts a thread of its own), which is most of the
 * time a short capture takes. So on Node the module and everything it imports are bundled once with
 * esbuild (the compiler tsx itself uses) into plain JavaScript in a cache folder, and reused until a
 * source file changes (see module-bundle.js): a worker then starts in about 30 ms. If bundling is not
 * possible, the `.js` shim that registers tsx is used.
 */
export async function workerModule(ts: URL, shim: URL): Promise<string> {
  if (isDeno) return ts.href;
  try {
    return pathToFileURL(await bundleModule(fileURLToPath(ts))).href;
  } catch {
    return shim.href;
  } finally {
    // Bundling is rare (after a change); its compiler process need not wait for the next time.
    await stopBundler();
  }
}
