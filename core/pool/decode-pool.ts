import { Piscina } from "piscina";
import { availableParallelism } from "node:os";
import type { FrameRing } from "../ring/frame-ring.ts";
import type { DecodeTask, DecodeTaskResult, DecodeWorkerData } from "../../workers/decode-task.ts";
import { flowHashSeed } from "../../workers/flow-hash.ts";
import { workerModule } from "./worker-module.ts";

/** How many decode workers: a fixed number, or "auto" (Piscina grows and shrinks between min and max). */
export type WorkerCount = number | "auto";

/** The default worker count: one per core, minus one for the main thread from three cores on. */
export function defaultWorkerCount(): number {
  // One core is left to the main thread (dispatch, flows, plugins) from three cores on. With two, the
  // main thread waits on the decoders part of the time and a decoder sleeps while the main thread
  // works, so two workers share the cores better: +20% with flow-counter on the benchmark captures.
  const cores = availableParallelism();
  return cores <= 2 ? cores : cores - 1;
}

/**
 * The Piscina pool of decode workers. Every worker attaches to the ring's shared memory through
 * `workerData` when it starts, so a task message is only two numbers; the same `workerData` gives it
 * the main thread's flow hash key, so that every thread of the run hashes a flow alike.
 */
export class DecodePool {
  private readonly pool: Piscina<DecodeTask, DecodeTaskResult>;
  /** Tasks completed per worker thread id. */
  readonly tasksByThread = new Map<number, number>();
  /** Per worker thread id: its CPU seconds when the warm-up ended (0 for a thread started later), and at its last task. */
  private readonly cpuByThread = new Map<number, { start: number; last: number }>();
  /** Largest number of threads seen at once (for "auto"). */
  peakThreads = 0;
  readonly minThreads: number;
  readonly maxThreads: number;

  /** Creates the pool; `entry` is the worker module to run (see workerModule()). */
  static async create(ring: FrameRing, workers: WorkerCount, filter: string | null, handlerWatch: SharedArrayBuffer | null = null): Promise<DecodePool> {
    const entry = await workerModule(
      new URL("../../workers/decode-worker.ts", import.meta.url),
      new URL("../../workers/decode-worker.js", import.meta.url),
    );
    return new DecodePool(ring, workers, filter, entry, handlerWatch);
  }

  private constructor(ring: FrameRing, workers: WorkerCount, filter: string | null, entry: string, handlerWatch: SharedArrayBuffer | null) {
    const max = workers === "auto" ? Math.max(1, availableParallelism()) : workers;
    const min = workers === "auto" ? 1 : workers;
    this.minThreads = min;
    this.maxThreads = max;
    const data: DecodeWorkerData = { ring: ring.buffers, filter, flowHashSeed: flowHashSeed(), handlerWatch };
    this.pool = new Piscina({
      filename: entry,
      minThreads: min,
      maxThreads: max,
      // With "auto", Piscina starts threads while tasks queue up and retires a thread that has been
      // idle this long: occupancy drives the size of the pool.
      idleTimeout: workers === "auto" ? 1000 : 60_000,
      workerData: data,
      // The worker entry registers its own TypeScript loader; the parent's flags (a test runner's
      // loaders, --cpu-prof) would only slow every worker's start.
      execArgv: [],
      // Tasks reach a worker as messages on its event loop, not by Atomics.notify: with its default
      // ("sync") Piscina notified for every task, a system call that showed as the most expensive
      // line of submitting a batch, and the workers then waited blocked instead of in their loop. On
      // the 5M-packet zeek mix with http-printer: 5% less CPU in all, 2% less on the main thread.
      atomics: "disabled",
    });
  }

  /**
   * Resolves once the minimum number of workers have started and loaded the decoder, so that the
   * first batch of a capture does not wait for a thread to boot (and the run's rate is the rate).
   */
  async warmUp(): Promise<void> {
    const results = await Promise.all(Array.from({ length: this.minThreads }, () => this.pool.run({ start: 0, count: 0 })));
    for (const r of results) this.cpuByThread.set(r.threadId, { start: r.cpu, last: r.cpu });
  }

  /**
   * CPU seconds each worker thread spent since the warm-up (a thread started later: since it started),
   * as of its last task; empty where the system does not tell.
   */
  cpuSeconds(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [thread, c] of this.cpuByThread) if (Number.isFinite(c.last)) out[thread] = c.last - c.start;
    return out;
  }

  /** Decodes slot sequences [start, start + count). */
  async run(start: number, count: number): Promise<DecodeTaskResult> {
    const result = await this.pool.run({ start, count });
    this.tasksByThread.set(result.threadId, (this.tasksByThread.get(result.threadId) ?? 0) + 1);
    const cpu = this.cpuByThread.get(result.threadId);
    if (cpu !== undefined) cpu.last = result.cpu;
    else this.cpuByThread.set(result.threadId, { start: 0, last: result.cpu });
    const n = this.pool.threads.length;
    if (n > this.peakThreads) this.peakThreads = n;
    return result;
  }

  /** Threads currently alive. */
  get threads(): number {
    return this.pool.threads.length;
  }

  /** Tasks waiting for a free worker. */
  get queued(): number {
    return this.pool.queueSize;
  }


  /** Stops the workers. */
  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
