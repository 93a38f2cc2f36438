/**
 * Zeek's summary of a connection, for the `conn` event: `history` (the letters of conn.log's history
 * field), `conn_state` (S0, S1, SF, REJ, RSTO, ...) and the payload bytes each side sent (conn.log's
 * orig_bytes and resp_bytes, by sequence number for TCP). UDP's is simple (ConnRecord.udp); TCP's
 * needs TcpHistoryTable.
 *
 * It is a port of Zeek's endpoint state machine (TCPSessionAdapter::Process and TCP_Endpoint in
 * zeek/src/packet_analysis/protocol/tcp and src/analyzer/protocol/tcp), because conn_state is
 * defined on its states: an analyst reading "RSTOS0" or "SH" expects what Zeek means by them. Side a
 * of the flow plays Zeek's originator. What Zeek does and this does not:
 * - Zeek may swap originator and responder (history then holds "^"). The flow table picks its own
 *   side a (the sender of the first SYN, the receiver of a first SYN+ACK, else the sender of the first
 *   packet) and the letters are that side's, so there is never a "^".
 * - No "C" (bad checksum: checksums are not verified) and no "G" (content gap: Zeek's reassembler
 *   follows every connection, ours only those an analyzer reads).
 * - The relative sequence numbers that decide whether a SYN, FIN or RST is a new one (a letter
 *   again) are 32-bit; Zeek's count the side's wraps too, and keep the count when a SYN restarts
 *   the numbering. They can differ once a side's numbers have wrapped past 2^32: after 4 GiB, or
 *   after a few bytes from an initial number just below 2^32.
 * - The history keeps its first kMaxHistory letters. Zeek's has no bound, and it grows a letter
 *   per RST (or SYN, FIN) at a new sequence number: a stream of them would grow it without end.
 *
 * Every packet of a connection with a slot passes here (the flow table gives one to the TCP flows
 * that begin while a plugin listens to `conn`), so the state of open connections lives in one
 * Int32Array, a slot of 32 words (128 bytes) per connection, 16 per side, reused when a connection
 * ends: no object per connection and none per packet. The table grows with the open connections,
 * which the flow table bounds. A slot's history text is kept beside it; it grows when a letter is
 * first seen, when a SYN, FIN or RST comes at a new relative sequence number, and when a repeat
 * count reaches 1, 10, 100, ...
 */

import type { ConnEvent, FlowRecord } from "../events.ts";

/** Zeek's EndpointState (TCP_Endpoint.h), in its order. */
const kInactive = 0;
const kSynSent = 1;
const kSynAckSent = 2;
const kPartial = 3;
const kEstablished = 4;
const kClosed = 5;
const kReset = 6;

// Words of one side's block. Sequence numbers are stored as int32 (read them with >>> 0).
const kState = 0;
const kPrevState = 1;
const kStartSeq = 2;
/** One past the last sequence number the side sent. */
const kLastSeq = 3;
/** The highest acknowledgement number the peer sent for this side's data. */
const kAckSeq = 4;
const kSeqWraps = 5;
const kAckWraps = 6;
const kFins = 7;
// Relative sequence numbers of the side's last SYN, FIN and RST: a retransmitted one adds no letter.
const kLastSynRel = 8;
const kLastFinRel = 9;
const kLastRstRel = 10;
// Retransmissions and zero windows: a letter at the 1st, 10th, 100th, ... (Zeek's ScaledHistoryEntry).
const kRetransmits = 11;
const kRetransmitMark = 12;
const kZeroWindows = 13;
const kZeroWindowMark = 14;
/** Word 15 of side a's block: the history letters seen (Zeek's hist_seen). */
const kSeen = 15;
const kSideWords = 16;
const kSlotWords = 32;

// Zeek's history masks (TCP_Endpoint.h HIST_*); the responder's are shifted left by 16.
const kHistSyn = 0x1;
const kHistFin = 0x2;
const kHistRst = 0x4;
const kHistFinRst = 0x8;
const kHistData = 0x10;
const kHistAck = 0x20;
const kHistMultiFlag = 0x40;

/**
 * Letters a history keeps. A connection that follows the protocol writes fewer than 30 (each kind
 * once per side, a few repeats); beyond, only a hostile or broken peer adds more.
 */
export const kMaxHistory = 48;

/** A SYN or RST whose sequence number jumps further than this is not trusted (Zeek's TOO_LARGE_SEQ_DELTA). */
const kTooLargeSeqDelta = 1_048_576;
/**
 * Repeat marks stop growing here (an int32 holds no 10^10): past 10^9 repeats a letter comes every
 * 10^9, where Zeek's uint32 threshold wraps to 1,410,065,408. No capture gets there.
 */
const kLastMark = 1_000_000_000;
const kTwo32 = 4_294_967_296;

const kFin = 0x01;
const kSyn = 0x02;
const kRst = 0x04;
const kAck = 0x10;

/** Signed difference of two sequence numbers (Zeek's seq_delta); either may be stored signed. */
function seqDelta(a: number, b: number): number {
  return (a - b) | 0;
}

/** The `conn` event: a flow's Zeek summary, taken when it ended. */
export class ConnRecord implements ConnEvent {
  constructor(
    readonly flow: FlowRecord,
    readonly conn_state: string,
    readonly history: string,
    readonly payload_ab: number,
    readonly payload_ba: number,
  ) {}

  /** A UDP flow's: side a sent the first packet, so Zeek's "SHR" and "OTH" (nothing from the originator) do not occur. */
  static udp(flow: FlowRecord, payloadAb: number, payloadBa: number): ConnRecord {
    const answered = flow.packets_ba > 0;
    return new ConnRecord(flow, answered ? "SF" : "S0", answered ? "Dd" : "D", payloadAb, payloadBa);
  }

  toJSON(): Record<string, unknown> {
    // The flow's own JSON is a fresh object: extending it costs a fraction of spreading it into another.
    const json = this.flow.toJSON();
    json.payload_ab = this.payload_ab;
    json.payload_ba = this.payload_ba;
    json.conn_state = this.conn_state;
    json.history = this.history;
    return json;
  }
}

/** Zeek's TCP endpoint states and history for every open TCP connection, one slot each. */
export class TcpHistoryTable {
  private words = new Int32Array(64 * kSlotWords);
  private texts: string[] = [];
  private readonly free: number[] = [];
  private used = 0;

  /** A slot for a new connection, both sides inactive. */
  open(): number {
    let slot = this.free.pop();
    if (slot === undefined) {
      slot = this.used++;
      if (this.used * kSlotWords > this.words.length) {
        const grown = new Int32Array(this.words.length * 2);
        grown.set(this.words);
        this.words = grown;
      }
    }
    const base = slot * kSlotWords;
    const w = this.words;
    w.fill(0, base, base + kSlotWords);
    w[base + kRetransmitMark] = 1;
    w[base + kZeroWindowMark] = 1;
    w[base + kSideWords + kRetransmitMark] = 1;
    w[base + kSideWords + kZeroWindowMark] = 1;
    this.texts[slot] = "";
    return slot;
  }

  /** The summary of the connection in `slot`, for its `conn` event. */
  record(flow: FlowRecord, slot: number): ConnRecord {
    return new ConnRecord(flow, this.connState(slot), this.texts[slot]!, this.payload(slot, 0), this.payload(slot, 1));
  }

  /** Gives the slot back (the connection ended). */
  close(slot: number): void {
    this.texts[slot] = "";
    this.free.push(slot);
  }

  /** The history letters so far: upper case for side a, lower case for side b. */
  history(slot: number): string {
    return this.texts[slot]!;
  }

  /** Payload bytes side a (`dir` 0) or b sent, by sequence number (Zeek's TCP_Endpoint::Size), SYN and FIN not counted. */
  payload(slot: number, dir: 0 | 1): number {
    const w = this.words;
    const e = slot * kSlotWords + dir * kSideWords;
    const p = slot * kSlotWords + (dir ^ 1) * kSideWords;
    if (w[e + kPrevState] === kSynSent && w[e + kState] === kReset && w[p + kState] === kInactive && !this.noDataAcked(e)) return 0;
    const start = w[e + kStartSeq]! >>> 0;
    const last = w[e + kSeqWraps]! * kTwo32 + (w[e + kLastSeq]! >>> 0);
    const ack = w[e + kAckWraps]! * kTwo32 + (w[e + kAckSeq]! >>> 0);
    let size = (last > ack ? last : ack) - start;
    // Zeek's arithmetic is unsigned: a sequence number behind the start reads as a huge size. It
    // only happens when the side's numbers are garbage; nothing useful is lost by saying 0.
    if (size < 0) return 0;
    if (size !== 0) size--;
    if (w[e + kFins]! > 0 && size !== 0) size--;
    return size;
  }

  /** Zeek's conn_state (base/protocols/conn/main.zeek), side a as the originator. */
  connState(slot: number): string {
    const w = this.words;
    const os = w[slot * kSlotWords + kState];
    const rs = w[slot * kSlotWords + kSideWords + kState];
    const oInactive = os === kInactive || os === kPartial;
    const rInactive = rs === kInactive || rs === kPartial;
    if (rs === kReset) {
      if (os === kSynSent || os === kSynAckSent || (os === kReset && this.payload(slot, 0) === 0 && this.payload(slot, 1) === 0)) return "REJ";
      return oInactive ? "RSTRH" : "RSTR";
    }
    if (os === kReset) {
      if (rInactive) return /^\^?S[^HAFGIQ]*R/.test(this.texts[slot]!) ? "RSTOS0" : "OTH";
      return "RSTO";
    }
    if (rs === kClosed && os === kClosed) return "SF";
    if (os === kClosed) return rInactive ? "SH" : "S2";
    if (rs === kClosed) return oInactive ? "SHR" : "S3";
    if (os === kSynSent && rs === kInactive) return "S0";
    if (os === kEstablished && rs === kEstablished) return "S1";
    return "OTH";
  }

  /**
   * One packet from side a (`dir` 0) or b, as Zeek's TCPSessionAdapter::Process sees it: its flags,
   * payload length as the IP header gives it, window, and its sequence and acknowledgement numbers,
   * `numbers[at]` and `numbers[at + 1]` (int32). They come in an array, and the common case below is
   * written out in this function, because a number past 2^30 is no small integer to V8: handed to a
   * call that is not inlined, it would be boxed in a new heap number, twice per packet.
   */
  packet(slot: number, dir: 0 | 1, flags: number, len: number, window: number, numbers: Int32Array, at: number): void {
    const w = this.words;
    const e = slot * kSlotWords + dir * kSideWords;
    const p = slot * kSlotWords + (dir ^ 1) * kSideWords;
    const seq = numbers[at]!;
    const ack = numbers[at + 1]!;
    const state = w[e + kState];
    if ((flags & (kSyn | kFin | kRst)) === 0 && (state === kEstablished || state === kPartial) && w[p + kState] !== kInactive) {
      // Most packets: data or an ACK on a connection both sides have joined, with no SYN, FIN or
      // RST. The steps below for them, less those that cannot apply (numbering restarts, state
      // changes, flag letters).
      const acks = (flags & kAck) !== 0;
      const bit = len > 0 ? kHistData : acks ? kHistAck : 0;
      if (bit !== 0 && (w[slot * kSlotWords + kSeen]! & (bit << (dir * 16))) === 0) this.check(slot, dir, bit, bit === kHistData ? "D" : "A");
      if (window === 0 && w[p + kState] !== kClosed) this.zeroWindow(slot, dir, e);
      if (acks) {
        // peerAcked, written out.
        const known = w[p + kAckSeq]!;
        const delta = (ack - known) | 0;
        if (delta > 0 && !(ack === 0 && delta > kTooLargeSeqDelta)) {
          const wrapped = ack >>> 0 < known >>> 0;
          if (wrapped || w[p + kAckWraps] !== 0 || ((ack - w[p + kStartSeq]!) | 0) >= 0) {
            if (wrapped) w[p + kAckWraps]++;
            w[p + kAckSeq] = ack;
          }
        }
      }
      const onePast = (seq + len) | 0;
      const last = w[e + kLastSeq]!;
      if (((onePast - last) | 0) > 0) {
        if (onePast >>> 0 < last >>> 0) w[e + kSeqWraps]++;
        w[e + kLastSeq] = onePast;
      } else if (len > 0) {
        this.retransmit(slot, dir, e);
      }
      return;
    }
    const syn = (flags & kSyn) !== 0;
    const fin = (flags & kFin) !== 0;
    const rst = (flags & kRst) !== 0;
    const acks = (flags & kAck) !== 0;
    const segLen = (rst ? 0 : len) + (syn ? 1 : 0) + (fin ? 1 : 0);
    const onePast = (seq + segLen) | 0;

    this.initSide(e, syn, seq, onePast);
    const relSeq = (seq - w[e + kStartSeq]!) | 0;
    this.flagLetters(slot, dir, e, syn, fin, rst, acks, relSeq, len);
    // A zero window is worth a letter unless the connection is going away (Zeek's update_window).
    if (window === 0 && !rst && w[p + kState] !== kClosed && w[e + kState] !== kReset) this.zeroWindow(slot, dir, e);
    if (fin) w[e + kFins]++;
    if (acks) {
      if (w[p + kState] === kInactive) {
        // Number the peer as if its SYN had been seen (Zeek's init_peer).
        const start = (ack - 1) | 0;
        w[p + kStartSeq] = start;
        w[p + kAckSeq] = start;
        w[p + kLastSeq] = start;
      } else if (!rst) {
        // RST packets' acknowledgement numbers are not trusted.
        this.peerAcked(p, ack);
      }
    }
    this.sentUpTo(slot, dir, e, onePast, syn, fin, rst, len);
    this.updateState(dir, e, p, syn, fin, rst, acks, len);
  }

  /** Zeek's init_endpoint: where a side's sequence numbering starts, and when it restarts. */
  private initSide(e: number, syn: boolean, seq: number, onePast: number): void {
    const w = this.words;
    let start: number;
    let last = onePast;
    switch (w[e + kState]) {
      case kInactive:
        if (syn) {
          start = seq;
        } else {
          // Number as though a SYN had come just before this packet.
          start = (seq - 1) | 0;
          last = seq;
        }
        break;
      case kSynSent:
      case kSynAckSent:
        if (!syn || (seq | 0) === w[e + kStartSeq]) return;
        start = seq;
        break;
      case kEstablished:
      case kPartial:
        // A SYN inside a connection: guess that this one is what really sets it up.
        if (!syn) return;
        start = seq;
        break;
      case kReset:
        // A SYN after a RST that came first: the RST may have been spoofed.
        if (!syn || w[e + kPrevState] !== kInactive) return;
        start = seq;
        break;
      default:
        return;
    }
    w[e + kStartSeq] = start;
    w[e + kAckSeq] = start;
    w[e + kLastSeq] = last;
  }

  /** Zeek's update_history for packets with SYN, FIN or RST, and the D and A of the others. */
  private flagLetters(slot: number, dir: 0 | 1, e: number, syn: boolean, fin: boolean, rst: boolean, acks: boolean, relSeq: number, len: number): void {
    const w = this.words;
    const bits = (syn ? 1 : 0) + (fin ? 1 : 0) + (rst ? 1 : 0);
    if (bits > 1) {
      if (fin && rst) this.check(slot, dir, kHistFinRst, "I");
      else this.check(slot, dir, kHistMultiFlag, "Q");
    } else if (bits === 1) {
      if (syn) {
        const code = acks ? "H" : "S";
        // A second SYN at another relative number is a letter again; a retransmitted one is not.
        if (this.check(slot, dir, kHistSyn, code) && relSeq !== w[e + kLastSynRel]) this.add(slot, dir, code);
        w[e + kLastSynRel] = relSeq;
      }
      if (fin) {
        // A FIN's sequence number is that of its end, after any data it carries.
        const end = (relSeq + len) | 0;
        if (this.check(slot, dir, kHistFin, "F") && end !== w[e + kLastFinRel]) this.add(slot, dir, "F");
        w[e + kLastFinRel] = end;
      }
      if (rst) {
        if (this.check(slot, dir, kHistRst, "R") && relSeq !== w[e + kLastRstRel]) this.add(slot, dir, "R");
        w[e + kLastRstRel] = relSeq;
      }
    } else if (len > 0) {
      this.check(slot, dir, kHistData, "D");
    } else if (acks) {
      this.check(slot, dir, kHistAck, "A");
    }
  }

  /**
   * Zeek's update_ack_seq: the peer's data acknowledged up to `ack` (an advance of at most 2^31).
   * Zeek first checks that the number is not before the peer's start (its ack underflow, found by
   * get_relative_seq); that matters only for an advance, when it means: no wrap past the last one
   * and the number behind the start.
   */
  private peerAcked(p: number, ack: number): void {
    const w = this.words;
    const known = w[p + kAckSeq]!;
    const delta = seqDelta(ack, known);
    if (delta <= 0 || (ack === 0 && delta > kTooLargeSeqDelta)) return;
    const wrapped = ack >>> 0 < known >>> 0;
    if (!wrapped && w[p + kAckWraps] === 0 && seqDelta(ack, w[p + kStartSeq]!) < 0) return;
    if (wrapped) w[p + kAckWraps]++;
    w[p + kAckSeq] = ack;
  }

  /** Zeek's update_last_seq: the end of what the side sent, and retransmissions ("T"). */
  private sentUpTo(slot: number, dir: 0 | 1, e: number, onePast: number, syn: boolean, fin: boolean, rst: boolean, len: number): void {
    const w = this.words;
    const delta = seqDelta(onePast, w[e + kLastSeq]!);
    if ((syn || rst) && (delta > kTooLargeSeqDelta || delta < -kTooLargeSeqDelta)) return;
    if (fin && w[e + kLastSeq] === ((w[e + kStartSeq]! + 1) | 0)) {
      // Only the SYN and this FIN seen: take the FIN's number even if it looks behind (> 2 GB sent).
      this.setLastSeq(e, onePast);
    } else if (w[e + kState] === kReset) {
      // Numbers after a RST are not trusted.
    } else if (delta > 0) {
      this.setLastSeq(e, onePast);
    } else if (len > 0) {
      this.retransmit(slot, dir, e);
    }
  }

  private setLastSeq(e: number, seq: number): void {
    const w = this.words;
    if (seq >>> 0 < w[e + kLastSeq]! >>> 0) w[e + kSeqWraps]++;
    w[e + kLastSeq] = seq;
  }

  /** Zeek's UpdateStateMachine and the Update*State functions it calls, without their events. */
  private updateState(dir: 0 | 1, e: number, p: number, syn: boolean, fin: boolean, rst: boolean, acks: boolean, len: number): void {
    const w = this.words;
    switch (w[e + kState]) {
      case kInactive:
        if (syn) {
          if (dir === 0) {
            this.setState(e, acks ? kSynAckSent : kSynSent);
          } else {
            if (w[p + kState] === kSynSent) this.setState(p, kEstablished);
            this.setState(e, kEstablished);
          }
        }
        if (fin) this.setState(e, kClosed);
        if (rst) this.setState(e, kReset);
        if (w[e + kState] === kInactive) {
          if (dir === 1 && len === 0 && w[p + kState] === kSynSent) {
            // Some stacks ACK a SYN before they answer it: not a partial connection yet.
          } else if (acks && w[p + kState] === kEstablished) {
            // A SYN+ACK was seen but not the SYN it answers, and now an ACK: the SYN was missed.
            this.setState(e, kEstablished);
          } else {
            this.setState(e, kPartial);
          }
        }
        break;
      case kSynSent:
      case kSynAckSent:
        if (fin) this.setState(e, kClosed);
        if (rst) this.setState(e, kReset);
        break;
      case kEstablished:
      case kPartial:
        if (syn && w[e + kState] === kPartial && w[p + kState] === kInactive && !acks) this.setState(e, kSynSent);
        if (fin && !rst) {
          this.setState(e, kClosed);
          // The peer's FIN then RST was a normal close after all.
          if (w[p + kState] === kReset && w[p + kPrevState] === kClosed) this.setState(p, kClosed);
        }
        if (rst) this.setState(e, kReset);
        break;
      case kClosed:
        // After a FIN exchange, a RST does not change how the connection ended.
        if (rst && w[p + kState] !== kClosed) this.setState(e, kReset);
        break;
    }
  }

  private setState(e: number, state: number): void {
    const w = this.words;
    if (w[e + kState] === state) return;
    w[e + kPrevState] = w[e + kState]!;
    w[e + kState] = state;
  }

  /** The acknowledgement number says nothing was sent beyond the SYN (Zeek's NoDataAcked). */
  private noDataAcked(e: number): boolean {
    const w = this.words;
    const ack = w[e + kAckWraps]! * kTwo32 + (w[e + kAckSeq]! >>> 0);
    const start = w[e + kStartSeq]! >>> 0;
    return ack === start || ack === start + 1;
  }

  private zeroWindow(slot: number, dir: 0 | 1, e: number): void {
    if (this.repeat(e + kZeroWindows, e + kZeroWindowMark)) this.add(slot, dir, "W");
  }

  private retransmit(slot: number, dir: 0 | 1, e: number): void {
    if (this.repeat(e + kRetransmits, e + kRetransmitMark)) this.add(slot, dir, "T");
  }

  /** Counts one more; true at the 1st, 10th, 100th, ... (Zeek's ScaledHistoryEntry). */
  private repeat(count: number, mark: number): boolean {
    const w = this.words;
    if (++w[count]! !== w[mark]) return false;
    if (w[mark]! < kLastMark) w[mark] *= 10;
    else w[count] = 0;
    return true;
  }

  /** Adds `code` the first time its mask is seen (Zeek's CheckHistory); true when it had been seen. */
  private check(slot: number, dir: 0 | 1, mask: number, code: string): boolean {
    const w = this.words;
    const bit = mask << (dir * 16);
    const seen = slot * kSlotWords + kSeen;
    if ((w[seen]! & bit) !== 0) return true;
    w[seen]! |= bit;
    this.add(slot, dir, code);
    return false;
  }

  private add(slot: number, dir: 0 | 1, code: string): void {
    const text = this.texts[slot]!;
    if (text.length < kMaxHistory) this.texts[slot] = text + (dir === 0 ? code : code.toLowerCase());
  }
}
