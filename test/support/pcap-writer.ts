/**
 * Classic libpcap file writer for tests and benchmarks: microsecond (magic a1b2c3d4) or nanosecond
 * (a1b23c4d) timestamps, either byte order, any link type and snaplen, records cut to the snaplen;
 * also the "modified" format of Alexey Kuznetzov's patched libpcap (a1b2cd34), which old Linux
 * distributions wrote and libpcap still reads.
 *
 * Two ways in: encodePcap() builds a whole file in memory; PcapStreamWriter appends to a file
 * descriptor through one reused chunk buffer, so multi-million-packet captures are written in large
 * writeSync() calls without holding the capture in memory.
 *
 * File layout (all fields in the byte order the magic number is written in):
 *
 *   global header (24 bytes): magic u32 | major u16 = 2 | minor u16 = 4 | thiszone i32 = 0
 *                             | sigfigs u32 = 0 | snaplen u32 | linktype u32
 *   record header (16 bytes): ts_sec u32 | ts_usec-or-nsec u32 | caplen u32 | origlen u32, then caplen bytes
 *   modified record header (24 bytes): the same 16, then ifindex u32 | protocol u16 | pkt_type u8 | pad u8
 */
import { closeSync, openSync, writeSync } from "node:fs";

/** LINKTYPE_ values (tcpdump.org link-layer header types) the test tooling produces. */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

/** A capture timestamp: nanoseconds since the epoch, or seconds plus nanoseconds (0..999 999 999). */
export type Timestamp = bigint | { readonly sec: number; readonly nsec: number };

/** One packet to write. */
export interface CaptureRecord {
  /** The captured bytes (cut to the snaplen on write). */
  readonly data: Uint8Array;
  /** Capture time; when omitted, records are spaced `stepNs` apart from `startNs`. */
  readonly timestamp?: Timestamp;
  /** Length on the wire (default `data.length`); larger than the data to record a packet cut by the capturer. */
  readonly originalLength?: number;
}

/** File-wide settings. */
export interface PcapOptions {
  /** Link type (default LinkType.ETHERNET). */
  readonly linkType?: number;
  /** Snapshot length; longer packets are cut to it (default 262144, as tcpdump). */
  readonly snaplen?: number;
  /** Timestamp resolution: "micro" (magic a1b2c3d4, default) or "nano" (magic a1b23c4d). */
  readonly resolution?: "micro" | "nano";
  /**
   * Record headers: "standard" (default) or "modified" (magic a1b2cd34, microseconds only: 8 more
   * bytes per record header, written as ifindex 2, protocol 0x0800, pkt_type 0 (to us), pad 0).
   */
  readonly format?: "standard" | "modified";
  /** Byte order of every header field (default "little"). */
  readonly byteOrder?: "little" | "big";
  /** Timestamp of the first record that has none (default 2024-01-01T00:00:00Z). */
  readonly startNs?: bigint;
  /** Spacing of records that have no timestamp (default 1 ms). */
  readonly stepNs?: bigint;
}

/** Magic number of microsecond-resolution files. */
export const kPcapMagicMicro = 0xa1b2c3d4;
/** Magic number of nanosecond-resolution files. */
export const kPcapMagicNano = 0xa1b23c4d;
/** Magic number of the modified format (Alexey Kuznetzov's patched libpcap; microseconds). */
export const kPcapMagicModified = 0xa1b2cd34;
/** Length of the global header. */
export const kPcapHeaderLength = 24;
/** Length of a record header. */
export const kPcapRecordHeaderLength = 16;
/** Length of a record header in the modified format. */
export const kPcapModifiedRecordHeaderLength = 24;

const defaultStartNs = 1_704_067_200_000_000_000n;

/** Converts a timestamp to nanoseconds since the epoch. */
export function toNanoseconds(ts: Timestamp): bigint {
  return typeof ts === "bigint" ? ts : BigInt(ts.sec) * 1_000_000_000n + BigInt(ts.nsec);
}

/** Splits a timestamp into whole seconds and nanoseconds. */
export function splitTimestamp(ts: Timestamp): { sec: number; nsec: number } {
  if (typeof ts !== "bigint") return { sec: ts.sec, nsec: ts.nsec };
  return { sec: Number(ts / 1_000_000_000n), nsec: Number(ts % 1_000_000_000n) };
}

/** Length of each record header with these options. */
export function recordHeaderLength(options: PcapOptions = {}): number {
  return options.format === "modified" ? kPcapModifiedRecordHeaderLength : kPcapRecordHeaderLength;
}

function magicOf(options: PcapOptions): number {
  if (options.format !== "modified") return options.resolution === "nano" ? kPcapMagicNano : kPcapMagicMicro;
  if (options.resolution === "nano") {
    throw new Error('Cannot write a modified pcap with nanosecond timestamps: the modified format has microseconds only: use resolution "micro"');
  }
  return kPcapMagicModified;
}

/** Encodes the 24-byte global header. */
export function encodePcapHeader(options: PcapOptions = {}): Uint8Array {
  const out = new Uint8Array(kPcapHeaderLength);
  const view = new DataView(out.buffer);
  const le = (options.byteOrder ?? "little") === "little";
  view.setUint32(0, magicOf(options), le);
  view.setUint16(4, 2, le);
  view.setUint16(6, 4, le);
  view.setUint32(16, options.snaplen ?? 262144, le);
  view.setUint32(20, options.linkType ?? LinkType.ETHERNET, le);
  return out;
}

/** Encodes a whole capture file in memory; records may be bare frames (then timestamps are spaced by `stepNs`). */
export function encodePcap(records: Iterable<CaptureRecord | Uint8Array>, options: PcapOptions = {}): Uint8Array {
  const list = Array.from(records, (r) => (r instanceof Uint8Array ? { data: r } : r));
  const snaplen = options.snaplen ?? 262144;
  const headerLength = recordHeaderLength(options);
  const size = list.reduce((n, r) => n + headerLength + Math.min(r.data.length, snaplen), kPcapHeaderLength);
  const out = new Uint8Array(size);
  out.set(encodePcapHeader(options));
  const view = new DataView(out.buffer);
  let at = kPcapHeaderLength;
  list.forEach((r, i) => {
    const ts = splitTimestamp(r.timestamp ?? (options.startNs ?? defaultStartNs) + BigInt(i) * (options.stepNs ?? 1_000_000n));
    const caplen = Math.min(r.data.length, snaplen);
    writeRecordHeader(view, at, options, ts.sec, ts.nsec, caplen, r.originalLength ?? r.data.length);
    out.set(r.data.subarray(0, caplen), at + headerLength);
    at += headerLength + caplen;
  });
  return out;
}

function writeRecordHeader(view: DataView, at: number, options: PcapOptions, sec: number, nsec: number, caplen: number, origlen: number): void {
  const le = (options.byteOrder ?? "little") === "little";
  view.setUint32(at, sec, le);
  // Microsecond files truncate: a reader multiplies back and must never see a later time than was given.
  view.setUint32(at + 4, options.resolution === "nano" ? nsec : Math.floor(nsec / 1000), le);
  view.setUint32(at + 8, caplen, le);
  view.setUint32(at + 12, origlen, le);
  if (options.format === "modified") writeModifiedFields(view, at, le);
}

/** The modified format's 8 more bytes: fixed values, since no reader here uses them. */
function writeModifiedFields(view: DataView, at: number, le: boolean): void {
  view.setUint32(at + 16, 2, le); // ifindex
  view.setUint16(at + 20, 0x0800, le); // protocol
  view.setUint8(at + 22, 0); // pkt_type: PACKET_HOST
  view.setUint8(at + 23, 0); // pad
}

/** Settings of a streaming writer. */
export interface PcapStreamOptions extends PcapOptions {
  /** Size of the reused chunk buffer; it is written out whenever the next record would not fit (default 4 MiB). */
  readonly chunkBytes?: number;
}

/**
 * Appends a pcap file to a file descriptor through one reused buffer. For the hot loop of a
 * generator, reserve() hands out room in that buffer so the caller builds each frame in place,
 * with no copy and no allocation per packet.
 */
export class PcapStreamWriter {
  /** The chunk buffer; bytes handed out by reserve() are valid until the next reserve() or flush(). */
  chunk: Uint8Array;
  /** Records written so far. */
  packets = 0;
  /** File bytes produced so far (global header, record headers and data), flushed or not. */
  bytes = 0;
  readonly #fd: number;
  readonly #ownsFd: boolean;
  readonly #options: PcapStreamOptions;
  readonly #littleEndian: boolean;
  readonly #nano: boolean;
  readonly #modified: boolean;
  readonly #headerLength: number;
  readonly #snaplen: number;
  #view: DataView;
  #used = 0;
  #closed = false;

  /** Starts a capture on an open descriptor (written at its current position) and writes the global header. */
  constructor(fd: number, options: PcapStreamOptions = {}, ownsFd = false) {
    this.#fd = fd;
    this.#ownsFd = ownsFd;
    this.#options = options;
    this.#littleEndian = (options.byteOrder ?? "little") === "little";
    this.#nano = options.resolution === "nano";
    this.#modified = options.format === "modified";
    this.#headerLength = recordHeaderLength(options);
    this.#snaplen = options.snaplen ?? 262144;
    this.chunk = new Uint8Array(Math.max(options.chunkBytes ?? 4 << 20, 4096));
    this.#view = new DataView(this.chunk.buffer);
    this.chunk.set(encodePcapHeader(options));
    this.#used = kPcapHeaderLength;
    this.bytes = kPcapHeaderLength;
  }

  /** Creates (or truncates) `path` and starts a capture in it; close() closes the file. */
  static create(path: string, options: PcapStreamOptions = {}): PcapStreamWriter {
    return new PcapStreamWriter(openSync(path, "w"), options, true);
  }

  /**
   * Writes a record header and returns the offset in `chunk` where the caller must put exactly
   * `capturedLength` bytes (already cut to the snaplen: the caller decides what is captured).
   */
  reserve(sec: number, nsec: number, capturedLength: number, originalLength = capturedLength): number {
    if (this.#closed) throw new Error("Cannot write packet: the pcap writer is closed");
    const need = this.#headerLength + capturedLength;
    if (this.#used + need > this.chunk.length) {
      this.flush();
      if (need > this.chunk.length) {
        this.chunk = new Uint8Array(need);
        this.#view = new DataView(this.chunk.buffer);
      }
    }
    const at = this.#used;
    const view = this.#view;
    const le = this.#littleEndian;
    view.setUint32(at, sec, le);
    view.setUint32(at + 4, this.#nano ? nsec : Math.floor(nsec / 1000), le);
    view.setUint32(at + 8, capturedLength, le);
    view.setUint32(at + 12, originalLength, le);
    if (this.#modified) writeModifiedFields(view, at, le);
    this.#used += need;
    this.bytes += need;
    this.packets++;
    return at + this.#headerLength;
  }

  /** Writes one packet at `sec` + `nsec`, cutting it to the snaplen. */
  writeAt(data: Uint8Array, sec: number, nsec: number, originalLength = data.length): void {
    const caplen = Math.min(data.length, this.#snaplen);
    const at = this.reserve(sec, nsec, caplen, originalLength);
    this.chunk.set(caplen === data.length ? data : data.subarray(0, caplen), at);
  }

  /** Writes one record; without a timestamp it is spaced `stepNs` after the previous default one. */
  write(record: CaptureRecord | Uint8Array): void {
    const r = record instanceof Uint8Array ? { data: record } : record;
    const ts = splitTimestamp(r.timestamp ?? (this.#options.startNs ?? defaultStartNs) + BigInt(this.packets) * (this.#options.stepNs ?? 1_000_000n));
    this.writeAt(r.data, ts.sec, ts.nsec, r.originalLength ?? r.data.length);
  }

  /** Writes the buffered bytes to the descriptor. */
  flush(): void {
    let done = 0;
    while (done < this.#used) done += writeSync(this.#fd, this.chunk, done, this.#used - done);
    this.#used = 0;
  }

  /** Flushes, and closes the file if this writer opened it. Further writes are an error. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    if (this.#ownsFd) closeSync(this.#fd);
  }
}
