import { kBadLength, kTruncated } from "../decode-result.ts";
import type { LinkLayer } from "./link-layer.ts";

const kNfulaPayload = 9;

/**
 * Decodes a LINKTYPE_NFLOG header: 4 bytes (address family, version, resource id), then TLVs whose
 * length and type are in the capturing host's byte order (little-endian on every machine that
 * matters; a length that only fits byte-swapped is read big-endian). The packet is the value of the
 * NFULA_PAYLOAD TLV; `out.payloadEnd` is set to that value's end.
 */
export function decodeNflog(d: Uint8Array, off: number, end: number, out: LinkLayer): number {
  if (end - off < 4) return kTruncated;
  const family = d[off];
  out.etherType = family === 2 ? 0x0800 : family === 10 ? 0x86dd : -1;
  let p = off + 4;
  while (end - p >= 4) {
    let len = d[p] | (d[p + 1] << 8);
    let type = d[p + 2] | (d[p + 3] << 8);
    if (len < 4 || p + len > end) {
      const be = (d[p] << 8) | d[p + 1];
      if (be >= 4 && p + be <= end) {
        len = be;
        type = (d[p + 2] << 8) | d[p + 3];
      } else {
        return len < 4 ? kBadLength : kTruncated;
      }
    }
    if ((type & 0x7fff) === kNfulaPayload) {
      out.payloadEnd = p + len;
      return p + 4;
    }
    p += (len + 3) & ~3;
  }
  return kTruncated;
}
