import { kMaxCapLen } from "../ring/ring-layout.ts";
import { type CaptureFormat, type CaptureRecord, kRecordNeedMore, kRecordPacket, kRecordSkip } from "./capture-record.ts";

const kMagicMicros = 0xa1b2c3d4;
const kMagicNanos = 0xa1b23c4d;

/** True when the first four bytes at `pos` are a classic pcap magic number, in either byte order. */
export function isPcapMagic(view: DataView, pos: number): boolean {
  const m = view.getUint32(pos, false);
  const s = view.getUint32(pos, true);
  return m === kMagicMicros || m === kMagicNanos || s === kMagicMicros || s === kMagicNanos;
}

/**
 * Classic libpcap format: a 24-byte file header, then records of a 16-byte header and the frame.
 * Either byte order (the magic number says which), microsecond or nanosecond timestamps.
 */
export class PcapFormat implements CaptureFormat {
  readonly name = "pcap";
  /** Byte order of the file (pcapng: of the current section). */
  littleEndian = true;
  private nanos = false;
  private headerSeen = false;
  private linkType = 0;
  linkTypes: number[] = [];
  /** The snapshot length from the file header. */
  snaplen = 0;

  next(d: Uint8Array, view: DataView, pos: number, avail: number, out: CaptureRecord): void {
    if (!this.headerSeen) return this.fileHeader(view, pos, avail, out);
    if (avail < 16) {
      out.kind = kRecordNeedMore;
      out.length = 16;
      return;
    }
    const le = this.littleEndian;
    const capLen = view.getUint32(pos + 8, le);
    const wireLen = view.getUint32(pos + 12, le);
    if (capLen > kMaxCapLen) {
      throw new Error(`record claims ${capLen} captured bytes, more than the maximum of ${kMaxCapLen} (the file is damaged)`);
    }
    const length = 16 + capLen;
    out.length = length;
    if (avail < length) {
      out.kind = kRecordNeedMore;
      return;
    }
    out.kind = kRecordPacket;
    out.dataOff = pos + 16;
    // libpcap hands over at most the snapshot length of a record that claims more (the rest is
    // skipped): do the same, so that what decoders and filters see is what tcpdump sees.
    out.capLen = this.snaplen > 0 && capLen > this.snaplen ? this.snaplen : capLen;
    out.wireLen = wireLen;
    out.linkType = this.linkType;
    out.tsSec = view.getUint32(pos, le);
    const frac = view.getUint32(pos + 4, le);
    out.tsNsec = this.nanos ? frac : frac * 1000;
    out.iface = 0;
  }

  private fileHeader(view: DataView, pos: number, avail: number, out: CaptureRecord): void {
    out.length = 24;
    if (avail < 24) {
      out.kind = kRecordNeedMore;
      return;
    }
    const magic = view.getUint32(pos, false);
    if (magic === kMagicMicros || magic === kMagicNanos) this.littleEndian = false;
    else this.littleEndian = true;
    this.nanos = view.getUint32(pos, this.littleEndian) === kMagicNanos;
    const major = view.getUint16(pos + 4, this.littleEndian);
    if (major !== 2) throw new Error(`unsupported pcap version ${major}.${view.getUint16(pos + 6, this.littleEndian)}`);
    this.snaplen = view.getUint32(pos + 16, this.littleEndian);
    // The upper 16 bits of the link-type field hold FCS information (pcap-savefile(5)).
    this.linkType = view.getUint32(pos + 20, this.littleEndian) & 0x03ffffff;
    this.linkTypes = [this.linkType];
    this.headerSeen = true;
    out.kind = kRecordSkip;
  }
}
