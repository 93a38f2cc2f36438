import { readSync } from "node:fs";

/** A stream of capture-file bytes: a file, stdin, or the output of a live capture process. */
export interface ByteSource {
  /** Reads up to `length` bytes into `into` at `offset`; resolves with the count, 0 at the end. */
  read(into: Uint8Array, offset: number, length: number): Promise<number>;
}

/**
 * A regular file read with blocking reads, from its start. A read of a file in the page cache is a
 * memory copy that completes at once, and it leaves the bytes in this core's cache for the parser.
 */
export class SyncFdByteSource implements ByteSource {
  private position = 0;
  constructor(private readonly fd: number) {}

  read(into: Uint8Array, offset: number, length: number): Promise<number> {
    const n = readSync(this.fd, into, offset, length, this.position);
    this.position += n;
    return Promise.resolve(n);
  }
}

/** The part of a Node.js readable stream a QueueByteSource needs. */
export interface ChunkStream {
  on(event: "data", fn: (chunk: Uint8Array) => void): unknown;
  on(event: "end" | "close", fn: () => void): unknown;
  on(event: "error", fn: (err: Error) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/**
 * What the byte sources a producer pushes into share: the end of the stream, a failure, and a reader
 * waiting for bytes.
 */
abstract class PushedByteSource implements ByteSource {
  private ended = false;
  private failure: Error | null = null;
  private waiting: (() => void) | null = null;

  abstract read(into: Uint8Array, offset: number, length: number): Promise<number>;

  /** True when bytes wait to be read. */
  protected abstract available(): boolean;

  /** No more bytes will come. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** The producer failed: the reader gets `err` once the bytes before it are read. */
  fail(err: Error): void {
    this.failure = err;
    this.end();
  }

  /** Resolves true once bytes wait, false at the end of the stream; rejects with its failure. */
  protected async waitForBytes(): Promise<boolean> {
    while (!this.available()) {
      if (this.failure !== null) throw this.failure;
      if (this.ended) return false;
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
    return true;
  }

  /** Bytes came, or the end: a waiting reader goes on. */
  protected wake(): void {
    const w = this.waiting;
    this.waiting = null;
    w?.();
  }
}

/**
 * Bytes that arrive as chunks (a child's stdout, worker messages), handed out on demand. At most
 * `maxQueued` bytes wait here: beyond, the stream is paused, so the producer sees backpressure
 * (a live capture process then drops and counts frames instead of queueing without bound).
 * Chunks pushed by hand cannot be paused: `onConsumed` then hears how many bytes each read handed
 * out, so that a producer in another thread can bound what it has sent but not seen consumed.
 */
export class QueueByteSource extends PushedByteSource {
  private readonly chunks: Uint8Array[] = [];
  private queued = 0;
  private paused = false;
  private discarding = false;

  constructor(
    private readonly maxQueued: number,
    private readonly stream?: ChunkStream,
    private readonly onConsumed?: (bytes: number) => void,
  ) {
    super();
    if (stream !== undefined) {
      stream.on("data", (chunk) => this.push(chunk));
      stream.on("end", () => this.end());
      stream.on("close", () => this.end());
      stream.on("error", (err) => this.fail(err));
    }
  }

  /** Adds bytes (the caller must not change them afterwards). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.discarding) {
      this.onConsumed?.(chunk.length);
      return;
    }
    this.chunks.push(chunk);
    this.queued += chunk.length;
    if (this.queued >= this.maxQueued && this.stream !== undefined && !this.paused) {
      this.paused = true;
      this.stream.pause();
    }
    this.wake();
  }

  /**
   * The reader is done: what is queued and whatever still comes is thrown away, and the stream flows
   * again, so that its writer is not left blocked on a full pipe.
   */
  discard(): void {
    this.discarding = true;
    this.onConsumed?.(this.queued);
    this.chunks.length = 0;
    this.queued = 0;
    if (this.paused) {
      this.paused = false;
      this.stream!.resume();
    }
  }

  protected available(): boolean {
    return this.chunks.length > 0;
  }

  async read(into: Uint8Array, offset: number, length: number): Promise<number> {
    if (!this.available() && !(await this.waitForBytes())) return 0;
    let n = 0;
    while (n < length && this.chunks.length > 0) {
      const c = this.chunks[0];
      const k = Math.min(c.length, length - n);
      into.set(k === c.length ? c : c.subarray(0, k), offset + n);
      n += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.queued -= n;
    this.onConsumed?.(n);
    if (this.paused && this.queued < this.maxQueued / 2) {
      this.paused = false;
      this.stream!.resume();
    }
    return n;
  }
}

/**
 * Bytes a producer hands over from a buffer it reuses (a socket reading with `onread`), copied into a
 * fixed staging ring until the reader takes them: no allocation per read. A Node stream allocates a
 * new buffer for every read of a pipe instead, and at hundreds of megabytes a second of live capture
 * that memory, held outside the JavaScript heap, set off a full garbage collection several times a
 * second on the main thread.
 */
export class StagingByteSource extends PushedByteSource {
  private readonly staging: Uint8Array;
  /** Where the oldest byte not yet read sits in `staging`, and how many bytes wait. */
  private readAt = 0;
  private queued = 0;
  private discarding = false;
  /** The producer was told to pause (push returned false) and waits for `resume`. */
  private paused = false;

  /**
   * `capacity`: bytes of staging; `chunkBytes`: the most one push brings, so that a push is refused
   * (the producer pauses) while less than that is free; `resume`: makes a paused producer go on.
   */
  constructor(
    capacity: number,
    private readonly chunkBytes: number,
    private readonly resume: () => void,
  ) {
    super();
    if (chunkBytes > capacity / 2) throw new RangeError("StagingByteSource: a chunk must be at most half the staging");
    this.staging = new Uint8Array(capacity);
  }

  /** Copies bytes[0, n) in; false when the producer should pause until `resume` is called. */
  push(bytes: Uint8Array, n: number): boolean {
    if (this.discarding || n <= 0) return true;
    const s = this.staging;
    const cap = s.length;
    // A producer that goes on after it was told to pause would overwrite bytes not read yet.
    if (n > cap - this.queued) throw new RangeError(`StagingByteSource: ${n} bytes pushed with ${cap - this.queued} free`);
    const writeAt = (this.readAt + this.queued) % cap;
    const first = Math.min(n, cap - writeAt);
    s.set(first === bytes.length ? bytes : bytes.subarray(0, first), writeAt);
    if (first < n) s.set(bytes.subarray(first, n), 0);
    this.queued += n;
    this.wake();
    if (cap - this.queued < this.chunkBytes) {
      this.paused = true;
      return false;
    }
    return true;
  }

  /**
   * The reader is done: what is staged and whatever still comes is thrown away, and the producer goes
   * on, so that its writer is not left blocked on a full pipe.
   */
  discard(): void {
    this.discarding = true;
    this.queued = 0;
    this.unpause();
  }

  protected available(): boolean {
    return this.queued > 0;
  }

  async read(into: Uint8Array, offset: number, length: number): Promise<number> {
    if (!this.available() && !(await this.waitForBytes())) return 0;
    const s = this.staging;
    const cap = s.length;
    const n = Math.min(length, this.queued);
    const first = Math.min(n, cap - this.readAt);
    into.set(s.subarray(this.readAt, this.readAt + first), offset);
    if (first < n) into.set(s.subarray(0, n - first), offset + first);
    this.readAt = (this.readAt + n) % cap;
    this.queued -= n;
    if (this.queued === 0) this.readAt = 0;
    if (this.paused && this.queued <= cap / 2) this.unpause();
    return n;
  }

  private unpause(): void {
    if (!this.paused) return;
    this.paused = false;
    this.resume();
  }
}
