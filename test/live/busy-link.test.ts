/**
 * A busy link: frames replayed at top speed (tcpreplay) over a veth pair inside a network namespace
 * that the test creates and deletes, so that they can reach no other network. Every frame sent must
 * be accounted for: received by the capture, then decoded or counted as dropped. No crash, and memory
 * stays bounded when the host cannot keep up.
 *
 * Why the kernel never drops here, so that "received" must equal "sent" exactly. Frames the kernel
 * drops before libpcap sees them are counted nowhere we can read: cap exposes no pcap_stats(), and
 * the packet socket's drop count is not in `ss` either. So the test makes a kernel drop impossible.
 * cap turns on libpcap's immediate mode, which makes libpcap use a TPACKET_V2 ring of fixed-size
 * slots; with segmentation offload on (veth has it) a slot is sized for a 64 KiB frame, so the ring
 * holds --buffer-size / 65616 frames, whatever their size: 4092 frames for 256M (we checked
 * PACKET_RX_RING's arguments: blocks of 128 KiB, one 65616-byte frame each). A burst of at most
 * kBurst (< 4092) frames fits that ring even if the capture process read none of it, and the next
 * burst is sent only once the capture has reported every frame so far as received. Frames the
 * filter rejects never take a slot (the filter runs in the kernel, before the ring), and IPv6 is off
 * in the namespace, so nothing else arrives on the link.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import t, { type Test } from "tap";
import { ethernet, ipv4, udp } from "../support/packet-builders.ts";
import { PcapStreamWriter } from "../support/pcap-writer.ts";
import { makeTempDir } from "../support/wireshark-tools.ts";
import {
  captureProcessOf,
  createVethNamespace,
  type HostProcess,
  kCaptureSide,
  liveSkip,
  processAnonRss,
  replay,
  repoRoot,
  startHost,
} from "./live-host.ts";

const skip = liveSkip("ip", "tcpreplay");
const MiB = 1 << 20;
/** Frames in one burst: fewer than the 4092 slots of libpcap's ring with a 256M buffer (see above). */
const kBurst = 4000;
const kBufferSize = "256M";
/** The capture filter: the test's frames only. */
const kFilter = "udp and dst port 9";

/** Writes `count` UDP frames of `payloadBytes` each (numbered in their first payload bytes) to `file`. */
function writeFrames(file: string, count: number, payloadBytes: number): void {
  const writer = PcapStreamWriter.create(file);
  const payload = new Uint8Array(payloadBytes);
  for (let i = 0; i < count; i++) {
    new DataView(payload.buffer).setUint32(0, i);
    writer.write(
      ethernet(
        { src: "02:00:00:00:00:01", dst: "02:00:00:00:00:02" },
        ipv4({ src: "198.51.100.1", dst: "198.51.100.2", id: i & 0xffff }, udp({ sport: 40000, dport: 9 }, payload)),
      ),
    );
  }
  writer.close();
}

/** Frames the capture has reported as received, from the latest --stats-interval line. */
const receivedSoFar = (host: HostProcess): number => Number(host.jsonLines("stats-interval").at(-1)?.received ?? 0);

/** A namespace of this test's own with its veth pair; the host is stopped before the namespace goes. */
function namespace(t: Test, suffix: string, mtu: number, host: () => HostProcess | null): string {
  const name = `ph-busy-${process.pid}-${suffix}`;
  createVethNamespace(t, name, mtu, async () => {
    const h = host();
    if (h !== null && h.running) {
      h.kill();
      await h.exited;
    }
  });
  return name;
}

t.test("top speed, small frames: every frame sent is received, then decoded or counted as dropped", { skip }, async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  const file = join(dir.path, "burst.pcap");
  writeFrames(file, kBurst, 18); // 60-byte frames, the Ethernet minimum
  let host: HostProcess | null = null;
  const ns = namespace(t, "small", 1500, () => host);

  host = startHost(
    ["-i", kCaptureSide, "-f", kFilter, "--buffer-size", kBufferSize, "--plugins", "flow-counter", "--stats", "--format", "json", "--stats-interval", "0.1"],
    { netns: ns },
  );
  const h = host;
  await h.until("the first periodic stats line (the host is reading)", () => h.jsonLines("stats-interval").length > 0);
  let sent = 0;
  for (let burst = 1; burst <= 25; burst++) {
    sent += replay(ns, file);
    await h.until(`the capture to receive burst ${burst}`, () => receivedSoFar(h) >= sent);
  }
  h.interrupt();
  const exit = await h.end();

  t.same(exit, { code: 0, signal: null }, "no crash: ^C ends the run with status 0");
  t.equal(sent, 25 * kBurst, "tcpreplay sent every frame");
  const stats = h.stats!;
  t.ok(stats, "the final stats line is printed");
  t.equal(stats.received, sent, "every frame sent was received");
  t.equal(Number(stats.packets) + Number(stats.dropped), stats.received, "every frame received was decoded or counted as dropped");
  // The flow counter saw one flow holding every decoded packet.
  const flows = h.stdout.map((line) => JSON.parse(line) as Record<string, unknown>).filter((r) => r.type === "flow");
  t.equal(flows.reduce((n, f) => n + Number(f.packets_ab) + Number(f.packets_ba), 0), stats.packets, "the decoded packets reached the plugin");
  t.comment(`received ${stats.received}, decoded ${stats.packets}, dropped ${stats.dropped}, peak RSS ${(Number(stats.max_rss) / MiB).toFixed(0)} MiB`);
  // The ring (32M), the stream queue (4M) and the runtime: 100k frames are not kept.
  t.ok(Number(stats.max_rss) < 400 * MiB, `the host's peak RSS stays bounded (${(Number(stats.max_rss) / MiB).toFixed(0)} MiB)`);
});

/**
 * A plugin that holds the host's thread in its setup, which runs after the capture opened and before
 * the host reads anything: it writes `stalled` in its folder, then waits for `release` there.
 */
const stallPlugin = `import { existsSync, writeFileSync } from "node:fs";
import { definePlugin } from ${JSON.stringify(pathToFileURL(join(repoRoot, "core/plugins/plugin-api.ts")).href)};

export default definePlugin({
  name: "stall",
  description: "Holds the host's thread until a file appears (the busy-link test)",
  options: { dir: { type: "string", default: "" } },
  setup(ctx) {
    writeFileSync(ctx.options.dir + "/stalled", "");
    const nap = new Int32Array(new SharedArrayBuffer(4));
    const deadline = Date.now() + 60_000;
    while (!existsSync(ctx.options.dir + "/release") && Date.now() < deadline) Atomics.wait(nap, 0, 0, 10);
  },
});
`;

/** CPU time (user + system, in clock ticks) process `pid` has used. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

t.test("a stalled host: the capture process drops and counts what it cannot queue, and memory stays bounded", { skip }, async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  const plugins = join(dir.path, "plugins");
  mkdirSync(plugins);
  // An ES module like the host's own files.
  writeFileSync(join(plugins, "package.json"), JSON.stringify({ type: "module" }));
  writeFileSync(join(plugins, "stall.ts"), stallPlugin);
  const file = join(dir.path, "jumbo.pcap");
  // 4000 frames of 60 KB: 240 MB, far more than the capture process may queue (4 MiB with a 1M ring).
  writeFrames(file, kBurst, 60_000);
  let host: HostProcess | null = null;
  const ns = namespace(t, "stall", 65535, () => host);

  host = startHost(
    [
      "-i", kCaptureSide, "-f", kFilter, "--buffer-size", kBufferSize, "--ring-size", "1M",
      "--plugins-dir", plugins, "--plugins", "stall", "-o", `stall.dir=${dir.path}`,
      "--stats", "--format", "json", "--stats-interval", "0.1",
    ],
    { netns: ns },
  );
  const h = host;
  await h.until("the stall plugin to hold the host", () => existsSync(join(dir.path, "stalled")));
  const capturePid = captureProcessOf(h.pid);
  t.ok(capturePid, "the capture process runs");
  const sent = replay(ns, file);
  // The capture process takes the frames out of libpcap's ring and drops what does not fit its queue;
  // it is done when it stops using the CPU (the ring holds every frame until then, see above).
  let ticks = -1;
  let still = 0;
  await h.until("the capture process to go idle", () => {
    const now = cpuTicks(capturePid!);
    still = now === ticks ? still + 1 : 0;
    ticks = now;
    return still >= 5;
  });
  // What the capture process holds now, with every frame in and the host still stalled: its queue.
  const captureHeld = processAnonRss(capturePid!);
  writeFileSync(join(dir.path, "release"), "");
  await h.until("the capture to report every frame", () => receivedSoFar(h) >= sent);
  h.interrupt();
  const exit = await h.end();

  t.same(exit, { code: 0, signal: null }, "no crash: ^C ends the run with status 0");
  t.equal(sent, kBurst, "tcpreplay sent every frame");
  const stats = h.stats!;
  t.ok(stats, "the final stats line is printed");
  t.equal(stats.received, sent, "every frame sent was received");
  t.ok(Number(stats.dropped) > 0, `frames that did not fit were dropped (${stats.dropped})`);
  t.ok(Number(stats.packets) > 0, `the frames queued before were decoded (${stats.packets})`);
  t.equal(Number(stats.packets) + Number(stats.dropped), stats.received, "every frame received was decoded or counted as dropped");
  const sentMiB = Math.round((sent * 60_042) / MiB);
  t.comment(`host peak RSS ${(Number(stats.max_rss) / MiB).toFixed(0)} MiB, capture process memory ${(captureHeld / MiB).toFixed(0)} MiB, ${sentMiB} MiB sent`);
  // Had the frames been queued, either process would have grown by the 229 MiB sent.
  t.ok(captureHeld < 128 * MiB, `the capture process's memory stays bounded (${(captureHeld / MiB).toFixed(0)} MiB)`);
  t.ok(Number(stats.max_rss) < 300 * MiB, `the host's peak RSS stays bounded (${(Number(stats.max_rss) / MiB).toFixed(0)} MiB)`);
});
