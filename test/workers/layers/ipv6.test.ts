import t from "tap";
import {
  kBadExtensionHeader,
  kBadVersion,
  kIp6ExtAuth,
  kIp6ExtDestination,
  kIp6ExtEsp,
  kIp6ExtFragment,
  kIp6ExtHopByHop,
  kIp6ExtRouting,
  kTooManyHeaders,
  kTruncated,
} from "../../../workers/decode-result.ts";
import { decodeIpv6, Ipv6Layer } from "../../../workers/layers/ipv6.ts";
import { concatBytes, fragmentIpv6, ipv6, parseIpv6, tcp, udp } from "../../support/packet-builders.ts";
import type { Ipv6Extension } from "../../support/packet-builders.ts";

const segment = tcp({ sport: 40000, dport: 443, flags: "S" });
const addrs = { src: "2001:db8::1", dst: "2001:db8:ffff::2" };

t.test("decodeIpv6() reads the fixed header", async (t) => {
  const p = ipv6({ ...addrs, trafficClass: 0xa5, flowLabel: 0x12345, hopLimit: 3 }, segment);
  const out = new Ipv6Layer();
  t.equal(decodeIpv6(p, 0, p.length, out), 40);
  t.equal(out.trafficClass, 0xa5);
  t.equal(out.flowLabel, 0x12345);
  t.equal(out.payloadLength, segment.length);
  t.equal(out.nextHeader, 6);
  t.equal(out.hopLimit, 3);
  t.same(p.subarray(out.srcOff, out.srcOff + 16), parseIpv6(addrs.src));
  t.same(p.subarray(out.dstOff, out.dstOff + 16), parseIpv6(addrs.dst));
  t.equal(out.protocol, 6);
  t.equal(out.extensions, 0);
  t.equal(out.isFragment, false);
  t.equal(out.upperLength, segment.length);
  t.equal(out.payloadEnd, p.length);
});

t.test("decodeIpv6() walks hop-by-hop, routing, destination and fragment headers to the upper layer", async (t) => {
  const extensions: Ipv6Extension[] = [
    { type: "hop-by-hop", options: Uint8Array.of(5, 2, 0, 0) }, // router alert
    { type: "routing", addresses: ["2001:db8::99"], segmentsLeft: 0 },
    { type: "destination", options: new Uint8Array(10) },
    { type: "fragment", offset: 0, more: true, id: 0xdeadbeef },
  ];
  const p = ipv6({ ...addrs, extensions }, segment);
  const out = new Ipv6Layer();
  const extLength = 8 + 24 + 16 + 8;
  t.equal(decodeIpv6(p, 0, p.length, out), 40 + extLength);
  t.equal(out.nextHeader, 0, "the fixed header names hop-by-hop");
  t.equal(out.protocol, 6, "TCP after the chain");
  t.equal(out.extensions, kIp6ExtHopByHop | kIp6ExtRouting | kIp6ExtDestination | kIp6ExtFragment);
  t.equal(out.isFragment, true, "a first fragment (more fragments set) is a fragment");
  t.equal(out.fragmentOffset, 0);
  t.equal(out.moreFragments, true);
  t.equal(out.fragmentId, 0xdeadbeef);
  t.equal(out.upperLength, segment.length);
});

t.test("decodeIpv6() stops at a non-first fragment: its upper layer is elsewhere", async (t) => {
  const whole = ipv6(addrs, udp({ sport: 53, dport: 5353 }, new Uint8Array(200)));
  const fragments = fragmentIpv6(whole, 96, 77);
  t.equal(fragments.length, 3);
  const out = new Ipv6Layer();
  const second = fragments[1]!;
  t.equal(decodeIpv6(second, 0, second.length, out), 48, "right after the fragment header");
  t.equal(out.isFragment, true);
  t.equal(out.fragmentOffset, 96);
  t.equal(out.moreFragments, true);
  t.equal(out.fragmentId, 77);
  t.equal(out.protocol, 17, "the fragment header's next header");
  const last = fragments[2]!;
  t.equal(decodeIpv6(last, 0, last.length, out), 48);
  t.equal(out.fragmentOffset, 192);
  t.equal(out.moreFragments, false);
});

t.test("decodeIpv6() treats an atomic fragment (offset 0, no more fragments) as a whole datagram", async (t) => {
  const p = ipv6({ ...addrs, extensions: [{ type: "fragment", offset: 0, more: false, id: 9 }] }, segment);
  const out = new Ipv6Layer();
  t.equal(decodeIpv6(p, 0, p.length, out), 48);
  t.equal(out.isFragment, false);
  t.equal(out.extensions, kIp6ExtFragment);
  t.equal(out.protocol, 6);
});

t.test("decodeIpv6() sizes an authentication header in 4-byte units and stops at ESP", async (t) => {
  const ah = ipv6({ ...addrs, extensions: [{ type: "ah", spi: 1, sequence: 2 }] }, segment);
  const out = new Ipv6Layer();
  t.equal(decodeIpv6(ah, 0, ah.length, out), 40 + 24);
  t.equal(out.extensions, kIp6ExtAuth);
  t.equal(out.protocol, 6);
  const esp = ipv6({ ...addrs, protocol: 50 }, new Uint8Array(32));
  t.equal(decodeIpv6(esp, 0, esp.length, out), 40);
  t.equal(out.extensions, kIp6ExtEsp);
  t.equal(out.protocol, 50);
});

t.test("decodeIpv6() returns kBadExtensionHeader when a header runs past the payload length", async (t) => {
  const p = ipv6({ ...addrs, extensions: [{ type: "destination", options: new Uint8Array(30) }], payloadLength: 16 }, segment);
  t.equal(decodeIpv6(p, 0, p.length, new Ipv6Layer()), kBadExtensionHeader);
});

t.test("decodeIpv6() returns kTruncated when an extension header was not captured", async (t) => {
  const p = ipv6({ ...addrs, extensions: [{ type: "hop-by-hop", options: new Uint8Array(20) }] }, segment);
  for (const len of [40, 44, 47, 48, 63]) t.equal(decodeIpv6(p, 0, len, new Ipv6Layer()), kTruncated, `${len} bytes`);
});

t.test("decodeIpv6() gives up with kTooManyHeaders after 16 extension headers", async (t) => {
  const many = Array.from({ length: 20 }, (): Ipv6Extension => ({ type: "destination" }));
  const p = ipv6({ ...addrs, extensions: many }, segment);
  t.equal(decodeIpv6(p, 0, p.length, new Ipv6Layer()), kTooManyHeaders);
  const sixteen = ipv6({ ...addrs, extensions: many.slice(0, 16) }, segment);
  t.equal(decodeIpv6(sixteen, 0, sixteen.length, new Ipv6Layer()), 40 + 16 * 8, "16 are fine");
});

t.test("decodeIpv6() rejects a wrong version and a header shorter than 40 bytes", async (t) => {
  const v4 = ipv6({ ...addrs, version: 4 }, segment);
  t.equal(decodeIpv6(v4, 0, v4.length, new Ipv6Layer()), kBadVersion);
  const p = ipv6(addrs, segment);
  for (const len of [0, 1, 39]) t.equal(decodeIpv6(p, 0, len, new Ipv6Layer()), kTruncated, `${len} bytes`);
});

t.test("decodeIpv6() takes a zero payload length (jumbogram or offload) as the captured length", async (t) => {
  const p = ipv6({ ...addrs, payloadLength: 0 }, segment);
  const out = new Ipv6Layer();
  t.equal(decodeIpv6(p, 0, p.length, out), 40);
  t.equal(out.payloadLength, segment.length);
  t.equal(out.upperLength, segment.length);
});

t.test("decodeIpv6() clips the payload end to the captured bytes and to the declared length", async (t) => {
  const p = ipv6(addrs, segment);
  const out = new Ipv6Layer();
  decodeIpv6(p, 0, 50, out);
  t.equal(out.payloadEnd, 50);
  t.equal(out.upperLength, segment.length);
  const padded = concatBytes(p, new Uint8Array(8));
  decodeIpv6(padded, 0, padded.length, out);
  t.equal(out.payloadEnd, p.length);
});
