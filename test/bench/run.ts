/**
 * `npm run bench`: end-to-end throughput and peak memory of `host -r`, measured on captures made by
 * the project's own generator (test/bench/make-capture.ts), never with a timed test.
 *
 * Each scenario runs the real CLI as a child process with `--stats --format json` and reads the rate
 * (frames read / capture time, the pool warmed up first) and the peak RSS from its stats line. Every
 * scenario runs `--repeat` times (default 3); the table shows the median and the best run, since on a
 * shared machine other work only ever slows a run down.
 *
 *   npm run bench                       # all scenarios on a 1M-packet capture (+ a 2M one for RSS)
 *   npm run bench -- --packets 2000000 --repeat 5 --only tcp
 *   npm run bench -- --only socket      # socket-server with 0, 1, 10 and 100 clients
 *
 * The socket-server scenarios connect their clients from this process (cheap: it only reads and
 * discards), once the plugin prints its port; `wait=N` holds the capture until all N have subscribed
 * to `flow.end`, so every run streams the same events to every client. flow-counter is loaded in each
 * of them, so that the flow table runs with 0 clients too and the rates differ by the streaming alone.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { makeCapture } from "./make-capture.ts";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const outDir = join(here, "out");
const hostBin = join(root, "core", "bin.js");
const benchPlugins = join(here, "plugins");

interface Scenario {
  name: string;
  args: string[];
  /** Also run on the larger capture, to show memory does not grow with the file. */
  sizes?: "both";
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

const scenarios: Scenario[] = [
  { name: "tcp-count, 1 worker", args: ["--plugins-dir", benchPlugins, "--plugins", "tcp-count", "--workers", "1"], sizes: "both" },
  { name: "tcp-count, 2 workers", args: ["--plugins-dir", benchPlugins, "--plugins", "tcp-count", "--workers", "2"], sizes: "both" },
  { name: "flow-counter", args: ["--plugins", "flow-counter", "--workers", "1"] },
  { name: "http-printer", args: ["--plugins", "http-printer", "--workers", "1"] },
  { name: "tcp-count, no filter", args: ["--plugins-dir", benchPlugins, "--plugins", "tcp-count", "--workers", "1"] },
  { name: "tcp-count, -f 'tcp port 80'", args: ["--plugins-dir", benchPlugins, "--plugins", "tcp-count", "--workers", "1", "-f", "tcp port 80"] },
  ...[0, 1, 10, 100].map(socketScenario),
];

interface Result {
  pps: number;
  rss: number;
  packets: number;
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

/** Runs the host once; stdout goes to /dev/null (the printers' output is part of the cost, not of the report). */
function runHost(file: string, args: string[], clients = 0): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [hostBin, "-r", file, "--stats", "--format", "json", ...args], {
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
      const last = err.trim().split("\n").pop() ?? "";
      if (status !== 0) return reject(new Error(`host exited with ${status}: ${err.trim()}`));
      const stats = JSON.parse(last) as { elapsed: number; max_rss: number; packets: number; filtered: number };
      // Frames read per second, whether the filter kept them or not: with -f, the rate compares
      // with the run without a filter over the same capture.
      const frames = stats.packets + stats.filtered;
      const result: Result = { pps: Math.round(frames / stats.elapsed), rss: stats.max_rss, packets: frames };
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

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      packets: { type: "string", default: "1000000" },
      repeat: { type: "string", default: "3" },
      only: { type: "string" },
    },
  });
  const packets = Number(values.packets);
  const repeat = Number(values.repeat);
  mkdirSync(outDir, { recursive: true });
  const small = join(outDir, `synthetic-${packets}.pcap`);
  const large = join(outDir, `synthetic-${packets * 2}.pcap`);
  const chosen = scenarios.filter((sc) => values.only === undefined || sc.name.includes(values.only));
  // The larger capture only when a chosen scenario runs on it.
  const files: Array<readonly [string, number]> = [[small, packets]];
  if (chosen.some((sc) => sc.sizes === "both")) files.push([large, packets * 2]);
  for (const [file, n] of files) {
    if (!existsSync(file)) {
      process.stdout.write(`generating ${file} ... `);
      const summary = await makeCapture(file, { packets: n, seed: 1 });
      process.stdout.write(`${summary.packets} packets, ${(summary.bytes / 1e6).toFixed(0)} MB\n`);
    }
  }
  const rows: Array<Record<string, string | number>> = [];
  console.log(`\n${"scenario".padEnd(34)} ${"capture".padEnd(10)} ${"median".padStart(8)} ${"best".padStart(8)} ${"peak RSS".padStart(9)}`);
  for (const sc of chosen) {
    for (const file of sc.sizes === "both" ? [small, large] : [small]) {
      const runs: Result[] = [];
      for (let i = 0; i < repeat; i++) runs.push(await runHost(file, sc.args, sc.clients));
      const med = median(runs.map((r) => r.pps));
      const best = Math.max(...runs.map((r) => r.pps));
      const rss = Math.max(...runs.map((r) => r.rss));
      const label = `${(runs[0].packets / 1e6).toFixed(0)}M pkts`;
      console.log(`${sc.name.padEnd(34)} ${label.padEnd(10)} ${fmtRate(med).padStart(8)} ${fmtRate(best).padStart(8)} ${fmtMiB(rss).padStart(9)}`);
      const row: Record<string, string | number> = { scenario: sc.name, file, packets: runs[0].packets, median_pps: med, best_pps: best, peak_rss: rss };
      if (sc.clients !== undefined && sc.clients > 0) {
        row.lines_per_client = Math.min(...runs.map((r) => r.clientLines ?? 0));
        row.dropped_for_clients = Math.max(...runs.map((r) => r.clientDropped ?? 0));
        console.log(`${"".padEnd(36)}each client read ${row.lines_per_client} lines; events dropped for clients: ${row.dropped_for_clients}`);
      }
      rows.push(row);
    }
  }
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
