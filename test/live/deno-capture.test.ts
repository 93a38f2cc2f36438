/**
 * Live capture under Deno (libpcap through FFI, in a capture worker), run as a user runs it:
 * `deno run -A core/cli.ts -i lo ...` in a child process, with traffic this test makes on loopback
 * only. Where the Node host can capture too (the cap addon is built), both capture the same traffic
 * and must print the same lines. Capture needs root, deno (a dev dependency) and libpcap; without
 * them the tests skip and say why.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { writeFileSync } from "node:fs";
import { createServer, get, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import t from "tap";
import { makePluginDir, pluginApiUrl, repoRoot } from "../support/host-run.ts";

const deno = join(repoRoot, "node_modules", ".bin", "deno");
const cli = join(repoRoot, "core", "cli.ts");

function denoWorks(): boolean {
  const r = spawnSync(deno, ["--version"], { encoding: "utf8" });
  return r.error === undefined && r.status === 0;
}

/** Runs the Deno host to its end; for commands that end by themselves. */
function denoHost(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(deno, ["run", "-A", cli, ...args], { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A host running in the background: its output so far, a way to wait for a line, its exit. */
interface RunningHost {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves when stdout (or stderr) matches `pattern`; rejects if the host exits first, or after a minute. */
  waitFor(pattern: RegExp, stream?: "stdout" | "stderr"): Promise<void>;
  /** Resolves with the exit status. */
  readonly exited: Promise<number | null>;
}

function startHost(command: string, args: string[]): RunningHost {
  const child = spawn(command, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  const waiters: Array<() => boolean> = [];
  const host: RunningHost = {
    child,
    stdout: "",
    stderr: "",
    exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))),
    waitFor(pattern, stream = "stdout") {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          if (!pattern.test(host[stream])) return false;
          resolve();
          return true;
        };
        if (check()) return;
        waiters.push(check);
        // A give-up, not a timed assertion: a broken capture fails the test instead of hanging it.
        setTimeout(() => reject(new Error(`the host printed no ${pattern} within a minute: ${host.stderr}`)), 60_000).unref();
        void host.exited.then((code) => {
          if (!check()) reject(new Error(`the host exited (${code}) before printing ${pattern}: ${host.stderr}`));
        });
      });
    },
  };
  const wake = () => {
    for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]()) waiters.splice(i, 1);
  };
  child.stdout!.setEncoding("utf8").on("data", (s: string) => ((host.stdout += s), wake()));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => ((host.stderr += s), wake()));
  // A test that fails must not leave a capture running.
  t.teardown(() => void (child.exitCode === null && child.kill("SIGKILL")));
  return host;
}

/** The host's stdout lines without their leading timestamp. */
function untimed(stdout: string): string[] {
  return stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.replace(/^\d+\.\d{6} /, ""));
}

/** A `--stats` text counter ("packets:  75"), or null when the line is not there. */
function counter(stderr: string, name: string): number | null {
  const m = new RegExp(`^${name}:\\s+(\\d+)$`, "m").exec(stderr);
  return m === null ? null : Number(m[1]);
}

/** GET `path` from 127.0.0.1:`port` on a connection of its own; resolves with the client's port. */
function request(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get({ host: "127.0.0.1", port, path, agent: false, headers: { connection: "close" } }, (res) => {
      const clientPort = res.socket.localPort!;
      res.resume();
      res.on("end", () => resolve(clientPort));
    });
    req.on("error", reject);
  });
}

/** An HTTP server on loopback: 200 OK for /hello (with or without a query), 404 Not Found for anything else. */
async function httpServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const found = req.url?.startsWith("/hello") === true;
    res.writeHead(found ? 200 : 404, found ? "OK" : "Not Found", { "content-type": "text/plain" });
    res.end(found ? "hello\n" : "no\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => void server.close());
  return { server, port: (server.address() as AddressInfo).port };
}

/**
 * Makes requests until every host has printed one: a live host prints nothing when it opens, so its
 * first printed request says it is capturing. The requests are numbered, so the test can tell them
 * from the ones it checks.
 */
async function untilCapturing(hosts: RunningHost[], port: number): Promise<void> {
  let n = 0;
  const all = Promise.all(hosts.map((h) => h.waitFor(/ \/ready-\d+ HTTP\/1\.1$/m)));
  let done = false;
  void all.then(() => (done = true), () => (done = true));
  while (!done) {
    await request(port, `/ready-${n++}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await all;
}

const deniedReason = process.getuid?.() !== 0 ? "live capture needs root" : false;
const denoReason = denoWorks() ? false : "deno is not installed (npm install installs it as a dev dependency)";
const listing = denoReason === false ? denoHost(["--list-interfaces"]) : null;
const libpcapReason = listing !== null && /Cannot load libpcap/.test(listing.stderr) ? `libpcap is not installed: ${listing.stderr.trim()}` : false;
const liveReason = denoReason || libpcapReason || deniedReason;
// The Node host captures through the cap addon: compare with it where it is built.
const nodeCaptures = spawnSync(process.execPath, [join(repoRoot, "core", "bin.js"), "--list-interfaces"], { cwd: repoRoot, encoding: "utf8" });
const nodeReason = nodeCaptures.status === 0 ? false : "the Node host cannot capture here (the cap addon is not built)";

t.test("--list-interfaces under Deno lists loopback, up, with its address", { skip: denoReason || libpcapReason }, async (t) => {
  t.equal(listing!.status, 0, "the listing succeeds", { stderr: listing!.stderr });
  t.match(listing!.stdout, /^ *\d+\. lo \[up,loopback\] 127\.0\.0\.1\b/m);
});

t.test("--list-interfaces prints the same list under Deno as under Node", { skip: denoReason || libpcapReason || nodeReason }, async (t) => {
  t.equal(listing!.stdout, nodeCaptures.stdout);
});

t.test("loadLibpcap() names what to install when no libpcap loads", { skip: denoReason }, async (t) => {
  const module = new URL("../../core/live/libpcap-ffi.ts", import.meta.url).href;
  const script = `import { loadLibpcap } from ${JSON.stringify(module)};
try { loadLibpcap(["libpcap-not-here.so.9"]); } catch (e) { console.log(JSON.stringify({ kind: e.kind, message: e.message })); }`;
  const r = spawnSync(deno, ["eval", script], { cwd: repoRoot, encoding: "utf8" });
  const out = JSON.parse(r.stdout) as { kind: string; message: string };
  t.equal(out.kind, "cap-missing");
  t.match(out.message, /^Cannot load libpcap, tried libpcap-not-here\.so\.9 \(.+\): install libpcap \(as root: apt-get install libpcap0\.8\)$/);
});

t.test("a live capture on lo under Deno prints each HTTP exchange and ends on SIGINT with its counters", { skip: liveReason }, async (t) => {
  const { port } = await httpServer();
  const args = ["-i", "lo", "-f", `tcp port ${port}`, "--plugins", "http-printer", "--stats", "--workers", "1"];
  const denoHostRun = startHost(deno, ["run", "-A", cli, ...args]);
  const nodeHostRun = nodeReason === false ? startHost(process.execPath, [join(repoRoot, "core", "bin.js"), ...args]) : null;
  const hosts = nodeHostRun === null ? [denoHostRun] : [denoHostRun, nodeHostRun];
  await untilCapturing(hosts, port);

  const expected: string[] = [];
  const clients = new Set<number>();
  for (const path of ["/hello", "/missing", "/hello?again=1"]) {
    const client = await request(port, path);
    clients.add(client);
    expected.push(`127.0.0.1:${client} -> 127.0.0.1:${port} GET 127.0.0.1:${port} ${path} HTTP/1.1`);
    expected.push(`127.0.0.1:${port} -> 127.0.0.1:${client} ${path === "/missing" ? "404 Not Found" : "200 OK"}`);
  }
  const last = expected[expected.length - 1].replace(/[.?*+^$()[\]\\]/g, "\\$&");
  await Promise.all(hosts.map((h) => h.waitFor(new RegExp(`^\\d+\\.\\d{6} ${last}$`, "m"))));
  for (const h of hosts) h.child.kill("SIGINT");
  const statuses = await Promise.all(hosts.map((h) => h.exited));

  t.equal(statuses[0], 0, "the Deno host exits with 0 after SIGINT");
  // The lines of the checked connections (the readiness requests may still be printing).
  const checked = (h: RunningHost) =>
    untimed(h.stdout).filter((l) => [...l.matchAll(/127\.0\.0\.1:(\d+)/g)].some((m) => clients.has(Number(m[1]))));
  t.same(checked(denoHostRun), expected);
  t.match(denoHostRun.stdout, /^\d+\.\d{6} 127\.0\.0\.1:/, "lines start with the capture timestamp");
  const packets = counter(denoHostRun.stderr, "packets");
  t.ok(packets !== null && packets > 0, "the final counters are printed");
  t.equal(counter(denoHostRun.stderr, "received"), packets, "every frame libpcap handed over was decoded");
  t.equal(counter(denoHostRun.stderr, "dropped"), 0);
  if (nodeHostRun !== null) {
    t.equal(statuses[1], 0, "the Node host exits with 0 after SIGINT");
    t.same(checked(nodeHostRun), checked(denoHostRun), "Deno and Node print the same lines");
  }
});

t.test("a bad filter under Deno exits with 2 and libpcap's words", { skip: liveReason }, async (t) => {
  const r = denoHost(["-i", "lo", "-f", "tcp portt 80", "--duration", "1"]);
  t.equal(r.status, 2);
  t.equal(r.stderr, "host: Bad filter 'tcp portt 80': can't parse filter expression: syntax error\n");
  t.equal(r.stdout, "");
});

t.test("an interface that does not exist under Deno exits with 1, naming it and the ones there are", { skip: liveReason }, async (t) => {
  const r = denoHost(["-i", "nosuchdev0", "--duration", "1"]);
  t.equal(r.status, 1);
  t.match(r.stderr, /^host: No such interface "nosuchdev0" \(.+\): available interfaces are .*\blo\b.*\n$/);
});

t.test("-Z under Deno says it is not supported rather than keep root without a word", { skip: liveReason }, async (t) => {
  const r = denoHost(["-i", "lo", "-f", "udp port 9", "-Z", "nobody", "--duration", "1"]);
  t.equal(r.status, 0, "the run ends normally", { stderr: r.stderr });
  t.match(r.stderr, /^capture: -Z nobody: not supported on Deno; the capture keeps the privileges it started with$/m);
});

t.test("a stalled host under Deno drops and counts the frames beyond its queue instead of blocking the capture", { skip: liveReason }, async (t) => {
  // A plugin that holds the main thread from its first packet until the test creates `release`.
  const plugins = makePluginDir();
  t.teardown(plugins.remove);
  const release = join(plugins.path, "release");
  writeFileSync(
    join(plugins.path, "stall.ts"),
    `import { existsSync } from "node:fs";
import { definePlugin } from ${JSON.stringify(pluginApiUrl)};
export default definePlugin({
  name: "stall",
  setup(ctx) {
    let held = false;
    ctx.on("packet", () => {
      if (held) return;
      held = true;
      console.error("stall: holding the main thread");
      const until = Date.now() + 60000;
      while (!existsSync(${JSON.stringify(release)}) && Date.now() < until) {}
    });
  },
});
`,
  );
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  t.teardown(() => socket.close());
  const port = socket.address().port;
  const send = (bytes: number) => new Promise<void>((resolve, reject) => socket.send(new Uint8Array(bytes), port, "127.0.0.1", (err) => (err ? reject(err) : resolve())));

  // --ring-size 1M: the host's queue is then its minimum, 4 MiB.
  const queueBytes = 4 << 20;
  const host = startHost(deno, ["run", "-A", cli, "-i", "lo", "-f", `udp port ${port}`, "--ring-size", "1M", "--plugins-dir", plugins.path, "--plugins", "stall", "--stats"]);
  let triggers = 0;
  const held = host.waitFor(/stall: holding/, "stderr");
  let holding = false;
  void held.then(() => (holding = true), () => (holding = true));
  while (!holding) {
    await send(100);
    triggers++;
    await new Promise((r) => setTimeout(r, 200));
  }
  await held;
  // 10,000 datagrams of 1400 bytes (1442-byte frames, 1458 bytes as pcap records): 14.6 MB for a
  // 4 MiB queue, sent while the host cannot read any of it.
  const sent = 10_000;
  for (let i = 0; i < sent; i++) await send(1400);
  // Not a timed assertion: the pause lets the capture worker take the flood's last frames from the
  // kernel (which hands them over within its 20 ms block timeout) before the host reads again and
  // makes room in the queue for frames that would then not be dropped.
  await new Promise((r) => setTimeout(r, 500));
  writeFileSync(release, "");
  host.child.kill("SIGINT");
  t.equal(await host.exited, 0, "the host exits with 0 after SIGINT", { stderr: host.stderr });

  const packets = counter(host.stderr, "packets")!;
  const dropped = counter(host.stderr, "dropped")!;
  t.ok(dropped > 0, `frames were dropped (${dropped})`);
  t.ok(packets <= triggers + Math.floor(queueBytes / 1458), `no more frames reached the host than the queue holds (${packets})`);
  // Some triggers went out before the capture opened: only the flood is known to be captured whole.
  t.ok(packets + dropped >= sent, "every frame of the flood was either decoded or counted as dropped");
});
