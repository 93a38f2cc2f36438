/**
 * `npm run bench:live`: the highest rate at which live capture drops nothing, beside tcpdump's on the
 * same link. A capture from the project's generator (test/bench/make-capture.ts) is replayed with
 * tcpreplay at a fixed rate over a veth pair that lives in a network namespace this benchmark creates
 * and removes (the frames can reach no other network), while the host, then tcpdump, capture on the
 * other end. Root only, like the live tests.
 *
 *   npm run bench:live
 *   npm run bench:live -- --packets 200000 --rates 100000,200000,300000 --refine 2 --buffer-size 32M
 *   npm run bench:live -- --runtime both      # the host on Node (cap) and on Deno (libpcap through FFI)
 *
 * What "drops nothing" means, per run:
 *   - host: `received` (what libpcap handed to the capture process) equals the frames tcpreplay sent,
 *     and `dropped` (frames the capture process could not queue for the host) is 0. The kernel's own
 *     drops are not counted by the cap addon, so they show as `lost` = sent - received.
 *   - tcpdump: "packets dropped by kernel" is 0 and "packets received by filter" equals the frames sent.
 * Rates are swept upwards until two steps in a row drop, then the gap between the highest clean step
 * and the next one is halved `--refine` times. Each tool gets the same kernel buffer (--buffer-size,
 * tcpdump -B). tcpdump writes to /dev/null (-w): it stores, the host decodes and runs its plugins.
 *
 * Numbers from a shared machine are noisy: the load average before and after is printed with them.
 */
import { existsSync, mkdirSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parseSize } from "../../core/cli.ts";
import {
  captureProcessOf,
  createVethNamespace,
  HostProcess,
  kCaptureSide,
  liveSkip,
  processCpuSeconds,
  replayAt,
  startHost,
  type ReplayResult,
} from "../live/live-host.ts";
import { makeCapture } from "./make-capture.ts";

const outDir = join(dirname(fileURLToPath(import.meta.url)), "out");

/** One run of one tool at one rate. */
interface Trial {
  readonly tool: "host" | "host-deno" | "tcpdump";
  readonly rate: number;
  readonly replay: ReplayResult;
  /** Frames the capture saw (host: received; tcpdump: received by filter). */
  readonly received: number;
  /** Frames dropped where the tool can count them (host: capture process queue; tcpdump: kernel). */
  readonly dropped: number;
  /** Frames sent that the tool never saw: sent - received. */
  readonly lost: number;
  /** Frames decoded (host) or written (tcpdump). */
  readonly handled: number;
  /** CPU time the tool used from the start of the replay until it was stopped (host: with its capture process). */
  readonly cpu: number;
  readonly clean: boolean;
}

/** CPU seconds processes `pids` have used so far (user + system, all threads). */
const cpuSeconds = (pids: number[]): number => pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0);

/** Cores tcpreplay kept busy while it sent: its CPU time over its sending time. */
const senderCores = (r: ReplayResult): number => (r.pps > 0 ? r.cpu / (r.sent / r.pps) : 0);

/** What every run needs. */
interface Bench {
  readonly runtime: "node" | "deno";
  readonly netns: string;
  readonly file: string;
  readonly plugins: string;
  readonly bufferBytes: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Waits until `count()` reaches `target` or stops growing for a second (what was lost will not
 * come), so that nothing still on its way is cut off when the tool is stopped.
 */
async function settle(proc: HostProcess, count: () => number, target: number): Promise<void> {
  let last = -1;
  let still = 0;
  for (let i = 0; i < 600 && proc.running; i++) {
    const now = count();
    if (now >= target) return;
    still = now === last ? still + 1 : 0;
    last = now;
    if (still >= 20) return;
    await sleep(50);
  }
}

async function hostTrial(bench: Bench, rate: number): Promise<Trial> {
  const host = startHost(
    [
      "-i", kCaptureSide,
      "--buffer-size", String(bench.bufferBytes),
      "--plugins", bench.plugins,
      "--stats", "--format", "json", "--stats-interval", "0.1",
    ],
    { netns: bench.netns, stdout: "ignore", runtime: bench.runtime },
  );
  try {
    await host.until("the host to start reading", () => host.jsonLines("stats-interval").length > 0, 60_000);
    // On Node the capture runs in a process of its own; on Deno in a worker thread of the host.
    const pids = bench.runtime === "node" ? [host.pid, captureProcessOf(host.pid) ?? host.pid] : [host.pid];
    const cpuBefore = cpuSeconds(pids);
    const replay = replayAt(bench.netns, bench.file, rate);
    const received = () => Number(host.jsonLines("stats-interval").at(-1)?.received ?? 0);
    await settle(host, received, replay.sent);
    const cpu = cpuSeconds(pids) - cpuBefore;
    host.interrupt();
    const exit = await host.end(60_000);
    const stats = host.stats;
    if (exit.code !== 0 || stats === null) throw new Error(`the host failed (${exit.code ?? exit.signal}):\n${host.transcript()}`);
    const got = Number(stats.received);
    const dropped = Number(stats.dropped);
    return {
      tool: bench.runtime === "node" ? "host" : "host-deno",
      rate,
      replay,
      received: got,
      dropped,
      lost: replay.sent - got,
      handled: Number(stats.packets),
      cpu,
      clean: got === replay.sent && dropped === 0,
    };
  } finally {
    host.kill();
  }
}

async function tcpdumpTrial(bench: Omit<Bench, "runtime">, rate: number): Promise<Trial> {
  const buffer = String(Math.floor(bench.bufferBytes / 1024)); // -B is in KiB
  const dump = new HostProcess("ip", ["netns", "exec", bench.netns, "tcpdump", "-i", kCaptureSide, "-nn", "-B", buffer, "-w", "/dev/null"]);
  try {
    await dump.until("tcpdump to listen", () => dump.stderr.some((line) => line.startsWith("tcpdump: listening on")), 30_000);
    const cpuBefore = cpuSeconds([dump.pid]);
    const replay = replayAt(bench.netns, bench.file, rate);
    // tcpdump says nothing while it runs: give it the time to empty its ring.
    await sleep(1000);
    const cpu = cpuSeconds([dump.pid]) - cpuBefore;
    dump.interrupt();
    await dump.end(30_000);
    const count = (what: string) => Number(new RegExp(`^(\\d+) packets? ${what}`, "m").exec(dump.stderr.join("\n"))?.[1] ?? NaN);
    const received = count("received by filter");
    const dropped = count("dropped by kernel");
    if (Number.isNaN(received) || Number.isNaN(dropped)) throw new Error(`tcpdump printed no counts:\n${dump.transcript()}`);
    return {
      tool: "tcpdump",
      rate,
      replay,
      received,
      dropped,
      lost: replay.sent - received,
      handled: count("captured"),
      cpu,
      clean: dropped === 0 && received === replay.sent,
    };
  } finally {
    dump.kill();
  }
}

const fmtK = (n: number) => `${Math.round(n / 1000)}k`;

function printTrial(t: Trial): void {
  console.log(
    [
      t.tool.padEnd(9),
      fmtK(t.rate).padStart(6),
      fmtK(t.replay.pps).padStart(7),
      String(t.replay.sent).padStart(8),
      String(t.received).padStart(9),
      String(t.dropped).padStart(8),
      String(t.lost).padStart(7),
      String(t.handled).padStart(8),
      t.cpu.toFixed(2).padStart(6),
      senderCores(t.replay).toFixed(2).padStart(7),
      (t.clean ? "clean" : "DROPS").padStart(6),
    ].join(" "),
  );
}

/**
 * Sweeps `rates` upwards until two in a row drop, then halves the gap above the best clean rate
 * `refine` times. Returns the highest rate tcpreplay achieved in a clean run: under load it may send
 * slower than asked, and what was achieved is what the tool kept up with.
 */
async function search(rates: number[], refine: number, trial: (rate: number) => Promise<Trial>, trials: Trial[]): Promise<number> {
  const mine: Trial[] = [];
  const run = async (rate: number): Promise<Trial> => {
    const r = await trial(rate);
    trials.push(r);
    mine.push(r);
    printTrial(r);
    return r;
  };
  let best = 0;
  let firstBad = Infinity;
  let badInARow = 0;
  for (const rate of rates) {
    const r = await run(rate);
    if (r.clean) {
      best = Math.max(best, rate);
      badInARow = 0;
    } else {
      firstBad = Math.min(firstBad, rate);
      if (++badInARow >= 2) break;
    }
  }
  // Refine between the best clean rate and the first lossy one above it.
  let hi = rates.find((r) => r > best && !mine.some((t) => t.rate === r && t.clean)) ?? firstBad;
  for (let i = 0; i < refine && Number.isFinite(hi) && hi - best > 10_000; i++) {
    const mid = Math.round((best + hi) / 2 / 5000) * 5000;
    const r = await run(mid);
    if (r.clean) best = mid;
    else hi = mid;
  }
  return Math.max(0, ...mine.filter((t) => t.clean).map((t) => Math.min(t.rate, t.replay.pps)));
}

/**
 * The CPU the capture can have at tcpdump's best rate: what tcpreplay left of the machine's cores, per
 * frame, beside what each tool used per frame in its clean runs.
 */
function budget(trials: Trial[], tcpdumpBest: number): string {
  const cores = availableParallelism();
  const atBest = trials.find((t) => t.tool === "tcpdump" && t.clean && Math.min(t.rate, t.replay.pps) === tcpdumpBest);
  const perFrameUs = (tool: Trial["tool"]): string => {
    const used = trials.filter((t) => t.tool === tool && t.clean && t.received > 0).map((t) => (t.cpu / t.received) * 1e6).sort((a, b) => a - b);
    return used.length === 0 ? "" : `, ${tool} ${used[used.length >> 1].toFixed(2)}`;
  };
  const used = `CPU per frame in clean runs (median, µs): ${["tcpdump", "host", "host-deno"].map((tool) => perFrameUs(tool as Trial["tool"])).join("").slice(2)}`;
  if (atBest === undefined) return used;
  const sender = senderCores(atBest.replay);
  const left = Math.max(0, cores - sender);
  return (
    `at ${fmtK(tcpdumpBest)} packets/s tcpreplay kept ${sender.toFixed(2)} of ${cores} cores busy: ${left.toFixed(2)} cores, ` +
    `${((left / tcpdumpBest) * 1e6).toFixed(2)} µs per frame, were left for the capture\n${used}`
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      packets: { type: "string", default: "200000" },
      rates: { type: "string", default: "25000,50000,75000,100000,150000,200000,250000,300000,350000,400000,500000" },
      refine: { type: "string", default: "2" },
      "buffer-size": { type: "string", default: "128M" },
      plugins: { type: "string", default: "flow-counter,http-printer" },
      runtime: { type: "string", default: "node" },
    },
  });
  const runtimes = values.runtime === "both" ? (["node", "deno"] as const) : values.runtime === "deno" ? (["deno"] as const) : values.runtime === "node" ? (["node"] as const) : null;
  if (runtimes === null) throw new Error(`--runtime must be node, deno or both, not ${values.runtime}`);
  const skip = liveSkip("ip", "tcpreplay", "tcpdump");
  if (skip !== false) {
    console.error(`bench:live cannot run here: ${skip}`);
    process.exitCode = 1;
    return;
  }
  const packets = Number(values.packets);
  const rates = values.rates.split(",").map(Number).sort((a, b) => a - b);
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `synthetic-${packets}.pcap`);
  if (!existsSync(file)) {
    process.stdout.write(`generating ${file} ... `);
    const summary = makeCapture(file, { packets, seed: 1 });
    process.stdout.write(`${summary.packets} packets, ${(summary.bytes / 1e6).toFixed(0)} MB\n`);
  }

  const netns = `ph-bench-${process.pid}`;
  const cleanups: Array<() => void | Promise<void>> = [];
  const cleanUp = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  };
  // ^C during the benchmark still removes the namespace.
  const onSignal = () => void cleanUp().finally(() => process.exit(130));
  process.once("SIGINT", onSignal);
  try {
    // Jumbo MTU: the generator's VLAN-tagged full-size segments are a little over 1514 bytes.
    createVethNamespace({ teardown: (fn) => cleanups.push(fn) }, netns, 9000, async () => {});
    const bench = { netns, file, plugins: values.plugins, bufferBytes: parseSize(values["buffer-size"], "--buffer-size") };
    const load = loadavg().map((l) => l.toFixed(2)).join(" ");
    console.log(`\n${packets} packets per run, kernel buffer ${values["buffer-size"]} for both, host plugins ${values.plugins}; load average before: ${load}`);
    console.log(`\n${"tool".padEnd(9)} ${"rate".padStart(6)} ${"actual".padStart(7)} ${"sent".padStart(8)} ${"received".padStart(9)} ${"dropped".padStart(8)} ${"lost".padStart(7)} ${"handled".padStart(8)} ${"cpu s".padStart(6)} ${"sender".padStart(7)} ${"".padStart(6)}`);
    const trials: Trial[] = [];
    const refine = Number(values.refine);
    const tcpdumpBest = await search(rates, refine, (rate) => tcpdumpTrial(bench, rate), trials);
    const best: string[] = [];
    for (const runtime of runtimes) {
      const hostBest = await search(rates, refine, (rate) => hostTrial({ ...bench, runtime }, rate), trials);
      best.push(`host on ${runtime === "node" ? "Node (cap)" : "Deno (FFI)"} ${fmtK(hostBest)} packets/s`);
    }
    console.log(`\nhighest rate with no drop: ${best.join(", ")}, tcpdump ${fmtK(tcpdumpBest)} packets/s`);
    console.log(budget(trials, tcpdumpBest));
    console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
    console.log(
      "received: frames the capture saw; dropped: host = frames its capture process could not queue (on Deno: also the kernel's drops, from pcap_stats),\n" +
        "tcpdump = kernel drops; lost: sent - received (for the host on Node, the kernel's drops, which cap cannot count); handled: decoded (host) or\n" +
        "written (tcpdump); actual: tcpreplay's achieved rate; cpu s: CPU time of the tool (host: with its capture process) from the replay until it was stopped;\n" +
        "sender: cores tcpreplay kept busy while it sent (its system time includes the kernel's delivery across the veth pair to the capturing sockets).",
    );
  } finally {
    process.off("SIGINT", onSignal);
    await cleanUp();
  }
}

await main();
