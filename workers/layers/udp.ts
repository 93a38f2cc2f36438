import { kBadLength, kTruncated } from "../decode-result.ts";

/** A UDP header. */
export class UdpLayer {
  srcPort = 0;
  dstPort = 0;
  /** Length field: header and payload. */
  length = 0;
  checksum = 0;
  /** A non-fatal problem (a bad length field): ports are usable, a `malformed` event reports it. */
  soft = 0;
}

/**
 * Decodes a UDP header at `off`; `declared` is the length the IP layer gives its payload.
 * Returns the payload offset or a negative status. A length field below 8 or beyond the IP payload
 * sets `out.soft` (the ports are still right, and tshark still counts the datagram in its
 * conversation); a length of 0 is accepted for jumbograms and TSO, and means "the IP payload".
 */
export function decodeUdp(d: Uint8Array, off: number, end: number, declared: number, out: UdpLayer): number {
  if (end - off < 8) return kTruncated;
  out.srcPort = (d[off] << 8) | d[off + 1];
  out.dstPort = (d[off + 2] << 8) | d[off + 3];
  let len = (d[off + 4] << 8) | d[off + 5];
  out.checksum = (d[off + 6] << 8) | d[off + 7];
  if (len === 0) len = declared;
  out.soft = len < 8 || len > declared ? kBadLength : 0;
  out.length = out.soft === 0 ? len : declared;
  return off + 8;
}
