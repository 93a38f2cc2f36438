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
    return off + 14;
  }
  return decodeLlc(d, off + 14, end, out);
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
