import t from "tap";
import { kTruncated } from "../../../workers/decode-result.ts";
import { decodeEthernet, decodeLlc, EthernetLayer } from "../../../workers/layers/ethernet.ts";
import { concatBytes, ethernet, hex, ipv4, parseMac, udp } from "../../support/packet-builders.ts";

const packet = ipv4({ src: "192.0.2.1", dst: "198.51.100.2" }, udp({ sport: 1234, dport: 53 }, "q"));

t.test("decodeEthernet() reads the MAC offsets and EtherType of an Ethernet II header", async (t) => {
  const frame = ethernet({ src: "00:11:22:33:44:55", dst: "66:77:88:99:aa:bb" }, packet);
  const out = new EthernetLayer();
  t.equal(decodeEthernet(frame, 0, frame.length, out), 14);
  t.equal(out.etherType, 0x0800);
  t.same(frame.subarray(out.srcOff, out.srcOff + 6), parseMac("00:11:22:33:44:55"));
  t.same(frame.subarray(out.dstOff, out.dstOff + 6), parseMac("66:77:88:99:aa:bb"));
});

t.test("decodeEthernet() returns offsets into the whole buffer when the frame does not start at 0", async (t) => {
  const frame = ethernet({ src: "00:11:22:33:44:55" }, packet);
  const buffer = concatBytes(new Uint8Array(100), frame, new Uint8Array(7));
  const out = new EthernetLayer();
  t.equal(decodeEthernet(buffer, 100, 100 + frame.length, out), 114);
  t.equal(out.dstOff, 100);
  t.equal(out.srcOff, 106);
});

t.test("decodeEthernet() takes the SNAP EtherType of an 802.3 LLC/SNAP frame", async (t) => {
  const snap = concatBytes(hex("aa aa 03 00 00 00 08 06"), new Uint8Array(28));
  const frame = ethernet({ type: snap.length }, snap);
  const out = new EthernetLayer();
  t.equal(decodeEthernet(frame, 0, frame.length, out), 22, "payload after the 8-byte LLC/SNAP header");
  t.equal(out.etherType, 0x0806);
});

t.test("decodeEthernet() reports EtherType -1 for an 802.3 frame without SNAP and returns the LLC offset", async (t) => {
  const stp = hex("42 42 03 00 00 00 00 00"); // spanning tree BPDU: LLC DSAP/SSAP 0x42
  const frame = ethernet({ type: stp.length }, stp);
  const out = new EthernetLayer();
  t.equal(decodeEthernet(frame, 0, frame.length, out), 14);
  t.equal(out.etherType, -1);
});

t.test("decodeLlc() does not read a SNAP header that was cut short", async (t) => {
  const out = { etherType: 0 };
  t.equal(decodeLlc(hex("aa aa 03 00 00"), 0, 5, out), 0);
  t.equal(out.etherType, -1);
});

t.test("decodeEthernet() returns kTruncated for every length below 14 bytes, without throwing", async (t) => {
  const frame = ethernet({}, packet);
  for (let len = 0; len < 14; len++) {
    t.equal(decodeEthernet(frame, 0, len, new EthernetLayer()), kTruncated, `${len} bytes`);
  }
  t.equal(decodeEthernet(new Uint8Array(0), 0, 0, new EthernetLayer()), kTruncated, "an empty buffer");
});
