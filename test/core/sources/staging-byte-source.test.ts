/**
 * StagingByteSource: what a producer pushes from its one reused buffer comes out byte for byte, in
 * order, across the staging ring's wrap; a push that leaves less than a chunk free asks the producer
 * to pause, and reading half of the staging resumes it; discard, end and failure reach the reader.
 */
import t from "tap";
import { StagingByteSource } from "../../../core/sources/byte-source.ts";
import { SeededRandom } from "../../support/seeded-random.ts";

/** A producer that writes each chunk into the same buffer, as a socket with `onread` does. */
function producer(chunkBytes: number) {
  const buffer = new Uint8Array(chunkBytes);
  let resumes = 0;
  let next = 0;
  let paused = false;
  const source = new StagingByteSource(4 * chunkBytes, chunkBytes, () => {
    resumes++;
    paused = false;
  });
  return {
    source,
    get resumes() {
      return resumes;
    },
    get paused() {
      return paused;
    },
    /** Pushes n bytes of the running sequence 0, 1, 2, ... (mod 251); returns what push returned. */
    push(n: number): boolean {
      for (let i = 0; i < n; i++) buffer[i] = next++ % 251;
      const ok = source.push(buffer, n);
      buffer.fill(0xee); // the producer reuses its buffer at once
      if (!ok) paused = true;
      return ok;
    },
  };
}

t.test("bytes come out in order across the wrap, whatever the sizes of pushes and reads", async (t) => {
  const rnd = new SeededRandom(7);
  const p = producer(100);
  const out: number[] = [];
  let pushed = 0;
  const into = new Uint8Array(300);
  for (let round = 0; round < 200; round++) {
    // Push unless paused (push says when to stop, a read that frees half the staging resumes), and
    // now and then read a random amount.
    if (!p.paused) {
      const n = 1 + rnd.below(100);
      p.push(n);
      pushed += n;
    }
    if (p.paused || rnd.below(3) === 0) {
      const got = await p.source.read(into, 5, 1 + rnd.below(250));
      out.push(...into.subarray(5, 5 + got));
    }
  }
  p.source.end();
  for (;;) {
    const got = await p.source.read(into, 0, into.length);
    if (got === 0) break;
    out.push(...into.subarray(0, got));
  }
  t.equal(out.length, pushed, "every byte pushed was read");
  t.ok(
    out.every((b, i) => b === i % 251),
    "in order, none replaced by what the producer wrote into its buffer afterwards",
  );
});

t.test("a push leaving less than a chunk free pauses the producer; reading down to half resumes it", async (t) => {
  const p = producer(100); // staging of 400
  t.equal(p.push(100), true);
  t.equal(p.push(100), true);
  t.equal(p.push(100), true, "100 free after 300: room for one more chunk");
  t.equal(p.push(50), false, "50 free: the producer must pause");
  const into = new Uint8Array(400);
  t.equal(await p.source.read(into, 0, 100), 100);
  t.equal(p.resumes, 0, "250 still staged: more than half");
  t.equal(await p.source.read(into, 0, 50), 50);
  t.equal(p.resumes, 1, "200 staged: resumed");
  t.equal(await p.source.read(into, 0, 50), 50);
  t.equal(p.resumes, 1, "resumed once, not at every read");
});

t.test("a read waits for bytes; the end gives 0 once everything is read", async (t) => {
  const p = producer(16);
  const into = new Uint8Array(64);
  const pending = p.source.read(into, 0, 64);
  setTimeout(() => p.push(10), 5);
  t.equal(await pending, 10, "the waiting read got what came");
  p.push(6);
  p.source.end();
  t.equal(await p.source.read(into, 0, 64), 6, "bytes before the end are still read");
  t.equal(await p.source.read(into, 0, 64), 0);
});

t.test("a failure reaches the reader after the bytes before it", async (t) => {
  const p = producer(16);
  const into = new Uint8Array(64);
  p.push(4);
  p.source.fail(new Error("pipe broke"));
  t.equal(await p.source.read(into, 0, 64), 4);
  await t.rejects(p.source.read(into, 0, 64), /pipe broke/);
});

t.test("discard drops what is staged and what comes, and resumes a paused producer", async (t) => {
  const p = producer(100);
  p.push(100);
  p.push(100);
  p.push(100);
  t.equal(p.push(100), false, "full: paused");
  p.source.discard();
  t.equal(p.resumes, 1, "the producer goes on, so its writer is not left blocked");
  for (let i = 0; i < 10; i++) t.equal(p.push(100), true, "pushes after discard never pause");
  p.source.end();
  t.equal(await p.source.read(new Uint8Array(10), 0, 10), 0, "nothing is left to read");
});

t.test("a chunk larger than half the staging is refused when the source is made; a push past the free room throws", async (t) => {
  t.throws(() => new StagingByteSource(100, 51, () => {}), /at most half/);
  const s = new StagingByteSource(100, 50, () => {});
  t.equal(s.push(new Uint8Array(60), 60), false);
  t.throws(() => s.push(new Uint8Array(50), 50), /50 bytes pushed with 40 free/);
});
