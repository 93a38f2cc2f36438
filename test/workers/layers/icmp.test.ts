import t from "tap";
import { kTruncated } from "../../../workers/decode-result.ts";
import { decodeIcmp, decodeIcmpv6, IcmpLayer } from "../../../workers/layers/icmp.ts";
import { icmpv4, icmpv4Echo, icmpv4Unreachable, icmpv6, icmpv6Echo, icmpv6Unreachable, ipv4, ipv6, udp } from "../../support/packet-builders.ts";

const quoted = ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1, dport: 2 }, "abcdefgh"));

t.test("decodeIcmp() reads an echo request's type, code, checksum and identifier/sequence", async (t) => {
  const m = icmpv4Echo({ id: 0x1234, seq: 7 }, "ping");
  const out = new IcmpLayer();
  t.equal(decodeIcmp(m, 0, m.length, out), 8);
  t.equal(out.type, 8);
  t.equal(out.code, 0);
  t.equal(out.checksum, (m[2]! << 8) | m[3]!);
  t.equal(out.rest, 0x12340007);
  t.equal(out.quoteOff, -1, "an echo quotes nothing");
});

t.test("decodeIcmp() points at the quoted packet of an error message", async (t) => {
  const m = icmpv4Unreachable({ code: 3 }, quoted);
  const out = new IcmpLayer();
  t.equal(decodeIcmp(m, 0, m.length, out), 8);
  t.equal(out.type, 3);
  t.equal(out.code, 3);
  t.equal(out.quoteOff, 8);
  const timeExceeded = icmpv4({ type: 11, code: 0 }, quoted);
  decodeIcmp(timeExceeded, 0, timeExceeded.length, out);
  t.equal(out.quoteOff, 8);
  const bare = icmpv4({ type: 3, code: 1 });
  decodeIcmp(bare, 0, bare.length, out);
  t.equal(out.quoteOff, -1, "an error without a body quotes nothing");
});

t.test("decodeIcmpv6() reads an echo request and quotes errors (types below 128)", async (t) => {
  const echo = icmpv6Echo({ id: 1, seq: 2 });
  const out = new IcmpLayer();
  t.equal(decodeIcmpv6(echo, 0, echo.length, out), 8);
  t.equal(out.type, 128);
  t.equal(out.rest, 0x00010002);
  t.equal(out.quoteOff, -1);
  const inner = ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, udp({ sport: 1, dport: 2 }));
  const unreachable = icmpv6Unreachable({ code: 4 }, inner);
  t.equal(decodeIcmpv6(unreachable, 0, unreachable.length, out), 8);
  t.equal(out.type, 1);
  t.equal(out.code, 4);
  t.equal(out.quoteOff, 8);
  const ns = icmpv6({ type: 135 }, new Uint8Array(16));
  decodeIcmpv6(ns, 0, ns.length, out);
  t.equal(out.quoteOff, -1, "neighbour discovery is not an error");
});

t.test("decodeIcmp() and decodeIcmpv6() return kTruncated below 8 bytes, keeping type and code when present", async (t) => {
  const m = icmpv4Echo({ id: 1, seq: 1 });
  for (let len = 0; len < 8; len++) t.equal(decodeIcmp(m, 0, len, new IcmpLayer()), kTruncated, `${len} bytes`);
  const out = new IcmpLayer();
  t.equal(decodeIcmpv6(icmpv6Echo({ id: 1, seq: 1, reply: true }), 0, 2, out), kTruncated);
  t.equal(out.type, 129);
  t.equal(out.code, 0);
});
