/**
 * IP defragmentation (IPv4 and IPv6) on the main thread, so that a fragmented datagram reaches the
 * flow table and the application parsers whole, as tshark and Zeek see it.
 *
 * Fragments are rare next to whole packets, so this path may allocate (a key string and a copy of
 * each fragment's new bytes); it is bounded in datagrams, in bytes, in pieces per datagram and in
 * time. Overlapping fragments: the first copy of a byte wins, as in the TCP reassembler. So only the
 * bytes a fragment adds are kept: a datagram's pieces are disjoint and sorted by offset, it holds at
 * most 64 KiB whatever is sent (duplicates and zero-length fragments add nothing and cost no memory),
 * and it is whole when the run of bytes from offset 0 reaches its length, which is tracked as pieces
 * arrive rather than found by sorting them again for every fragment.
 */

/** Bounds of the defragmenter. */
export interface DefragLimits {
  /** Datagrams being reassembled at once; the oldest is dropped beyond. */
  maxDatagrams: number;
  /** Bytes held over all datagrams; the oldest are dropped beyond, and a datagram that alone passes it is given up. */
  maxBytes: number;
  /**
   * Bytes charged per held piece on top of its payload (its record and copy cost memory of their own,
   * about 250 bytes for a one-byte piece): without it, 4096 datagrams of 128 one-byte pieces held
   * 130 MiB under a 16 MiB bound. Default 0.
   */
  pieceOverhead?: number;
  /** Capture-time seconds after which an incomplete datagram is dropped (Linux: 30 s). */
  timeoutSec: number;
}

/**
 * Pieces (disjoint runs of held bytes) one datagram may have. The largest datagram (65535 bytes) cut
 * for the 576-byte datagrams every IPv4 host must accept (RFC 791) takes 119 fragments of 552 bytes,
 * so 128 reassembles any fragmentation a real path produces; Linux's default ipfrag_max_dist of 64
 * would not fit it. Beyond, the datagram is a hostile one: each fragment costs a scan of its pieces.
 */
export const kMaxPieces = 128;

/**
 * Fragments one datagram may receive, counting those that add nothing (duplicates, zero-length). A
 * capture on a mirror port sees each fragment twice; four times the piece cap leaves room for that.
 * Past it the datagram is given up with a problem report, so that a flood of copies of one fragment
 * (which costs no memory here) is still seen, once per this many fragments.
 */
export const kMaxFragments = 4 * kMaxPieces;

interface Piece {
  offset: number;
  /** Bytes at [offset, offset + data.length), held by no other piece of the datagram. */
  data: Uint8Array;
}

interface Datagram {
  /** Disjoint, sorted by offset. */
  pieces: Piece[];
  /** Length of the whole datagram once the last fragment arrived, else -1. */
  total: number;
  /** The length its last fragment's IP header declares for it, which a capture cut short may pass `total`. */
  declaredTotal: number;
  bytes: number;
  first: number;
  /** Fragments received, kept or not (see kMaxFragments). */
  fragments: number;
  /** End of the run of held bytes from offset 0: the datagram is whole when it reaches `total`. */
  reach: number;
  /** Pieces in that run (pieces[0 .. prefix)). */
  prefix: number;
}

/** What went wrong with a datagram, for `weird` events. */
export type DefragProblem =
  /** Its last fragment did not come within the timeout. */
  | "fragment_timeout"
  /** Dropped for room: too many datagrams or bytes held, or it alone passes the byte bound. */
  | "fragment_limit"
  /** A fragment reaches past the largest datagram IP can carry. */
  | "fragment_too_large"
  /** More pieces (kMaxPieces) or fragments (kMaxFragments) than any real datagram has. */
  | "fragment_too_many";

/** Reassembles fragmented datagrams keyed by (family, addresses, protocol, id). */
export class IpDefragmenter {
  private readonly pending = new Map<string, Datagram>();
  private held = 0;
  private pieces = 0;
  /** Called when a datagram is given up on. */
  onProblem: (problem: DefragProblem) => void = () => {};
  /**
   * The length the IP headers declare for the datagram `add` last returned whole: more than its
   * length when the capture cut its last fragment short.
   */
  wholeDeclaredLength = 0;

  constructor(private readonly limits: DefragLimits) {}

  /** Datagrams waiting for fragments. */
  get size(): number {
    return this.pending.size;
  }

  /** Bytes held over all waiting datagrams, and pieceOverhead per piece (at most `maxBytes`). */
  get heldBytes(): number {
    return this.held;
  }

  /** Pieces held over all waiting datagrams (at most kMaxPieces each). */
  get pieceCount(): number {
    return this.pieces;
  }

  /**
   * Adds one fragment: `data` is its payload (its new bytes are copied here), at byte `offset` of the
   * datagram, `more` the more-fragments flag, `declaredLength` the payload length its IP header
   * declares (the capture may hold less). Returns the whole datagram payload when this fragment
   * completes it, otherwise null.
   */
  add(key: string, offset: number, more: boolean, data: Uint8Array, ts: number, declaredLength = data.length): Uint8Array | null {
    this.expire(ts);
    const end = offset + data.length;
    // What the header declares counts too: a capture that cut a fragment short must not make a
    // datagram acceptable that would be too large captured whole.
    if (offset + Math.max(declaredLength, data.length) > 65535 + 8) {
      this.onProblem("fragment_too_large");
      return null;
    }
    let dg = this.pending.get(key);
    if (dg === undefined) {
      // A middle fragment with no bytes says nothing: no datagram is started for it. A last one
      // does, as it gives the datagram's length.
      if (data.length === 0 && more) return null;
      if (this.pending.size >= this.limits.maxDatagrams) this.dropOldest("fragment_limit");
      dg = { pieces: [], total: -1, declaredTotal: -1, bytes: 0, first: ts, fragments: 0, reach: 0, prefix: 0 };
      this.pending.set(key, dg);
    }
    if (++dg.fragments > kMaxFragments) return this.giveUp(key, dg, "fragment_too_many");
    if (data.length > 0 && end > dg.reach) {
      const added = this.newPieces(dg, offset, data);
      if (added.length > 0 && !this.insert(key, dg, added)) return null;
    }
    if (!more) {
      dg.total = end;
      dg.declaredTotal = offset + Math.max(declaredLength, data.length);
    }
    if (dg.total < 0 || dg.reach < dg.total) return null;
    this.forget(key, dg);
    this.wholeDeclaredLength = dg.declaredTotal;
    const whole = new Uint8Array(dg.total);
    for (const p of dg.pieces) {
      if (p.offset >= dg.total) break;
      whole.set(p.data.subarray(0, Math.min(p.data.length, dg.total - p.offset)), p.offset);
    }
    return whole;
  }

  /** Drops datagrams older than the timeout (capture time `now`). */
  expire(now: number): void {
    for (const [key, dg] of this.pending) {
      if (now - dg.first <= this.limits.timeoutSec) break; // insertion order is age order
      this.forget(key, dg);
      this.onProblem("fragment_timeout");
    }
  }

  /**
   * The parts of [offset, offset + data.length) that no piece of `dg` holds yet, as pieces (views
   * into `data`, not yet copied), in offset order. Empty for a fragment whose bytes are all held.
   */
  private newPieces(dg: Datagram, offset: number, data: Uint8Array): Piece[] {
    const pieces = dg.pieces;
    const end = offset + data.length;
    const added: Piece[] = [];
    let at = Math.max(offset, dg.reach);
    for (let i = firstEndingAfter(pieces, at); i < pieces.length && at < end; i++) {
      const p = pieces[i];
      if (p.offset >= end) break;
      if (p.offset > at) added.push({ offset: at, data: data.subarray(at - offset, p.offset - offset) });
      at = Math.max(at, p.offset + p.data.length);
    }
    if (at < end) added.push({ offset: at, data: data.subarray(at - offset) });
    return added;
  }

  /**
   * Copies `added` into `dg` once the bounds allow it; otherwise gives the datagram up and returns
   * false. Older datagrams are dropped to make room for bytes, as before; one that alone passes
   * `maxBytes` (only possible with a small bound: a datagram holds at most 64 KiB) is given up.
   */
  private insert(key: string, dg: Datagram, added: Piece[]): boolean {
    if (dg.pieces.length + added.length > kMaxPieces) {
      this.giveUp(key, dg, "fragment_too_many");
      return false;
    }
    let bytes = added.length * (this.limits.pieceOverhead ?? 0);
    for (const p of added) bytes += p.data.length;
    if (this.held + bytes > this.limits.maxBytes) {
      for (const [k, d] of this.pending) {
        if (this.held + bytes <= this.limits.maxBytes) break;
        if (d === dg) continue;
        this.forget(k, d);
        this.onProblem("fragment_limit");
      }
      if (this.held + bytes > this.limits.maxBytes) {
        this.giveUp(key, dg, "fragment_limit");
        return false;
      }
    }
    // New pieces fill holes between held ones, so they merge into the sorted list in one pass.
    const merged: Piece[] = [];
    let j = 0;
    for (const p of dg.pieces) {
      while (j < added.length && added[j].offset < p.offset) merged.push(copy(added[j++]));
      merged.push(p);
    }
    while (j < added.length) merged.push(copy(added[j++]));
    dg.pieces = merged;
    dg.bytes += bytes;
    this.held += bytes;
    this.pieces += added.length;
    // New pieces all lie at or past `reach` (the run before it is full), so the run only grows.
    while (dg.prefix < merged.length && merged[dg.prefix].offset === dg.reach) {
      dg.reach += merged[dg.prefix].data.length;
      dg.prefix++;
    }
    return true;
  }

  private giveUp(key: string, dg: Datagram, problem: DefragProblem): null {
    this.forget(key, dg);
    this.onProblem(problem);
    return null;
  }

  private forget(key: string, dg: Datagram): void {
    this.pending.delete(key);
    this.held -= dg.bytes;
    this.pieces -= dg.pieces.length;
  }

  private dropOldest(problem: DefragProblem): void {
    for (const [key, dg] of this.pending) {
      this.giveUp(key, dg, problem);
      return;
    }
  }
}

/** Index of the first of the sorted, disjoint `pieces` that ends after `at` (binary search). */
function firstEndingAfter(pieces: Piece[], at: number): number {
  let lo = 0;
  let hi = pieces.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const p = pieces[mid];
    if (p.offset + p.data.length <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A piece whose bytes are its own, not a view into the caller's frame. */
function copy(p: Piece): Piece {
  return { offset: p.offset, data: p.data.slice() };
}
