/**
 * One run of the host: build the pipeline, load the plugins, read the capture, end cleanly.
 * The CLI parses arguments into a RunConfig and calls `runHost`; tests call it directly too.
 */
import { Dispatcher } from "./dispatch/dispatcher.ts";
import { EventBus } from "./event-bus.ts";
import { Pipeline } from "./pipeline.ts";
import { DecodePool, type WorkerCount } from "./pool/decode-pool.ts";
import { FrameRing } from "./ring/frame-ring.ts";
import { CaptureFileError } from "./sources/capture-record.ts";
import { FileSource } from "./sources/file-source.ts";
import { BufferedLineWriter, type ChunkSink } from "./output.ts";
import { PluginHost, errorText } from "./plugins/plugin-host.ts";
import { checkPluginName, discoverPlugins, unknownPlugin, type PluginFile } from "./plugins/plugin-loader.ts";
import type { RawPluginOptions } from "./plugins/plugin-options.ts";
import { currentRuntime } from "./runtime/host-runtime.ts";
import { statsJson, statsText, type RunStats } from "./run-stats.ts";
import { UsageError } from "./usage-error.ts";
import { FlowAnalyzer } from "./flows/flow-analyzer.ts";
import { PluginWatcher } from "./plugins/plugin-watcher.ts";

/** What to run: the parsed command line. */
export interface RunConfig {
  /** Capture file to read ("-" for stdin), or null for live capture. */
  read: string | null;
  filter: string | null;
  count: number;
  plugins: string[];
  pluginDirs: string[];
  workers: WorkerCount;
  ringBytes: number;
  format: "text" | "json";
  stats: boolean;
  options: RawPluginOptions;
  watch: boolean;
  maxPluginErrors: number;
  teardownMs: number;
  version: string;
}

/** Where a run's output goes. */
export interface RunIo {
  stdout: ChunkSink;
  stderr: (line: string) => void;
  /** True when stderr is a terminal (progress line). */
  progress: boolean;
}

/** Largest batch of slots in one decode task. */
const kMaxBatch = 4096;

/**
 * Runs the host; resolves with the exit status (0 done, 1 damaged input or a failure during the run;
 * usage errors are thrown as UsageError for the CLI to report with status 2).
 */
export async function runHost(config: RunConfig, io: RunIo, signal?: AbortSignal): Promise<number> {
  if (config.read === null) throw new UsageError("Nothing to read: give a capture file with -r FILE (or -r - for stdin)");
  const available = discoverPlugins(config.pluginDirs);
  const chosen: PluginFile[] = [];
  for (const name of config.plugins) {
    checkPluginName(name);
    const file = available.get(name);
    if (file === undefined) unknownPlugin(name, available);
    chosen.push(file);
  }
  for (const name of config.options.keys()) {
    if (!config.plugins.includes(name)) {
      throw new UsageError(`Option -o ${name}.…: plugin ${name} is not loaded; add it to --plugins`);
    }
  }
  const checkFilter = config.filter === null ? null : (await import("./filter-check.ts")).checkFilter;
  checkFilter?.(config.filter!, null);

  const ring = FrameRing.create(config.ringBytes);
  const bus = new EventBus();
  const dispatcher = new Dispatcher(ring, bus);
  const out = new BufferedLineWriter(io.stdout);
  let started = performance.now();
  let ended = 0; // when the last packet was dispatched: elapsed covers the capture, not the teardown
  let pool: DecodePool | null = null;
  const stats = (): RunStats => ({
    packets: dispatcher.stats.packets,
    bytes: dispatcher.stats.bytes,
    malformed: dispatcher.stats.malformed,
    unsupported: dispatcher.stats.unsupported,
    filtered: dispatcher.stats.filtered,
    dropped: 0,
    received: 0,
    elapsed: ((ended || performance.now()) - started) / 1000,
    maxRss: process.resourceUsage().maxRSS * 1024,
    workers: {
      min: pool?.minThreads ?? 0,
      max: pool?.maxThreads ?? 0,
      peak: pool?.peakThreads ?? 0,
      tasks: Object.fromEntries(pool?.tasksByThread ?? []),
    },
    plugins: plugins.stats(),
    flows: analyzer.stats(),
  });
  const plugins = new PluginHost(bus, {
    format: config.format,
    live: false,
    version: config.version,
    maxErrors: config.maxPluginErrors,
    teardownMs: config.teardownMs,
    out,
    stderr: io.stderr,
    runtime: await currentRuntime(),
    stats: () => {
      const s = stats();
      return {
        packets: s.packets,
        bytes: s.bytes,
        malformed: s.malformed,
        unsupported: s.unsupported,
        dropped: s.dropped,
        filtered: s.filtered,
        elapsed: Number(s.elapsed.toFixed(3)),
      };
    },
  });
  const analyzer = new FlowAnalyzer(bus);
  // The flow table runs only while some plugin listens to a flow or application event.
  const attachAnalyzer = () => {
    dispatcher.analyzer = analyzer.active ? analyzer : null;
  };
  bus.onChange(attachAnalyzer);
  attachAnalyzer();

  for (const file of chosen) await plugins.load(file, config.options.get(file.name));
  // A plugin may hold the start (socket-server's wait=N); a signal meanwhile ends the run.
  if (signal !== undefined) {
    await Promise.race([plugins.ready(), new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }))]);
  } else {
    await plugins.ready();
  }

  pool = new DecodePool(ring, config.workers, config.filter);
  const batch = Math.max(64, Math.min(kMaxBatch, ring.slotCount / 8));
  const pipeline = new Pipeline(ring, pool, dispatcher, batch);
  if (checkFilter !== null) pipeline.onLinkType = (lt) => checkFilter(config.filter!, lt);
  dispatcher.limit = config.count;
  dispatcher.onLimit = () => pipeline.stop();
  signal?.addEventListener("abort", () => pipeline.stop());
  const watcher = config.watch ? new PluginWatcher(plugins, config.pluginDirs, config.options, io.stderr) : null;

  await pool.warmUp();
  started = performance.now();
  const source = new FileSource(config.read, pipeline);
  const progress = io.progress ? startProgress(source, dispatcher, started, io) : null;
  let status = 0;
  let failure: unknown = null;
  try {
    await source.run();
  } catch (err) {
    failure = err;
  }
  try {
    await pipeline.drain();
  } catch (err) {
    failure ??= err;
  }
  progress?.stop();
  watcher?.close();
  analyzer.finish();
  ended = performance.now();
  await plugins.teardownAll();
  out.flush();
  await pool.close();
  if (failure !== null) {
    if (failure instanceof UsageError) throw failure;
    status = 1;
    io.stderr(failure instanceof CaptureFileError ? failure.message : `host: ${errorText(failure)}`);
  }
  if (config.stats) {
    const s = stats();
    if (config.format === "json") io.stderr(JSON.stringify(statsJson(s)));
    else for (const line of statsText(s)) io.stderr(line);
  }
  return status;
}

/** Prints "  42%  1234567 packets  2.31M pkt/s" on the terminal while a file is read. */
function startProgress(source: FileSource, dispatcher: Dispatcher, started: number, io: RunIo): { stop(): void } {
  const timer = setInterval(() => {
    const p = source.progress;
    const secs = (performance.now() - started) / 1000;
    const pct = p.size > 0 ? `${((100 * p.bytesRead) / p.size).toFixed(0).padStart(3)}%  ` : "";
    const rate = secs > 0 ? dispatcher.stats.packets / secs : 0;
    process.stderr.write(`\r${pct}${dispatcher.stats.packets} packets  ${(rate / 1e6).toFixed(2)}M pkt/s   `);
  }, 250);
  timer.unref?.();
  return {
    stop() {
      clearInterval(timer);
      process.stderr.write("\r\x1b[K");
    },
  };
}
