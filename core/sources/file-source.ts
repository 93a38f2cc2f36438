import { close, fstat, open, read, readSync } from "node:fs";
import type { FrameRing } from "../ring/frame-ring.ts";
import {
  kSlotCapLen,
  kSlotFileOffset,
  kSlotInterface,
  kSlotLinkType,
  kSlotOffset,
  kSlotStride,
  kSlotTsNsec,
  kSlotTsSec,
  kSlotWireLen,
} from "../ring/ring-layout.ts";
import {
  type CaptureFormat,
  CaptureFileError,
  CaptureRecord,
  kRecordNeedMore,
  kRecordPacket,
} from "./capture-record.ts";
import { isPcapMagic, PcapFormat } from "./pcap-format.ts";
import { isPcapngMagic, PcapngFormat } from "./pcapng-format.ts";

/** The side of the pipeline a frame producer talks to. */
export interface FrameProducerHost {
  readonly ring: FrameRing;
  /** Slots up to sequence `head` are filled: submit the full batches among them for decoding. */
  published(head: number): void;
  /** Submit everything published, even a partial batch: the producer is about to wait. */
  flush(): void;
  /** Resolves when the consumer has released slots, or the run is stopping. */
  released(): Promise<void>;
  /** True once the run should stop early (-c reached, a signal): the producer returns. */
  readonly stopping: boolean;
  /** Called once per interface link type the source discovers, before any of its frames is published. */
  linkType(linktype: number): void;
}

/** Progress of a file read, for the terminal progress line. */
export interface ReadProgress {
  bytesRead: number;
  /** File size, or 0 when unknown (stdin, a pipe). */
  size: number;
  packets: number;
}

/**
 * Reads a pcap or pcapng file (or stdin, as "-") straight into the ring's pages: file bytes are read
 * into shared memory once and slots point at the frames where they landed, so no frame is copied.
 *
 * A page is filled by as many reads as it takes; the unparsed tail of a page (a record cut by the page
 * end) is copied to the start of the next page before parsing goes on there. The reader waits for
 * the consumer whenever the next page or a slot is still in use: reading a file never drops a frame,
 * and memory stays at the ring's size whatever the file's.
 */
export class FileSource {
  /** Where the file's bytes stand: how much was read, its size, how many packets. */
  readonly progress: ReadProgress = { bytesRead: 0, size: 0, packets: 0 };
  private format: CaptureFormat | null = null;
  private readonly rec = new CaptureRecord();

  constructor(
    private readonly path: string,
    private readonly host: FrameProducerHost,
    private readonly label: string = path === "-" ? "stdin" : path,
  ) {}

  /** Reads the whole file; rejects with CaptureFileError when it is damaged (after publishing what came before). */
  async run(): Promise<void> {
    const fd = this.path === "-" ? 0 : await openFile(this.path);
    try {
      if (fd !== 0) this.progress.size = await fileSize(fd);
      await this.readAll(fd, this.progress.size > 0);
    } finally {
      if (fd !== 0) close(fd, () => {});
    }
  }

  /**
   * The read loop. A regular file is read synchronously: a page cache hit is a memory copy, and doing
   * it on this thread leaves the other cores to the decode workers instead of a libuv thread (on two
   * cores, the asynchronous read ran three times slower). Between pages the loop yields to the event
   * loop, so finished batches are dispatched while the file is read. Pipes and stdin are read
   * asynchronously, since a synchronous read would stall dispatch until the writer writes.
   */
  private async readAll(fd: number, regular: boolean): Promise<void> {
    const host = this.host;
    const ring = host.ring;
    const d = ring.data;
    const view = ring.view;
    const slots = ring.slots;
    const mask = ring.slotMask;
    const rec = this.rec;
    const isStdin = fd === 0;
    let page = 0;
    let pageStart = 0;
    let fill = 0; // bytes of the current page holding file data
    let parse = 0; // page-relative offset of the next record to parse
    let skip = 0; // bytes still to be skipped unread (the rest of an oversized block)
    let fileOffset = 0; // file offset of `parse`
    let head = ring.head;
    const startHead = head;
    let eof = false;
    // Free slots as of the last look at the consumer's tail: re-read only when they run out, since an
    // Atomics.load per record is a measurable share of the parse loop.
    let freeSlots = 0;

    for (;;) {
      if (host.stopping) break;
      // Read more bytes into the current page.
      if (!eof && fill < ring.pageSize) {
        const n = regular
          ? readSync(fd, d, pageStart + fill, ring.pageSize - fill, this.progress.bytesRead)
          : await readInto(fd, d, pageStart + fill, ring.pageSize - fill, isStdin ? -1 : this.progress.bytesRead);
        if (n === 0) eof = true;
        fill += n;
        this.progress.bytesRead += n;
      }
      if (skip > 0) {
        const k = Math.min(skip, fill - parse);
        skip -= k;
        parse += k;
        fileOffset += k;
      }
      // Parse every complete record in the page.
      while (skip === 0) {
        const avail = fill - parse;
        if (this.format === null) {
          if (avail < 4) break;
          this.format = this.detect(view, pageStart + parse, fileOffset);
        }
        try {
          this.format.next(d, view, pageStart + parse, avail, rec);
        } catch (e) {
          throw new CaptureFileError(this.label, fileOffset, (e as Error).message);
        }
        if (rec.kind === kRecordNeedMore) break;
        if (rec.kind === kRecordPacket) {
          while (freeSlots === 0) {
            freeSlots = ring.slotCount - ((head - ring.tail) | 0);
            if (freeSlots > 0) break;
            ring.publish(head);
            host.flush();
            await host.released();
            if (host.stopping) return;
          }
          freeSlots--;
          const s = (head & mask) * kSlotStride;
          slots[s + kSlotOffset] = rec.dataOff;
          slots[s + kSlotCapLen] = rec.capLen;
          slots[s + kSlotWireLen] = rec.wireLen;
          slots[s + kSlotLinkType] = rec.linkType;
          slots[s + kSlotTsSec] = rec.tsSec;
          slots[s + kSlotTsNsec] = rec.tsNsec;
          slots[s + kSlotInterface] = rec.iface;
          slots[s + kSlotFileOffset] = fileOffset & 0x7fffffff;
          head = (head + 1) | 0;
        } else {
          this.announceLinkTypes();
        }
        if (rec.length > avail) {
          // A block too big to hold (a skipped block type): the rest is discarded as it is read.
          skip = rec.length - avail;
          parse = fill;
          fileOffset += avail;
          break;
        }
        parse += rec.length;
        fileOffset += rec.length;
      }
      ring.publish(head);
      this.progress.packets = head - startHead;
      host.published(head);
      // A pipe delivers what its writer wrote so far: decode it now rather than wait for a full batch.
      if (regular) await yieldToEventLoop();
      else host.flush();

      if (eof) {
        const left = fill - parse;
        if (skip > 0 || left > 0) {
          const need = skip > 0 ? skip : rec.length > 0 ? rec.length - left : 0;
          const what = this.format === null ? "file is too short to be a capture" : `truncated ${this.format.name} record`;
          throw new CaptureFileError(
            this.label,
            fileOffset,
            need > 0 ? `${what}: ${need} more bytes expected` : what,
          );
        }
        if (this.format === null) throw new CaptureFileError(this.label, 0, "file is empty");
        break;
      }
      if (fill < ring.pageSize) continue; // a short read (pipe): keep filling this page

      // The page is full: carry its unparsed tail to the next page once that page is free.
      const carry = fill - parse;
      if (carry >= ring.pageSize) {
        throw new CaptureFileError(this.label, fileOffset, `record of ${rec.length} bytes does not fit the ring: raise --ring-size`);
      }
      const next = (page + 1) % ring.pageCount;
      ring.closePage(page, head);
      while (!ring.pageIsFree(next)) {
        host.flush();
        await host.released();
        if (host.stopping) return;
      }
      const nextStart = next * ring.pageSize;
      d.copyWithin(nextStart, pageStart + parse, pageStart + fill);
      page = next;
      pageStart = nextStart;
      fill = carry;
      parse = 0;
    }
    ring.publish(head);
    host.published(head);
  }

  private detect(view: DataView, pos: number, fileOffset: number): CaptureFormat {
    if (isPcapngMagic(view, pos)) return new PcapngFormat();
    if (isPcapMagic(view, pos)) return new PcapFormat();
    throw new CaptureFileError(
      this.label,
      fileOffset,
      "not a pcap or pcapng file (unknown magic number): convert it with editcap -F pcap, or check the path",
    );
  }

  private announced = 0;

  private announceLinkTypes(): void {
    const types = this.format!.linkTypes;
    while (this.announced < types.length) this.host.linkType(types[this.announced++]);
  }
}

/** Lets pending I/O and worker messages run (a macrotask turn, not just microtasks). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function openFile(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    open(path, "r", (err, fd) => {
      if (err === null) return resolve(fd);
      const why =
        err.code === "ENOENT"
          ? "no such file"
          : err.code === "EACCES"
            ? "permission denied"
            : err.code === "EISDIR"
              ? "is a directory"
              : err.message;
      reject(new CaptureFileError(path, -1, `cannot open the capture: ${why}`));
    });
  });
}

function fileSize(fd: number): Promise<number> {
  return new Promise((resolve) => fstat(fd, (err, st) => resolve(err === null && st.isFile() ? st.size : 0)));
}

function readInto(fd: number, d: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const attempt = () =>
      read(fd, d, offset, length, position < 0 ? null : position, (err, n) => {
        if (err === null) return resolve(n);
        // A non-blocking stdin with nothing to give yet: try again shortly rather than call it the end.
        if (err.code === "EAGAIN") return void setTimeout(attempt, 2);
        reject(err);
      });
    attempt();
  });
}
