/**
 * One run of the host: build the pipeline, load the plugins, read the capture, end cleanly.
 * The CLI parses arguments into a RunConfig and calls `runHost`; tests call it directly too.
 */
import { Dispatcher, type DispatchStats } from "./dispatch/dispatcher.ts";
import { decodedLinkTypes, isSupportedLinkType } from "../workers/layers/link-layer.ts";
import { describeLinkType, linkTypeName } from "../workers/filter/filter-link-types.ts";
import { EventBus } from "./event-bus.ts";
import { Pipeline } from "./pipeline.ts";
import { DecodePool, type WorkerCount } from "./pool/decode-pool.ts";
import { FrameRing } from "./ring/frame-ring.ts";
import { CaptureFileError } from "./sources/capture-record.ts";
import { FileSource, type ReadProgress } from "./sources/file-source.ts";
import { ThreadedFileSource } from "./sources/threaded-file-source.ts";
import { statSync } from "node:fs";
import { BufferedLineWriter, type ChunkSink } from "./output.ts";
import { PluginHost, errorText } from "./plugins/plugin-host.ts";
import { checkPluginName, discoverPlugins, unknownPlugin, type PluginFile } from "./plugins/plugin-loader.ts";
import type { RawPluginOptions } from "./plugins/plugin-options.ts";
import type { RunStatsSnapshot } from "./plugins/plugin-api.ts";
import { currentRuntime, isDeno } from "./runtime/host-runtime.ts";
import { processCpuSeconds, threadCpuSeconds } from "./runtime/thread-cpu.ts";
import { statsJson, statsText, type RunStats } from "./run-stats.ts";
import { UsageError } from "./usage-error.ts";
import { defaultFlowSettings, FlowAnalyzer, type FlowSettings } from "./flows/flow-analyzer.ts";
import { PluginWatcher } from "./plugins/plugin-watcher.ts";
import { PcapFileWriter } from "./sinks/pcap-file-writer.ts";
import { type CaptureUser, kDefaultKernelBufferBytes, type LiveCapture, LiveCaptureError, lookUpUser, openLiveCapture } from "./live/live-capture.ts";
import { defaultInterface, listInterfaces } from "./live/capture-interfaces.ts";

/** What to run: the parsed command line. */
export interface RunConfig {
  /** Flow idle timeouts and bounds (defaults: defaultFlowSettings). */
  flowSettings?: FlowSettings;
  /** Capture file to read ("-" for stdin), or null for live capture. */
  read: string | null;
  /** Interface to capture on (null with `read`, or to pick the default interface). */
  iface?: string | null;
  filter: string | null;
  count: number;
  /** Stop after this many seconds (0: no limit). */
  duration?: number;
  /** `-w`: write the captured frames to this pcap file. */
  write?: string | null;
  /** Live: drop privileges to this user once the capture is open. */
  user?: string | null;
  /** Live: libpcap's kernel buffer in bytes. */
  bufferBytes?: number;
  /** Print a statistics line every this many seconds (0: only at the end). */
  statsInterval?: number;
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
  /** How long a plugin's setup may take, in milliseconds (default: the plugin host's, 30 s; for tests). */
  setupMs?: number;
  version: string;
}

/** Where a run's output goes. */
export interface RunIo {
  stdout: ChunkSink;
  stderr: (line: string) => void;
  /** True when stderr is a terminal (progress line). */
  progress: boolean;
  /** Resolves when plugin teardowns may start (see onSignal in core/cli.ts); none: at once. */
  beforeTeardown?: () => Promise<void>;
}

/** Largest batch of slots in one decode task. */
const kMaxBatch = 4096;
/** Files from this size on are read by a reader thread (see the choice of source in runHost). */
const kReaderThreadBytes = 64 << 20;
/** Live capture: how long a batch may wait to fill before it is decoded anyway. */
const kLiveFlushMs = 10;

/**
 * Runs the host; resolves with the exit status (0 done, 1 damaged input or a failure during the run;
 * usage errors are thrown as UsageError for the CLI to report with status 2).
 */
export async function runHost(config: RunConfig, io: RunIo, signal?: AbortSignal): Promise<number> {
  const live = config.read === null;
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
  // On files the workers evaluate the filter, so it is checked here first; live, libpcap compiles it.
  const checkFilter = config.filter === null || live ? null : (await import("./filter-check.ts")).checkFilter;
  checkFilter?.(config.filter!, null);

  // Live capture opens first: a wrong interface or filter, or missing privileges, end the run before
  // any plugin starts.
  let capture: LiveCapture | null = null;
  let iface = config.iface ?? null;
  if (live) {
    const user = config.user ? lookUpUser(config.user) : null;
    if (config.user && user === null) throw new UsageError(`Invalid -Z/--user "${config.user}": there is no such user`);
    const guessed = iface === null;
    if (iface === null) {
      const chosenIface = defaultInterface(await listInterfaces().catch(liveError(null, config.filter)));
      if (chosenIface === null) throw new UsageError("No interface to capture on: give one with -i (see --list-interfaces) or read a file with -r");
      iface = chosenIface.name;
    }
    capture = await openLiveCapture(
      {
        device: iface,
        filter: config.filter ?? "",
        bufferBytes: config.bufferBytes ?? kDefaultKernelBufferBytes,
        queueBytes: Math.max(4 << 20, config.ringBytes),
        user,
      },
      io.stderr,
    ).catch(liveError(iface, config.filter));
    if (user !== null) dropPrivileges(user, io);
    // As tcpdump says it: the capture is open (frames are kept from now on) and what it delivers.
    const lt = capture.linktype;
    const known = isSupportedLinkType(lt) ? "" : `: not a link type the host decodes (${decodedLinkTypes}); frames are counted, not decoded`;
    io.stderr(`host: listening on ${iface}${guessed ? " (no -i given)" : ""}, ${linkTypeName(describeLinkType(lt))}${known}`);
  }

  const opened = performance.now();
  const ring = FrameRing.create(config.ringBytes);
  const bus = new EventBus();
  const dispatcher = new Dispatcher(ring, bus);
  const out = new BufferedLineWriter(io.stdout);
  let started = opened;
  let ended = 0; // when the last packet was dispatched: elapsed covers the capture, not the teardown
  let pool: DecodePool | null = null;
  const stats = (): RunStats => ({
    packets: dispatcher.stats.packets,
    bytes: dispatcher.stats.bytes,
    malformed: dispatcher.stats.malformed,
    unsupported: dispatcher.stats.unsupported,
    filtered: dispatcher.stats.filtered,
    dropped: capture === null ? 0 : capture.stats.dropped + capture.stats.kernelDropped,
    received: capture === null ? 0 : capture.stats.received,
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
    live,
    version: config.version,
    maxErrors: config.maxPluginErrors,
    teardownMs: config.teardownMs,
    setupMs: config.setupMs,
    out,
    stderr: io.stderr,
    runtime: await currentRuntime(),
    captureFiles: [
      ...(config.read !== null && config.read !== "-" ? [{ path: config.read, why: "the capture being read (-r)" }] : []),
      ...(config.write ? [{ path: config.write, why: "the capture being written (-w)" }] : []),
    ],
    stats: () => snapshot(stats()),
  });
  const analyzer = new FlowAnalyzer(bus, config.flowSettings ?? defaultFlowSettings);
  // The flow table runs only while some plugin listens to a flow or application event.
  const attachAnalyzer = () => {
    dispatcher.analyzer = analyzer.active ? analyzer : null;
  };
  bus.onChange(attachAnalyzer);
  attachAnalyzer();

  const writer = config.write ? new PcapFileWriter(config.write, capture?.linktype) : null;
  dispatcher.writer = writer;
  try {
    for (const file of chosen) await plugins.check(file, config.options.get(file.name));
  } catch (err) {
    capture?.stop();
    writer?.close();
    throw err;
  }
  try {
    for (const file of chosen) await plugins.load(file, config.options.get(file.name));
  } catch (err) {
    capture?.stop();
    // The plugins started before the one that failed end as at the end of a run: their teardowns run
    // and what they wrote is flushed.
    await io.beforeTeardown?.();
    await plugins.teardownAll();
    out.flush();
    writer?.close();
    throw err;
  }
  // A plugin may hold the start (socket-server's wait=N); a signal meanwhile ends the run. The timer
  // keeps the process alive meanwhile: a hold on a promise alone would let Node exit (status 13).
  const keepAlive = setInterval(() => {}, 1 << 30);
  if (signal !== undefined) {
    await Promise.race([plugins.ready(), new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }))]);
  } else {
    await plugins.ready();
  }
  clearInterval(keepAlive);

  pool = await DecodePool.create(ring, config.workers, live ? null : config.filter, plugins.watch.buffer);
  const batch = Math.max(64, Math.min(kMaxBatch, ring.slotCount / 8));
  const pipeline = new Pipeline(ring, pool, dispatcher, batch);
  if (checkFilter !== null) pipeline.onLinkType = (lt, le) => checkFilter(config.filter!, lt, le);
  // Stopping: a file stops reading; a live capture stops capturing, and what it captured before is
  // still delivered (the capture process closes its stream after the last frame).
  const stop = () => {
    if (capture !== null) capture.stop();
    else pipeline.stop();
  };
  dispatcher.limit = config.count;
  dispatcher.onLimit = () => {
    capture?.stop();
    pipeline.stop();
  };
  signal?.addEventListener("abort", stop);
  if (signal?.aborted) stop();
  const durationTimer = config.duration ? setTimeout(stop, config.duration * 1000) : null;
  const watcher = config.watch ? new PluginWatcher(plugins, config.pluginDirs, config.options, io.stderr) : null;

  // A large regular file is read and parsed by a reader thread, which keeps the read's copy and the
  // parse off the dispatching thread; a small one is read here, as starting that thread would cost
  // more than it saves. stdin and a live capture's stream are read here too (as streams).
  const source =
    capture !== null
      ? new FileSource(capture.bytes, pipeline, `live capture on ${iface}`, { flushEachRead: false })
      : config.read !== "-" && fileSize(config.read!) >= kReaderThreadBytes
        ? new ThreadedFileSource(config.read!, pipeline)
        : new FileSource(config.read!, pipeline);
  // Threads start before the clock: a file's rate is measured from its first read; a live capture's
  // duration from when it opened.
  await Promise.all([pool.warmUp(), source instanceof ThreadedFileSource ? source.start() : undefined]);
  if (!live) started = performance.now();
  // CPU is counted over the same span as `elapsed` (start-up and teardown left out).
  const cpuAtStart = { process: processCpuSeconds(), main: threadCpuSeconds() };
  let cpuAtEnd = cpuAtStart;
  const progress = io.progress && !live ? startProgress(source, dispatcher, started) : null;
  // Live traffic may trickle: decode what arrived even when a batch is not full.
  if (live) pipeline.partialFlushMs = kLiveFlushMs;
  const periodic = config.statsInterval ? startPeriodicStats(config, stats, pool, ring, io) : null;
  let status = 0;
  let failure: unknown = null;
  try {
    await source.run();
  } catch (err) {
    failure = err;
  }
  capture?.stop();
  capture?.discardRest?.();
  try {
    await pipeline.drain();
  } catch (err) {
    failure ??= err;
  }
  // With -c, damage the reader found past the last packet wanted is not this run's concern (tcpdump
  // does not read that far either): every packet asked for was whole.
  if (failure instanceof CaptureFileError && dispatcher.limitReached) failure = null;
  if (capture !== null) await Promise.race([capture.done, new Promise((r) => setTimeout(r, 2000))]);
  // A capture process that died also leaves its stream cut mid-record: the death is the news.
  if (capture?.failure && (failure === null || failure instanceof CaptureFileError)) failure = new Error(capture.failure);
  if (durationTimer !== null) clearTimeout(durationTimer);
  if (periodic !== null) clearInterval(periodic);
  progress?.stop();
  watcher?.close();
  analyzer.finish();
  ended = performance.now();
  cpuAtEnd = { process: processCpuSeconds(), main: threadCpuSeconds() };
  await io.beforeTeardown?.();
  await plugins.teardownAll();
  out.flush();
  writer?.close();
  await pool.close();
  for (const line of leftOutWarnings(dispatcher.stats, writer)) io.stderr(line);
  if (failure !== null) {
    if (failure instanceof UsageError) throw failure;
    status = 1;
    io.stderr(`host: ${failure instanceof CaptureFileError ? failure.message : errorText(failure)}`);
  }
  // A plugin's output file that could not be written (its plugin said so then): output was lost.
  if (plugins.lostOutputs > 0) status = 1;
  if (config.stats) {
    const s: RunStats = {
      ...stats(),
      cpu: {
        total: cpuAtEnd.process - cpuAtStart.process,
        main: cpuAtEnd.main - cpuAtStart.main,
        reader: source instanceof ThreadedFileSource ? source.cpuSeconds : null,
        decode: pool.cpuSeconds(),
      },
    };
    if (config.format === "json") io.stderr(JSON.stringify(statsJson(s)));
    else for (const line of statsText(s)) io.stderr(line);
  }
  return status;
}

/**
 * What the run counted but left out, said once at the end (tcpdump refuses both cases): frames of a
 * link type the decoders do not know, and frames -w could not write because a pcap file has one
 * link type (a pcapng input that mixes interfaces).
 */
function leftOutWarnings(st: DispatchStats, writer: PcapFileWriter | null): string[] {
  const lines: string[] = [];
  if (st.unsupported > 0) {
    const first = st.unsupported > 1 ? `the first one's is ${st.unsupportedLinkType}` : `it is ${st.unsupportedLinkType}`;
    lines.push(`host: warning: ${st.unsupported} frame(s) were counted but not decoded: their link type (${first}) is not one the host decodes: ${decodedLinkTypes}`);
  }
  if (writer !== null && writer.skipped > 0) {
    lines.push(
      `host: warning: -w ${writer.path}: ${writer.skipped} frame(s) left out: their link type is not the first frame's (${writer.linkType}), ` +
        `and a pcap file has one; read the input itself, or split it by interface first (tshark -r IN -Y frame.interface_id==N -w OUT)`,
    );
  }
  return lines;
}

/** Size of a regular file, 0 for anything else (a pipe, a device, a missing file). */
function fileSize(path: string): number {
  try {
    const st = statSync(path);
    return st.isFile() ? st.size : 0;
  } catch {
    return 0;
  }
}

/** The counters a plugin sees through `ctx.stats()`. */
function snapshot(s: RunStats): RunStatsSnapshot {
  return {
    packets: s.packets,
    bytes: s.bytes,
    malformed: s.malformed,
    unsupported: s.unsupported,
    dropped: s.dropped,
    filtered: s.filtered,
    elapsed: Number(s.elapsed.toFixed(3)),
  };
}

/**
 * Turns a live-capture failure into what the user reads: what went wrong (libpcap's words) and what
 * to do. A bad filter is a usage error (exit 2), like tcpdump; the others end the run with status 1.
 */
function liveError(iface: string | null, filter: string | null): (err: unknown) => Promise<never> {
  return async (err) => {
    if (!(err instanceof LiveCaptureError)) throw err;
    switch (err.kind) {
      case "filter":
        throw new UsageError(`Bad filter '${filter}': ${err.message}`);
      case "cap-missing":
        // On Deno the message already says what to install (libpcap itself, no addon).
        if (isDeno) throw new Error(`${err.message}. Reading files with -r works without it.`);
        throw new Error(
          `Live capture needs the "cap" addon, which is not built here (${err.message}). ` +
            "Install libpcap's headers and rebuild it: apt-get install libpcap-dev (as root), then npm rebuild cap. " +
            "Reading files with -r works without it.",
        );
      case "permission": {
        const runtime = isDeno ? "deno" : "node";
        throw new Error(
          `No permission to capture on ${iface}: ${err.message}. Run as root, or let ${runtime} capture: ` +
            `sudo setcap cap_net_raw,cap_net_admin=eip "$(readlink -f "$(command -v ${runtime})")"`,
        );
      }
      case "no-device": {
        const names = (await listInterfaces().catch(() => [])).map((i) => i.name);
        throw new Error(`No such interface "${iface}" (${err.message}): available interfaces are ${names.join(", ") || "none"}`);
      }
      default:
        throw new Error(`Cannot capture on ${iface}: ${err.message}`);
    }
  };
}

/** Gives up root for the rest of the run (the capture process already did, after opening the device). */
function dropPrivileges(user: CaptureUser, io: RunIo): void {
  // Deno has setuid but no initgroups: root's supplementary groups would stay, so the Deno capture
  // says -Z is not supported rather than drop halfway (deno-live-capture.ts prints the notice).
  if (isDeno) return;
  if (typeof process.setuid !== "function") {
    io.stderr(`host: -Z: this platform cannot change the user; the host keeps the privileges it started with`);
    return;
  }
  try {
    // initgroups is POSIX-only and missing from some type definitions.
    (process as { initgroups?: (user: string, group: number) => void }).initgroups?.(user.name, user.gid);
    process.setgid?.(user.gid);
    process.setuid(user.uid);
  } catch (err) {
    throw new Error(`Cannot switch to user ${user.name}: ${errorText(err)}`);
  }
}

/** Prints "  42%  1234567 packets  2.31M pkt/s" on the terminal while a file is read. */
function startProgress(source: { progress: ReadProgress }, dispatcher: Dispatcher, started: number): { stop(): void } {
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

/**
 * `--stats-interval`: a line every few seconds with what was received, dropped and decoded since the
 * start, how full the ring is, and the pool's size and load (which shows `--workers auto` at work).
 */
function startPeriodicStats(
  config: RunConfig,
  stats: () => RunStats,
  pool: DecodePool,
  ring: FrameRing,
  io: RunIo,
): ReturnType<typeof setInterval> {
  let lastTasks = new Map<number, number>();
  return setInterval(() => {
    const s = stats();
    const tasks = new Map(pool.tasksByThread);
    const load: Record<string, number> = {};
    for (const [thread, n] of tasks) load[thread] = n - (lastTasks.get(thread) ?? 0);
    lastTasks = tasks;
    const line = {
      type: "stats-interval",
      elapsed: Number(s.elapsed.toFixed(3)),
      received: s.received,
      dropped: s.dropped,
      decoded: s.packets,
      ring: Number((ring.inFlight / ring.slotCount).toFixed(3)),
      workers: pool.threads,
      queued_tasks: pool.queued,
      tasks_per_worker: load,
    };
    if (config.format === "json") io.stderr(JSON.stringify(line));
    else {
      const per = Object.entries(load).map(([t, n]) => `${t}:${n}`).join(" ");
      io.stderr(
        `[${line.elapsed.toFixed(1)}s] received ${line.received} dropped ${line.dropped} decoded ${line.decoded} ring ${(line.ring * 100).toFixed(0)}% workers ${line.workers} (tasks ${per || "-"})`,
      );
    }
  }, (config.statsInterval ?? 1) * 1000);
}
