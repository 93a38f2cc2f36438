/**
 * A producer thread sleeping for room in the ring is woken when the consumer's tail reaches what it
 * waits for, not by every release before that (each wake-up is a system call and a thread switch),
 * and by a stop request.
 */
import t from "tap";
import type { Worker } from "node:worker_threads";
import { FrameRing } from "../../core/ring/frame-ring.ts";
import { moduleThread } from "../support/module-thread.ts";

const ringModule = new URL("../../core/ring/frame-ring.ts", import.meta.url);

/** A thread that waits once for the tail to reach `until` (at most `ms`) and posts how long it slept. */
function sleeper(ring: FrameRing, until: number, ms: number): Worker {
  return moduleThread(
    ringModule,
    `const ring = m.FrameRing.attach(workerData.buffers);
     parentPort.postMessage("sleeping");
     const start = Date.now();
     ring.waitForRelease(workerData.until, workerData.ms);
     parentPort.postMessage(Date.now() - start);`,
    { buffers: ring.buffers, until, ms },
  );
}

function next(w: Worker): Promise<unknown> {
  return new Promise((resolve, reject) => {
    w.once("message", resolve);
    w.once("error", reject);
  });
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test("releases short of what the producer waits for leave it asleep; reaching it wakes it at once", async (t) => {
  const ring = FrameRing.create(1 << 20);
  const w = sleeper(ring, 100, 10_000);
  t.teardown(() => w.terminate());
  t.equal(await next(w), "sleeping");
  const woke = next(w);
  let early = false;
  void woke.then(() => (early = true));
  for (const tail of [10, 50, 99]) {
    await delay(100);
    ring.release(tail);
  }
  await delay(300);
  t.equal(early, false, "still asleep with the tail at 99");
  const released = Date.now();
  ring.release(100);
  const slept = (await woke) as number;
  t.ok(Date.now() - released < 2000, "woken by the release that reached 100");
  t.ok(slept < 5000, `slept ${slept} ms, not until its timeout`);
});

t.test("a producer whose tail is already there does not sleep", async (t) => {
  const ring = FrameRing.create(1 << 20);
  ring.release(200);
  const w = sleeper(ring, 150, 10_000);
  t.teardown(() => w.terminate());
  t.equal(await next(w), "sleeping");
  t.ok(((await next(w)) as number) < 1000);
});

t.test("a stop request wakes a sleeping producer", async (t) => {
  const ring = FrameRing.create(1 << 20);
  const w = sleeper(ring, 100, 10_000);
  t.teardown(() => w.terminate());
  t.equal(await next(w), "sleeping");
  await delay(100);
  ring.requestStop();
  t.ok(((await next(w)) as number) < 5000, "woken before its timeout");
});
