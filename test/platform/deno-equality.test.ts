import t from "tap";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/**
 * The host runs on Deno 2 as well as Node: `deno run -A core/cli.ts -r FILE --plugins
 * http-printer,flow-counter --format json` must print byte for byte what the same command prints on
 * Node, on the sample capture and (when present) on every capture of ../shared/captures/zeek.
 */
const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));
const deno = join(root, "node_modules", ".bin", "deno");
const zeek = join(root, "..", "shared", "captures", "zeek");
const args = ["--plugins", "http-printer,flow-counter", "--format", "json", "--workers", "1"];

async function denoWorks(): Promise<boolean> {
  try {
    await run(deno, ["--version"]);
    return true;
  } catch {
    return false;
  }
}

async function both(file: string): Promise<{ node: string; deno: string }> {
  const opts = { cwd: root, maxBuffer: 64 << 20, encoding: "utf8" as const };
  const [n, d] = await Promise.all([
    run(process.execPath, [join(root, "core", "bin.js"), "-r", file, ...args], opts).catch((e: { stdout: string }) => e),
    run(deno, ["run", "-A", join(root, "core", "cli.ts"), "-r", file, ...args], opts).catch((e: { stdout: string }) => e),
  ]);
  return { node: n.stdout, deno: d.stdout };
}

if (!(await denoWorks())) {
  t.plan(0, "deno is not installed (npm install installs it as a dev dependency)");
} else {
  t.test("Node and Deno print the same bytes for the sample capture", async (t) => {
    const r = await both(join(root, "test", "fixtures", "sample.pcap"));
    t.ok(r.node.length > 1000, "there is output to compare");
    t.equal(r.deno, r.node);
  });

  t.test("a plugin's output file (event-log.file, through ctx.openOutput) has the same bytes on Node and Deno", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "deno-output-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const opts = { cwd: root, encoding: "utf8" as const };
    const sample = join(root, "test", "fixtures", "sample.pcap");
    const logArgs = (out: string) => ["-r", sample, "--plugins", "event-log", "-o", "event-log.events=dns,flow.end,conn", "-o", `event-log.file=${out}`];
    await run(process.execPath, [join(root, "core", "bin.js"), ...logArgs(join(dir, "node.ndjson"))], opts);
    await run(deno, ["run", "-A", join(root, "core", "cli.ts"), ...logArgs(join(dir, "deno.ndjson"))], opts);
    const node = readFileSync(join(dir, "node.ndjson"), "utf8");
    t.ok(node.split("\n").length > 10, "there is output to compare");
    t.equal(readFileSync(join(dir, "deno.ndjson"), "utf8"), node);
  });

  t.test("Deno runs a .ts plugin Node would load as CommonJS, and warns that Node would refuse it", async (t) => {
    // A folder with no package.json up to the root (test/core/cli.test.ts shows Node refusing it).
    const dir = mkdtempSync(join(tmpdir(), "deno-cjs-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "bare.ts"), `export default { name: "bare", description: "", setup(ctx) { ctx.onTeardown(() => ctx.out.line("bare ran")); } };\n`);
    const sample = join(root, "test", "fixtures", "sample.pcap");
    const r = await run(deno, ["run", "-A", join(root, "core", "cli.ts"), "-r", sample, "--plugins-dir", dir, "--plugins", "bare"], { cwd: root, encoding: "utf8" });
    t.equal(r.stdout, "bare ran\n");
    t.match(r.stderr, /^\[bare\] would not load on Node\.js: a \.ts plugin must be marked as an ES module, or Node loads it as CommonJS: .* or rename the file to \.mts\n$/);
  });

  t.test("Node and Deno print the same bytes for every zeek capture", { skip: existsSync(zeek) ? false : "../shared/captures is not here" }, async (t) => {
    const files = readdirSync(zeek).sort();
    const differ: string[] = [];
    // Two files at a time: each run is mostly process start-up.
    for (let i = 0; i < files.length; i += 2) {
      await Promise.all(
        files.slice(i, i + 2).map(async (f) => {
          const r = await both(join(zeek, f));
          if (r.node !== r.deno) differ.push(f);
        }),
      );
    }
    t.comment(`${files.length - differ.length}/${files.length} captures identical`);
    t.same(differ, []);
  });
}
