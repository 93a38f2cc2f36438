/**
 * What the live-capture tests share: why a test must skip, the host command run as a child process
 * (`node core/bin.js -i ...`) with its output gathered line by line, a network namespace with a veth
 * pair that a test creates and always deletes, tcpreplay, and a look at a process's credentials.
 *
 * Live capture needs root (or CAP_NET_RAW), the `cap` addon and, depending on the test, iproute2,
 * tcpreplay, tcpdump, capinfos or setpriv: each test skips with the reason when something is missing.
 * Traffic stays on loopback or inside a namespace of the test's own.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { kClockTicksPerSecond, procStatFields } from "../../core/runtime/thread-cpu.ts";

/** Absolute path of the repository root. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
/** The `host` command's entry point. */
export const hostBin = fileURLToPath(new URL("../../core/bin.js", import.meta.url));
/** The host on Deno: `deno run -A core/cli.ts`, with the deno the project installs as a dev dependency. */
const hostCli = fileURLToPath(new URL("../../core/cli.ts", import.meta.url));
export const denoBin = fileURLToPath(new URL("../../node_modules/.bin/deno", import.meta.url));

function capBuilt(): boolean {
  try {
    createRequire(import.meta.url)("cap");
    return true;
  } catch {
    return false;
  }
}

function toolRuns(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
}

/** A skip reason when live capture cannot run here (not root, or cap not built), otherwise false. */
export const liveCaptureMissing: string | false =
  process.getuid?.() !== 0
    ? "live capture needs root (CI runs these tests as root)"
    : !capBuilt()
      ? 'the "cap" addon is not built (apt-get install libpcap-dev, then npm rebuild cap)'
      : false;

/** A skip reason when live capture or one of `tools` is missing, otherwise false. */
export function liveSkip(...tools: string[]): string | false {
  if (liveCaptureMissing !== false) return liveCaptureMissing;
  const missing = tools.filter((tool) => !toolRuns(tool));
  return missing.length > 0 ? `${missing.join(", ")} not installed` : false;
}

/** How the process ended. */
export interface HostExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A JSON line the host wrote (stats, stats-interval, plugin output with --format json). */
export type JsonLine = Record<string, unknown>;

/**
 * The host running as a child process: its stdout and stderr as lines, a way to wait for a line, and
 * its end. `kill()` (SIGKILL) is for teardown only: tests end the host with SIGINT or let it stop.
 */
export class HostProcess {
  readonly child: ChildProcess;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  /** Resolves when the process has exited and its output streams are closed. */
  readonly exited: Promise<HostExit>;
  private readonly watchers = new Set<() => void>();

  /** `stdout: "ignore"` sends stdout to /dev/null (a benchmark that must not pay for reading it). */
  constructor(command: string, args: readonly string[], stdout: "pipe" | "ignore" = "pipe", env?: NodeJS.ProcessEnv) {
    this.child = spawn(command, args, { cwd: repoRoot, stdio: ["ignore", stdout, "pipe"], env: env === undefined ? process.env : { ...process.env, ...env } });
    if (this.child.stdout !== null) this.collect(this.child.stdout, this.stdout);
    this.collect(this.child.stderr!, this.stderr);
    this.exited = new Promise((resolve) => {
      this.child.on("close", (code, signal) => {
        resolve({ code, signal });
        this.notify();
      });
    });
  }

  /** The host's process id (with `ip netns exec` too: it execs node in place). */
  get pid(): number {
    return this.child.pid!;
  }

  /** True until the process has ended. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends SIGINT, as ^C does. */
  interrupt(): void {
    this.child.kill("SIGINT");
  }

  /** Kills the process if it is still running (teardown). */
  kill(): void {
    if (this.running) this.child.kill("SIGKILL");
  }

  /** stderr lines that are JSON objects with `"type": type`. */
  jsonLines(type: string): JsonLine[] {
    const out: JsonLine[] = [];
    for (const line of this.stderr) {
      if (!line.startsWith("{")) continue;
      try {
        const v = JSON.parse(line) as JsonLine;
        if (v.type === type) out.push(v);
      } catch {
        // not JSON: a message
      }
    }
    return out;
  }

  /** The final `--stats --format json` line, or null. */
  get stats(): JsonLine | null {
    return this.jsonLines("stats").at(-1) ?? null;
  }

  /**
   * Waits until `ready()` is true (it is checked whenever a line arrives and every 50 ms), and
   * rejects with what the host wrote when it is not true within `ms` or the host ends first.
   */
  async until(what: string, ready: () => boolean, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!ready()) {
      if (!this.running) throw new Error(`The host ended before ${what}:\n${this.transcript()}`);
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}:\n${this.transcript()}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.watchers.delete(done);
          resolve();
        };
        const timer = setTimeout(done, 50);
        this.watchers.add(done);
      });
    }
  }

  /** Waits for the end, SIGKILLing the host if it is not over within `ms` (then the test fails on its status). */
  async end(ms = 30_000): Promise<HostExit> {
    const timer = setTimeout(() => this.kill(), ms);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  /** The last lines of stdout and stderr, for failure messages. */
  transcript(): string {
    return [`stdout: ${this.stdout.slice(-10).join("\n        ")}`, `stderr: ${this.stderr.slice(-20).join("\n        ")}`].join("\n");
  }

  private collect(stream: NodeJS.ReadableStream, into: string[]): void {
    let rest = "";
    stream.setEncoding("utf8");
    stream.on("data", (text: string) => {
      const parts = (rest + text).split("\n");
      rest = parts.pop()!;
      into.push(...parts);
      this.notify();
    });
    stream.on("end", () => {
      if (rest !== "") into.push(rest);
      this.notify();
    });
  }

  private notify(): void {
    for (const w of [...this.watchers]) w();
  }
}

/** Starts `node core/bin.js ...args`, optionally inside network namespace `netns` or through a wrapper (setpriv). */
export function startHost(
  args: readonly string[],
  options: { netns?: string; wrapper?: readonly string[]; stdout?: "pipe" | "ignore"; env?: NodeJS.ProcessEnv; runtime?: "node" | "deno" } = {},
): HostProcess {
  const node = options.runtime === "deno" ? [denoBin, "run", "-A", hostCli, ...args] : [process.execPath, hostBin, ...args];
  const { stdout, env } = options;
  if (options.netns !== undefined) return new HostProcess("ip", ["netns", "exec", options.netns, ...node], stdout, env);
  if (options.wrapper !== undefined) return new HostProcess(options.wrapper[0], [...options.wrapper.slice(1), ...node], stdout, env);
  return new HostProcess(node[0], node.slice(1), stdout, env);
}

/** Runs a command to its end; throws with its stderr when it fails. */
export function run(command: string, args: readonly string[]): string {
  const r = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} exited with status ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Runs a command to its end and hands back everything, without throwing. */
export function runRaw(command: string, args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** The ends of the veth pair inside a test namespace: the sender's and the capturer's. */
export const kSendSide = "veth0";
export const kCaptureSide = "veth1";

/** What a test needs of tap's `t`: a teardown hook. */
interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/**
 * Creates network namespace `name` holding a veth pair (veth0 for the sender, veth1 for the capture),
 * both up, with IPv6 off so that the kernel sends nothing of its own (router solicitations, MLD) on
 * them. Frames sent on veth0 reach veth1 and nothing else: the pair has no other end, and the
 * namespace has no route anywhere. The namespace is deleted at teardown, whatever the outcome, after
 * `beforeDelete` (which stops the processes that run in it).
 */
export function createVethNamespace(t: Teardown, name: string, mtu: number, beforeDelete: () => Promise<void>): void {
  // A namespace left over by an earlier run that was killed: remove it first.
  runRaw("ip", ["netns", "del", name]);
  run("ip", ["netns", "add", name]);
  t.teardown(async () => {
    await beforeDelete();
    runRaw("ip", ["netns", "del", name]);
  });
  const inNs = (...args: string[]) => run("ip", ["netns", "exec", name, ...args]);
  inNs("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
  inNs("ip", "link", "add", kSendSide, "mtu", String(mtu), "type", "veth", "peer", "name", kCaptureSide, "mtu", String(mtu));
  inNs("ip", "link", "set", kSendSide, "up");
  inNs("ip", "link", "set", kCaptureSide, "up");
}

/** What tcpreplay reports: frames sent, and the rate it achieved; and the CPU it used. */
export interface ReplayResult {
  readonly sent: number;
  readonly pps: number;
  /**
   * CPU seconds (user + system) tcpreplay used. Its system time holds the kernel's work for each send,
   * and on a veth pair much of the receiving side's too (the frame crosses the pair and reaches the
   * capturing sockets in the sender's context): the share of the machine the capture cannot have.
   */
  readonly cpu: number;
}

/** CPU seconds (user + system, all threads) process `pid` has used so far, 0 once it has ended. */
export function processCpuSeconds(pid: number): number {
  try {
    const f = procStatFields(`/proc/${pid}/stat`);
    return (Number(f[11]) + Number(f[12])) / kClockTicksPerSecond;
  } catch {
    return 0;
  }
}

/** CPU seconds of this process's children that have ended and been waited for (cutime + cstime). */
function endedChildrenCpuSeconds(): number {
  const f = procStatFields("/proc/self/stat");
  return (Number(f[13]) + Number(f[14])) / kClockTicksPerSecond;
}

/**
 * Replays `file` once on veth0 of namespace `netns`, at top speed or at `pps` frames per second,
 * with the file preloaded into memory (so that disk reads do not set the pace).
 */
export function replayAt(netns: string, file: string, pps: number | "top"): ReplayResult {
  const pace = pps === "top" ? ["--topspeed"] : [`--pps=${pps}`];
  // `ip netns exec` execs tcpreplay in its own process, which spawnSync waits for: its CPU time joins
  // this process's children's total as it returns, and no other child is waited for meanwhile.
  const cpuBefore = endedChildrenCpuSeconds();
  const out = run("ip", ["netns", "exec", netns, "tcpreplay", "-q", "-K", "-i", kSendSide, ...pace, file]);
  const sent = /Actual: (\d+) packets/.exec(out);
  const rate = /Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps/.exec(out);
  if (sent === null) throw new Error(`tcpreplay printed no "Actual:" line:\n${out}`);
  return { sent: Number(sent[1]), pps: rate === null ? 0 : Number(rate[1]), cpu: endedChildrenCpuSeconds() - cpuBefore };
}

/** Replays `file` once at top speed on veth0 of namespace `netns`; returns tcpreplay's count of frames sent. */
export function replay(netns: string, file: string): number {
  return replayAt(netns, file, "top").sent;
}

/** Real, effective, saved and filesystem uids of process `pid`, from /proc/<pid>/status. */
export function processUids(pid: number): number[] {
  const m = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? [] : m[1].trim().split(/\s+/).map(Number);
}

/**
 * Anonymous resident memory of process `pid` now (RssAnon), in bytes: the heap and buffers, without
 * libpcap's ring, which is a mapping of the kernel's packet buffer (and counts in VmRSS once touched).
 */
export function processAnonRss(pid: number): number {
  const m = /^RssAnon:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** The host's capture process (core/live/cap-capture-process.js), a child of `hostPid`, or null. */
export function captureProcessOf(hostPid: number): number | null {
  for (const pid of childProcessesOf(hostPid)) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("cap-capture-process.js")) return pid;
    } catch {
      // the process ended meanwhile
    }
  }
  return null;
}

/** The processes whose parent is `pid`, from /proc. */
export function childProcessesOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The fields after the command name (which is in parentheses and may hold spaces): state, ppid, ...
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) children.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return children;
}

/** Uid of a user from the system's user database, or null. */
export function uidOf(user: string): number | null {
  const r = runRaw("id", ["-u", user]);
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}
