/**
 * `npm run bench`: end-to-end throughput and peak memory of `host -r`, measured on captures made by
 * the project's own generator (test/bench/make-capture.ts) and, when `../shared` is there, on real
 * traffic looped by `../shared/bench/make-bench-capture` (see CaptureKind); never with a timed test.
 *
 * Each scenario runs the real CLI as a child process with `--stats` and reads the rate (frames read /
 * capture time, the pool warmed up first), the peak RSS and the CPU split by thread from its stats.
 * Every scenario runs `--repeat` times (default 3); the table shows the median and the best run, since
 * on a shared machine other work only ever slows a run down.
 *
 *   npm run bench                       # all scenarios on 1M-packet captures (+ 2M and 5M ones, see CaptureKind)
 *   npm run bench -- --packets 2000000 --repeat 5 --only tcp
 *   npm run bench -- --only socket      # socket-server with 0, 1, 10 and 100 clients
 *   npm run bench -- --format json      # the plugins write JSON lines instead of text
 *
 * The socket-server scenarios connect their clients from this process (cheap: it only reads and
 * discards), once the plugin prints its port; `wait=N` holds the capture until all N have subscribed
 * to `flow.end`, so every run streams the same events to every client. flow-counter is loaded in each
 * of them, so that the flow table runs with 0 clients too and the rates differ by the streaming alone.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { makeCapture } from "./make-capture.ts";
import { settledRate } from "./settled-rate.ts";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const outDir = join(here, "out");
const hostBin = join(root, "core", "bin.js");
const benchPlugins = join(here, "plugins");

/**
 * The captures a scenario runs on: the project's synthetic one (bulk TCP, HTTP with bodies, DNS; 1 KB
 * frames on average), the same twice as long (memory must not grow with the file), and a mix of real
 * traffic that `../shared/bench/make-bench-capture` builds from the zeek captures (HTTP-heavy: one
 * HTTP message per 13 frames; 500-byte frames), when `../shared` is there. The plugin scenarios also
 * run on captures five times as long: V8 compiles the hot code while the first ones run (about
 * 0.3 s of CPU, a third of a 1M-packet run with http-printer), so those show the rate a longer
 * capture settles at.
 */
type CaptureKind = "synthetic" | "synthetic-2x" | "synthetic-5x" | "zeek-mix" | "zeek-mix-5x";

/** Packets of a capture of `kind` when the base count is `packets`. */
function captureLength(kind: CaptureKind, packets: number): number {
  return kind.endsWith("-5x") ? packets * 5 : kind.endsWith("-2x") ? packets * 2 : packets;
}

interface Scenario {
  name: string;
  args: string[];
  /** Captures to run on (default: the synthetic one). */
  on?: CaptureKind[];
  /** socket-server scenarios: clients that connect, subscribe to `flow.end` and read everything. */
  clients?: number;
}

/** "socket-server, 0 clients", "socket-server, 1 client", ... */
const socketScenarioName = (n: number) => `socket-server, ${n} client${n === 1 ? "" : "s"}`;

/** `socket-server, N clients`: N readers of `flow.end`, all connected before the capture starts. */
const socketScenario = (n: number): Scenario => ({
  name: socketScenarioName(n),
  args: [
    "--plugins",
    "socket-server,flow-counter",
    "--workers",
    "1",
    ...["port=0", `max-clients=${Math.max(64, n)}`, ...(n > 0 ? [`wait=${n}`] : [])].flatMap((o) => ["-o", `socket-server.${o}`]),
  ],
  clients: n,
});

const all: CaptureKind[] = ["synthetic", "synthetic-2x", "zeek-mix"];
const plugins: CaptureKind[] = ["synthetic", "synthetic-5x", "zeek-mix", "zeek-mix-5x"];
const scenarios: Scenario[] = [
  { name: "tcp-count, 1 worker", args: ["--plugins-dir", benchPlugins, "--plugins", "tcp-count", "--workers", "1"], on: all },
  { name: "tcp-count, 2 workers", args: ["--plugins-dir", benchPlugins, "--plugins", "tcp-count", "--workers", "2"], on: all },
  { name: "flow-counter, 2 workers", args: ["--plugins", "flow-counter", "--workers", "2"], on: plugins },
  { name: "http-printer, 2 workers", args: ["--plugins", "http-printer", "--workers", "2"], on: plugins },
  { name: "tcp-count, no filter", args: ["--plugins-dir", benchPlugins, "--plugins", "tcp-count", "--workers", "1"] },
  { name: "tcp-count, -f 'tcp port 80'", args: ["--plugins-dir", benchPlugins, "--plugins", "tcp-count", "--workers", "1", "-f", "tcp port 80"] },
  ...[0, 1, 10, 100].map(socketScenario),
];

interface Result {
  pps: number;
  rss: number;
  packets: number;
  /** CPU seconds of the run (--stats `cpu`), and the cores they kept busy on average (total / elapsed). */
  cpu: RunCpuSplit | null;
  cores: number;
  /** socket-server scenarios: lines each client read (the least of them), and events dropped for them in all. */
  clientLines?: number;
  clientDropped?: number;
}

/** What one socket client read. */
interface ClientTally {
  lines: number;
  /** The last line it read (the stats line, with `dropped_for_you`). */
  last: string;
}

/**
 * Connects `n` clients to the socket server on 127.0.0.1:`port`; each subscribes to `flow.end` and
 * reads until the server closes, counting lines and keeping only the last one. Resolves when all
 * have been closed.
 */
function socketClients(port: number, n: number): Promise<ClientTally[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ClientTally>((resolve, reject) => {
          const socket = connect(port, "127.0.0.1", () => socket.write("SUB flow.end\n"));
          const tally: ClientTally = { lines: 0, last: "" };
          let tail = "";
          socket.on("data", (chunk: Buffer) => {
            let i = -1;
            let end = -1;
            while ((i = chunk.indexOf(10, i + 1)) >= 0) {
              tally.lines++;
              end = i;
            }
            // Only the last complete line is kept: it is the stats line once the server closes.
            if (end >= 0) {
              const prev = end > 0 ? chunk.lastIndexOf(10, end - 1) : -1;
              tally.last = (prev < 0 ? tail : "") + chunk.toString("utf8", prev + 1, end);
              tail = chunk.toString("utf8", end + 1);
            } else {
              tail += chunk.toString("utf8");
            }
          });
          socket.on("error", reject);
          socket.on("close", () => resolve(tally));
        }),
    ),
  );
}

/** CPU seconds by thread, as `--stats` reports them; `other` is V8's compiler and GC threads and libuv's. */
interface RunCpuSplit {
  total: number;
  main: number;
  reader: number;
  decode: number;
  other: number;
}

/** The part of the host's `--stats` this benchmark reads. */
interface HostStats {
  elapsed: number;
  max_rss: number;
  packets: number;
  filtered: number;
  cpu: RunCpuSplit | null;
}

/** The JSON `cpu` object of `--stats` as a split (null where the host could not tell threads apart). */
function jsonCpu(cpu: { total: number; main: number | null; reader: number | null; decode: Record<string, number> } | undefined): RunCpuSplit | null {
  if (cpu === undefined || cpu.main === null) return null;
  const decode = Object.values(cpu.decode).reduce((a, b) => a + b, 0);
  const reader = cpu.reader ?? 0;
  return { total: cpu.total, main: cpu.main, reader, decode, other: Math.max(0, cpu.total - cpu.main - reader - decode) };
}

/** The text `cpu:` line: "1.43 s: main 0.43, reader 0.30, decode 0.32 (thread 2: 0.18, ...), other 0.38". */
function textCpu(stderr: string): RunCpuSplit | null {
  const line = /^cpu:\s+([\d.]+) s: main ([\d.]+)(?:, reader ([\d.]+))?, decode ([\d.]+) .*, other ([\d.]+)$/m.exec(stderr);
  if (line === null) return null;
  const [total, main, reader, decode, other] = line.slice(1).map((x) => Number(x ?? 0));
  return { total, main, reader, decode, other };
}

/** Reads the text form of `--stats` ("packets:          181331", "elapsed:          0.408 s", "peak RSS: 192.0 MiB"). */
function textStats(stderr: string): HostStats {
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+([\\d.]+)`, "m").exec(stderr);
    if (m === null) throw new Error(`no "${name}:" line in the host's --stats:\n${stderr}`);
    return Number(m[1]);
  };
  return {
    elapsed: field("elapsed"),
    max_rss: field("peak RSS") * 1048576,
    packets: field("packets"),
    filtered: field("filtered out"),
    cpu: textCpu(stderr),
  };
}

/** The JSON form of `--stats` (the last stderr line with --format json). */
function jsonStats(s: Omit<HostStats, "cpu"> & { cpu?: Parameters<typeof jsonCpu>[0] }): HostStats {
  return { elapsed: s.elapsed, max_rss: s.max_rss, packets: s.packets, filtered: s.filtered, cpu: jsonCpu(s.cpu) };
}

/** Plugins' output format for every run (`--format`): the default text, or json. */
let format: "text" | "json" = "text";

/** Runs the host once; stdout goes to /dev/null (the printers' output is part of the cost, not of the report). */
function runHost(file: string, args: string[], clients = 0): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [hostBin, "-r", file, "--stats", "--format", format, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    let tallies: Promise<ClientTally[]> | null = null;
    child.stderr.on("data", (b: Buffer) => {
      err += b.toString();
      if (clients === 0 || tallies !== null) return;
      const m = /\[socket-server\] listening on [^\n]*:(\d+)\n/.exec(err);
      if (m !== null) tallies = socketClients(Number(m[1]), clients);
    });
    child.on("close", (status) => {
      if (status !== 0) return reject(new Error(`host exited with ${status}: ${err.trim()}`));
      const stats = format === "json" ? jsonStats(JSON.parse(err.trim().split("\n").pop() ?? "")) : textStats(err);
      // Frames read per second, whether the filter kept them or not: with -f, the rate compares
      // with the run without a filter over the same capture.
      const frames = stats.packets + stats.filtered;
      const result: Result = {
        pps: Math.round(frames / stats.elapsed),
        rss: stats.max_rss,
        packets: frames,
        cpu: stats.cpu,
        cores: stats.cpu === null ? 0 : stats.cpu.total / stats.elapsed,
      };
      if (clients === 0) return resolve(result);
      if (tallies === null) return reject(new Error(`host ended without listening: ${err.trim()}`));
      tallies.then((read) => {
        result.clientLines = Math.min(...read.map((c) => c.lines));
        result.clientDropped = read.reduce((sum, c) => sum + ((JSON.parse(c.last) as { dropped_for_you?: number }).dropped_for_you ?? 0), 0);
        resolve(result);
      }, reject);
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const fmtRate = (n: number) => `${(n / 1e6).toFixed(2)}M`;
const fmtMiB = (n: number) => `${(n / 1048576).toFixed(0)} MiB`;
/** "0.43 0.27 0.35 0.38 = 1.42 (1.77)": where the CPU of a run went, and how many cores it kept busy. */
const fmtCpu = (r: Result) => {
  if (r.cpu === null) return "";
  const c = r.cpu;
  return `${[c.main, c.reader, c.decode, c.other].map((x) => x.toFixed(2)).join(" ")} = ${c.total.toFixed(2)} (${r.cores.toFixed(2)})`;
};

const sharedMaker = join(root, "..", "shared", "bench", "make-bench-capture");

/**
 * Reads `file` once, so that runs measure the host and not the disk: several GB of captures do not
 * always stay in the page cache from one scenario to the next.
 */
function warmPageCache(file: string): void {
  const fd = openSync(file, "r");
  const chunk = Buffer.allocUnsafe(8 << 20);
  try {
    while (readSync(fd, chunk, 0, chunk.length, null) > 0);
  } finally {
    closeSync(fd);
  }
}

/** The capture file of `kind` for `packets` packets, made on first use; null when it cannot be made here. */
async function capture(kind: CaptureKind, packets: number): Promise<string | null> {
  const n = captureLength(kind, packets);
  const real = kind.startsWith("zeek-mix");
  const file = join(outDir, `${real ? "zeek-mix" : "synthetic"}-${n}.pcap`);
  if (existsSync(file)) return file;
  process.stdout.write(`generating ${file} ... `);
  if (!real) {
    const summary = await makeCapture(file, { packets: n, seed: 1 });
    process.stdout.write(`${summary.packets} packets, ${(summary.bytes / 1e6).toFixed(0)} MB\n`);
    return file;
  }
  if (!existsSync(sharedMaker)) {
    process.stdout.write(`skipped: ${sharedMaker} is not there\n`);
    return null;
  }
  const made = spawnSync("python3", [sharedMaker, file, "--packets", String(n)], { encoding: "utf8" });
  if (made.status !== 0) {
    process.stdout.write(`skipped: make-bench-capture failed: ${(made.stderr || made.stdout).trim()}\n`);
    return null;
  }
  process.stdout.write(`${made.stdout.trim()}\n`);
  return file;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      packets: { type: "string", default: "1000000" },
      repeat: { type: "string", default: "3" },
      only: { type: "string" },
      format: { type: "string", default: "text" },
    },
  });
  if (values.format !== "text" && values.format !== "json") throw new Error(`--format must be text or json, not ${values.format}`);
  format = values.format;
  const packets = Number(values.packets);
  const repeat = Number(values.repeat);
  mkdirSync(outDir, { recursive: true });
  const chosen = scenarios.filter((sc) => values.only === undefined || sc.name.includes(values.only));
  const wanted = new Set<CaptureKind>(chosen.flatMap((sc): CaptureKind[] => sc.on ?? ["synthetic"]));
  const files = new Map<CaptureKind, string>();
  for (const kind of wanted) {
    const file = await capture(kind, packets);
    if (file !== null) files.set(kind, file);
  }
  const rows: Array<Record<string, unknown>> = [];
  console.log(
    `\n${"scenario".padEnd(34)} ${"capture".padEnd(10)} ${"median".padStart(8)} ${"best".padStart(8)} ${"peak RSS".padStart(9)}  ${"CPU s of the median run: main reader decode other = total (cores busy)"}`,
  );
  for (const sc of chosen) {
    for (const kind of sc.on ?? (["synthetic"] as CaptureKind[])) {
      const file = files.get(kind);
      if (file === undefined) continue;
      const runs: Result[] = [];
      warmPageCache(file);
      for (let i = 0; i < repeat; i++) runs.push(await runHost(file, sc.args, sc.clients));
      const med = median(runs.map((r) => r.pps));
      const best = Math.max(...runs.map((r) => r.pps));
      const rss = Math.max(...runs.map((r) => r.rss));
      const medianRun = runs.find((r) => r.pps === med)!;
      const label = `${kind.startsWith("synthetic") ? "synth" : "zeek"} ${(runs[0].packets / 1e6).toFixed(0)}M`;
      console.log(
        `${sc.name.padEnd(34)} ${label.padEnd(10)} ${fmtRate(med).padStart(8)} ${fmtRate(best).padStart(8)} ${fmtMiB(rss).padStart(9)}  ${fmtCpu(medianRun)}`,
      );
      const row: Record<string, unknown> = { scenario: sc.name, file, packets: runs[0].packets, median_pps: med, best_pps: best, peak_rss: rss };
      if (medianRun.cpu !== null) {
        row.cpu_seconds = medianRun.cpu;
        row.cores_busy = Number(medianRun.cores.toFixed(2));
      }
      if (sc.clients !== undefined && sc.clients > 0) {
        row.lines_per_client = Math.min(...runs.map((r) => r.clientLines ?? 0));
        row.dropped_for_clients = Math.max(...runs.map((r) => r.clientDropped ?? 0));
        console.log(`${"".padEnd(36)}each client read ${row.lines_per_client} lines; events dropped for clients: ${row.dropped_for_clients}`);
      }
      rows.push(row);
    }
  }
  // A plugin scenario on a capture and on the one five times as long: the rate it settles at.
  const settled: string[] = [];
  for (const sc of chosen) {
    for (const kind of ["synthetic", "zeek-mix"] as const) {
      const short = rows.find((r) => r.scenario === sc.name && r.file === files.get(kind));
      const long = rows.find((r) => r.scenario === sc.name && r.file === files.get(`${kind}-5x`));
      if (short === undefined || long === undefined) continue;
      const p = [short.packets, short.median_pps, long.packets, long.median_pps] as number[];
      const s = settledRate(p[0], p[1], p[2], p[3]);
      const label = `${sc.name}, ${kind === "synthetic" ? "synth" : "zeek"}`;
      settled.push(
        s === null
          ? `${label.padEnd(44)} no settled rate: the longer run was not faster per packet`
          : `${label.padEnd(44)} ${fmtRate(s.pps).padStart(8)} past the first ${(p[0] / 1e6).toFixed(0)}M packets; warm-up cost ${s.warmupSeconds.toFixed(2)} s`,
      );
      short.settled_pps = s?.pps ?? null;
      short.warmup_seconds = s === null ? null : Number(s.warmupSeconds.toFixed(3));
    }
  }
  if (settled.length > 0) console.log(`\nsettled rates (from the median runs of both lengths):\n${settled.join("\n")}`);
  // The socket server's target: 100 clients within 20% of none.
  const socketRate = (n: number) => rows.find((r) => r.scenario === socketScenarioName(n))?.median_pps as number | undefined;
  const none = socketRate(0);
  const hundred = socketRate(100);
  if (none !== undefined && hundred !== undefined) {
    console.log(`\nsocket-server: 100 clients at ${((100 * hundred) / none).toFixed(0)}% of the rate with 0 clients (target: at least 80%)`);
  }
  writeFileSync(join(outDir, "results.json"), `${JSON.stringify(rows, null, 2)}\n`);
  console.log(`\nrates are frames read per second over the capture (pool warmed up); results in ${join(outDir, "results.json")}`);
}

await main();
