/**
 * How a live capture on loopback ends and what it reports: ^C, `-c N` and `--duration` all end with
 * the final statistics and status 0, and a `-w` file that holds exactly the packets the statistics
 * count; `--stats-interval` prints periodic lines (with the pool size, which `--workers auto` varies);
 * `-Z` drops root once the capture is open, in the host and in its capture process.
 *
 * The traffic: numbered UDP datagrams from this test to a socket of its own on 127.0.0.1, captured
 * with a filter on that socket's port, so that other traffic on lo does not count.
 */
import { createSocket, type Socket } from "node:dgram";
import { chmodSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { getPriority } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { makeTempDir } from "../support/wireshark-tools.ts";
import { captureProcessOf, childProcessesOf, type HostProcess, type JsonLine, liveSkip, processUids, run, runRaw, startHost, uidOf } from "./live-host.ts";

/** Numbered datagrams to a local socket, one every `everyMs`, at most `max` of them. */
interface Traffic {
  readonly port: number;
  readonly sent: () => number;
  stop(): Promise<void>;
}

async function startTraffic(t: Test, everyMs = 5, max = 20_000): Promise<Traffic> {
  const receiver: Socket = createSocket("udp4");
  await new Promise<void>((resolve) => receiver.bind(0, "127.0.0.1", resolve));
  const port = (receiver.address() as AddressInfo).port;
  const sender = createSocket("udp4");
  let sent = 0;
  const timer = setInterval(() => {
    if (sent >= max) return clearInterval(timer);
    sender.send(`datagram ${++sent}`, port, "127.0.0.1");
  }, everyMs);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    await new Promise<void>((resolve) => sender.close(() => resolve()));
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  };
  t.teardown(stop);
  return { port, sent: () => sent, stop };
}

/** Starts the host on lo with a filter on the traffic's port, and kills it at teardown if it is still running. */
function hostOnLo(t: Test, traffic: Traffic, args: string[]): HostProcess {
  const host = startHost(["-i", "lo", "-f", `udp dst port ${traffic.port}`, ...args]);
  t.teardown(() => host.kill());
  return host;
}

const latestInterval = (host: HostProcess): JsonLine | undefined => host.jsonLines("stats-interval").at(-1);

/** Packets in a pcap file, counted by capinfos. */
function capinfosCount(file: string): number {
  const m = /Number of packets:\s+(\d+)\s*$/m.exec(run("capinfos", ["-c", "-M", file]));
  return m === null ? -1 : Number(m[1]);
}

/** The datagram numbers in a pcap file, in file order, as tcpdump reads them (-A prints the payload). */
function datagramNumbers(file: string): { numbers: number[]; stderr: string; status: number | null } {
  const r = runRaw("tcpdump", ["-nn", "-A", "-r", file]);
  const numbers = [...r.stdout.matchAll(/datagram (\d+)/g)].map((m) => Number(m[1]));
  return { numbers, stderr: r.stderr, status: r.status };
}

t.test("^C during a capture: final stats, status 0, and a -w file with exactly the packets counted", { skip: liveSkip("tcpdump", "capinfos") }, async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  const file = join(dir.path, "interrupted.pcap");
  const traffic = await startTraffic(t);
  const host = hostOnLo(t, traffic, ["-w", file, "--plugins", "flow-counter", "--stats", "--format", "json", "--stats-interval", "0.2"]);
  await host.until("some datagrams to be decoded", () => Number(latestInterval(host)?.decoded ?? 0) >= 20);
  // The traffic goes on while the host stops.
  host.interrupt();
  const exit = await host.end();
  await traffic.stop();

  t.same(exit, { code: 0, signal: null }, "^C ends the run with status 0");
  const stats = host.stats;
  t.ok(stats, "the final stats line is printed");
  const packets = Number(stats?.packets);
  t.ok(packets >= 20, `the packets decoded are counted (${packets})`);
  t.equal(Number(stats?.received), packets + Number(stats?.dropped), "every frame received was decoded or counted as dropped");
  t.equal(capinfosCount(file), packets, "capinfos counts the packets of the stats in the -w file");
  const read = datagramNumbers(file);
  t.equal(read.status, 0, "tcpdump reads the -w file");
  t.notMatch(read.stderr, /truncated|bogus|invalid/i, "without complaint");
  t.equal(read.numbers.length, packets, "tcpdump finds every datagram in it");
  // Light traffic on lo: the datagrams follow one another, none missing inside the file.
  const first = read.numbers[0];
  t.same(read.numbers, Array.from({ length: packets }, (_, i) => first + i), "in order, none missing");
});

t.test("-c N stops the capture by itself after N packets: stats, status 0, N packets in the -w file", { skip: liveSkip("capinfos") }, async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  const file = join(dir.path, "count.pcap");
  const traffic = await startTraffic(t);
  const host = hostOnLo(t, traffic, ["-c", "25", "-w", file, "--plugins", "flow-counter", "--stats", "--format", "json"]);
  const exit = await host.end();
  await traffic.stop();

  t.same(exit, { code: 0, signal: null }, "the run ends by itself with status 0");
  t.equal(host.stderr[0], "host: listening on lo, link type 1 (Ethernet)", "it first says where it listens, as tcpdump does");
  t.equal(host.stats?.packets, 25, "the stats count N packets");
  t.equal(capinfosCount(file), 25, "the -w file holds N packets");
});

t.test("--duration SECONDS stops the capture by itself: stats and status 0", { skip: liveSkip("capinfos") }, async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  const file = join(dir.path, "duration.pcap");
  const traffic = await startTraffic(t);
  const host = hostOnLo(t, traffic, ["--duration", "1.5", "-w", file, "--plugins", "flow-counter", "--stats", "--format", "json"]);
  const exit = await host.end();
  await traffic.stop();

  t.same(exit, { code: 0, signal: null }, "the run ends by itself with status 0");
  const stats = host.stats;
  t.ok(stats, "the final stats line is printed");
  t.ok(Number(stats?.packets) > 0, "the datagrams of those seconds are decoded");
  t.equal(capinfosCount(file), stats?.packets, "the -w file holds the packets counted");
});

t.test("--stats-interval 1 prints a line every second, with the pool size --workers auto chose", { skip: liveSkip() }, async (t) => {
  const traffic = await startTraffic(t);
  const host = hostOnLo(t, traffic, ["--stats-interval", "1", "--workers", "auto", "--plugins", "flow-counter", "--stats"]);
  const periodic = /^\[(\d+\.\d)s\] received (\d+) dropped (\d+) decoded (\d+) ring \d+% workers (\d+) \(tasks .*\)$/;
  const lines = () => host.stderr.filter((line) => periodic.test(line));
  await host.until("three periodic lines", () => lines().length >= 3);
  host.interrupt();
  const exit = await host.end();
  await traffic.stop();

  t.same(exit, { code: 0, signal: null });
  const parsed = lines().map((line) => periodic.exec(line)!.slice(1).map(Number));
  t.ok(parsed.every(([, , , , workers]) => workers >= 1), "each line shows the pool's size");
  const elapsed = parsed.map(([secs]) => secs);
  t.same(elapsed, [...elapsed].sort((a, b) => a - b), "the lines come in time order");
  const decoded = parsed.map(([, , , d]) => d);
  t.same(decoded, [...decoded].sort((a, b) => a - b), "what was decoded only grows");
  // The summary at the end says the pool was sized automatically.
  t.match(host.stderr.join("\n"), /^workers: +auto \d+\.\.\d+, peak \d+/m);
});

t.test("a few packets, fewer than a batch, are decoded while the capture goes on, not only at its end", { skip: liveSkip() }, async (t) => {
  // No traffic yet: the host first shows that it captures (a periodic line), then gets three datagrams.
  const traffic = await startTraffic(t, 5, 0);
  const host = hostOnLo(t, traffic, ["--plugins", "flow-counter", "--stats", "--format", "json", "--stats-interval", "0.2"]);
  await host.until("a periodic stats line", () => latestInterval(host) !== undefined);
  const sender = createSocket("udp4");
  t.teardown(() => sender.close());
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => sender.send(`datagram ${i}`, traffic.port, "127.0.0.1", () => resolve()));
  await host.until("the three datagrams to be decoded", () => Number(latestInterval(host)?.decoded ?? 0) >= 3, 10_000);
  host.interrupt();
  t.same(await host.end(), { code: 0, signal: null });
  t.equal(Number(host.stats?.packets), 3, "three packets in all");
});

const nobody = uidOf("nobody");

t.test("-Z nobody: the capture goes on after the host and its capture process gave up root", { skip: liveSkip() || (nobody === null ? "there is no user nobody" : false) }, async (t) => {
  const traffic = await startTraffic(t);
  // A temporary folder of its own: tsx's compile cache starts empty, so the plugin's TypeScript is
  // compiled in this run, by a compiler process that must not be left running as root.
  const tmp = makeTempDir();
  t.teardown(tmp.remove);
  chmodSync(tmp.path, 0o1777);
  const args = ["-i", "lo", "-f", `udp dst port ${traffic.port}`, "-Z", "nobody", "--plugins", "flow-counter", "--stats", "--format", "json", "--stats-interval", "0.2"];
  const host = startHost(args, { env: { TMPDIR: tmp.path } });
  t.teardown(() => host.kill());
  await host.until("datagrams decoded after the switch", () => Number(latestInterval(host)?.decoded ?? 0) >= 10);
  const hostUids = processUids(host.pid);
  const capturePid = captureProcessOf(host.pid);
  const captureUids = capturePid === null ? [] : processUids(capturePid);
  const children = childProcessesOf(host.pid).map((pid) => ({ pid, uids: processUids(pid) }));
  host.interrupt();
  const exit = await host.end();
  await traffic.stop();

  t.same(hostUids, [nobody, nobody, nobody, nobody], "the host runs as nobody (real, effective, saved, filesystem uid)");
  t.ok(capturePid, "the capture process is found");
  t.same(captureUids, [nobody, nobody, nobody, nobody], "so does its capture process");
  t.same(
    children.filter((c) => c.uids.some((uid) => uid !== nobody)),
    [],
    `no child of the host keeps another user (${children.length} children: the capture process, the TypeScript compiler)`,
  );
  t.same(exit, { code: 0, signal: null });
  t.ok(Number(host.stats?.packets) >= 10, "the datagrams were decoded");
});

t.test("-Z with a user that does not exist is a usage error (status 2) before anything is captured", { skip: liveSkip() }, async (t) => {
  const host = startHost(["-i", "lo", "-Z", "no-such-user-here"]);
  t.teardown(() => host.kill());
  const exit = await host.end();
  t.same(exit, { code: 2, signal: null });
  t.match(host.stderr.join("\n"), 'Invalid -Z/--user "no-such-user-here": there is no such user');
});

/** A host capturing traffic on lo, once it has decoded some of it, and its capture process. */
async function capturingHost(t: Test): Promise<{ traffic: Traffic; host: HostProcess; capturePid: number | null }> {
  const traffic = await startTraffic(t);
  const host = hostOnLo(t, traffic, ["--plugins", "flow-counter", "--stats", "--format", "json", "--stats-interval", "0.2"]);
  await host.until("some datagrams to be decoded", () => Number(latestInterval(host)?.decoded ?? 0) >= 10);
  const capturePid = captureProcessOf(host.pid);
  t.ok(capturePid, "the capture process is found");
  return { traffic, host, capturePid };
}

t.test("the capture process runs at a higher priority than the host (nice -10), so that it empties the kernel's ring first", { skip: liveSkip() }, async (t) => {
  const { traffic, host, capturePid } = await capturingHost(t);
  t.equal(getPriority(capturePid!), -10, "the capture process's nice value");
  t.equal(getPriority(host.pid), getPriority(), "the host keeps the priority it was started with");
  host.interrupt();
  t.same(await host.end(), { code: 0, signal: null });
  await traffic.stop();
});

t.test("a capture process that dies ends the run with status 1 and says so", { skip: liveSkip() }, async (t) => {
  const { traffic, host, capturePid } = await capturingHost(t);
  process.kill(capturePid!, "SIGKILL");
  const exit = await host.end();
  await traffic.stop();

  t.same(exit, { code: 1, signal: null }, "the run ends with status 1");
  t.match(host.stderr.join("\n"), "host: the capture process on lo ended unexpectedly (SIGKILL)", "and names the cause");
  t.ok(host.stats, "the stats of what was decoded are still printed");
});

t.test("an empty -w file of a quiet raw-IP interface has that link type, not Ethernet", { skip: liveSkip("ip", "tcpdump") }, async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  const file = join(dir.path, "quiet.pcap");
  // A tun device, in a namespace of the test's own, that nothing writes to.
  const ns = `ph-quiet-${process.pid}`;
  runRaw("ip", ["netns", "del", ns]);
  run("ip", ["netns", "add", ns]);
  t.teardown(() => void runRaw("ip", ["netns", "del", ns]));
  run("ip", ["netns", "exec", ns, "ip", "tuntap", "add", "dev", "tun0", "mode", "tun"]);
  run("ip", ["netns", "exec", ns, "ip", "link", "set", "tun0", "up"]);
  const host = startHost(["-i", "tun0", "--duration", "0.5", "-w", file, "--stats", "--format", "json"], { netns: ns });
  t.teardown(() => host.kill());
  const exit = await host.end();

  t.same(exit, { code: 0, signal: null });
  t.equal(host.stats?.packets, 0, "nothing was captured");
  const read = runRaw("tcpdump", ["-r", file]);
  t.equal(read.status, 0, "tcpdump reads the file");
  t.match(read.stderr, "link-type RAW (Raw IP)");
});
