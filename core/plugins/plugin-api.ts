/**
 * The plugin API: what a plugin module imports. Nothing here depends on a runtime, so a plugin that
 * imports only this module (and web-standard globals) runs unchanged on Node.js and on Deno.
 *
 * @example
 * import { definePlugin } from "../core/plugins/plugin-api.ts";
 *
 * export default definePlugin({
 *   name: "syn-counter",
 *   description: "Counts TCP SYN segments",
 *   options: { every: { type: "number", default: 1000, description: "report every N SYNs" } },
 *   setup(ctx) {
 *     let syns = 0;
 *     ctx.on("tcp", (seg) => {
 *       if (seg.flags === 0x02 && ++syns % ctx.options.every === 0) ctx.out.line(`${syns} SYNs`);
 *     });
 *     ctx.onTeardown(() => ctx.out.line(`${syns} SYNs in all`));
 *   },
 * });
 */
import type { appEventNames, EventName, HostEvents } from "../events.ts";

export type * from "../events.ts";

/** The value types an option can have. `list` is a comma-separated list of strings. */
export type OptionType = "string" | "number" | "boolean" | "list";

/** The TypeScript type of an option's value. */
export type OptionValue<T extends OptionType> = T extends "number"
  ? number
  : T extends "boolean"
    ? boolean
    : T extends "list"
      ? string[]
      : string;

/** Declaration of one option: `-o plugin.key=value` on the command line. */
export interface OptionSpec<T extends OptionType = OptionType> {
  type: T;
  default: OptionValue<T>;
  description: string;
}

/** An option of any type, its default of that type (a union per type, so `{ type: "number", default: "10" }` is an error). */
export type AnyOptionSpec = { [T in OptionType]: OptionSpec<T> }[OptionType];

/** The options a plugin declares, by key. */
export type OptionSpecs = Record<string, AnyOptionSpec>;

/** Parsed option values, typed from their declarations. */
export type OptionValues<O extends OptionSpecs> = { readonly [K in keyof O]: OptionValue<O[K]["type"]> };

/** Writes lines of output (stdout, or a file the plugin opened). */
export interface OutputWriter {
  /** Writes one line (a newline is added). */
  line(text: string): void;
  /** Writes one JSON object as a line. */
  json(value: unknown): void;
}

/** Messages to stderr, prefixed with the plugin's name. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A TCP connection accepted by `ctx.listen`, as web streams. */
export interface TcpConnection {
  /** "address:port" of the peer. */
  readonly remote: string;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Closes both directions at once. */
  close(): void;
}

/** A listening TCP server. */
export interface TcpListener {
  readonly host: string;
  readonly port: number;
  /** Stops accepting; open connections stay open. */
  close(): Promise<void>;
}

/** A handle of a managed timer. */
export type TimerId = number;

/** Statistics of the run so far (what `--stats` prints at the end). */
export interface RunStatsSnapshot {
  packets: number;
  bytes: number;
  malformed: number;
  unsupported: number;
  dropped: number;
  filtered: number;
  elapsed: number;
}

/** The built-in events whose names have a dot: the host's own, which no plugin may emit. */
type BuiltinDottedEvent = Extract<(typeof appEventNames)[number], `${string}.${string}`>;

/** Events a plugin may emit: those of the event map whose name starts with "<plugin name>.". */
export type OwnEventName = Exclude<Extract<EventName, `${string}.${string}`>, BuiltinDottedEvent>;

/** What the host gives a plugin's `setup`. */
export interface PluginContext<O extends OptionSpecs = OptionSpecs> {
  /** The plugin's name. */
  readonly name: string;
  /** Option values: defaults overridden by `-o name.key=value`. */
  readonly options: OptionValues<O>;
  /** `--format`: "text" for people, "json" for one JSON object per line. */
  readonly format: "text" | "json";
  /** True for live capture, false when reading a file. */
  readonly live: boolean;
  /**
   * Host version; the events known now (built-in ones and those plugins emitted or declared); and
   * whether a name can be subscribed to: a known event, or "<plugin>.<event>" of a plugin (which may
   * start emitting later) outside the built-in namespaces, so that "http.requests" is refused.
   */
  readonly host: { readonly version: string; events(): string[]; accepts(name: string): boolean };
  /** Subscribes to an event. The host catches what the handler throws (or an async handler rejects). */
  on<K extends EventName>(event: K, handler: (ev: HostEvents[K]) => unknown): void;
  /** Unsubscribes a handler given to `on`. */
  off<K extends EventName>(event: K, handler: (ev: HostEvents[K]) => unknown): void;
  /** Emits an event of this plugin's own, named "<plugin name>.<something>", to the plugins that listen. */
  emit<K extends OwnEventName>(event: K, payload: HostEvents[K]): void;
  /** stdout, shared by every plugin in line order. */
  readonly out: OutputWriter;
  /**
   * Opens a file for output, closed at teardown: created or truncated, except that a file already
   * opened in this run (by this plugin before a reload, or another plugin) is appended to. The capture
   * being read (-r) or written (-w) is refused.
   */
  openOutput(path: string): Promise<OutputWriter>;
  readonly log: Logger;
  /** Timers cleared automatically at teardown. */
  setTimeout(fn: () => void, ms: number): TimerId;
  setInterval(fn: () => void, ms: number): TimerId;
  clearTimer(id: TimerId): void;
  /** Runs at the end of the run (or when the plugin is unloaded), within the teardown time limit. */
  onTeardown(fn: () => void | Promise<void>): void;
  /** Opens a TCP server (host capability: Node's net or Deno.listen, behind the same interface). */
  listen(options: { host: string; port: number }, onConnection: (conn: TcpConnection) => void): Promise<TcpListener>;
  /** Delays the start of capture until `ready` settles (e.g. until clients have connected). */
  holdStart(ready: Promise<unknown>): void;
  /** Statistics of the run so far. */
  stats(): RunStatsSnapshot;
  /**
   * Refuses the plugin's configuration (an option value that makes no sense): thrown from `setup`,
   * the run stops before capture with this message and exit status 2, like any usage error.
   */
  fail(message: string): never;
}

/** A plugin module's default export. */
export interface PluginDefinition<O extends OptionSpecs = OptionSpecs> {
  /** The name `--plugins` uses; must match the file name. */
  name: string;
  /** One line for `--list-plugins`. */
  description: string;
  options?: O;
  setup(ctx: PluginContext<O>): void | Promise<void>;
}

/**
 * Declares a plugin with typed options: `ctx.options` takes its types from `options`.
 * Returns its argument; the helper exists for the types.
 */
export function definePlugin<const O extends OptionSpecs = {}>(definition: PluginDefinition<O>): PluginDefinition<O> {
  return definition;
}

/**
 * The JSON record of an event: `{"type": name, ...fields}`, from the event's own `toJSON()` when it
 * has one (layer views, flows, application events) or the payload itself (plugin events). The one
 * JSON form every output uses, so that event-log and the socket server write the same lines.
 * `type` is always the event's name, which consumers route records by: a field of the same name in
 * the payload does not replace it.
 */
export function eventRecord(name: string, ev: unknown): Record<string, unknown> {
  const body =
    ev !== null && typeof ev === "object" && typeof (ev as { toJSON?: unknown }).toJSON === "function"
      ? (ev as { toJSON(): Record<string, unknown> }).toJSON()
      : (ev as Record<string, unknown>);
  const record: Record<string, unknown> = { type: name, ...body };
  record.type = name;
  return record;
}

/** TCP flag bits for `TcpEvent.flags`. */
export const TcpFlags = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
  NS: 0x100,
} as const;
