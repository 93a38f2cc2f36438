/**
 * IP defragmentation (IPv4 and IPv6) on the main thread, so that a fragmented datagram reaches the
 * flow table and the application parsers whole, as tshark and Zeek see it.
 *
 * Fragments are rare next to whole packets, so this path may allocate (a key string and a copy of
 * each fragment); it is bounded in datagrams, in bytes and in time. Overlapping fragments: the first
 * copy of a byte wins, as in the TCP reassembler.
 */

/** Bounds of the defragmenter. */
export interface DefragLimits {
  /** Datagrams being reassembled at once; the oldest is dropped beyond. */
  maxDatagrams: number;
  /** Bytes held over all datagrams. */
  maxBytes: number;
  /** Capture-time seconds after which an incomplete datagram is dropped (Linux: 30 s). */
  timeoutSec: number;
}

interface Piece {
  offset: number;
  data: Uint8Array;
}

interface Datagram {
  pieces: Piece[];
  /** Length of the whole datagram once the last fragment arrived, else -1. */
  total: number;
  bytes: number;
  first: number;
}

/** What went wrong with a datagram, for `weird` events. */
export type DefragProblem = "fragment_timeout" | "fragment_limit" | "fragment_too_large";

/** Reassembles fragmented datagrams keyed by (family, addresses, protocol, id). */
export class IpDefragmenter {
  private readonly pending = new Map<string, Datagram>();
  private held = 0;
  /** Called when a datagram is given up on. */
  onProblem: (problem: DefragProblem) => void = () => {};

  constructor(private readonly limits: DefragLimits) {}

  /** Datagrams waiting for fragments. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Adds one fragment: `data` is its payload (copied here), at byte `offset` of the datagram,
   * `more` the more-fragments flag. Returns the whole datagram payload when this fragment completes
   * it, otherwise null.
   */
  add(key: string, offset: number, more: boolean, data: Uint8Array, ts: number): Uint8Array | null {
    this.expire(ts);
    if (offset + data.length > 65535 + 8) {
      this.onProblem("fragment_too_large");
      return null;
    }
    let dg = this.pending.get(key);
    if (dg === undefined) {
      if (this.pending.size >= this.limits.maxDatagrams) this.dropOldest("fragment_limit");
      dg = { pieces: [], total: -1, bytes: 0, first: ts };
      this.pending.set(key, dg);
    }
    while (this.held + data.length > this.limits.maxBytes && this.pending.size > 1) this.dropOldest("fragment_limit");
    dg.pieces.push({ offset, data: data.slice() });
    dg.bytes += data.length;
    this.held += data.length;
    if (!more) dg.total = offset + data.length;
    if (dg.total < 0 || !covers(dg.pieces, dg.total)) return null;
    this.pending.delete(key);
    this.held -= dg.bytes;
    const whole = new Uint8Array(dg.total);
    // Written newest first, so that the first copy of an overlapping byte is the one that stays.
    for (let i = dg.pieces.length - 1; i >= 0; i--) {
      const p = dg.pieces[i];
      whole.set(p.data.subarray(0, Math.max(0, Math.min(p.data.length, dg.total - p.offset))), p.offset);
    }
    return whole;
  }

  /** Drops datagrams older than the timeout (capture time `now`). */
  expire(now: number): void {
    for (const [key, dg] of this.pending) {
      if (now - dg.first <= this.limits.timeoutSec) break; // insertion order is age order
      this.pending.delete(key);
      this.held -= dg.bytes;
      this.onProblem("fragment_timeout");
    }
  }

  private dropOldest(problem: DefragProblem): void {
    for (const [key, dg] of this.pending) {
      this.pending.delete(key);
      this.held -= dg.bytes;
      this.onProblem(problem);
      return;
    }
  }
}

/** True when the pieces cover [0, total) without a hole. */
function covers(pieces: Piece[], total: number): boolean {
  const sorted = [...pieces].sort((x, y) => x.offset - y.offset);
  let reach = 0;
  for (const p of sorted) {
    if (p.offset > reach) return false;
    reach = Math.max(reach, p.offset + p.data.length);
    if (reach >= total) return true;
  }
  return reach >= total;
}
