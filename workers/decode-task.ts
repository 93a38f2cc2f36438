/**
 * Message shapes between the dispatcher and the decode workers. A task names a batch of ring slots;
 * frame bytes and results stay in shared memory (see core/ring/ring-layout.ts, decode-result.ts).
 */
import type { RingBuffers } from "../core/ring/frame-ring.ts";

/** Given to every worker when it starts (Piscina `workerData`). */
export interface DecodeWorkerData {
  ring: RingBuffers;
  /** A pcap-filter expression to apply to every frame, or null. Already validated by the main thread. */
  filter: string | null;
  /**
   * The main thread's flow hash key (flowHashSeed() in flow-hash.ts), set before the first decode: the
   * main thread hashes the datagrams it reassembles from fragments, and must find the same flows.
   */
  flowHashSeed: number[];
  /** The main thread's HandlerWatch buffer: workers say when a plugin's handler never returns (handler-watch.ts). */
  handlerWatch: SharedArrayBuffer | null;
}

/** One batch: decode slot sequences [start, start + count). */
export interface DecodeTask {
  start: number;
  count: number;
}

/** What a task returns: the worker's thread id (for per-worker statistics) and how many frames the filter rejected. */
export interface DecodeTaskResult {
  threadId: number;
  filteredOut: number;
  /** CPU seconds this thread has used since it started, when the task ended (NaN where unknown). */
  cpu: number;
}
