import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isDeno } from "../runtime/host-runtime.ts";

/**
 * The module a worker thread runs, as something the runtime can load fast.
 *
 * Deno runs TypeScript natively: the `.ts` module itself. Node 20 cannot, and registering tsx in a
 * worker costs about 120 ms per thread (its loader starts a thread of its own), which is most of the
 * time a short capture takes. So on Node the module and everything it imports are bundled once with
 * esbuild (the compiler tsx itself uses) into plain JavaScript in a cache folder, and reused until a
 * source file changes: a worker then starts in about 30 ms. If bundling is not possible, the `.js`
 * shim that registers tsx is used, as before.
 */
export async function workerModule(ts: URL, shim: URL): Promise<string> {
  if (isDeno) return ts.href;
  try {
    return pathToFileURL(await bundled(fileURLToPath(ts))).href;
  } catch {
    return shim.href;
  }
}

const projectRoot = fileURLToPath(new URL("../../", import.meta.url));

/** Where bundles go: the project's node_modules cache, else the system's temporary folder. */
function cacheFolder(): string {
  for (const dir of [join(projectRoot, "node_modules", ".cache", "packet-host"), join(tmpdir(), "packet-host-workers")]) {
    try {
      mkdirSync(dir, { recursive: true });
      statSync(dir);
      return dir;
    } catch {
      // not writable: try the next
    }
  }
  throw new Error("no writable cache folder");
}

/** The inputs a bundle was made from, with their modification times. */
interface Manifest {
  inputs: Record<string, number>;
}

function fresh(manifestPath: string): boolean {
  try {
    const m = JSON.parse(readFileSync(manifestPath, "utf8")) as Manifest;
    for (const [file, mtime] of Object.entries(m.inputs)) {
      if (statSync(join(projectRoot, file)).mtimeMs !== mtime) return false;
    }
    return Object.keys(m.inputs).length > 0;
  } catch {
    return false;
  }
}

/** Path of an up-to-date bundle of `entry`, building it when a source changed. */
async function bundled(entry: string): Promise<string> {
  const dir = cacheFolder();
  const name = entry.slice(projectRoot.length).replace(/[\\/]/g, "_").replace(/\.ts$/, "");
  const out = join(dir, `${name}.mjs`);
  const manifestPath = join(dir, `${name}.json`);
  if (fresh(manifestPath)) return out;
  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    entryPoints: [entry],
    absWorkingDir: projectRoot,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const inputs: Record<string, number> = {};
  for (const file of Object.keys(result.metafile!.inputs)) inputs[file] = statSync(join(projectRoot, file)).mtimeMs;
  // Written under a temporary name and renamed: a run starting meanwhile never sees half a file.
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, result.outputFiles![0].text);
  renameSync(tmp, out);
  writeFileSync(`${manifestPath}.${process.pid}.tmp`, JSON.stringify({ inputs } satisfies Manifest));
  renameSync(`${manifestPath}.${process.pid}.tmp`, manifestPath);
  return out;
}
