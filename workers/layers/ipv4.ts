import { kBadHeaderLength, kBadOption, kBadTotalLength, kBadVersion, kTruncated } from "../decode-result.ts";

/** An IPv4 header. */
export class Ipv4Layer {
  headerLength = 0;
  tos = 0;
  /** Total length from the header (the captured length when the header says 0, as with TSO). */
  totalLength = 0;
  id = 0;
  dontFragment = false;
  moreFragments = false;
  /** Fragment offset in bytes. */
  fragmentOffset = 0;
  ttl = 0;
  protocol = 0;
  checksum = 0;
  srcOff = 0;
  dstOff = 0;
  /** Where the payload ends: the declared end, clipped to the captured bytes. */
  payloadEnd = 0;
  /** Payload length the header declares (may exceed what was captured). */
  payloadLength = 0;
  /** A non-fatal problem (a bad option): the header is usable, a `malformed` event reports it. */
  soft = 0;
}

/**
 * Decodes an IPv4 header at `off` (captured bytes end at `end`); returns the payload offset or a
 * negative status. Options are walked to check their lengths; a bad option is reported in
 * `out.soft` and does not stop decoding, since addresses and protocol are still right.
 */
export function decodeIpv4(d: Uint8Array, off: number, end: number, out: Ipv4Layer): number {
  if (end - off < 20) return kTruncated;
  const b0 = d[off];
  if (b0 >> 4 !== 4) return kBadVersion;
  const hl = (b0 & 0x0f) * 4;
  if (hl < 20) return kBadHeaderLength;
  if (end - off < hl) return kTruncated;
  let total = (d[off + 2] << 8) | d[off + 3];
  // A zero total length is what Linux shows for TCP segmentation offload; use what was captured.
  if (total === 0) total = end - off;
  else if (total < hl) return kBadTotalLength;
  const frag = (d[off + 6] << 8) | d[off + 7];
  out.headerLength = hl;
  out.tos = d[off + 1];
  out.totalLength = total;
  out.id = (d[off + 4] << 8) | d[off + 5];
  out.dontFragment = (frag & 0x4000) !== 0;
  out.moreFragments = (frag & 0x2000) !== 0;
  out.fragmentOffset = (frag & 0x1fff) * 8;
  out.ttl = d[off + 8];
  out.protocol = d[off + 9];
  out.checksum = (d[off + 10] << 8) | d[off + 11];
  out.srcOff = off + 12;
  out.dstOff = off + 16;
  out.payloadLength = total - hl;
  out.payloadEnd = Math.min(off + total, end);
  out.soft = hl > 20 ? checkOptions(d, off + 20, off + hl) : 0;
  return off + hl;
}

function checkOptions(d: Uint8Array, p: number, end: number): number {
  while (p < end) {
    const type = d[p];
    if (type === 0) return 0; // end of option list
    if (type === 1) {
      p++;
      continue;
    }
    if (end - p < 2) return kBadOption;
    const len = d[p + 1];
    if (len < 2 || end - p < len) return kBadOption;
    p += len;
  }
  return 0;
}
