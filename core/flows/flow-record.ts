import type { FlowProto, FlowRecord } from "../events.ts";
import type { TcpSession } from "./tcp-session.ts";

/**
 * A flow: the record plugins see (FlowRecord) plus the table's bookkeeping, which stays out of its
 * JSON form. Created once per flow; per packet only counters and links change.
 */
export class Flow implements FlowRecord {
  packets_ab = 0;
  bytes_ab = 0;
  packets_ba = 0;
  bytes_ba = 0;
  first = 0;
  last = 0;
  state: string;
  service: string | null = null;
  readonly vlan: number | null;
  readonly inner_vlan: number | null;

  // The key, as numbers, so a packet is matched without building strings: the address words of
  // side a and b (only w0 for IPv4), family, IP protocol, vlanKey.
  aw0 = 0;
  aw1 = 0;
  aw2 = 0;
  aw3 = 0;
  bw0 = 0;
  bw1 = 0;
  bw2 = 0;
  bw3 = 0;
  /** Next flow in the same bucket of the flow table. */
  nextInBucket: Flow | null = null;
  /** Neighbours in the table's activity list (least recently active first). */
  lruPrev: Flow | null = null;
  lruNext: Flow | null = null;
  /** Which activity list holds the flow (kListTcp, kListUdp, kListClosing: FIN both ways or RST, lingering), or kListEnded. */
  list = 0;
  /** Sequence number of side a's SYN, once seen (uint32); -1 otherwise. */
  synSeq = -1;
  /** Sequence number of side b's SYN (a SYN+ACK, normally), once seen (uint32); -1 otherwise. */
  synSeqB = -1;
  /** FIN seen from side a / side b. */
  finA = false;
  finB = false;
  /** The TCP streams and their application parser, when analysis wants them (made at the first payload). */
  session: TcpSession | null = null;
  /** Analysis wanted the streams when the flow began: `session` is made at its first payload byte. */
  sessionDue = false;
  /** TCP: the flow's slot in the Zeek history table while it is open, when `conn` is wanted; -1 otherwise. */
  zeekSlot = -1;
  /** UDP: payload bytes by direction, as the UDP headers give them (for the `conn` event). */
  udpPayloadAb = 0;
  udpPayloadBa = 0;

  constructor(
    readonly id: number,
    readonly proto: FlowProto,
    readonly family: 4 | 6,
    readonly ipProto: number,
    readonly hash: number,
    readonly a: string,
    readonly aport: number,
    readonly b: string,
    readonly bport: number,
    /** The VLAN part of the key (vlanKey in workers/flow-hash.ts): 0 untagged. */
    readonly vlanKey: number,
  ) {
    this.state = proto === "tcp" ? "syn_sent" : "active";
    this.vlan = (vlanKey & 0xfff) || null;
    this.inner_vlan = vlanKey >>> 12 || null;
  }

  /** The public record, for JSON output. */
  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      proto: this.proto,
      a: this.a,
      aport: this.aport,
      b: this.b,
      bport: this.bport,
      vlan: this.vlan,
      inner_vlan: this.inner_vlan,
      packets_ab: this.packets_ab,
      bytes_ab: this.bytes_ab,
      packets_ba: this.packets_ba,
      bytes_ba: this.bytes_ba,
      first: this.first,
      last: this.last,
      state: this.state,
      service: this.service,
    };
  }
}
