/**
 * Decoders fill one preallocated output object per worker, frame after frame. These tests decode
 * many different frames into the same object and check that, after each successful decode, the
 * object is exactly what a fresh object holds after decoding that frame alone: no field of an
 * earlier frame survives into a later one.
 */
import t from "tap";
import { ArpLayer, decodeArp } from "../../workers/layers/arp.ts";
import { decodeEthernet, EthernetLayer } from "../../workers/layers/ethernet.ts";
import { decodeIcmp, decodeIcmpv6, IcmpLayer } from "../../workers/layers/icmp.ts";
import { decodeIpv4, Ipv4Layer } from "../../workers/layers/ipv4.ts";
import { decodeIpv6, Ipv6Layer } from "../../workers/layers/ipv6.ts";
import { decodeLink, LinkLayer } from "../../workers/layers/link-layer.ts";
import { decodeMpls, MplsLayer } from "../../workers/layers/mpls.ts";
import { decodeTcp, TcpLayer } from "../../workers/layers/tcp.ts";
import { decodeUdp, UdpLayer } from "../../workers/layers/udp.ts";
import { decodeVlan, VlanLayer } from "../../workers/layers/vlan.ts";
import {
  arp,
  concatBytes,
  ethernet,
  fragmentIpv4,
  fragmentIpv6,
  hex,
  icmpv4,
  icmpv4Echo,
  icmpv4Unreachable,
  icmpv6,
  icmpv6Echo,
  icmpv6Unreachable,
  ipv4,
  ipv6,
  linuxSll,
  linuxSll2,
  nullLoopback,
  tcp,
  udp,
} from "../support/packet-builders.ts";
import { mplsStack } from "../support/mpls-stack.ts";
import { nflog } from "../support/nflog-frame.ts";
import { SeededRandom } from "../support/seeded-random.ts";

/** One input: the bytes and how to call the decoder on them. */
type Decode<L> = (frame: Uint8Array, out: L) => number;

/**
 * Decodes `frames` in a seeded random order (each several times) into one shared object and
 * compares it with a fresh object after every decode that succeeded; returns the mismatches.
 */
function leaks<L extends object>(make: () => L, decode: Decode<L>, frames: readonly Uint8Array[], rounds = 400): string[] {
  const rng = new SeededRandom(0x5eed);
  const shared = make();
  const problems: string[] = [];
  let successes = 0;
  let previous = -1;
  for (let i = 0; i < rounds; i++) {
    const k = rng.below(frames.length);
    const status = decode(frames[k]!, shared);
    const fresh = make();
    const freshStatus = decode(frames[k]!, fresh);
    if (status !== freshStatus) problems.push(`frame ${k} after frame ${previous}: status ${status}, fresh ${freshStatus}`);
    if (status >= 0) {
      successes++;
      for (const [key, value] of Object.entries(fresh)) {
        const got = (shared as Record<string, unknown>)[key];
        if (!Object.is(got, value)) problems.push(`frame ${k} after frame ${previous}: ${key} is ${String(got)}, fresh ${String(value)}`);
      }
    }
    previous = k;
  }
  if (successes === 0) problems.push("no frame decoded at all");
  return [...new Set(problems)];
}

const v4 = (payload: Uint8Array, extra: Partial<Parameters<typeof ipv4>[0]> = {}) => ipv4({ src: "192.0.2.1", dst: "198.51.100.7", ...extra }, payload);
const v6 = (payload: Uint8Array, extra: Partial<Parameters<typeof ipv6>[0]> = {}) => ipv6({ src: "2001:db8::1", dst: "2001:db8::2", ...extra }, payload);
const dgram = udp({ sport: 53, dport: 33000 }, "answer");
const syn = tcp({
  sport: 1,
  dport: 2,
  flags: "S",
  options: [{ kind: "mss", value: 1400 }, { kind: "sack-permitted" }, { kind: "timestamps", value: 77, echo: 88 }, { kind: "nop" }, { kind: "wscale", shift: 9 }],
});
const sack = tcp({ sport: 3, dport: 4, flags: "A", options: [{ kind: "nop" }, { kind: "nop" }, { kind: "sack", blocks: [[10, 20], [30, 40]] }] });
const plain = tcp({ sport: 5, dport: 6, flags: "PA" }, "GET /");
const badOption = tcp({ sport: 7, dport: 8, flags: "A", options: [{ kind: "mss", value: 999 }, { kind: "raw", bytes: Uint8Array.of(8, 40) }] });

t.test("decodeEthernet() leaves nothing of a previous frame in a reused EthernetLayer", async (t) => {
  const frames = [
    ethernet({}, v4(dgram)),
    ethernet({ vlans: [{ vid: 5 }] }, v6(dgram)),
    ethernet({ type: 14 }, concatBytes(hex("aa aa 03 00 00 00 08 06"), new Uint8Array(6))),
    ethernet({ type: 8 }, hex("42 42 03 00 00 00 00 00")),
    new Uint8Array(9),
  ];
  t.same(leaks(() => new EthernetLayer(), (f, o) => decodeEthernet(f, 0, f.length, o), frames), []);
});

t.test("decodeVlan() and decodeMpls() leave nothing of a previous frame in reused layers", async (t) => {
  const tags = [hex("20 05 08 00"), hex("e0 64 86 dd"), hex("00")];
  t.same(leaks(() => new VlanLayer(), (f, o) => decodeVlan(f, 0, f.length, o), tags), []);
  const stacks = [
    concatBytes(mplsStack([{ label: 1 }]), v4(dgram)),
    concatBytes(mplsStack([{ label: 2 }, { label: 3 }, { label: 4 }]), v6(dgram)),
    concatBytes(mplsStack([{ label: 5 }]), new Uint8Array(4), ethernet({}, v4(dgram))),
    concatBytes(mplsStack([{ label: 6 }]), Uint8Array.of(0x90)),
    mplsStack([{ label: 7 }]),
    mplsStack([{ label: 8 }], false),
  ];
  t.same(leaks(() => new MplsLayer(), (f, o) => decodeMpls(f, 0, f.length, o), stacks), []);
});

t.test("decodeArp() leaves nothing of a previous packet in a reused ArpLayer", async (t) => {
  const request = arp({ op: "request", senderMac: "02:00:00:00:00:01", senderIp: "192.0.2.1", targetIp: "192.0.2.2" });
  const reply = arp({ op: "reply", senderMac: "02:00:00:00:00:02", senderIp: "192.0.2.2", targetMac: "02:00:00:00:00:01", targetIp: "192.0.2.1" });
  const longer = concatBytes(hex("00 06 08 00 08 04 00 01"), new Uint8Array(24)); // 8-byte hardware addresses
  const zero = request.slice();
  zero[4] = 0;
  t.same(leaks(() => new ArpLayer(), (f, o) => decodeArp(f, 0, f.length, o), [request, reply, longer, zero]), []);
});

t.test("decodeIpv4() leaves nothing of a previous packet in a reused Ipv4Layer", async (t) => {
  const whole = v4(udp({ sport: 1, dport: 2 }, new Uint8Array(200)), { id: 99 });
  const frames = [
    v4(dgram, { ttl: 1, tos: 4, dontFragment: true }),
    v4(dgram, { options: hex("01 07 07 04 00 00 00 00") }),
    v4(dgram, { options: hex("44 28 05 00") }),
    v4(dgram, { totalLength: 0 }),
    ...fragmentIpv4(whole, 64),
    concatBytes(v4(dgram), new Uint8Array(12)),
    v4(dgram, { version: 5 }),
  ];
  t.same(leaks(() => new Ipv4Layer(), (f, o) => decodeIpv4(f, 0, f.length, o), frames), []);
});

t.test("decodeIpv6() leaves nothing of a previous packet in a reused Ipv6Layer", async (t) => {
  const whole = v6(udp({ sport: 1, dport: 2 }, new Uint8Array(200)));
  const frames = [
    v6(syn, { trafficClass: 3, flowLabel: 77 }),
    v6(syn, { extensions: [{ type: "hop-by-hop" }, { type: "routing", addresses: ["2001:db8::9"], segmentsLeft: 0 }, { type: "destination" }] }),
    v6(syn, { extensions: [{ type: "fragment", offset: 0, more: false, id: 5 }] }),
    v6(syn, { extensions: [{ type: "ah", spi: 1, sequence: 1 }] }),
    v6(new Uint8Array(16), { protocol: 50 }),
    v6(dgram, { payloadLength: 0 }),
    ...fragmentIpv6(whole, 64, 1234),
    ...fragmentIpv6(v6(dgram, { extensions: [{ type: "hop-by-hop" }] }), 8, 4321),
  ];
  t.same(leaks(() => new Ipv6Layer(), (f, o) => decodeIpv6(f, 0, f.length, o), frames), []);
});

t.test("decodeTcp() leaves no option of a previous segment in a reused TcpLayer", async (t) => {
  const frames = [syn, sack, plain, badOption, tcp({ sport: 9, dport: 10, options: [{ kind: "eol" }, { kind: "raw", bytes: Uint8Array.of(2, 4, 1, 1) }] })];
  t.same(leaks(() => new TcpLayer(), (f, o) => decodeTcp(f, 0, f.length, o), frames), []);
});

t.test("decodeUdp() leaves nothing of a previous datagram in a reused UdpLayer", async (t) => {
  const frames = [dgram, udp({ sport: 1, dport: 2, length: 3 }, "abc"), udp({ sport: 3, dport: 4, length: 0 }, "abcdef"), udp({ sport: 5, dport: 6, checksum: 9 })];
  t.same(leaks(() => new UdpLayer(), (f, o) => decodeUdp(f, 0, f.length, f.length, o), frames), []);
});

t.test("decodeIcmp() and decodeIcmpv6() leave nothing of a previous message in a reused IcmpLayer", async (t) => {
  const inner = v4(dgram);
  const four = [icmpv4Echo({ id: 1, seq: 2 }), icmpv4Unreachable({ code: 1 }, inner), icmpv4({ type: 11 }), icmpv4({ type: 5, code: 1, rest: 0xc0000201 }, inner)];
  t.same(leaks(() => new IcmpLayer(), (f, o) => decodeIcmp(f, 0, f.length, o), four), []);
  const six = [icmpv6Echo({ id: 1, seq: 2 }), icmpv6Unreachable({}, v6(dgram)), icmpv6({ type: 135 }, new Uint8Array(16)), icmpv6({ type: 2, rest: 1280 })];
  t.same(leaks(() => new IcmpLayer(), (f, o) => decodeIcmpv6(f, 0, f.length, o), six), []);
});

t.test("decodeLink() leaves nothing of a previous frame in a reused LinkLayer, across link types", async (t) => {
  const frames: Array<[number, Uint8Array]> = [
    [0, nullLoopback({}, v4(dgram))],
    [0, nullLoopback({ byteOrder: "big" }, v6(dgram))],
    [108, nullLoopback({ byteOrder: "big" }, v4(dgram))],
    [113, linuxSll({}, v4(dgram))],
    [113, linuxSll({ protocol: 0x0004 }, concatBytes(hex("aa aa 03 00 00 00 86 dd"), v6(dgram)))],
    [276, linuxSll2({}, v6(dgram))],
    [276, linuxSll2({ arphrdType: 824, protocol: 0x0800 }, v4(dgram))],
    [239, nflog({}, v4(dgram))],
    [239, nflog({ family: 10, byteOrder: "big" }, v6(dgram))],
    [101, v4(dgram)],
    [101, v6(dgram)],
    [228, v4(dgram)],
    [229, v6(dgram)],
    [10, concatBytes(new Uint8Array(13), hex("aa aa 03 00 00 00 08 00"), v4(dgram))],
  ];
  const indexed = frames.map(([, f]) => f);
  const linkOf = new Map(frames.map(([lt, f]) => [f, lt]));
  t.same(leaks(() => new LinkLayer(), (f, o) => decodeLink(linkOf.get(f)!, f, 0, f.length, o), indexed, 600), []);
});
