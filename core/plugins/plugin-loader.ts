import { type Dirent, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, extname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isDeno } from "../runtime/host-runtime.ts";
import { UsageError } from "../usage-error.ts";
import type { OptionSpec, OptionType, PluginDefinition } from "./plugin-api.ts";

/** A plugin module found on disk. */
export interface PluginFile {
  /** The name `--plugins` uses: the file name without its extension (or the folder name). */
  name: string;
  /** Absolute path of the module. */
  path: string;
}

/** The folder of the built-in plugins. */
export const builtinPluginDir = fileURLToPath(new URL("../../plugins/", import.meta.url));

const kNamePattern = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const kExtensions = [".ts", ".mts", ".js", ".mjs"];

/** Checks that `name` is a plugin name and not a path (`../x`, `/etc/x`, `a/b` are refused). */
export function checkPluginName(name: string): void {
  if (!kNamePattern.test(name)) {
    throw new UsageError(
      `Invalid plugin name "${name}": a plugin is named by its file name in a plugin folder (letters, digits, - and _), not by a path; use --plugins-dir DIR to add a folder`,
    );
  }
}

/** The plugin name of a directory entry, or null when the entry is not a plugin module. */
function pluginNameOf(dir: string, entry: string): string | null {
  if (entry.startsWith(".") || entry.startsWith("_")) return null;
  if (entry.endsWith(".d.ts") || entry.includes(".test.")) return null;
  for (const ext of kExtensions) {
    if (entry.endsWith(ext)) {
      const name = entry.slice(0, -ext.length);
      return kNamePattern.test(name) ? name : null;
    }
  }
  // A folder with an index module is a plugin too.
  try {
    if (statSync(join(dir, entry)).isDirectory() && kNamePattern.test(entry)) {
      for (const ext of kExtensions) {
        try {
          if (statSync(join(dir, entry, `index${ext}`)).isFile()) return entry;
        } catch {
          // no index with this extension
        }
      }
    }
  } catch {
    // vanished while listing
  }
  return null;
}

/** Path of the module of plugin `name` in `dir`, or null. */
export function pluginPath(dir: string, name: string): string | null {
  for (const ext of kExtensions) {
    const p = join(dir, name + ext);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // try the next extension
    }
  }
  for (const ext of kExtensions) {
    const p = join(dir, name, `index${ext}`);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // try the next extension
    }
  }
  return null;
}

/**
 * Lists the plugins in `dirs`, by name. When two folders hold the same name, the earlier folder wins
 * (folders given with --plugins-dir come before the built-in one, so a user can replace a built-in).
 */
export function discoverPlugins(dirs: readonly string[]): Map<string, PluginFile> {
  const found = new Map<string, PluginFile>();
  for (const dir of dirs) {
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const entry of entries) {
      const name = pluginNameOf(dir, entry);
      if (name === null || found.has(name)) continue;
      const path = pluginPath(dir, name);
      if (path !== null) found.set(name, { name, path: resolve(path) });
    }
  }
  return found;
}

/**
 * Why Node would load plugin `file` as CommonJS (a .ts or .js file outside a package marked
 * `"type": "module"`), with the fix; null when it would not. Node refuses such a plugin: its `export
 * default` fails with an error about require() cycles that does not say why (tsx follows the same
 * rule, and Node 20's fallback that detects ES module syntax in a .js file does not work once the
 * TypeScript loader is registered, which it always is). Deno loads it, and the host warns there.
 */
export function loadedAsCommonJs(file: PluginFile): string | null {
  const ext = extname(file.path);
  if ((ext !== ".ts" && ext !== ".js") || nearestPackageType(dirname(file.path)) === "module") return null;
  return (
    `a ${ext} plugin must be marked as an ES module, or Node loads it as CommonJS: ` +
    `put a package.json with "type": "module" beside it (echo '{"type":"module"}' > ${join(dirname(file.path), "package.json")}) or rename the file to .m${ext.slice(1)}`
  );
}

/** Module files of a folder plugin looked at by pluginSources, at most. */
const kMaxSourceFiles = 64;

/**
 * The source text of a plugin's own modules, by path: its file, or for a folder plugin every module
 * file in its folder and the folders below (node_modules left out). Unreadable files are skipped.
 */
export function pluginSources(file: PluginFile): Map<string, string> {
  const sources = new Map<string, string>();
  const read = (path: string) => {
    try {
      sources.set(path, readFileSync(path, "utf8"));
    } catch {
      // vanished or unreadable: nothing to look at
    }
  };
  const folder = basename(dirname(file.path)) === file.name && basename(file.path).startsWith("index.");
  if (!folder) {
    read(file.path);
    return sources;
  }
  const walk = (dir: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (sources.size >= kMaxSourceFiles || e.name.startsWith(".") || e.name === "node_modules") continue;
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (kExtensions.some((ext) => e.name.endsWith(ext)) && !e.name.endsWith(".d.ts")) read(path);
    }
  };
  walk(dirname(file.path));
  return sources;
}

/** The "type" of the package.json nearest to `dir` (upwards), as Node decides a module's format by it. */
function nearestPackageType(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    let text: string | null = null;
    try {
      text = readFileSync(join(d, "package.json"), "utf8");
    } catch {
      // none here: look further up
    }
    if (text !== null) {
      try {
        return (JSON.parse(text) as { type?: string }).type;
      } catch {
        return undefined;
      }
    }
    if (dirname(d) === d) return undefined;
  }
}

let tsxRegistered: Promise<void> | null = null;

/**
 * Makes TypeScript plugins importable. Deno runs them natively, and so does a process started with a
 * TypeScript loader (tests, the tsx fallback of core/bin.js); the host's bundle (see core/bin.js) has
 * none, and registers tsx when the first plugin loads (a JavaScript one may import the TypeScript API):
 * after a -Z drop of privileges, so the compiler process tsx starts runs as that user.
 */
function typeScriptLoader(): Promise<void> {
  if (!(globalThis as Record<symbol, unknown>)[Symbol.for("packet-host.bundled")]) return Promise.resolve();
  return (tsxRegistered ??= import("tsx/esm/api").then(({ register }) => {
    register();
  }));
}

/** Throws a UsageError naming the available plugins. */
export function unknownPlugin(name: string, available: Map<string, PluginFile>): never {
  const names = [...available.keys()].sort().join(", ") || "(none)";
  throw new UsageError(`Unknown plugin "${name}": available plugins are ${names} (see --list-plugins)`);
}

const kOptionTypes = new Set(["string", "number", "boolean", "list"]);

/** How long a plugin module may take to load (its top-level code, a top-level await included). */
const kImportTimeoutMs = 30_000;

/**
 * The message of an error, or its text. Whatever a plugin throws, this must not throw in turn (an
 * object without a prototype has no toString; a getter may throw): the run would end on it.
 */
export function errorText(err: unknown): string {
  try {
    return err instanceof Error ? String(err.message) : String(err);
  } catch {
    return Object.prototype.toString.call(err);
  }
}

/** Waits for `p` at most `ms` milliseconds: its error, "timeout", or undefined when it settled well. */
export async function withTimeout(p: Promise<unknown>, ms: number): Promise<Error | "timeout" | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([
      p.then(
        () => undefined,
        (err: unknown) => (err instanceof Error ? err : new Error(errorText(err))),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `value` is a valid default for an option of `type` (what `-o` would give it). */
function defaultFits(type: OptionType, value: unknown): boolean {
  switch (type) {
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "boolean":
      return typeof value === "boolean";
    case "list":
      return Array.isArray(value) && value.every((v) => typeof v === "string");
    default:
      return typeof value === "string";
  }
}

/**
 * Where a syntax error is, in a JavaScript plugin or the modules it imports ("file:line:column"), or
 * null: Node's SyntaxError from import() names neither file nor line, esbuild's parser does. Its
 * service is stopped at once (a failed load is rare, and a host that dropped root keeps no child).
 */
async function syntaxErrorPlace(path: string): Promise<string | null> {
  const esbuild = await import("esbuild");
  const dir = dirname(path);
  try {
    await esbuild.build({ entryPoints: [path], absWorkingDir: dir, bundle: true, write: false, logLevel: "silent", platform: "node", format: "esm", packages: "external" });
  } catch (e) {
    type Location = { file: string; line: number; column: number; lineText: string };
    const errors = (e as { errors?: { text: string; location: Location | null }[] }).errors ?? [];
    const syntax = errors.find((m) => m.location !== null && !m.text.startsWith("Could not resolve"));
    if (syntax?.location) {
      const { file, line, column, lineText } = syntax.location;
      // esbuild counts the column in UTF-8 bytes; editors and Node count characters.
      const characters = new TextDecoder().decode(new TextEncoder().encode(lineText).subarray(0, column)).length;
      return `${resolve(dir, file)}:${line}:${characters + 1}`;
    }
  } finally {
    await esbuild.stop();
  }
  return null;
}

/**
 * Imports a plugin module and checks its default export. `generation` makes a fresh module instance
 * for hot reload (ES modules are cached by URL, so each reload imports a new URL).
 */
export async function importPlugin(file: PluginFile, generation = 0, timeoutMs = kImportTimeoutMs): Promise<PluginDefinition> {
  const commonJs = loadedAsCommonJs(file);
  if (!isDeno && commonJs !== null) throw new Error(`Plugin file ${file.path}: ${commonJs}`);
  // Also for a JavaScript plugin: it may import the host's TypeScript API (core/plugins/plugin-api.ts).
  await typeScriptLoader();
  const url = pathToFileURL(file.path).href + (generation > 0 ? `?v=${generation}` : "");
  const where = `Plugin file ${file.path}`;
  let mod: { default?: unknown } = {};
  // The time limit's timer also keeps the process alive: a top-level await that can never settle
  // would otherwise let Node exit at once (status 13) without a word, and Deno hang.
  const outcome = await withTimeout(
    import(url).then((m: { default?: unknown }) => {
      mod = m;
    }),
    timeoutMs,
  );
  if (outcome === "timeout") {
    throw new Error(`${where} cannot be loaded: its module did not finish loading within ${timeoutMs / 1000} s: a top-level await waits for something that does not come (do slow work in setup, with ctx.holdStart)`);
  }
  if (outcome !== undefined) {
    // Node's message for a syntax error in a module names neither the file nor the line.
    const message = outcome.message.replace(/\s*\n\s*/g, " ");
    // The error may also be in a module the plugin imports: Node does not say which.
    let hint = "";
    if (outcome instanceof SyntaxError && !isDeno && /\.[cm]?js$/.test(file.path)) {
      const place = await syntaxErrorPlace(file.path);
      hint = place !== null ? ` at ${place}` : ` (node --check ${file.path}, and on the files it imports, shows where)`;
    }
    throw new Error(`${where} cannot be loaded: ${message}${hint}`, { cause: outcome });
  }
  const def = mod.default as Partial<PluginDefinition> | undefined;
  if (def === null || typeof def !== "object") {
    throw new Error(`${where} has no default export: export default definePlugin({ name, description, setup(ctx) { ... } })`);
  }
  if (typeof def.setup !== "function") throw new Error(`${where}: the default export has no setup(ctx) function`);
  if (def.name !== file.name) {
    throw new Error(`${where}: the plugin's name is "${String(def.name)}" but its file is named "${file.name}": make them the same`);
  }
  if (def.description !== undefined && typeof def.description !== "string") {
    throw new Error(`${where}: description must be a string`);
  }
  for (const [key, spec] of Object.entries(def.options ?? {})) {
    const s = spec as Partial<OptionSpec>;
    if (!kOptionTypes.has(String(s.type))) {
      throw new Error(`${where}: option "${key}" has type ${String(s.type)}: use string, number, boolean or list`);
    }
    if (!defaultFits(s.type as OptionType, s.default)) {
      throw new Error(`${where}: option "${key}" is a ${String(s.type)} but its default is ${JSON.stringify(s.default) ?? String(s.default)}: give a default of that type`);
    }
  }
  return def as PluginDefinition;
}
