/**
 * Harness of the socket-server tests: starts the host with the plugin (in-process through `runHost`,
 * or the CLI as a child process on Node.js or Deno), learns the port from the line the plugin prints
 * on stderr ("[socket-server] listening on 127.0.0.1:PORT", since the tests ask for port 0), and
 * connects real TCP clients on 127.0.0.1 that read the NDJSON lines the plugin streams.
 *
 *   const host = startInProcess(file, ["socket-server"], ["socket-server.port=0", "socket-server.wait=1"]);
 *   const c = await LineClient.connect(await host.port);
 *   await c.next();                        // the hello line
 *   c.send("SUB flow.end");
 *   const lines = await c.rest();          // everything until the server closes
 *   const outcome = await host.done;       // exit status, stdout, stderr, --stats object
 */
import { spawn, spawnSync } from "node:child_process";
import { connect, type Socket } from "node:net";
import type { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { builtinPluginDir } from "../../core/plugins/plugin-loader.ts";
import { groupOptionArgs } from "../../core/plugins/plugin-options.ts";
import { runHost, type RunConfig } from "../../core/run.ts";

/** Absolute path of the repository root (child processes run there). */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/**
 * How long a test waits for a line, a close or a port before it fails with a message saying what it
 * waited for. A guard against a hanging test, not a timed assertion: it is far above anything a
 * working plugin needs, even on a loaded machine.
 */
const kGuardMs = 60_000;

/** One NDJSON line from the server, parsed. */
export type Line = Record<string, unknown>;

/** How the server ended a connection: "end" is a clean close (FIN), "reset" a RST or socket error. */
export type CloseKind = "end" | "reset";

/** Rejects with `what` after kGuardMs unless `p` settles first. */
function guard<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Gave up waiting for ${what} after ${kGuardMs} ms`)), kGuardMs);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Parses one line; a line that is not JSON fails loudly with its text. */
export function parseLine(text: string): Line {
  try {
    return JSON.parse(text) as Line;
  } catch {
    throw new Error(`Not a JSON line: ${text.slice(0, 200)}`);
  }
}

/**
 * A TCP client of the socket server that splits what it receives into lines. Lines are read in
 * order with `next()` / `until()` / `rest()`; `lines` keeps all of them.
 */
export class LineClient {
  /** Every complete line received so far. */
  readonly lines: string[] = [];
  /** Bytes received in all. */
  bytes = 0;
  /** Resolves when the connection is closed, with how the server closed it. */
  readonly closed: Promise<CloseKind>;
  private partial = "";
  private cursor = 0;
  private wake: (() => void) | null = null;
  private isClosed = false;
  private kind: CloseKind = "end";
  private sawEnd = false;

  private constructor(readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => {
      this.bytes += Buffer.byteLength(text);
      const parts = (this.partial + text).split("\n");
      this.partial = parts.pop() ?? "";
      for (const p of parts) this.lines.push(p);
      this.notify();
    });
    socket.on("end", () => {
      this.sawEnd = true;
    });
    socket.on("error", () => {
      this.kind = "reset";
    });
    this.closed = new Promise((resolve) => {
      socket.on("close", () => {
        this.isClosed = true;
        if (!this.sawEnd) this.kind = "reset";
        this.notify();
        resolve(this.kind);
      });
    });
  }

  /** Connects to the server on 127.0.0.1:`port`. */
  static connect(port: number, host = "127.0.0.1"): Promise<LineClient> {
    return guard(
      new Promise((resolve, reject) => {
        const socket = connect(port, host);
        socket.once("connect", () => {
          socket.off("error", reject);
          resolve(new LineClient(socket));
        });
        socket.once("error", reject);
      }),
      `a connection to ${host}:${port}`,
    );
  }

  /** Sends one command line (a newline is added). */
  send(line: string): void {
    this.socket.write(`${line}\n`);
  }

  /** Sends raw bytes or text, as they are. */
  write(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /** Stops reading: what the server sends piles up in the kernel, then in the server. */
  pause(): void {
    this.socket.pause();
  }

  /** Reads again. */
  resume(): void {
    this.socket.resume();
  }

  /** Closes the connection from this side. */
  destroy(): void {
    this.socket.destroy();
  }

  /** True when a line is waiting to be read. */
  get hasLine(): boolean {
    return this.cursor < this.lines.length;
  }

  /** The text of the next line; rejects when the server closes before sending one. */
  async nextText(): Promise<string> {
    await guard(this.lineOrClose(), `a line from the server (${this.lines.length} so far)`);
    if (!this.hasLine) throw new Error(`The server closed the connection instead of sending a line (after ${this.lines.length} lines)`);
    return this.lines[this.cursor++];
  }

  /** The next line, parsed. */
  async next(): Promise<Line> {
    return parseLine(await this.nextText());
  }

  /** Lines up to and including the first whose `type` is `type`. */
  async until(type: string): Promise<Line[]> {
    const out: Line[] = [];
    for (;;) {
      const line = await this.next();
      out.push(line);
      if (line.type === type) return out;
    }
  }

  /** Every line not read yet, until the server closes the connection; and how it closed it. */
  async rest(): Promise<Line[]> {
    await guard(this.closed, `the server to close the connection (${this.lines.length} lines so far)`);
    const out = this.lines.slice(this.cursor).map(parseLine);
    this.cursor = this.lines.length;
    if (this.partial !== "") throw new Error(`The connection closed in the middle of a line: ${this.partial.slice(0, 200)}`);
    return out;
  }

  private lineOrClose(): Promise<void> {
    if (this.hasLine || this.isClosed) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

/** What a run of the host left behind. */
export interface HostOutcome {
  /** Exit status (runHost's result in-process). */
  readonly status: number;
  /** stdout lines. */
  readonly stdout: string[];
  /** stderr lines, without the final `--stats` line. */
  readonly stderr: string[];
  /** The `--stats --format json` object (the last stderr line), or null when the run printed none. */
  readonly stats: Line | null;
}

/** A running host. */
export interface HostRun {
  /** The port the socket server listens on (from its stderr line). */
  readonly port: Promise<number>;
  /** Resolves when the run is over; rejects when it could not start (in-process usage errors). */
  readonly done: Promise<HostOutcome>;
  /** Sends a signal to the child process (child runs only). */
  kill(signal: NodeJS.Signals): void;
  /** The child's standard input, when `startCli` was asked for a pipe (`-r -` runs). */
  readonly stdin: Writable | null;
}

const kListening = /^\[socket-server\] listening on (.+):(\d+)$/;

/** Splits the output of a run into a HostOutcome. */
function outcome(status: number, stdout: string, stderr: string[]): HostOutcome {
  const out = stdout.split("\n");
  if (out[out.length - 1] === "") out.pop();
  const errors = [...stderr];
  let stats: Line | null = null;
  const last = errors[errors.length - 1];
  if (last?.startsWith('{"type":"stats"')) {
    stats = parseLine(last);
    errors.pop();
  }
  return { status, stdout: out, stderr: errors, stats };
}

/** Watches stderr lines for the plugin's "listening on" line. */
function portWatcher(): { line(text: string): void; ended(stderr: string[]): void; port: Promise<number> } {
  let found: (port: number) => void = () => {};
  let failed: (err: Error) => void = () => {};
  const port = new Promise<number>((resolve, reject) => {
    found = resolve;
    failed = reject;
  });
  // A run that fails to start is reported by `done`; the port is then only awaited by some tests.
  const guarded = guard(port, "the socket server to listen");
  guarded.catch(() => {});
  return {
    line(text) {
      const m = kListening.exec(text);
      if (m !== null) found(Number(m[2]));
    },
    ended(stderr) {
      failed(new Error(`The host ended without listening: ${stderr.join("\n")}`));
    },
    port: guarded,
  };
}

/** Settings of an in-process run besides the plugins and their options. */
export interface InProcessOptions {
  readonly pluginDirs?: readonly string[];
  readonly format?: "text" | "json";
}

/**
 * Runs the host in this process on `file` with `--stats --format json` (the CLI's defaults otherwise,
 * one decode worker, a 1 MiB ring), as test/app/app-run.ts does, but hands out the port as soon as
 * the plugin prints it.
 */
export function startInProcess(file: string, plugins: readonly string[], options: readonly string[], settings: InProcessOptions = {}): HostRun {
  const config: RunConfig = {
    read: file,
    filter: null,
    count: 0,
    plugins: [...plugins],
    pluginDirs: [...(settings.pluginDirs ?? []), builtinPluginDir],
    workers: 1,
    ringBytes: 1 << 20,
    format: settings.format ?? "json",
    stats: true,
    options: groupOptionArgs([...options]),
    watch: false,
    maxPluginErrors: 100,
    teardownMs: 5000,
    version: "test",
  };
  const chunks: string[] = [];
  const stderr: string[] = [];
  const watcher = portWatcher();
  const io = {
    stdout: (chunk: string) => void chunks.push(chunk),
    stderr: (line: string) => {
      stderr.push(line);
      watcher.line(line);
    },
    progress: false,
  };
  const done = runHost(config, io).then(
    (status) => {
      watcher.ended(stderr);
      return outcome(status, chunks.join(""), stderr);
    },
    (err: unknown) => {
      watcher.ended(stderr);
      throw err;
    },
  );
  return {
    port: watcher.port,
    done,
    kill() {
      throw new Error("An in-process run cannot be sent a signal");
    },
    stdin: null,
  };
}

/** The runtime a child process runs the CLI on. */
export type CliRuntime = "node" | "deno";

/**
 * The Deno executable that `npx deno` runs (asked of Deno itself), or the reason it cannot be
 * used. Tests run that executable directly, so that a signal sent to the child reaches Deno (npx
 * would not pass it on).
 */
export function findDeno(): { path: string } | { missing: string } {
  const r = spawnSync("npx", ["--no", "deno", "eval", "console.log(Deno.execPath())"], { cwd: repoRoot, encoding: "utf8", timeout: 120_000 });
  if (r.status === 0 && r.stdout.trim() !== "") return { path: r.stdout.trim() };
  return { missing: `npx deno is not available (${r.error?.message ?? (r.stderr.trim() || `exit status ${r.status}`)})` };
}

let denoPath: string | undefined;

/** Why Deno runs must be skipped, or false when `npx deno` works. */
export function denoMissing(): string | false {
  const found = findDeno();
  if ("missing" in found) return found.missing;
  denoPath = found.path;
  return false;
}

/**
 * Runs the CLI as a child process in the repository root: `node core/bin.js ARGS`, or
 * `deno run -A core/cli.ts ARGS` with the Deno of `npx deno` (call `denoMissing()` first).
 */
export function startCli(args: readonly string[], runtime: CliRuntime = "node", stdin: "ignore" | "pipe" = "ignore"): HostRun {
  if (runtime === "deno" && denoPath === undefined && denoMissing() !== false) throw new Error("Deno is not available");
  const [command, prefix] = runtime === "node" ? [process.execPath, ["core/bin.js"]] : [denoPath!, ["run", "-A", "core/cli.ts"]];
  const child = spawn(command, [...prefix, ...args], { cwd: repoRoot, stdio: [stdin, "pipe", "pipe"] });
  const [out, err] = [child.stdout!, child.stderr!];
  // A host left waiting for clients by a failed test must not outlive the test process.
  const reap = () => child.kill("SIGKILL");
  process.once("exit", reap);
  child.once("close", () => process.off("exit", reap));
  const watcher = portWatcher();
  let stdout = "";
  let partial = "";
  const stderr: string[] = [];
  out.setEncoding("utf8");
  out.on("data", (text: string) => (stdout += text));
  err.setEncoding("utf8");
  err.on("data", (text: string) => {
    const parts = (partial + text).split("\n");
    partial = parts.pop() ?? "";
    for (const line of parts) {
      stderr.push(line);
      watcher.line(line);
    }
  });
  const done = new Promise<HostOutcome>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status, signal) => {
      if (partial !== "") stderr.push(partial);
      watcher.ended(stderr);
      resolve(outcome(status ?? (signal === null ? -1 : 128), stdout, stderr));
    });
  });
  const guarded = guard(done, `the host (${args.join(" ")}) to exit`);
  // Awaited only once the test's clients are done: a failure meanwhile is not "unhandled".
  guarded.catch(() => {});
  return {
    port: watcher.port,
    done: guarded,
    kill(signal) {
      child.kill(signal);
    },
    stdin: child.stdin,
  };
}

/** Connects a client and reads its hello line. */
export async function connectClient(port: number): Promise<{ client: LineClient; hello: Line }> {
  const client = await LineClient.connect(port);
  const hello = await client.next();
  if (hello.type !== "hello") throw new Error(`Expected a hello line first, got ${JSON.stringify(hello)}`);
  return { client, hello };
}

/** Connects a client, reads its hello line, subscribes with `SUB events...` and reads the "ok" reply. */
export async function subscribedClient(port: number, events: readonly string[]): Promise<LineClient> {
  const { client } = await connectClient(port);
  client.send(`SUB ${events.join(" ")}`);
  const ok = await client.next();
  if (ok.type !== "ok") throw new Error(`Expected an ok reply to SUB, got ${JSON.stringify(ok)}`);
  return client;
}

/** The event lines of a connection: everything but the hello, ok, error, dropped and stats lines. */
export function eventLines(lines: readonly Line[]): Line[] {
  const control = new Set(["hello", "ok", "error", "dropped", "stats", "bye"]);
  return lines.filter((l) => !control.has(String(l.type)));
}
