import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { runApp } from "../app/app-run.ts";
import { repoRoot } from "../support/host-run.ts";
import { pluginFolder, smallCapture, writePlugin } from "./plugin-fixtures.ts";
import { runHost, type RunConfig } from "../../core/run.ts";
import { builtinPluginDir } from "../../core/plugins/plugin-loader.ts";
import { groupOptionArgs } from "../../core/plugins/plugin-options.ts";

/** A plugin that counts packets and prints the count at the end: the witness that nothing was lost. */
const counter = `{
  name: "counter",
  description: "",
  setup(ctx) {
    let n = 0;
    ctx.on("packet", () => { n++; });
    ctx.onTeardown(() => ctx.out.line("counted " + n));
  },
}`;

/** A plugin folder with the counter and plugin `name`, whose definition has `members` besides its name. */
function withCounter(t: Test, name: string, members: string): string {
  const dir = pluginFolder(t);
  writePlugin(dir, "counter", counter);
  writePlugin(dir, name, `{ name: ${JSON.stringify(name)}, description: "", ${members} }`);
  return dir;
}

/** A run of `plugins` (from `dir`, then the built-in folder) on `file`: the CLI's defaults, one worker, and `settings`. */
function hostConfig(dir: string, file: string, plugins: string[], settings: Partial<RunConfig> = {}): RunConfig {
  return {
    read: file,
    filter: null,
    count: 0,
    plugins,
    pluginDirs: [dir, builtinPluginDir],
    workers: 1,
    ringBytes: 1 << 20,
    format: "text",
    stats: false,
    options: groupOptionArgs([]),
    watch: false,
    maxPluginErrors: 100,
    teardownMs: 5000,
    version: "test",
    ...settings,
  };
}

t.test("a handler that throws is logged once with the plugin's name, counted, and the others go on", async (t) => {
  const dir = withCounter(t, "thrower", `
    setup(ctx) { ctx.on("tcp", (seg) => { if (seg.dport === 80) throw new Error("boom " + seg.frame); }); },
  `);
  const file = smallCapture(dir, 5);
  const r = await runApp(file, { plugins: ["thrower", "counter"], pluginDirs: [dir], format: "text", stats: false });
  t.equal(r.status, 0);
  t.same(r.lines, ["counted 50"], "the other plugin saw every packet");
  const logged = r.errors.filter((e) => e.startsWith("[thrower]"));
  t.equal(logged.length, 1, "logged once");
  t.match(logged[0], /^\[thrower\] handler for "tcp" threw: boom \d+ \(at \/.*\/thrower\.ts:3:\d+\)$/, "with the line in the plugin's TypeScript source");
});

t.test("a plugin is disabled after --max-plugin-errors errors, with a warning, and the capture goes on", async (t) => {
  const dir = withCounter(t, "thrower", `
    setup(ctx) {
      let calls = 0;
      ctx.on("packet", () => { calls++; throw new Error("always"); });
      ctx.onTeardown(() => ctx.out.line("thrower called " + calls));
    },
  `);
  const file = smallCapture(dir, 5);
  const chunks: string[] = [];
  const errors: string[] = [];
  const status = await runHost(
    hostConfig(dir, file, ["thrower", "counter"], { format: "json", stats: true, maxPluginErrors: 7, teardownMs: 1000 }),
    { stdout: (c) => void chunks.push(c), stderr: (l) => void errors.push(l), progress: false },
  );
  t.equal(status, 0);
  t.match(chunks.join(""), /thrower called 7\n/, "no handler call after the seventh error");
  t.match(chunks.join(""), /counted 50\n/);
  t.ok(errors.some((e) => e === "[thrower] disabled after 7 errors; the other plugins go on"));
  const stats = JSON.parse(errors[errors.length - 1]) as { plugins: Array<{ name: string; errors: number; disabled: boolean }> };
  t.match(stats.plugins.find((p) => p.name === "thrower"), { errors: 7, disabled: true });
  t.match(stats.plugins.find((p) => p.name === "counter"), { errors: 0, disabled: false });
});

t.test("an async handler's rejection is treated like a throw", async (t) => {
  const dir = withCounter(t, "rejecter", `
    setup(ctx) { ctx.on("http.request", async (req) => { await Promise.resolve(); throw new Error("rejected " + req.uri); }); },
  `);
  const file = smallCapture(dir, 3);
  const r = await runApp(file, { plugins: ["rejecter", "counter"], pluginDirs: [dir], format: "text", stats: true });
  t.equal(r.status, 0);
  t.same(r.lines.filter((l) => l.startsWith("counted")), ["counted 30"]);
  t.ok(r.errors.some((e) => e.startsWith('[rejecter] handler for "http.request" threw: rejected /0 (at ')), r.errors.join("\n"));
  t.ok(r.errors.some((l) => /^plugin rejecter: \d+ calls, [\d.]+ ms in handlers, 3 errors$/.test(l)), "all three rejections are counted");
});

t.test("a teardown that hangs is abandoned after its time limit and the run still ends", async (t) => {
  const dir = withCounter(t, "hanger", `
    setup(ctx) { ctx.onTeardown(() => new Promise(() => {})); },
  `);
  const file = smallCapture(dir, 2);
  const chunks: string[] = [];
  const errors: string[] = [];
  const started = Date.now();
  const status = await runHost(
    hostConfig(dir, file, ["hanger", "counter"], { teardownMs: 300 }),
    { stdout: (c) => void chunks.push(c), stderr: (l) => void errors.push(l), progress: false },
  );
  t.equal(status, 0);
  t.ok(errors.includes("[hanger] teardown did not finish within 300 ms and was abandoned"), errors.join("\n"));
  t.equal(chunks.join(""), "counted 20\n", "the other plugin's teardown ran");
  t.ok(Date.now() - started < 30_000, "the run did not wait for the hanging teardown");
});

t.test("a setup that never finishes fails the run with the plugin's name after its time limit", async (t) => {
  const dir = pluginFolder(t);
  writePlugin(dir, "stuck", `{
    name: "stuck",
    description: "",
    async setup(ctx) { await new Promise(() => {}); },
  }`);
  const file = smallCapture(dir, 2);
  const run = runHost(hostConfig(dir, file, ["stuck"], { setupMs: 200 }), { stdout: () => {}, stderr: () => {}, progress: false });
  await t.rejects(run, { message: /^Plugin stuck failed to start: setup did not finish within 0\.2 s/ });
});

t.test("what a setup abandoned at its time limit does later is refused: no timer runs, no socket stays open", async (t) => {
  const dir = pluginFolder(t);
  writePlugin(dir, "late", `{
    name: "late",
    description: "",
    async setup(ctx) {
      await new Promise((r) => setTimeout(r, 300));
      ctx.setInterval(() => { globalThis.lateTicks = (globalThis.lateTicks ?? 0) + 1; }, 5);
      try {
        await ctx.listen({ host: "127.0.0.1", port: 0 }, () => {});
        globalThis.lateListen = "listening";
      } catch (err) {
        globalThis.lateListen = err.message;
      }
    },
  }`);
  const file = smallCapture(dir, 1);
  const run = runHost(hostConfig(dir, file, ["late"], { setupMs: 100 }), { stdout: () => {}, stderr: () => {}, progress: false });
  await t.rejects(run, { message: /^Plugin late failed to start: setup did not finish within 0\.1 s/ });
  await new Promise((r) => setTimeout(r, 600));
  const g = globalThis as { lateTicks?: number; lateListen?: string };
  t.equal(g.lateTicks, undefined, "the interval set after the time limit never ran");
  t.equal(g.lateListen, "Plugin late is stopped", "the socket opened after the time limit was closed and refused");
});

t.test("a rejected holdStart promise is reported and the capture starts anyway", async (t) => {
  const dir = withCounter(t, "holder", `
    setup(ctx) { ctx.holdStart(Promise.reject(new Error("no database"))); },
  `);
  const file = smallCapture(dir, 2);
  const r = await runApp(file, { plugins: ["holder", "counter"], pluginDirs: [dir], format: "text" });
  t.equal(r.status, 0);
  t.same(r.lines, ["counted 20"]);
  t.same(r.errors, ["[holder] the promise given to holdStart was rejected (no database); the capture starts anyway"]);
});

t.test("time spent in each plugin's handlers is measured and listed", async (t) => {
  const dir = pluginFolder(t);
  writePlugin(dir, "slow", `{
    name: "slow",
    description: "",
    setup(ctx) { ctx.on("http.request", () => { const end = performance.now() + 20; while (performance.now() < end) {} }); },
  }`);
  writePlugin(dir, "counter", counter);
  const file = smallCapture(dir, 3);
  const r = await runApp(file, { plugins: ["slow", "counter"], pluginDirs: [dir], format: "json", stats: true });
  const plugins = (r.stats as { plugins: Array<{ name: string; ms: number; calls: number }> }).plugins;
  const slow = plugins.find((p) => p.name === "slow")!;
  t.equal(slow.calls, 3);
  t.ok(slow.ms >= 55, `three 20 ms requests show up as at least 55 ms: ${slow.ms}`);
  t.ok(plugins.find((p) => p.name === "counter")!.ms < slow.ms, "the fast plugin costs less");
});

t.test("past its first calls a handler is timed one call in 16, and the estimate counts every call", async (t) => {
  const dir = pluginFolder(t);
  // 1 ms per call, except calls 257 to 271, which take 50 ms and are the ones not timed: counting
  // them (timing every call) would show about 1300 ms; sampling shows the 1 ms call 272 for all 16.
  writePlugin(dir, "steady", `{
    name: "steady",
    description: "",
    setup(ctx) {
      let n = 0;
      ctx.on("http.request", () => { n++; const end = performance.now() + (n > 256 && n < 272 ? 50 : 1); while (performance.now() < end) {} });
    },
  }`);
  const file = smallCapture(dir, 600);
  const r = await runApp(file, { plugins: ["steady"], pluginDirs: [dir], format: "json", stats: true });
  const steady = (r.stats as { plugins: Array<{ name: string; ms: number; calls: number }> }).plugins.find((p) => p.name === "steady")!;
  t.equal(steady.calls, 600);
  // 256 calls timed each, then 21 timed for 16 each (336 calls): about 592 ms.
  t.ok(steady.ms >= 500 && steady.ms < 1000, `600 calls of 1 ms (and 15 untimed ones of 50 ms) show up as ${steady.ms} ms`);
});

t.test("whatever a handler throws (an object without a prototype, a non-error) is its error: logged, and the run goes on", async (t) => {
  const dir = withCounter(t, "odd", `
    setup(ctx) { ctx.on("packet", (p) => { if (p.frame === 2) throw Object.create(null); if (p.frame === 3) throw 42; }); },
  `);
  const file = smallCapture(dir, 5);
  const r = await runApp(file, { plugins: ["odd", "counter"], pluginDirs: [dir], format: "json", stats: true });
  t.equal(r.status, 0);
  t.same(r.lines, ["counted 50"], "the other plugin saw every packet");
  t.same(r.errors, ['[odd] handler for "packet" threw: [object Object]'], "the first error, in words that could be made of it");
  t.match((r.stats as { plugins: unknown[] }).plugins, [{ name: "odd", errors: 2 }]);
});

t.test("a plugin file that cannot be loaded is named, with where its error is when Node does not say", async (t) => {
  const dir = pluginFolder(t);
  const file = smallCapture(dir, 1);
  const broken = join(dir, "broken.js");
  writeFileSync(broken, `export default {\n  name: "broken",\n  setup(ctx) { ctx.on("packet", () => { ) }\n};\n`);
  await t.rejects(runApp(file, { plugins: ["broken"], pluginDirs: [dir] }), {
    message: `Plugin file ${broken} cannot be loaded: Unexpected token ')' at ${broken}:3:41`,
  });
  // Columns count characters, as editors do (esbuild counts UTF-8 bytes).
  const accented = join(dir, "accented.js");
  writeFileSync(accented, `export default {\n  name: "accented",\n  setup() { const s = "ééé€"; let x = ; },\n};\n`);
  await t.rejects(runApp(file, { plugins: ["accented"], pluginDirs: [dir] }), { message: `Plugin file ${accented} cannot be loaded: Unexpected token ';' at ${accented}:3:39` });
  // Also when the error is in a module the plugin imports.
  writeFileSync(join(dir, "helper.mjs"), `export const x = 1;\nexport const y = ;\n`);
  writeFileSync(join(dir, "importer.js"), `import { x } from "./helper.mjs";\nexport default { name: "importer", setup() {} };\n`);
  await t.rejects(runApp(file, { plugins: ["importer"], pluginDirs: [dir] }), {
    message: `Plugin file ${join(dir, "importer.js")} cannot be loaded: Unexpected token ';' at ${join(dir, "helper.mjs")}:2:18`,
  });
  // TypeScript's compiler names the line itself.
  writeFileSync(join(dir, "broken2.ts"), `export default {\n  name: "broken2",\n  setup(ctx) { ctx.on("packet", () => { ) }\n};\n`);
  await t.rejects(runApp(file, { plugins: ["broken2"], pluginDirs: [dir] }), { message: /^Plugin file .*broken2\.ts cannot be loaded: .*broken2\.ts:3:\d+: ERROR/ });
  // A module that throws while it loads.
  writeFileSync(join(dir, "thrower.js"), `throw new Error("no config file");\nexport default { name: "thrower", setup() {} };\n`);
  await t.rejects(runApp(file, { plugins: ["thrower"], pluginDirs: [dir] }), { message: /^Plugin file .*thrower\.js cannot be loaded: no config file$/ });
});

t.test("a promise a plugin drops and a throw in its own timer are its errors: the run and the others go on", async (t) => {
  const dir = withCounter(
    t,
    "stray",
    `setup(ctx) {
      let n = 0;
      ctx.on("packet", () => {
        if (++n === 5) void Promise.reject(new Error("dropped promise"));
        if (n === 6) globalThis.setTimeout(() => { throw new Error("own timer"); }, 0);
      });
    },`,
  );
  const file = smallCapture(dir);
  const r = spawnSync(process.execPath, [join(repoRoot, "core/bin.js"), "-r", file, "--plugins-dir", dir, "--plugins", "stray,counter", "--stats"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  t.equal(r.status, 0, "the run ends normally");
  t.match(r.stdout, /^counted \d+$/m, "the other plugin's teardown output is there");
  t.match(r.stderr, /^\[stray\] a promise it did not await threw: dropped promise \(at .*stray\.ts:\d+:\d+\)$/m, "charged to the plugin that dropped it");
  t.match(r.stderr, /^plugin stray: \d+ calls, [\d.]+ ms in handlers, 2 errors$/m, "both count as its errors");
  t.notMatch(r.stderr, /internal error|Unhandled|node:internal/);
});

/** Runs `plugins` from `dir` on `file` in this process; stdout and stderr as strings, and the status (or the error thrown). */
async function runIn(dir: string, file: string, plugins: string[], settings: Partial<RunConfig> = {}) {
  const chunks: string[] = [];
  const errors: string[] = [];
  let status: number | Error;
  try {
    status = await runHost(hostConfig(dir, file, plugins, settings), { stdout: (c) => void chunks.push(c), stderr: (l) => void errors.push(l), progress: false });
  } catch (err) {
    status = err as Error;
  }
  return { status, stdout: chunks.join(""), stderr: errors.join("\n") };
}

t.test("when a plugin fails to start, the ones started before it still run their teardown", async (t) => {
  const dir = withCounter(t, "failer", `setup() { throw new Error("no"); },`);
  const r = await runIn(dir, smallCapture(dir, 1), ["counter", "failer"]);
  t.match(r.status, { message: /^Plugin failer failed to start: no \(at .*failer\.ts:2:\d+\)$/ });
  t.equal(r.stdout, "counted 0\n", "the counter's teardown ran and its line was written");
});

t.test("openOutput refuses the capture being read or written, and appends to a file already opened in the run", async (t) => {
  const dir = withCounter(
    t,
    "writer",
    `options: { file: { type: "string", default: "", description: "" } },
    async setup(ctx) {
      try {
        const w = await ctx.openOutput(ctx.options.file);
        w.line("first");
        const again = await ctx.openOutput(ctx.options.file);
        again.line("second");
      } catch (err) {
        ctx.out.line(String(err.message));
      }
    },`,
  );
  const file = smallCapture(dir, 1);
  const before = readFileSync(file);
  const read = await runIn(dir, file, ["writer"], { options: groupOptionArgs([`writer.file=${file}`]) });
  t.equal(read.stdout, `Cannot open ${file} for writing: it is the capture being read (-r); choose another file\n`);
  t.same(readFileSync(file), before, "the capture is untouched");
  const written = join(dir, "out.pcap");
  const w = await runIn(dir, file, ["writer"], { write: written, options: groupOptionArgs([`writer.file=${written}`]) });
  t.match(w.stdout, /it is the capture being written \(-w\)/);
  const out = join(dir, "out.txt");
  await runIn(dir, file, ["writer"], { options: groupOptionArgs([`writer.file=${out}`]) });
  t.equal(readFileSync(out, "utf8"), "first\nsecond\n", "the second open in the run appends");
});

t.test("an option whose default is not of its type is refused when the plugin loads", async (t) => {
  const dir = withCounter(t, "typo", `options: { top: { type: "number", default: "10", description: "" } }, setup() {},`);
  const r = await runIn(dir, smallCapture(dir, 1), ["typo"]);
  t.match(r.status, { message: /option "top" is a number but its default is "10": give a default of that type$/ });
});

t.test("a JavaScript plugin listening to an event the host never emits is warned, with the likely name", async (t) => {
  const dir = withCounter(t, "typos", `setup(ctx) { ctx.on("dsn", () => {}); ctx.on("http.requests", () => {}); ctx.on("zzzz", () => {}); ctx.on("other.thing", () => {}); },`);
  const r = await runIn(dir, smallCapture(dir, 1), ["typos"]);
  t.equal(r.status, 0);
  t.same(r.stderr.split("\n"), [
    '[typos] listens to "dsn", which the host never emits (did you mean "dns"?)',
    '[typos] listens to "http.requests", which the host never emits (did you mean "http.request"?)',
    '[typos] listens to "zzzz", which the host never emits: see the event list in the README',
  ], "a plugin event (other.thing) is not warned about");
});

t.test("a plugin importing a runtime's built-in modules is warned, with where, and still runs", async (t) => {
  const dir = pluginFolder(t);
  writePlugin(dir, "counter", counter);
  const withImports = (name: string, imports: string) =>
    `${imports}\n${readFileSync(writePlugin(dir, name, `{ name: ${JSON.stringify(name)}, description: "", setup(ctx) { ctx.on("packet", () => {}); ctx.onTeardown(() => ctx.out.line("${name} ran")); } }`), "utf8")}`;
  writeFileSync(join(dir, "nodey.ts"), withImports("nodey", 'import { EOL } from "node:os";\nimport "fs";'));
  // A folder plugin: its other modules count as its own.
  mkdirSync(join(dir, "foldered"));
  writeFileSync(join(dir, "foldered", "helper.ts"), '// import x from "node:fs" is not an import\nexport { setTimeout as later } from "node:timers";\n');
  writeFileSync(join(dir, "foldered", "index.ts"), withImports("foldered", 'import { later } from "./helper.ts";').replaceAll('"../', '"../../'));
  rmSync(join(dir, "foldered.ts")); // written by withImports: a file would win over the folder
  const r = await runIn(dir, smallCapture(dir, 1), ["nodey", "foldered", "counter"]);
  t.equal(r.status, 0);
  t.equal(r.stdout, "nodey ran\nfoldered ran\ncounted 10\n");
  const advice = ": a plugin should use web-standard APIs and what ctx hands it (ctx.openOutput for files, ctx.listen for a TCP server), so that the same file runs on Node.js, Deno and edge runtimes";
  t.same(r.stderr.split("\n"), [
    `[nodey] imports node:os (at ${join(dir, "nodey.ts")}:1), fs (at ${join(dir, "nodey.ts")}:2)${advice} (Deno wants the node: prefix); it is loaded anyway`,
    `[foldered] imports node:timers (at ${join(dir, "foldered", "helper.ts")}:2)${advice}; it is loaded anyway`,
  ]);
  t.equal((await runIn(dir, smallCapture(dir, 1), ["counter"])).stderr, "", "a plugin without them is not warned about");
});

t.test("a plugin module whose top-level await never settles fails to load after the time limit, naming it", async (t) => {
  const dir = pluginFolder(t);
  writeFileSync(join(dir, "stuck.mjs"), "await new Promise(() => {});\nexport default { name: 'stuck', description: '', setup() {} };\n");
  const r = await runIn(dir, smallCapture(dir, 1), ["stuck"], { setupMs: 300 });
  t.match(r.status, { message: /^Plugin file .*stuck\.mjs cannot be loaded: its module did not finish loading within 0\.3 s: a top-level await waits for something that does not come/ });
});

/**
 * The CLI in a child process with plugin `name` from `dir`, once that plugin has logged "ready" (a
 * plugin that holds the start forever: the run waits for a signal). Without the test runner's
 * NODE_OPTIONS, which it puts back into every child's environment: its preloaded module listens to
 * signals in the child too. (`env -u`, then exec: the pid stays node's.)
 */
async function readyHost(dir: string, name: string) {
  const args = [process.execPath, join(repoRoot, "core/bin.js"), "-r", smallCapture(dir, 1), "--plugins-dir", dir, "--plugins", name];
  const child = spawn("/bin/sh", ["-c", 'exec env -u NODE_OPTIONS "$@"', "sh", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8");
  await new Promise<void>((resolve) => child.stderr.on("data", (c: string) => ((stderr += c), stderr.includes("ready") && resolve())));
  return { child, stdout: () => stdout };
}

t.test("a second ^C ends the process at once, even while a plugin's teardown blocks the main thread", { skip: process.platform === "win32" ? "POSIX signals" : false }, async (t) => {
  const dir = pluginFolder(t);
  writePlugin(
    dir,
    "spinner",
    `{ name: "spinner", description: "", setup(ctx) {
      ctx.holdStart(new Promise(() => {}));
      ctx.onTeardown(() => { const end = Date.now() + 20_000; while (Date.now() < end); });
      ctx.log.info("ready");
    } }`,
  );
  const started = Date.now();
  const { child } = await readyHost(dir, "spinner");
  child.kill("SIGINT");
  await new Promise((r) => setTimeout(r, 500)); // the teardown is spinning by now
  child.kill("SIGINT");
  const [code, signal] = (await once(child, "exit")) as [number | null, string | null];
  t.equal(signal, "SIGINT", `ended by the signal (status ${code})`);
  t.ok(Date.now() - started < 15_000, "long before the teardown's 20 s loop could end");
});

t.test("one stop signal delivered twice at once (GNU timeout signals the command and its group) still ends the run cleanly", { skip: process.platform === "win32" ? "POSIX signals" : false }, async (t) => {
  const dir = pluginFolder(t);
  writePlugin(
    dir,
    "waiter",
    `{ name: "waiter", description: "", setup(ctx) {
      ctx.holdStart(new Promise(() => {}));
      ctx.onTeardown(() => ctx.out.line("torn down"));
      ctx.log.info("ready");
    } }`,
  );
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    const { child, stdout } = await readyHost(dir, "waiter");
    // Sent back to back, the kernel merges the two; timeout's second comes once the host has taken
    // the first (the host is idle here: within a few milliseconds).
    child.kill(signal);
    await new Promise((r) => setTimeout(r, 15));
    child.kill(signal);
    const [code] = (await once(child, "exit")) as [number | null, string | null];
    t.equal(code, 0, `${signal} twice: a clean end`);
    t.equal(stdout(), "torn down\n", `${signal} twice: the teardown ran and its output was written`);
  }
});

t.test("a stray error in a folder plugin's other module, under a path with a space, is still that plugin's", async (t) => {
  const dir = join(pluginFolder(t), "my plugins");
  mkdirSync(join(dir, "multi"), { recursive: true });
  writeFileSync(join(dir, "multi", "helper.mjs"), "export function later() {\n  setTimeout(() => {\n    throw new Error('late boom');\n  }, 0);\n}\n");
  writeFileSync(
    join(dir, "multi", "index.mjs"),
    "import { later } from './helper.mjs';\nexport default { name: 'multi', description: '', setup(ctx) { let n = 0; ctx.on('packet', () => { if (++n === 3) later(); }); } };\n",
  );
  const r = spawnSync(process.execPath, [join(repoRoot, "core/bin.js"), "-r", smallCapture(pluginFolder(t)), "--plugins-dir", dir, "--plugins", "multi"], { encoding: "utf8", timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /^\[multi\] a callback of its own threw: late boom \(at .*my plugins\/multi\/helper\.mjs:3:11\)$/m);
});

t.test("two plugins writing one output file both keep all their lines", async (t) => {
  const dir = pluginFolder(t);
  const out = join(dir, "shared.txt");
  const writer = (name: string) =>
    writePlugin(
      dir,
      name,
      `{ name: "${name}", description: "", async setup(ctx) {
        const w = await ctx.openOutput(${JSON.stringify(out)});
        ctx.on("packet", (p) => { for (let i = 0; i < 20; i++) w.line("${name} " + p.frame + " " + "x".repeat(300)); });
      } }`,
    );
  writer("wa");
  writer("wb");
  const r = await runIn(dir, smallCapture(dir), ["wa", "wb"]);
  t.equal(r.status, 0);
  const lines = readFileSync(out, "utf8").split("\n").filter((l) => l !== "");
  const count = (name: string) => lines.filter((l) => l.startsWith(`${name} `) && l.length === name.length + 1 + String(l.split(" ")[1]).length + 301).length;
  t.ok(count("wa") > 1000, `${count("wa")} lines of wa`);
  t.equal(count("wa"), count("wb"), "as many whole lines of each: neither overwrote the other");
  t.equal(lines.length, count("wa") + count("wb"), "and nothing else (no line cut by another)");
});

t.test("a mistyped -o for a later plugin ends the run before any plugin starts or prints", async (t) => {
  const dir = withCounter(t, "later", `options: { top: { type: "number", default: 10, description: "" } }, setup() {},`);
  const r = await runIn(dir, smallCapture(dir, 1), ["counter", "later"], { options: groupOptionArgs(["later.top=ten"]) });
  t.match(r.status, { name: "UsageError", message: /-o later\.top: expected a number, got "ten"/ });
  t.equal(r.stdout, "", "the counter never started, so it printed no report");
});

t.test("a handler that never returns is reported after 10 s by another thread, with the plugin's name and how to end the host", { skip: process.platform === "win32" ? "POSIX signals" : false }, async (t) => {
  const dir = pluginFolder(t);
  writePlugin(dir, "looper", `{ name: "looper", description: "", setup(ctx) { let n = 0; ctx.on("packet", () => { if (++n === 3) { ctx.log.info("looping"); for (;;); } }); } }`);
  const args = [process.execPath, join(repoRoot, "core/bin.js"), "-r", smallCapture(dir, 1), "--plugins-dir", dir, "--plugins", "looper"];
  const child = spawn("/bin/sh", ["-c", 'exec env -u NODE_OPTIONS "$@"', "sh", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  t.teardown(() => child.kill("SIGKILL"));
  let stderr = "";
  let loopedAt = 0;
  const reported = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 30_000);
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
      // The plugin's own line comes through the main thread's stderr, written before it loops.
      if (loopedAt === 0 && stderr.includes("[looper] looping\n")) loopedAt = Date.now();
      if (stderr.includes("host: plugin")) (clearTimeout(timer), resolve(true));
    });
    child.on("exit", () => (clearTimeout(timer), resolve(false)));
  });
  t.ok(reported, "a line on stderr while the handler runs");
  t.equal(
    stderr.replace("[looper] looping\n", ""),
    `host: plugin looper: a handler has not returned for 10 s (an endless loop?); nothing is dispatched meanwhile and ^C cannot stop the host: end it with kill -KILL ${child.pid}\n`,
  );
  t.ok(loopedAt > 0 && Date.now() - loopedAt >= 9_000, "not before about 10 s of the loop (its own line may come late)");
  t.equal(child.exitCode, null, "the host is still running: nothing stopped the loop");
});

t.test("a setup or teardown that rejects with an object without a prototype is reported in words, not a crash", async (t) => {
  const dir = withCounter(t, "oddend", `setup(ctx) { ctx.onTeardown(() => Promise.reject(Object.create(null))); },`);
  const file = smallCapture(dir, 2);
  const r = await runApp(file, { plugins: ["oddend", "counter"], pluginDirs: [dir], format: "text", stats: false });
  t.equal(r.status, 0, "the run ends normally");
  t.same(r.lines, ["counted 20"], "the other plugin's teardown ran");
  t.same(r.errors, ["[oddend] teardown failed: [object Object]"]);
  writePlugin(dir, "oddstart", `{ name: "oddstart", description: "", setup() { return Promise.reject(Object.create(null)); } }`);
  await t.rejects(runApp(file, { plugins: ["oddstart"], pluginDirs: [dir] }), { message: "Plugin oddstart failed to start: [object Object]" });
});
