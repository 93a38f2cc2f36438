import t from "tap";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { importsIn, isBuiltinModule } from "../../core/plugins/builtin-imports.ts";

/**
 * Plugins are edge-style modules: web-standard APIs and the capabilities the host hands them, never
 * Node's modules, so the same file runs on Deno. This test reads every file under plugins/ with the
 * scan the host warns with (core/plugins/builtin-imports.ts), and also refuses the project's Node-only
 * packages and Node's globals.
 */
const pluginsDir = fileURLToPath(new URL("../../plugins/", import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(m?[jt]s)$/.test(entry) ? [path] : [];
  });
}

/** The project's packages that only work on Node (native addon, worker pool, loader). */
const nodeOnlyPackages = new Set(["cap", "piscina", "tsx"]);
const nodeOnly = (specifier: string) => isBuiltinModule(specifier) || nodeOnlyPackages.has(specifier);

t.test("no file in plugins/ imports a node: module or a Node-only package", async (t) => {
  const files = sourceFiles(pluginsDir);
  t.ok(files.length >= 4, "the built-in plugins are there");
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const specifiers = importsIn(text).map((i) => i.specifier);
    t.ok(specifiers.length > 0, `${file}: the scan finds its imports`);
    t.same(specifiers.filter(nodeOnly), [], `${file} imports only the plugin API and relative modules`);
    t.notMatch(text, /\bprocess\.|\bBuffer\./, `${file} uses no Node globals (process, Buffer)`);
  }
});

t.test("the import check itself catches a node: import, a bare built-in, a require and a Node-only package", async (t) => {
  const sample = `import { readFileSync } from "node:fs";\nimport os from "os";\nconst net = require("net");\nimport { definePlugin } from "../core/plugins/plugin-api.ts";\nimport Piscina from "piscina";\n`;
  t.same(importsIn(sample).map((i) => i.specifier).filter(nodeOnly), ["node:fs", "os", "net", "piscina"]);
});
