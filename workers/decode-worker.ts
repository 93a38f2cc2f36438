/**
 * The Piscina entry module: the one module that runs inside a decode worker.
 *
 * It attaches to the ring once, keeps one FrameDecoder (with its preallocated layers) for the life of
 * the thread, and decodes whole batches. Nothing here throws on bad packets: decoders report damage
 * in the result record, so a task only fails on a bug, which the pool turns into a clear error.
 */
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
import { kFlagFilteredOut, kResFlags, kResStride } from "./decode-result.ts";
import type { DecodeTask, DecodeTaskResult, DecodeWorkerData } from "./decode-task.ts";
import type { FilterAst, FrameFilter } from "./filter/pcap-filter.ts";
import { threadCpuSeconds } from "../core/runtime/thread-cpu.ts";
import { kHelperThreadNice, lowerThisThreadPriority } from "../core/runtime/thread-priority.ts";

const init = workerData as DecodeWorkerData;
// The main thread delivers what this thread decodes: it comes first when the cores are short.
lowerThisThreadPriority(kHelperThreadNice);
const ring = FrameRing.attach(init.ring);
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

/** Decodes one batch of slots in place. */
export default function decodeBatch(task: DecodeTask): DecodeTaskResult {
  const mask = ring.slotMask;
  const slots = ring.slots;
  let filteredOut = 0;
  for (let i = 0; i < task.count; i++) {
    const index = (task.start + i) & mask;
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
