/**
 * Runs the whole host in-process on a capture, the way the CLI does, and hands back what it wrote:
 * the exit status, stdout lines (parsed as JSON where they are), stderr lines and the `--stats` object.
 * Plugins for a test are written to a temporary plugin folder with `writePlugin()`; `collectorPlugin()`
 * writes one that prints every event it is told to follow as a JSON line, so a test can compare the
 * event sequence a run delivers.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runHost, type RunConfig } from "../../core/run.ts";
import type { WorkerCount } from "../../core/pool/decode-pool.ts";
import { makeTempDir } from "./wireshark-tools.ts";

/** Absolute path of the repository root. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** File URL of the plugin API, for plugins written outside the repository. */
export const pluginApiUrl = pathToFileURL(join(repoRoot, "core/plugins/plugin-api.ts")).href;

/** What one run produced. */
export interface HostRunResult {
  /** runHost's exit status (0 done, 1 damaged input). */
  readonly status: number;
  /** stdout, split into lines (the last, empty one dropped). */
  readonly lines: string[];
  /** stderr lines, without the final stats line when `stats` was asked for. */
  readonly errors: string[];
  /** The `--stats --format json` object (the last stderr line), or null. */
  readonly stats: Record<string, unknown> & { packets: number; malformed: number; unsupported: number };
}

/** Settings of a test run; everything else takes the CLI's defaults. */
export interface HostRunOptions {
  readonly plugins?: readonly string[];
  readonly pluginDirs?: readonly string[];
  readonly workers?: WorkerCount;
  readonly ringBytes?: number;
  readonly filter?: string | null;
  readonly count?: number;
  /** `-w FILE`. */
  readonly write?: string;
  /** Stops the run early (what the CLI does on SIGINT). */
  readonly signal?: AbortSignal;
}

/** Runs the host on `file` with `--format json --stats`; rejects only on a usage error. */
export async function runCapture(file: string, options: HostRunOptions = {}): Promise<HostRunResult> {
  const config: RunConfig = {
    read: file,
    write: options.write,
    filter: options.filter ?? null,
    count: options.count ?? 0,
    plugins: [...(options.plugins ?? [])],
    pluginDirs: [...(options.pluginDirs ?? [])],
    workers: options.workers ?? 1,
    ringBytes: options.ringBytes ?? 1 << 20,
    format: "json",
    stats: true,
    options: new Map(),
    watch: false,
    maxPluginErrors: 100,
    teardownMs: 5000,
    version: "test",
  };
  const chunks: string[] = [];
  const stderr: string[] = [];
  const io = { stdout: (chunk: string) => void chunks.push(chunk), stderr: (line: string) => void stderr.push(line), progress: false };
  const status = await runHost(config, io, options.signal);
  const last = stderr.pop() ?? "";
  let stats: HostRunResult["stats"];
  try {
    stats = JSON.parse(last) as HostRunResult["stats"];
  } catch {
    throw new Error(`The last stderr line of the run is not the stats object: ${last}`);
  }
  const lines = chunks.join("").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return { status, lines, errors: stderr, stats };
}

/** A temporary plugin folder (with package.json {"type":"module"} so .ts files load as ES modules). */
export function makePluginDir(): { path: string; remove: () => void } {
  const dir = makeTempDir("packet-host-plugins-");
  writeFileSync(join(dir.path, "package.json"), JSON.stringify({ type: "module" }));
  return dir;
}

/**
 * Writes plugin `name` into `dir`. `body` is the text of `setup(ctx) { ... }`'s body; `definePlugin`
 * is imported from the repository.
 */
export function writePlugin(dir: string, name: string, body: string): void {
  const source = `import { definePlugin } from ${JSON.stringify(pluginApiUrl)};
export default definePlugin({
  name: ${JSON.stringify(name)},
  description: "test plugin",
  setup(ctx) {
${body}
  },
});
`;
  writeFileSync(join(dir, `${name}.ts`), source);
}

/** Layer events and the fields `collectorPlugin` records for each (besides `e`, the event name, and `frame`). */
export const collectedFields: Readonly<Record<string, readonly string[]>> = {
  packet: ["ts_sec", "ts_nsec", "caplen", "len", "linktype", "iface", "malformed", "unsupported"],
  ethernet: ["src", "dst", "ethertype", "vlan", "inner_vlan", "vlan_tags"],
  arp: ["operation", "sender_mac", "sender_ip", "target_mac", "target_ip"],
  ipv4: ["src", "dst", "id", "protocol", "total_length", "more_fragments", "fragment_offset"],
  ipv6: ["src", "dst", "protocol", "payload_length", "extensions", "fragment", "fragment_offset"],
  tcp: ["src", "sport", "dst", "dport", "seq", "ack", "flags", "window", "mss", "window_scale", "sack", "ts_val", "ts_ecr", "payload_length"],
  udp: ["src", "sport", "dst", "dport", "payload_length"],
  icmp: ["src", "dst", "type", "code"],
  icmpv6: ["src", "dst", "type", "code"],
  malformed: ["layer", "reason"],
};

/**
 * Writes a plugin named `name` that prints, for every event in `events`, one JSON line
 * `{ e, frame, ...fields }` with the fields of `collectedFields` (a `data_hex` of the frame's
 * first bytes is added to `packet` when `dataBytes` > 0).
 */
export function collectorPlugin(dir: string, name: string, events: readonly string[], dataBytes = 0): void {
  const body = events
    .map((e) => {
      const fields = collectedFields[e];
      if (fields === undefined) throw new Error(`Cannot collect event "${e}": not a layer event`);
      const picks = fields.map((f) => `${JSON.stringify(f)}: ev[${JSON.stringify(f)}]`).join(", ");
      const data =
        e === "packet" && dataBytes > 0
          ? `, data_hex: Array.from(ev.data.subarray(0, ${dataBytes}), (b) => b.toString(16).padStart(2, "0")).join("")`
          : "";
      return `    ctx.on(${JSON.stringify(e)}, (ev) => ctx.out.json({ e: ${JSON.stringify(e)}, frame: ev.frame, ${picks}${data} }));`;
    })
    .join("\n");
  writePlugin(dir, name, body);
}

/** Parses JSON lines; a line that is not JSON fails loudly with its text. */
export function parseLines(lines: readonly string[]): Array<Record<string, unknown>> {
  return lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`Not a JSON line: ${line}`);
    }
  });
}
