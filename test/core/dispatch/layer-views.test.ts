/**
 * Layer views read their fields from the ring: the slot descriptor, the decode result and the frame
 * bytes. These tests decode frames into a real ring with FrameDecoder and read them through views.
 */
import t from "tap";
import { EthernetView, IcmpView, Ipv4View, Ipv6View, PacketCursor, TcpView } from "../../../core/dispatch/layer-views.ts";
import { eventRecord } from "../../../core/plugins/plugin-api.ts";
import { FrameRing } from "../../../core/ring/frame-ring.ts";
import { kSlotCapLen, kSlotLinkType, kSlotOffset } from "../../../core/ring/ring-layout.ts";
import { FrameDecoder } from "../../../workers/decode-frame.ts";
import { ethernet, icmpv4Echo, ipv4, ipv6, tcp, udp } from "../../support/packet-builders.ts";

/** Puts `frame` at byte `offset` of the ring's data, as slot 0, decodes it and returns a cursor on it. */
function decodeAt(ring: FrameRing, frame: Uint8Array, offset: number, linktype = 1): PacketCursor {
  ring.data.set(frame, offset);
  ring.slots[kSlotOffset] = offset;
  ring.slots[kSlotCapLen] = frame.length;
  ring.slots[kSlotLinkType] = linktype;
  new FrameDecoder(ring.data, ring.slots, ring.results).decodeSlot(0);
  const c = new PacketCursor(ring);
  c.s = 0;
  c.r = 0;
  c.frame = 1;
  return c;
}

const sackSegment = tcp({
  sport: 1,
  dport: 2,
  flags: "A",
  options: [{ kind: "nop" }, { kind: "nop" }, { kind: "sack", blocks: [[100, 200], [0xfffffff0, 0x10]] }],
});

t.test("TcpView reads SACK blocks wherever the frame sits in a large ring, beyond 16 MiB too", async (t) => {
  const ring = FrameRing.create(64 << 20);
  const frame = ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, sackSegment));
  for (const offset of [0, 4096, (16 << 20) - 30, 17 << 20, (48 << 20) + 6]) {
    const view = new TcpView(decodeAt(ring, frame, offset));
    t.same(view.sack, [[100, 200], [0xfffffff0, 0x10]], `frame at byte ${offset}`);
  }
});

t.test("TcpView reports absent options as null and no SACK blocks", async (t) => {
  const ring = FrameRing.create(1 << 20);
  const syn = ethernet({}, ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, tcp({ sport: 1, dport: 2, flags: "S", options: [{ kind: "mss", value: 1440 }, { kind: "sack-permitted" }, { kind: "nop" }, { kind: "wscale", shift: 0 }] })));
  const withOptions = new TcpView(decodeAt(ring, syn, 100));
  t.equal(withOptions.mss, 1440);
  t.equal(withOptions.window_scale, 0, "a window scale of 0 is present, not null");
  t.equal(withOptions.sack_permitted, true);
  t.equal(withOptions.ts_val, null);
  t.same(withOptions.sack, []);
  const bare = new TcpView(decodeAt(ring, ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, tcp({ sport: 3, dport: 4, flags: "A" }))), 100));
  t.equal(bare.mss, null);
  t.equal(bare.window_scale, null);
  t.equal(bare.sack_permitted, false);
  t.equal(bare.ts_val, null);
  t.equal(bare.ts_ecr, null);
  t.same(bare.sack, []);
  t.equal(bare.src, "192.0.2.1");
  t.equal(bare.dport, 4);
});

t.test("EthernetView reports one VLAN for a single 802.1ad tag and two for QinQ", async (t) => {
  const ring = FrameRing.create(1 << 20);
  const packet = ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, tcp({ sport: 1, dport: 2 }));
  const single = new EthernetView(decodeAt(ring, ethernet({ vlans: [{ vid: 300, tpid: 0x88a8 }] }, packet), 0));
  t.equal(single.vlan, 300);
  t.equal(single.inner_vlan, null);
  t.equal(single.vlan_tags, 1);
  const qinq = new EthernetView(decodeAt(ring, ethernet({ vlans: [{ vid: 10 }, { vid: 20 }] }, packet), 0));
  t.equal(qinq.vlan, 10);
  t.equal(qinq.inner_vlan, 20);
  t.equal(qinq.vlan_tags, 2);
});

t.test("Ipv6View names the extension headers and the fragment of the header the transport belongs to", async (t) => {
  const ring = FrameRing.create(1 << 20);
  const p = ipv6({ src: "2001:db8::1", dst: "2001:db8::2", extensions: [{ type: "hop-by-hop" }, { type: "fragment", offset: 64, more: true, id: 5 }] }, tcp({ sport: 1, dport: 2 }));
  const v = new Ipv6View(decodeAt(ring, ethernet({}, p), 0));
  t.same(v.extensions, ["hop-by-hop", "fragment"]);
  t.equal(v.fragment, true);
  t.equal(v.fragment_offset, 64);
  t.equal(v.protocol, 6);
  t.equal(v.next_header, 0);
});

t.test("Ipv6View.upper_length is what the protocol gets after the extension headers; inner tells the tunnel's headers apart", async (t) => {
  const ring = FrameRing.create(1 << 20);
  const udp8 = udp({ sport: 1, dport: 2 }, "12345678");
  const ext = new Ipv6View(decodeAt(ring, ethernet({}, ipv6({ src: "2001:db8::1", dst: "2001:db8::2", extensions: [{ type: "hop-by-hop" }, { type: "destination" }] }, udp8)), 0));
  t.equal(ext.payload_length, 16 + 16);
  t.equal(ext.upper_length, 16, "the UDP datagram, after two 8-byte extension headers");
  t.equal(ext.inner, true, "a header alone is the innermost one");
  t.match(ext.toJSON(), { upper_length: 16, inner: true });
  const later = new Ipv6View(decodeAt(ring, ethernet({}, ipv6({ src: "2001:db8::1", dst: "2001:db8::2", extensions: [{ type: "fragment", offset: 64, more: false, id: 9 }], protocol: 17 }, "twenty-four bytes here!!")), 0));
  t.equal(later.upper_length, 24, "a later fragment: what follows its fragment header");
  // 6in4 and 4in6: the outer header is not the inner one.
  const sixInFour = decodeAt(ring, ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, udp8))), 0);
  t.same([new Ipv4View(sixInFour).inner, new Ipv6View(sixInFour).inner], [false, true]);
  t.equal(new Ipv4View(sixInFour).toJSON().inner, false);
  const fourInSix = decodeAt(ring, ethernet({}, ipv6({ src: "2001:db8::1", dst: "2001:db8::2", extensions: [{ type: "hop-by-hop" }] }, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp8))), 0);
  t.same([new Ipv4View(fourInSix).inner, new Ipv6View(fourInSix).inner], [true, false]);
  t.equal(new Ipv6View(fourInSix).upper_length, new Ipv6View(fourInSix).payload_length, "an outer header reports no extension headers: its protocol gets its payload");
});

t.test("an icmp record is typed by its event name; the ICMP type and code have fields of their own", async (t) => {
  const ring = FrameRing.create(1 << 20);
  const ping = new IcmpView(decodeAt(ring, ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, icmpv4Echo({ id: 1, seq: 1 }))), 0));
  t.equal(ping.type, 8, "the view's type is the ICMP type");
  t.same(eventRecord("icmp", ping), { type: "icmp", ts: ping.ts, frame: 1, src: "192.0.2.1", dst: "192.0.2.2", icmp_type: 8, icmp_code: 0 });
  t.same(eventRecord("demo.thing", { type: "own", n: 1 }), { type: "demo.thing", n: 1 }, "a plugin event's own type field does not replace the name");
});
