/**
 * Layer events as views: one object per event type, re-pointed at each packet by the dispatcher.
 *
 * A getter reads its field from the slot descriptor, the decode result or the frame bytes when the
 * plugin asks for it, so emitting an event builds nothing and a field nobody reads costs nothing.
 * That is why a view is only valid during the handler call (see core/events.ts).
 */
import type {
  ArpEvent,
  EthernetEvent,
  IcmpEvent,
  Ipv4Event,
  Ipv6Event,
  MalformedEvent,
  PacketEvent,
  TcpEvent,
  UdpEvent,
} from "../events.ts";
import type { FrameRing } from "../ring/frame-ring.ts";
import {
  kSlotCapLen,
  kSlotInterface,
  kSlotLinkType,
  kSlotOffset,
  kSlotTsNsec,
  kSlotWireLen,
  slotSeconds,
} from "../ring/ring-layout.ts";
import {
  kFlagMalformed,
  kFlagUnsupportedLink,
  kIp6ExtAuth,
  kIp6ExtDestination,
  kIp6ExtEsp,
  kIp6ExtFragment,
  kIp6ExtHopByHop,
  kIp6ExtMobility,
  kIp6ExtRouting,
  kResDstPort,
  kResEtherType,
  kResFlags,
  kResFragment,
  kResIcmp,
  kResIp4Off,
  kResIp6Off,
  kResIpExt,
  kResIpProto,
  kResL2Off,
  kResL3Off,
  kResL4Off,
  kResMalformed,
  kResPayloadLen,
  kResPayloadOff,
  kResSrcPort,
  kResTags,
  kResTcpAck,
  kResTcpFlags,
  kResTcpMssWscale,
  kResTcpOptions,
  kResTcpSack,
  kResTcpSeq,
  kResTcpTsEcr,
  kResTcpTsVal,
  kResTcpWindow,
  kResVlan,
  kTcpOptMss,
  kTcpOptSackOk,
  kTcpOptTimestamp,
  kTcpOptWscale,
  malformedLayerNames,
  malformedReasonNames,
  type MalformedLayer,
  type MalformedReason,
} from "../../workers/decode-result.ts";
import { hexText, ipText, ipv4Text, macText } from "./address-text.ts";
import { decodeIpv6, Ipv6Layer } from "../../workers/layers/ipv6.ts";

/** Where the current packet is: the dispatcher moves it, every view reads through it. */
export class PacketCursor {
  /** Base of the slot descriptor in `ring.slots`. */
  s = 0;
  /** Base of the decode result in `ring.results`. */
  r = 0;
  /** Packet number, 1-based. */
  frame = 0;
  constructor(readonly ring: FrameRing) {}

  /** Capture time in seconds. */
  get ts(): number {
    const sl = this.ring.slots;
    return slotSeconds(sl, this.s) + Math.floor(sl[this.s + kSlotTsNsec] / 1000) / 1e6;
  }

  /** IP family of the innermost IP header (the one carrying the transport). */
  family(): 4 | 6 {
    return this.ring.data[this.ring.results[this.r + kResL3Off]] >> 4 === 6 ? 6 : 4;
  }

  /** Source address text of the innermost IP header. */
  ipSrc(): string {
    const l3 = this.ring.results[this.r + kResL3Off];
    const f = this.family();
    return ipText(this.ring.data, f === 4 ? l3 + 12 : l3 + 8, f);
  }

  /** Destination address text of the innermost IP header. */
  ipDst(): string {
    const l3 = this.ring.results[this.r + kResL3Off];
    const f = this.family();
    return ipText(this.ring.data, f === 4 ? l3 + 16 : l3 + 24, f);
  }

  /** Where the frame's captured bytes end in the ring's data. */
  frameEnd(): number {
    return this.ring.slots[this.s + kSlotOffset] + this.ring.slots[this.s + kSlotCapLen];
  }

  /** Captured transport payload bytes (a view into the ring). */
  payload(): Uint8Array {
    const res = this.ring.results;
    const off = res[this.r + kResPayloadOff];
    if (off < 0) return new Uint8Array(0);
    const end = Math.min(this.frameEnd(), off + res[this.r + kResPayloadLen]);
    return this.ring.data.subarray(off, Math.max(off, end));
  }
}

abstract class View {
  constructor(protected readonly c: PacketCursor) {}
  get ts(): number {
    return this.c.ts;
  }
  get frame(): number {
    return this.c.frame;
  }
  protected get res(): Int32Array {
    return this.c.ring.results;
  }
  protected get d(): Uint8Array {
    return this.c.ring.data;
  }
  protected u16(o: number): number {
    const d = this.c.ring.data;
    return (d[o] << 8) | d[o + 1];
  }
  protected u32(o: number): number {
    const d = this.c.ring.data;
    return ((d[o] << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3]) >>> 0;
  }
  abstract toJSON(): Record<string, unknown>;
}

/** The `packet` event. */
export class PacketView extends View implements PacketEvent {
  get ts_sec(): number {
    return slotSeconds(this.c.ring.slots, this.c.s);
  }
  get ts_nsec(): number {
    return this.c.ring.slots[this.c.s + kSlotTsNsec];
  }
  get caplen(): number {
    return this.c.ring.slots[this.c.s + kSlotCapLen];
  }
  get len(): number {
    return this.c.ring.slots[this.c.s + kSlotWireLen] >>> 0;
  }
  get linktype(): number {
    return this.c.ring.slots[this.c.s + kSlotLinkType];
  }
  get iface(): number {
    return this.c.ring.slots[this.c.s + kSlotInterface];
  }
  get data(): Uint8Array {
    const off = this.c.ring.slots[this.c.s + kSlotOffset];
    return this.c.ring.data.subarray(off, off + this.caplen);
  }
  get malformed(): boolean {
    return (this.res[this.c.r + kResFlags] & kFlagMalformed) !== 0;
  }
  get unsupported(): boolean {
    return (this.res[this.c.r + kResFlags] & kFlagUnsupportedLink) !== 0;
  }
  toJSON(): Record<string, unknown> {
    return {
      ts: this.ts,
      frame: this.frame,
      caplen: this.caplen,
      len: this.len,
      linktype: this.linktype,
      iface: this.iface,
      malformed: this.malformed,
      unsupported: this.unsupported,
    };
  }
}

/** The `ethernet` event. */
export class EthernetView extends View implements EthernetEvent {
  get src(): string {
    return macText(this.d, this.res[this.c.r + kResL2Off] + 6);
  }
  get dst(): string {
    return macText(this.d, this.res[this.c.r + kResL2Off]);
  }
  get ethertype(): number {
    return this.res[this.c.r + kResEtherType];
  }
  get vlan_tags(): number {
    return this.res[this.c.r + kResTags] & 0xff;
  }
  get vlan(): number | null {
    return this.vlan_tags > 0 ? this.res[this.c.r + kResVlan] & 0xfff : null;
  }
  get inner_vlan(): number | null {
    return this.vlan_tags > 1 ? (this.res[this.c.r + kResVlan] >>> 16) & 0xfff : null;
  }
  toJSON(): Record<string, unknown> {
    return {
      ts: this.ts,
      frame: this.frame,
      src: this.src,
      dst: this.dst,
      ethertype: this.ethertype,
      vlan: this.vlan,
      inner_vlan: this.inner_vlan,
      vlan_tags: this.vlan_tags,
    };
  }
}

/** The `arp` event. */
export class ArpView extends View implements ArpEvent {
  private get off(): number {
    return this.res[this.c.r + kResL3Off];
  }
  private address(which: 0 | 1 | 2 | 3): string {
    const o = this.off;
    const hl = this.d[o + 4];
    const pl = this.d[o + 5];
    const at = o + 8 + (which >> 1) * (hl + pl) + (which & 1) * hl;
    const len = which & 1 ? pl : hl;
    if (which & 1 && pl === 4) return ipv4Text(this.d, at);
    if (!(which & 1) && hl === 6) return macText(this.d, at);
    return hexText(this.d, at, len);
  }
  get operation(): number {
    return this.u16(this.off + 6);
  }
  get sender_mac(): string {
    return this.address(0);
  }
  get sender_ip(): string {
    return this.address(1);
  }
  get target_mac(): string {
    return this.address(2);
  }
  get target_ip(): string {
    return this.address(3);
  }
  toJSON(): Record<string, unknown> {
    return {
      ts: this.ts,
      frame: this.frame,
      operation: this.operation,
      sender_mac: this.sender_mac,
      sender_ip: this.sender_ip,
      target_mac: this.target_mac,
      target_ip: this.target_ip,
    };
  }
}

/** The `ipv4` event: the first IPv4 header of the packet. */
export class Ipv4View extends View implements Ipv4Event {
  private get off(): number {
    return this.res[this.c.r + kResIp4Off];
  }
  get inner(): boolean {
    return this.res[this.c.r + kResL3Off] === this.off;
  }
  get src(): string {
    return ipv4Text(this.d, this.off + 12);
  }
  get dst(): string {
    return ipv4Text(this.d, this.off + 16);
  }
  get ttl(): number {
    return this.d[this.off + 8];
  }
  get tos(): number {
    return this.d[this.off + 1];
  }
  get id(): number {
    return this.u16(this.off + 4);
  }
  get protocol(): number {
    return this.d[this.off + 9];
  }
  get total_length(): number {
    return this.u16(this.off + 2);
  }
  get header_length(): number {
    return (this.d[this.off] & 0x0f) * 4;
  }
  get dont_fragment(): boolean {
    return (this.d[this.off + 6] & 0x40) !== 0;
  }
  get more_fragments(): boolean {
    return (this.d[this.off + 6] & 0x20) !== 0;
  }
  get fragment_offset(): number {
    return (this.u16(this.off + 6) & 0x1fff) * 8;
  }
  toJSON(): Record<string, unknown> {
    return {
      ts: this.ts,
      frame: this.frame,
      src: this.src,
      dst: this.dst,
      ttl: this.ttl,
      tos: this.tos,
      id: this.id,
      protocol: this.protocol,
      total_length: this.total_length,
      header_length: this.header_length,
      dont_fragment: this.dont_fragment,
      more_fragments: this.more_fragments,
      fragment_offset: this.fragment_offset,
      inner: this.inner,
    };
  }
}

const extensionNames: Array<[number, string]> = [
  [kIp6ExtHopByHop, "hop-by-hop"],
  [kIp6ExtRouting, "routing"],
  [kIp6ExtFragment, "fragment"],
  [kIp6ExtDestination, "destination"],
  [kIp6ExtAuth, "auth"],
  [kIp6ExtEsp, "esp"],
  [kIp6ExtMobility, "mobility"],
];

/** Where Ipv6View.upper_length walks a header's extension headers (one per thread: views are read synchronously). */
const scratchIpv6 = new Ipv6Layer();

/** The `ipv6` event: the first IPv6 header of the packet. */
export class Ipv6View extends View implements Ipv6Event {
  private get off(): number {
    return this.res[this.c.r + kResIp6Off];
  }
  get inner(): boolean {
    return this.res[this.c.r + kResL3Off] === this.off;
  }
  get src(): string {
    return ipText(this.d, this.off + 8, 6);
  }
  get dst(): string {
    return ipText(this.d, this.off + 24, 6);
  }
  get hop_limit(): number {
    return this.d[this.off + 7];
  }
  get traffic_class(): number {
    return ((this.d[this.off] & 0x0f) << 4) | (this.d[this.off + 1] >> 4);
  }
  get flow_label(): number {
    return ((this.d[this.off + 1] & 0x0f) << 16) | this.u16(this.off + 2);
  }
  get next_header(): number {
    return this.d[this.off + 6];
  }
  get protocol(): number {
    return this.inner ? this.res[this.c.r + kResIpProto] : this.next_header;
  }
  get payload_length(): number {
    return this.u16(this.off + 4);
  }
  get upper_length(): number {
    const plen = this.payload_length;
    // The outer header of a tunnel reports no extension headers (its protocol is its next header),
    // and a header without any has nothing to take off: most packets end here.
    if (!this.inner || (plen !== 0 && this.res[this.c.r + kResIpExt] === 0)) return plen;
    // Walked again on demand, by the decoder's own code: the record keeps only the transport's length.
    return decodeIpv6(this.d, this.off, this.c.frameEnd(), scratchIpv6) < 0 ? plen : scratchIpv6.upperLength;
  }
  get extensions(): string[] {
    const bits = this.inner ? this.res[this.c.r + kResIpExt] : 0;
    return extensionNames.filter(([bit]) => (bits & bit) !== 0).map(([, name]) => name);
  }
  get fragment(): boolean {
    return this.inner && (this.res[this.c.r + kResFragment] & (1 << 17)) !== 0;
  }
  get fragment_offset(): number {
    return this.fragment ? this.res[this.c.r + kResFragment] & 0xffff : 0;
  }
  toJSON(): Record<string, unknown> {
    return {
      ts: this.ts,
      frame: this.frame,
      src: this.src,
      dst: this.dst,
      hop_limit: this.hop_limit,
      traffic_class: this.traffic_class,
      flow_label: this.flow_label,
      next_header: this.next_header,
      protocol: this.protocol,
      payload_length: this.payload_length,
      upper_length: this.upper_length,
      extensions: this.extensions,
      fragment: this.fragment,
      fragment_offset: this.fragment_offset,
      inner: this.inner,
    };
  }
}

const flagLetters: Array<[number, string]> = [
  [0x02, "S"],
  [0x01, "F"],
  [0x08, "P"],
  [0x04, "R"],
  [0x20, "U"],
  [0x40, "E"],
  [0x80, "W"],
  [0x10, "."],
];

/** TCP flags the way tcpdump prints them ("S.", "P.", "F.", "none"). */
export function tcpFlagText(flags: number): string {
  let s = "";
  for (const [bit, letter] of flagLetters) if (flags & bit) s += letter;
  return s === "" ? "none" : s;
}

/** What the transport events share: endpoints from the innermost IP header, and the payload. */
abstract class TransportView extends View {
  get src(): string {
    return this.c.ipSrc();
  }
  get dst(): string {
    return this.c.ipDst();
  }
  get payload(): Uint8Array {
    return this.c.payload();
  }
}

/** A transport with ports (TCP, UDP). */
abstract class PortsView extends TransportView {
  get sport(): number {
    return this.res[this.c.r + kResSrcPort];
  }
  get dport(): number {
    return this.res[this.c.r + kResDstPort];
  }
  get payload_length(): number {
    return this.res[this.c.r + kResPayloadLen];
  }
}

/** The `tcp` event. */
export class TcpView extends PortsView implements TcpEvent {
  get seq(): number {
    return this.res[this.c.r + kResTcpSeq] >>> 0;
  }
  get ack(): number {
    return this.res[this.c.r + kResTcpAck] >>> 0;
  }
  get flags(): number {
    return this.res[this.c.r + kResTcpFlags];
  }
  get flag_text(): string {
    return tcpFlagText(this.flags);
  }
  get window(): number {
    return this.res[this.c.r + kResTcpWindow];
  }
  private get opts(): number {
    return this.res[this.c.r + kResTcpOptions];
  }
  get mss(): number | null {
    return this.opts & kTcpOptMss ? this.res[this.c.r + kResTcpMssWscale] & 0xffff : null;
  }
  get window_scale(): number | null {
    return this.opts & kTcpOptWscale ? this.res[this.c.r + kResTcpMssWscale] >>> 16 : null;
  }
  get sack_permitted(): boolean {
    return (this.opts & kTcpOptSackOk) !== 0;
  }
  get sack(): Array<[number, number]> {
    const v = this.res[this.c.r + kResTcpSack];
    const n = v >>> 24;
    const off = this.res[this.c.r + kResL4Off] + (v & 0xffffff);
    const blocks: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) blocks.push([this.u32(off + 8 * i), this.u32(off + 8 * i + 4)]);
    return blocks;
  }
  get ts_val(): number | null {
    return this.opts & kTcpOptTimestamp ? this.res[this.c.r + kResTcpTsVal] >>> 0 : null;
  }
  get ts_ecr(): number | null {
    return this.opts & kTcpOptTimestamp ? this.res[this.c.r + kResTcpTsEcr] >>> 0 : null;
  }
  toJSON(): Record<string, unknown> {
    return {
      ts: this.ts,
      frame: this.frame,
      src: this.src,
      sport: this.sport,
      dst: this.dst,
      dport: this.dport,
      seq: this.seq,
      ack: this.ack,
      flags: this.flag_text,
      window: this.window,
      mss: this.mss,
      window_scale: this.window_scale,
      sack_permitted: this.sack_permitted,
      sack: this.sack,
      ts_val: this.ts_val,
      ts_ecr: this.ts_ecr,
      payload_length: this.payload_length,
    };
  }
}

/** The `udp` event. */
export class UdpView extends PortsView implements UdpEvent {
  toJSON(): Record<string, unknown> {
    return {
      ts: this.ts,
      frame: this.frame,
      src: this.src,
      sport: this.sport,
      dst: this.dst,
      dport: this.dport,
      payload_length: this.payload_length,
    };
  }
}

/** The `icmp` and `icmpv6` events. */
export class IcmpView extends TransportView implements IcmpEvent {
  get type(): number {
    return this.res[this.c.r + kResIcmp] >> 8;
  }
  get code(): number {
    return this.res[this.c.r + kResIcmp] & 0xff;
  }
  /** `type` names the event in a record (see eventRecord): the ICMP type and code are `icmp_type` and `icmp_code`, as in Suricata's EVE. */
  toJSON(): Record<string, unknown> {
    return { ts: this.ts, frame: this.frame, src: this.src, dst: this.dst, icmp_type: this.type, icmp_code: this.code };
  }
}

/** The `malformed` event. */
export class MalformedView extends View implements MalformedEvent {
  get layer(): MalformedLayer {
    return malformedLayerNames[this.res[this.c.r + kResMalformed] >> 8] as MalformedLayer;
  }
  get reason(): MalformedReason {
    return malformedReasonNames[this.res[this.c.r + kResMalformed] & 0xff] as MalformedReason;
  }
  toJSON(): Record<string, unknown> {
    return { ts: this.ts, frame: this.frame, layer: this.layer, reason: this.reason };
  }
}
