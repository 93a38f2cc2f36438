import { builtinModules } from "node:module";

/** An import found in a plugin's source. */
export interface SourceImport {
  /** As written: "node:fs", "fs". */
  specifier: string;
  /** 1-based line of the import. */
  line: number;
}

const kBareBuiltins = new Set(builtinModules.filter((m) => !m.startsWith("_")));

// Static imports and re-exports (`import x from "m"`, `export * from "m"`, `import "m"`), dynamic
// imports with a literal, and require(). `import type` is left out: TypeScript erases it.
// Run on the masked source (see mask), where a string's contents cannot hold a quote.
const kImportPattern =
  /\b(?:import|export)(?!\s+type\b)\s[^;'"`()]*?\bfrom\s*(["'])([^"'\n]+)\1|\bimport\s*(["'])([^"'\n]+)\3|\bimport\s*\(\s*(["'])([^"'\n]+)\5\s*[,)]|\brequire\s*\(\s*(["'])([^"'\n]+)\7\s*\)/dg;

/**
 * The built-in modules (`node:*`, or a bare "fs") that `source` imports, in order. A plugin is meant to
 * use web-standard APIs and what `ctx` hands it, so that the same file runs on Node.js, on Deno and in
 * edge-style runtimes; the host warns about these rather than refusing them (Node and Deno 2 both run
 * `node:` imports, and Deno refuses a bare "fs" by itself).
 *
 * A light scan, not a parser: comments, template literals and the contents of strings are masked
 * first, so that an import in a comment or in a string is not reported; the specifier is then read
 * from the source at the same place. A regular expression literal holding a quote can mislead it; the
 * result only ever feeds a warning.
 */
export function builtinImportsIn(source: string): SourceImport[] {
  return importsIn(source).filter((i) => isBuiltinModule(i.specifier));
}

/** True for "node:*" and the bare names of Node's built-in modules ("fs", "fs/promises"). */
export function isBuiltinModule(specifier: string): boolean {
  return specifier.startsWith("node:") || kBareBuiltins.has(specifier.split("/")[0]!);
}

/** Every module `source` imports (statically, dynamically with a literal, or by require), in order. */
export function importsIn(source: string): SourceImport[] {
  const code = mask(source);
  const found: SourceImport[] = [];
  for (const m of code.matchAll(kImportPattern)) {
    const group = [2, 4, 6, 8].find((g) => m[g] !== undefined)!;
    const [start, end] = m.indices![group]!;
    found.push({ specifier: source.slice(start, end), line: lineAt(source, m.index) });
  }
  return found;
}

/** 1-based line of offset `at` in `text`. */
function lineAt(text: string, at: number): number {
  let line = 1;
  for (let i = text.indexOf("\n"); i !== -1 && i < at; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

/**
 * `source` with its comments and template literals blanked and the contents of its strings replaced
 * by "x" (quotes, line breaks and offsets kept).
 */
function mask(source: string): string {
  const out = source.split("");
  let i = 0;
  const n = source.length;
  while (i < n) {
    const c = source[i]!;
    if (c === "/" && source[i + 1] === "/") {
      while (i < n && source[i] !== "\n") out[i++] = " ";
    } else if (c === "/" && source[i + 1] === "*") {
      const close = source.indexOf("*/", i + 2);
      const stop = close === -1 ? n : close + 2;
      for (; i < stop; i++) if (source[i] !== "\n") out[i] = " ";
    } else if (c === '"' || c === "'" || c === "`") {
      // The literal's contents (a template's ${...} parts with them: an import inside one is rare).
      const fill = c === "`" ? " " : "x";
      i++;
      while (i < n && source[i] !== c) {
        if (c !== "`" && source[i] === "\n") break; // an unterminated string ends at the line
        const escaped = source[i] === "\\" && i + 1 < n;
        if (source[i] !== "\n") out[i] = fill;
        i++;
        if (escaped) {
          if (source[i] !== "\n") out[i] = fill;
          i++;
        }
      }
      i++;
    } else {
      i++;
    }
  }
  return out.join("");
}
