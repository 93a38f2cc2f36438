/**
 * FrameDecoder: the chain of layer decoders, from a link type to a result record. Frames are
 * placed at a non-zero offset of a buffer, as in the ring, so every offset in a record is absolute.
 */
import t from "tap";
import { FrameDecoder } from "../../workers/decode-frame.ts";
import * as R from "../../workers/decode-result.ts";
import {
  kFlagFragment,
  kFlagMalformed,
  kFlagTunnel,
  kFlagUnsupportedLink,
  kIp6ExtDestination,
  kIp6ExtFragment,
  kIp6ExtHopByHop,
  kIp6ExtRouting,
  kLayerArp,
  kLayerEthernet,
  kLayerIcmp,
  kLayerIcmpv6,
  kLayerIpv4,
  kLayerIpv6,
  kLayerLink,
  kLayerMpls,
  kLayerTcp,
  kLayerUdp,
  kLayerVlan,
  kTcpOptMss,
  kTcpOptSack,
  kTcpOptSackOk,
  kTcpOptTimestamp,
  kTcpOptWscale,
} from "../../workers/decode-result.ts";
import {
  arp,
  concatBytes,
  ethernet,
  fragmentIpv4,
  fragmentIpv6,
  hex,
  icmpv4Echo,
  icmpv6Echo,
  ipv4,
  ipv6,
  linuxSll,
  linuxSll2,
  llcSnap,
  nullLoopback,
  tcp,
  udp,
} from "../support/packet-builders.ts";
import { kEtherTypeMpls, mplsStack } from "../support/mpls-stack.ts";
import { nflog } from "../support/nflog-frame.ts";
import { SeededRandom } from "../support/seeded-random.ts";

/** Names of the record's fields, by index, for readable failures. */
const fieldNames: string[] = [];
for (const [name, value] of Object.entries(R)) {
  if (name.startsWith("kRes") && typeof value === "number" && value < R.kResStride) fieldNames[value] = name;
}

const kBase = 4096; // where frames sit in the buffer
const buffer = new Uint8Array(1 << 20);

/** A decoded record, by field name, plus the raw array. */
type Record = { [name: string]: number } & { raw: number[] };

function record(res: Int32Array, index: number): Record {
  const raw = Array.from(res.subarray(index * R.kResStride, (index + 1) * R.kResStride));
  const out = { raw } as Record;
  fieldNames.forEach((name, i) => {
    if (name !== undefined) out[name] = raw[i]!;
  });
  return out;
}

/** Decodes `frame` of `linktype` at kBase (captured up to `caplen`) into a fresh decoder and record. */
function decode(frame: Uint8Array, linktype = 1, caplen = frame.length): Record {
  buffer.set(frame, kBase);
  const res = new Int32Array(R.kResStride * 4);
  new FrameDecoder(buffer, new Int32Array(64), res).decode(2, kBase, caplen, linktype);
  return record(res, 2);
}

/** The malformed field value for `layer` and `status`. */
const mal = (layer: number, status: number): number => (layer << 8) | -status;

const client4 = { src: "192.0.2.10", dst: "198.51.100.20" };
const client6 = { src: "2001:db8::10", dst: "2001:db8::20" };
const dns = udp({ sport: 33333, dport: 53 }, "query-bytes");

t.test("FrameDecoder decodes Ethernet, IPv4 and TCP with options into one record", async (t) => {
  const segment = tcp(
    {
      sport: 49152,
      dport: 443,
      seq: 0xf0000001,
      ack: 0x12345678,
      flags: "SA",
      window: 29200,
      options: [{ kind: "mss", value: 1460 }, { kind: "sack-permitted" }, { kind: "timestamps", value: 1000, echo: 0xfffffffe }, { kind: "nop" }, { kind: "wscale", shift: 7 }],
    },
    "hello",
  );
  const r = decode(ethernet({}, ipv4({ ...client4, id: 7 }, segment)));
  t.equal(r.kResLayers, kLayerEthernet | kLayerIpv4 | kLayerTcp);
  t.equal(r.kResFlags, 0);
  t.equal(r.kResMalformed, 0);
  t.equal(r.kResEtherType, 0x0800);
  t.equal(r.kResL2Off, kBase);
  t.equal(r.kResL3Off, kBase + 14);
  t.equal(r.kResIp4Off, kBase + 14);
  t.equal(r.kResIp6Off, -1);
  t.equal(r.kResIpProto, 6);
  t.equal(r.kResL4Off, kBase + 34);
  t.equal(r.kResPayloadOff, kBase + 34 + 40);
  t.equal(r.kResPayloadLen, 5);
  t.equal(r.kResSrcPort, 49152);
  t.equal(r.kResDstPort, 443);
  t.equal(r.kResTcpSeq >>> 0, 0xf0000001);
  t.equal(r.kResTcpAck >>> 0, 0x12345678);
  t.equal(r.kResTcpFlags, 0x12);
  t.equal(r.kResTcpWindow, 29200);
  t.equal(r.kResTcpOptions, kTcpOptMss | kTcpOptSackOk | kTcpOptTimestamp | kTcpOptWscale);
  t.equal(r.kResTcpMssWscale, 1460 | (7 << 16));
  t.equal(r.kResTcpTsVal, 1000);
  t.equal(r.kResTcpTsEcr >>> 0, 0xfffffffe);
  t.not(r.kResFlowHash, 0);
});

t.test("FrameDecoder gives both directions of a flow the same non-zero hash, and other flows another", async (t) => {
  const ab = decode(ethernet({}, ipv4(client4, udp({ sport: 1000, dport: 53 }))));
  const ba = decode(ethernet({}, ipv4({ src: client4.dst, dst: client4.src }, udp({ sport: 53, dport: 1000 }))));
  const other = decode(ethernet({}, ipv4(client4, udp({ sport: 1001, dport: 53 }))));
  t.not(ab.kResFlowHash, 0);
  t.equal(ab.kResFlowHash, ba.kResFlowHash);
  t.not(ab.kResFlowHash, other.kResFlowHash);
  const v6ab = decode(ethernet({}, ipv6(client6, tcp({ sport: 5, dport: 80 }))));
  const v6ba = decode(ethernet({}, ipv6({ src: client6.dst, dst: client6.src }, tcp({ sport: 80, dport: 5 }))));
  t.equal(v6ab.kResFlowHash, v6ba.kResFlowHash);
  t.equal(decode(ethernet({}, ipv4(client4, icmpv4Echo({ id: 1, seq: 1 })))).kResFlowHash, 0, "no ports, no flow hash");
});

t.test("FrameDecoder records the SACK blocks of a segment", async (t) => {
  const segment = tcp({ sport: 1, dport: 2, flags: "A", options: [{ kind: "nop" }, { kind: "nop" }, { kind: "sack", blocks: [[100, 200], [300, 400]] }] });
  const r = decode(ethernet({}, ipv4(client4, segment)));
  t.equal(r.kResTcpOptions, kTcpOptSack);
  t.equal(r.kResTcpSack >>> 24, 2, "two blocks");
});

t.test("FrameDecoder records an 802.1Q tag: VLAN id, tag count and the EtherType after it", async (t) => {
  const r = decode(ethernet({ vlans: [{ vid: 42, pcp: 3 }] }, ipv4(client4, dns)));
  t.equal(r.kResLayers, kLayerEthernet | kLayerVlan | kLayerIpv4 | kLayerUdp);
  t.equal(r.kResVlan & 0xfff, 42);
  t.equal(r.kResVlan & 0xffff, (3 << 13) | 42);
  t.equal(r.kResTags, 1);
  t.equal(r.kResEtherType, 0x0800);
  t.equal(r.kResL3Off, kBase + 18);
  t.equal(r.kResDstPort, 53);
});

t.test("FrameDecoder reads an 802.3 length after a VLAN tag as after the MAC addresses: LLC/SNAP says what follows", async (t) => {
  const whoHas = arp({ op: "request", senderMac: "02:00:00:00:00:01", senderIp: "192.0.2.1", targetIp: "192.0.2.2" });
  const snapArp = llcSnap(0x0806, whoHas);
  for (const vlans of [[{ vid: 5 }], [{ vid: 5 }, { vid: 6 }]]) {
    const r = decode(ethernet({ vlans, type: 8 + whoHas.length }, snapArp));
    t.equal(r.kResLayers, kLayerEthernet | kLayerVlan | kLayerArp, `${vlans.length} tag(s), then ARP after SNAP`);
    t.equal(r.kResEtherType, 0x0806);
    t.equal(r.kResL3Off, kBase + 14 + 4 * vlans.length + 8);
  }
  // The length field ends the frame: an ARP packet longer than it says is cut (tcpdump: "[|arp]"),
  // also when padding fills the frame to the minimum.
  for (const frame of [ethernet({ type: 30 }, snapArp), ethernet({ type: 30, padToMinimum: true }, snapArp), ethernet({ vlans: [{ vid: 5 }], type: 30 }, snapArp)]) {
    const cut = decode(frame);
    t.equal(cut.kResLayers & kLayerArp, 0, "an ARP packet past the 802.3 length is not decoded");
    t.equal(cut.kResMalformed, mal(R.kMalArp, R.kTruncated), "it is reported as truncated");
  }
  // Another LLC (here STP's) says nothing the decoders read: no EtherType, as in an untagged 802.3 frame.
  const stp = decode(ethernet({ vlans: [{ vid: 5 }], type: 7 }, Uint8Array.of(0x42, 0x42, 0x03, 0, 0, 0, 0)));
  t.equal(stp.kResLayers, kLayerEthernet | kLayerVlan);
  t.equal(stp.kResEtherType, -1);
});

t.test("FrameDecoder records an 802.1ad QinQ stack: outer and inner VLAN, two tags, the 802.1ad bit", async (t) => {
  const r = decode(ethernet({ vlans: [{ vid: 100 }, { vid: 200 }] }, ipv6(client6, dns)));
  t.equal(r.kResVlan & 0xffff, 100);
  t.equal(r.kResVlan >>> 16, 200);
  t.equal(r.kResTags & 0xff, 2);
  t.equal(r.kResTags >> 16, 1, "the outer TPID was 802.1ad");
  t.equal(r.kResEtherType, 0x86dd);
  t.equal(r.kResL3Off, kBase + 22);
  t.equal(r.kResLayers & (kLayerIpv6 | kLayerUdp), kLayerIpv6 | kLayerUdp);
  const q = decode(ethernet({ vlans: [{ vid: 100, tpid: 0x8100 }, { vid: 200 }] }, ipv6(client6, dns)));
  t.equal(q.kResTags, 2, "two 802.1Q tags: no 802.1ad bit");
});

t.test("FrameDecoder keeps the inner-VLAN half of kResVlan empty for a single 802.1ad tag", async (t) => {
  const r = decode(ethernet({ vlans: [{ vid: 300, tpid: 0x88a8 }] }, ipv4(client4, dns)));
  t.equal(r.kResTags, 1 | (1 << 16));
  t.equal(r.kResVlan, 300, "outer TCI only: there is no inner tag");
});

t.test("FrameDecoder counts MPLS labels and decodes the IP packet under them", async (t) => {
  const frame = ethernet({ type: kEtherTypeMpls }, concatBytes(mplsStack([{ label: 10 }, { label: 20 }]), ipv4(client4, dns)));
  const r = decode(frame);
  t.equal(r.kResLayers, kLayerEthernet | kLayerMpls | kLayerIpv4 | kLayerUdp);
  t.equal((r.kResTags >> 8) & 0xff, 2);
  t.equal(r.kResEtherType, 0x0800);
  t.equal(r.kResL3Off, kBase + 14 + 8);
  const pw = ethernet({ type: kEtherTypeMpls }, concatBytes(mplsStack([{ label: 10 }]), new Uint8Array(4), ethernet({ vlans: [{ vid: 9 }] }, ipv6(client6, dns))));
  const w = decode(pw);
  t.equal(w.kResEtherType, 0x86dd, "Ethernet over a pseudowire, then a VLAN tag");
  t.equal(w.kResVlan, 9);
  t.equal(w.kResL3Off, kBase + 14 + 8 + 18);
  t.equal(w.kResDstPort, 53);
});

t.test("FrameDecoder decodes ARP and points kResL3Off at it", async (t) => {
  const r = decode(ethernet({}, arp({ op: "request", senderMac: "02:00:00:00:00:01", senderIp: "192.0.2.1", targetIp: "192.0.2.2" })));
  t.equal(r.kResLayers, kLayerEthernet | kLayerArp);
  t.equal(r.kResEtherType, 0x0806);
  t.equal(r.kResL3Off, kBase + 14);
  t.equal(r.kResIpProto, -1);
});

t.test("FrameDecoder decodes every supported non-Ethernet link type down to the transport", async (t) => {
  const v4 = ipv4(client4, dns);
  const v6 = ipv6(client6, dns);
  const cases: Array<[string, number, Uint8Array, number, 4 | 6]> = [
    ["raw IP (101), IPv4", 101, v4, 0, 4],
    ["raw IP (101), IPv6", 101, v6, 0, 6],
    ["LINKTYPE_IPV4 (228)", 228, v4, 0, 4],
    ["LINKTYPE_IPV6 (229)", 229, v6, 0, 6],
    ["BSD null, little-endian", 0, nullLoopback({ byteOrder: "little" }, v4), 4, 4],
    ["BSD null, big-endian", 0, nullLoopback({ byteOrder: "big", ipv6Family: 30 }, v6), 4, 6],
    ["LOOP (108)", 108, nullLoopback({ byteOrder: "big" }, v4), 4, 4],
    ["Linux SLL", 113, linuxSll({}, v6), 16, 6],
    ["Linux SLL2", 276, linuxSll2({}, v4), 20, 4],
    ["NFLOG, IPv4", 239, nflog({}, v4), 28, 4],
    ["NFLOG, IPv6", 239, nflog({ family: 10 }, v6), 28, 6],
  ];
  for (const [what, linktype, frame, l3, family] of cases) {
    const r = decode(frame, linktype);
    const ip = family === 4 ? kLayerIpv4 : kLayerIpv6;
    t.equal(r.kResLayers, kLayerLink | ip | kLayerUdp, `${what}: layers`);
    t.equal(r.kResFlags, 0, `${what}: flags`);
    t.equal(r.kResEtherType, family === 4 ? 0x0800 : 0x86dd, `${what}: EtherType`);
    t.equal(r.kResL2Off, kBase, `${what}: link header`);
    t.equal(r.kResL3Off, kBase + l3, `${what}: IP header`);
    t.equal(r.kResDstPort, 53, `${what}: port`);
    t.equal(r.kResPayloadLen, 11, `${what}: UDP payload length`);
  }
});

t.test("FrameDecoder flags an unknown link type as unsupported and decodes nothing", async (t) => {
  for (const linktype of [2, 105, 147, 220, 65535]) {
    const r = decode(ethernet({}, ipv4(client4, dns)), linktype);
    t.equal(r.kResFlags, kFlagUnsupportedLink, `${linktype}: flags`);
    t.equal(r.kResLayers, 0, `${linktype}: layers`);
    t.equal(r.kResMalformed, 0, `${linktype}: not malformed`);
    t.equal(r.kResL3Off, -1, `${linktype}: no IP`);
  }
});

t.test("FrameDecoder flags IPv4 fragments and decodes the transport of the first one only", async (t) => {
  const whole = ipv4({ ...client4, id: 0x4242 }, udp({ sport: 7000, dport: 7001 }, new Uint8Array(300)));
  const [first, middle, last] = fragmentIpv4(whole, 128).map((f) => decode(ethernet({}, f)));
  t.equal(first!.kResFlags, kFlagFragment, "first: a fragment, and not malformed");
  t.equal(first!.kResMalformed, 0);
  t.equal(first!.kResLayers, kLayerEthernet | kLayerIpv4 | kLayerUdp, "first: the UDP header is there");
  t.equal(first!.kResDstPort, 7001);
  t.equal(first!.kResPayloadLen, 300, "first: the datagram's length, from the UDP header");
  t.equal(first!.kResFragment, 0 | (1 << 16) | (1 << 17));
  t.equal(first!.kResFragId, 0x4242);
  t.equal(middle!.kResFlags, kFlagFragment);
  t.equal(middle!.kResLayers, kLayerEthernet | kLayerIpv4, "middle: no transport");
  t.equal(middle!.kResFragment, 128 | (1 << 16) | (1 << 17));
  t.equal(middle!.kResL4Off, -1);
  t.equal(last!.kResFragment, 256 | (1 << 17), "last: no more fragments");
  t.equal(last!.kResIpProto, 17);
});

t.test("FrameDecoder flags IPv6 fragments and records the extension headers it walked", async (t) => {
  const whole = ipv6({ ...client6, extensions: [{ type: "hop-by-hop" }, { type: "routing", addresses: ["2001:db8::99"], segmentsLeft: 0 }] }, udp({ sport: 7000, dport: 7001 }, new Uint8Array(300)));
  const [first, second] = fragmentIpv6(whole, 200, 0xabcdef).map((f) => decode(ethernet({}, f)));
  t.equal(first!.kResFlags, kFlagFragment, "first: a fragment, and not malformed");
  t.equal(first!.kResMalformed, 0);
  t.equal(first!.kResLayers, kLayerEthernet | kLayerIpv6 | kLayerUdp);
  t.equal(first!.kResDstPort, 7001);
  t.equal(first!.kResIpExt, kIp6ExtHopByHop | kIp6ExtRouting | kIp6ExtFragment);
  t.equal(first!.kResFragId, 0xabcdef);
  t.equal(second!.kResLayers, kLayerEthernet | kLayerIpv6, "second: no transport");
  t.equal(second!.kResFragment, 200 | (1 << 17));
  t.equal(second!.kResIpProto, 17);
  const plain = decode(ethernet({}, ipv6({ ...client6, extensions: [{ type: "destination" }] }, dns)));
  t.equal(plain.kResIpExt, kIp6ExtDestination);
  t.equal(plain.kResFlags, 0);
});

t.test("FrameDecoder decodes the inner packet of a 6in4 tunnel and flags the tunnel", async (t) => {
  const inner = ipv6(client6, udp({ sport: 30000, dport: 13000 }, "tunnelled"));
  const r = decode(ethernet({}, ipv4({ src: "203.0.113.1", dst: "203.0.113.2" }, inner)));
  t.equal(r.kResFlags, kFlagTunnel);
  t.equal(r.kResLayers, kLayerEthernet | kLayerIpv4 | kLayerIpv6 | kLayerUdp);
  t.equal(r.kResIp4Off, kBase + 14, "the outer IPv4 header");
  t.equal(r.kResIp6Off, kBase + 34, "the inner IPv6 header");
  t.equal(r.kResL3Off, kBase + 34, "the transport belongs to the inner header");
  t.equal(r.kResIpProto, 17);
  t.equal(r.kResSrcPort, 30000);
  t.equal(r.kResEtherType, 0x0800, "the EtherType of the outer packet");
});

t.test("FrameDecoder decodes ICMP and ICMPv6 type and code", async (t) => {
  const four = decode(ethernet({}, ipv4(client4, icmpv4Echo({ id: 1, seq: 2 }, "ping"))));
  t.equal(four.kResLayers, kLayerEthernet | kLayerIpv4 | kLayerIcmp);
  t.equal(four.kResIcmp, 8 << 8);
  t.equal(four.kResPayloadLen, 4);
  const six = decode(ethernet({}, ipv6(client6, icmpv6Echo({ id: 1, seq: 2, reply: true }))));
  t.equal(six.kResLayers, kLayerEthernet | kLayerIpv6 | kLayerIcmpv6);
  t.equal(six.kResIcmp, 129 << 8);
});

t.test("FrameDecoder records the failing layer and reason and keeps the layers before it", async (t) => {
  const frame = ethernet({}, ipv4(client4, tcp({ sport: 1, dport: 2, options: [{ kind: "mss", value: 1 }] })));
  const cut = decode(frame, 1, 14 + 20 + 10);
  t.equal(cut.kResFlags, kFlagMalformed);
  t.equal(cut.kResMalformed, mal(R.kMalTcp, R.kTruncated));
  t.equal(cut.kResLayers, kLayerEthernet | kLayerIpv4, "Ethernet and IPv4 are kept");
  t.equal(cut.kResIp4Off, kBase + 14);
  t.equal(cut.kResL4Off, -1);
  t.equal(decode(frame, 1, 10).kResMalformed, mal(R.kMalEthernet, R.kTruncated));
  t.equal(decode(ethernet({}, ipv4({ ...client4, version: 7 }, dns))).kResMalformed, mal(R.kMalIpv4, R.kBadVersion));
  t.equal(decode(ethernet({}, ipv6({ ...client6, payloadLength: 4, extensions: [{ type: "hop-by-hop" }] }, dns))).kResMalformed, mal(R.kMalIpv6, R.kBadExtensionHeader));
  t.equal(decode(ethernet({ vlans: [{ vid: 1 }] }, ipv4(client4, dns)), 1, 16).kResMalformed, mal(R.kMalVlan, R.kTruncated));
  t.equal(decode(linuxSll({}, ipv4(client4, dns)), 113, 12).kResMalformed, mal(R.kMalLink, R.kTruncated));
  t.equal(decode(ethernet({}, ipv4(client4, udp({ sport: 1, dport: 2 }))), 1, 14 + 20 + 4).kResMalformed, mal(R.kMalUdp, R.kTruncated));
  t.equal(decode(ethernet({}, ipv6(client6, icmpv6Echo({ id: 1, seq: 1 }))), 1, 14 + 40 + 4).kResMalformed, mal(R.kMalIcmpv6, R.kTruncated));
});

t.test("FrameDecoder reports soft damage (a bad option or UDP length) and still decodes the transport", async (t) => {
  const opt = decode(ethernet({}, ipv4({ ...client4, options: hex("44 28 05 00") }, tcp({ sport: 1, dport: 2 }))));
  t.equal(opt.kResFlags, kFlagMalformed);
  t.equal(opt.kResMalformed, mal(R.kMalIpv4, R.kBadOption));
  t.equal(opt.kResLayers & kLayerTcp, kLayerTcp);
  t.equal(opt.kResDstPort, 2);
  const len = decode(ethernet({}, ipv4(client4, udp({ sport: 1, dport: 2, length: 500 }, "short"))));
  t.equal(len.kResMalformed, mal(R.kMalUdp, R.kBadLength));
  t.equal(len.kResPayloadLen, 5, "the IP layer's length is used");
  t.equal(len.kResLayers & kLayerUdp, kLayerUdp);
});

t.test("FrameDecoder declares the TCP payload length from the IP header when the snap length cut the frame", async (t) => {
  const frame = ethernet({}, ipv4(client4, tcp({ sport: 1, dport: 2, flags: "A" }, new Uint8Array(1000))));
  const r = decode(frame, 1, 96);
  t.equal(r.kResFlags, 0);
  t.equal(r.kResPayloadLen, 1000);
  t.equal(r.kResPayloadOff, kBase + 54);
});

/** A varied set of frames (and link types, and captured lengths) for the reuse tests. */
function variedFrames(): Array<[Uint8Array, number, number]> {
  const syn = tcp({ sport: 1, dport: 2, seq: 5, ack: 6, flags: "S", window: 7, options: [{ kind: "mss", value: 1460 }, { kind: "timestamps", value: 1, echo: 2 }, { kind: "wscale", shift: 3 }, { kind: "nop" }] });
  const sack = tcp({ sport: 1, dport: 2, flags: "A", options: [{ kind: "nop" }, { kind: "nop" }, { kind: "sack", blocks: [[1, 2]] }] });
  const big = ipv4(client4, udp({ sport: 9, dport: 10 }, new Uint8Array(200)));
  const big6 = ipv6(client6, udp({ sport: 9, dport: 10 }, new Uint8Array(200)));
  const list: Array<[Uint8Array, number]> = [
    [ethernet({ vlans: [{ vid: 100 }, { vid: 200 }] }, ipv4(client4, syn)), 1],
    [ethernet({}, ipv6(client6, sack)), 1],
    [ethernet({}, ipv4(client4, dns)), 1],
    [ethernet({}, arp({ op: "reply", senderMac: "02:00:00:00:00:01", senderIp: "192.0.2.1", targetMac: "02:00:00:00:00:02", targetIp: "192.0.2.2" })), 1],
    ...fragmentIpv4(big, 64).map((f): [Uint8Array, number] => [ethernet({}, f), 1]),
    ...fragmentIpv6(big6, 64, 77).map((f): [Uint8Array, number] => [f, 101]),
    [ethernet({ type: kEtherTypeMpls }, concatBytes(mplsStack([{ label: 3 }]), ipv6(client6, icmpv6Echo({ id: 1, seq: 1 })))), 1],
    [ipv4({ src: "203.0.113.1", dst: "203.0.113.2" }, ipv6(client6, syn)), 228],
    [linuxSll2({}, ipv4({ ...client4, options: hex("44 28 05 00") }, syn)), 276],
    [nflog({}, ipv4(client4, icmpv4Echo({ id: 3, seq: 4 }))), 239],
    [nullLoopback({ byteOrder: "big" }, ipv4(client4, syn)), 0],
    [ethernet({}, ipv4(client4, syn)), 147],
    [ethernet({}, ipv4({ ...client4, version: 5 }, syn)), 1],
  ];
  return list.map(([f, lt]): [Uint8Array, number, number] => [f, lt, f.length]).concat([[ethernet({}, ipv4(client4, syn)), 1, 40]]);
}

t.test("FrameDecoder leaves no field of a previous packet in a reused result record", async (t) => {
  const frames = variedFrames();
  const slots = new Int32Array(64);
  const shared = new Int32Array(R.kResStride * 4);
  const reused = new FrameDecoder(buffer, slots, shared);
  const rng = new SeededRandom(1234);
  const problems = new Set<string>();
  let previous = -1;
  for (let i = 0; i < 500; i++) {
    const k = rng.below(frames.length);
    const [frame, linktype, caplen] = frames[k]!;
    buffer.set(frame, kBase);
    reused.decode(1, kBase, caplen, linktype);
    const fresh = new Int32Array(R.kResStride * 4);
    new FrameDecoder(buffer, slots, fresh).decode(1, kBase, caplen, linktype);
    const a = record(shared, 1);
    const b = record(fresh, 1);
    for (let f = 0; f < R.kResStride; f++) {
      if (a.raw[f] !== b.raw[f]) problems.add(`frame ${k} after frame ${previous}: ${fieldNames[f] ?? f} is ${a.raw[f]}, fresh ${b.raw[f]}`);
    }
    previous = k;
  }
  t.same([...problems], []);
});

t.test("FrameDecoder writes every field of the record, whatever it held before", async (t) => {
  const slots = new Int32Array(64);
  for (const [frame, linktype, caplen] of variedFrames()) {
    buffer.set(frame, kBase);
    const poisoned = new Int32Array(R.kResStride * 4).fill(0x5a5a5a5a);
    new FrameDecoder(buffer, slots, poisoned).decode(0, kBase, caplen, linktype);
    const clean = new Int32Array(R.kResStride * 4);
    new FrameDecoder(buffer, slots, clean).decode(0, kBase, caplen, linktype);
    const differ = fieldNames.filter((name, f) => name !== undefined && poisoned[f] !== clean[f]);
    t.same(differ, [], `link type ${linktype}, ${caplen} bytes`);
  }
});
