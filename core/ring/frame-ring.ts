import {
  kCtlPageEnds,
  kCtlSlotHead,
  kCtlSlotTail,
  kCtlStop,
  kCtlStride,
  kCtlDoorbell,
  kCtlWaiting,
  kCtlWantTail,
  kMinRingBytes,
  kSlotStride,
} from "./ring-layout.ts";
import { kResultStride } from "../../workers/decode-result.ts";

/** The SharedArrayBuffers of one ring: what a worker needs to attach to it. */
export interface RingBuffers {
  data: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  results: SharedArrayBuffer;
  control: SharedArrayBuffer;
  pageSize: number;
  pageCount: number;
  slotCount: number;
}

/** Chooses page and slot counts for a ring of `ringBytes` data bytes. */
export function ringGeometry(ringBytes: number): { pageSize: number; pageCount: number; slotCount: number } {
  if (!Number.isFinite(ringBytes) || ringBytes < kMinRingBytes) {
    throw new RangeError(
      `Cannot create the ring: --ring-size must be at least ${kMinRingBytes} bytes (1M): current value is ${ringBytes}`,
    );
  }
  // Pages of about 4 MiB: big enough for one file read to be worth its system call and for the
  // room each page keeps for a record cut by the previous page (see file-source.ts) to cost little,
  // small enough that a page is released soon after the dispatcher has delivered it.
  const pageCount = Math.min(64, Math.max(2, Math.floor(ringBytes / (4 << 20))));
  const pageSize = Math.floor(ringBytes / pageCount / 8) * 8;
  // One slot per 256 bytes of data: minimum-size frames in a full ring run out of slots first, which
  // only makes the producer wait (file) or drop (live) a little earlier.
  let slotCount = 1024;
  while (slotCount * 2 <= ringBytes / 256 && slotCount < 1 << 18) slotCount *= 2;
  return { pageSize, pageCount, slotCount };
}

/**
 * A ring of frames in shared memory: pages of frame bytes, a power-of-two array of slot descriptors
 * and, per slot, the decode result a worker writes. See ring-layout.ts for the field indices.
 *
 * Page protocol (why pages): a producer writes frames contiguously into its current page; when the
 * next frame does not fit it records `pageEnd[p] = head` (the first slot sequence NOT in page p) and
 * moves on to page p+1, which it may reuse only once the consumer's tail has passed `pageEnd[p+1]`.
 * This keeps every frame contiguous and makes "is this memory still referenced?" one comparison,
 * whatever the frame sizes. The page ends live in the shared control block so that a producer in
 * another thread (live capture) follows the same rule with Atomics.
 */
export class FrameRing {
  /** Frame bytes. */
  readonly data: Uint8Array;
  /** The same bytes, for multi-byte reads. */
  readonly view: DataView;
  /** Slot descriptors, kSlotStride per slot. */
  readonly slots: Int32Array;
  /** Decode results, kResultStride per slot. */
  readonly results: Int32Array;
  /** Cross-thread counters and page ends. */
  readonly control: Int32Array;
  readonly pageSize: number;
  readonly pageCount: number;
  readonly slotCount: number;
  readonly slotMask: number;
  readonly buffers: RingBuffers;

  private constructor(buffers: RingBuffers) {
    this.buffers = buffers;
    this.data = new Uint8Array(buffers.data);
    this.view = new DataView(buffers.data);
    this.slots = new Int32Array(buffers.slots);
    this.results = new Int32Array(buffers.results);
    this.control = new Int32Array(buffers.control);
    this.pageSize = buffers.pageSize;
    this.pageCount = buffers.pageCount;
    this.slotCount = buffers.slotCount;
    this.slotMask = buffers.slotCount - 1;
  }

  /** Allocates a ring with `ringBytes` bytes of frame data. */
  static create(ringBytes: number): FrameRing {
    const { pageSize, pageCount, slotCount } = ringGeometry(ringBytes);
    return new FrameRing({
      data: new SharedArrayBuffer(pageSize * pageCount),
      slots: new SharedArrayBuffer(slotCount * kSlotStride * 4),
      results: new SharedArrayBuffer(slotCount * kResultStride * 4),
      control: new SharedArrayBuffer((kCtlStride + pageCount) * 4),
      pageSize,
      pageCount,
      slotCount,
    });
  }

  /** Attaches to a ring created in another thread. */
  static attach(buffers: RingBuffers): FrameRing {
    return new FrameRing(buffers);
  }

  /** Sequence number of the next slot the producer will fill. */
  get head(): number {
    return Atomics.load(this.control, kCtlSlotHead);
  }

  /** Sequence number of the oldest slot not yet released by the consumer. */
  get tail(): number {
    return Atomics.load(this.control, kCtlSlotTail);
  }

  /** Slots published and not yet released. */
  get inFlight(): number {
    return (this.head - this.tail) | 0;
  }

  /** True when page `page` holds no frame the consumer still needs. */
  pageIsFree(page: number): boolean {
    return ((this.tail - this.pageEnd(page)) | 0) >= 0;
  }

  /** Marks page `page` as ending before slot sequence `endSeq` (called by the producer when it leaves the page). */
  closePage(page: number, endSeq: number): void {
    Atomics.store(this.control, kCtlPageEnds + page, endSeq);
  }

  /** Publishes slots up to (not including) sequence `head`. */
  publish(head: number): void {
    Atomics.store(this.control, kCtlSlotHead, head);
  }

  /** The slot sequence that ends page `page`: it is free once the tail reaches it (see pageIsFree). */
  pageEnd(page: number): number {
    return Atomics.load(this.control, kCtlPageEnds + page);
  }

  /**
   * Releases slots up to (not including) sequence `tail`: their frames and pages may be reused. A
   * producer thread waiting for room sleeps on this word; it is woken only when it sleeps and the
   * tail has reached what it waits for, as a notify (a system call, and a thread switch on a busy
   * machine) costs more than the rest of a release, and a page frees only every few releases.
   */
  release(tail: number): void {
    const c = this.control;
    Atomics.store(c, kCtlSlotTail, tail);
    if (Atomics.load(c, kCtlWaiting) !== 0 && ((tail - Atomics.load(c, kCtlWantTail)) | 0) >= 0) this.ringDoorbell();
  }

  /**
   * Sleeps (in a producer thread) until the consumer's tail reaches sequence `until` or it asks to
   * stop, at most `ms`. The thread sleeps on a doorbell word that release() and requestStop() bump
   * when they wake it, read before anything is checked: a wake-up that comes after that read, before
   * the thread is asleep, changes the word, and the wait returns at once. What it waits for and the
   * waiting flag go up before it looks at the tail, so a release either sees them or is seen.
   */
  waitForRelease(until: number, ms: number): void {
    const c = this.control;
    const bell = Atomics.load(c, kCtlDoorbell);
    Atomics.store(c, kCtlWantTail, until);
    Atomics.store(c, kCtlWaiting, 1);
    const tail = Atomics.load(c, kCtlSlotTail);
    if (((tail - until) | 0) < 0 && !this.stopRequested) Atomics.wait(c, kCtlDoorbell, bell, ms);
    Atomics.store(c, kCtlWaiting, 0);
  }

  /** Tells a producer thread to stop (and wakes it if it waits for room). */
  requestStop(): void {
    Atomics.store(this.control, kCtlStop, 1);
    this.ringDoorbell();
  }

  /** Wakes a producer thread sleeping in waitForRelease. */
  private ringDoorbell(): void {
    Atomics.add(this.control, kCtlDoorbell, 1);
    Atomics.notify(this.control, kCtlDoorbell);
  }

  /** True once the consumer asked the producer to stop. */
  get stopRequested(): boolean {
    return Atomics.load(this.control, kCtlStop) !== 0;
  }
}
