import { close, createReadStream, fstat, open } from "node:fs";
import type { FrameRing } from "../ring/frame-ring.ts";
import {
  kByteOrderBig,
  kByteOrderLittle,
  kCtlByteOrder,
  kSlotCapLen,
  kSlotInterface,
  kSlotLinkType,
  kSlotOffset,
  kSlotStride,
  kSlotTsNsec,
  kSlotTsSec,
  kSlotTsSecHigh,
  kSlotWireLen,
} from "../ring/ring-layout.ts";
import {
  type CaptureFormat,
  CaptureFileError,
  CaptureRecord,
  kRecordNeedMore,
  kRecordPacket,
} from "./capture-record.ts";
import { type ByteSource, QueueByteSource, SyncFdByteSource } from "./byte-source.ts";
import { isPcapMagic, PcapFormat } from "./pcap-format.ts";
import { UsageError } from "../usage-error.ts";
import { isPcapngMagic, PcapngFormat } from "./pcapng-format.ts";

/** The side of the pipeline a frame producer talks to. */
export interface FrameProducerHost {
  readonly ring: FrameRing;
  /** Slots up to sequence `head` are filled: submit the full batches among them for decoding. */
  published(head: number): void;
  /** Submit everything published, even a partial batch: the producer is about to wait. */
  flush(): void;
  /**
   * Resolves when the consumer has released slots, or the run is stopping. `until`: the tail the
   * producer needs (it checks again itself); a producer thread is not woken before it.
   */
  released(until: number): Promise<void>;
  /** True once the run should stop early (-c reached, a signal): the producer returns. */
  readonly stopping: boolean;
  /** Resolves when the run is asked to stop (to abandon a read that may never complete). */
  readonly stopped?: Promise<void>;
  /**
   * Called once per interface link type the source discovers, with the file's byte order, before any
   * frame of that link type is published.
   */
  linkType(linktype: number, littleEndian: boolean): void;
}

/** Progress of a file read, for the terminal progress line. */
export interface ReadProgress {
  bytesRead: number;
  /** File size, or 0 when unknown (stdin, a pipe). */
  size: number;
  packets: number;
}

/**
 * Reads a pcap or pcapng file (or stdin, as "-", or any byte stream) straight into the ring's pages:
 * file bytes are read into shared memory once and slots point at the frames where they landed, so no
 * frame is copied.
 *
 * ```
 *  page k                                       page k+1
 *  ┌──────────────────────────────────┬──────┐  ┌──────┬──────────────────────────────
 *  │ rec rec rec rec rec rec rec rec  │ rec… │  │ …rec │ rec rec rec ...
 *  └──────────────────────────────────┴──▲───┘  └──▲───┴──────────────────────────────
 *             the record cut by the page end ──────┘ moves to the start of the next page
 * ```
 *
 * A page is filled by as many reads as it takes; the unparsed tail of a full page (a record cut by
 * the page end) is copied to the start of the next page, which must first be free of frames the
 * consumer still reads. So reading never drops a frame, and memory stays at the ring's size whatever
 * the file's. Regular files are read by a reader thread of their own (threaded-file-source.ts) with
 * synchronous reads, so that the bytes a read brings into the cache are parsed right there.
 */
/** How a FileSource hands frames over. */
export interface FileSourceOptions {
  /**
   * The source runs in a thread of its own (the reader thread): no need to yield to an event loop
   * between reads, nor to hand over partial batches after each read (it does when it must wait).
   */
  ownThread?: boolean;
  /**
   * Hand over a partial batch after every read (default true), so a pipe's frames are decoded as they
   * come. A live capture turns it off: its host flushes on a timer, and a batch per pipe read (a few
   * dozen frames) would cost a pool round trip each on a busy link.
   */
  flushEachRead?: boolean;
}

export class FileSource {
  /** Where the file's bytes stand: how much was read, its size, how many packets. */
  readonly progress: ReadProgress = { bytesRead: 0, size: 0, packets: 0 };
  private format: CaptureFormat | null = null;
  private readonly rec = new CaptureRecord();
  private readonly ring: FrameRing;
  private readonly ownThread: boolean;
  private readonly flushEachRead: boolean;
  // Parse state, carried from page to page.
  private head: number;
  private readonly startHead: number;
  private freeSlots = 0;
  /** Bytes still to be skipped unread (the rest of a block too big to hold). */
  private skip = 0;
  /** File offset of the block being skipped, for the error when the file ends inside it. */
  private skipFrom = 0;
  /** File offset of the next byte to parse. */
  private fileOffset = 0;
  private announced = 0;

  /**
   * `input` is a file path ("-" for stdin) or a byte stream (a live capture's pcap stream); `label`
   * names it in messages.
   */
  constructor(
    private readonly input: string | ByteSource,
    private readonly host: FrameProducerHost,
    private readonly label: string = input === "-" ? "stdin" : typeof input === "string" ? input : "capture",
    options: FileSourceOptions = {},
  ) {
    this.ownThread = options.ownThread ?? false;
    this.flushEachRead = !this.ownThread && (options.flushEachRead ?? true);
    this.ring = host.ring;
    this.head = this.startHead = host.ring.head;
  }

  /** Reads the whole file; rejects with CaptureFileError when it is damaged (after publishing what came before). */
  async run(): Promise<void> {
    if (typeof this.input !== "string") return this.readInSequence(this.input, 0);
    if (this.input === "-") {
      // stdin as a stream, not with fs.read: a read left blocked in libuv's thread pool on a quiet
      // pipe would keep the process from exiting after ^C.
      const stdin = process.stdin;
      try {
        return await this.readInSequence(new QueueByteSource(4 << 20, stdin), 0);
      } finally {
        stdin.pause();
        stdin.unref?.();
      }
    }
    const fd = await openFile(this.input);
    try {
      this.progress.size = await fileSize(fd);
      if (this.progress.size > 0) {
        await this.readInSequence(new SyncFdByteSource(fd), 0);
      } else {
        // A FIFO or a device: read as a stream, like stdin.
        await this.readInSequence(new QueueByteSource(4 << 20, createReadStream("", { fd, autoClose: false })), 0);
      }
    } finally {
      close(fd, () => {});
    }
  }

  /**
   * Reads `source` into ring page `page` onwards: a page is filled by as many reads as it takes, and
   * the unparsed tail of a full page moves to the start of the next one.
   */
  private async readInSequence(source: ByteSource, page: number): Promise<void> {
    const ring = this.ring;
    const host = this.host;
    const d = ring.data;
    let pageStart = page * ring.pageSize;
    let fill = 0;
    let parse = 0;
    while (!ring.pageIsFree(page)) {
      host.flush();
      await host.released(ring.pageEnd(page));
      if (host.stopping) return;
    }
    for (;;) {
      if (host.stopping) return;
      let eof = false;
      if (fill < ring.pageSize) {
        // A pipe may stay quiet for ever: a stop request must not wait for its next byte.
        const read = source.read(d, pageStart + fill, ring.pageSize - fill);
        const n = host.stopped === undefined ? await read : await Promise.race([read, host.stopped.then(() => -1)]);
        if (n < 0) return;
        if (n === 0) eof = true;
        fill += n;
        this.progress.bytesRead += n;
      }
      const stop = await this.parse(pageStart + parse, pageStart + fill);
      if (stop < 0) return;
      parse = stop - pageStart;
      if (!this.ownThread) await this.afterPage();
      // A pipe delivers what its writer wrote so far: decode it now rather than wait for a full batch.
      if (this.flushEachRead) host.flush();
      if (eof) return this.finish(fill - parse);
      if (fill < ring.pageSize) continue; // a short read: keep filling this page

      const carry = fill - parse;
      if (carry >= ring.pageSize) {
        throw new CaptureFileError(this.label, this.fileOffset, `a record of more than ${carry} bytes does not fit the ring`, "raise --ring-size");
      }
      const next = (page + 1) % ring.pageCount;
      ring.closePage(page, this.head);
      while (!ring.pageIsFree(next)) {
        host.flush();
        await host.released(ring.pageEnd(next));
        if (host.stopping) return;
      }
      const nextStart = next * ring.pageSize;
      d.copyWithin(nextStart, pageStart + parse, pageStart + fill);
      page = next;
      pageStart = nextStart;
      fill = carry;
      parse = 0;
    }
  }

  /**
   * Parses every complete record in [pos, end) of the ring's data into slots and publishes them.
   * Returns where the first incomplete record starts, or -1 when the run is stopping.
   */
  private async parse(pos: number, end: number): Promise<number> {
    const ring = this.ring;
    const host = this.host;
    const d = ring.data;
    const view = ring.view;
    const slots = ring.slots;
    const mask = ring.slotMask;
    const rec = this.rec;
    if (this.skip > 0) {
      const k = Math.min(this.skip, end - pos);
      this.skip -= k;
      pos += k;
      this.fileOffset += k;
      if (this.skip > 0) return pos;
    }
    // The loop works on locals and writes them back when it leaves: fields read and written per
    // record were a measurable share of it.
    let head = this.head;
    let fileOffset = this.fileOffset;
    let freeSlots = this.freeSlots;
    try {
      for (;;) {
        const avail = end - pos;
        if (this.format === null) {
          if (avail < 4) break;
          this.format = this.detect(view, pos);
        }
        this.format.next(d, view, pos, avail, rec);
        if (rec.kind === kRecordNeedMore) break;
        if (rec.kind === kRecordPacket) {
          // Free slots as of the last look at the consumer's tail: re-read only when they run out,
          // since an Atomics.load per record would cost more than the rest of the record's work.
          while (freeSlots === 0) {
            freeSlots = ring.slotCount - ((head - ring.tail) | 0);
            if (freeSlots > 0) break;
            ring.publish(head);
            host.published(head);
            host.flush();
            // Wait for an eighth of the slots rather than wake for each one released.
            await host.released((head - ring.slotCount + (ring.slotCount >> 3)) | 0);
            if (host.stopping) {
              this.head = head;
              this.fileOffset = fileOffset;
              this.freeSlots = freeSlots;
              return -1;
            }
          }
          freeSlots--;
          const s = (head & mask) * kSlotStride;
          slots[s + kSlotOffset] = rec.dataOff;
          slots[s + kSlotCapLen] = rec.capLen;
          slots[s + kSlotWireLen] = rec.wireLen;
          slots[s + kSlotLinkType] = rec.linkType;
          // Seconds in two words (pcapng dates past 2106 or before 1970 need more than 32 bits): an
          // Int32Array store keeps the low 32 bits, a division by 2^32 is exact. Both are written for
          // every frame, since the slot may hold an earlier frame's.
          const sec = rec.tsSec;
          slots[s + kSlotTsSec] = sec;
          slots[s + kSlotTsSecHigh] = Math.floor(sec / 4294967296);
          slots[s + kSlotTsNsec] = rec.tsNsec;
          slots[s + kSlotInterface] = rec.iface;
          head = (head + 1) | 0;
        } else {
          this.announceLinkTypes();
        }
        if (rec.length > avail) {
          // A block too big to hold (a block type we skip): the rest is discarded as it is read.
          this.skip = rec.length - avail;
          this.skipFrom = fileOffset;
          fileOffset += avail;
          pos = end;
          break;
        }
        pos += rec.length;
        fileOffset += rec.length;
      }
    } catch (e) {
      // Damage: every frame before it is published first, then the error names where it is.
      this.head = head;
      ring.publish(head);
      host.published(head);
      // The formats throw plain Errors about the bytes; what a link-type check throws passes through.
      if (e instanceof CaptureFileError || e instanceof UsageError) throw e;
      throw new CaptureFileError(this.label, fileOffset, (e as Error).message);
    }
    this.head = head;
    this.fileOffset = fileOffset;
    this.freeSlots = freeSlots;
    ring.publish(head);
    this.progress.packets = (head - this.startHead) | 0;
    host.published(head);
    return pos;
  }

  /** Between pages: let finished batches be dispatched (worker messages are macrotasks). */
  private afterPage(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** End of the file with `left` bytes unparsed: fine when 0, a truncated record otherwise. */
  private finish(left: number): void {
    if (this.skip > 0 || left > 0) {
      const rec = this.rec;
      const need = this.skip > 0 ? this.skip : rec.length > left ? rec.length - left : 0;
      // A block cut by the end of the file is reported where it starts, skipped or not.
      const at = this.skip > 0 ? this.skipFrom : this.fileOffset;
      const what =
        this.format === null ? "file is too short to be a capture" : `truncated ${this.format.name} ${at === 0 ? "file header" : "record"}`;
      throw new CaptureFileError(this.label, at, need > 0 ? `${what}: ${need} more bytes expected` : what);
    }
    if (this.format === null) throw new CaptureFileError(this.label, -1, "file is empty");
  }

  private detect(view: DataView, pos: number): CaptureFormat {
    if (isPcapngMagic(view, pos)) return new PcapngFormat();
    if (isPcapMagic(view, pos)) return new PcapFormat();
    throw new CaptureFileError(
      this.label,
      this.fileOffset,
      "not a pcap or pcapng file (unknown magic number)",
      "convert it with editcap -F pcap, or check the path",
    );
  }

  private announceLinkTypes(): void {
    const format = this.format!;
    const types = format.linkTypes;
    if (this.announced < types.length && Atomics.load(this.ring.control, kCtlByteOrder) === 0) {
      Atomics.store(this.ring.control, kCtlByteOrder, format.littleEndian ? kByteOrderLittle : kByteOrderBig);
    }
    while (this.announced < types.length) this.host.linkType(types[this.announced++], format.littleEndian);
  }
}

function openFile(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    open(path, "r", (err, fd) => {
      if (err === null) {
        // Linux opens a directory for reading; only the first read would fail, with a bare EISDIR.
        return fstat(fd, (statErr, st) => {
          if (statErr !== null || !st.isDirectory()) return resolve(fd);
          close(fd, () => reject(new CaptureFileError(path, -1, "cannot open the capture: it is a directory")));
        });
      }
      const why =
        err.code === "ENOENT"
          ? "no such file"
          : err.code === "EACCES"
            ? "permission denied"
            : err.code === "EISDIR"
              ? "it is a directory"
              : err.message;
      reject(new CaptureFileError(path, -1, `cannot open the capture: ${why}`));
    });
  });
}

function fileSize(fd: number): Promise<number> {
  return new Promise((resolve) => fstat(fd, (err, st) => resolve(err === null && st.isFile() ? st.size : 0)));
}
