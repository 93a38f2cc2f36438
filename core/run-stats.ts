import type { FlowStats } from "./flows/flow-analyzer.ts";
import type { PluginStats } from "./plugins/plugin-host.ts";

/** Everything `--stats` reports at the end of a run. */
export interface RunStats {
  packets: number;
  bytes: number;
  malformed: number;
  unsupported: number;
  filtered: number;
  /** Frames the capture could not take (live: ring full, or dropped by the kernel). */
  dropped: number;
  /** Frames a live capture received (0 for files). */
  received: number;
  elapsed: number;
  /** Peak resident set size of the process so far, in bytes. */
  maxRss: number;
  workers: { min: number; max: number; peak: number; tasks: Record<string, number> };
  plugins: PluginStats[];
  flows?: FlowStats;
  /** CPU seconds over the run (final stats only); NaN where the system does not tell. */
  cpu?: RunCpu;
}

/**
 * Where a run's CPU went, in seconds over the same span as `elapsed`. `total` is every thread of the
 * process; what main, the reader thread and the decode workers do not account for ran on the threads
 * of V8 (the optimizing compiler, the garbage collector) and libuv.
 */
export interface RunCpu {
  total: number;
  main: number;
  /** The file reader thread (null when the file was read on the main thread, or live). */
  reader: number | null;
  /** Per decode worker thread id. */
  decode: Record<string, number>;
}

/** CPU seconds in the stats: two decimals, like `time`. */
function seconds(x: number): number {
  return Number(x.toFixed(2));
}

/** The CPU line for people: the total, then the threads that are known, then the rest. */
function cpuText(c: RunCpu): string {
  if (!Number.isFinite(c.total)) return "unknown";
  const decode = Object.values(c.decode);
  if (!Number.isFinite(c.main) || decode.length === 0) return `${c.total.toFixed(2)} s`;
  const decodeSum = decode.reduce((a, b) => a + b, 0);
  const perThread = Object.entries(c.decode).map(([thread, s]) => `thread ${thread}: ${s.toFixed(2)}`);
  const parts = [`main ${c.main.toFixed(2)}`];
  if (c.reader !== null && Number.isFinite(c.reader)) parts.push(`reader ${c.reader.toFixed(2)}`);
  parts.push(`decode ${decodeSum.toFixed(2)} (${perThread.join(", ")})`);
  parts.push(`other ${otherCpu(c).toFixed(2)}`);
  return `${c.total.toFixed(2)} s: ${parts.join(", ")}`;
}

/** CPU of the threads not named (V8's compiler and collector, libuv): the total less the known ones. */
function otherCpu(c: RunCpu): number {
  const decode = Object.values(c.decode).reduce((a, b) => a + b, 0);
  return Math.max(0, c.total - c.main - (c.reader ?? 0) - decode);
}

/** Packets per second over the run. */
export function packetsPerSecond(s: RunStats): number {
  return s.elapsed > 0 ? Math.round(s.packets / s.elapsed) : 0;
}

/** The stats as one JSON object (the last line on stderr with --format json). */
export function statsJson(s: RunStats): Record<string, unknown> {
  return {
    type: "stats",
    packets: s.packets,
    bytes: s.bytes,
    malformed: s.malformed,
    unsupported: s.unsupported,
    filtered: s.filtered,
    dropped: s.dropped,
    received: s.received,
    elapsed: Number(s.elapsed.toFixed(3)),
    pps: packetsPerSecond(s),
    max_rss: s.maxRss,
    workers: s.workers,
    plugins: s.plugins.map((p) => ({ ...p, ms: Number(p.ms.toFixed(1)) })),
    ...(s.flows ? { flows: s.flows } : {}),
    ...(s.cpu
      ? {
          cpu: {
            total: seconds(s.cpu.total),
            main: seconds(s.cpu.main),
            reader: s.cpu.reader === null ? null : seconds(s.cpu.reader),
            decode: Object.fromEntries(Object.entries(s.cpu.decode).map(([t, x]) => [t, seconds(x)])),
            // As the text line shows it; absent where per-thread times are not known.
            ...(Number.isFinite(s.cpu.main) && Object.keys(s.cpu.decode).length > 0 ? { other: seconds(otherCpu(s.cpu)) } : {}),
          },
        }
      : {}),
  };
}

/** The stats as lines for people. */
export function statsText(s: RunStats): string[] {
  const tasks = Object.entries(s.workers.tasks)
    .map(([thread, n]) => `thread ${thread}: ${n}`)
    .join(", ");
  const workers =
    s.workers.min === s.workers.max
      ? `${s.workers.max}`
      : `auto ${s.workers.min}..${s.workers.max}, peak ${s.workers.peak}`;
  const lines = [
    `packets:          ${s.packets}`,
    `bytes:            ${s.bytes}`,
    `malformed:        ${s.malformed}`,
    `unsupported link: ${s.unsupported}`,
    `filtered out:     ${s.filtered}`,
    `dropped:          ${s.dropped}`,
  ];
  if (s.received > 0) lines.push(`received:         ${s.received}`);
  lines.push(
    `elapsed:          ${s.elapsed.toFixed(3)} s`,
    `packets/s:        ${packetsPerSecond(s)}`,
    `peak RSS:         ${(s.maxRss / 1048576).toFixed(1)} MiB`,
    `workers:          ${workers} (tasks per worker: ${tasks || "none"})`,
  );
  if (s.cpu) lines.push(`cpu:              ${cpuText(s.cpu)}`);
  if (s.flows) {
    const f = s.flows;
    lines.push(`flows:            ${f.total} (${f.active} open at the end)`);
    const cut = [
      f.evicted > 0 ? `${f.evicted} flows evicted (too many open at once)` : "",
      f.reassemblyRefusals > 0 ? `${f.reassemblyRefusals} stream holes given up (reassembly memory full)` : "",
      f.parserRefusals > 0 ? `${f.parserRefusals} connections not analyzed further (parser memory full)` : "",
    ].filter((x) => x !== "");
    if (cut.length > 0) lines.push(`memory limits:    ${cut.join(", ")}`);
  }
  for (const p of s.plugins) {
    lines.push(
      `plugin ${p.name}: ${p.calls} calls, ${p.ms.toFixed(1)} ms in handlers, ${p.errors} errors${p.disabled ? ", disabled" : ""}`,
    );
  }
  return lines;
}
