/**
 * Runs the whole host in-process for the application-layer tests: writes a capture built by
 * test/support/ into a temporary folder, runs `runHost` on it with the built-in plugin folder (plus
 * any test plugin folders) and hands back stdout, stderr and the `--stats` object, as the CLI would
 * print them. `writeFlowCollector()` writes a plugin that prints every `flow.end` record whole
 * (`toJSON()`, with the VLAN and the service that flow-counter leaves out), and `captureTime()` converts a
 * record's nanosecond timestamp to the seconds the host reports.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runHost, type RunConfig } from "../../core/run.ts";
import type { WorkerCount } from "../../core/pool/decode-pool.ts";
import type { FlowSettings } from "../../core/flows/flow-analyzer.ts";
import { builtinPluginDir } from "../../core/plugins/plugin-loader.ts";
import { groupOptionArgs } from "../../core/plugins/plugin-options.ts";
import { encodePcap, type CaptureRecord, type PcapOptions } from "../support/pcap-writer.ts";
import { makeTempDir } from "../support/wireshark-tools.ts";

/** File URL of the plugin API, for plugins written outside the repository. */
export const pluginApiUrl = new URL("../../core/plugins/plugin-api.ts", import.meta.url).href;

/** Settings of one in-process run; the rest are the CLI's defaults. */
export interface AppRunOptions {
  readonly plugins: readonly string[];
  /** `-o plugin.key=value` arguments. */
  readonly options?: readonly string[];
  readonly format?: "text" | "json";
  readonly workers?: WorkerCount;
  /** Test plugin folders, searched before the built-in one. */
  readonly pluginDirs?: readonly string[];
  readonly stats?: boolean;
  /** Flow timeouts (default: the host's). */
  readonly flowSettings?: FlowSettings;
}

/** What a run printed. */
export interface AppRunResult {
  readonly status: number;
  /** stdout exactly as written. */
  readonly stdout: string;
  /** stdout split into lines (without the empty one after the last newline). */
  readonly lines: string[];
  /** stderr lines (the stats line removed when `stats` was asked for with JSON). */
  readonly errors: string[];
  /** The final `--stats --format json` object, or null. */
  readonly stats: Record<string, unknown> | null;
}

/** Runs the host on `file`; rejects when the run cannot start (a usage error, a plugin that fails to start). */
export async function runApp(file: string, options: AppRunOptions): Promise<AppRunResult> {
  const format = options.format ?? "json";
  const stats = options.stats ?? false;
  const config: RunConfig = {
    read: file,
    filter: null,
    count: 0,
    plugins: [...options.plugins],
    pluginDirs: [...(options.pluginDirs ?? []), builtinPluginDir],
    workers: options.workers ?? 1,
    ringBytes: 1 << 20,
    format,
    stats,
    options: groupOptionArgs(options.options ?? []),
    watch: false,
    maxPluginErrors: 100,
    teardownMs: 5000,
    version: "test",
    flowSettings: options.flowSettings,
  };
  const chunks: string[] = [];
  const errors: string[] = [];
  const status = await runHost(config, { stdout: (chunk) => void chunks.push(chunk), stderr: (line) => void errors.push(line), progress: false });
  let statsObject: Record<string, unknown> | null = null;
  if (stats && format === "json") statsObject = JSON.parse(errors.pop() ?? "null") as Record<string, unknown>;
  const stdout = chunks.join("");
  const lines = stdout.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return { status, stdout, lines, errors, stats: statsObject };
}

/** Parses NDJSON lines; a line that is not JSON fails loudly with its text. */
export function jsonLines(lines: readonly string[]): Array<Record<string, unknown>> {
  return lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`Not a JSON line: ${line}`);
    }
  });
}

/** A temporary folder for captures and test plugins, removed at the end of the test `t`. */
export function tempFolder(t: { teardown(fn: () => void): void }): string {
  const dir = makeTempDir("packet-host-app-");
  t.teardown(dir.remove);
  return dir.path;
}

/** Writes `records` as a classic pcap file `name` in `dir`; returns its path. */
export function writeCapture(dir: string, name: string, records: Iterable<CaptureRecord | Uint8Array>, options?: PcapOptions): string {
  const path = join(dir, name);
  writeFileSync(path, encodePcap(records, options));
  return path;
}

/**
 * Writes plugin `flow-collector` into `dir` (with the package.json that makes `.ts` files ES modules):
 * it prints `{"e":"flow.start","id":N}` when a flow starts and `{"e":"flow.end", ...flow.toJSON()}` when it
 * ends, so a test sees both the records and the order of their ends. Returns the folder.
 */
export function writeFlowCollector(dir: string): string {
  const folder = join(dir, "plugins");
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, "package.json"), JSON.stringify({ type: "module" }));
  writeFileSync(
    join(folder, "flow-collector.ts"),
    `import { definePlugin } from ${JSON.stringify(pluginApiUrl)};
export default definePlugin({
  name: "flow-collector",
  description: "prints every ended flow whole",
  setup(ctx) {
    ctx.on("flow.start", (f) => ctx.out.json({ e: "flow.start", id: f.id }));
    ctx.on("flow.end", (f) => ctx.out.json({ e: "flow.end", ...f.toJSON() }));
  },
});
`,
  );
  return folder;
}

/** The capture time the host reports for a timestamp in nanoseconds: seconds with microsecond precision. */
export function captureTime(ns: bigint): number {
  return Number(ns / 1_000_000_000n) + Number((ns % 1_000_000_000n) / 1000n) / 1e6;
}
