/**
 * `npm run bench`: end-to-end throughput and peak memory of `host -r`, measured on captures made by
 * the project's own generator (test/bench/make-capture.ts), never with a timed test.
 *
 * Each scenario runs the real CLI as a child process with `--stats --format json` and reads the rate
 * (packets / capture time, the pool warmed up first) and the peak RSS from its stats line. Every
 * scenario runs `--repeat` times (default 3); the table shows the median and the best run, since on a
 * shared machine other work only ever slows a run down.
 *
 *   npm run bench                       # all scenarios on a 1M-packet capture (+ a 2M one for RSS)
 *   npm run bench -- --packets 2000000 --repeat 5 --only tcp
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
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
}

const scenarios: Scenario[] = [
  { name: "tcp-count, 1 worker", args: ["--plugins-dir", benchPlugins, "--plugins", "tcp-count", "--workers", "1"], sizes: "both" },
  { name: "tcp-count, 2 workers", args: ["--plugins-dir", benchPlugins, "--plugins", "tcp-count", "--workers", "2"], sizes: "both" },
  { name: "flow-counter", args: ["--plugins", "flow-counter", "--workers", "1"] },
  { name: "http-printer", args: ["--plugins", "http-printer", "--workers", "1"] },
  { name: "tcp-count, no filter", args: ["--plugins-dir", benchPlugins, "--plugins", "tcp-count", "--workers", "1"] },
  { name: "tcp-count, -f 'tcp port 80'", args: ["--plugins-dir", benchPlugins, "--plugins", "tcp-count", "--workers", "1", "-f", "tcp port 80"] },
];

interface Result {
  pps: number;
  rss: number;
  packets: number;
}

/** Runs the host once; stdout goes to /dev/null (the printers' output is part of the cost, not of the report). */
function runHost(file: string, args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [hostBin, "-r", file, "--stats", "--format", "json", ...args], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("close", (status) => {
      const last = err.trim().split("\n").pop() ?? "";
      if (status !== 0) return reject(new Error(`host exited with ${status}: ${err.trim()}`));
      const stats = JSON.parse(last) as { pps: number; max_rss: number; packets: number };
      resolve({ pps: stats.pps, rss: stats.max_rss, packets: stats.packets });
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
  for (const [file, n] of [[small, packets], [large, packets * 2]] as const) {
    if (!existsSync(file)) {
      process.stdout.write(`generating ${file} ... `);
      const summary = await makeCapture(file, { packets: n, seed: 1 });
      process.stdout.write(`${summary.packets} packets, ${(summary.bytes / 1e6).toFixed(0)} MB\n`);
    }
  }
  const rows: Array<Record<string, string | number>> = [];
  console.log(`\n${"scenario".padEnd(34)} ${"capture".padEnd(10)} ${"median".padStart(8)} ${"best".padStart(8)} ${"peak RSS".padStart(9)}`);
  for (const sc of scenarios) {
    if (values.only !== undefined && !sc.name.includes(values.only)) continue;
    for (const file of sc.sizes === "both" ? [small, large] : [small]) {
      const runs: Result[] = [];
      for (let i = 0; i < repeat; i++) runs.push(await runHost(file, sc.args));
      const med = median(runs.map((r) => r.pps));
      const best = Math.max(...runs.map((r) => r.pps));
      const rss = Math.max(...runs.map((r) => r.rss));
      const label = `${(runs[0].packets / 1e6).toFixed(0)}M pkts`;
      console.log(`${sc.name.padEnd(34)} ${label.padEnd(10)} ${fmtRate(med).padStart(8)} ${fmtRate(best).padStart(8)} ${fmtMiB(rss).padStart(9)}`);
      rows.push({ scenario: sc.name, file, packets: runs[0].packets, median_pps: med, best_pps: best, peak_rss: rss });
    }
  }
  writeFileSync(join(outDir, "results.json"), `${JSON.stringify(rows, null, 2)}\n`);
  console.log(`\nrates are packets/s over the capture (pool warmed up); results in ${join(outDir, "results.json")}`);
}

await main();
