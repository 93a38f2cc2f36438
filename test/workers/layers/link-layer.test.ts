import t from "tap";
import { kBadLength, kTruncated } from "../../../workers/decode-result.ts";
import { decodeBsdLoop, decodeBsdNull } from "../../../workers/layers/bsd-null.ts";
import { decodeFddi } from "../../../workers/layers/fddi.ts";
import {
  decodeLink,
  ipVersionEtherType,
  isSupportedLinkType,
  kLinkEthernet,
  kLinkFddi,
  kLinkIpv4,
  kLinkIpv6,
  kLinkLinuxSll,
  kLinkLinuxSll2,
  kLinkLoop,
  kLinkNflog,
  kLinkNull,
  kLinkRaw,
  kLinkRawBsdOs,
  kLinkRawOpenBsd,
  LinkLayer,
} from "../../../workers/layers/link-layer.ts";
import { decodeLinuxSll, decodeLinuxSll2 } from "../../../workers/layers/linux-sll.ts";
import { decodeNflog } from "../../../workers/layers/nflog.ts";
import { arp, concatBytes, hex, ipv4, ipv6, linuxSll, linuxSll2, nullLoopback, udp } from "../../support/packet-builders.ts";
import { nflog, NflogTlv } from "../../support/nflog-frame.ts";

const v4 = ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1, dport: 2 }, "x"));
const v6 = ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, udp({ sport: 1, dport: 2 }, "x"));

/** Decodes through the link-type table and returns [payload offset, EtherType, payload end]. */
function link(linktype: number, frame: Uint8Array): [number, number, number] {
  const out = new LinkLayer();
  const p = decodeLink(linktype, frame, 0, frame.length, out);
  return [p, out.etherType, out.payloadEnd];
}

t.test("isSupportedLinkType() knows the link types the decoders handle, and no others", async (t) => {
  for (const lt of [kLinkNull, kLinkEthernet, kLinkFddi, kLinkRawOpenBsd, kLinkRawBsdOs, kLinkRaw, kLinkLoop, kLinkLinuxSll, kLinkIpv4, kLinkIpv6, kLinkNflog, kLinkLinuxSll2]) {
    t.ok(isSupportedLinkType(lt), `${lt}`);
  }
  for (const lt of [2, 9, 105, 127, 147, 192, 220, 0xffff, -1]) t.notOk(isSupportedLinkType(lt), `${lt}`);
});

t.test("decodeBsdNull() reads the address family in either byte order", async (t) => {
  for (const byteOrder of ["little", "big"] as const) {
    t.same(link(kLinkNull, nullLoopback({ byteOrder }, v4)), [4, 0x0800, 4 + v4.length], `${byteOrder}-endian IPv4`);
    for (const ipv6Family of [24, 28, 30] as const) {
      t.same(link(kLinkNull, nullLoopback({ byteOrder, ipv6Family }, v6)), [4, 0x86dd, 4 + v6.length], `${byteOrder}-endian AF_INET6 ${ipv6Family}`);
    }
    for (const family of [10, 23]) {
      t.equal(link(kLinkNull, nullLoopback({ byteOrder, family }, v6))[1], 0x86dd, `${byteOrder}-endian family ${family}`);
    }
    t.equal(link(kLinkNull, nullLoopback({ byteOrder, family: 7 }, v4))[1], -1, `${byteOrder}-endian unknown family`);
  }
});

t.test("decodeBsdLoop() reads the family big-endian only (LINKTYPE_LOOP)", async (t) => {
  t.same(link(kLinkLoop, nullLoopback({ byteOrder: "big" }, v4)), [4, 0x0800, 4 + v4.length]);
  t.same(link(kLinkLoop, nullLoopback({ byteOrder: "big", ipv6Family: 24 }, v6))[1], 0x86dd);
  t.equal(link(kLinkLoop, nullLoopback({ byteOrder: "little" }, v4))[1], -1, "a little-endian family is not AF_INET here");
});

t.test("decodeBsdNull() and decodeBsdLoop() return kTruncated below 4 bytes", async (t) => {
  const f = nullLoopback({}, v4);
  for (let len = 0; len < 4; len++) {
    t.equal(decodeBsdNull(f, 0, len, new LinkLayer()), kTruncated);
    t.equal(decodeBsdLoop(f, 0, len, new LinkLayer()), kTruncated);
  }
});

t.test("decodeLinuxSll() reads the protocol at the end of the 16-byte header", async (t) => {
  t.same(link(kLinkLinuxSll, linuxSll({ packetType: "outgoing" }, v4)), [16, 0x0800, 16 + v4.length]);
  t.same(link(kLinkLinuxSll, linuxSll({}, v6))[1], 0x86dd);
  const a = arp({ op: "request", senderMac: "02:00:00:00:00:01", senderIp: "192.0.2.1", targetIp: "192.0.2.2" });
  t.same(link(kLinkLinuxSll, linuxSll({}, a))[1], 0x0806);
});

t.test("decodeLinuxSll2() reads the protocol at the start of the 20-byte header", async (t) => {
  t.same(link(kLinkLinuxSll2, linuxSll2({ interfaceIndex: 3 }, v4)), [20, 0x0800, 20 + v4.length]);
  t.same(link(kLinkLinuxSll2, linuxSll2({}, v6))[1], 0x86dd);
});

t.test("decodeLinuxSll() and decodeLinuxSll2() follow LLC/SNAP, and know Netlink and raw 802.3 carry no EtherType", async (t) => {
  const snap = concatBytes(hex("aa aa 03 00 00 00 08 00"), v4);
  t.same(link(kLinkLinuxSll, linuxSll({ protocol: 0x0004 }, snap)), [24, 0x0800, 16 + snap.length], "SLL ETH_P_802_2");
  t.same(link(kLinkLinuxSll2, linuxSll2({ protocol: 0x0004 }, snap)), [28, 0x0800, 20 + snap.length], "SLL2 ETH_P_802_2");
  t.equal(link(kLinkLinuxSll, linuxSll({ protocol: 0x0001 }, v4))[1], -1, "ETH_P_802_3");
  t.equal(link(kLinkLinuxSll, linuxSll({ arphrdType: 824, protocol: 0x0800 }, v4))[1], -1, "SLL Netlink");
  t.equal(link(kLinkLinuxSll2, linuxSll2({ arphrdType: 824, protocol: 0x0800 }, v4))[1], -1, "SLL2 Netlink");
});

t.test("decodeLinuxSll() and decodeLinuxSll2() return kTruncated for a short header", async (t) => {
  const a = linuxSll({}, v4);
  const b = linuxSll2({}, v4);
  for (const len of [0, 15]) t.equal(decodeLinuxSll(a, 0, len, new LinkLayer()), kTruncated);
  for (const len of [0, 16, 19]) t.equal(decodeLinuxSll2(b, 0, len, new LinkLayer()), kTruncated);
});

t.test("decodeNflog() finds the payload TLV after other TLVs and ends the payload with it", async (t) => {
  const f = nflog({}, v4);
  const [p, etherType, end] = link(kLinkNflog, f);
  t.equal(etherType, 0x0800);
  t.same(f.subarray(p, end), v4, "exactly the packet");
  const g = nflog({ family: 10 }, v6);
  const [q, et6, end6] = link(kLinkNflog, g);
  t.equal(et6, 0x86dd);
  t.same(g.subarray(q, end6), v6);
});

t.test("decodeNflog() ends the payload at its TLV even when padding or more TLVs follow", async (t) => {
  const odd = udp({ sport: 1, dport: 2 }, "xyz"); // an 11-byte value: the TLV is padded
  const packet = ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, odd);
  const f = concatBytes(nflog({}, packet), hex("08 00 0b 00 e8 03 00 00")); // then an NFULA_UID TLV
  const [p, , end] = link(kLinkNflog, f);
  t.same(f.subarray(p, end), packet);
});

t.test("decodeNflog() reads TLVs written big-endian", async (t) => {
  const f = nflog({ byteOrder: "big" }, v4);
  const [p, etherType, end] = link(kLinkNflog, f);
  t.equal(etherType, 0x0800);
  t.same(f.subarray(p, end), v4);
});

t.test("decodeNflog() returns kTruncated without a payload TLV and kBadLength for a TLV shorter than its header", async (t) => {
  const none = nflog({ noPayload: true }, v4);
  t.equal(decodeNflog(none, 0, none.length, new LinkLayer()), kTruncated, "no payload TLV");
  const f = nflog({}, v4);
  t.equal(decodeNflog(f, 0, 3, new LinkLayer()), kTruncated, "no header");
  t.equal(decodeNflog(f, 0, 10, new LinkLayer()), kTruncated, "a TLV cut short");
  const bad = nflog({ before: [{ type: NflogTlv.PREFIX, value: new Uint8Array(4) }] }, v4);
  bad[4] = 2; // TLV length 2 (both byte orders read it below 4)
  bad[5] = 0;
  t.equal(decodeNflog(bad, 0, bad.length, new LinkLayer()), kBadLength);
});

t.test("decodeFddi() skips frame control and addresses and reads the SNAP EtherType", async (t) => {
  const f = concatBytes(new Uint8Array(13), hex("aa aa 03 00 00 00 86 dd"), v6);
  const out = new LinkLayer();
  t.equal(decodeFddi(f, 0, f.length, out), 21);
  t.equal(out.etherType, 0x86dd);
  t.equal(decodeFddi(f, 0, 12, out), kTruncated);
});

t.test("decodeLink() reads raw IP (101, 12, 14) by its version nibble and 228/229 by link type", async (t) => {
  for (const lt of [kLinkRaw, kLinkRawOpenBsd, kLinkRawBsdOs]) {
    t.same(link(lt, v4), [0, 0x0800, v4.length], `${lt} IPv4`);
    t.same(link(lt, v6), [0, 0x86dd, v6.length], `${lt} IPv6`);
    t.equal(link(lt, Uint8Array.of(0x55, 0, 0, 0))[1], -1, `${lt} version 5`);
    t.equal(decodeLink(lt, v4, 0, 0, new LinkLayer()), kTruncated, `${lt} empty`);
  }
  t.same(link(kLinkIpv4, v4), [0, 0x0800, v4.length]);
  t.same(link(kLinkIpv6, v6), [0, 0x86dd, v6.length]);
  t.equal(ipVersionEtherType(0x45), 0x0800);
  t.equal(ipVersionEtherType(0x60), 0x86dd);
  t.equal(ipVersionEtherType(0x00), -1);
});
