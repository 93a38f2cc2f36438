import type { Dispatcher } from "./dispatch/dispatcher.ts";
import type { DecodePool } from "./pool/decode-pool.ts";
import type { FrameRing } from "./ring/frame-ring.ts";
import type { FrameProducerHost } from "./sources/file-source.ts";

/** A batch of slots handed to the pool, waiting for its turn to be dispatched. */
interface Batch {
  start: number;
  count: number;
  done: boolean;
  /** Slots of it dispatched so far (a batch is dispatched in slices). */
  dispatched: number;
}

/**
 * Frames dispatched before the event loop gets a turn. Dispatch is synchronous; between slices, sockets
 * write, timers and signals run: a socket-server client subscribed to per-packet events receives a
 * batch's lines while the rest is dispatched, instead of finding its queue full of a whole batch, and ^C
 * is heard within a slice. A turn costs about 2% of the rate of a light run (tcp-count) at 2048 frames;
 * with 4096 (a whole batch), such a client still lost events.
 */
const kSliceFrames = 2048;

/**
 * Connects a frame producer, the decode pool and the dispatcher, and keeps capture order.
 *
 * Batches are submitted as the producer publishes slots and may finish in any order, since several
 * workers decode at once; the pipeline dispatches only the oldest batch, and only once it is done,
 * then releases its slots so the producer can reuse them. Order is therefore the order of the
 * ring, whatever the number of workers.
 */
export class Pipeline implements FrameProducerHost {
  private submitted: number;
  private readonly batches: Batch[] = [];
  private waiters: Array<() => void> = [];
  private failure: Error | null = null;
  private halted = false;
  private resolveStopped: () => void = () => {};
  /** Resolves when the run is asked to stop (a reader abandons a read that may never complete). */
  readonly stopped: Promise<void> = new Promise((resolve) => (this.resolveStopped = resolve));
  /**
   * Live capture: how long frames short of a batch may wait before they are decoded anyway (0: until
   * the batch fills or the end). The timer is armed by the first such frame, not run all the time, so
   * an idle link costs nothing.
   */
  partialFlushMs = 0;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  /** Called for every link type a source announces (filter validation); may throw a usage error. */
  onLinkType: (linktype: number, littleEndian: boolean) => void = () => {};

  constructor(
    readonly ring: FrameRing,
    private readonly pool: DecodePool,
    private readonly dispatcher: Dispatcher,
    private readonly batchSize: number,
  ) {
    this.submitted = ring.head;
  }

  /** True once the run should stop early. */
  get stopping(): boolean {
    return this.halted;
  }


  /** Asks the producer to stop (also a producer thread); what is in flight is still dispatched. */
  stop(): void {
    this.halted = true;
    this.resolveStopped();
    this.ring.requestStop();
    this.wake();
  }


  linkType(linktype: number, littleEndian: boolean): void {
    this.onLinkType(linktype, littleEndian);
  }

  published(head: number): void {
    while (((head - this.submitted) | 0) >= this.batchSize) this.submit(this.batchSize);
    if (this.partialFlushMs > 0 && this.flushTimer === null && ((head - this.submitted) | 0) > 0) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        this.flush();
      }, this.partialFlushMs);
    }
  }

  flush(): void {
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    const n = (this.ring.head - this.submitted) | 0;
    if (n > 0) this.submit(n);
  }

  released(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.halted) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Submits what is left and resolves once every published frame has been dispatched. */
  async drain(): Promise<void> {
    this.flush();
    while (this.batches.length > 0) {
      if (this.failure !== null) throw this.failure;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.failure !== null) throw this.failure;
  }

  private submit(count: number): void {
    const batch: Batch = { start: this.submitted, count, done: false, dispatched: 0 };
    this.batches.push(batch);
    this.submitted = (this.submitted + count) | 0;
    this.pool.run(batch.start, count).then(
      () => {
        batch.done = true;
        this.pump();
      },
      (err: unknown) => this.fail(err),
    );
  }

  /** A turn of the event loop is scheduled, after which dispatch goes on (see kSliceFrames). */
  private yielding = false;

  /**
   * Dispatches the finished batches at the head of the queue, in order, a slice at a time, releasing
   * their slots as it goes; after each slice the event loop gets a turn before the next.
   */
  private pump(): void {
    if (this.yielding) return;
    const batches = this.batches;
    try {
      while (batches.length > 0 && batches[0].done) {
        const b = batches[0];
        const n = Math.min(kSliceFrames, b.count - b.dispatched);
        const from = (b.start + b.dispatched) | 0;
        this.dispatcher.dispatch(from, n);
        b.dispatched += n;
        this.ring.release((from + n) | 0);
        if (b.dispatched === b.count) batches.shift();
        if (batches.length > 0 && batches[0].done) {
          this.yielding = true;
          setImmediate(() => {
            this.yielding = false;
            this.pump();
          });
          break;
        }
      }
    } catch (err) {
      return this.fail(err);
    }
    this.wake();
  }

  private fail(err: unknown): void {
    if (this.failure === null) this.failure = err instanceof Error ? err : new Error(String(err));
    this.halted = true;
    this.resolveStopped();
    this.ring.requestStop();
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    if (w.length === 0) return;
    this.waiters = [];
    for (const resolve of w) resolve();
  }
}
