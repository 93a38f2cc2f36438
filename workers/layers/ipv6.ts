import {
  kBadExtensionHeader,
  kBadVersion,
  kIp6ExtAuth,
  kIp6ExtDestination,
  kIp6ExtEsp,
  kIp6ExtFragment,
  kIp6ExtHopByHop,
  kIp6ExtMobility,
  kIp6ExtRouting,
  kTooManyHeaders,
  kTruncated,
} from "../decode-result.ts";

/** An IPv6 header and its extension-header chain. */
export class Ipv6Layer {
  trafficClass = 0;
  flowLabel = 0;
  /** Payload length from the header (the captured length when it is 0, a jumbogram or TSO). */
  payloadLength = 0;
  /** Next-header value of the fixed header. */
  nextHeader = 0;
  hopLimit = 0;
  srcOff = 0;
  dstOff = 0;
  /** Upper-layer protocol after the extension headers (59 "no next header", 50 ESP). */
  protocol = 0;
  /** Bit set of extension headers seen (kIp6Ext*). */
  extensions = 0;
  isFragment = false;
  fragmentOffset = 0;
  moreFragments = false;
  fragmentId = 0;
  /** Offset of the fragmentable part (just after the fragment header), for reassembly. */
  fragmentDataOff = 0;
  /** Where the payload ends: the declared end, clipped to the captured bytes. */
  payloadEnd = 0;
  /** Upper-layer payload length the headers declare (after the extension headers). */
  upperLength = 0;
}

const kMaxExtensionHeaders = 16;

/**
 * Decodes an IPv6 header and walks its extension headers; returns the offset of the upper-layer
 * header or a negative status. A non-first fragment stops the walk: its upper layer is not here,
 * so `protocol` is the fragment's next header and the caller must not decode it.
 */
export function decodeIpv6(d: Uint8Array, off: number, end: number, out: Ipv6Layer): number {
  if (end - off < 40) return kTruncated;
  if (d[off] >> 4 !== 6) return kBadVersion;
  out.trafficClass = ((d[off] & 0x0f) << 4) | (d[off + 1] >> 4);
  out.flowLabel = ((d[off + 1] & 0x0f) << 16) | (d[off + 2] << 8) | d[off + 3];
  let plen = (d[off + 4] << 8) | d[off + 5];
  if (plen === 0) plen = end - off - 40;
  out.payloadLength = plen;
  out.nextHeader = d[off + 6];
  out.hopLimit = d[off + 7];
  out.srcOff = off + 8;
  out.dstOff = off + 24;
  out.extensions = 0;
  out.isFragment = false;
  out.fragmentOffset = 0;
  out.moreFragments = false;
  out.fragmentId = 0;
  out.fragmentDataOff = 0;
  const declaredEnd = off + 40 + plen;
  out.payloadEnd = Math.min(declaredEnd, end);
  let next = out.nextHeader;
  let p = off + 40;
  for (let n = 0; ; n++) {
    let len: number;
    let bit: number;
    switch (next) {
      case 0:
        bit = kIp6ExtHopByHop;
        break;
      case 43:
        bit = kIp6ExtRouting;
        break;
      case 60:
        bit = kIp6ExtDestination;
        break;
      case 135:
        bit = kIp6ExtMobility;
        break;
      case 51:
        bit = kIp6ExtAuth;
        break;
      case 44:
        bit = kIp6ExtFragment;
        break;
      case 50:
        out.extensions |= kIp6ExtEsp;
        return finish(out, next, p, declaredEnd);
      default:
        return finish(out, next, p, declaredEnd);
    }
    if (n >= kMaxExtensionHeaders) return kTooManyHeaders;
    if (end - p < 8) return kTruncated;
    if (next === 44) {
      len = 8;
      const fo = (d[p + 2] << 8) | d[p + 3];
      out.isFragment = true;
      out.fragmentOffset = fo & 0xfff8;
      out.moreFragments = (fo & 1) !== 0;
      out.fragmentId = ((d[p + 4] << 24) | (d[p + 5] << 16) | (d[p + 6] << 8) | d[p + 7]) >>> 0;
      out.fragmentDataOff = p + 8;
      // An "atomic fragment" (offset 0, no more fragments) is a whole datagram: keep decoding.
      if (!out.moreFragments && out.fragmentOffset === 0) out.isFragment = false;
    } else if (next === 51) {
      len = (d[p + 1] + 2) * 4;
    } else {
      len = (d[p + 1] + 1) * 8;
    }
    if (p + len > declaredEnd) return kBadExtensionHeader;
    if (end - p < len) return kTruncated;
    out.extensions |= bit;
    next = d[p];
    p += len;
    if (out.isFragment && out.fragmentOffset !== 0) return finish(out, next, p, declaredEnd);
  }
}

function finish(out: Ipv6Layer, next: number, p: number, declaredEnd: number): number {
  out.protocol = next;
  out.upperLength = declaredEnd - p;
  return p;
}
