/**
 * packet-printer, the default plugin: when each line is written (a packet read from a slow pipe is
 * printed before the next one arrives, as tcpdump does), and the lengths it prints, which are
 * tcpdump's (checked against tcpdump itself, and on Zeek's captures, where they are installed).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import t, { type Test } from "tap";
import { repoRoot } from "../support/host-run.ts";
import {
  arp,
  concatBytes,
  ethernet,
  fragmentIpv4,
  fragmentIpv6,
  icmpv4Echo,
  icmpv6,
  icmpv6Echo,
  ipv4,
  ipv6,
  linuxSll,
  linuxSll2,
  llcSnap,
  tcp,
  udp,
} from "../support/packet-builders.ts";
import { type CaptureRecord, encodePcap, encodePcapHeader, kPcapHeaderLength, LinkType, type PcapOptions } from "../support/pcap-writer.ts";
import { runApp, tempFolder, writeCapture } from "./app-run.ts";

/**
 * How long a test waits for the host to start and deliver its first packet: a guard against a hang,
 * not a timed assertion (it is far above what startup takes, even on a loaded machine).
 */
const kStartGuardMs = 30_000;
/**
 * How long packet-printer's line may follow another plugin's line for the same packet. The line is
 * written before the end of the batch that delivered the packet, so in practice it comes in the same
 * write as the other plugin's; this only leaves room for a slow machine.
 */
const kSameBatchMs = 2_000;

/** Collects a stream's lines and lets a test wait for one. */
class LineWaiter {
  readonly lines: string[] = [];
  private partial = "";
  private wake: (() => void) | null = null;
  private ended = false;

  constructor(stream: Readable) {
    stream.setEncoding("utf8");
    stream.on("data", (text: string) => {
      const parts = (this.partial + text).split("\n");
      this.partial = parts.pop() ?? "";
      this.lines.push(...parts);
      this.wake?.();
    });
    stream.on("end", () => {
      this.ended = true;
      this.wake?.();
    });
  }

  /** Resolves with the first line that satisfies `test`; rejects after `ms`, naming `what` and the lines so far. */
  async waitFor(test: (line: string) => boolean, ms: number, what: string): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.lines.find(test);
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (this.ended || left <= 0) {
        throw new Error(`Gave up waiting for ${what} after ${ms} ms${this.ended ? " (stdout ended)" : ""}; lines so far: ${JSON.stringify(this.lines)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }
}

t.test("a packet read from a slow pipe is printed before the next packet is written to the pipe", async (t) => {
  const frames = [1, 2].map((i) => ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 40000, dport: 9999 }, `hello ${i}`))));
  const capture = encodePcap(
    frames.map((data, i) => ({ data, timestamp: { sec: 1700000000 + i, nsec: 0 } })),
    { resolution: "nano" },
  );
  const firstRecordEnd = kPcapHeaderLength + 16 + frames[0]!.length;
  t.same(capture.subarray(0, kPcapHeaderLength), encodePcapHeader({ resolution: "nano" }), "the capture starts with its global header");
  const expected = ["1700000000.000000 IP 192.0.2.1.40000 > 192.0.2.2.9999: UDP, length 7", "1700000001.000000 IP 192.0.2.1.40000 > 192.0.2.2.9999: UDP, length 7"];

  // event-log writes its line for a packet while the packet's events are delivered: once it shows on
  // stdout, the host has dispatched the first packet, whatever time it took to start.
  const child = spawn(
    process.execPath,
    [join(repoRoot, "core/bin.js"), "-r", "-", "--workers", "1", "--plugins", "packet-printer,event-log", "-o", "event-log.events=packet"],
    { cwd: repoRoot, stdio: ["pipe", "pipe", "pipe"] },
  );
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill();
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  const out = new LineWaiter(child.stdout);

  child.stdin.write(capture.subarray(0, firstRecordEnd));
  await out.waitFor((line) => line.startsWith("packet ") && line.includes(" frame=1 "), kStartGuardMs, "event-log's line for the first packet");
  const first = await out.waitFor((line) => line.includes(" IP "), kSameBatchMs, "packet-printer's line for the first packet, with the second not yet written");
  t.equal(first, expected[0], "the first packet's line is complete");

  child.stdin.end(capture.subarray(firstRecordEnd));
  t.equal(await exited, 0, stderr);
  t.same(
    out.lines.filter((line) => line.includes(" IP ")),
    expected,
    "each packet is printed once, in order",
  );
});

// ---------------------------------------------------------------------------------------------
// Lengths

const a = "192.0.2.1";
const b = "192.0.2.2";
const a6 = "2001:db8::1";
const b6 = "2001:db8::2";
const ping = ethernet({}, ipv4({ src: a, dst: b }, icmpv4Echo({ id: 1, seq: 1 }, new Uint8Array(56))));
const whoHas = arp({ op: "request", senderMac: "02:00:00:00:00:01", senderIp: a, targetIp: b });

/** One packet of each kind whose length tcpdump counts differently, and TCP and UDP, which count their payload. */
const ethernetRecords: CaptureRecord[] = [
  { data: ping },
  { data: ping.subarray(0, 60), originalLength: ping.length },
  { data: ethernet({}, ipv4({ src: a, dst: b, options: Uint8Array.of(1, 1, 1, 0) }, icmpv4Echo({ id: 1, seq: 2, reply: true }, new Uint8Array(10)))) },
  { data: ethernet({ padToMinimum: true }, ipv4({ src: a, dst: b }, icmpv4Echo({ id: 1, seq: 3 }))) },
  { data: ethernet({}, ipv6({ src: a6, dst: b6 }, icmpv6Echo({ id: 1, seq: 1 }, new Uint8Array(32)))) },
  {
    data: ethernet({}, ipv6({ src: a6, dst: "ff02::16", extensions: [{ type: "hop-by-hop", options: Uint8Array.of(5, 2, 0, 0) }] }, icmpv6({ type: 143 }, new Uint8Array(20)))),
  },
  { data: ethernet({}, whoHas) },
  { data: ethernet({ padToMinimum: true }, whoHas) },
  { data: ethernet({ padToMinimum: true, vlans: [{ vid: 10 }] }, whoHas) },
  { data: ethernet({}, ipv4({ src: a, dst: b, protocol: 253 }, new Uint8Array(24))) },
  { data: ethernet({}, ipv4({ src: a, dst: b, protocol: 59 }, new Uint8Array(24))) },
  ...fragmentIpv4(ipv4({ src: a, dst: b, id: 7 }, udp({ sport: 5000, dport: 5001 }, new Uint8Array(100))), 64).map((f) => ({ data: ethernet({}, f) })),
  { data: ethernet({}, ipv4({ src: a, dst: b, id: 8, fragmentOffset: 1480, moreFragments: true, protocol: 6 }, new Uint8Array(100))) },
  ...fragmentIpv6(ipv6({ src: a6, dst: b6 }, udp({ sport: 5000, dport: 5001 }, new Uint8Array(100))), 64, 9).map((f) => ({ data: ethernet({}, f) })),
  { data: ethernet({}, ipv4({ src: a, dst: b }, udp({ sport: 5000, dport: 53 }, "query"))) },
  { data: ethernet({}, ipv4({ src: a, dst: b }, tcp({ sport: 5000, dport: 80, seq: 1, ack: 1, flags: "PA" }, "GET / HTTP/1.0\r\n\r\n"))) },
];

/** The times packet-printer prints for records spaced 1 ms apart from encodePcap's default start. */
const times = (n: number) => Array.from({ length: n }, (_, i) => (1704067200 + i / 1000).toFixed(6));

/** Writes `records` as a capture and returns what packet-printer prints for it. */
async function print(t: Test, name: string, records: CaptureRecord[], options?: PcapOptions): Promise<string[]> {
  const file = writeCapture(tempFolder(t), name, records, options);
  const r = await runApp(file, { plugins: ["packet-printer"], format: "text" });
  t.equal(r.status, 0, "the run succeeds");
  t.same(r.errors, [], "nothing on stderr");
  return r.lines;
}

t.test("lengths are tcpdump's: the ICMP message, what follows ARP's link header, the IP payload (none for a later IPv4 fragment or no next header), the TCP or UDP payload", async (t) => {
  const at = times(ethernetRecords.length);
  t.same(await print(t, "lengths.pcap", ethernetRecords), [
    `${at[0]} IP ${a} > ${b}: ICMP type 8 code 0, length 64`,
    `${at[1]} IP ${a} > ${b}: ICMP type 8 code 0, length 64`,
    `${at[2]} IP ${a} > ${b}: ICMP type 0 code 0, length 18`,
    `${at[3]} IP ${a} > ${b}: ICMP type 8 code 0, length 8`,
    `${at[4]} IP6 ${a6} > ${b6}: ICMP6 type 128 code 0, length 40`,
    `${at[5]} IP6 ${a6} > ff02::16: ICMP6 type 143 code 0, length 28`,
    `${at[6]} ARP, Request who-has ${b} tell ${a}, length 28`,
    `${at[7]} ARP, Request who-has ${b} tell ${a}, length 46`,
    `${at[8]} ARP, Request who-has ${b} tell ${a}, length 42`,
    `${at[9]} IP ${a} > ${b}: ip-proto-253, length 24`,
    `${at[10]} IP ${a} > ${b}: ip-proto-59`,
    `${at[11]} IP ${a}.5000 > ${b}.5001: UDP, length 100`,
    `${at[12]} IP ${a} > ${b}: ip-proto-17`,
    `${at[13]} IP ${a} > ${b}: ip-proto-6`,
    `${at[14]} IP6 ${a6}.5000 > ${b6}.5001: UDP, length 100`,
    `${at[15]} IP6 ${a6} > ${b6}: ip-proto-17, length 44`,
    `${at[16]} IP ${a}.5000 > ${b}.53: UDP, length 5`,
    `${at[17]} IP ${a}.5000 > ${b}.80: Flags [P.], seq 1, ack 1, win 65535, length 18`,
  ]);
});

t.test("ARP in a Linux cooked capture counts from after the cooked header (16 bytes for SLL, 20 for SLL2)", async (t) => {
  const [at] = times(1);
  const line = `${at} ARP, Request who-has ${b} tell ${a}, length 28`;
  t.same(await print(t, "sll.pcap", [{ data: linuxSll({}, whoHas) }], { linkType: LinkType.LINUX_SLL }), [line]);
  t.same(await print(t, "sll2.pcap", [{ data: linuxSll2({}, whoHas) }], { linkType: LinkType.LINUX_SLL2 }), [line]);
});

/** `packet` after an 802.2 LLC header with SNAP (AA AA 03, OUI 0, EtherType ARP). */
const llcSnapArp = (packet: Uint8Array) => llcSnap(0x0806, packet);
/** ARP in 802.3 frames, whose type field is the length of what follows: exactly, with padding after, and larger than the ARP packet. */
const llcRecords: CaptureRecord[] = [
  { data: ethernet({ type: 36 }, llcSnapArp(whoHas)) },
  { data: ethernet({ type: 36, padToMinimum: true }, llcSnapArp(whoHas)) },
  { data: concatBytes(ethernet({ type: 40 }, llcSnapArp(whoHas)), new Uint8Array(10)) },
];
const sllLlcRecords: CaptureRecord[] = [{ data: linuxSll({ protocol: 4 }, llcSnapArp(whoHas)) }, { data: concatBytes(linuxSll({ protocol: 4 }, llcSnapArp(whoHas)), new Uint8Array(6)) }];
const sll2LlcRecords: CaptureRecord[] = [{ data: linuxSll2({ protocol: 4 }, llcSnapArp(whoHas)) }, { data: concatBytes(linuxSll2({ protocol: 4 }, llcSnapArp(whoHas)), new Uint8Array(6)) }];

t.test("ARP after an LLC/SNAP header counts from after it: in 802.3 frames, up to where their length field ends them; in SLL and SLL2", async (t) => {
  const at = times(3);
  const line = (i: number, length: number) => `${at[i]} ARP, Request who-has ${b} tell ${a}, length ${length}`;
  t.same(await print(t, "llc.pcap", llcRecords), [line(0, 28), line(1, 28), line(2, 32)]);
  const tagged: CaptureRecord[] = [{ data: ethernet({ vlans: [{ vid: 5 }], type: 36 }, llcSnapArp(whoHas)) }, { data: ethernet({ vlans: [{ vid: 5 }, { vid: 6 }], type: 36, padToMinimum: true }, llcSnapArp(whoHas)) }];
  t.same(await print(t, "llc-vlan.pcap", tagged), [line(0, 28), line(1, 28)], "also after VLAN tags");
  t.same(await print(t, "sll-llc.pcap", sllLlcRecords, { linkType: LinkType.LINUX_SLL }), [line(0, 28), line(1, 34)]);
  t.same(await print(t, "sll2-llc.pcap", sll2LlcRecords, { linkType: LinkType.LINUX_SLL2 }), [line(0, 28), line(1, 34)]);
});

/** IPv6 packets whose extension headers (hop-by-hop, routing, destination options, fragment, AH, mobility) come before a protocol that is not decoded. */
const hopByHop = { type: "hop-by-hop", options: Uint8Array.of(5, 2, 0, 0) } as const;
const twentyFour = new Uint8Array(24);
const extensionRecords: CaptureRecord[] = [
  { data: ethernet({}, ipv6({ src: a6, dst: b6, extensions: [hopByHop], protocol: 253 }, twentyFour)) },
  { data: ethernet({}, ipv6({ src: a6, dst: b6, extensions: [{ type: "routing", addresses: [b6] }, { type: "destination", options: new Uint8Array(10) }], protocol: 47 }, twentyFour)) },
  { data: ethernet({}, ipv6({ src: a6, dst: b6, extensions: [hopByHop, { type: "fragment", id: 5, more: true }], protocol: 253 }, twentyFour)) },
  { data: ethernet({}, ipv6({ src: a6, dst: b6, extensions: [hopByHop, { type: "fragment", id: 5, offset: 64 }], protocol: 17 }, twentyFour)) },
  { data: ethernet({}, ipv6({ src: a6, dst: b6, extensions: [{ type: "ah", spi: 256, sequence: 1 }], protocol: 89 }, twentyFour)) },
  { data: ethernet({ vlans: [{ vid: 3 }, { vid: 4 }] }, ipv6({ src: a6, dst: b6, trafficClass: 0xab, flowLabel: 0x12345, extensions: [hopByHop], protocol: 50 }, twentyFour)) },
  { data: ethernet({}, ipv6({ src: a6, dst: b6, extensions: [{ type: "destination" }] })) },
  { data: ethernet({}, ipv6({ src: a6, dst: b6, extensions: [hopByHop, { type: "raw", code: 135, bytes: Uint8Array.of(59, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) }] })) },
  { data: ethernet({}, ipv6({ src: a6, dst: b6, protocol: 62 }, Uint8Array.of(59, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))) },
];
const mldReport = ethernet({}, ipv6({ src: a6, dst: b6, extensions: [hopByHop] }, icmpv6({ type: 143 }, new Uint8Array(20))));
extensionRecords.push({ data: mldReport.subarray(0, 80), originalLength: mldReport.length });

t.test("IPv6: the length is what follows the extension headers, and there is none after no next header or a mobility header (135, or 62 as drafts numbered it), as tcpdump prints", async (t) => {
  const at = times(extensionRecords.length);
  t.same(await print(t, "extensions.pcap", extensionRecords), [
    `${at[0]} IP6 ${a6} > ${b6}: ip-proto-253, length 24`,
    `${at[1]} IP6 ${a6} > ${b6}: ip-proto-47, length 24`,
    `${at[2]} IP6 ${a6} > ${b6}: ip-proto-253, length 24`,
    `${at[3]} IP6 ${a6} > ${b6}: ip-proto-17, length 24`,
    `${at[4]} IP6 ${a6} > ${b6}: ip-proto-89, length 24`,
    `${at[5]} IP6 ${a6} > ${b6}: ip-proto-50, length 24`,
    `${at[6]} IP6 ${a6} > ${b6}: ip-proto-59`,
    `${at[7]} IP6 ${a6} > ${b6}: ip-proto-135`,
    `${at[8]} IP6 ${a6} > ${b6}: ip-proto-62`,
    `${at[9]} IP6 ${a6} > ${b6}: ICMP6 type 143 code 0, length 28`,
  ]);
});

/** IP in IP: IPv4 in IPv6 (4in6, the host's events give the inner header first), IPv6 in IPv4 (6in4), 4in4 and 6in6. */
const c = "198.51.100.1";
const d = "198.51.100.2";
const c6 = "2001:db8::3";
const d6 = "2001:db8::4";
const tunnelRecords: CaptureRecord[] = [
  { data: ethernet({}, ipv6({ src: a6, dst: b6 }, ipv4({ src: c, dst: d }, udp({ sport: 5000, dport: 5001 }, twentyFour)))) },
  { data: ethernet({}, ipv6({ src: a6, dst: b6, extensions: [hopByHop] }, ipv4({ src: c, dst: d, protocol: 253 }, twentyFour))) },
  { data: ethernet({}, ipv6({ src: a6, dst: b6 }, ipv4({ src: c, dst: d, id: 3, fragmentOffset: 64, protocol: 17 }, twentyFour))) },
  { data: ethernet({}, ipv6({ src: a6, dst: b6 }, ipv4({ src: c, dst: d }, icmpv4Echo({ id: 1, seq: 1 }, twentyFour)))) },
  { data: ethernet({}, ipv4({ src: a, dst: b }, ipv6({ src: c6, dst: d6 }, udp({ sport: 5000, dport: 5001 }, twentyFour)))) },
  { data: ethernet({}, ipv4({ src: a, dst: b }, ipv6({ src: c6, dst: d6, extensions: [{ type: "destination" }], protocol: 253 }, twentyFour))) },
  { data: ethernet({}, ipv4({ src: a, dst: b }, ipv4({ src: c, dst: d }, tcp({ sport: 5000, dport: 80, seq: 1, flags: "S" })))) },
  { data: ethernet({}, ipv6({ src: a6, dst: b6 }, ipv6({ src: c6, dst: d6 }, udp({ sport: 5000, dport: 5001 }, twentyFour)))) },
];

t.test("IP in IP: the line is the inner packet's, labelled IP or IP6 by the inner header, as the end of tcpdump's line", async (t) => {
  const at = times(tunnelRecords.length);
  t.same(await print(t, "tunnels.pcap", tunnelRecords), [
    `${at[0]} IP ${c}.5000 > ${d}.5001: UDP, length 24`,
    `${at[1]} IP ${c} > ${d}: ip-proto-253, length 24`,
    `${at[2]} IP ${c} > ${d}: ip-proto-17`,
    `${at[3]} IP ${c} > ${d}: ICMP type 8 code 0, length 32`,
    `${at[4]} IP6 ${c6}.5000 > ${d6}.5001: UDP, length 24`,
    `${at[5]} IP6 ${c6} > ${d6}: ip-proto-253, length 24`,
    `${at[6]} IP ${c}.5000 > ${d}.80: Flags [S], seq 1, win 65535, length 0`,
    `${at[7]} IP6 ${c6}.5000 > ${d6}.5001: UDP, length 24`,
  ]);
});

t.test("three IP headers (IPv6 in IPv4 in IPv6): the line is the middle one's, the innermost the decoder opens", async (t) => {
  // tcpdump goes on to the third header; the decoder opens one tunnel, and the events mark the IPv4
  // header as the inner one, so the outer IPv6 header is not printed in its place.
  const threeDeep = ethernet({}, ipv6({ src: a6, dst: b6 }, ipv4({ src: c, dst: d }, ipv6({ src: c6, dst: d6 }, udp({ sport: 5000, dport: 5001 }, twentyFour)))));
  t.same(await print(t, "three-deep.pcap", [{ data: threeDeep }]), [`${times(1)[0]} IP ${c} > ${d}: ip-proto-41, length 72`]);
});

t.test("IP in IP, as JSON: `ip` is the inner header's version, like its addresses", async (t) => {
  const file = writeCapture(tempFolder(t), "tunnels.pcap", tunnelRecords.slice(0, 5));
  const r = await runApp(file, { plugins: ["packet-printer"], format: "json" });
  t.equal(r.status, 0, "the run succeeds");
  t.same(
    r.lines.map((line) => JSON.parse(line) as Record<string, unknown>).map(({ ip, src, dst }) => ({ ip, src, dst })),
    [
      { ip: 4, src: c, dst: d },
      { ip: 4, src: c, dst: d },
      { ip: 4, src: c, dst: d },
      { ip: 4, src: c, dst: d },
      { ip: 6, src: c6, dst: d6 },
    ],
  );
});

/** A skip reason when tcpdump cannot be run, otherwise false. */
const tcpdumpMissing: string | false = (() => {
  const r = spawnSync("tcpdump", ["--version"], { encoding: "utf8" });
  return r.error === undefined && r.status === 0 ? false : "tcpdump is not installed (Debian package: tcpdump)";
})();

/** `tcpdump -tt -n -r file`, one line per packet. */
function tcpdumpLines(file: string): string[] {
  const r = spawnSync("tcpdump", ["-tt", "-n", "-r", file], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`tcpdump -r ${file} exited with status ${r.status}: ${r.stderr.trim()}`);
  return r.stdout.trimEnd().split("\n").filter((line) => line !== "");
}

/**
 * The lengths tcpdump prints on a line: "length N", "ip-proto-P N" (an IP protocol it does not know),
 * "frag (offset|N)" at the end of the line (an IPv6 fragment without its transport header). Empty
 * when it prints none (DNS gives "(N)", an IPv4 fragment without its transport header nothing).
 */
function tcpdumpLengths(line: string): string[] {
  return [...line.matchAll(/length (\d+)|ip-proto-\d+ (\d+)|frag \(\d+\|(\d+)\)$/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/**
 * The last "IP a > b" or "IP6 a > b" of a line, without ports: in tcpdump's, the innermost IP header
 * of a tunnel, which packet-printer's line starts with. Null for a line without one (ARP).
 */
function innermostIp(line: string): string | null {
  const all = [...line.matchAll(/\b(IP6?) (\S+) > (\S+?):? /g)];
  const last = all[all.length - 1];
  const address = (text: string) => (text.includes(":") ? text.replace(/\.\d+$/, "") : text.replace(/^((?:\d+\.){3}\d+)\.\d+$/, "$1"));
  return last === undefined ? null : `${last[1]} ${address(last[2]!)} > ${address(last[3]!)}`;
}

/**
 * Checks, line by line, that packet-printer's length is one tcpdump prints for the same packet; when
 * `strict`, also that it prints none where tcpdump prints none and that it describes the same (the
 * innermost) IP header, for files whose every line packet-printer should print as tcpdump does
 * (unlike DNS's "(N)" or an ICMP error that quotes a header).
 */
function sameLengthsAsTcpdump(t: Test, file: string, ours: readonly string[], strict = false): void {
  const theirs = tcpdumpLines(file);
  t.equal(ours.length, theirs.length, `${file}: one line per packet, as tcpdump`);
  let compared = 0;
  ours.forEach((line, i) => {
    const other = theirs[i] ?? "";
    t.equal(line.slice(0, line.indexOf(" ")), other.slice(0, other.indexOf(" ")), `${file}: line ${i + 1} is the same packet`);
    const expected = tcpdumpLengths(other);
    const length = /length (\d+)(?!.*length \d)/.exec(line)?.[1];
    if (strict) t.equal(innermostIp(line), innermostIp(other), `${file}: line ${i + 1} describes tcpdump's innermost IP header`, { found: line, wanted: other });
    if (expected.length === 0) {
      if (!strict) return;
      compared++;
      t.equal(length, undefined, `${file}: line ${i + 1} has no length, as tcpdump`, { found: line, wanted: other });
      return;
    }
    compared++;
    t.ok(length !== undefined && expected.includes(length), `${file}: line ${i + 1} has tcpdump's length`, { found: line, wanted: other });
  });
  t.ok(compared > 0, `${file}: there were lengths to compare`);
}

t.test("tcpdump prints the same lengths for the same packets", { skip: tcpdumpMissing }, async (t) => {
  const dir = tempFolder(t);
  const files: Array<[string, CaptureRecord[], PcapOptions | undefined]> = [
    ["lengths.pcap", ethernetRecords, undefined],
    ["sll.pcap", [{ data: linuxSll({}, whoHas) }], { linkType: LinkType.LINUX_SLL }],
    ["sll2.pcap", [{ data: linuxSll2({}, whoHas) }], { linkType: LinkType.LINUX_SLL2 }],
    ["extensions.pcap", extensionRecords, undefined],
    ["tunnels.pcap", tunnelRecords, undefined],
    ["llc.pcap", llcRecords, undefined],
    ["sll-llc.pcap", sllLlcRecords, { linkType: LinkType.LINUX_SLL }],
    ["sll2-llc.pcap", sll2LlcRecords, { linkType: LinkType.LINUX_SLL2 }],
  ];
  for (const [name, records, options] of files) {
    const file = writeCapture(dir, name, records, options);
    const r = await runApp(file, { plugins: ["packet-printer"], format: "text" });
    sameLengthsAsTcpdump(t, file, r.lines, true);
  }
});

const kCaptures = fileURLToPath(new URL("../../../shared/captures/zeek", import.meta.url));
const capturesMissing = existsSync(kCaptures) ? false : `no shared captures at ${kCaptures}`;

t.test("Zeek's ping capture: the echo request in a 98-byte frame is printed with length 64, the ICMP message", { skip: capturesMissing }, async (t) => {
  const r = await runApp(join(kCaptures, "icmp-ping.pcap"), { plugins: ["packet-printer"], format: "text" });
  t.equal(r.lines[0], "1334173763.977955 IP 10.0.0.1 > 74.125.225.99: ICMP type 8 code 0, length 64");
});

t.test("on Zeek's captures of ICMP, ICMPv6, ARP (Ethernet, VLAN, QinQ, SLL, SLL2), IPv6 extension headers, IPv4 fragments and IPv6 in IPv4, lengths are tcpdump's", { skip: capturesMissing || tcpdumpMissing }, async (t) => {
  const names = [
    "icmp-ping.pcap",
    "timeout-with-pings.pcap",
    "icmp-destunreach-udp.pcap",
    "icmp6-ping.pcap",
    "icmp6-mldv2.pcap",
    "ipv6-http-atomic-frag.pcap",
    "arp-who-has.pcap",
    "icmp_dot1q.pcap",
    "q-in-q.pcap",
    "linuxsll-arp.pcap",
    "linux_dlt_sll2.pcap",
    "ipv6-fragmented-dns.pcap",
    "ipv6-hbh-routing0.pcap",
    "fragmented-1.pcap",
    "6in4.pcap",
  ];
  for (const name of names) {
    const file = join(kCaptures, name);
    const r = await runApp(file, { plugins: ["packet-printer"], format: "text" });
    t.equal(r.status, 0, `${name}: the run succeeds`);
    sameLengthsAsTcpdump(t, file, r.lines);
  }
});

const kTcpdumpCaptures = fileURLToPath(new URL("../../../shared/captures/tcpdump", import.meta.url));
const tcpdumpCapturesMissing = existsSync(kTcpdumpCaptures) ? false : `no shared captures at ${kTcpdumpCaptures}`;

t.test("on tcpdump's captures of IPv6 extension headers (AH, routing, destination options, mobility), lengths and headers are tcpdump's, and there is no length where it prints none", { skip: tcpdumpCapturesMissing || tcpdumpMissing }, async (t) => {
  const names = [
    "OSPFv3_with_AH.pcap",
    "ipv6-routing-header.pcap",
    "ipv6-srh-ext-header.pcap",
    "erspan-type-iii-pb-1.pcap",
    "ipv6_mobility_1.pcap",
    "mobility_opt_asan_2.pcap",
  ];
  for (const name of names) {
    const file = join(kTcpdumpCaptures, name);
    const r = await runApp(file, { plugins: ["packet-printer"], format: "text" });
    t.equal(r.status, 0, `${name}: the run succeeds`);
    sameLengthsAsTcpdump(t, file, r.lines, true);
  }
});
