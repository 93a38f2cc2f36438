/**
 * A small TCP client/server script for tests: a three-way handshake, data with correct seq/ack
 * progression, a FIN/ACK close or a RST, over IPv4 or IPv6, framed in Ethernet (optionally
 * VLAN-tagged) or raw IP. Segments can be cut to given sizes, emitted out of order or duplicated,
 * which is what reassembly tests need.
 *
 *   const c = new TcpConversation({ client: { ip: "192.0.2.10", port: 49152 }, server: { ip: "203.0.113.80", port: 80 } });
 *   c.handshake().send("client", "GET / HTTP/1.1\r\n\r\n").send("server", response).close("client");
 *   encodePcap(c.packets);   // each packet carries its timestamp
 */
import { parseIp } from "./address-text.ts";
import { ethernet, formatTcpFlags, ipv4, ipv6, tcp, tcpFlagBits } from "./packet-builders.ts";
import type { Payload, TcpFlags, TcpOption, VlanTag } from "./packet-builders.ts";

/** Which end of the conversation sends a packet. */
export type TcpSide = "client" | "server";

/** One end of a conversation. */
export interface TcpEndpoint {
  /** IPv4 or IPv6 address; both ends must use the same family. */
  readonly ip: string;
  readonly port: number;
  /** MAC address for Ethernet framing (defaults: 02:00:00:00:00:01 client, 02:00:00:00:00:02 server). */
  readonly mac?: string;
  /** Initial sequence number (defaults: 1000 client, 5000 server, so traces are easy to read). */
  readonly isn?: number;
  /**
   * Advertised receive window field. Default 64240 in a SYN and 502 afterwards, as Linux sends them:
   * with the default window scale of 7 that is about 64 KiB either way.
   */
  readonly window?: number;
}

/** Settings of a conversation. */
export interface TcpConversationOptions {
  readonly client: TcpEndpoint;
  readonly server: TcpEndpoint;
  /** "ethernet" (default) or "raw" (bare IP packets, for LINKTYPE_RAW). */
  readonly link?: "ethernet" | "raw";
  /** VLAN tags for Ethernet framing, outermost first. */
  readonly vlans?: readonly VlanTag[];
  /** Timestamp of the first packet, in nanoseconds since the epoch (default 2024-01-01T00:00:00Z). */
  readonly startNs?: bigint;
  /** Time between consecutive packets in nanoseconds (default 1 ms). */
  readonly stepNs?: bigint;
  /** Largest segment payload when `send()` is not told how to cut (default 1460). */
  readonly mss?: number;
  /** Options of the SYN and SYN/ACK (default MSS, SACK-permitted, window scale 7). */
  readonly synOptions?: readonly TcpOption[];
}

/** A packet of the conversation, ready for encodePcap() (it has `data` and `timestamp`). */
export interface TcpConversationPacket {
  /** The whole frame. */
  readonly data: Uint8Array;
  /** Capture time in nanoseconds since the epoch. */
  readonly timestamp: bigint;
  readonly from: TcpSide;
  /** Sequence number as sent (uint32). */
  readonly seq: number;
  /** Acknowledgement number as sent (uint32). */
  readonly ack: number;
  /** Flags as letters in tcpFlagBits() order ("S", "SA", "PA", "FA", "R"). */
  readonly flags: string;
  /** The TCP payload. */
  readonly payload: Uint8Array;
}

/** How `send()` cuts and emits a payload. */
export interface SendOptions {
  /** Segment payload sizes; they must add up to the payload length. Default: cut at `mss`. */
  readonly segments?: readonly number[];
  /** Emission order as a permutation of segment indices (e.g. [1, 0] swaps two segments). */
  readonly order?: readonly number[];
  /** Indices of segments that are sent a second time right after their first copy (a retransmission). */
  readonly duplicate?: readonly number[];
  /** Whether the peer acknowledges everything after the last segment (default true). */
  readonly ack?: boolean;
}

const defaultSynOptions: readonly TcpOption[] = [
  { kind: "mss", value: 1460 },
  { kind: "sack-permitted" },
  { kind: "nop" },
  { kind: "wscale", shift: 7 },
];

/** Builds the packets of one TCP connection step by step; see the module comment. */
export class TcpConversation {
  /** Every packet built so far, in emission order. */
  readonly packets: TcpConversationPacket[] = [];
  readonly #options: TcpConversationOptions;
  readonly #ipVersion: 4 | 6;
  /** Next sequence number each side will send. */
  readonly #nextSeq: Record<TcpSide, number>;
  #clock: bigint;

  /** Creates a conversation; nothing is built until a method is called. */
  constructor(options: TcpConversationOptions) {
    this.#options = options;
    const clientFamily = parseIp(options.client.ip).version;
    if (clientFamily !== parseIp(options.server.ip).version) {
      throw new Error(`Cannot create TCP conversation: client and server must be the same IP version: current values are "${options.client.ip}" and "${options.server.ip}"`);
    }
    this.#ipVersion = clientFamily;
    this.#nextSeq = { client: options.client.isn ?? 1000, server: options.server.isn ?? 5000 };
    this.#clock = options.startNs ?? 1_704_067_200_000_000_000n;
  }

  /** Next sequence number `side` will send (uint32). */
  nextSeq(side: TcpSide): number {
    return this.#nextSeq[side];
  }

  /** Builds one segment from `from` with the given flags and payload, acknowledging everything the peer sent. */
  segment(from: TcpSide, flags: TcpFlags, payload?: Payload, seq?: number): TcpConversationPacket {
    const bits = tcpFlagBits(flags);
    const data = typeof payload === "string" ? new TextEncoder().encode(payload) : (payload ?? new Uint8Array(0));
    const to: TcpSide = from === "client" ? "server" : "client";
    const src = this.#options[from];
    const dst = this.#options[to];
    const s = seq ?? this.#nextSeq[from];
    const ack = bits & 0x10 ? this.#nextSeq[to] : 0;
    const segment = tcp(
      {
        sport: src.port,
        dport: dst.port,
        seq: s,
        ack,
        flags: bits,
        window: src.window ?? (bits & 0x02 ? 64240 : 502),
        options: bits & 0x02 ? (this.#options.synOptions ?? defaultSynOptions) : [],
      },
      data,
    );
    const ip = this.#ipVersion === 4 ? ipv4({ src: src.ip, dst: dst.ip, dontFragment: true }, segment) : ipv6({ src: src.ip, dst: dst.ip }, segment);
    const frame =
      (this.#options.link ?? "ethernet") === "raw"
        ? ip
        : ethernet(
            {
              src: src.mac ?? (from === "client" ? "02:00:00:00:00:01" : "02:00:00:00:00:02"),
              dst: dst.mac ?? (to === "client" ? "02:00:00:00:00:01" : "02:00:00:00:00:02"),
              vlans: this.#options.vlans,
            },
            ip,
          );
    const packet: TcpConversationPacket = { data: frame, timestamp: this.#tick(), from, seq: s, ack, flags: formatTcpFlags(bits), payload: data };
    this.packets.push(packet);
    // SYN and FIN each take one sequence number (RFC 9293 3.4).
    const advance = data.length + (bits & 0x02 ? 1 : 0) + (bits & 0x01 ? 1 : 0);
    // An explicit seq is a retransmission or reordering that the caller accounts for itself.
    if (seq === undefined) this.#nextSeq[from] = (s + advance) >>> 0;
    return packet;
  }

  /** Client SYN, server SYN/ACK, client ACK. */
  handshake(): this {
    this.segment("client", "S");
    this.segment("server", "SA");
    this.segment("client", "A");
    return this;
  }

  /** Sends `payload` from `from` as ACK segments, PSH on the last (see SendOptions), then a peer ACK unless told not to. */
  send(from: TcpSide, payload: Payload, options: SendOptions = {}): this {
    const data = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    const sizes = options.segments ?? cutSizes(data.length, this.#options.mss ?? 1460);
    const total = sizes.reduce((n, s) => n + s, 0);
    if (total !== data.length) {
      throw new Error(`Cannot send TCP data: segment sizes must add up to the payload length ${data.length}: current sum is ${total}`);
    }
    const order = options.order ?? sizes.map((_, i) => i);
    if ([...order].sort((a, b) => a - b).some((v, i) => v !== i) || order.length !== sizes.length) {
      throw new Error(`Cannot send TCP data: order must be a permutation of 0..${sizes.length - 1}: current value is [${order.join(", ")}]`);
    }
    const base = this.#nextSeq[from];
    const starts: number[] = [];
    sizes.reduce((at, size) => (starts.push(at), at + size), 0);
    for (const index of order) {
      const piece = data.subarray(starts[index]!, starts[index]! + sizes[index]!);
      const copies = options.duplicate?.includes(index) ? 2 : 1;
      // Senders set PSH on the segment that empties their buffer, i.e. the last one of the write.
      const flags = index === sizes.length - 1 ? "PA" : "A";
      for (let c = 0; c < copies; c++) this.segment(from, flags, piece, (base + starts[index]!) >>> 0);
    }
    this.#nextSeq[from] = (base + data.length) >>> 0;
    if (options.ack ?? true) this.segment(from === "client" ? "server" : "client", "A");
    return this;
  }

  /** Sends a bare ACK from `from`. */
  ack(from: TcpSide): this {
    this.segment(from, "A");
    return this;
  }

  /** Closes the connection: FIN/ACK from `initiator`, FIN/ACK from the peer, final ACK. */
  close(initiator: TcpSide = "client"): this {
    const peer: TcpSide = initiator === "client" ? "server" : "client";
    this.segment(initiator, "FA");
    this.segment(peer, "FA");
    this.segment(initiator, "A");
    return this;
  }

  /** Aborts the connection with a RST/ACK from `from`. */
  reset(from: TcpSide): this {
    this.segment(from, "RA");
    return this;
  }

  /** Lets `ns` nanoseconds pass before the next packet (on top of the usual step). */
  idle(ns: bigint): this {
    this.#clock += ns;
    return this;
  }

  /** Frames only, in emission order. */
  frames(): Uint8Array[] {
    return this.packets.map((p) => p.data);
  }

  #tick(): bigint {
    const now = this.#clock;
    this.#clock += this.#options.stepNs ?? 1_000_000n;
    return now;
  }
}

/** Cuts `length` into sizes of at most `mss` (one empty list for an empty payload). */
function cutSizes(length: number, mss: number): number[] {
  const sizes: number[] = [];
  for (let left = length; left > 0; left -= mss) sizes.push(Math.min(mss, left));
  return sizes;
}
