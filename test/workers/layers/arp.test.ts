import t from "tap";
import { kBadAddressLength, kTruncated } from "../../../workers/decode-result.ts";
import { ArpLayer, decodeArp } from "../../../workers/layers/arp.ts";
import { arp, parseIpv4, parseMac } from "../../support/packet-builders.ts";

const request = arp({ op: "request", senderMac: "02:00:00:00:00:01", senderIp: "192.0.2.1", targetIp: "192.0.2.254" });

t.test("decodeArp() reads types, lengths, operation and where each address sits", async (t) => {
  const out = new ArpLayer();
  t.equal(decodeArp(request, 0, request.length, out), 28);
  t.equal(out.hardwareType, 1);
  t.equal(out.protocolType, 0x0800);
  t.equal(out.hardwareLength, 6);
  t.equal(out.protocolLength, 4);
  t.equal(out.operation, 1);
  t.same(request.subarray(out.senderHardwareOff, out.senderHardwareOff + 6), parseMac("02:00:00:00:00:01"));
  t.same(request.subarray(out.senderProtocolOff, out.senderProtocolOff + 4), parseIpv4("192.0.2.1"));
  t.same(request.subarray(out.targetHardwareOff, out.targetHardwareOff + 6), parseMac("00:00:00:00:00:00"));
  t.same(request.subarray(out.targetProtocolOff, out.targetProtocolOff + 4), parseIpv4("192.0.2.254"));
});

t.test("decodeArp() reads a reply's operation", async (t) => {
  const reply = arp({ op: "reply", senderMac: "02:00:00:00:00:fe", senderIp: "192.0.2.254", targetMac: "02:00:00:00:00:01", targetIp: "192.0.2.1" });
  const out = new ArpLayer();
  t.equal(decodeArp(reply, 0, reply.length, out), 28);
  t.equal(out.operation, 2);
});

t.test("decodeArp() returns kBadAddressLength for a zero hardware or protocol length", async (t) => {
  for (const at of [4, 5]) {
    const bad = request.slice();
    bad[at] = 0;
    t.equal(decodeArp(bad, 0, bad.length, new ArpLayer()), kBadAddressLength, `byte ${at} zero`);
  }
});

t.test("decodeArp() returns kTruncated when the header or the addresses are cut short", async (t) => {
  for (const len of [0, 7, 8, 20, 27]) t.equal(decodeArp(request, 0, len, new ArpLayer()), kTruncated, `${len} bytes`);
  const long = request.slice();
  long[4] = 255; // a 255-byte hardware address cannot fit in 28 bytes
  t.equal(decodeArp(long, 0, long.length, new ArpLayer()), kTruncated);
});
