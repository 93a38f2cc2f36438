/**
 * The symmetric flow hash: both directions of a flow hash alike, so the flow table needs one lookup
 * and no ordering of the endpoints. Computed by the decode workers for every TCP/UDP packet, and by
 * the main thread for datagrams it reassembles from IP fragments; both must agree, hence one module.
 */

/** The 4 bytes at `o` as a big-endian int32: an IPv4 address, or a quarter of an IPv6 one. */
export function word(d: Uint8Array, o: number): number {
  return (d[o] << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3];
}

/** MurmurHash3's finaliser: spreads every input bit over the whole word. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

function endpoint(d: Uint8Array, addr: number, family: number, port: number): number {
  const a = family === 4 ? word(d, addr) : word(d, addr) ^ word(d, addr + 4) ^ word(d, addr + 8) ^ word(d, addr + 12);
  return fmix32(a ^ Math.imul(port + 1, 0x85ebca6b));
}

/**
 * The VLAN part of a flow's key, from a result record's VLAN tag count and its two TCIs (kResVlan:
 * outer | inner << 16): the VLAN ids of the tags, outer | inner << 12, so that two QinQ customers
 * under one provider VLAN are two flows. 0 for an untagged frame. A tag with VLAN id 0 is a priority
 * tag (802.1Q: it carries a priority and no VLAN), so it counts as no tag: a host that tags its
 * frames for priority only and a peer that does not are one flow.
 */
export function vlanKey(tagCount: number, tcis: number): number {
  const outer = tagCount > 0 ? tcis & 0xfff : 0;
  const inner = tagCount > 1 ? (tcis >>> 16) & 0xfff : 0;
  return outer === 0 ? inner : outer | (inner << 12);
}

/**
 * Hash of (addresses at `srcOff`/`dstOff` of `family` 4 or 6, ports, protocol, vlanKey); never 0,
 * which the result record uses for "no flow".
 */
export function flowHash(
  d: Uint8Array,
  family: number,
  srcOff: number,
  dstOff: number,
  sport: number,
  dport: number,
  proto: number,
  vlan: number,
): number {
  // Adding the two endpoint hashes is what makes the hash symmetric.
  const h = fmix32((endpoint(d, srcOff, family, sport) + endpoint(d, dstOff, family, dport)) ^ Math.imul(proto, 0x9e3779b1) ^ vlan);
  return h === 0 ? 1 : h;
}
