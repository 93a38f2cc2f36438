/**
 * One direction of a TCP connection put back into sequence order, for the application parsers.
 *
 * Runs on the main thread, packet by packet in capture order. Payloads arrive as views into the shared
 * ring, which is reused as soon as `segment()` returns, so the rules are:
 *
 *   - a segment that continues the stream exactly (the common case) is handed to the sink as the very
 *     bytes the caller passed in, as a range of them: no copy, no allocation (not even a view), no
 *     bookkeeping beyond one integer;
 *   - a segment that arrives ahead of a hole is copied (only the bytes nobody holds yet) and kept until the
 *     hole fills; this is the only place that allocates, and it is bounded per direction
 *     (`ReassemblyLimits`) and across all streams (`ByteBudget`);
 *   - when a bound would be passed, the hole is given up on: the sink hears `gap(bytes)` and delivery goes
 *     on from the earliest byte still held, so memory never grows and the parsers can resynchronise.
 *
 * Overlap policy: the first copy of a byte that is seen wins (delivered bytes can never change, and held
 * bytes are not replaced by a later, different retransmission). This is the default of most IDS
 * (Snort's stream5 "first" policy, Suricata's default); a target-based policy would need the OS of each
 * host, which a passive host cannot know.
 *
 * Sequence numbers are uint32 and wrap: every comparison goes through `seqDiff`, the signed 32-bit
 * distance, which is right as long as the two numbers are less than 2^31 apart (TCP windows are at most
 * 2^30).
 */

import type { ByteBudget } from "./byte-budget.ts";

/** Receives the bytes of one stream direction in order. `bytes` is valid only during the call. */
export interface StreamSink {
  /** The next bytes of the stream, bytes[start, end), in sequence order, each delivered exactly once. */
  data(bytes: Uint8Array, start: number, end: number, ts: number): void;
  /** `bytes` bytes of the stream will never be delivered (not captured, or given up on to bound memory). */
  gap(bytes: number, ts: number): void;
}

/** Per-direction bounds on what is held while waiting for a hole to fill. */
export interface ReassemblyLimits {
  /** Bytes held out of order in this direction. */
  maxOutOfOrderBytes: number;
  /** Separate held pieces in this direction (bounds the bookkeeping, whatever their size). */
  maxOutOfOrderSegments: number;
  /**
   * Bytes charged per held piece on top of its payload, against maxOutOfOrderBytes and the budget: a
   * piece's copy costs memory of its own (about 400 bytes in V8 for a one-byte piece), so a flood of
   * tiny segments ahead of holes must not hold a hundred times what the bounds say. Default 0.
   */
  pieceOverhead?: number;
}

/** Counters of one stream direction; read them at any time. */
export interface ReassemblyStats {
  /** Bytes received again (retransmissions and overlaps), dropped because a first copy already existed. */
  retransmittedBytes: number;
  /** Segments that arrived ahead of a hole. */
  outOfOrderSegments: number;
  /** `gap()` calls made to the sink. */
  gaps: number;
  /** Bytes reported missing through `gap()`. */
  gapBytes: number;
  /** Bytes dropped as outside the stream: held ones at or after its FIN, and segments further ahead than a TCP window reaches. */
  outOfWindowBytes: number;
}

/** The largest TCP receive window (RFC 7323 2.3: 65535 << 14, rounded up). */
const kMaxWindow = 2 ** 30;

/** Signed distance from b to a in sequence space (positive when a is after b). */
function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/**
 * Reassembles one direction of a TCP stream and feeds it, in order, to a `StreamSink`.
 *
 * @example
 * const got: string[] = [];
 * const r = new TcpReassembler(
 *   { data: (b, start, end) => got.push(new TextDecoder().decode(b.subarray(start, end))), gap: () => {} },
 *   { maxOutOfOrderBytes: 65536, maxOutOfOrderSegments: 64 },
 *   new ByteBudget(1 << 20),
 * );
 * r.segment(100, true, false, new Uint8Array(0), 0);       // SYN: ISN 100, data starts at 101
 * r.segment(104, false, false, new TextEncoder().encode("lo"), 1); // ahead of a hole: held
 * r.segment(101, false, false, new TextEncoder().encode("hel"), 2);
 * // got is ["hel", "lo"]
 */
export class TcpReassembler {
  /** Counters for this direction. */
  readonly stats: ReassemblyStats = { retransmittedBytes: 0, outOfOrderSegments: 0, gaps: 0, gapBytes: 0, outOfWindowBytes: 0 };

  readonly #sink: StreamSink;
  readonly #maxHeldBytes: number;
  readonly #maxHeldPieces: number;
  readonly #budget: ByteBudget;

  #started = false;
  /** Sequence number of the next byte the sink expects. */
  #nextSeq = 0;
  /** Sequence number the FIN occupies, once a FIN was seen; data at or after it is ignored. */
  #finSeq = 0;
  #finSeen = false;
  #detached = false;
  /** Set when a segment was dropped as beyond any window: ACKs are then watched for a resync. */
  #outOfWindow = false;

  // Pieces held ahead of a hole: sorted by sequence number, disjoint, all after #nextSeq. Parallel arrays
  // rather than objects so the common case (nothing held) touches nothing.
  readonly #heldSeq: number[] = [];
  readonly #heldData: Uint8Array[] = [];
  #heldBytes = 0;
  readonly #pieceOverhead: number;

  constructor(sink: StreamSink, limits: ReassemblyLimits, budget: ByteBudget) {
    this.#sink = sink;
    this.#maxHeldBytes = Math.max(0, limits.maxOutOfOrderBytes);
    this.#maxHeldPieces = Math.max(0, limits.maxOutOfOrderSegments);
    this.#budget = budget;
    this.#pieceOverhead = Math.max(0, limits.pieceOverhead ?? 0);
  }

  /** Bytes this direction holds out of order right now. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** True when the other side's ACKs matter to this direction (see acked): one check per ACK. */
  get wantsAcks(): boolean {
    return this.#heldBytes !== 0 || this.#outOfWindow;
  }

  /**
   * Takes one segment of this direction. `seq` is the segment's sequence number (uint32, may wrap); the SYN
   * and the FIN each occupy one sequence number. If the first segment seen has no SYN, the stream starts
   * at its first byte (mid-stream pickup). The payload is bytes[start, end) (by default all of `bytes`:
   * a range spares the caller a view per segment); it is only read during the call.
   */
  segment(seq: number, syn: boolean, fin: boolean, bytes: Uint8Array, ts: number, start = 0, end = bytes.length): void {
    if (this.#detached) return;
    const dataSeq = syn ? (seq + 1) >>> 0 : seq >>> 0;
    if (!this.#started) {
      this.#started = true;
      this.#nextSeq = dataSeq;
    }
    const len = end - start;
    if (fin && !this.#finSeen) {
      this.#finSeen = true;
      this.#finSeq = (dataSeq + len) >>> 0;
      // Held bytes at or after the FIN are not this stream's (a spoofed or corrupt segment): drop them.
      if (this.#heldSeq.length !== 0) this.#dropHeldFrom(this.#finSeq);
    }
    if (len > 0) this.#accept(dataSeq, bytes, start, len, ts);
  }

  /**
   * The other side acknowledged every byte of this direction before `ack`. A hole below held data that
   * the receiver acknowledged was lost by the capture, not by the network (the receiver has those bytes),
   * so no retransmission will fill it: it becomes a gap now, and what is held behind it is delivered,
   * rather than everything after the hole being copied and held until the limits give up on it (Zeek
   * reports such content gaps on the ACK the same way). Holes the receiver has not acknowledged may still
   * be retransmitted and are waited for.
   */
  acked(ack: number, ts: number): void {
    if (this.#detached) return;
    if (this.#outOfWindow && seqDiff(ack, this.#nextSeq) >= kMaxWindow) {
      // Segments beyond any window were dropped, and the receiver has bytes just as far on: the capture
      // lost more than a window of this stream (or its first segment was stray). What is held before
      // the ACK goes out, and the stream goes on from the ACK.
      this.#outOfWindow = false;
      this.#deliverHeld(ts, ack);
      this.#skipTo(ack >>> 0, ts);
      this.#drain(ts);
      return;
    }
    if (this.#heldSeq.length === 0) return;
    const first = this.#heldSeq[0]!;
    const lostTo = seqDiff(ack, first) >= 0 ? first : ack >>> 0;
    if (seqDiff(lostTo, this.#nextSeq) <= 0) return;
    this.#skipTo(lostTo, ts);
    this.#drain(ts);
  }

  /** Delivers everything still held, in order, reporting the holes between as gaps; for the end of the flow. */
  flush(ts: number): void {
    if (this.#detached) return;
    this.#deliverHeld(ts);
    // Bytes before a FIN that never arrived are known to be missing: say so.
    if (this.#finSeen && !this.#detached && seqDiff(this.#finSeq, this.#nextSeq) > 0) {
      this.#skipTo(this.#finSeq, ts);
    }
  }

  /** Stops buffering and delivering for good and frees what is held; later segments cost one check. */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    this.#budget.release(this.#heldCost());
    this.#heldBytes = 0;
    this.#heldSeq.length = 0;
    this.#heldData.length = 0;
  }

  /** What the held pieces are charged: their bytes and #pieceOverhead each. */
  #heldCost(): number {
    return this.#heldBytes + this.#heldSeq.length * this.#pieceOverhead;
  }

  /** Sorts the sequence range [s, s + length), bytes[base, base + length), into delivered, delivered now, held, or dropped. */
  #accept(s: number, bytes: Uint8Array, base: number, length: number, ts: number): void {
    let segLen = length;
    if (this.#finSeen) {
      // Nothing after the FIN belongs to this stream.
      const beforeFin = seqDiff(this.#finSeq, s);
      if (beforeFin < segLen) segLen = beforeFin > 0 ? beforeFin : 0;
    }
    // pos: offset in the payload (from `base`) of the first byte not yet sorted.
    let pos = 0;
    let countedOutOfOrder = false;
    while (pos < segLen && !this.#detached) {
      const posSeq = (s + pos) >>> 0;
      const ahead = seqDiff(posSeq, this.#nextSeq);
      if (ahead < 0) {
        // Already delivered: the first copy won.
        const dup = Math.min(-ahead, segLen - pos);
        this.stats.retransmittedBytes += dup;
        pos += dup;
        continue;
      }
      const held = this.#heldSeq.length;
      if (ahead === 0) {
        let upTo = segLen;
        if (held !== 0) {
          const toHeld = seqDiff(this.#heldSeq[0]!, posSeq);
          if (toHeld === 0) {
            // A held piece starts right here: it was seen first, so it is delivered and our copy dropped.
            this.#drain(ts);
            continue;
          }
          if (toHeld < upTo - pos) upTo = pos + toHeld;
        }
        // The hot path: in-order data goes out as a range of the caller's own bytes.
        this.#nextSeq = (s + upTo) >>> 0;
        this.#sink.data(bytes, base + pos, base + upTo, ts);
        pos = upTo;
        if (this.#heldSeq.length !== 0) this.#drain(ts);
        continue;
      }
      // Ahead of a hole.
      if (ahead >= kMaxWindow) {
        // Further ahead than any TCP window reaches (RFC 7323: at most 2^30 bytes): no receiver accepts
        // it, so it is not part of the stream as the receiver sees it (a spoofed or corrupt segment),
        // unless the capture lost more than a window: an ACK as far on then says so (see acked).
        this.stats.outOfWindowBytes += segLen - pos;
        this.#outOfWindow = true;
        return;
      }
      if (!countedOutOfOrder) {
        countedOutOfOrder = true;
        this.stats.outOfOrderSegments++;
      }
      // Find the first held piece that ends after posSeq.
      let i = 0;
      while (i < held && seqDiff((this.#heldSeq[i]! + this.#heldData[i]!.length) >>> 0, posSeq) <= 0) i++;
      if (i < held && seqDiff(this.#heldSeq[i]!, posSeq) <= 0) {
        // Inside a held piece: that copy was first.
        const end = (this.#heldSeq[i]! + this.#heldData[i]!.length) >>> 0;
        const dup = Math.min(seqDiff(end, posSeq), segLen - pos);
        this.stats.retransmittedBytes += dup;
        pos += dup;
        continue;
      }
      let pieceEnd = segLen;
      if (i < held) {
        const toNext = seqDiff(this.#heldSeq[i]!, posSeq);
        if (toNext < pieceEnd - pos) pieceEnd = pos + toNext;
      }
      const pieceLen = pieceEnd - pos;
      const cost = pieceLen + this.#pieceOverhead;
      if (
        this.#heldCost() + cost <= this.#maxHeldBytes &&
        held < this.#maxHeldPieces &&
        this.#budget.tryReserve(cost)
      ) {
        // Copy: the caller's buffer is reused as soon as we return.
        this.#heldSeq.splice(i, 0, posSeq);
        this.#heldData.splice(i, 0, bytes.slice(base + pos, base + pieceEnd));
        this.#heldBytes += pieceLen;
        pos = pieceEnd;
        continue;
      }
      // No room: give up on the hole in front and go on from the earliest byte we have, which is either the
      // first held piece or, when nothing earlier is held, this very piece (then delivered without a copy).
      if (held !== 0 && seqDiff(this.#heldSeq[0]!, posSeq) < 0) {
        this.#skipTo(this.#heldSeq[0]!, ts);
        this.#drain(ts);
      } else {
        this.#skipTo(posSeq, ts);
      }
    }
  }

  /** Delivers the held pieces in order, the holes before them as gaps: all, or those that start before `seq`. */
  #deliverHeld(ts: number, seq: number | null = null): void {
    while (this.#heldSeq.length !== 0 && !this.#detached && (seq === null || seqDiff(seq, this.#heldSeq[0]!) > 0)) {
      this.#skipTo(this.#heldSeq[0]!, ts);
      this.#drain(ts);
    }
  }

  /** Frees the held bytes at or after sequence number `seq`. */
  #dropHeldFrom(seq: number): void {
    let i = this.#heldSeq.length;
    while (i > 0 && seqDiff((this.#heldSeq[i - 1]! + this.#heldData[i - 1]!.length) >>> 0, seq) > 0) {
      i--;
      const start = this.#heldSeq[i]!;
      const piece = this.#heldData[i]!;
      const keep = Math.max(0, seqDiff(seq, start));
      const freed = piece.length - keep + (keep > 0 ? 0 : this.#pieceOverhead);
      this.#heldBytes -= piece.length - keep;
      this.#budget.release(freed);
      this.stats.outOfWindowBytes += piece.length - keep;
      if (keep > 0) {
        this.#heldData[i] = piece.slice(0, keep);
        return;
      }
      this.#heldSeq.splice(i, 1);
      this.#heldData.splice(i, 1);
    }
  }

  /** Reports the bytes between #nextSeq and `seq` as a gap and moves past them. */
  #skipTo(seq: number, ts: number): void {
    const missing = seqDiff(seq, this.#nextSeq);
    if (missing <= 0) return;
    this.#nextSeq = seq >>> 0;
    this.stats.gaps++;
    this.stats.gapBytes += missing;
    this.#sink.gap(missing, ts);
  }

  /** Delivers the held pieces that now continue the stream. */
  #drain(ts: number): void {
    while (this.#heldSeq.length !== 0 && !this.#detached && this.#heldSeq[0] === this.#nextSeq) {
      this.#heldSeq.shift();
      const piece = this.#heldData.shift()!;
      this.#heldBytes -= piece.length;
      this.#budget.release(piece.length + this.#pieceOverhead);
      this.#nextSeq = (this.#nextSeq + piece.length) >>> 0;
      this.#sink.data(piece, 0, piece.length, ts);
    }
  }
}
