/**
 * The `host` command: parses the command line (node:util parseArgs), then runs the host.
 * Exit status: 0 done, 1 damaged input or a failure during the run, 2 usage error.
 */
import { readFileSync, statSync } from "node:fs";
import { parseArgs } from "node:util";
import { defaultWorkerCount, type WorkerCount } from "./pool/decode-pool.ts";
import { builtinPluginDir, discoverPlugins, importPlugin } from "./plugins/plugin-loader.ts";
import { chargeStrayError, errorText } from "./plugins/plugin-host.ts";
import { describeOptions, groupOptionArgs } from "./plugins/plugin-options.ts";
import { runHost, type RunConfig, type RunIo } from "./run.ts";
import { isDeno } from "./runtime/host-runtime.ts";
import { sameFile } from "./same-file.ts";
import { UsageError } from "./usage-error.ts";
import { kMinRingBytes } from "./ring/ring-layout.ts";
import { listInterfaces } from "./live/capture-interfaces.ts";
import { kDefaultKernelBufferBytes } from "./live/live-capture.ts";
import { defaultFlowSettings, type FlowSettings } from "./flows/flow-analyzer.ts";

/** The package version (`--version`, the socket server's hello). */
export const version: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;

const defaultPlugins = ["packet-printer"];

const help = `Usage: host [options] [filter expression]

Reads packets from a capture file or a network interface, decodes them in a pool
of worker threads and delivers the decoded events, in capture order, to the
plugins you choose.

Capture:
  -r, --read FILE          read a pcap or pcapng file ("-" reads stdin)
  -i, --interface IFACE    capture live on IFACE through libpcap (without -r or -i: the
                           first interface that is up and not a loopback)
  --list-interfaces        list the interfaces libpcap can capture on, with their addresses
  -f, --filter EXPR        capture filter in pcap-filter(7) syntax, e.g. 'tcp port 80';
                           words after the options are taken as the filter too, as in tcpdump.
                           Live, libpcap compiles it; on files the decode workers evaluate it
  -c, --count N            stop after N packets (that pass the filter)
  --duration SEC           stop after SEC seconds
  -w, --write FILE         also write the captured (filtered) frames to FILE as a pcap
  -Z, --user NAME          live: drop root privileges to NAME once the capture is open
  --buffer-size SIZE       live: libpcap's kernel buffer, e.g. 256M (default 128M, 64K to 1G)

Plugins:
  --plugins A,B            plugins to load (default: ${defaultPlugins.join(",")})
  --plugins-dir DIR        also look for plugins in DIR (before the built-in folder; repeatable)
  --list-plugins           list the plugins found, with their descriptions and options
  -o, --option P.KEY=VAL   set option KEY of plugin P (repeatable), e.g. -o flow-counter.top=20
  --watch                  reload a plugin when its file changes; load files added to a plugin folder
  --max-plugin-errors N    disable a plugin after N handler errors (default 100)
  --teardown-timeout SEC   time a plugin's teardown may take (default 5)

Flows:
  --flow-timeouts SPEC     idle timeouts in seconds, e.g. tcp=300,udp=60 (the defaults); linger=1 is
                           how long a TCP flow stays after FIN both ways or RST, for its last ACKs
  --max-flows N            flows tracked at once (default 1000000; 0.5-3 KB each); beyond, a
                           lingering closed flow ends, else the least recently active UDP, else
                           TCP flow, in state "evicted"

Pipeline:
  --workers N|auto         decode worker threads (default ${defaultWorkerCount()}: cores - 1, or one per core up to 2);
                           auto grows and shrinks the pool with the load
  --ring-size SIZE         bytes of shared memory for frames, e.g. 64M (default 32M, from 1M to 1G)

Output:
  --format text|json       text for people (default), or one JSON object per line
  --stats                  print statistics to stderr at the end (a JSON line with --format json)
  --stats-interval SEC     also print a statistics line every SEC seconds
  -n, --numeric            accepted for tcpdump's sake (-n, -nn, -nr FILE): addresses and
                           ports are always shown as numbers, names are never looked up
  -h, --help               show this help
  --version                show the version

Examples:
  host -r capture.pcap --plugins http-printer
  host -i eth0 --plugins http-printer,flow-counter -f 'tcp port 80' -w web.pcap
  host -r capture.pcapng --plugins flow-counter -o flow-counter.top=20 --stats
  host -r - --plugins event-log -o event-log.events=dns --format json < capture.pcap
  host -r capture.pcap --plugins http-printer tcp port 8080
`;

/** Parses "64M", "512K", "1G" or a number of bytes. */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)i?[bB]?$/.exec(text.trim());
  if (m === null) throw new UsageError(`Invalid ${flag} "${text}": give a size such as 64M, 512K or 1G`);
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as "" | "k" | "m" | "g"];
  return Math.floor(Number(m[1]) * unit);
}

function parseCount(text: string | undefined, flag: string, min: number, fallback: number, max = Number.MAX_SAFE_INTEGER, why = ""): number {
  if (text === undefined) return fallback;
  // Decimal digits only: Number() would also take "0x10", "1e6" and "".
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`Invalid ${flag} "${text}": give a whole number of at least ${min}`);
  }
  if (n > max) throw new UsageError(`Invalid ${flag} "${text}": at most ${max}${why}`);
  return n;
}

/** Decode workers beyond this only cost memory (about 10 MB each) and start-up time. */
const kMaxWorkers = 128;

function parseWorkers(text: string | undefined): WorkerCount {
  if (text === undefined) return defaultWorkerCount();
  if (text === "auto") return "auto";
  return parseCount(text, "--workers", 1, 1, kMaxWorkers);
}

/** The longest a timer waits (setTimeout's limit, 2^31 - 1 ms): about 24.8 days. */
const kMaxTimerSeconds = 2_147_483;
const kTimerLimitWhy = " seconds (about 24.8 days), the longest a timer waits";

/** The largest ring: frame offsets in the ring are 32-bit. */
const kMaxRingBytes = 1 << 30;

/** The smallest kernel buffer worth asking libpcap for. */
const kMinKernelBufferBytes = 64 << 10;
/** libpcap takes the kernel buffer's size as an int; Linux bounds it far lower anyway (net.core.rmem_max). */
const kMaxKernelBufferBytes = 1 << 30;

/** The options the command line accepts (node:util parseArgs); the help text must list each of them. */
export const commandLineOptions = {
  read: { type: "string", short: "r" },
  interface: { type: "string", short: "i" },
  "list-interfaces": { type: "boolean" },
  duration: { type: "string" },
  write: { type: "string", short: "w" },
  user: { type: "string", short: "Z" },
  "buffer-size": { type: "string" },
  "stats-interval": { type: "string" },
  "flow-timeouts": { type: "string" },
  "max-flows": { type: "string" },
  count: { type: "string", short: "c" },
  filter: { type: "string", short: "f" },
  plugins: { type: "string", multiple: true },
  "plugins-dir": { type: "string", multiple: true },
  "list-plugins": { type: "boolean" },
  option: { type: "string", short: "o", multiple: true },
  watch: { type: "boolean" },
  "max-plugin-errors": { type: "string" },
  "teardown-timeout": { type: "string" },
  workers: { type: "string" },
  "ring-size": { type: "string" },
  format: { type: "string" },
  stats: { type: "boolean" },
  numeric: { type: "boolean", short: "n" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

/** The long name of an option as the user wrote it ("-c" or "--count"), or the text as it is. */
function longName(written: string): string {
  if (written.startsWith("--")) return written;
  const letter = written.slice(1);
  for (const [name, spec] of Object.entries(commandLineOptions)) if ("short" in spec && spec.short === letter) return `--${name}`;
  return written;
}

/**
 * The word after option `option` (as parseArgs names it: "--workers" or "-c") that parseArgs would not
 * take as its value because it starts with "-": the option written alone or ending a group of short
 * ones ("-hc"), followed by such a word. The first such place before "--"; null if none.
 */
function ambiguousValue(argv: string[], option: string): string | null {
  const letter = option.startsWith("--") ? null : option.slice(1);
  for (let i = 0; i + 1 < argv.length && argv[i] !== "--"; i++) {
    const word = argv[i];
    const names = word === option || (letter !== null && /^-[A-Za-z]+$/.test(word) && word.endsWith(letter));
    const next = argv[i + 1];
    if (names && next.startsWith("-") && next.length > 1) return next;
  }
  return null;
}

/** What parseArgs found wrong, in the host's words: what is wrong and what to write instead. */
function parseArgsProblem(err: Error, argv: string[]): string {
  const message = err.message;
  let m = /^Unknown option '([^']+)'/.exec(message);
  if (m !== null) return `Unknown option ${m[1]}: see host --help (filter words that start with "-" go after "--")`;
  m = /^Option '([^']+)' argument is ambiguous/.exec(message);
  if (m !== null) {
    // parseArgs will not take a value that starts with "-" after a space: `--workers -1`.
    const next = ambiguousValue(argv, m[1]);
    return next === null
      ? `Option ${m[1]} needs a value; one that starts with "-" is written ${longName(m[1])}=VALUE`
      : `Option ${m[1]} needs a value, and "${next}" looks like an option: write ${longName(m[1])}=${next} if that is the value`;
  }
  m = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(message);
  if (m !== null) return `Option ${m[1]} needs a value: see host --help`;
  m = /^Option '(?:-\w, )?(--[\w-]+)' does not take an argument/.exec(message);
  if (m !== null) return `Option ${m[1]} takes no value: write it alone`;
  return `${message.split("\n")[0]}: see host --help`;
}

/**
 * An option that takes one value given twice (`-f 'tcp' -f 'port 80'`, two -r) is refused: parseArgs
 * would keep the last one and drop the first without a word. Flags may repeat (they mean the same).
 */
function refuseRepeats(tokens: ReturnType<typeof parseArgs>["tokens"]): void {
  const seen = new Map<string, string>();
  for (const token of tokens ?? []) {
    if (token.kind !== "option") continue;
    const spec = commandLineOptions[token.name as keyof typeof commandLineOptions];
    if (spec.type !== "string" || ("multiple" in spec && spec.multiple)) continue;
    const before = seen.get(token.name);
    if (before !== undefined) {
      const hint = token.name === "filter" ? ": give one expression, joining parts with and/or (-f 'tcp and port 80')" : ": give it once";
      const spellings = before === token.rawName ? "" : ` (as ${before} and ${token.rawName})`;
      throw new UsageError(`Option ${token.rawName} is given twice${spellings}${hint}`);
    }
    seen.set(token.name, token.rawName);
  }
}

/** Turns argv into a RunConfig; also handles the commands that print and exit (help, version, lists). */
export async function parseCommandLine(
  argv: string[],
  print: (text: string) => void,
): Promise<RunConfig | null> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: commandLineOptions, tokens: true });
  } catch (err) {
    throw new UsageError(parseArgsProblem(err as Error, argv));
  }
  refuseRepeats(parsed.tokens);
  const v = parsed.values;
  if (v.help) {
    print(help);
    return null;
  }
  if (v.version) {
    print(`packet-host ${version}\n`);
    return null;
  }
  for (const dir of v["plugins-dir"] ?? []) {
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch {
      throw new UsageError(`Invalid --plugins-dir "${dir}": no such folder`);
    }
    if (!isDir) throw new UsageError(`Invalid --plugins-dir "${dir}": not a folder (give the folder that holds the plugin files)`);
  }
  const pluginDirs = [...(v["plugins-dir"] ?? []), builtinPluginDir];
  if (v["list-plugins"]) {
    print(await listPlugins(pluginDirs));
    return null;
  }
  const format = v.format ?? "text";
  if (format !== "text" && format !== "json") {
    throw new UsageError(`Invalid --format "${format}": use text or json`);
  }
  if (v.filter !== undefined && parsed.positionals.length > 0) {
    throw new UsageError(`Give the filter either with -f or after the options, not both`);
  }
  const filter = v.filter ?? (parsed.positionals.length > 0 ? parsed.positionals.join(" ") : null);
  const ringBytes = v["ring-size"] === undefined ? 32 << 20 : parseSize(v["ring-size"], "--ring-size");
  if (ringBytes < kMinRingBytes) {
    throw new UsageError(`Invalid --ring-size "${v["ring-size"]}": the ring needs at least 1M`);
  }
  if (ringBytes > kMaxRingBytes) {
    throw new UsageError(`Invalid --ring-size "${v["ring-size"]}": at most 1G (frame offsets in the ring are 32-bit)`);
  }
  const plugins = (v.plugins ?? defaultPlugins)
    .flatMap((p) => p.split(","))
    .map((p) => p.trim())
    .filter((p) => p !== "");
  if (plugins.length === 0) throw new UsageError(`--plugins names no plugin: give at least one (see --list-plugins)`);
  if (v["list-interfaces"]) {
    print(await listInterfacesText());
    return null;
  }
  if (v.read !== undefined && v.interface !== undefined) {
    throw new UsageError("Give either -r FILE or -i IFACE, not both");
  }
  if (v.user !== undefined && v.read !== undefined) {
    throw new UsageError("-Z/--user applies to live capture (-i); a file is read with the privileges you have");
  }
  if (v["buffer-size"] !== undefined && v.read !== undefined) {
    throw new UsageError("--buffer-size is libpcap's kernel buffer for live capture (-i); a file needs none");
  }
  if (v.write === "-") {
    throw new UsageError('-w - (standard output) is not supported: the plugins print there; give -w a file name');
  }
  if (v.write !== undefined && v.read !== undefined && sameFile(v.read, v.write)) {
    const what = v.read === "-" ? "the file -r - reads (standard input)" : "the file -r reads";
    throw new UsageError(`-w "${v.write}" is ${what}: writing it would destroy the capture first; give another name`);
  }
  const bufferBytes = v["buffer-size"] === undefined ? kDefaultKernelBufferBytes : parseSize(v["buffer-size"], "--buffer-size");
  if (bufferBytes < kMinKernelBufferBytes) throw new UsageError(`Invalid --buffer-size "${v["buffer-size"]}": give at least 64K`);
  if (bufferBytes > kMaxKernelBufferBytes) throw new UsageError(`Invalid --buffer-size "${v["buffer-size"]}": at most 1G (libpcap takes the size as a 32-bit int)`);
  return {
    flowSettings: { ...parseFlowTimeouts(v["flow-timeouts"]), maxFlows: parseCount(v["max-flows"], "--max-flows", 1, defaultFlowSettings.maxFlows) },
    read: v.read ?? null,
    iface: v.interface ?? null,
    write: v.write ?? null,
    duration: parseSeconds(v.duration, "--duration"),
    statsInterval: parseSeconds(v["stats-interval"], "--stats-interval"),
    user: v.user ?? null,
    bufferBytes,
    filter,
    count: parseCount(v.count, "-c", 1, 0),
    plugins: [...new Set(plugins)],
    pluginDirs,
    workers: parseWorkers(v.workers),
    ringBytes,
    format,
    stats: v.stats ?? false,
    options: groupOptionArgs(v.option ?? []),
    watch: v.watch ?? false,
    maxPluginErrors: parseCount(v["max-plugin-errors"], "--max-plugin-errors", 1, 100),
    teardownMs: (v["teardown-timeout"] === undefined ? 5 : parseSeconds(v["teardown-timeout"], "--teardown-timeout", "allowed")) * 1000,
    version,
  };
}

/** Parses --flow-timeouts "tcp=300,udp=60,linger=1" over the defaults. */
function parseFlowTimeouts(text: string | undefined): FlowSettings {
  const settings = { ...defaultFlowSettings };
  if (text === undefined) return settings;
  const keys = { tcp: "tcpTimeout", udp: "udpTimeout", linger: "closeLinger" } as const;
  for (const part of text.split(",")) {
    const m = /^\s*(tcp|udp|linger)\s*=\s*(\S*)\s*$/.exec(part);
    const n = m === null ? NaN : decimalSeconds(m[2]!);
    if (m === null || !Number.isFinite(n) || n <= 0) {
      throw new UsageError(`Invalid --flow-timeouts "${text}": write e.g. tcp=300,udp=60,linger=1 (seconds above 0)`);
    }
    settings[keys[m[1] as keyof typeof keys]] = n;
  }
  return settings;
}

/**
 * Seconds written as a decimal number ("5", "0.25", ".5"), else NaN: one syntax for every option that
 * takes seconds (Number() alone would also take "1e3", "0x10" and "").
 */
function decimalSeconds(text: string): number {
  return /^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(text) ? Number(text) : NaN;
}

function parseSeconds(text: string | undefined, flag: string, zero: "refused" | "allowed" = "refused"): number {
  if (text === undefined) return 0;
  const n = decimalSeconds(text);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && zero === "refused")) {
    throw new UsageError(`Invalid ${flag} "${text}": give a number of seconds${zero === "refused" ? " above 0" : ""}`);
  }
  if (n > kMaxTimerSeconds) throw new UsageError(`Invalid ${flag} "${text}": at most ${kMaxTimerSeconds}${kTimerLimitWhy}`);
  return n;
}

/** The --list-interfaces text: name, flags and addresses of each device. */
async function listInterfacesText(): Promise<string> {
  const list = await listInterfaces();
  const lines = list.map((i, n) => {
    const flags = [i.up ? "up" : "", i.loopback ? "loopback" : ""].filter((f) => f !== "").join(",");
    return `${String(n + 1).padStart(2)}. ${i.name}${flags ? ` [${flags}]` : ""}${i.addresses.length ? ` ${i.addresses.join(" ")}` : ""}${i.description ? ` (${i.description})` : ""}`;
  });
  return `${lines.join("\n")}\n`;
}

/** The --list-plugins text: each plugin with its description and options. */
async function listPlugins(dirs: string[]): Promise<string> {
  const lines: string[] = [];
  for (const file of discoverPlugins(dirs).values()) {
    try {
      const def = await importPlugin(file);
      lines.push(`${def.name.padEnd(16)} ${def.description ?? ""}`);
      for (const opt of describeOptions(def.options)) lines.push(`${"".padEnd(18)}-o ${def.name}.${opt}`);
    } catch (err) {
      lines.push(`${file.name.padEnd(16)} (cannot load: ${(err as Error).message})`);
    }
  }
  return lines.length > 0 ? `${lines.join("\n")}\n` : `No plugins found in ${dirs.join(", ")}\n`;
}

/** See onSignal in main. */
const kRepeatSignalMs = 200;

/** Runs the command; resolves with the exit status. */
export async function main(argv: string[]): Promise<number> {
  const io: RunIo = {
    stdout: (chunk) => {
      process.stdout.write(chunk);
    },
    stderr: (line) => process.stderr.write(`${line}\n`),
    progress: process.stderr.isTTY === true,
  };
  const controller = new AbortController();
  // The first signal stops the capture and ends the run cleanly; a second one exits at once. A repeat
  // within kRepeatSignalMs is the same signal delivered twice, not a second ^C: GNU timeout signals
  // the command and then its process group, which ended a third of `timeout -s INT` runs at once.
  let signalledAt = -1;
  let signalsSettled: Promise<void> = Promise.resolve();
  const onSignal = () => {
    if (signalledAt >= 0) {
      if (performance.now() - signalledAt < kRepeatSignalMs) return;
      process.exit(130);
    }
    signalledAt = performance.now();
    controller.abort();
    // On Node, without a listener the next signal gets its default action, which needs no JavaScript
    // to run: it ends the process even while a plugin's code blocks the main thread (a loop in a
    // teardown). The listeners go once a repeat is no longer taken for the same signal, and plugin
    // teardowns wait for that (io.beforeTeardown). Deno does not restore the default, so there the
    // listener stays.
    if (!isDeno) {
      signalsSettled = new Promise((resolve) =>
        setTimeout(() => {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          resolve();
        }, kRepeatSignalMs),
      );
    }
  };
  io.beforeTeardown = () => signalsSettled;
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // Errors outside any call the host made: a plugin's dropped promise, a throw in its own timer. They
  // are that plugin's errors (the run goes on); one no plugin's file is named in is the host's own.
  const onRejection = (err: unknown) => {
    if (!chargeStrayError(err, "a promise it did not await")) io.stderr(`host: warning: unhandled promise rejection: ${errorText(err)}`);
  };
  const onException = (err: unknown) => {
    if (chargeStrayError(err, "a callback of its own")) return;
    io.stderr(`host: internal error: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  };
  process.on("unhandledRejection", onRejection);
  process.on("uncaughtException", onException);
  // The reader went away (host ... | head): stop quietly, like tcpdump. Any other failure (a full
  // disk) loses output: the run stops, says so and ends with status 1.
  let stdoutFailure: Error | null = null;
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") stdoutFailure ??= err;
    controller.abort();
  });
  try {
    const config = await parseCommandLine(argv, (text) => process.stdout.write(text));
    if (config === null) return 0;
    const status = await runHost(config, io, controller.signal);
    // A failed write to stdout is reported by an event after the write.
    await new Promise((resolve) => setImmediate(resolve));
    if (stdoutFailure !== null) {
      io.stderr(`host: cannot write standard output: ${(stdoutFailure as Error).message}; output was lost`);
      return 1;
    }
    return status;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`host: ${err.message}`);
      return 2;
    }
    io.stderr(`host: ${(err as Error).message ?? String(err)}`);
    return 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("unhandledRejection", onRejection);
    process.off("uncaughtException", onException);
  }
}

/** Runs `main` and exits with its status once stdout has been written out. */
export async function runAndExit(argv: string[]): Promise<void> {
  const status = await main(argv);
  process.stdout.write("", () => process.exit(status));
}

declare const Deno: { args: string[] } | undefined;
// `deno run -A core/cli.ts ...` runs this module directly; on Node, core/bin.js calls runAndExit.
if ((import.meta as { main?: boolean }).main && typeof Deno !== "undefined") {
  await runAndExit(Deno.args);
}
