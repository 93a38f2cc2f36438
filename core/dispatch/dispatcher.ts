import type { EventEmitter } from "eventemitter3";
import type { EventBus } from "../event-bus.ts";
import type { FrameRing } from "../ring/frame-ring.ts";
import { kSlotLinkType, kSlotStride, kSlotWireLen } from "../ring/ring-layout.ts";
import {
  kFlagFilteredOut,
  kFlagMalformed,
  kFlagUnsupportedLink,
  kLayerArp,
  kLayerEthernet,
  kLayerIcmp,
  kLayerIcmpv6,
  kLayerIpv4,
  kLayerIpv6,
  kLayerTcp,
  kLayerUdp,
  kResFlags,
  kResLayers,
  kResStride,
} from "../../workers/decode-result.ts";
import {
  ArpView,
  EthernetView,
  IcmpView,
  Ipv4View,
  Ipv6View,
  MalformedView,
  PacketCursor,
  PacketView,
  TcpView,
  UdpView,
} from "./layer-views.ts";

/** Something that follows every packet in capture order on the main thread (the flow table). */
export interface PacketAnalyzer {
  /** The cursor points at the packet; layer events for it were already emitted. */
  packet(c: PacketCursor): void;
}

/** Counters of what was dispatched. */
export class DispatchStats {
  packets = 0;
  bytes = 0;
  malformed = 0;
  unsupported = 0;
  /** The link type of the first frame counted in `unsupported`, or -1. */
  unsupportedLinkType = -1;
  filtered = 0;
}

/**
 * Turns decoded batches into events, in capture order, on the main thread.
 *
 * Per packet it re-points one cursor and emits one view per layer that has listeners; which events
 * have listeners is a bit set refreshed when subscriptions change, so an event nobody listens to
 * costs one AND. The stateful analysis (flows, streams, application protocols) runs after the layer
 * events of each packet, when something needs it.
 */
export class Dispatcher {
  readonly stats = new DispatchStats();
  readonly cursor: PacketCursor;
  /** Stop after this many packets (0: no limit); `onLimit` is called once when reached. */
  limit = 0;
  onLimit: () => void = () => {};
  /** The flow table and analyzers, or null when no plugin needs them. */
  analyzer: PacketAnalyzer | null = null;
  /** Where `-w` writes every dispatched packet, or null. */
  writer: { packet(c: PacketCursor): void } | null = null;
  private readonly emitter: EventEmitter<string>;
  private readonly packetView: PacketView;
  private readonly ethernetView: EthernetView;
  private readonly arpView: ArpView;
  private readonly ipv4View: Ipv4View;
  private readonly ipv6View: Ipv6View;
  private readonly tcpView: TcpView;
  private readonly udpView: UdpView;
  private readonly icmpView: IcmpView;
  private readonly malformedView: MalformedView;
  /** Layer bits (kLayer*) that have listeners. */
  private wantLayers = 0;
  private wantPacket = false;
  private wantMalformed = false;
  private wantIcmpv6 = false;
  private stopped = false;

  constructor(
    private readonly ring: FrameRing,
    private readonly bus: EventBus,
  ) {
    this.emitter = bus.emitter;
    const c = (this.cursor = new PacketCursor(ring));
    this.packetView = new PacketView(c);
    this.ethernetView = new EthernetView(c);
    this.arpView = new ArpView(c);
    this.ipv4View = new Ipv4View(c);
    this.ipv6View = new Ipv6View(c);
    this.tcpView = new TcpView(c);
    this.udpView = new UdpView(c);
    this.icmpView = new IcmpView(c);
    this.malformedView = new MalformedView(c);
    bus.onChange(() => this.refresh());
    this.refresh();
  }

  /** True once the packet limit was reached: later packets are neither counted nor delivered. */
  get limitReached(): boolean {
    return this.stopped;
  }

  /** Recomputes which events have listeners. */
  refresh(): void {
    const b = this.bus;
    this.wantPacket = b.has("packet");
    this.wantMalformed = b.has("malformed");
    this.wantIcmpv6 = b.has("icmpv6");
    this.wantLayers =
      (b.has("ethernet") ? kLayerEthernet : 0) |
      (b.has("arp") ? kLayerArp : 0) |
      (b.has("ipv4") ? kLayerIpv4 : 0) |
      (b.has("ipv6") ? kLayerIpv6 : 0) |
      (b.has("tcp") ? kLayerTcp : 0) |
      (b.has("udp") ? kLayerUdp : 0) |
      (b.has("icmp") ? kLayerIcmp : 0) |
      (this.wantIcmpv6 ? kLayerIcmpv6 : 0);
  }

  /** Delivers the events of slot sequences [start, start + count), which the workers have decoded. */
  dispatch(start: number, count: number): void {
    if (this.stopped) return;
    const res = this.ring.results;
    const slots = this.ring.slots;
    const mask = this.ring.slotMask;
    const c = this.cursor;
    const em = this.emitter;
    const st = this.stats;
    const analyzer = this.analyzer;
    const want = this.wantLayers;
    const wantPacket = this.wantPacket;
    const wantMalformed = this.wantMalformed;
    for (let i = 0; i < count; i++) {
      const index = (start + i) & mask;
      const r = index * kResStride;
      const s = index * kSlotStride;
      const flags = res[r + kResFlags];
      if (flags & kFlagFilteredOut) {
        st.filtered++;
        continue;
      }
      st.packets++;
      st.bytes += slots[s + kSlotWireLen] >>> 0;
      c.r = r;
      c.s = s;
      c.frame++;
      if (flags & (kFlagMalformed | kFlagUnsupportedLink)) {
        if (flags & kFlagMalformed) st.malformed++;
        else if (st.unsupported++ === 0) st.unsupportedLinkType = slots[s + kSlotLinkType];
      }
      if (wantPacket) em.emit("packet", this.packetView);
      const layers = res[r + kResLayers] & want;
      if (layers !== 0) {
        if (layers & kLayerEthernet) em.emit("ethernet", this.ethernetView);
        if (layers & kLayerArp) em.emit("arp", this.arpView);
        if (layers & kLayerIpv4) em.emit("ipv4", this.ipv4View);
        if (layers & kLayerIpv6) em.emit("ipv6", this.ipv6View);
        if (layers & kLayerTcp) em.emit("tcp", this.tcpView);
        else if (layers & kLayerUdp) em.emit("udp", this.udpView);
        else if (layers & kLayerIcmp) em.emit("icmp", this.icmpView);
        else if (layers & kLayerIcmpv6) em.emit("icmpv6", this.icmpView);
      }
      if (wantMalformed && flags & kFlagMalformed) em.emit("malformed", this.malformedView);
      if (analyzer !== null) analyzer.packet(c);
      if (this.writer !== null) this.writer.packet(c);
      if (this.limit > 0 && st.packets >= this.limit) {
        this.stopped = true;
        this.onLimit();
        return;
      }
    }
  }
}
