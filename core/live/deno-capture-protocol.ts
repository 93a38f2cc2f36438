/**
 * What the host's main thread and the Deno capture worker (deno-capture-worker.ts) say to each other:
 * the message shapes, and the fields of the shared control block.
 *
 * ```
 *  main thread                                        capture worker (a loop around pcap_next_ex)
 *  ───────────                                        ───────────────────────────────────────────
 *  postMessage(start: options, control) ───────────►  opens libpcap
 *            ◄──────────────────────────────────────  open { linktype } | error { kind, message }
 *            ◄──────────────────────────────────────  chunk { bytes (transferred), counters } ...
 *  QueueByteSource hands bytes to the host;           stats { counters } every 500 ms
 *    Atomics.sub(control[kQueuedBytes], n)            adds each chunk's length to kQueuedBytes
 *  stop(): Atomics.store(control[kStopRequested], 1)  sees it after its current wait, reads what
 *                                                     the kernel still holds, flushes,
 *            ◄──────────────────────────────────────  end { counters, error } after pcap_close
 * ```
 *
 * Why shared memory and not messages for the two control fields: the worker spends its life inside
 * synchronous FFI calls and never returns to its event loop, so it could not receive a message.
 */
import type { LiveCaptureOptions, LiveCaptureStats, LiveErrorKind } from "./live-capture.ts";

// Control block fields: an Int32Array over a SharedArrayBuffer of kControlInts entries.

/**
 * Written by the main thread (0 → 1, once, then Atomics.notify), read by the worker between
 * pcap_next_ex calls; a worker without poll(2) sleeps on it with Atomics.wait.
 */
export const kStopRequested = 0;
/**
 * Bytes the worker has posted that the host has not consumed yet. The worker adds a chunk's length
 * before posting it; the main thread subtracts what QueueByteSource hands out. Adding first means the
 * counter never goes below zero, and the worker's reading of it can only overestimate the backlog,
 * so the bound holds (frames are dropped a little early, never late).
 */
export const kQueuedBytes = 1;
export const kControlInts = 2;

/** Main → worker, once: what to capture, and the control block. */
export interface CaptureStartMessage {
  type: "start";
  options: LiveCaptureOptions;
  control: SharedArrayBuffer;
}

/** Worker → main: the capture opened; `warning` is libpcap's when pcap_activate succeeded with one. */
export interface CaptureOpenMessage {
  type: "open";
  linktype: number;
  warning: string | null;
}

/** Worker → main: the capture could not open (the host then terminates the worker). */
export interface CaptureErrorMessage {
  type: "error";
  kind: LiveErrorKind;
  message: string;
}

/** Worker → main: bytes of the pcap stream (the first chunk starts with the file header). */
export interface CaptureChunkMessage {
  type: "chunk";
  bytes: ArrayBuffer;
  counters: LiveCaptureStats;
}

/** Worker → main, every 500 ms: the counters, with the kernel's drops (they reach the host on a quiet link too). */
export interface CaptureStatsMessage {
  type: "stats";
  counters: LiveCaptureStats;
}

/** Worker → main, last: every chunk was posted and the handle is closed; `error` if libpcap failed mid-capture. */
export interface CaptureEndMessage {
  type: "end";
  counters: LiveCaptureStats;
  error: string | null;
}

/** Any message the capture worker posts. */
export type CaptureWorkerMessage = CaptureOpenMessage | CaptureErrorMessage | CaptureChunkMessage | CaptureStatsMessage | CaptureEndMessage;
