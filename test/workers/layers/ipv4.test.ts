import t from "tap";
import { kBadHeaderLength, kBadOption, kBadTotalLength, kBadVersion, kTruncated } from "../../../workers/decode-result.ts";
import { decodeIpv4, Ipv4Layer } from "../../../workers/layers/ipv4.ts";
import { concatBytes, fragmentIpv4, hex, ipv4, parseIpv4, udp } from "../../support/packet-builders.ts";

const datagram = udp({ sport: 5353, dport: 53 }, "0123456789abcdef0123456789abcdef");

t.test("decodeIpv4() reads every field of a plain header", async (t) => {
  const p = ipv4({ src: "192.0.2.1", dst: "198.51.100.2", ttl: 17, tos: 0xb8, id: 0xbeef, dontFragment: true }, datagram);
  const out = new Ipv4Layer();
  t.equal(decodeIpv4(p, 0, p.length, out), 20);
  t.equal(out.headerLength, 20);
  t.equal(out.tos, 0xb8);
  t.equal(out.totalLength, p.length);
  t.equal(out.id, 0xbeef);
  t.equal(out.dontFragment, true);
  t.equal(out.moreFragments, false);
  t.equal(out.fragmentOffset, 0);
  t.equal(out.ttl, 17);
  t.equal(out.protocol, 17);
  t.equal(out.checksum, (p[10] << 8) | p[11]);
  t.same(p.subarray(out.srcOff, out.srcOff + 4), parseIpv4("192.0.2.1"));
  t.same(p.subarray(out.dstOff, out.dstOff + 4), parseIpv4("198.51.100.2"));
  t.equal(out.payloadLength, datagram.length);
  t.equal(out.payloadEnd, p.length);
  t.equal(out.soft, 0);
});

t.test("decodeIpv4() walks valid options and returns the payload after them", async (t) => {
  // NOP, Record Route with room for one address, End of Option List (then zero padding).
  const options = hex("01 07 07 04 00 00 00 00 00");
  const p = ipv4({ src: "192.0.2.1", dst: "192.0.2.2", options }, datagram);
  const out = new Ipv4Layer();
  t.equal(decodeIpv4(p, 0, p.length, out), 32);
  t.equal(out.headerLength, 32);
  t.equal(out.soft, 0);
  t.equal(out.payloadLength, datagram.length);
});

t.test("decodeIpv4() flags a bad option as soft damage and still returns the payload offset", async (t) => {
  for (const [what, options] of [
    ["an option longer than the header", hex("44 28 05 00")],
    ["an option length below 2", hex("07 01 00 00")],
    ["an option without its length byte", hex("01 01 01 07")],
  ] as const) {
    const p = ipv4({ src: "192.0.2.1", dst: "192.0.2.2", options }, datagram);
    const out = new Ipv4Layer();
    t.equal(decodeIpv4(p, 0, p.length, out), 24, what);
    t.equal(out.soft, kBadOption, what);
    t.equal(out.protocol, 17, `${what}: the rest of the header is still read`);
  }
});

t.test("decodeIpv4() reports fragments: more-fragments and the offset in bytes", async (t) => {
  const whole = ipv4({ src: "192.0.2.1", dst: "192.0.2.2", id: 4242 }, udp({ sport: 1, dport: 2 }, new Uint8Array(100)));
  const [first, second] = fragmentIpv4(whole, 64);
  const out = new Ipv4Layer();
  t.equal(decodeIpv4(first!, 0, first!.length, out), 20);
  t.equal(out.moreFragments, true);
  t.equal(out.fragmentOffset, 0);
  t.equal(out.id, 4242);
  t.equal(decodeIpv4(second!, 0, second!.length, out), 20);
  t.equal(out.moreFragments, false);
  t.equal(out.fragmentOffset, 64);
});

t.test("decodeIpv4() clips the payload to the captured bytes and to the total length (Ethernet padding)", async (t) => {
  const p = ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, datagram);
  const out = new Ipv4Layer();
  t.equal(decodeIpv4(p, 0, 30, out), 20, "cut by the snap length");
  t.equal(out.payloadEnd, 30);
  t.equal(out.payloadLength, datagram.length, "the declared length stays");
  const padded = concatBytes(p, new Uint8Array(6));
  t.equal(decodeIpv4(padded, 0, padded.length, out), 20, "followed by padding");
  t.equal(out.payloadEnd, p.length);
});

t.test("decodeIpv4() takes a zero total length (segmentation offload) as the captured length", async (t) => {
  const p = ipv4({ src: "192.0.2.1", dst: "192.0.2.2", totalLength: 0 }, datagram);
  const out = new Ipv4Layer();
  t.equal(decodeIpv4(p, 0, p.length, out), 20);
  t.equal(out.totalLength, p.length);
  t.equal(out.payloadLength, datagram.length);
});

t.test("decodeIpv4() rejects a wrong version, a header length below 20 and a total length below the header", async (t) => {
  const out = new Ipv4Layer();
  const v6 = ipv4({ src: "192.0.2.1", dst: "192.0.2.2", version: 6 }, datagram);
  t.equal(decodeIpv4(v6, 0, v6.length, out), kBadVersion);
  for (const ihl of [0, 1, 4]) {
    const p = ipv4({ src: "192.0.2.1", dst: "192.0.2.2", ihl }, datagram);
    t.equal(decodeIpv4(p, 0, p.length, out), kBadHeaderLength, `IHL ${ihl}`);
  }
  const short = ipv4({ src: "192.0.2.1", dst: "192.0.2.2", totalLength: 19 }, datagram);
  t.equal(decodeIpv4(short, 0, short.length, out), kBadTotalLength);
  const opts = ipv4({ src: "192.0.2.1", dst: "192.0.2.2", options: new Uint8Array(8), totalLength: 24 }, datagram);
  t.equal(decodeIpv4(opts, 0, opts.length, out), kBadTotalLength, "a total length inside the options");
});

t.test("decodeIpv4() returns kTruncated when the header or its options were not captured", async (t) => {
  const p = ipv4({ src: "192.0.2.1", dst: "192.0.2.2", options: new Uint8Array(12) }, datagram);
  for (const len of [0, 1, 19, 20, 31]) t.equal(decodeIpv4(p, 0, len, new Ipv4Layer()), kTruncated, `${len} bytes`);
});
