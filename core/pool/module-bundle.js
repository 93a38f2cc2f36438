// A TypeScript module and everything it imports, bundled once with esbuild (the compiler tsx itself
// uses) into one JavaScript file in a cache folder, and reused until a source file changes. Node 20
// cannot run TypeScript by itself: the host's main thread (core/bin.js) and its worker threads start
// from these bundles instead of going through a TypeScript loader.
//
// Plain JavaScript on purpose: core/bin.js uses it before any TypeScript can be loaded.
import { accessSync, constants, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const projectRoot = fileURLToPath(new URL("../../", import.meta.url));
const projectCache = join(projectRoot, "node_modules", ".cache", "packet-host");

/** True once this process has started esbuild's service (see stopBundler). */
let bundlerStarted = false;

/**
 * Path of an up-to-date bundle of `entry` (an absolute path inside the project).
 *
 * `packages: "external"` leaves npm packages out, to be imported from node_modules at run time (the main
 * thread's bundle: piscina finds its own worker script next to itself); such a bundle must live inside the
 * project, where those imports resolve. A self-contained bundle ("bundle") may go to the system's temporary
 * folder when the project's cache is not writable (a host run as another user than the one who installed it).
 *
 * @param {string} entry
 * @param {{ packages?: "bundle" | "external" }} [options]
 * @returns {Promise<string>}
 */
export async function bundleModule(entry, options = {}) {
  const external = options.packages === "external";
  const folders = external ? [projectCache] : [projectCache, join(tmpdir(), "packet-host-workers")];
  const name = entry.slice(projectRoot.length).replace(/[\\/]/g, "_").replace(/\.ts$/, "");
  // A fresh bundle is used wherever it is, also from a folder this user cannot write.
  for (const folder of folders) {
    if (fresh(join(folder, `${name}.json`))) return join(folder, `${name}.mjs`);
  }
  const dir = writableFolder(folders);
  const out = join(dir, `${name}.mjs`);
  const manifestPath = join(dir, `${name}.json`);
  const esbuild = await import("esbuild");
  bundlerStarted = true;
  const result = await esbuild.build({
    entryPoints: [entry],
    absWorkingDir: projectRoot,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: external ? "external" : undefined,
    plugins: [sourceLocations],
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  /** @type {Record<string, number>} */
  const inputs = {};
  for (const file of Object.keys(result.metafile.inputs)) inputs[file] = statSync(join(projectRoot, file)).mtimeMs;
  // Written under a temporary name and renamed: a run starting meanwhile never sees half a file.
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, result.outputFiles[0].text);
  renameSync(tmp, out);
  writeFileSync(`${manifestPath}.${process.pid}.tmp`, JSON.stringify({ root: projectRoot, inputs }));
  renameSync(`${manifestPath}.${process.pid}.tmp`, manifestPath);
  return out;
}

/**
 * Stops esbuild's service process if this process started one. A host that drops root privileges (-Z)
 * must not leave a child running as root that would take build requests over its pipes.
 */
export async function stopBundler() {
  if (!bundlerStarted) return;
  bundlerStarted = false;
  const esbuild = await import("esbuild");
  await esbuild.stop();
}

/** The expression rewritten below, spelt so that this file's own source does not contain it. */
const kMetaUrl = ["import", "meta", "url"].join(".");

/**
 * Every module keeps its own `import.meta.url` in the bundle (as a string): the project finds its
 * package.json, worker scripts, plugins and capture process relative to the module that names them,
 * not to the cache folder the bundle lives in.
 *
 * @type {import("esbuild").Plugin}
 */
const sourceLocations = {
  name: "source-locations",
  setup(build) {
    build.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
      if (args.path.includes(`${join("node_modules", "")}`)) return undefined;
      const text = readFileSync(args.path, "utf8");
      if (!text.includes(kMetaUrl)) return undefined;
      const ext = extname(args.path);
      return {
        contents: text.replaceAll(kMetaUrl, JSON.stringify(pathToFileURL(args.path).href)),
        loader: ext === ".ts" || ext === ".mts" || ext === ".cts" ? "ts" : "js",
      };
    });
  },
};

/**
 * The first folder of `candidates` that can be created and written.
 *
 * @param {string[]} candidates
 * @returns {string}
 */
function writableFolder(candidates) {
  for (const dir of candidates) {
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(dir, constants.W_OK);
      return dir;
    } catch {
      // not writable: try the next
    }
  }
  throw new Error(`no writable cache folder among ${candidates.join(", ")}`);
}

/**
 * True when the bundle described by `manifestPath` was made from this project's files as they are now.
 *
 * @param {string} manifestPath
 */
function fresh(manifestPath) {
  try {
    /** @type {{ root?: string, inputs: Record<string, number> }} */
    const m = JSON.parse(readFileSync(manifestPath, "utf8"));
    if (m.root !== projectRoot) return false;
    for (const [file, mtime] of Object.entries(m.inputs)) {
      if (statSync(join(projectRoot, file)).mtimeMs !== mtime) return false;
    }
    return Object.keys(m.inputs).length > 0;
  } catch {
    return false;
  }
}
