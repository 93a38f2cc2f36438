import t from "tap";
import { ByteBudget } from "../../core/flows/byte-budget.ts";
import { TcpReassembler } from "../../core/flows/tcp-reassembler.ts";
import type { ReassemblyLimits, StreamSink } from "../../core/flows/tcp-reassembler.ts";
import { SeededRandom } from "../support/seeded-random.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string): Uint8Array => enc.encode(s);

/** A sink that writes the stream as text, a gap as "[gap N]", and remembers the ranges it was handed. */
class Recorder implements StreamSink {
  text = "";
  chunks: { bytes: Uint8Array; start: number; end: number }[] = [];
  gaps: number[] = [];
  data(bytes: Uint8Array, start: number, end: number): void {
    this.chunks.push({ bytes, start, end });
    this.text += dec.decode(bytes.subarray(start, end));
  }
  gap(n: number): void {
    this.gaps.push(n);
    this.text += `[gap ${n}]`;
  }
}

const roomy: ReassemblyLimits = { maxOutOfOrderBytes: 1 << 20, maxOutOfOrderSegments: 1024 };

function setup(limits: ReassemblyLimits = roomy, budget = new ByteBudget(1 << 24)) {
  const sink = new Recorder();
  return { sink, r: new TcpReassembler(sink, limits, budget), budget };
}

/** `() => float in [0, 1)` from the project's seeded generator, so that a failing case can be replayed. */
function rng(seed: number): () => number {
  const r = new SeededRandom(seed);
  return () => r.next();
}

t.test("segment() hands in-order data to the sink as a range of the caller's own bytes", async (t) => {
  // This is the whole allocation story of the hot path: no copy, no subarray, nothing held.
  const { sink, r } = setup();
  const a = bytes("GET / HTTP/1.1\r\n");
  const b = bytes("Host: x\r\n\r\n");
  r.segment(1000, true, false, new Uint8Array(0), 1);
  r.segment(1001, false, false, a, 2);
  r.segment(1001 + a.length, false, false, b, 3);
  t.equal(sink.text, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  t.equal(sink.chunks[0]!.bytes, a, "the first chunk is the very Uint8Array passed in");
  t.equal(sink.chunks[1]!.bytes, b, "so is the second");
  t.equal(r.heldBytes, 0);
});

t.test("a payload given as a range of a larger buffer (the ring) is delivered as that range", async (t) => {
  const { sink, r } = setup();
  // Two segments' payloads inside one buffer, with bytes around them that are not theirs.
  const ring = bytes("xxGET / HTTP/1.1\r\nyyHost: x\r\n\r\nzz");
  r.segment(1000, true, false, ring, 1, 0, 0);
  r.segment(1001, false, false, ring, 2, 2, 18);
  r.segment(1017, false, false, ring, 3, 20, 31);
  t.equal(sink.text, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "only the ranges' bytes reach the sink");
  t.same(
    sink.chunks.map((c) => [c.bytes === ring, c.start, c.end]),
    [
      [true, 2, 18],
      [true, 20, 31],
    ],
    "in order, as ranges of the same buffer: no view made",
  );
  // Out of order, from a range: the held copy has only the range's bytes.
  r.segment(1028 + 4, false, false, ring, 4, 29, 31);
  t.equal(r.heldBytes, 2, "two bytes held ahead of a hole");
  r.segment(1028, false, false, ring, 5, 20, 24);
  t.equal(sink.text, "GET / HTTP/1.1\r\nHost: x\r\n\r\nHost\r\n", "the hole filled: the held range follows");
});

t.test("segment() counts the SYN as one sequence number and delivers nothing before ISN + 1", async (t) => {
  const { sink, r } = setup();
  r.segment(500, true, false, new Uint8Array(0), 1);
  // A bogus segment claiming the SYN's own sequence number: its first byte is not data.
  r.segment(500, false, false, bytes("Xab"), 2);
  r.segment(503, false, false, bytes("cd"), 3);
  t.equal(sink.text, "abcd");
  t.equal(r.stats.retransmittedBytes, 1, "the byte at the ISN counts with the old bytes");
});

t.test("segment() delivers data carried on the SYN itself (TCP Fast Open)", async (t) => {
  const { sink, r } = setup();
  r.segment(10, true, false, bytes("hi"), 1);
  r.segment(13, false, false, bytes("!"), 2);
  t.equal(sink.text, "hi!");
});

t.test("segment() starts a stream without a SYN at the first segment seen (mid-stream pickup)", async (t) => {
  const { sink, r } = setup();
  r.segment(7777, false, false, bytes("middle"), 1);
  r.segment(7777 + 6, false, false, bytes(" end"), 2);
  r.segment(7000, false, false, bytes("older bytes"), 3);
  t.equal(sink.text, "middle end");
  t.equal(sink.gaps.length, 0);
});

t.test("segment() holds out-of-order segments and delivers them when the hole fills", async (t) => {
  const { sink, r } = setup();
  r.segment(0, true, false, new Uint8Array(0), 0);
  const late = bytes("world");
  r.segment(7, false, false, late, 1);
  r.segment(12, false, false, bytes("!"), 2);
  t.equal(sink.text, "", "nothing is delivered across the hole");
  t.equal(r.heldBytes, 6);
  late.fill(0x3f); // the ring slot is reused after the call: the held copy must not change
  r.segment(1, false, false, bytes("hello "), 3);
  t.equal(sink.text, "hello world!");
  t.equal(r.stats.outOfOrderSegments, 2);
  t.equal(r.heldBytes, 0);
});

t.test("segment() drops exact retransmissions and counts them", async (t) => {
  const { sink, r } = setup();
  r.segment(0, true, false, new Uint8Array(0), 0);
  r.segment(1, false, false, bytes("abc"), 1);
  r.segment(1, false, false, bytes("abc"), 2);
  r.segment(4, false, false, bytes("def"), 3);
  r.segment(4, false, false, bytes("def"), 4);
  t.equal(sink.text, "abcdef");
  t.equal(r.stats.retransmittedBytes, 6);
});

t.test("segment() trims overlaps with delivered data, keeping the first copy", async (t) => {
  const { sink, r } = setup();
  r.segment(0, true, false, new Uint8Array(0), 0);
  r.segment(1, false, false, bytes("abcd"), 1);
  // Overlaps "cd" with different bytes, then adds "ef": the delivered "cd" stays.
  r.segment(3, false, false, bytes("XYef"), 2);
  t.equal(sink.text, "abcdef");
  t.equal(r.stats.retransmittedBytes, 2);
});

t.test("segment() keeps the first copy of held bytes when a later segment overlaps them", async (t) => {
  const { sink, r } = setup();
  r.segment(0, true, false, new Uint8Array(0), 0);
  r.segment(5, false, false, bytes("EFG"), 1); // held: seq 5..7
  r.segment(4, false, false, bytes("dxxxh"), 2); // overlaps the held bytes with x's, adds d and h around them
  r.segment(1, false, false, bytes("abc"), 3);
  t.equal(sink.text, "abcdEFGh");
  t.equal(r.stats.retransmittedBytes, 3);
});

t.test("segment() lets held bytes win over an in-order segment that runs into them", async (t) => {
  const { sink, r } = setup();
  r.segment(0, true, false, new Uint8Array(0), 0);
  r.segment(4, false, false, bytes("DE"), 1);
  r.segment(1, false, false, bytes("abcxxfg"), 2); // covers the hole, the held "DE" and goes past it
  t.equal(sink.text, "abcDEfg");
  t.equal(r.stats.retransmittedBytes, 2);
});

t.test("segment() handles sequence numbers that wrap around 2^32", async (t) => {
  const { sink, r } = setup();
  const isn = 0xfffffffd;
  r.segment(isn, true, false, new Uint8Array(0), 0); // data starts at 0xfffffffe
  r.segment(0x00000002, false, false, bytes("cd"), 1); // after the wrap, ahead of a hole
  r.segment(0xfffffffe, false, false, bytes("ab"), 2); // 0xfffffffe, 0xffffffff
  r.segment(0x00000000, false, false, bytes("xy"), 3); // 0, 1: fills the hole
  r.segment(0xfffffffe, false, false, bytes("ab"), 4); // a retransmission from before the wrap
  r.segment(0x00000004, false, false, bytes("e"), 5);
  t.equal(sink.text, "abxycde");
  t.equal(r.stats.retransmittedBytes, 2);
});

t.test("segment() gives up on a hole when the per-direction byte limit would be passed", async (t) => {
  const { sink, r, budget } = setup({ maxOutOfOrderBytes: 8, maxOutOfOrderSegments: 100 });
  r.segment(0, true, false, new Uint8Array(0), 0);
  r.segment(1, false, false, bytes("ab"), 1);
  r.segment(6, false, false, bytes("fghi"), 2); // hole: 3..5
  r.segment(10, false, false, bytes("jkl"), 3); // 7 bytes held
  t.equal(sink.text, "ab");
  r.segment(13, false, false, bytes("mn"), 4); // would be 9: skip the hole, deliver from "f"
  t.equal(sink.text, "ab[gap 3]fghijklmn");
  t.same(sink.gaps, [3]);
  t.equal(r.stats.gaps, 1);
  t.equal(r.stats.gapBytes, 3);
  t.equal(r.heldBytes, 0);
  t.equal(budget.usedBytes, 0, "the budget got its bytes back");
  r.segment(3, false, false, bytes("cde"), 5); // the lost bytes arrive late: they are old now
  t.equal(sink.text, "ab[gap 3]fghijklmn");
});

t.test("segment() gives up on a hole when the per-direction segment limit would be passed", async (t) => {
  const { sink, r } = setup({ maxOutOfOrderBytes: 1000, maxOutOfOrderSegments: 2 });
  r.segment(0, true, false, new Uint8Array(0), 0);
  r.segment(3, false, false, bytes("c"), 1);
  r.segment(5, false, false, bytes("e"), 2);
  r.segment(7, false, false, bytes("g"), 3);
  t.equal(sink.text, "[gap 2]c", "the overflow skips only the hole in front, which frees room for g");
  t.equal(r.heldBytes, 2);
  r.flush(4);
  t.equal(sink.text, "[gap 2]c[gap 1]e[gap 1]g");
});

t.test("segment() delivers a too-large out-of-order segment directly after a gap when nothing earlier is held", async (t) => {
  const { sink, r } = setup({ maxOutOfOrderBytes: 4, maxOutOfOrderSegments: 10 });
  r.segment(0, true, false, new Uint8Array(0), 0);
  const big = bytes("0123456789");
  r.segment(11, false, false, big, 1);
  t.equal(sink.text, "[gap 10]0123456789");
  t.equal(sink.chunks[0]!.bytes, big, "no copy: it is the caller's own bytes");
});

t.test("ByteBudget bounds the bytes held by all streams together", async (t) => {
  const budget = new ByteBudget(6);
  const a = setup(roomy, budget);
  const b = setup(roomy, budget);
  a.r.segment(0, true, false, new Uint8Array(0), 0);
  b.r.segment(0, true, false, new Uint8Array(0), 0);
  a.r.segment(5, false, false, bytes("abcde"), 1); // a holds 5 of the 6
  t.equal(budget.usedBytes, 5);
  b.r.segment(3, false, false, bytes("xyz"), 2); // b cannot hold 3: it skips its hole instead
  t.equal(b.sink.text, "[gap 2]xyz");
  t.equal(budget.usedBytes, 5);
  t.equal(budget.refusals, 1, "the refusal is counted");
  a.r.segment(1, false, false, bytes("1234"), 3);
  t.equal(a.sink.text, "1234abcde");
  t.equal(budget.usedBytes, 0);
  b.r.segment(8, false, false, bytes("uvw"), 4); // room again
  t.equal(budget.usedBytes, 3);
  b.r.detach();
  t.equal(budget.usedBytes, 0, "detach() returns what was held");
});

t.test("ByteBudget rejects a bound that is not a non-negative integer", async (t) => {
  t.throws(() => new ByteBudget(-1), /non-negative integer: current value is -1/);
  t.throws(() => new ByteBudget(1.5), RangeError);
});

t.test("flush() delivers what is held in order and reports the holes", async (t) => {
  const { sink, r } = setup();
  r.segment(0, true, false, new Uint8Array(0), 0);
  r.segment(1, false, false, bytes("a"), 1);
  r.segment(5, false, false, bytes("e"), 2);
  r.segment(3, false, false, bytes("c"), 3);
  r.flush(4);
  t.equal(sink.text, "a[gap 1]c[gap 1]e");
  t.equal(r.stats.gaps, 2);
});

t.test("flush() reports bytes missing before a FIN", async (t) => {
  const { sink, r } = setup();
  r.segment(0, true, false, new Uint8Array(0), 0);
  r.segment(1, false, false, bytes("ab"), 1);
  r.segment(10, false, false, bytes("j"), 2); // 3..9 missing
  r.segment(15, false, true, new Uint8Array(0), 3); // FIN at 15: 11..14 missing too
  r.flush(4);
  t.equal(sink.text, "ab[gap 7]j[gap 4]");
});

t.test("segment() ignores data after the FIN", async (t) => {
  const { sink, r } = setup();
  r.segment(0, true, false, new Uint8Array(0), 0);
  r.segment(1, false, true, bytes("bye"), 1); // FIN at 4
  r.segment(4, false, false, bytes("more"), 2);
  r.segment(2, false, false, bytes("yeXY"), 3);
  t.equal(sink.text, "bye");
});

t.test("detach() stops delivery, even from inside the sink", async (t) => {
  const budget = new ByteBudget(1000);
  let r!: TcpReassembler;
  const seen: string[] = [];
  r = new TcpReassembler(
    {
      data(c, start, end) {
        seen.push(dec.decode(c.subarray(start, end)));
        r.detach();
      },
      gap() {},
    },
    roomy,
    budget,
  );
  r.segment(0, true, false, new Uint8Array(0), 0);
  r.segment(4, false, false, bytes("d"), 1);
  r.segment(6, false, false, bytes("f"), 1);
  r.segment(1, false, false, bytes("abc"), 2); // would drain "d" too, but the sink detached
  r.segment(5, false, false, bytes("e"), 3);
  r.flush(4);
  t.same(seen, ["abc"]);
  t.equal(budget.usedBytes, 0);
});

t.test("segment() rebuilds the stream from any shuffle of overlapping, duplicated segments", async (t) => {
  const text = "The quick brown fox jumps over the lazy dog. ".repeat(20);
  const data = bytes(text);
  for (let seed = 1; seed <= 40; seed++) {
    const rand = rng(seed);
    const isn = Math.floor(rand() * 0x100000000) >>> 0; // anywhere, wraps included
    const segs: { off: number; len: number }[] = [];
    for (let off = 0; off < data.length; ) {
      const len = 1 + Math.floor(rand() * 60);
      segs.push({ off, len: Math.min(len, data.length - off) });
      // Sometimes an overlapping resend of a stretch around this point.
      if (rand() < 0.3) segs.push({ off: Math.max(0, off - 10), len: Math.min(40, data.length - Math.max(0, off - 10)) });
      off += len;
    }
    for (let i = segs.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [segs[i], segs[j]] = [segs[j]!, segs[i]!];
    }
    const { sink, r, budget } = setup();
    r.segment(isn, true, false, new Uint8Array(0), 0);
    for (const s of segs) {
      // A fresh copy each time, overwritten after the call like a reused ring slot.
      const view = data.slice(s.off, s.off + s.len);
      r.segment((isn + 1 + s.off) >>> 0, false, false, view, 1);
      view.fill(0);
    }
    r.flush(2);
    if (sink.text !== text) {
      t.fail(`seed ${seed}: stream differs`);
      return;
    }
    t.equal(budget.usedBytes, 0, `seed ${seed}: nothing left held`);
  }
});

t.test("acked() turns a hole the receiver acknowledged into a gap at once, and delivers what was held behind it", async (t) => {
  const { sink, r, budget } = setup();
  r.segment(0, true, false, new Uint8Array(0), 1); // data from 1
  r.segment(1, false, false, bytes("aaaa"), 2); // 1..4
  r.segment(9, false, false, bytes("cccc"), 3); // 9..12 held: 5..8 missing
  r.segment(13, false, false, bytes("dddd"), 4); // 13..16 held
  t.equal(r.heldBytes, 8);

  r.acked(5, 5);
  t.equal(sink.text, "aaaa", "an ACK up to the hole says nothing about it");
  r.acked(7, 6);
  t.equal(sink.text, "aaaa[gap 2]", "bytes 5..6 were acknowledged, so they were lost by the capture; 7..8 may still come");
  t.equal(r.heldBytes, 8);
  r.segment(7, false, false, bytes("bb"), 7);
  t.equal(sink.text, "aaaa[gap 2]bbccccdddd", "and they did");
  t.equal(budget.usedBytes, 0);

  r.segment(21, false, false, bytes("ffff"), 8); // 17..20 missing
  r.acked(30, 9);
  t.equal(sink.text, "aaaa[gap 2]bbccccdddd[gap 4]ffff", "an ACK past the held data: the hole goes, the held bytes are delivered");
  t.equal(r.heldBytes, 0);
  t.same(r.stats, { retransmittedBytes: 0, outOfOrderSegments: 3, gaps: 2, gapBytes: 6, outOfWindowBytes: 0 });
});

t.test("acked() with nothing held, or across the sequence wrap, does the right thing", async (t) => {
  const { sink, r } = setup();
  r.segment(0xfffffffd, false, false, bytes("ab"), 1); // 0xfffffffd..0xfffffffe
  r.acked(100, 2);
  t.equal(sink.text, "ab", "no hole known: an ACK beyond what was seen is not a gap (the data may not be captured yet)");
  r.segment(2, false, false, bytes("cd"), 3); // held: 0xffffffff, 0, 1 missing
  r.acked(1, 4);
  t.equal(sink.text, "ab[gap 2]", "0xffffffff and 0 acknowledged across the wrap");
  r.acked(3, 5);
  t.equal(sink.text, "ab[gap 2][gap 1]cd");
});

t.test("bytes held ahead of a hole but at or after the FIN are dropped, not delivered at the end", async (t) => {
  const { sink, r, budget } = setup();
  r.segment(100, true, false, new Uint8Array(0), 1); // data from 101
  r.segment(101 + 1000, false, false, bytes("GET /evil HTTP/1.1\r\n\r\n"), 2); // far ahead: held
  r.segment(101 + 996, false, false, bytes("xxxxyy"), 3); // xxxx held before it, yy a copy of held bytes
  t.equal(r.heldBytes, 26);
  r.segment(101, false, true, bytes("GET /real HTTP/1.1\r\n\r\n"), 4); // FIN at 101 + 22
  t.equal(r.heldBytes, 0, "everything held lies after the FIN");
  t.equal(budget.usedBytes, 0, "and its budget is given back");
  r.acked(101 + 23, 5); // the FIN acknowledged
  r.flush(6);
  t.equal(sink.text, "GET /real HTTP/1.1\r\n\r\n", "no gap and no /evil");
  t.equal(r.stats.outOfWindowBytes, 26);
});

t.test("a FIN keeps the held bytes before it and trims the one piece it cuts", async (t) => {
  const { sink, r } = setup();
  r.segment(0, true, false, new Uint8Array(0), 1); // data from 1
  r.segment(5, false, false, bytes("eeff"), 2); // 5..8 held, 1..4 missing
  r.segment(9, false, true, bytes("gg"), 3); // 9..10, FIN at 11: held too
  r.segment(12, false, false, bytes("zz"), 4); // after the FIN: never held
  t.equal(r.heldBytes, 6);
  r.segment(1, false, false, bytes("abcd"), 5);
  t.equal(sink.text, "abcdeeffgg");
  t.equal(r.stats.outOfWindowBytes, 0, "bytes cut off by #accept before the FIN are not counted as held-then-dropped");

  const other = setup();
  other.r.segment(0, true, false, new Uint8Array(0), 1);
  other.r.segment(5, false, false, bytes("eeffgg"), 2); // 5..10 held
  other.r.segment(1, false, true, bytes("abcdee"), 3); // 1..6, FIN at 7: the held piece is cut to 5..6
  t.equal(other.r.heldBytes, 0);
  other.r.flush(4);
  t.equal(other.sink.text, "abcdee");
  t.equal(other.r.stats.outOfWindowBytes, 4, "ffgg, after the FIN");
});

t.test("a segment further ahead than any TCP window (2^30 bytes) is not held", async (t) => {
  const { sink, r, budget } = setup();
  r.segment(0xfffffff0, true, false, new Uint8Array(0), 1); // data from 0xfffffff1, across the wrap
  r.segment((0xfffffff1 + 2 ** 30) >>> 0, false, false, bytes("far"), 2);
  t.equal(r.heldBytes, 0);
  t.equal(budget.usedBytes, 0);
  r.segment((0xfffffff1 + 2 ** 30 - 3) >>> 0, false, false, bytes("near"), 3); // within the window: held
  t.equal(r.heldBytes, 4);
  r.segment(0xfffffff1, false, false, bytes("ab"), 4);
  r.flush(5);
  t.equal(sink.text, `ab[gap ${2 ** 30 - 5}]near`, "the held piece is delivered after a gap; the far one never");
  t.equal(r.stats.outOfWindowBytes, 3);
});

t.test("after a capture hole wider than any window, an ACK as far on resynchronises the stream", async (t) => {
  const { sink, r } = setup();
  r.segment(0, true, false, new Uint8Array(0), 1); // data from 1
  r.segment(1, false, false, bytes("ab"), 2);
  t.notOk(r.wantsAcks, "nothing held, nothing dropped: ACKs are not looked at");
  const far = 3 + 1.5 * 2 ** 30; // the capture missed 1.5 GiB of this direction
  r.segment(far, false, false, bytes("cd"), 3);
  t.equal(r.heldBytes, 0, "beyond any window from where the stream stands: dropped");
  t.ok(r.wantsAcks);
  r.acked(5, 4);
  t.equal(sink.text, "ab", "an ordinary ACK changes nothing");
  r.acked(far + 2, 5);
  r.segment(far + 2, false, false, bytes("ef"), 6);
  t.equal(sink.text, `ab[gap ${1.5 * 2 ** 30 + 2}]ef`, "an ACK as far on: the stream goes on from there");
  t.notOk(r.wantsAcks);
});

t.test("each held piece is charged its overhead too, so tiny segments cannot hold far more than the bounds", async (t) => {
  const budget = new ByteBudget(1000);
  const { r, sink } = setup({ ...roomy, pieceOverhead: 400 }, budget);
  r.segment(0, true, false, new Uint8Array(0), 0);
  r.segment(3, false, false, bytes("c"), 1); // held: 401
  r.segment(5, false, false, bytes("e"), 2); // held: 802
  t.equal(budget.usedBytes, 802);
  t.equal(r.heldBytes, 2, "heldBytes still counts payload");
  r.segment(7, false, false, bytes("g"), 3); // 1203 would pass the budget: the hole before "c" is given up
  t.equal(budget.refusals, 1);
  t.equal(sink.text, "[gap 2]c", "then there is room for g again");
  t.equal(budget.usedBytes, 802);
  r.flush(4);
  t.equal(sink.text, "[gap 2]c[gap 1]e[gap 1]g");
  t.equal(budget.usedBytes, 0, "delivered pieces give back their overhead too");
  const perDirection = setup({ maxOutOfOrderBytes: 500, maxOutOfOrderSegments: 64, pieceOverhead: 400 }, new ByteBudget(1 << 20));
  perDirection.r.segment(0, true, false, new Uint8Array(0), 0);
  perDirection.r.segment(3, false, false, bytes("c"), 1);
  perDirection.r.segment(5, false, false, bytes("e"), 2);
  t.equal(perDirection.sink.text, "[gap 2]c", "the per-direction bound counts the overhead as well: e does not fit beside c");
  t.equal(perDirection.r.heldBytes, 1, "e is held once c is given up on");
});
