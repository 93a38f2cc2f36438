/**
 * IpDefragmenter on its own: fragments are handed in as (offset, more, payload) the way the flow
 * analyzer hands them, and the reassembled payload, the problems reported and the bytes and pieces
 * held are checked. Hostile sequences (floods of one fragment, zero-length fragments, more fragments
 * than any path makes) are judged by the state they leave, never by time.
 */
import t from "tap";
import { IpDefragmenter, kMaxFragments, kMaxPieces } from "../../core/flows/ip-defrag.ts";
import type { DefragLimits, DefragProblem } from "../../core/flows/ip-defrag.ts";
import { SeededRandom } from "../support/seeded-random.ts";

/** The host's bounds (core/flows/flow-analyzer.ts). */
const hostLimits: DefragLimits = { maxDatagrams: 4096, maxBytes: 16 << 20, timeoutSec: 30 };

function setup(limits: DefragLimits = hostLimits) {
  const problems: DefragProblem[] = [];
  const d = new IpDefragmenter(limits);
  d.onProblem = (p) => problems.push(p);
  return { d, problems };
}

/** `n` bytes counting up from `start`, so that every offset of a datagram has its own value. */
function payload(n: number, start = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
}

/** `n` bytes of `value`. */
const fill = (n: number, value: number) => new Uint8Array(n).fill(value);

interface Frag {
  offset: number;
  more: boolean;
  data: Uint8Array;
}

/** Cuts `whole` into fragments of `step` bytes, as a router would. */
function cut(whole: Uint8Array, step: number): Frag[] {
  const out: Frag[] = [];
  for (let o = 0; o < whole.length; o += step) out.push({ offset: o, more: o + step < whole.length, data: whole.subarray(o, o + step) });
  return out;
}

/** `() => float in [0, 1)` from the project's seeded generator, so that a failing case can be replayed. */
function rng(seed: number): () => number {
  const r = new SeededRandom(seed);
  return () => r.next();
}

/**
 * What the defragmenter must answer, worked out the plain way: every fragment kept, the datagram whole
 * once the last one arrived and the bytes [0, total) are all covered, each byte from the first fragment
 * that carried it. Returns the payload when the fragment at index i completes it, per fragment.
 */
function reference(frags: Frag[]): Array<Uint8Array | null> {
  const kept: Frag[] = [];
  let total = -1;
  return frags.map((f) => {
    kept.push(f);
    if (!f.more) total = f.offset + f.data.length;
    if (total < 0) return null;
    const whole = new Uint8Array(total);
    const have = new Uint8Array(total);
    for (const k of kept) {
      for (let i = 0; i < k.data.length && k.offset + i < total; i++) {
        if (have[k.offset + i]) continue;
        have[k.offset + i] = 1;
        whole[k.offset + i] = k.data[i];
      }
    }
    if (have.includes(0)) return null;
    kept.length = 0;
    total = -1;
    return whole;
  });
}

t.test("IpDefragmenter reassembles fragments in order, reversed and shuffled", async (t) => {
  const whole = payload(1500);
  for (const [name, order] of [
    ["in order", cut(whole, 480)],
    ["reversed", cut(whole, 480).reverse()],
    ["last first", (() => { const f = cut(whole, 480); return [f[3], f[1], f[0], f[2]]; })()],
  ] as const) {
    const { d, problems } = setup();
    const results = order.map((f) => d.add("k", f.offset, f.more, f.data, 0));
    t.same(results.slice(0, -1), [null, null, null], `${name}: nothing before the last piece`);
    t.same(results.at(-1), whole, `${name}: the datagram comes out whole`);
    t.equal(d.size, 0, `${name}: nothing is left waiting`);
    t.equal(d.heldBytes, 0, `${name}: no bytes are left held`);
    t.equal(d.pieceCount, 0, `${name}: no pieces are left held`);
    t.same(problems, []);
  }
});

t.test("IpDefragmenter keeps the first copy of a byte that two fragments carry", async (t) => {
  // [0,16) of 'a', then [8,24) of 'b' overlapping it, then [24,32) of 'c' as the last fragment.
  const { d } = setup();
  t.equal(d.add("k", 0, true, fill(16, 0x61), 0), null);
  t.equal(d.add("k", 8, true, fill(16, 0x62), 0), null);
  t.equal(d.heldBytes, 24, "only the 8 bytes the second fragment adds are held");
  t.same(d.add("k", 24, false, fill(8, 0x63), 0), new Uint8Array([...fill(16, 0x61), ...fill(8, 0x62), ...fill(8, 0x63)]));

  // The same fragments the other way round: now 'b' came first over [8,24).
  const other = setup().d;
  t.equal(other.add("k", 24, false, fill(8, 0x63), 0), null);
  t.equal(other.add("k", 8, true, fill(16, 0x62), 0), null);
  t.same(other.add("k", 0, true, fill(16, 0x61), 0), new Uint8Array([...fill(8, 0x61), ...fill(16, 0x62), ...fill(8, 0x63)]));
});

t.test("IpDefragmenter tells the length the last fragment's header declares, when the capture cut it", async (t) => {
  const { d } = setup();
  // The last fragment says 40 bytes; the capture kept 8 of them. It may come before the others.
  t.equal(d.add("k", 16, false, fill(8, 0x63), 0, 40), null);
  t.same(d.add("k", 0, true, fill(16, 0x61), 0, 16), new Uint8Array([...fill(16, 0x61), ...fill(8, 0x63)]), "whole as captured");
  t.equal(d.wholeDeclaredLength, 56, "16 + 40 declared");
  // A datagram captured whole: the declared length is its length.
  t.same(d.add("j", 8, false, fill(8, 0x62), 0), null);
  t.same(d.add("j", 0, true, fill(8, 0x61), 0), new Uint8Array([...fill(8, 0x61), ...fill(8, 0x62)]));
  t.equal(d.wholeDeclaredLength, 16);
});

t.test("IpDefragmenter refuses a cut fragment whose declared end passes the largest datagram", async (t) => {
  const { d, problems } = setup();
  // 8 bytes captured of the 60000 the header declares, at offset 65528: 125528 bytes in all.
  t.equal(d.add("k", 65528, false, fill(8, 0x61), 0, 60000), null);
  t.same(problems, ["fragment_too_large"], "as the same fragment captured whole would be");
  t.equal(d.size, 0, "no datagram is started for it");
});

t.test("IpDefragmenter fills several holes from one fragment that spans them", async (t) => {
  const { d } = setup();
  d.add("k", 8, true, fill(8, 1), 0);
  d.add("k", 24, true, fill(8, 2), 0);
  t.equal(d.pieceCount, 2);
  t.equal(d.add("k", 0, true, fill(40, 9), 0), null, "the length is not known yet");
  t.equal(d.pieceCount, 5, "the three holes became three pieces");
  t.equal(d.heldBytes, 40);
  const whole = d.add("k", 40, false, fill(8, 3), 0);
  t.same(whole, new Uint8Array([...fill(8, 9), ...fill(8, 1), ...fill(8, 9), ...fill(8, 2), ...fill(8, 9), ...fill(8, 3)]));
});

t.test("IpDefragmenter gives the same bytes as reassembly that keeps every fragment, on random overlapping fragments", async (t) => {
  const next = rng(0xdef4a9);
  const int = (n: number) => Math.floor(next() * n);
  for (let round = 0; round < 300; round++) {
    const length = 8 + int(400);
    const frags: Frag[] = [];
    const count = 1 + int(12);
    for (let i = 0; i < count; i++) {
      const offset = int(length);
      // Some are empty, some reach past the end, and a few claim to be last at a wrong length.
      const size = int(121);
      // Each fragment carries its own byte value, so that which copy won can be seen.
      frags.push({ offset, more: next() >= 0.05, data: fill(size, i + 1) });
    }
    // A full cover in random pieces, so that the datagram does complete; one of them says the length.
    for (let o = 0; o < length; ) {
      const size = Math.min(length - o, 1 + int(100));
      frags.push({ offset: o, more: o + size < length, data: fill(size, 100 + frags.length) });
      o += size;
    }
    for (let i = frags.length - 1; i > 0; i--) {
      const j = int(i + 1);
      [frags[i], frags[j]] = [frags[j], frags[i]];
    }
    const { d, problems } = setup();
    const got = frags.map((f) => d.add("k", f.offset, f.more, f.data, 0));
    t.same(got, reference(frags), `round ${round}`);
    t.same(problems, [], `round ${round}: no problem`);
    if (t.passing() === false) break;
  }
});

t.test("IpDefragmenter takes its total length from a last fragment that carries no bytes", async (t) => {
  const { d, problems } = setup();
  const whole = payload(960);
  t.equal(d.add("k", 0, true, whole.subarray(0, 480), 0), null);
  t.equal(d.add("k", 480, true, whole.subarray(480), 0), null);
  t.same(d.add("k", 960, false, new Uint8Array(0), 0), whole);
  t.same(problems, []);
});

t.test("IpDefragmenter ignores bytes held past the length a later last fragment gives", async (t) => {
  // A stray fragment at 1000, then a datagram of 500 bytes: the stray bytes lie past its end. (This
  // used to throw a RangeError out of add(), writing the stray piece past the end of the datagram.)
  const { d, problems } = setup();
  const whole = payload(500);
  t.equal(d.add("k", 1000, true, fill(8, 0xee), 0), null);
  t.equal(d.add("k", 0, true, whole.subarray(0, 480), 0), null);
  t.same(d.add("k", 480, false, whole.subarray(480), 0), whole);
  t.equal(d.heldBytes, 0);
  t.same(problems, []);
});

t.test("IpDefragmenter holds one copy of a fragment sent over and over, and gives the datagram up past kMaxFragments", async (t) => {
  // The audit's capture: copies of one 480-byte middle fragment, the last fragment never sent.
  const { d, problems } = setup();
  const middle = payload(480, 7);
  let mostHeld = 0;
  let mostPieces = 0;
  const copies = 10 * kMaxFragments;
  let completed = 0;
  for (let i = 0; i < copies; i++) {
    if (d.add("k", 480, true, middle, 0) !== null) completed++;
    mostHeld = Math.max(mostHeld, d.heldBytes);
    mostPieces = Math.max(mostPieces, d.pieceCount);
  }
  t.equal(completed, 0);
  t.equal(mostHeld, 480, "never more than the one copy is held");
  t.equal(mostPieces, 1);
  // Each run of kMaxFragments fragments ends in a give-up; the next copy starts the datagram again.
  t.same(problems, Array(Math.floor(copies / (kMaxFragments + 1))).fill("fragment_too_many"));
});

t.test("IpDefragmenter holds no piece for zero-length fragments", async (t) => {
  // The audit's capture: the last fragment first, then zero-length fragments at its offset.
  const { d, problems } = setup();
  const whole = payload(960);
  t.equal(d.add("k", 480, false, whole.subarray(480), 0), null);
  const n = kMaxFragments - 2;
  let completed = 0;
  for (let i = 0; i < n; i++) if (d.add("k", 480, true, new Uint8Array(0), 0) !== null) completed++;
  t.equal(completed, 0);
  t.equal(d.pieceCount, 1, "the zero-length fragments added no piece");
  t.equal(d.heldBytes, 480);
  t.same(d.add("k", 0, true, whole.subarray(0, 480), 0), whole, "the datagram still completes");
  t.same(problems, []);

  // A zero-length middle fragment of a datagram not seen yet starts nothing.
  t.equal(d.add("other", 480, true, new Uint8Array(0), 0), null);
  t.equal(d.size, 0);
});

t.test("IpDefragmenter stays bounded under a flood of zero-length fragments after the last one", async (t) => {
  const { d, problems } = setup();
  t.equal(d.add("k", 480, false, payload(480), 0), null);
  let mostPieces = 0;
  for (let i = 0; i < 40_000; i++) {
    d.add("k", 480, true, new Uint8Array(0), 0);
    mostPieces = Math.max(mostPieces, d.pieceCount);
  }
  t.equal(mostPieces, 1, "one piece at most is ever held, so each fragment costs a look at one piece");
  t.same(problems, ["fragment_too_many"], "the flood is reported once, and starts no new datagram after");
  t.equal(d.size, 0);
  t.equal(d.heldBytes, 0);
});

t.test("IpDefragmenter gives up a datagram of more than kMaxPieces fragments", async (t) => {
  // 8-byte fragments with 8-byte holes between them, so that each one is a piece of its own.
  const { d, problems } = setup();
  for (let i = 0; i < kMaxPieces; i++) d.add("k", i * 16, true, fill(8, i), 0);
  t.equal(d.pieceCount, kMaxPieces);
  t.same(problems, [], "kMaxPieces pieces are allowed");
  t.equal(d.add("k", kMaxPieces * 16, true, fill(8, 0), 0), null);
  t.same(problems, ["fragment_too_many"]);
  t.equal(d.size, 0, "the datagram was given up");
  t.equal(d.heldBytes, 0);
  t.equal(d.pieceCount, 0);
});

t.test("IpDefragmenter reassembles a 64 KiB datagram cut for 576-byte packets (119 fragments), shuffled", async (t) => {
  const whole = payload(65515);
  const frags = cut(whole, 552);
  t.equal(frags.length, 119);
  const next = rng(576);
  for (let i = frags.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [frags[i], frags[j]] = [frags[j], frags[i]];
  }
  const { d, problems } = setup();
  const got = frags.map((f) => d.add("k", f.offset, f.more, f.data, 0));
  t.same(got.at(-1), whole);
  t.equal(got.filter((g) => g !== null).length, 1);
  t.same(problems, []);
});

t.test("IpDefragmenter gives up a datagram that alone would pass maxBytes", async (t) => {
  const { d, problems } = setup({ maxDatagrams: 16, maxBytes: 1000, timeoutSec: 30 });
  t.equal(d.add("k", 0, true, fill(480, 1), 0), null);
  t.equal(d.add("k", 960, true, fill(480, 2), 0), null);
  t.equal(d.heldBytes, 960);
  t.equal(d.add("k", 1920, true, fill(480, 3), 0), null);
  t.same(problems, ["fragment_limit"]);
  t.equal(d.size, 0);
  t.equal(d.heldBytes, 0);
  t.equal(d.pieceCount, 0);
});

t.test("IpDefragmenter drops older datagrams for room, never the one being added to", async (t) => {
  const { d, problems } = setup({ maxDatagrams: 16, maxBytes: 1000, timeoutSec: 30 });
  t.equal(d.add("a", 0, true, fill(480, 1), 0), null);
  t.equal(d.add("b", 0, true, fill(480, 2), 1), null);
  // "a" is the oldest, but it is the one growing: "b" makes room.
  t.equal(d.add("a", 480, true, fill(480, 1), 2), null);
  t.same(problems, ["fragment_limit"]);
  t.equal(d.size, 1);
  t.equal(d.heldBytes, 960, "the bytes held are the bytes of the datagrams still waiting");
  t.same(d.add("a", 960, false, fill(8, 1), 3), fill(968, 1));
  t.equal(d.heldBytes, 0);
});

t.test("IpDefragmenter keeps its byte bound with many datagrams", async (t) => {
  const { d, problems } = setup({ maxDatagrams: 4096, maxBytes: 64 << 10, timeoutSec: 30 });
  let most = 0;
  for (let i = 0; i < 1000; i++) {
    d.add(`k${i}`, 0, true, fill(1480, i), i / 1000);
    most = Math.max(most, d.heldBytes);
  }
  t.ok(most <= 64 << 10, `at most maxBytes held (${most})`);
  t.ok(problems.length > 0 && problems.every((p) => p === "fragment_limit"));
});

t.test("IpDefragmenter drops a datagram whose last fragment did not come in time", async (t) => {
  const { d, problems } = setup();
  d.add("k", 0, true, fill(480, 1), 0);
  d.add("other", 0, true, fill(480, 1), 31);
  t.same(problems, ["fragment_timeout"]);
  t.equal(d.size, 1);
  t.equal(d.heldBytes, 480);
  t.equal(d.pieceCount, 1);
});

t.test("IpDefragmenter refuses a fragment that reaches past the largest datagram", async (t) => {
  const { d, problems } = setup();
  t.equal(d.add("k", 65528, true, fill(16, 1), 0), null);
  t.same(problems, ["fragment_too_large"]);
  t.equal(d.size, 0);
});

t.test("each held piece is charged pieceOverhead besides its bytes, so one-byte pieces cannot hold far past maxBytes", async (t) => {
  const problems: string[] = [];
  const d = new IpDefragmenter({ maxDatagrams: 4096, maxBytes: 10_000, timeoutSec: 30, pieceOverhead: 256 });
  d.onProblem = (p) => problems.push(p);
  // Datagrams of one-byte pieces at every other offset (never whole): 257 charged per piece.
  for (let id = 0; id < 10; id++) {
    for (let k = 0; k < 10; k++) d.add(`dg${id}`, 8 + 16 * k, true, new Uint8Array(1), 0);
  }
  t.ok(d.heldBytes <= 10_000, `charged ${d.heldBytes} of 10000`);
  t.ok(d.pieceCount <= Math.floor(10_000 / 257), `${d.pieceCount} pieces held`);
  t.ok(problems.includes("fragment_limit"), "older datagrams were dropped for room");
});
