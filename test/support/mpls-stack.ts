/**
 * Builds MPLS label stack entries (RFC 3032): label (20 bits), traffic class (3), bottom of stack (1),
 * TTL (8). An Ethernet frame carries the stack under EtherType 0x8847; what follows the bottom entry
 * is not named anywhere, which is why decoders guess it from the first nibble.
 */

/** One label stack entry. */
export interface MplsLabel {
  readonly label: number;
  readonly tc?: number;
  readonly ttl?: number;
}

/** EtherType of MPLS unicast. */
export const kEtherTypeMpls = 0x8847;

/** Encodes `labels` (top first) with the bottom-of-stack bit on the last one, unless `bottom` is false. */
export function mplsStack(labels: readonly MplsLabel[], bottom = true): Uint8Array {
  const out = new Uint8Array(4 * labels.length);
  const view = new DataView(out.buffer);
  labels.forEach((l, i) => {
    const s = bottom && i === labels.length - 1 ? 1 : 0;
    view.setUint32(4 * i, ((l.label & 0xfffff) << 12) | ((l.tc ?? 0) << 9) | (s << 8) | (l.ttl ?? 64));
  });
  return out;
}
