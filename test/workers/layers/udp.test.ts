import t from "tap";
import { kBadLength, kTruncated } from "../../../workers/decode-result.ts";
import { decodeUdp, UdpLayer } from "../../../workers/layers/udp.ts";
import { udp } from "../../support/packet-builders.ts";

t.test("decodeUdp() reads ports, length and checksum", async (t) => {
  const d = udp({ sport: 5353, dport: 53, checksum: 0x1234 }, "hello");
  const out = new UdpLayer();
  t.equal(decodeUdp(d, 0, d.length, d.length, out), 8);
  t.equal(out.srcPort, 5353);
  t.equal(out.dstPort, 53);
  t.equal(out.length, 13);
  t.equal(out.checksum, 0x1234);
  t.equal(out.soft, 0);
});

t.test("decodeUdp() flags a length below 8 or beyond the IP payload and falls back to the IP payload length", async (t) => {
  const out = new UdpLayer();
  for (const length of [4, 7, 14, 0xffff]) {
    const d = udp({ sport: 1, dport: 2, length }, "hello");
    t.equal(decodeUdp(d, 0, d.length, d.length, out), 8, `length ${length}`);
    t.equal(out.soft, kBadLength, `length ${length}`);
    t.equal(out.length, d.length, `length ${length}: the IP payload length is used`);
    t.equal(out.dstPort, 2, `length ${length}: the ports are still read`);
  }
});

t.test("decodeUdp() accepts a shorter length than the IP payload (trailing bytes) as declared", async (t) => {
  const d = udp({ sport: 1, dport: 2, length: 10 }, "hello");
  const out = new UdpLayer();
  t.equal(decodeUdp(d, 0, d.length, d.length, out), 8);
  t.equal(out.soft, 0);
  t.equal(out.length, 10);
});

t.test("decodeUdp() takes a zero length (jumbogram) as the IP payload length", async (t) => {
  const d = udp({ sport: 1, dport: 2, length: 0 }, "hello");
  const out = new UdpLayer();
  t.equal(decodeUdp(d, 0, d.length, d.length, out), 8);
  t.equal(out.soft, 0);
  t.equal(out.length, 13);
});

t.test("decodeUdp() returns kTruncated for a header cut short", async (t) => {
  const d = udp({ sport: 1, dport: 2 }, "hello");
  for (let len = 0; len < 8; len++) t.equal(decodeUdp(d, 0, len, d.length, new UdpLayer()), kTruncated, `${len} bytes`);
});
