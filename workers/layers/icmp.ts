import { kTruncated } from "../decode-result.ts";

/** An ICMPv4 or ICMPv6 header (the two share their first 8 bytes' shape). */
export class IcmpLayer {
  type = 0;
  code = 0;
  checksum = 0;
  /** The second 32-bit word: identifier and sequence for echo, pointer or MTU for errors. */
  rest = 0;
  /** Offset of the quoted packet of an error message, -1 for other messages. */
  quoteOff = -1;
}

/** ICMPv4 types whose body quotes the offending IP header. */
function isIcmpv4Error(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/** Decodes an ICMPv4 header; returns the offset after its 8-byte header or a negative status. */
export function decodeIcmp(d: Uint8Array, off: number, end: number, out: IcmpLayer): number {
  return decodeIcmpHeader(d, off, end, out, isIcmpv4Error);
}

/** Decodes an ICMPv6 header; returns the offset after its 8-byte header or a negative status. */
export function decodeIcmpv6(d: Uint8Array, off: number, end: number, out: IcmpLayer): number {
  // Types below 128 are errors; each quotes as much of the offending packet as fits.
  return decodeIcmpHeader(d, off, end, out, (type) => type < 128);
}

function decodeIcmpHeader(
  d: Uint8Array,
  off: number,
  end: number,
  out: IcmpLayer,
  isError: (type: number) => boolean,
): number {
  if (end - off < 8) {
    // Some messages are shorter than 8 bytes only when damaged; the type and code still help.
    if (end - off >= 2) {
      out.type = d[off];
      out.code = d[off + 1];
    }
    return kTruncated;
  }
  out.type = d[off];
  out.code = d[off + 1];
  out.checksum = (d[off + 2] << 8) | d[off + 3];
  out.rest = ((d[off + 4] << 24) | (d[off + 5] << 16) | (d[off + 6] << 8) | d[off + 7]) >>> 0;
  out.quoteOff = isError(out.type) && end - off > 8 ? off + 8 : -1;
  return off + 8;
}
