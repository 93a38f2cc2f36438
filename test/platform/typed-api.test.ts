import t from "tap";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";
import { typescriptCompiler } from "../../core/plugins/plugin-typecheck.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const checks = join(root, "test", "platform", "type-checks");

/** Runs the type checker on one file with the project's settings; returns its diagnostics. */
const tsc = await typescriptCompiler();

function typeCheck(file: string): { status: number; output: string } {
  const dir = mkdtempSync(join(tmpdir(), "typed-api-"));
  try {
    const config = join(dir, "tsconfig.json");
    writeFileSync(
      config,
      JSON.stringify({
        extends: join(root, "tsconfig.json"),
        compilerOptions: { typeRoots: [join(root, "node_modules", "@types")] },
        include: [],
        exclude: [],
        files: [file],
      }),
    );
    const r = spawnSync(tsc!, ["--noEmit", "--pretty", "false", "-p", config], { encoding: "utf8" });
    return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (tsc === null) t.plan(0, "the TypeScript compiler is not installed (npm install without --omit=dev)");

t.test("a plugin that uses the typed API correctly type-checks", async (t) => {
  const r = typeCheck(join(checks, "well-typed.ts"));
  t.equal(r.status, 0, r.output);
});

t.test("a plugin that misuses a handler's parameter, an event name, an option or emit does not type-check", async (t) => {
  const file = join(checks, "misused-handler.ts");
  const r = typeCheck(file);
  t.not(r.status, 0, "the checker rejects the file");
  const expected = readFileSync(file, "utf8")
    .split("\n")
    .flatMap((line, i) => (line.includes("// error:") ? [i + 1] : []));
  const reported = [...r.output.matchAll(/misused-handler\.ts\((\d+),\d+\): error TS\d+/g)].map((m) => Number(m[1]));
  t.same([...new Set(reported)].sort((a, b) => a - b), expected, `errors on exactly the marked lines:\n${r.output}`);
});
