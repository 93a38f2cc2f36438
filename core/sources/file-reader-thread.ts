/**
 * The reader thread: reads a capture file into the ring and parses its records, off the main thread.
 *
 * Reading a file costs a memory copy (the read) and a cache miss per record (its header); done on the
 * main thread, that was half of the main thread's time. Here a blocking read brings a page into this
 * core's cache and the parser walks it right away, while the main thread only dispatches.
 *
 * Protocol with the main thread (threaded-file-source.ts):
 *  - slots are published in the ring's control block (Atomics) as FileSource always does; after each
 *    page this thread posts {type:"published", head} so that the main thread submits decode batches;
 *  - when the ring is full it posts {type:"flush"} (decode what is there, even a partial batch) and
 *    sleeps on the ring's tail word until the main thread releases slots (FrameRing.release notifies);
 *  - the main thread asks it to stop through the control block (FrameRing.requestStop);
 *  - it posts {type:"ready"} once loaded and starts reading on the main thread's first message;
 *  - it ends with {type:"done"} or {type:"error", ...}; link types go out as {type:"linktype"} before
 *    any of their frames is published, and progress as {type:"progress"}.
 */
import { parentPort, workerData } from "node:worker_threads";
import { FrameRing, type RingBuffers } from "../ring/frame-ring.ts";
import { CaptureFileError } from "./capture-record.ts";
import { FileSource, type FrameProducerHost } from "./file-source.ts";
import { threadCpuSeconds } from "../runtime/thread-cpu.ts";
import { kHelperThreadNice, lowerThisThreadPriority } from "../runtime/thread-priority.ts";

/** What the main thread gives the reader thread. */
export interface ReaderThreadData {
  ring: RingBuffers;
  path: string;
}

/** Messages from the reader thread. */
export type ReaderMessage =
  | { type: "ready" }
  | { type: "published"; head: number; bytesRead: number; size: number; packets: number }
  | { type: "flush" }
  | { type: "linktype"; linktype: number; littleEndian: boolean }
  | { type: "done"; cpu: number }
  | { type: "error"; file: string; offset: number; problem: string; advice: string; cpu: number }
  | { type: "failure"; message: string };

const init = workerData as ReaderThreadData;
// The main thread consumes what this thread reads: it comes first when the cores are short (the
// ring holds what is read ahead meanwhile).
lowerThisThreadPriority(kHelperThreadNice);
const ring = FrameRing.attach(init.ring);
const post = (msg: ReaderMessage) => parentPort!.postMessage(msg);
let source: FileSource;

const host: FrameProducerHost = {
  ring,
  published(head) {
    const p = source.progress;
    post({ type: "published", head, bytesRead: p.bytesRead, size: p.size, packets: p.packets });
  },
  flush() {
    post({ type: "flush" });
  },
  released(until) {
    // This thread has nothing else to do while the ring is full: sleep until the main thread's
    // releases reach `until` or it asks this thread to stop. A blocking wait also keeps the thread
    // alive, where a pending Atomics.waitAsync would let its event loop run dry and exit.
    ring.waitForRelease(until, 100);
    return Promise.resolve();
  },
  get stopping() {
    return ring.stopRequested;
  },
  linkType(linktype, littleEndian) {
    post({ type: "linktype", linktype, littleEndian });
  },
};

source = new FileSource(init.path, host, init.path, { ownThread: true });
// Loaded: say so, and start when told (so that a run's clock does not count this thread's start).
post({ type: "ready" });
await new Promise((resolve) => parentPort!.once("message", resolve));
// CPU seconds of this thread's reading, for --stats.
const cpuAtStart = threadCpuSeconds();
try {
  await source.run();
  post({ type: "done", cpu: threadCpuSeconds() - cpuAtStart });
} catch (err) {
  if (err instanceof CaptureFileError) {
    post({ type: "error", file: err.file, offset: err.offset, problem: err.problem, advice: err.advice, cpu: threadCpuSeconds() - cpuAtStart });
  }
  else post({ type: "failure", message: err instanceof Error ? err.message : String(err) });
}
