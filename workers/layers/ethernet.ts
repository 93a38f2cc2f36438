import { kTruncated } from "../decode-result.ts";

/** EtherType value meaning "an Ethernet frame follows" (transparent bridging), used by tunnels and MPLS. */
export const kEtherTypeEthernet = 0x6558;

/** An Ethernet II (or 802.3 LLC/SNAP) header. Offsets point into the decoded buffer. */
export class EthernetLayer {
  /** Offset of the destination MAC address. */
  dstOff = 0;
  /** Offset of the source MAC address. */
  srcOff = 0;
  /** The EtherType carried, or -1 for an 802.3 frame with a non-SNAP LLC header. */
  etherType = 0;
  /** Where the frame's content ends: an 802.3 frame's length field ends it before any padding. */
  end = 0;
}

/**
 * Decodes an Ethernet header at `off`; returns the offset of its payload or a negative status.
 *
 * A type field of 1500 or less is an 802.3 length: only LLC/SNAP (AA AA 03) says what follows,
 * and then the SNAP EtherType is used, as tcpdump and Wireshark do.
 *
 * @example
 * const eth = new EthernetLayer();
 * decodeEthernet(frame, 0, frame.length, eth) === 14 && eth.etherType === 0x0800;
 */
export function decodeEthernet(d: Uint8Array, off: number, end: number, out: EthernetLayer): number {
  if (end - off < 14) return kTruncated;
  out.dstOff = off;
  out.srcOff = off + 6;
  const type = (d[off + 12] << 8) | d[off + 13];
  if (type > 1500) {
    out.etherType = type;
    out.end = end;
    return off + 14;
  }
  out.end = lengthEnd(off + 14, type, end);
  return decodeLlc(d, off + 14, out.end, out);
}

/**
 * Where an 802.3 frame's content ends: `length` bytes after `off`, where its length field ends (the
 * rest is padding), or at `end` when fewer bytes were captured. tcpdump cuts there too.
 */
export function lengthEnd(off: number, length: number, end: number): number {
  return Math.min(end, off + length);
}

/** Decodes an 802.2 LLC header (with SNAP) at `off` into `out.etherType`; returns the payload offset. */
export function decodeLlc(d: Uint8Array, off: number, end: number, out: { etherType: number }): number {
  if (end - off >= 8 && d[off] === 0xaa && d[off + 1] === 0xaa && d[off + 2] === 0x03) {
    out.etherType = (d[off + 6] << 8) | d[off + 7];
    return off + 8;
  }
  out.etherType = -1;
  return off;
}
