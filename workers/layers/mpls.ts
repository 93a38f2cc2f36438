import { kTooManyHeaders, kTruncated } from "../decode-result.ts";
import { kEtherTypeEthernet } from "./ethernet.ts";

/** An MPLS label stack. */
export class MplsLayer {
  /** Number of labels in the stack. */
  labels = 0;
  /** The top label (20 bits). */
  topLabel = 0;
  /** What follows the stack, as an EtherType (IPv4, IPv6, Ethernet) or -1 when unknown. */
  etherType = 0;
}

const kMaxLabels = 16;

/**
 * Decodes an MPLS label stack; returns the offset after it (and after a pseudowire control word)
 * or a negative status.
 *
 * MPLS does not say what it carries, so the payload is guessed from its first nibble like
 * Wireshark does: 4 is IPv4, 6 is IPv6, 0 is a pseudowire control word followed by Ethernet.
 */
export function decodeMpls(d: Uint8Array, off: number, end: number, out: MplsLayer): number {
  let p = off;
  out.labels = 0;
  out.etherType = -1;
  for (;;) {
    if (end - p < 4) return kTruncated;
    if (out.labels === 0) out.topLabel = (d[p] << 12) | (d[p + 1] << 4) | (d[p + 2] >> 4);
    out.labels++;
    const bottom = d[p + 2] & 1;
    p += 4;
    if (bottom) break;
    if (out.labels >= kMaxLabels) return kTooManyHeaders;
  }
  if (p >= end) return p;
  const nibble = d[p] >> 4;
  if (nibble === 4) out.etherType = 0x0800;
  else if (nibble === 6) out.etherType = 0x86dd;
  else if (nibble === 0 && end - p >= 4 + 14) {
    out.etherType = kEtherTypeEthernet;
    return p + 4;
  }
  return p;
}
