import { kTruncated } from "../decode-result.ts";

/** TPIDs that introduce a VLAN tag: 802.1Q, 802.1ad (QinQ service tag) and the old 0x9100 QinQ. */
export function isVlanTpid(etherType: number): boolean {
  return etherType === 0x8100 || etherType === 0x88a8 || etherType === 0x9100;
}

/** One 802.1Q / 802.1ad tag. */
export class VlanLayer {
  /** Tag control information: priority (3 bits), DEI (1), VLAN id (12). */
  tci = 0;
  /** The EtherType after the tag. */
  etherType = 0;
}

/**
 * Decodes the 4 bytes of a VLAN tag that follow its TPID (the TPID is the previous header's type
 * field); returns the offset after the tag or a negative status.
 */
export function decodeVlan(d: Uint8Array, off: number, end: number, out: VlanLayer): number {
  if (end - off < 4) return kTruncated;
  out.tci = (d[off] << 8) | d[off + 1];
  out.etherType = (d[off + 2] << 8) | d[off + 3];
  return off + 4;
}
