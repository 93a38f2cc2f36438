import { closeSync, openSync, writeSync } from "node:fs";
import type { PacketCursor } from "../dispatch/layer-views.ts";
import { kMaxCapLen, kSlotCapLen, kSlotLinkType, kSlotOffset, kSlotTsNsec, kSlotTsSec, kSlotWireLen } from "../ring/ring-layout.ts";

const kChunk = 1 << 20;

/**
 * `-w FILE`: the frames that passed the filter, written as a classic pcap (nanosecond timestamps,
 * which tcpdump and tshark read) in capture order, from the ring as they are dispatched.
 *
 * A pcap file has one link type: the first frame's. Frames of another link type (a pcapng input that
 * mixes interfaces) are counted in `skipped` and left out, and the run says so at its end (tcpdump
 * refuses such an input).
 */
export class PcapFileWriter {
  private readonly fd: number;
  private readonly buf = Buffer.allocUnsafe(kChunk);
  private used = 0;
  private linktype = -1;
  /** Frames written, and frames left out for their link type. */
  written = 0;
  skipped = 0;

  /**
   * `emptyLinkType` heads the file when no frame is written: a live capture knows its interface's
   * link type before any frame arrives, and an empty capture of a raw-IP interface is not Ethernet.
   */
  constructor(
    readonly path: string,
    private readonly emptyLinkType = 1,
  ) {
    try {
      this.fd = openSync(path, "w");
    } catch (err) {
      throw new Error(`Cannot write ${path}: ${(err as Error).message}`);
    }
  }

  /** The file's link type (the first frame's), or -1 before any frame. */
  get linkType(): number {
    return this.linktype;
  }

  /** Appends the packet the cursor points at. */
  packet(c: PacketCursor): void {
    const sl = c.ring.slots;
    const s = c.s;
    const lt = sl[s + kSlotLinkType];
    if (this.linktype < 0) this.header(lt);
    else if (lt !== this.linktype) {
      this.skipped++;
      return;
    }
    const caplen = sl[s + kSlotCapLen];
    if (this.used + 16 + caplen > kChunk) this.flush();
    const b = this.buf;
    let o = this.used;
    b.writeUInt32LE(sl[s + kSlotTsSec] >>> 0, o);
    b.writeUInt32LE(sl[s + kSlotTsNsec], o + 4);
    b.writeUInt32LE(caplen, o + 8);
    b.writeUInt32LE(sl[s + kSlotWireLen] >>> 0, o + 12);
    o += 16;
    const off = sl[s + kSlotOffset];
    b.set(c.ring.data.subarray(off, off + caplen), o);
    this.used = o + caplen;
    this.written++;
  }

  private header(linktype: number): void {
    this.linktype = linktype;
    const b = this.buf;
    b.writeUInt32LE(0xa1b23c4d, 0); // nanosecond resolution
    b.writeUInt16LE(2, 4);
    b.writeUInt16LE(4, 6);
    b.writeUInt32LE(0, 8);
    b.writeUInt32LE(0, 12);
    b.writeUInt32LE(kMaxCapLen, 16);
    b.writeUInt32LE(linktype, 20);
    this.used = 24;
  }

  /** Writes what is buffered. */
  flush(): void {
    let o = 0;
    try {
      while (o < this.used) o += writeSync(this.fd, this.buf, o, this.used - o);
    } catch (err) {
      throw new Error(`Cannot write ${this.path}: ${(err as Error).message}`);
    }
    this.used = 0;
  }

  /** Flushes and closes; a run with no packet still leaves a valid (empty) capture. */
  close(): void {
    if (this.linktype < 0) this.header(this.emptyLinkType);
    this.flush();
    closeSync(this.fd);
  }
}
