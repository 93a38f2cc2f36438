/**
 * flowHash: symmetric, VLAN-aware, and keyed, so that flows which share a hash (and so a chain of the
 * flow table, walked on every packet) cannot be planned from the traffic. Hashes here are computed on
 * address bytes in one buffer, as the decoders compute them on the ring's.
 */
import t from "tap";
import {
  flowHash,
  flowHashSeed,
  kFlowHashSeedWords,
  newFlowHashSeed,
  setFlowHashSeed,
  vlanKey,
} from "../../workers/flow-hash.ts";
import { SeededRandom } from "../support/seeded-random.ts";
import { moduleThread } from "../support/module-thread.ts";

const kFlowHashUrl = new URL("../../workers/flow-hash.ts", import.meta.url);

/** Two endpoints' address bytes (source at 0, destination at 16) and everything flowHash takes. */
interface FlowKey {
  family: 4 | 6;
  src: number[];
  dst: number[];
  sport: number;
  dport: number;
  proto: number;
  vlan: number;
}

const scratch = new Uint8Array(32);
const view = new DataView(scratch.buffer);

function hashOf(k: FlowKey): number {
  k.src.forEach((w, i) => view.setInt32(4 * i, w));
  k.dst.forEach((w, i) => view.setInt32(16 + 4 * i, w));
  return flowHash(scratch, k.family, 0, 16, k.sport, k.dport, k.proto, k.vlan);
}

function reversed(k: FlowKey): FlowKey {
  return { ...k, src: k.dst, dst: k.src, sport: k.dport, dport: k.sport };
}

/** The endpoint hash before it was keyed: each IPv4 endpoint mixed addr ^ imul(port + 1, C) once. */
const kOldPortMultiplier = 0x85ebca6b;

/**
 * `n` SYN flows to 192.0.2.80:80 from endpoints that all hashed alike with the unkeyed hash: the
 * source address is K ^ imul(sport + 1, C), so addr ^ imul(sport + 1, C) is K for every one.
 */
function oldCollidingFlows(n: number, family: 4 | 6): FlowKey[] {
  const K = 0x0a000001;
  const dst = family === 4 ? [0xc0000250] : [0x20010db8, 0, 0, 0x80];
  return Array.from({ length: n }, (_, i) => {
    const sport = 1024 + i;
    const a = K ^ Math.imul(sport + 1, kOldPortMultiplier);
    // IPv6: the unkeyed hash xored the four words together, so (a, x, x, 0) all folded to `a`.
    const src = family === 4 ? [a] : [a, 0x5000 + i, 0x5000 + i, 0];
    return { family, src, dst, sport, dport: 80, proto: 6, vlan: 0 };
  });
}

/** What the old hash folded each endpoint to before its one mixing step (for checking the flows above). */
function oldEndpointInput(k: FlowKey): number {
  const a = k.src.reduce((x, w) => x ^ w, 0);
  return a ^ Math.imul(k.sport + 1, kOldPortMultiplier);
}

/** Flows per chain, at most, in a table of `buckets` chains indexed by the hash's low bits (as FlowTable). */
function longestChain(hashes: number[], buckets: number): number {
  const counts = new Map<number, number>();
  let longest = 0;
  for (const h of hashes) {
    const n = (counts.get(h & (buckets - 1)) ?? 0) + 1;
    counts.set(h & (buckets - 1), n);
    if (n > longest) longest = n;
  }
  return longest;
}

function randomFlow(rng: SeededRandom, family: 4 | 6): FlowKey {
  const words = family === 4 ? 1 : 4;
  return {
    family,
    src: Array.from({ length: words }, () => rng.uint32() | 0),
    dst: Array.from({ length: words }, () => rng.uint32() | 0),
    sport: rng.uint32() & 0xffff,
    dport: rng.uint32() & 0xffff,
    proto: rng.next() < 0.5 ? 6 : 17,
    vlan: 0,
  };
}

for (const family of [4, 6] as const) {
  t.test(`flowHash() spreads IPv${family} flows whose endpoints all shared one hash before it was keyed`, async (t) => {
    const flows = oldCollidingFlows(20_000, family);
    t.equal(new Set(flows.map(oldEndpointInput)).size, 1, "the flows collide under the unkeyed hash");
    const hashes = flows.map(hashOf);
    t.ok(new Set(hashes).size >= flows.length - 2, `distinct hashes: ${new Set(hashes).size} of ${flows.length}`);
    // 20,000 flows in 32,768 chains: a random hash leaves about 7 in the longest.
    t.ok(longestChain(hashes, 1 << 15) <= 16, `longest chain: ${longestChain(hashes, 1 << 15)}`);
  });
}

t.test("flowHash() is the same both ways for IPv4, IPv6 and VLAN-tagged flows", async (t) => {
  const rng = new SeededRandom(7);
  const asymmetric: FlowKey[] = [];
  let zero = 0;
  for (let i = 0; i < 2000; i++) {
    const k = randomFlow(rng, i % 2 === 0 ? 4 : 6);
    if (i % 4 >= 2) k.vlan = vlanKey(2, (1 + (rng.uint32() % 4095)) | ((1 + (rng.uint32() % 4095)) << 16));
    const h = hashOf(k);
    if (h !== hashOf(reversed(k))) asymmetric.push(k);
    if (h === 0) zero++;
  }
  t.same(asymmetric, [], "2000 flows, half IPv6, half of each VLAN-tagged (QinQ)");
  t.equal(zero, 0, "and no hash is 0");
});

t.test("flowHash() tells apart what the flow key tells apart: VLANs, protocol, ports, one address bit", async (t) => {
  const rng = new SeededRandom(8);
  for (const family of [4, 6] as const) {
    const k = randomFlow(rng, family);
    const h = hashOf(k);
    t.not(hashOf({ ...k, vlan: vlanKey(1, 100) }), h, `IPv${family}: VLAN 100 and untagged`);
    t.not(hashOf({ ...k, vlan: vlanKey(2, 100 | (200 << 16)) }), hashOf({ ...k, vlan: vlanKey(2, 100 | (201 << 16)) }), `IPv${family}: two QinQ customers`);
    t.not(hashOf({ ...k, proto: k.proto === 6 ? 17 : 6 }), h, `IPv${family}: TCP and UDP`);
    t.not(hashOf({ ...k, sport: k.sport ^ 1 }), h, `IPv${family}: source port`);
    t.not(hashOf({ ...k, src: k.src.map((w, i) => (i === k.src.length - 1 ? w ^ 1 : w)) }), h, `IPv${family}: last address bit`);
  }
});

t.test("flowHash() depends on the key: flows that share a chain under one key spread under another", async (t) => {
  const saved = flowHashSeed();
  t.teardown(() => setFlowHashSeed(saved));
  setFlowHashSeed([1, 2, 3]);
  const rng = new SeededRandom(9);
  const flows = Array.from({ length: 1 << 18 }, () => randomFlow(rng, 4));
  // What an attacker who knew the key could do: pick the flows of one chain of a 4096-chain table.
  const target = hashOf(flows[0]!) & 0xfff;
  const sameChain = flows.filter((k) => (hashOf(k) & 0xfff) === target);
  t.ok(sameChain.length >= 32, `${sameChain.length} flows share chain ${target} under key [1, 2, 3]`);
  setFlowHashSeed([1, 2, 4]);
  const spread = new Set(sameChain.map((k) => hashOf(k) & 0xfff)).size;
  t.ok(spread >= sameChain.length * 0.9, `under another key they fall in ${spread} chains`);
});

t.test("setFlowHashSeed() takes a key of kFlowHashSeedWords words, which flowHashSeed() gives back", async (t) => {
  const saved = flowHashSeed();
  t.teardown(() => setFlowHashSeed(saved));
  t.equal(saved.length, kFlowHashSeedWords);
  setFlowHashSeed([-1, 0x12345678, 5]);
  t.same(flowHashSeed(), [-1, 0x12345678, 5]);
  t.throws(() => setFlowHashSeed([1, 2]), /A flow hash seed must have 3 words: current length is 2/);
  t.not(newFlowHashSeed().join(), newFlowHashSeed().join(), "fresh keys are random");
});

t.test("each thread draws its own random key when flow-hash.ts loads", async (t) => {
  const keyOf = () =>
    new Promise<number[]>((resolve, reject) => {
      const w = moduleThread(kFlowHashUrl, "parentPort.postMessage(m.flowHashSeed())");
      w.once("message", (key: number[]) => {
        resolve(key);
        void w.terminate();
      });
      w.once("error", reject);
    });
  const [a, b] = await Promise.all([keyOf(), keyOf()]);
  t.equal(a.length, kFlowHashSeedWords);
  t.not(a.join(), b.join(), "two threads, two keys");
  t.not(a.join(), flowHashSeed().join(), "and neither is this thread's");
});
