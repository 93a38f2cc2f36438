import { readlinkSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

/**
 * How much nicer than the rest of the process the helper threads (decode workers, the file reader)
 * run: the main thread is the pipeline's last stage and delivers every event in order, so when the
 * cores are short it is the one that must run. The helpers still get every cycle the main thread
 * leaves (the scheduler gives idle CPU to any nice value), and what they produce waits in the ring.
 * On the 2-core benchmark machine with http-printer: 1.37M -> 1.54M packets/s on the 1M-packet zeek
 * mix, 2.04M -> 2.18M on the 5M one, and 0.1 s less CPU in all (fewer preemptions of the main thread).
 * (Piscina's `niceIncrement` does this for its workers through an optional native module; this does
 * it for any thread, the reader's too, on Node and on Deno.)
 */
export const kHelperThreadNice = 10;

/**
 * The kernel id of the calling thread (Linux: /proc/thread-self links to `PID/task/TID`), or -1 where
 * there is none to find.
 */
export function kernelThreadId(): number {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    return Number.isInteger(tid) && tid > 0 ? tid : -1;
  } catch {
    return -1;
  }
}

/**
 * Makes the calling thread `by` steps nicer than it is (at most 19), so that the process's other
 * threads come first when CPU is short. Linux keeps a nice value per thread, set through its thread
 * id; elsewhere, or when the system refuses, nothing changes. Returns the thread's nice value after,
 * or null when it could not be set.
 */
export function lowerThisThreadPriority(by: number): number | null {
  const tid = kernelThreadId();
  if (tid < 0) return null;
  try {
    const nice = Math.min(19, getPriority(tid) + by);
    setPriority(tid, nice);
    return getPriority(tid);
  } catch {
    return null;
  }
}
