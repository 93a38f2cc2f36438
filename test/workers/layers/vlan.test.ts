import t from "tap";
import { kTruncated } from "../../../workers/decode-result.ts";
import { decodeEthernet, EthernetLayer } from "../../../workers/layers/ethernet.ts";
import { decodeVlan, isVlanTpid, VlanLayer } from "../../../workers/layers/vlan.ts";
import { ethernet, ipv6, udp } from "../../support/packet-builders.ts";

const packet = ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, udp({ sport: 1, dport: 2 }));

t.test("isVlanTpid() accepts 802.1Q, 802.1ad and the old QinQ TPID and nothing else", async (t) => {
  t.ok(isVlanTpid(0x8100));
  t.ok(isVlanTpid(0x88a8));
  t.ok(isVlanTpid(0x9100));
  for (const other of [0x0800, 0x86dd, 0x8847, 0x0806, 0x9200, -1]) t.notOk(isVlanTpid(other), other.toString(16));
});

t.test("decodeVlan() reads priority, DEI and VLAN id and the EtherType after the tag", async (t) => {
  const frame = ethernet({ vlans: [{ vid: 0xabc, pcp: 5, dei: true }] }, packet);
  const eth = new EthernetLayer();
  const p = decodeEthernet(frame, 0, frame.length, eth);
  t.equal(eth.etherType, 0x8100);
  const out = new VlanLayer();
  t.equal(decodeVlan(frame, p, frame.length, out), 18);
  t.equal(out.tci, (5 << 13) | (1 << 12) | 0xabc);
  t.equal(out.tci & 0xfff, 0xabc);
  t.equal(out.etherType, 0x86dd);
});

t.test("decodeVlan() follows a QinQ stack: an 802.1ad service tag, then an 802.1Q customer tag", async (t) => {
  const frame = ethernet({ vlans: [{ vid: 100 }, { vid: 200 }] }, packet);
  const eth = new EthernetLayer();
  let p = decodeEthernet(frame, 0, frame.length, eth);
  t.equal(eth.etherType, 0x88a8);
  const out = new VlanLayer();
  p = decodeVlan(frame, p, frame.length, out);
  t.equal(out.tci, 100);
  t.equal(out.etherType, 0x8100);
  p = decodeVlan(frame, p, frame.length, out);
  t.equal(p, 22);
  t.equal(out.tci, 200);
  t.equal(out.etherType, 0x86dd);
});

t.test("decodeVlan() returns kTruncated for a tag cut short", async (t) => {
  const frame = ethernet({ vlans: [{ vid: 7 }] }, packet);
  for (let end = 14; end < 18; end++) t.equal(decodeVlan(frame, 14, end, new VlanLayer()), kTruncated, `${end - 14} bytes of tag`);
});
