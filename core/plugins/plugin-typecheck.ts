import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeno } from "../runtime/host-runtime.ts";

declare const Deno: { execPath(): string } | undefined;

const projectTsconfig = fileURLToPath(new URL("../../tsconfig.json", import.meta.url));
const projectTypes = fileURLToPath(new URL("../../node_modules/@types", import.meta.url));

/** Where the TypeScript compiler is, or null when it is not installed (`npm install --omit=dev`). */
function findTsc(): string | null {
  try {
    // The package exports only its package.json and API entry points; the launcher sits beside it.
    const pkg = fileURLToPath(import.meta.resolve("typescript/package.json"));
    const tsc = join(dirname(pkg), "bin", "tsc");
    return existsSync(tsc) ? tsc : null;
  } catch {
    return null;
  }
}

/** Runs a command; resolves with its exit status and combined output. */
function run(cmd: string, args: string[]): Promise<{ status: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (b: Buffer) => (output += b.toString()));
    child.stderr.on("data", (b: Buffer) => (output += b.toString()));
    child.on("error", (err) => resolve({ status: -1, output: err.message }));
    child.on("close", (status) => resolve({ status: status ?? -1, output }));
  });
}

/**
 * Type-checks one plugin file with the project's compiler settings before a hot reload, so that a
 * plugin saved with a type error keeps its running version. Resolves with the compiler's messages,
 * or null when the file checks (or is JavaScript, or no type checker is installed: then a reload
 * rests on whether the module loads at all).
 */
export async function typeCheckPlugin(path: string): Promise<string | null> {
  if (!/\.m?ts$/.test(path)) return null;
  if (isDeno && typeof Deno !== "undefined") {
    const r = await run(Deno.execPath(), ["check", "--quiet", path]);
    return r.status === 0 ? null : r.output.trim();
  }
  const tsc = findTsc();
  if (tsc === null) return null;
  // A throwaway tsconfig that extends the project's and names only this file (and what it imports).
  const dir = mkdtempSync(join(tmpdir(), "packet-host-check-"));
  try {
    const config = join(dir, "tsconfig.json");
    const compilerOptions = { typeRoots: [projectTypes] };
    writeFileSync(config, JSON.stringify({ extends: projectTsconfig, compilerOptions, include: [], files: [path] }));
    const r = await run(process.execPath, [tsc, "--noEmit", "--pretty", "false", "-p", config]);
    return r.status === 0 ? null : r.output.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
