/**
 * The Piscina entry module: the one module that runs inside a decode worker.
 *
 * It attaches to the ring once, keeps one FrameDecoder (with its preallocated layers) for the life of
 * the thread, and decodes whole batches. Nothing here throws on bad packets: decoders report damage
 * in the result record, so a task only fails on a bug, which the pool turns into a clear error.
 */
import { pid } from "node:process";
import { threadId, workerData } from "node:worker_threads";
import { FrameRing } from "../core/ring/frame-ring.ts";
import {
  kByteOrderBig,
  kCtlByteOrder,
  kSlotCapLen,
  kSlotLinkType,
  kSlotOffset,
  kSlotStride,
  kSlotWireLen,
} from "../core/ring/ring-layout.ts";
import { FrameDecoder } from "./decode-frame.ts";
import { setFlowHashSeed } from "./flow-hash.ts";
import { kFlagFilteredOut, kResFlags, kResStride } from "./decode-result.ts";
import type { DecodeTask, DecodeTaskResult, DecodeWorkerData } from "./decode-task.ts";
import type { FilterAst, FrameFilter } from "./filter/pcap-filter.ts";
import { threadCpuSeconds } from "../core/runtime/thread-cpu.ts";
import { watchForStuckHandlers } from "../core/plugins/handler-watch.ts";
import { kHelperThreadNice, lowerThisThreadPriority } from "../core/runtime/thread-priority.ts";

const init = workerData as DecodeWorkerData;
// The main thread delivers what this thread decodes: it comes first when the cores are short.
lowerThisThreadPriority(kHelperThreadNice);
// Before any frame is hashed: this thread's hashes must be the main thread's (see flow-hash.ts).
setFlowHashSeed(init.flowHashSeed);
const ring = FrameRing.attach(init.ring);
// Idle while the main thread is stuck in a plugin's handler: this thread can say so.
if (init.handlerWatch !== null) watchForStuckHandlers(init.handlerWatch, pid);
const decoder = new FrameDecoder(ring.data, ring.slots, ring.results);
// The filter compiler is loaded only when a filter is given.
const filterModule = init.filter === null ? null : await import("./filter/pcap-filter.ts");
const filterAst: FilterAst | null = filterModule === null ? null : filterModule.parseFilter(init.filter!);
// Compiled lazily per link type: a pcapng file may mix link types, and each needs its own offsets.
const filters = new Map<number, FrameFilter | null>();
const result: DecodeTaskResult = { threadId, filteredOut: 0, cpu: 0 };

function filterFor(linktype: number): FrameFilter | null {
  let f = filters.get(linktype);
  if (f === undefined) {
    try {
      // A loopback header's address family is read in the file's byte order, as libpcap does.
      const order = Atomics.load(ring.control, kCtlByteOrder) === kByteOrderBig ? "big" : "little";
      f = filterModule!.compileFilter(filterAst!, linktype, order);
    } catch {
      // The main thread refuses an expression that cannot apply to a link type before any of its
      // frames is published; reaching this means a frame of another link type: it cannot match.
      f = null;
    }
    filters.set(linktype, f);
  }
  return f;
}

/**
 * Frames whose headers are read ahead in one go (see touchHeaders), a group at a time.
 *
 * The first read of a frame's header is a cache miss: the reader thread (or the kernel, for a live
 * capture) wrote those bytes on another core, and decoding stalls on it. The misses of frames read
 * back to back do not wait for each other, so a group of them costs about what one costs; decoding a
 * frame between two such reads does not help (it is longer than the CPU looks ahead). With one decode
 * worker and a plugin that counts tcp events (medians of 7 runs, each against the code without this):
 * synthetic 1M capture, decoding 0.30-0.32 s of CPU -> 0.23-0.25 s, 2.22-2.36M -> 2.68M frames/s;
 * zeek mix 1M, 0.22 -> 0.20 s, 2.64M -> 3.09M frames/s.
 */
const kTouchGroup = 8;
/** What touchHeaders read, kept so that the compiler cannot drop those reads. */
let touched = 0;

/** Reads the first byte and the 64th (or last) of the frames of sequence [from, to): see kTouchGroup. */
function touchHeaders(from: number, to: number): void {
  const slots = ring.slots;
  const data = ring.data;
  const mask = ring.slotMask;
  let sum = touched;
  for (let seq = from; seq !== to; seq = (seq + 1) | 0) {
    const s = (seq & mask) * kSlotStride;
    const off = slots[s + kSlotOffset];
    sum = (sum + data[off] + data[off + Math.max(0, Math.min(63, slots[s + kSlotCapLen] - 1))]) | 0;
  }
  touched = sum;
}

/** Decodes one batch of slots in place. */
export default function decodeBatch(task: DecodeTask): DecodeTaskResult {
  const mask = ring.slotMask;
  const slots = ring.slots;
  const count = task.count;
  let filteredOut = 0;
  // The first two groups now, then each group while the one before it is decoded.
  touchHeaders(task.start, (task.start + Math.min(count, 2 * kTouchGroup)) | 0);
  for (let i = 0; i < count; i++) {
    const index = (task.start + i) & mask;
    if (i % kTouchGroup === 0 && i > 0 && i + kTouchGroup < count) {
      touchHeaders((task.start + i + kTouchGroup) | 0, (task.start + Math.min(count, i + 2 * kTouchGroup)) | 0);
    }
    if (filterAst !== null) {
      const s = index * kSlotStride;
      const f = filterFor(slots[s + kSlotLinkType]);
      if (f === null || !f(ring.data, slots[s + kSlotOffset], slots[s + kSlotCapLen], slots[s + kSlotWireLen])) {
        // A rejected frame is not decoded at all: that is what makes filtering cheaper than not.
        ring.results[index * kResStride + kResFlags] = kFlagFilteredOut;
        filteredOut++;
        continue;
      }
    }
    decoder.decodeSlot(index);
  }
  result.filteredOut = filteredOut;
  result.cpu = threadCpuSeconds();
  return result;
}
