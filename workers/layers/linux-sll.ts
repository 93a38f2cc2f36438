import { kTruncated } from "../decode-result.ts";
import { decodeLlc } from "./ethernet.ts";
import type { LinkLayer } from "./link-layer.ts";

const kArphrdNetlink = 824;

/**
 * Interprets the SLL protocol field: an EtherType, or one of Linux's pseudo-protocols for frames
 * without one (ETH_P_802_2: an LLC header follows; ETH_P_802_3: Novell raw 802.3, not decoded).
 * Returns the offset where the link payload starts.
 */
function sllPayload(d: Uint8Array, proto: number, hatype: number, payload: number, end: number, out: LinkLayer): number {
  if (hatype === kArphrdNetlink) {
    out.etherType = -1;
    return payload;
  }
  if (proto === 0x0004) return decodeLlc(d, payload, end, out);
  out.etherType = proto === 0x0001 ? -1 : proto;
  return payload;
}

/** Decodes a Linux "cooked" SLL header (16 bytes, protocol last). */
export function decodeLinuxSll(d: Uint8Array, off: number, end: number, out: LinkLayer): number {
  if (end - off < 16) return kTruncated;
  const hatype = (d[off + 2] << 8) | d[off + 3];
  return sllPayload(d, (d[off + 14] << 8) | d[off + 15], hatype, off + 16, end, out);
}

/** Decodes a Linux SLL2 header (20 bytes, protocol first, with the interface index). */
export function decodeLinuxSll2(d: Uint8Array, off: number, end: number, out: LinkLayer): number {
  if (end - off < 20) return kTruncated;
  const hatype = (d[off + 8] << 8) | d[off + 9];
  return sllPayload(d, (d[off] << 8) | d[off + 1], hatype, off + 20, end, out);
}
