/**
 * `--stats` says where a run's CPU went: the whole process, the main thread, the reader thread and
 * each decode worker, over the span `elapsed` covers. The per-thread figures come from Linux's
 * /proc/thread-self; elsewhere only the total is known and these tests skip.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { statsJson, statsText, type RunStats } from "../../core/run-stats.ts";
import { makeCapture } from "../bench/make-capture.ts";
import { makePluginDir, runCapture, writePlugin } from "../support/host-run.ts";
import { makeTempDir } from "../support/wireshark-tools.ts";

const noThreadTimes = existsSync("/proc/thread-self/stat") ? false : "per-thread CPU times come from Linux's /proc/thread-self";

interface CpuStats {
  total: number;
  main: number;
  reader: number | null;
  decode: Record<string, number>;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

t.test("a plugin that keeps the main thread busy shows as main-thread CPU, inside the total", { skip: noThreadTimes }, async (t) => {
  const plugins = makePluginDir();
  t.teardown(plugins.remove);
  // 150 ms of CPU on the main thread at the first packet: the dispatch is where plugins run. Spun by
  // CPU time, not the clock, so that a busy machine (other tests, CI) cannot take part of it away.
  // (The process's CPU: the rest of the process is idle meanwhile, waiting for the dispatch.)
  writePlugin(
    plugins.path,
    "spinner",
    `    let spun = false;
    ctx.on("packet", () => {
      if (spun) return;
      spun = true;
      const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
      const until = cpu() + 150;
      while (cpu() < until);
    });`,
  );
  const sample = new URL("../fixtures/sample.pcap", import.meta.url).pathname;
  const r = await runCapture(sample, { plugins: ["spinner"], pluginDirs: [plugins.path], workers: 2 });
  t.equal(r.status, 0);
  const cpu = r.stats.cpu as CpuStats;
  const workers = r.stats.workers as { tasks: Record<string, number> };
  t.ok(cpu.main >= 0.12, `the main thread's CPU counts the plugin's 150 ms (${cpu.main} s)`);
  t.ok(cpu.total + 0.02 >= cpu.main + sum(Object.values(cpu.decode)), `the total (${cpu.total} s) holds the threads it is made of`);
  t.equal(Object.keys(cpu.decode).length, 2, "each of the two workers has its figure (0 for one that had no batch)");
  for (const thread of Object.keys(workers.tasks)) t.type(cpu.decode[thread], "number", `worker ${thread}, which decoded, has its figure`);
  t.equal(cpu.reader, null, "a small file is read on the main thread: no reader thread to report");
});

t.test("a file read by the reader thread reports that thread's CPU", { skip: noThreadTimes }, async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  // Above the 64 MiB from which the host reads in a thread of its own (80,000 frames of ~1 KB).
  const file = join(dir.path, "large.pcap");
  await makeCapture(file, { packets: 80_000, seed: 3 });
  t.ok(statSync(file).size > 64 << 20, "the capture is large enough for the reader thread");
  const r = await runCapture(file, { workers: 1 });
  t.equal(r.status, 0);
  t.equal(r.stats.packets, 80_000);
  const cpu = r.stats.cpu as CpuStats;
  t.type(cpu.reader, "number");
  t.ok(cpu.reader! > 0, `the reader thread's CPU is counted (${cpu.reader} s)`);
  t.ok(cpu.total + 0.02 >= cpu.main + cpu.reader! + sum(Object.values(cpu.decode)), "the total holds main, reader and decoders");
});

t.test("the text line lists the threads, with what they leave of the total as 'other'", async (t) => {
  const base: RunStats = {
    packets: 1,
    bytes: 60,
    malformed: 0,
    unsupported: 0,
    filtered: 0,
    dropped: 0,
    received: 0,
    elapsed: 1,
    maxRss: 1 << 20,
    workers: { min: 2, max: 2, peak: 2, tasks: { 2: 3, 3: 4 } },
    plugins: [],
  };
  const line = (cpu: RunStats["cpu"]) => statsText({ ...base, cpu }).find((l) => l.startsWith("cpu:"));
  t.equal(
    line({ total: 1.43, main: 0.43, reader: 0.3, decode: { 2: 0.18, 3: 0.14 } }),
    "cpu:              1.43 s: main 0.43, reader 0.30, decode 0.32 (thread 2: 0.18, thread 3: 0.14), other 0.38",
  );
  t.equal(line({ total: 0.5, main: 0.2, reader: null, decode: { 2: 0.1 } }), "cpu:              0.50 s: main 0.20, decode 0.10 (thread 2: 0.10), other 0.20");
  t.equal(line({ total: 0.5, main: Number.NaN, reader: null, decode: {} }), "cpu:              0.50 s", "without per-thread times: the total alone");
  t.equal(line(undefined), undefined, "stats taken during a run have no CPU line");
  t.same(
    statsJson({ ...base, cpu: { total: 1.43, main: 0.43, reader: 0.3, decode: { 2: 0.18, 3: 0.14 } } }).cpu,
    { total: 1.43, main: 0.43, reader: 0.3, decode: { 2: 0.18, 3: 0.14 }, other: 0.38 },
    "the JSON line has the same split, other included",
  );
});
