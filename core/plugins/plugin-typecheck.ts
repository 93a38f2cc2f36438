import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isDeno } from "../runtime/host-runtime.ts";

declare const Deno: { execPath(): string } | undefined;

const projectTsconfig = fileURLToPath(new URL("../../tsconfig.json", import.meta.url));
const projectTypes = fileURLToPath(new URL("../../node_modules/@types", import.meta.url));

/**
 * The TypeScript compiler's executable, or null when it is not installed (`npm install --omit=dev`).
 * TypeScript 7 is a native program; running it directly (rather than through its Node launcher)
 * keeps loaders that a test runner or tsx put in NODE_OPTIONS away from it.
 */
export async function typescriptCompiler(): Promise<string | null> {
  try {
    const pkg = fileURLToPath(import.meta.resolve("typescript/package.json"));
    const locate = join(dirname(pkg), "lib", "getExePath.js");
    if (!existsSync(locate)) return null;
    const { default: getExePath } = (await import(pathToFileURL(locate).href)) as { default: () => string };
    const exe = getExePath();
    return existsSync(exe) ? exe : null;
  } catch {
    return null;
  }
}

/** Runs a command; resolves with its exit status and combined output. */
function run(cmd: string, args: string[]): Promise<{ status: number; output: string }> {
  return new Promise((resolve) => {
    // Loaders in NODE_OPTIONS (a test runner's, tsx's) are for this process, not for the checker.
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_OPTIONS: "" } });
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
  const tsc = await typescriptCompiler();
  if (tsc === null) return null;
  // A throwaway tsconfig that extends the project's and names only this file (and what it imports).
  const dir = mkdtempSync(join(tmpdir(), "packet-host-check-"));
  try {
    const config = join(dir, "tsconfig.json");
    const compilerOptions = { typeRoots: [projectTypes] };
    writeFileSync(config, JSON.stringify({ extends: projectTsconfig, compilerOptions, include: [], files: [path] }));
    const r = await run(tsc, ["--noEmit", "--pretty", "false", "-p", config]);
    return r.status === 0 ? null : r.output.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
