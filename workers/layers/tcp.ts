import {
  kBadHeaderLength,
  kBadOption,
  kTcpOptMss,
  kTcpOptSack,
  kTcpOptSackOk,
  kTcpOptTimestamp,
  kTcpOptWscale,
  kTruncated,
} from "../decode-result.ts";

/** TCP flag bits, as in the header's low 9 bits. */
export const kTcpFin = 0x01;
export const kTcpSyn = 0x02;
export const kTcpRst = 0x04;
export const kTcpPsh = 0x08;
export const kTcpAck = 0x10;
export const kTcpUrg = 0x20;
export const kTcpEce = 0x40;
export const kTcpCwr = 0x80;
export const kTcpNs = 0x100;

/** A TCP header with the options people look at. */
export class TcpLayer {
  srcPort = 0;
  dstPort = 0;
  /** Sequence number, uint32. */
  seq = 0;
  /** Acknowledgement number, uint32. */
  ack = 0;
  headerLength = 0;
  /** Flag bits (kTcp*). */
  flags = 0;
  window = 0;
  checksum = 0;
  urgent = 0;
  /** Bit set of options present (kTcpOpt*). */
  options = 0;
  mss = 0;
  windowScale = 0;
  tsVal = 0;
  tsEcr = 0;
  /** Offset of the first SACK block (8 bytes each: left edge, right edge) and their count. */
  sackOff = 0;
  sackBlocks = 0;
  /** A non-fatal problem (a bad option): the header is usable, a `malformed` event reports it. */
  soft = 0;
}

/**
 * Decodes a TCP header at `off`; returns the payload offset or a negative status.
 * Options are parsed into fields; a malformed option list stops option parsing and sets `out.soft`.
 *
 * @example
 * const tcp = new TcpLayer();
 * decodeTcp(segment, 0, segment.length, tcp) === 20 && (tcp.flags & kTcpSyn) !== 0;
 */
export function decodeTcp(d: Uint8Array, off: number, end: number, out: TcpLayer): number {
  if (end - off < 20) return kTruncated;
  const hl = (d[off + 12] >> 4) * 4;
  if (hl < 20) return kBadHeaderLength;
  out.srcPort = (d[off] << 8) | d[off + 1];
  out.dstPort = (d[off + 2] << 8) | d[off + 3];
  out.seq = ((d[off + 4] << 24) | (d[off + 5] << 16) | (d[off + 6] << 8) | d[off + 7]) >>> 0;
  out.ack = ((d[off + 8] << 24) | (d[off + 9] << 16) | (d[off + 10] << 8) | d[off + 11]) >>> 0;
  out.headerLength = hl;
  out.flags = ((d[off + 12] & 1) << 8) | d[off + 13];
  out.window = (d[off + 14] << 8) | d[off + 15];
  out.checksum = (d[off + 16] << 8) | d[off + 17];
  out.urgent = (d[off + 18] << 8) | d[off + 19];
  // Every option field is reset, not only the bit set: the object is reused for the next segment,
  // and a reader that looks at `mss` without checking `options` must not see another segment's.
  out.options = 0;
  out.mss = 0;
  out.windowScale = 0;
  out.tsVal = 0;
  out.tsEcr = 0;
  out.sackOff = 0;
  out.sackBlocks = 0;
  out.soft = 0;
  if (end - off < hl) return kTruncated;
  if (hl > 20) out.soft = decodeOptions(d, off + 20, off + hl, out);
  return off + hl;
}

function decodeOptions(d: Uint8Array, p: number, end: number, out: TcpLayer): number {
  while (p < end) {
    const kind = d[p];
    if (kind === 0) return 0; // end of option list
    if (kind === 1) {
      p++;
      continue;
    }
    if (end - p < 2) return kBadOption;
    const len = d[p + 1];
    if (len < 2 || end - p < len) return kBadOption;
    switch (kind) {
      case 2:
        if (len !== 4) return kBadOption;
        out.options |= kTcpOptMss;
        out.mss = (d[p + 2] << 8) | d[p + 3];
        break;
      case 3:
        if (len !== 3) return kBadOption;
        out.options |= kTcpOptWscale;
        out.windowScale = d[p + 2];
        break;
      case 4:
        if (len !== 2) return kBadOption;
        out.options |= kTcpOptSackOk;
        break;
      case 5:
        if ((len - 2) % 8 !== 0) return kBadOption;
        out.options |= kTcpOptSack;
        out.sackOff = p + 2;
        out.sackBlocks = (len - 2) / 8;
        break;
      case 8:
        if (len !== 10) return kBadOption;
        out.options |= kTcpOptTimestamp;
        out.tsVal = ((d[p + 2] << 24) | (d[p + 3] << 16) | (d[p + 4] << 8) | d[p + 5]) >>> 0;
        out.tsEcr = ((d[p + 6] << 24) | (d[p + 7] << 16) | (d[p + 8] << 8) | d[p + 9]) >>> 0;
        break;
    }
    p += len;
  }
  return 0;
}
