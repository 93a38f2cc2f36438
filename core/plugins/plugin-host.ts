import { closeSync, openSync, writeSync } from "node:fs";
import { basename, dirname, sep } from "node:path";
import { pathToFileURL } from "node:url";
import type { EventBus } from "../event-bus.ts";
import { builtinEventNames, type EventName, type HostEvents } from "../events.ts";
import { BufferedLineWriter } from "../output.ts";
import type { HostRuntime } from "../runtime/host-runtime.ts";
import type {
  Logger,
  OutputWriter,
  PluginContext,
  PluginDefinition,
  RunStatsSnapshot,
  TcpListener,
  TimerId,
} from "./plugin-api.ts";
import { builtinImportsIn } from "./builtin-imports.ts";
import { HandlerWatch } from "./handler-watch.ts";
import { errorText, importPlugin, loadedAsCommonJs, pluginSources, type PluginFile, withTimeout } from "./plugin-loader.ts";
import { isDeno } from "../runtime/host-runtime.ts";
import { resolvePluginOptions } from "./plugin-options.ts";
import { fdKey, fileKey, sameFile } from "../same-file.ts";
import { UsageError } from "../usage-error.ts";

/** What `ctx.fail` throws: a configuration the plugin refuses. */
class PluginConfigError extends Error {}

/** Settings shared by every plugin of a run. */
export interface PluginHostOptions {
  format: "text" | "json";
  live: boolean;
  version: string;
  /** Errors after which a plugin is disabled. */
  maxErrors: number;
  /** How long a teardown may take before it is abandoned, in milliseconds. */
  teardownMs: number;
  /** How long a setup may take before the run fails, in milliseconds (default kSetupTimeoutMs). */
  setupMs?: number;
  /** stdout, shared by all plugins. */
  out: OutputWriter;
  /** Writes one line to stderr. */
  stderr: (line: string) => void;
  runtime: HostRuntime;
  stats: () => RunStatsSnapshot;
  /** Files the run reads or writes itself (-r, -w), which openOutput refuses with `why`. */
  captureFiles?: ReadonlyArray<{ path: string; why: string }>;
}

/** Time and error accounting of one plugin, for `--stats`. */
export interface PluginStats {
  name: string;
  /** Handler calls. */
  calls: number;
  /** Estimated milliseconds spent in handlers (past its first 256 calls, a handler is timed one call in 16). */
  ms: number;
  errors: number;
  disabled: boolean;
}

/** "flow", "http", "tls": the prefixes of built-in dotted events, which no plugin may use. */
const builtinNamespaces = new Set(builtinEventNames.filter((n) => n.includes(".")).map((n) => n.slice(0, n.indexOf("."))));
/**
 * A handler's first kExactCalls calls are each timed; after that one call in kSampleEvery is, and
 * counts for the calls since the last one timed: timing every call (two clock reads) cost more than
 * most handlers, per-packet ones and those of a busy link's HTTP messages alike.
 */
const kExactCalls = 256;
const kSampleEvery = 16;

/** A loaded plugin and everything it holds, so that unloading can undo all of it. */
class PluginInstance {
  readonly subscriptions: Array<[string, (ev: unknown) => void]> = [];
  readonly timers = new Map<TimerId, ReturnType<typeof setTimeout>>();
  readonly teardowns: Array<() => void | Promise<void>> = [];
  readonly outputs: Array<{ writer: BufferedLineWriter; fd: number }> = [];
  readonly listeners: TcpListener[] = [];
  calls = 0;
  ms = 0;
  errors = 0;
  disabled = false;
  /** The number its handler calls are marked with in the HandlerWatch (set when it starts). */
  watchId = 0;
  /** How the plugin's own code appears in stack traces (see ownCode). */
  readonly code: OwnCode;
  constructor(
    readonly file: PluginFile,
    readonly def: PluginDefinition,
    readonly generation: number,
    readonly values: Record<string, unknown>,
  ) {
    this.code = ownCode(file.path);
  }
  get name(): string {
    return this.def.name;
  }
}

/**
 * Plugin hosts of this process's latest runs, newest last (see chargeStrayError). Kept after a run
 * ends: a plugin's own timer may still fire then, and it is still that plugin's error, not the host's.
 * A process that runs many times (the tests) keeps the last few.
 */
const running = new Set<PluginHost>();
const kRunsKept = 8;

/**
 * Charges an error that surfaced outside any call the host made (an unhandled rejection, an uncaught
 * exception) to the plugin whose file its stack names, in any run of this process. False when no
 * plugin's file is named: the caller decides what such an error means.
 */
export function chargeStrayError(err: unknown, what: string): boolean {
  // Newest first: the same plugin file may have been loaded by an earlier run in this process.
  for (const host of [...running].reverse()) if (host.stray(err, what)) return true;
  return false;
}

/**
 * Loads plugins, gives each its context, and keeps each one's faults to itself.
 *
 * Every handler runs inside a wrapper that catches what it throws (and what its promise rejects
 * with), logs the first error with the plugin's name and the event, counts the rest, and disables the
 * plugin after `maxErrors`. The wrapper also estimates the time spent in the plugin.
 */
export class PluginHost {
  private readonly instances = new Map<string, PluginInstance>();
  /** The latest instance of every plugin ever started, for statistics after teardown. */
  private readonly latest = new Map<string, PluginInstance>();
  /** Output files opened in this run, by device and inode (see openOutput). */
  private readonly opened = new Set<string>();
  /** Plugin output files a write failed on (see openOutput): their output is lost, and the run fails. */
  lostOutputs = 0;
  private readonly holds: Promise<unknown>[] = [];
  private readonly emitted = new Set<string>();
  private nextTimer = 1;
  /** Which plugin's handler runs, for the decode workers to tell when one never returns. */
  readonly watch = new HandlerWatch();

  constructor(
    private readonly bus: EventBus,
    private readonly options: PluginHostOptions,
  ) {
    running.add(this);
    if (running.size > kRunsKept) running.delete(running.values().next().value!);
  }

  /** Names of loaded plugins, in load order. */
  get names(): string[] {
    return [...this.instances.keys()];
  }

  /** True when plugin `name` is loaded. */
  has(name: string): boolean {
    return this.instances.has(name);
  }

  /** Every event a client or plugin can subscribe to now: built-in ones and those plugins emit or declare. */
  eventNames(): string[] {
    return [...new Set([...builtinEventNames, ...this.emitted])];
  }

  /** True when `name` is a known event, or a plugin event ("<plugin>.<event>") outside the built-in namespaces. */
  acceptsEvent(name: string): boolean {
    if ((builtinEventNames as readonly string[]).includes(name) || this.emitted.has(name)) return true;
    const dot = name.indexOf(".");
    return dot > 0 && !builtinNamespaces.has(name.slice(0, dot)) && /^[A-Za-z0-9][A-Za-z0-9_-]*\.[A-Za-z0-9_.-]+$/.test(name);
  }

  /**
   * Imports the plugin in `file` and checks `rawOptions` against what it declares, without starting
   * it: a run checks every plugin so before starting any, so that a mistyped `-o` or a file that does
   * not load ends the run before plugins print anything. Throws what `load` would.
   */
  async check(file: PluginFile, rawOptions: ReadonlyMap<string, string> | undefined): Promise<void> {
    const def = await importPlugin(file, 0, this.options.setupMs);
    resolvePluginOptions(def.name, def.options, rawOptions);
  }

  /** Imports, configures and starts the plugin in `file`. Throws (and loads nothing) when any step fails. */
  async load(file: PluginFile, rawOptions: ReadonlyMap<string, string> | undefined, generation = 0): Promise<void> {
    const def = await importPlugin(file, generation, this.options.setupMs);
    const values = resolvePluginOptions(def.name, def.options, rawOptions);
    this.warnNotPortable(file);
    await this.start(new PluginInstance(file, def, generation, values));
  }

  /**
   * Warns about what would keep a plugin from running unchanged elsewhere: on Deno, a file Node would
   * refuse (see loadedAsCommonJs); everywhere, imports of a runtime's built-in modules (see
   * builtinImportsIn).
   */
  private warnNotPortable(file: PluginFile): void {
    const commonJs = isDeno ? loadedAsCommonJs(file) : null;
    if (commonJs !== null) this.options.stderr(`[${file.name}] would not load on Node.js: ${commonJs}`);
    const found: string[] = [];
    for (const [path, source] of pluginSources(file)) {
      for (const i of builtinImportsIn(source)) found.push(`${i.specifier} (at ${path}:${i.line})`);
    }
    if (found.length === 0) return;
    const bare = found.some((f) => !f.startsWith("node:"));
    this.options.stderr(
      `[${file.name}] imports ${found.join(", ")}: a plugin should use web-standard APIs and what ctx hands it ` +
        `(ctx.openOutput for files, ctx.listen for a TCP server), so that the same file runs on Node.js, Deno and edge runtimes` +
        `${bare ? " (Deno wants the node: prefix)" : ""}; it is loaded anyway`,
    );
  }

  /**
   * Replaces a loaded plugin with a new import of its file: the new module is imported and checked
   * first, so a file that fails to load leaves the running instance in place (and the error is thrown).
   */
  async reload(file: PluginFile, rawOptions: ReadonlyMap<string, string> | undefined, generation: number): Promise<void> {
    const def = await importPlugin(file, generation, this.options.setupMs);
    const values = resolvePluginOptions(def.name, def.options, rawOptions);
    this.warnNotPortable(file);
    const old = this.instances.get(file.name);
    await this.unload(file.name);
    try {
      await this.start(new PluginInstance(file, def, generation, values));
    } catch (err) {
      // The new version failed in setup: bring the previous definition back (with fresh state).
      if (old !== undefined) await this.start(new PluginInstance(old.file, old.def, old.generation, old.values));
      throw err;
    }
  }

  /** Unloads plugin `name`: unsubscribes it, clears its timers, runs its teardown hooks. */
  async unload(name: string): Promise<void> {
    const p = this.instances.get(name);
    if (p === undefined) return;
    this.instances.delete(name);
    await this.stop(p);
  }

  /** Runs every plugin's teardown (end of the run), each within the time limit. */
  async teardownAll(): Promise<void> {
    // One turn of the event loop first: a rejection a plugin dropped in the last packets, or a timer of
    // its own that throws at once, is charged to it before the teardowns and the stats.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const all = [...this.instances.values()];
    this.instances.clear();
    for (const p of all) await this.stop(p);
  }

  /** Resolves when every `ctx.holdStart` promise has settled. */
  async ready(): Promise<void> {
    await Promise.allSettled(this.holds);
  }

  /**
   * An error that no handler's call returned: a promise a plugin dropped (`void p`, a callback that
   * rejects), or a throw in a callback the host did not make (a global `setTimeout`, a stream's
   * listener). It is charged to the plugin whose file its stack names, as if a handler had thrown
   * (`--max-plugin-errors` applies); false when its stack names no plugin's file.
   */
  stray(err: unknown, what: string): boolean {
    const stack = stackOf(err);
    if (stack === "") return false;
    for (const p of this.latest.values()) {
      if (p.code.prefixes.some((prefix) => stack.includes(prefix))) {
        this.fault(p, what, err);
        return true;
      }
    }
    return false;
  }

  /** Per-plugin time and errors. */
  stats(): PluginStats[] {
    return [...this.latest.values()].map((p) => ({
      name: p.name,
      calls: p.calls,
      ms: p.ms,
      errors: p.errors,
      disabled: p.disabled,
    }));
  }

  private async start(p: PluginInstance): Promise<void> {
    p.watchId = this.watch.register(p.name);
    const ctx = this.context(p, p.values);
    this.instances.set(p.name, p);
    this.latest.set(p.name, p);
    try {
      // The timer also keeps the process alive: without it, a setup awaiting a promise that can never
      // settle would let Node exit at once (status 13), silently.
      const setupMs = this.options.setupMs ?? kSetupTimeoutMs;
      const outcome = await withTimeout(Promise.resolve().then(() => p.def.setup(ctx)), setupMs);
      if (outcome === "timeout") {
        throw new Error(`setup did not finish within ${setupMs / 1000} s: it awaits something that does not come (use ctx.holdStart for what may take long)`);
      }
      if (outcome !== undefined) throw outcome;
    } catch (err) {
      this.instances.delete(p.name);
      this.latest.delete(p.name);
      // A setup abandoned at its time limit may still be running: what it does from now on is refused.
      p.disabled = true;
      await this.stop(p);
      if (err instanceof PluginConfigError || err instanceof UsageError) throw new UsageError(`Plugin ${p.name}: ${err.message}`);
      throw new Error(`Plugin ${p.name} failed to start: ${errorText(err)}${placeIn(err, p.code)}`);
    }
  }

  private async stop(p: PluginInstance): Promise<void> {
    for (const [event, fn] of p.subscriptions) this.bus.off(event as EventName, fn);
    p.subscriptions.length = 0;
    for (const t of p.timers.values()) clearTimeout(t);
    p.timers.clear();
    for (const fn of p.teardowns) {
      const outcome = await withTimeout(Promise.resolve().then(fn), this.options.teardownMs);
      if (outcome === "timeout") {
        this.warn(p, `teardown did not finish within ${this.options.teardownMs} ms and was abandoned`);
      } else if (outcome instanceof Error) {
        this.warn(p, `teardown failed: ${errorText(outcome)}${placeIn(outcome, p.code)}`);
      }
    }
    p.teardowns.length = 0;
    for (const l of p.listeners) await l.close().catch(() => {});
    for (const o of p.outputs) {
      o.writer.flush();
      closeSync(o.fd);
    }
    p.outputs.length = 0;
  }

  private fault(p: PluginInstance, where: string, err: unknown): void {
    p.errors++;
    if (p.errors === 1) this.warn(p, `${where} threw: ${errorText(err)}${placeIn(err, p.code)}`);
    if (p.errors >= this.options.maxErrors && !p.disabled) {
      p.disabled = true;
      for (const [event, fn] of p.subscriptions) this.bus.off(event as EventName, fn);
      p.subscriptions.length = 0;
      for (const t of p.timers.values()) clearTimeout(t);
      p.timers.clear();
      this.warn(p, `disabled after ${p.errors} errors; the other plugins go on`);
    }
  }

  private warn(p: PluginInstance, message: string): void {
    this.options.stderr(`[${p.name}] ${message}`);
  }

  /** Wraps a handler: isolation (throws and rejections), and time accounting. */
  private wrap(p: PluginInstance, event: string, handler: (ev: unknown) => unknown): (ev: unknown) => void {
    const where = `handler for "${event}"`;
    const onReject = (err: unknown) => this.fault(p, where, err);
    const watch = this.watch;
    let calls = 0;
    return (ev: unknown) => {
      if (p.disabled) return;
      p.calls++;
      const n = ++calls;
      const scale = n <= kExactCalls ? 1 : (n & (kSampleEvery - 1)) === 0 ? kSampleEvery : 0;
      const t0 = scale !== 0 ? performance.now() : 0;
      const outer = watch.enter(p.watchId);
      try {
        const r = handler(ev) as { then?: unknown } | undefined;
        if (r != null && typeof r.then === "function") (r as Promise<unknown>).then(undefined, onReject);
      } catch (err) {
        this.fault(p, where, err);
      } finally {
        watch.leave(outer);
      }
      if (scale !== 0) p.ms += (performance.now() - t0) * scale;
    };
  }

  private context(p: PluginInstance, values: Record<string, unknown>): PluginContext {
    const host = this;
    const opts = this.options;
    const log: Logger = {
      info: (m) => opts.stderr(`[${p.name}] ${m}`),
      warn: (m) => opts.stderr(`[${p.name}] warning: ${m}`),
      error: (m) => opts.stderr(`[${p.name}] error: ${m}`),
    };
    const timer = (fn: () => void, ms: number, repeat: boolean): TimerId => {
      const id = host.nextTimer++;
      const run = () => {
        if (!repeat) p.timers.delete(id);
        if (p.disabled) return;
        const outer = host.watch.enter(p.watchId);
        try {
          fn();
        } catch (err) {
          host.fault(p, "timer", err);
        } finally {
          host.watch.leave(outer);
        }
      };
      if (!p.disabled) p.timers.set(id, repeat ? setInterval(run, ms) : setTimeout(run, ms));
      return id;
    };
    const handlers = new Map<(ev: never) => unknown, (ev: unknown) => void>();
    return {
      name: p.name,
      options: values as PluginContext["options"],
      format: opts.format,
      live: opts.live,
      host: { version: opts.version, events: () => host.eventNames(), accepts: (name) => host.acceptsEvent(name) },
      on(event, handler) {
        if (p.disabled) return;
        // TypeScript catches a misspelt event; a JavaScript plugin would wait for it in silence.
        if (!host.acceptsEvent(event)) host.warn(p, `listens to "${event}", which the host never emits${closestEvent(event, host.eventNames())}`);
        const wrapped = host.wrap(p, event, handler as (ev: unknown) => unknown);
        handlers.set(handler, wrapped);
        p.subscriptions.push([event, wrapped]);
        host.bus.on(event, wrapped);
      },
      off(event, handler) {
        const wrapped = handlers.get(handler);
        if (wrapped === undefined) return;
        handlers.delete(handler);
        const i = p.subscriptions.findIndex(([e, fn]) => e === event && fn === wrapped);
        if (i >= 0) p.subscriptions.splice(i, 1);
        host.bus.off(event, wrapped);
      },
      emit(event, payload) {
        const name: string = event;
        if (!name.startsWith(`${p.name}.`)) {
          throw new TypeError(`Plugin ${p.name} may only emit events named "${p.name}.<event>", not "${event}"`);
        }
        host.emitted.add(event);
        host.bus.emit(event, payload as HostEvents[typeof event]);
      },
      out: opts.out,
      async openOutput(path) {
        if (p.disabled) throw new Error(`Cannot open ${path}: plugin ${p.name} is stopped`);
        const taken = opts.captureFiles?.find((f) => sameFile(f.path, path));
        if (taken !== undefined) throw new Error(`Cannot open ${path} for writing: it is ${taken.why}; choose another file`);
        // A file opened again in the same run (a reloaded plugin, two plugins) is not truncated again:
        // what was written before stays. Every handle appends (O_APPEND), so that two writers of one
        // file interleave whole writes instead of overwriting each other at their own offsets.
        const first = !host.opened.has(fileKey(path));
        let fd: number;
        try {
          // Truncating and appending in one open is refused by Deno (append excludes truncate there).
          if (first) closeSync(openSync(path, "w"));
          fd = openSync(path, "a");
        } catch (err) {
          throw new Error(`Cannot open ${path} for writing: ${errorText(err)}`);
        }
        host.opened.add(fdKey(fd));
        // A write that fails (a full disk) loses that file's output from there on: said once, and the
        // run ends with status 1; the plugin and the others go on.
        const writer: BufferedLineWriter = new BufferedLineWriter((chunk) => {
          try {
            writeSync(fd, chunk);
          } catch (err) {
            writer.close();
            host.lostOutputs++;
            host.warn(p, `cannot write ${path}: ${errorText(err)}; what it would have written there from now on is lost`);
          }
        });
        p.outputs.push({ writer, fd });
        return writer;
      },
      log,
      setTimeout: (fn, ms) => timer(fn, ms, false),
      setInterval: (fn, ms) => timer(fn, ms, true),
      clearTimer(id) {
        const t = p.timers.get(id);
        if (t !== undefined) clearTimeout(t);
        p.timers.delete(id);
      },
      onTeardown(fn) {
        p.teardowns.push(fn);
      },
      async listen(options, onConnection) {
        const l = await opts.runtime.listen(options, (conn) => {
          try {
            onConnection(conn);
          } catch (err) {
            host.fault(p, "connection handler", err);
          }
        });
        if (p.disabled) {
          // Stopped while the socket was being opened (see start): nothing would ever close it.
          await l.close();
          throw new Error(`Plugin ${p.name} is stopped`);
        }
        p.listeners.push(l);
        return l;
      },
      holdStart(ready) {
        // Handled here and now: a promise that is already rejected must not reach Node as unhandled.
        host.holds.push(
          Promise.resolve(ready).then(
            () => {},
            (err: unknown) => host.warn(p, `the promise given to holdStart was rejected (${errorText(err)}); the capture starts anyway`),
          ),
        );
      },
      stats: () => opts.stats(),
      fail(message: string): never {
        throw new PluginConfigError(message);
      },
    };
  }
}

/** ` (did you mean "dns"?)` for a name a letter or two away from a known event, else "". */
function closestEvent(name: string, known: readonly string[]): string {
  let best = "";
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best === "" ? ": see the event list in the README" : ` (did you mean "${best}"?)`;
}

/** Levenshtein distance between two short strings. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** How long a plugin's setup may take (setup should only subscribe and open things). */
const kSetupTimeoutMs = 30_000;

/**
 * A plugin's own code as stack traces show it: its file, or for a folder plugin (`name/index.ts`) all
 * of its folder; as a path (TypeScript through the loader) and as a file URL (JavaScript modules,
 * where a space is %20). `shown` is what an error message names.
 */
interface OwnCode {
  readonly prefixes: readonly string[];
  readonly shown: string;
}

function ownCode(path: string): OwnCode {
  const folder = /^index\.[^/\\]+$/.test(basename(path)) ? dirname(path) : null;
  if (folder === null) return { prefixes: [path, pathToFileURL(path).href], shown: path };
  return { prefixes: [folder + sep, pathToFileURL(folder).href + "/"], shown: folder + sep };
}

/**
 * ` (at /path/plugin.ts:12:5)`: where in the plugin's own code an error was raised (the innermost
 * frame there; TypeScript lines, through source maps), or "" when its stack does not pass through it.
 */
/** The stack of an error, or "" (also when reading it throws: a plugin may throw anything). */
function stackOf(err: unknown): string {
  try {
    return err instanceof Error && typeof err.stack === "string" ? err.stack : "";
  } catch {
    return "";
  }
}

function placeIn(err: unknown, code: OwnCode): string {
  const stack = stackOf(err);
  for (const line of stack.split("\n")) {
    for (const prefix of code.prefixes) {
      const at = line.indexOf(prefix);
      if (at < 0) continue;
      // After the prefix: ":line:col" for a file, "helper.ts:line:col" in a folder plugin.
      const rest = /^[^:)]*:\d+:\d+/.exec(line.slice(at + prefix.length));
      if (rest !== null) return ` (at ${code.shown}${prefix === code.prefixes[0] ? rest[0] : decodeURIComponent(rest[0])})`;
    }
  }
  return "";
}

export { errorText };

