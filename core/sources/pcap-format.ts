import { kMaxCapLen } from "../ring/ring-layout.ts";
import { type CaptureFormat, type CaptureRecord, kRecordNeedMore, kRecordPacket, kRecordSkip } from "./capture-record.ts";

const kMagicMicros = 0xa1b2c3d4;
const kMagicNanos = 0xa1b23c4d;
/**
 * The "modified" format of Alexey Kuznetzov's patched libpcap (Linux distributions of about 1999),
 * which libpcap still reads: microseconds, and 8 more bytes in each record header (ifindex u32, protocol
 * u16, pkt_type u8, pad u8) that libpcap skips. Wireshark also guesses at variants with the same
 * magic and other header sizes, from the first records; libpcap does not, nor do we.
 */
const kMagicModified = 0xa1b2cd34;
const kRecordHeader = 16;
const kModifiedRecordHeader = 24;
const kLinkTypeEthernet = 1;

/**
 * Where a record header keeps its two lengths. libpcap swapped them at version 2.3 to match the bpf
 * header; files older than that (and DG/UX's, version 543.0) have the wire length first, and some
 * 2.3 files were written either way, so for those the smaller one is taken for the captured length.
 */
const kLengthsInOrder = 0;
const kLengthsSwapped = 1;
const kLengthsMaybeSwapped = 2;

/** How a file of `major.minor` keeps its lengths, or null for a version libpcap does not read. */
function lengthOrderOf(major: number, minor: number): number | null {
  if (major === 543 && minor === 0) return kLengthsSwapped;
  if (major !== 2 || minor > 4) return null;
  return minor < 3 ? kLengthsSwapped : minor === 3 ? kLengthsMaybeSwapped : kLengthsInOrder;
}

/** The magic numbers libpcap reads (pcap_check_header); the other variants' files it refuses. */
function isKnownMagic(m: number): boolean {
  return m === kMagicMicros || m === kMagicNanos || m === kMagicModified;
}

/** True when the first four bytes at `pos` are a classic pcap magic number, in either byte order. */
export function isPcapMagic(view: DataView, pos: number): boolean {
  return isKnownMagic(view.getUint32(pos, false)) || isKnownMagic(view.getUint32(pos, true));
}

/**
 * Classic libpcap format: a 24-byte file header, then records of a 16-byte header (24 in the
 * modified format) and the frame. Either byte order (the magic number says which), microsecond or
 * nanosecond timestamps.
 */
export class PcapFormat implements CaptureFormat {
  readonly name = "pcap";
  /** Byte order of the file (pcapng: of the current section). */
  littleEndian = true;
  private nanos = false;
  /** Bytes of each record header: 16, or 24 in the modified format. */
  private recordHeader = kRecordHeader;
  private headerSeen = false;
  private linkType = 0;
  private lengthOrder = kLengthsInOrder;
  linkTypes: number[] = [];
  /** The snapshot length from the file header (14 more for a modified Ethernet file, as libpcap). */
  snaplen = 0;

  next(d: Uint8Array, view: DataView, pos: number, avail: number, out: CaptureRecord): void {
    if (!this.headerSeen) return this.fileHeader(view, pos, avail, out);
    const header = this.recordHeader;
    if (avail < header) {
      out.kind = kRecordNeedMore;
      out.length = header;
      return;
    }
    const le = this.littleEndian;
    let capLen = view.getUint32(pos + 8, le);
    let wireLen = view.getUint32(pos + 12, le);
    if (this.lengthOrder !== kLengthsInOrder && (this.lengthOrder === kLengthsSwapped || capLen > wireLen)) {
      const first = capLen;
      capLen = wireLen;
      wireLen = first;
    }
    if (capLen > kMaxCapLen) {
      throw new Error(`record claims ${capLen} captured bytes, more than the maximum of ${kMaxCapLen} (the file is damaged)`);
    }
    const length = header + capLen;
    out.length = length;
    if (avail < length) {
      out.kind = kRecordNeedMore;
      return;
    }
    out.kind = kRecordPacket;
    out.dataOff = pos + header;
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
    this.littleEndian = !isKnownMagic(view.getUint32(pos, false));
    const magic = view.getUint32(pos, this.littleEndian);
    this.nanos = magic === kMagicNanos;
    this.recordHeader = magic === kMagicModified ? kModifiedRecordHeader : kRecordHeader;
    const major = view.getUint16(pos + 4, this.littleEndian);
    const minor = view.getUint16(pos + 6, this.littleEndian);
    const lengthOrder = lengthOrderOf(major, minor);
    if (lengthOrder === null) throw new Error(`unsupported pcap version ${major}.${minor} (pcap files are version 2.0 to 2.4, as libpcap reads them)`);
    this.lengthOrder = lengthOrder;
    this.snaplen = view.getUint32(pos + 16, this.littleEndian);
    // The upper 16 bits of the link-type field hold FCS information (pcap-savefile(5)).
    this.linkType = view.getUint32(pos + 20, this.littleEndian) & 0x03ffffff;
    // The patched libpcap's cooked captures put a made-up Ethernet header in front of up to snaplen
    // bytes: libpcap allows 14 bytes more for such files, and so must we to cut where tcpdump cuts.
    if (magic === kMagicModified && this.linkType === kLinkTypeEthernet && this.snaplen > 0) this.snaplen += 14;
    this.linkTypes = [this.linkType];
    this.headerSeen = true;
    out.kind = kRecordSkip;
  }
}
