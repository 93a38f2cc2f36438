import { close, fstat, open, read } from "node:fs";
import type { FrameRing } from "../ring/frame-ring.ts";
import {
  kByteOrderBig,
  kByteOrderLittle,
  kCtlByteOrder,
  kMaxCapLen,
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
import { type ByteSource, FdByteSource } from "./byte-source.ts";
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
 * Room kept at the start of every page for the unparsed tail of the previous page (a record cut by
 * the page end): the largest pcap record, so that read-ahead never has to move file data.
 */
const kCarryRoom = kMaxCapLen + 64;
/** Reads in flight ahead of the page being parsed. */
const kReadAhead = 2;

/**
 * Reads a pcap or pcapng file (or stdin, as "-") straight into the ring's pages: file bytes are read
 * into shared memory once and slots point at the frames where they landed, so no frame is copied.
 *
 * ```
 *  page k                                         page k+1
 *  ┌─────────────┬───────────────────────────┐    ┌─────────────┬──────────────────────
 *  │ carry room  │ file bytes [kD, (k+1)D)   │    │ carry │ tail│ file bytes [(k+1)D, ...
 *  └─────────────┴───────────────────────────┘    └───────▲─────┴──────────────────────
 *                       the record cut by the page end ───┘ is copied just before the next page's bytes
 * ```
 *
 * A regular file is read ahead: each page's read covers a fixed span of the file, so reads for the
 * next pages are issued (on libuv's threads) while this thread parses the current one and dispatches,
 * and the memory copy of the read stays off the dispatching thread. Pipes and stdin are read in
 * sequence, as their bytes come. Either way the reader waits for the consumer when the next page or a
 * slot is still in use: reading a file never drops a frame, and memory stays at the ring's size.
 */
export class FileSource {
  /** Where the file's bytes stand: how much was read, its size, how many packets. */
  readonly progress: ReadProgress = { bytesRead: 0, size: 0, packets: 0 };
  private format: CaptureFormat | null = null;
  private readonly rec = new CaptureRecord();
  private readonly ring: FrameRing;
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
  ) {
    this.ring = host.ring;
    this.head = this.startHead = host.ring.head;
  }

  /** Reads the whole file; rejects with CaptureFileError when it is damaged (after publishing what came before). */
  async run(): Promise<void> {
    if (typeof this.input !== "string") return this.readInSequence(this.input, 0);
    const fd = this.input === "-" ? 0 : await openFile(this.input);
    try {
      if (fd !== 0) this.progress.size = await fileSize(fd);
      const ring = this.ring;
      if (this.progress.size > 0 && ring.pageSize >= 2 * kCarryRoom) {
        await this.readAhead(fd);
      } else {
        await this.readInSequence(new FdByteSource(fd, this.progress.size > 0 ? 0 : -1), 0);
      }
    } finally {
      if (fd !== 0) close(fd, () => {});
    }
  }

  /**
   * Read-ahead over a regular file. Page k (in reading order) holds file bytes [kD, (k+1)D) after
   * its carry room, D = page size - carry room, so every read's position is known in advance.
   */
  private async readAhead(fd: number): Promise<void> {
    const ring = this.ring;
    const host = this.host;
    const d = ring.data;
    const span = ring.pageSize - kCarryRoom;
    const pending: Array<Promise<number>> = [];
    let issued = 0; // pages whose read was issued
    let page = 0; // ring page of the page being parsed
    let carry = 0;
    let current = 0; // reading-order number of the page being parsed
    const pageOf = (k: number) => k % ring.pageCount;
    const issue = () => {
      // The page after the ones in flight must be free of frames the consumer still reads, and must
      // not be the page being parsed: with two pages, page k + 2 is page k, whose unparsed tail is
      // still to be copied to page k + 1 (a read landing first overwrote it).
      while (
        pending.length < kReadAhead &&
        issued < current + ring.pageCount &&
        issued * span < this.progress.size &&
        ring.pageIsFree(pageOf(issued))
      ) {
        const start = pageOf(issued) * ring.pageSize + kCarryRoom;
        pending.push(readInto(fd, d, start, span, issued * span));
        issued++;
      }
    };
    for (let k = 0; ; k++) {
      if (host.stopping) break;
      issue();
      while (pending.length === 0) {
        // The next page is still in use: let the consumer release it.
        host.flush();
        await host.released();
        if (host.stopping) return this.settle(pending);
        issue();
      }
      const n = await pending.shift()!;
      this.progress.bytesRead += n;
      const base = page * ring.pageSize + kCarryRoom;
      const end = base + n;
      const stop = await this.parse(base - carry, end);
      if (stop < 0) return this.settle(pending);
      await this.afterPage();
      const atEnd = (k + 1) * span >= this.progress.size || n < span;
      carry = end - stop;
      if (atEnd) return this.finish(carry);
      ring.closePage(page, this.head);
      const next = pageOf(k + 1);
      if (carry > kCarryRoom) {
        // A block bigger than the carry room straddles the page end (a pcapng block with huge
        // options): go on reading in sequence from the start of that block.
        await this.settle(pending);
        return this.readInSequence(new FdByteSource(fd, this.fileOffset), next);
      }
      // The next page takes the carry only once it is ours, that is once its read was issued (which
      // waits for the consumer to release it). The carry room is not part of that read, so the copy
      // may happen while the read is still in flight.
      issue();
      while (issued <= k + 1) {
        host.flush();
        await host.released();
        if (host.stopping) return this.settle(pending);
        issue();
      }
      if (carry > 0) d.copyWithin(next * ring.pageSize + kCarryRoom - carry, stop, end);
      page = next;
      current = k + 1;
    }
    await this.settle(pending);
  }

  /**
   * Sequential reading (pipes, stdin, a live capture's stream, and the rare fallback of read-ahead)
   * of `source` into ring page `page` onwards: a page is filled by as many reads as it takes, and the
   * unparsed tail of a full page moves to the start of the next one.
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
      await host.released();
      if (host.stopping) return;
    }
    for (;;) {
      if (host.stopping) return;
      let eof = false;
      if (fill < ring.pageSize) {
        const n = await source.read(d, pageStart + fill, ring.pageSize - fill);
        if (n === 0) eof = true;
        fill += n;
        this.progress.bytesRead += n;
      }
      const stop = await this.parse(pageStart + parse, pageStart + fill);
      if (stop < 0) return;
      parse = stop - pageStart;
      await this.afterPage();
      // A pipe delivers what its writer wrote so far: decode it now rather than wait for a full batch.
      host.flush();
      if (eof) return this.finish(fill - parse);
      if (fill < ring.pageSize) continue; // a short read: keep filling this page

      const carry = fill - parse;
      if (carry >= ring.pageSize) {
        throw new CaptureFileError(this.label, this.fileOffset, `a record of more than ${carry} bytes does not fit the ring: raise --ring-size`);
      }
      const next = (page + 1) % ring.pageCount;
      ring.closePage(page, this.head);
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
    let head = this.head;
    for (;;) {
      const avail = end - pos;
      if (this.format === null) {
        if (avail < 4) break;
        this.format = this.detect(view, pos);
      }
      try {
        this.format.next(d, view, pos, avail, rec);
      } catch (e) {
        this.head = head;
        ring.publish(head);
        host.published(head);
        throw new CaptureFileError(this.label, this.fileOffset, (e as Error).message);
      }
      if (rec.kind === kRecordNeedMore) break;
      if (rec.kind === kRecordPacket) {
        // Free slots as of the last look at the consumer's tail: re-read only when they run out,
        // since an Atomics.load per record is a measurable share of this loop.
        while (this.freeSlots === 0) {
          this.freeSlots = ring.slotCount - ((head - ring.tail) | 0);
          if (this.freeSlots > 0) break;
          ring.publish(head);
          host.published(head);
          host.flush();
          await host.released();
          if (host.stopping) {
            this.head = head;
            return -1;
          }
        }
        this.freeSlots--;
        const s = (head & mask) * kSlotStride;
        slots[s + kSlotOffset] = rec.dataOff;
        slots[s + kSlotCapLen] = rec.capLen;
        slots[s + kSlotWireLen] = rec.wireLen;
        slots[s + kSlotLinkType] = rec.linkType;
        slots[s + kSlotTsSec] = rec.tsSec;
        slots[s + kSlotTsNsec] = rec.tsNsec;
        slots[s + kSlotInterface] = rec.iface;
        slots[s + kSlotFileOffset] = this.fileOffset & 0x7fffffff;
        head = (head + 1) | 0;
      } else {
        this.announceLinkTypes();
      }
      if (rec.length > avail) {
        // A block too big to hold (a block type we skip): the rest is discarded as it is read.
        this.skip = rec.length - avail;
        this.skipFrom = this.fileOffset;
        this.fileOffset += avail;
        pos = end;
        break;
      }
      pos += rec.length;
      this.fileOffset += rec.length;
    }
    this.head = head;
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
      const what = this.format === null ? "file is too short to be a capture" : `truncated ${this.format.name} record`;
      // A block cut by the end of the file is reported where it starts, skipped or not.
      const at = this.skip > 0 ? this.skipFrom : this.fileOffset;
      throw new CaptureFileError(this.label, at, need > 0 ? `${what}: ${need} more bytes expected` : what);
    }
    if (this.format === null) throw new CaptureFileError(this.label, 0, "file is empty");
  }

  /** Waits for reads still in flight (their pages are not used any more). */
  private async settle(pending: Array<Promise<number>>): Promise<void> {
    await Promise.allSettled(pending);
  }

  private detect(view: DataView, pos: number): CaptureFormat {
    if (isPcapngMagic(view, pos)) return new PcapngFormat();
    if (isPcapMagic(view, pos)) return new PcapFormat();
    throw new CaptureFileError(
      this.label,
      this.fileOffset,
      "not a pcap or pcapng file (unknown magic number): convert it with editcap -F pcap, or check the path",
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
