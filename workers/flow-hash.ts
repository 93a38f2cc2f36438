/**
 * The symmetric flow hash: both directions of a flow hash alike, so the flow table needs one lookup
 * and no ordering of the endpoints. Computed by the decode workers for every TCP/UDP packet, and by
 * the main thread for datagrams it reassembles from IP fragments; both must agree, hence one module
 * and one key (below) for all the threads of a run.
 *
 * The hash is keyed. The flow table chains flows by hash, so flows that share a hash cost a walk of
 * their chain per packet; an unkeyed hash lets whoever writes the traffic choose endpoints that
 * collide. The old one, fmix32(addr ^ imul(port + 1, C)) per endpoint, was linear before its only
 * mixing step: every addr = K ^ imul(port + 1, C) hashed alike, and 100k such SYNs took 101 s of CPU
 * instead of 0.55 s. Now the key is random per process, and each endpoint goes through a chain of
 * keyed mixing steps, one per 32-bit word (each address word, then the port), so that which
 * endpoints collide depends on the key and cannot be worked out from the traffic.
 */

/** The 4 bytes at `o` as a big-endian int32: an IPv4 address, or a quarter of an IPv6 one. */
export function word(d: Uint8Array, o: number): number {
  return (d[o] << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3];
}

/** Words of the key: one that starts each endpoint, one mixed in with its port, one for the sum. */
export const kFlowHashSeedWords = 3;

/**
 * The key of this thread's hashes. The main thread draws it once, when this module loads, and every
 * decode pool hands it to its workers when they start (DecodeWorkerData.flowHashSeed), which call
 * setFlowHashSeed() before they decode anything: every hash of a process, on any thread, uses one key.
 * It is drawn per process, not per run, so that two runs in one process (as in the tests) can never
 * hand their workers a key other than the one their main thread uses. An Int32Array, not three
 * numbers: its elements read as int32 in optimized code, where a random 32-bit `let` would be a heap
 * number.
 */
const key = newFlowHashSeed();

/** A fresh random key (web-standard crypto: Node and Deno alike). */
export function newFlowHashSeed(): Int32Array {
  return crypto.getRandomValues(new Int32Array(kFlowHashSeedWords));
}

/** A copy of the key this thread hashes with, for the decode workers of a pool. */
export function flowHashSeed(): number[] {
  return Array.from(key);
}

/**
 * Sets the key of this thread's hashes. A decode worker calls it with the main thread's key before
 * decoding; elsewhere, call it before any flow is hashed (hashes made with another key do not match).
 */
export function setFlowHashSeed(seed: ArrayLike<number>): void {
  if (seed.length !== kFlowHashSeedWords) {
    throw new RangeError(`A flow hash seed must have ${kFlowHashSeedWords} words: current length is ${seed.length}`);
  }
  for (let i = 0; i < kFlowHashSeedWords; i++) key[i] = seed[i];
}

/**
 * MurmurHash3's finaliser: a bijection of 32-bit words that spreads every input bit over the whole
 * word, and is not linear (its multiplies carry). A chain of them with the key xored in first is what
 * keeps collisions from being planned: it costs two multiplies a word.
 */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/**
 * One endpoint: the address words, then the port with the protocol (`port | proto << 16`, which
 * loses nothing), each xored into the running value and mixed. Nothing enters linearly alongside
 * another field: each word meets a value that is the key already mixed with the words before it.
 */
function endpoint(d: Uint8Array, addr: number, family: number, portProto: number): number {
  let h = fmix32(word(d, addr) ^ key[0]);
  if (family !== 4) {
    h = fmix32(h ^ word(d, addr + 4));
    h = fmix32(h ^ word(d, addr + 8));
    h = fmix32(h ^ word(d, addr + 12));
  }
  return fmix32(h ^ portProto ^ key[1]);
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
 * Keyed hash of (addresses at `srcOff`/`dstOff` of `family` 4 or 6, ports, protocol, vlanKey); never
 * 0, which the result record uses for "no flow". Allocates nothing.
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
  const p = (proto & 0xff) << 16;
  // Adding the two endpoint hashes is what makes the hash symmetric. The VLAN key (24 bits) goes in
  // after them: flows that differ only in VLAN always differ, and its mixing with the key is the last.
  const h = fmix32((((endpoint(d, srcOff, family, sport | p) + endpoint(d, dstOff, family, dport | p)) | 0) ^ vlan) + key[2]);
  return h === 0 ? 1 : h;
}
