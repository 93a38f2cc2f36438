import t from "tap";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Plugins are edge-style modules: web-standard APIs and the capabilities the host hands them, never
 * Node's modules, so the same file runs on Deno. This test reads every file under plugins/.
 */
const pluginsDir = fileURLToPath(new URL("../../plugins/", import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(m?[jt]s)$/.test(entry) ? [path] : [];
  });
}

// Node's built-in modules, bare or as node:*, and Node-only packages a plugin might reach for.
const nodeOnly = /^(node:.*|fs|fs\/promises|net|os|path|child_process|worker_threads|http|https|crypto|stream|events|util|url|dgram|cluster|readline|tls|zlib|buffer|process|module|cap|piscina|tsx)$/;
const importPattern = /(?:import\s[^'"]*?from\s*|import\s*\(\s*|import\s+|export\s[^'"]*?from\s*|require\s*\(\s*)["']([^"']+)["']/g;

t.test("no file in plugins/ imports a node: module or a Node-only package", async (t) => {
  const files = sourceFiles(pluginsDir);
  t.ok(files.length >= 4, "the built-in plugins are there");
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const specifiers = [...text.matchAll(importPattern)].map((m) => m[1]);
    const offending = specifiers.filter((s) => nodeOnly.test(s));
    t.same(offending, [], `${file} imports only the plugin API and relative modules`);
    t.notMatch(text, /\bprocess\.|\bBuffer\./, `${file} uses no Node globals (process, Buffer)`);
  }
});

t.test("the import check itself catches a node: import, a bare built-in and a require", async (t) => {
  const sample = `import { readFileSync } from "node:fs";\nimport os from "os";\nconst net = require("net");\nimport { definePlugin } from "../core/plugins/plugin-api.ts";\n`;
  const found = [...sample.matchAll(importPattern)].map((m) => m[1]).filter((s) => nodeOnly.test(s));
  t.same(found, ["node:fs", "os", "net"]);
});
