import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import {
  arp,
  ethernet,
  formatIpv6,
  formatTcpFlags,
  fragmentIpv4,
  fragmentIpv6,
  hex,
  icmpv4Echo,
  icmpv4Unreachable,
  icmpv6Echo,
  icmpv6NeighborAdvertisement,
  icmpv6NeighborSolicitation,
  icmpv6Unreachable,
  internetChecksum,
  ipv4,
  ipv6,
  ipv6MulticastMac,
  linuxSll,
  linuxSll2,
  nullLoopback,
  parseIpv4,
  parseIpv6,
  rawIp,
  solicitedNodeAddress,
  tcp,
  tcpFlagBits,
  text,
  udp,
} from "./packet-builders.ts";
import { encodePcap, LinkType } from "./pcap-writer.ts";
import { makeTempDir, tsharkFields, tsharkProblems, wiresharkMissing } from "./wireshark-tools.ts";

/**
 * The Internet checksum computed from its definition rather than the way the builders do it: the
 * one's complement sum of 16-bit words equals their plain sum modulo 65535 (with 0xffff standing
 * for a non-zero multiple), and the checksum is its complement.
 */
function referenceChecksum(bytes: readonly number[]): number {
  let total = 0n;
  for (let i = 0; i < bytes.length; i += 2) total += BigInt(bytes[i]! * 256 + (bytes[i + 1] ?? 0));
  let sum = Number(total % 65535n);
  if (sum === 0 && total > 0n) sum = 0xffff;
  return 0xffff - sum;
}

const u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
const u32 = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

t.test("ipv4() writes a header that checksums to zero, with and without options", async (t) => {
  for (const options of [undefined, hex("94 04 00 00"), hex("01 01 01")]) {
    const packet = ipv4({ src: "192.0.2.1", dst: "198.51.100.2", id: 0x1234, ttl: 17, options }, udp({ sport: 1, dport: 2 }, "x"));
    const headerLength = (packet[0]! & 0x0f) * 4;
    t.equal(internetChecksum(packet, 0, headerLength), 0, `options ${options?.length ?? 0} bytes`);
    t.equal(u16(packet, 10), referenceChecksum([...packet.subarray(0, 10), 0, 0, ...packet.subarray(12, headerLength)]));
  }
});

t.test("ipv4() fills in version, IHL, total length, flags, fragment offset and protocol", async (t) => {
  const packet = ipv4({ src: "192.0.2.1", dst: "198.51.100.2", dontFragment: true, moreFragments: true, fragmentOffset: 1480, tos: 0xb8, options: hex("01") }, tcp({ sport: 1, dport: 2 }));
  t.equal(packet[0], 0x46, "version 4, IHL 6 (one padded option word)");
  t.equal(packet[1], 0xb8);
  t.equal(u16(packet, 2), packet.length);
  t.equal(u16(packet, 6), 0x6000 | (1480 / 8), "DF and MF set, offset in 8-byte units");
  t.equal(packet[9], 6, "protocol inferred from tcp()");
  t.same([...packet.subarray(12, 20)], [192, 0, 2, 1, 198, 51, 100, 2]);
  t.throws(() => ipv4({ src: "192.0.2.1", dst: "198.51.100.2", fragmentOffset: 100 }), /multiple of 8/);
});

t.test("ipv4() writes overridden version, IHL, total length and checksum verbatim for malformed packets", async (t) => {
  const packet = ipv4({ src: "192.0.2.1", dst: "198.51.100.2", version: 5, ihl: 3, totalLength: 9999, checksum: 0xbeef, protocol: 99 }, text("abc"));
  t.equal(packet[0], 0x53);
  t.equal(u16(packet, 2), 9999);
  t.equal(u16(packet, 10), 0xbeef);
  t.equal(packet[9], 99);
  t.equal(packet.length, 23, "the real layout is unchanged");
});

t.test("tcp() inside ipv4() gets the checksum that an independent computation over the pseudo-header gives", async (t) => {
  const payload = text("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n!"); // odd length exercises the zero pad byte
  const packet = ipv4({ src: "192.0.2.10", dst: "203.0.113.80" }, tcp({ sport: 49152, dport: 80, seq: 0xfffffff0, ack: 7, flags: "PA" }, payload));
  const segment = packet.subarray(20);
  const pseudo = [192, 0, 2, 10, 203, 0, 113, 80, 0, 6, segment.length >> 8, segment.length & 0xff];
  const zeroed = [...segment];
  zeroed[16] = 0;
  zeroed[17] = 0;
  t.equal(u16(segment, 16), referenceChecksum([...pseudo, ...zeroed]));
  t.equal(u32(segment, 4), 0xfffffff0, "seq is written as uint32");
});

t.test("udp() and icmpv6() inside ipv6() get checksums over the IPv6 pseudo-header", async (t) => {
  for (const inner of [udp({ sport: 5353, dport: 53 }, "query"), icmpv6Echo({ id: 1, seq: 2 }, "ping")]) {
    const packet = ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, inner);
    const upper = packet.subarray(40);
    const nextHeader = packet[6]!;
    const checksumAt = nextHeader === 17 ? 6 : 2;
    const pseudo = [...parseIpv6("2001:db8::1"), ...parseIpv6("2001:db8::2"), 0, 0, upper.length >> 8, upper.length & 0xff, 0, 0, 0, nextHeader];
    const zeroed = [...upper];
    zeroed[checksumAt] = 0;
    zeroed[checksumAt + 1] = 0;
    t.equal(u16(upper, checksumAt), referenceChecksum([...pseudo, ...zeroed]), `next header ${nextHeader}`);
  }
});

t.test("udp() transmits a computed checksum of zero as 0xffff", async (t) => {
  const probe = ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1000, dport: 2000 }, new Uint8Array(2)));
  // Choose the payload word that brings the one's complement sum to 0xffff, so the checksum computes to 0.
  const sumWithoutWord = 0xffff - u16(probe, 26);
  const word = 0xffff - sumWithoutWord;
  const packet = ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1000, dport: 2000 }, Uint8Array.of(word >> 8, word & 0xff)));
  t.equal(u16(packet, 26), 0xffff);
  t.equal(u16(ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1, dport: 2, checksum: 0 }, "x")), 26), 0, "an explicit 0 means no checksum");
});

t.test("a bare tcp() has a zero checksum until an IP builder wraps it, and wrapping twice leaves it untouched", async (t) => {
  const segment = tcp({ sport: 1, dport: 2, flags: "S" });
  t.equal(u16(segment, 16), 0);
  const a = ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, segment);
  const b = ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, segment);
  t.not(u16(a, 36), 0);
  t.not(u16(b, 56), 0);
  t.equal(u16(segment, 16), 0, "the inner layer is copied, not patched");
});

t.test("ipv6() chains next-header values through extension headers and counts them in the payload length", async (t) => {
  const packet = ipv6(
    {
      src: "2001:db8::1",
      dst: "2001:db8::2",
      trafficClass: 0xa0,
      flowLabel: 0x12345,
      hopLimit: 3,
      extensions: [
        { type: "hop-by-hop", options: hex("05 02 00 00") },
        { type: "destination" },
        { type: "routing", routingType: 2, addresses: ["2001:db8::9"], segmentsLeft: 0 },
        { type: "fragment", offset: 0, more: false, id: 0xdeadbeef },
        { type: "ah", spi: 0x100, sequence: 1 },
      ],
    },
    tcp({ sport: 1, dport: 2 }),
  );
  t.equal(u32(packet, 0), (6 << 28) | (0xa0 << 20) | 0x12345);
  t.equal(u16(packet, 4), packet.length - 40);
  t.equal(packet[7], 3);
  const chain: number[] = [packet[6]!];
  let at = 40;
  const lengths: number[] = [];
  for (const code of [0, 60, 43, 44, 51]) {
    t.equal(chain[chain.length - 1], code);
    chain.push(packet[at]!);
    const length = code === 44 ? 8 : code === 51 ? (packet[at + 1]! + 2) * 4 : (packet[at + 1]! + 1) * 8;
    lengths.push(length);
    at += length;
  }
  t.same(chain, [0, 60, 43, 44, 51, 6]);
  t.same(lengths, [8, 8, 24, 8, 24]);
  t.same([...packet.subarray(42, 48)], [5, 2, 0, 0, 1, 0], "hop-by-hop option then PadN to 8 bytes");
  t.equal(u32(packet, 40 + 8 + 8 + 24 + 4), 0xdeadbeef, "fragment id");
});

t.test("ipv6() checksums the upper layer against the routing header's final destination", async (t) => {
  const packet = ipv6({ src: "2001:db8::1", dst: "2001:db8::2", extensions: [{ type: "routing", addresses: ["2001:db8::3", "2001:db8::4"] }] }, udp({ sport: 1, dport: 2 }, "x"));
  const upper = packet.subarray(40 + 40);
  const pseudo = [...parseIpv6("2001:db8::1"), ...parseIpv6("2001:db8::4"), 0, 0, 0, upper.length, 0, 0, 0, 17];
  t.equal(u16(upper, 6), referenceChecksum([...pseudo, ...upper.subarray(0, 6), 0, 0, ...upper.subarray(8)]));
});

t.test("parseIpv6() accepts every textual form and rejects malformed ones", async (t) => {
  const cases: [string, string][] = [
    ["::", "::"],
    ["::1", "::1"],
    ["2001:db8::", "2001:db8::"],
    ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["::ffff:192.0.2.1", "::ffff:c000:201"],
    ["64:ff9b::198.51.100.7", "64:ff9b::c633:6407"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["fe80::1:0:0:0:1", "fe80:0:0:1::1"],
  ];
  for (const [input, canonical] of cases) t.equal(formatIpv6(parseIpv6(input)), canonical, input);
  for (const bad of ["1:::2", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "::ffff:1.2.3", "::1.2.3.4:5", "fe80::1%eth0", ""]) {
    t.throws(() => parseIpv6(bad), /Cannot parse IPv6 address/, bad);
  }
  t.throws(() => parseIpv4("192.0.2.01"), /Cannot parse IPv4 address/);
  t.throws(() => parseIpv4("256.0.0.1"), /Cannot parse IPv4 address/);
});

t.test("ethernet() writes QinQ tags with 0x88a8 outside and 0x8100 inside unless told otherwise", async (t) => {
  const frame = ethernet({ src: "00:11:22:33:44:55", dst: "66:77:88:99:aa:bb", vlans: [{ vid: 100, pcp: 5 }, { vid: 4095, dei: true }] }, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }));
  t.same([...frame.subarray(0, 12)], [0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55]);
  t.same([u16(frame, 12), u16(frame, 14), u16(frame, 16), u16(frame, 18), u16(frame, 20)], [0x88a8, (5 << 13) | 100, 0x8100, 0x1000 | 4095, 0x0800]);
  const custom = ethernet({ vlans: [{ vid: 1, tpid: 0x9100 }, { vid: 2, tpid: 0x9100 }] }, arp({ op: "request", senderMac: "02:00:00:00:00:01", senderIp: "192.0.2.1", targetIp: "192.0.2.2" }));
  t.same([u16(custom, 12), u16(custom, 16), u16(custom, 20)], [0x9100, 0x9100, 0x0806]);
  t.equal(ethernet({ padToMinimum: true }, arp({ op: "reply", senderMac: "02:00:00:00:00:02", senderIp: "192.0.2.2", targetMac: "02:00:00:00:00:01", targetIp: "192.0.2.1" })).length, 60);
  t.throws(() => ethernet({}, text("who am I")), /give `type`/);
  t.throws(() => ethernet({ type: 0x88b5, vlans: [{ vid: 4096 }] }, text("x")), RangeError);
});

t.test("tcp() encodes options in order and pads them to a multiple of four", async (t) => {
  const syn = tcp({
    sport: 1,
    dport: 2,
    flags: { syn: true },
    options: [{ kind: "mss", value: 1460 }, { kind: "sack-permitted" }, { kind: "timestamps", value: 0x01020304, echo: 0 }, { kind: "nop" }, { kind: "wscale", shift: 7 }],
  });
  t.equal(syn[12]! >> 4, 10, "data offset 40 bytes");
  t.same([...syn.subarray(20, 40)], [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7]);
  t.same([...tcp({ sport: 1, dport: 2, options: [{ kind: "wscale", shift: 7 }] }).subarray(20)], [3, 3, 7, 0], "EOL padding");
  t.same([...tcp({ sport: 1, dport: 2, options: [{ kind: "wscale", shift: 7 }], optionPadding: "nop" }).subarray(20)], [3, 3, 7, 1], "NOP padding");
  const sack = tcp({ sport: 1, dport: 2, options: [{ kind: "nop" }, { kind: "nop" }, { kind: "sack", blocks: [[100, 200], [0xfffffff0, 5]] }] });
  t.same([...sack.subarray(20, 24)], [1, 1, 5, 18]);
  t.equal(u32(sack, 28), 200);
  t.equal(u32(sack, 32), 0xfffffff0);
  t.equal(sack.length, 40);
  t.throws(() => tcp({ sport: 1, dport: 2, options: Array.from({ length: 41 }, () => ({ kind: "nop" as const })) }), /at most 40 bytes/);
});

t.test("tcp() accepts flags as letters, an object or a number, and puts NS in the data-offset byte", async (t) => {
  t.equal(tcpFlagBits("SA"), 0x12);
  t.equal(tcpFlagBits("pa"), 0x18);
  t.equal(tcpFlagBits({ fin: true, ack: true, rst: false }), 0x11);
  t.equal(tcpFlagBits(0x1ff), 0x1ff);
  t.equal(formatTcpFlags(0x12), "SA");
  t.throws(() => tcpFlagBits("SX"), /"X" is not one of/);
  const segment = tcp({ sport: 1, dport: 2, flags: "NCE" });
  t.equal(segment[12], 0x51);
  t.equal(segment[13], 0xc0);
  t.equal(tcp({ sport: 1, dport: 2, dataOffset: 15 })[12], 0xf0, "data offset override");
});

t.test("arp() lays out an IPv4-over-Ethernet request and reply", async (t) => {
  const request = arp({ op: "request", senderMac: "02:00:00:00:00:01", senderIp: "192.0.2.1", targetIp: "192.0.2.254" });
  t.same([...request], [0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 192, 0, 2, 254]);
  t.equal(u16(arp({ op: "reply", senderMac: "02:00:00:00:00:01", senderIp: "192.0.2.1", targetIp: "192.0.2.254" }), 6), 2);
});

t.test("link wrappers write null/loopback families in both byte orders and 16/20-byte cooked headers", async (t) => {
  const v4 = ipv4({ src: "192.0.2.1", dst: "192.0.2.2" });
  const v6 = ipv6({ src: "2001:db8::1", dst: "2001:db8::2" });
  t.same([...nullLoopback({}, v4).subarray(0, 4)], [2, 0, 0, 0]);
  t.same([...nullLoopback({ byteOrder: "big" }, v4).subarray(0, 4)], [0, 0, 0, 2]);
  t.same([...nullLoopback({ ipv6Family: 30 }, v6).subarray(0, 4)], [30, 0, 0, 0]);
  const sll = linuxSll({ packetType: "outgoing" }, v6);
  t.equal(sll.length, 16 + v6.length);
  t.same([u16(sll, 0), u16(sll, 2), u16(sll, 4), u16(sll, 14)], [4, 1, 6, 0x86dd]);
  const sll2 = linuxSll2({ interfaceIndex: 3, packetType: "broadcast" }, v4);
  t.equal(sll2.length, 20 + v4.length);
  t.same([u16(sll2, 0), u32(sll2, 4), u16(sll2, 8), sll2[10], sll2[11]], [0x0800, 3, 1, 1, 6]);
  t.same([...rawIp(v4)], [...v4]);
});

t.test("ICMP builders checksum to zero and quote the offending packet", async (t) => {
  const offending = ipv4({ src: "198.51.100.2", dst: "192.0.2.1" }, udp({ sport: 40000, dport: 33434 }, "probe"));
  const unreachable = icmpv4Unreachable({ code: 3 }, offending);
  t.equal(internetChecksum(unreachable), 0);
  t.same([unreachable[0], unreachable[1]], [3, 3]);
  t.same([...unreachable.subarray(8)], [...offending]);
  const echo = icmpv4Echo({ id: 0xabcd, seq: 9, reply: true }, "data");
  t.same([echo[0], u16(echo, 4), u16(echo, 6)], [0, 0xabcd, 9]);
  t.equal(internetChecksum(echo), 0);

  const target = "2001:db8::2:1";
  t.equal(solicitedNodeAddress(target), "ff02::1:ff02:1");
  t.equal(ipv6MulticastMac("ff02::1:ff02:1"), "33:33:ff:02:00:01");
  const ns = icmpv6NeighborSolicitation({ target, sourceMac: "02:00:00:00:00:01" });
  t.same([ns[0], ns.length, ns[24], ns[25]], [135, 32, 1, 1]);
  const na = icmpv6NeighborAdvertisement({ target, targetMac: "02:00:00:00:00:02" });
  t.same([na[0], na[4], na[24]], [136, 0x60, 2]);
  const quoted = ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, udp({ sport: 1, dport: 2 }));
  const v6unreachable = icmpv6Unreachable({}, quoted);
  t.same([v6unreachable[0], v6unreachable[1]], [1, 4]);
});

t.test("fragmentIpv4() and fragmentIpv6() cut a packet into fragments that put the payload back together", async (t) => {
  const payload = Uint8Array.from({ length: 3001 }, (_, i) => i & 0xff);
  const whole = ipv4({ src: "192.0.2.1", dst: "192.0.2.2", id: 77 }, udp({ sport: 1, dport: 2 }, payload));
  const v4 = fragmentIpv4(whole, 1000);
  t.equal(v4.length, 4);
  t.same(v4.map((f) => u16(f, 6) & 0x1fff), [0, 125, 250, 375]);
  t.same(v4.map((f) => (u16(f, 6) & 0x2000) !== 0), [true, true, true, false]);
  t.ok(v4.every((f) => internetChecksum(f, 0, 20) === 0 && u16(f, 2) === f.length && u16(f, 4) === 77));
  t.same([...v4.flatMap((f) => [...f.subarray(20)])], [...whole.subarray(20)]);

  const whole6 = ipv6({ src: "2001:db8::1", dst: "2001:db8::2", extensions: [{ type: "hop-by-hop" }] }, udp({ sport: 1, dport: 2 }, payload));
  const v6 = fragmentIpv6(whole6, 1400, 0x01020304);
  t.equal(v6.length, 3);
  t.ok(v6.every((f) => f[6] === 0 && f[40] === 44 && f[48] === 17 && u32(f, 52) === 0x01020304 && u16(f, 4) === f.length - 40));
  t.same(v6.map((f) => u16(f, 50)), [1, 1400 | 1, 2800], "offset in bytes (8-byte units << 3) and M flag");
  t.same([...v6.flatMap((f) => [...f.subarray(56)])], [...whole6.subarray(48)]);
});

t.test("Wireshark decodes every builder's output as intended, with good checksums and nothing malformed", { skip: wiresharkMissing }, async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  const v4 = { src: "192.0.2.1", dst: "198.51.100.2" };
  const v6 = { src: "2001:db8::1", dst: "2001:db8:0:0::2" };
  const ethernetFrames: [string, Uint8Array][] = [
    ["eth:ethertype:ip:tcp", ethernet({}, ipv4(v4, tcp({ sport: 1234, dport: 5555, flags: "S", options: [{ kind: "mss", value: 1460 }, { kind: "sack-permitted" }, { kind: "timestamps", value: 1, echo: 0 }, { kind: "nop" }, { kind: "wscale", shift: 7 }] })))],
    ["eth:ethertype:ieee8021ad:ethertype:vlan:ethertype:ip:udp:data", ethernet({ vlans: [{ vid: 10 }, { vid: 20 }] }, ipv4({ ...v4, options: hex("94040000") }, udp({ sport: 1000, dport: 2000 }, "hello")))],
    ["eth:ethertype:ipv6:ipv6.hopopts:ipv6.dstopts:ipv6.routing:ah:tcp", ethernet({}, ipv6({ ...v6, extensions: [{ type: "hop-by-hop" }, { type: "destination" }, { type: "routing", routingType: 2, addresses: ["2001:db8::9"], segmentsLeft: 0 }, { type: "ah", spi: 1, sequence: 1 }] }, tcp({ sport: 1, dport: 5555, flags: "A", seq: 1, ack: 1 })))],
    ["eth:ethertype:ip:icmp:data", ethernet({}, ipv4(v4, icmpv4Echo({ id: 1, seq: 1 }, "abcdefgh")))],
    ["eth:ethertype:ip:icmp:ip:udp:data", ethernet({}, ipv4(v4, icmpv4Unreachable({}, ipv4({ src: v4.dst, dst: v4.src }, udp({ sport: 3333, dport: 4444 }, "x")))))],
    ["eth:ethertype:ipv6:icmpv6:data", ethernet({}, ipv6(v6, icmpv6Echo({ id: 1, seq: 1 }, "abcdefgh")))],
    ["eth:ethertype:ipv6:icmpv6", ethernet({}, ipv6({ src: v6.src, dst: solicitedNodeAddress(v6.dst), hopLimit: 255 }, icmpv6NeighborSolicitation({ target: v6.dst, sourceMac: "02:00:00:00:00:01" })))],
    ["eth:ethertype:ipv6:icmpv6", ethernet({}, ipv6({ src: v6.dst, dst: v6.src, hopLimit: 255 }, icmpv6NeighborAdvertisement({ target: v6.dst, targetMac: "02:00:00:00:00:02" })))],
    ["eth:ethertype:ipv6:icmpv6:ipv6:udp:data", ethernet({}, ipv6(v6, icmpv6Unreachable({}, ipv6({ src: v6.dst, dst: v6.src }, udp({ sport: 3333, dport: 4444 }, "x")))))],
    ["eth:ethertype:arp", ethernet({ dst: "ff:ff:ff:ff:ff:ff", padToMinimum: true }, arp({ op: "request", senderMac: "02:00:00:00:00:01", senderIp: "192.0.2.1", targetIp: "192.0.2.2" }))],
    ["eth:ethertype:ip:ip:tcp", ethernet({}, ipv4(v4, ipv4({ src: "203.0.113.1", dst: "203.0.113.2" }, tcp({ sport: 1, dport: 5555 }))))],
    ["eth:ethertype:ipv6:ip:udp:data", ethernet({}, ipv6(v6, ipv4(v4, udp({ sport: 1000, dport: 2000 }, "tunnelled"))))],
  ];
  const ethernetFile = join(dir.path, "ethernet.pcap");
  writeFileSync(ethernetFile, encodePcap(ethernetFrames.map(([, frame]) => frame)));
  t.same(tsharkProblems(ethernetFile), []);
  t.same(tsharkFields(ethernetFile, ["frame.protocols"]).map((r) => r[0]), ethernetFrames.map(([protocols]) => protocols));

  const fragments = fragmentIpv4(ipv4(v4, udp({ sport: 1000, dport: 2000 }, new Uint8Array(4000))), 1480).map((f) => ethernet({}, f));
  const fragmentFile = join(dir.path, "fragments.pcap");
  writeFileSync(fragmentFile, encodePcap(fragments));
  t.same(tsharkProblems(fragmentFile), []);
  t.same(tsharkFields(fragmentFile, ["udp.length"], ["-Y", "udp"]), [["4008"]], "reassembled");

  const links: [number, Uint8Array, string][] = [
    [LinkType.NULL, nullLoopback({}, ipv4(v4, udp({ sport: 1, dport: 2 }))), "null:ip:udp"],
    [LinkType.NULL, nullLoopback({ byteOrder: "big", ipv6Family: 28 }, ipv6(v6, udp({ sport: 1, dport: 2 }))), "null:ipv6:udp"],
    [LinkType.LOOP, nullLoopback({ byteOrder: "big" }, ipv4(v4, udp({ sport: 1, dport: 2 }))), "null:ip:udp"],
    [LinkType.LINUX_SLL, linuxSll({}, ipv6(v6, udp({ sport: 1, dport: 2 }))), "sll:ethertype:ipv6:udp"],
    [LinkType.LINUX_SLL2, linuxSll2({}, ipv4(v4, udp({ sport: 1, dport: 2 }))), "sll:ethertype:ip:udp"],
    [LinkType.RAW, rawIp(ipv4(v4, udp({ sport: 1, dport: 2 }))), "raw:ip:udp"],
    [LinkType.RAW, rawIp(ipv6(v6, udp({ sport: 1, dport: 2 }))), "raw:ipv6:udp"],
  ];
  links.forEach(([linkType, frame, protocols], i) => {
    const file = join(dir.path, `link-${i}.pcap`);
    writeFileSync(file, encodePcap([frame], { linkType }));
    t.same(tsharkProblems(file), [], `link type ${linkType}`);
    t.same(tsharkFields(file, ["frame.protocols"]), [[protocols]], `link type ${linkType}`);
  });
});
