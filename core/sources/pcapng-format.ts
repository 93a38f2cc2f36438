import { kMaxCapLen } from "../ring/ring-layout.ts";
import { type CaptureFormat, type CaptureRecord, kRecordNeedMore, kRecordPacket, kRecordSkip } from "./capture-record.ts";

const kSectionHeader = 0x0a0d0d0a;
const kByteOrderMagic = 0x1a2b3c4d;
const kInterfaceDescription = 1;
const kObsoletePacket = 2;
const kSimplePacket = 3;
const kEnhancedPacket = 6;
const kOptIfTsresol = 9;
const kOptIfTsoffset = 14;

/** Largest non-packet block we parse; bigger ones (huge comments, custom blocks) are skipped unread. */
const kMaxParsedBlock = 1 << 20;

/** True when the four bytes at `pos` start a pcapng Section Header Block. */
export function isPcapngMagic(view: DataView, pos: number): boolean {
  return view.getUint32(pos, false) === kSectionHeader;
}

/** One Interface Description Block: the link type and how to read timestamps of its packets. */
interface PcapngInterface {
  linkType: number;
  snaplen: number;
  /** Timestamp units per second is 10^decimalExp, or 2^binaryExp when binaryExp >= 0. */
  decimalExp: number;
  binaryExp: number;
  /** if_tsoffset: seconds added to every timestamp (a signed 64-bit integer in the file). */
  offsetSec: number;
}

/**
 * pcapng (draft-ietf-opsawg-pcapng): sections (SHB) in either byte order, interfaces (IDB) with their
 * own link type and timestamp resolution, and packets in EPB, SPB and the obsolete OPB. Every other
 * block type is skipped by its length, as the format intends.
 */
export class PcapngFormat implements CaptureFormat {
  readonly name = "pcapng";
  /** Byte order of the file (pcapng: of the current section). */
  littleEndian = true;
  private inSection = false;
  private interfaces: PcapngInterface[] = [];
  /** Link types of every interface of every section seen so far. */
  linkTypes: number[] = [];
  // Results of the 64-bit timestamp division, kept as fields so that no object is allocated.
  private sec = 0;
  private nsec = 0;

  next(d: Uint8Array, view: DataView, pos: number, avail: number, out: CaptureRecord): void {
    if (avail < 12) {
      out.kind = kRecordNeedMore;
      out.length = 0;
      return;
    }
    const typeBe = view.getUint32(pos, false);
    if (typeBe === kSectionHeader) {
      // The byte-order magic decides how to read everything in the section, this block's length too.
      const bom = view.getUint32(pos + 8, true);
      if (bom === kByteOrderMagic) this.littleEndian = true;
      else if (bom === 0x4d3c2b1a) this.littleEndian = false;
      else throw new Error("section header has no valid byte-order magic");
    } else if (!this.inSection) {
      throw new Error("file does not start with a pcapng section header");
    }
    const le = this.littleEndian;
    const type = view.getUint32(pos, le);
    const length = view.getUint32(pos + 4, le);
    if (length < 12 || length % 4 !== 0) throw new Error(`block length ${length} is invalid`);
    out.length = length;
    const isPacket = type === kEnhancedPacket || type === kSimplePacket || type === kObsoletePacket;
    if (!isPacket && type !== kSectionHeader && type !== kInterfaceDescription) {
      out.kind = kRecordSkip; // may be longer than `avail`: the reader skips the rest unread
      return;
    }
    if (length > avail) {
      if (!isPacket && length > kMaxParsedBlock) throw new Error(`block length ${length} is too large`);
      if (isPacket && length > kMaxCapLen + kMaxParsedBlock) throw new Error(`block length ${length} is too large`);
      out.kind = kRecordNeedMore;
      return;
    }
    if (view.getUint32(pos + length - 4, le) !== length) {
      throw new Error(`block length ${length} does not match its trailing copy`);
    }
    switch (type) {
      case kSectionHeader:
        return this.sectionHeader(view, pos, length, out);
      case kInterfaceDescription:
        return this.interfaceDescription(view, pos, length, out);
      case kEnhancedPacket:
        return this.timedPacket(view, pos, length, out, false);
      case kSimplePacket:
        return this.simplePacket(view, pos, length, out);
      default:
        return this.timedPacket(view, pos, length, out, true);
    }
  }

  private sectionHeader(view: DataView, pos: number, length: number, out: CaptureRecord): void {
    if (length < 28) throw new Error(`section header length ${length} is too short`);
    const major = view.getUint16(pos + 12, this.littleEndian);
    if (major !== 1) throw new Error(`unsupported pcapng version ${major}`);
    this.inSection = true;
    this.interfaces = [];
    out.kind = kRecordSkip;
  }

  private interfaceDescription(view: DataView, pos: number, length: number, out: CaptureRecord): void {
    const le = this.littleEndian;
    if (length < 20) throw new Error(`interface description length ${length} is too short`);
    const iface: PcapngInterface = {
      linkType: view.getUint16(pos + 8, le),
      snaplen: view.getUint32(pos + 12, le),
      decimalExp: 6,
      binaryExp: -1,
      offsetSec: 0,
    };
    let p = pos + 16;
    const end = pos + length - 4;
    while (end - p >= 4) {
      const code = view.getUint16(p, le);
      const len = view.getUint16(p + 2, le);
      if (code === 0) break;
      if (p + 4 + len > end) throw new Error("interface option runs past the end of its block");
      if (code === kOptIfTsresol && len >= 1) {
        const v = view.getUint8(p + 4);
        if (v & 0x80) {
          iface.binaryExp = v & 0x7f;
        } else {
          iface.decimalExp = v;
        }
        if ((iface.binaryExp > 63) || iface.decimalExp > 18) throw new Error(`if_tsresol ${v} is out of range`);
      } else if (code === kOptIfTsoffset && len >= 8) {
        // Signed 64 bits: the high word carries the sign, and offsets past 2^31 s (2038) are valid.
        const high = view.getInt32(p + 4 + (le ? 4 : 0), le);
        const low = view.getUint32(p + 4 + (le ? 0 : 4), le);
        iface.offsetSec = high * 4294967296 + low;
      }
      p += 4 + ((len + 3) & ~3);
    }
    this.interfaces.push(iface);
    this.linkTypes.push(iface.linkType);
    out.kind = kRecordSkip;
  }

  private iface(id: number): PcapngInterface {
    const i = this.interfaces[id];
    if (i === undefined) throw new Error(`packet refers to interface ${id}, which was not described`);
    return i;
  }

  /**
   * An EPB, or the obsolete OPB: the same layout after the interface id, which the OPB keeps in 16
   * bits (followed by a drops counter) where the EPB has 32.
   */
  private timedPacket(view: DataView, pos: number, length: number, out: CaptureRecord, obsolete: boolean): void {
    const le = this.littleEndian;
    if (length < 32) throw new Error(`${obsolete ? "packet" : "enhanced packet"} block length ${length} is too short`);
    const id = obsolete ? view.getUint16(pos + 8, le) : view.getUint32(pos + 8, le);
    const iface = this.iface(id);
    const capLen = view.getUint32(pos + 20, le);
    if (capLen > length - 32) throw new Error(`captured length ${capLen} exceeds its block`);
    this.timestamp(iface, view.getUint32(pos + 12, le), view.getUint32(pos + 16, le));
    this.packet(out, iface, id, pos + 28, capLen, view.getUint32(pos + 24, le));
  }

  private simplePacket(view: DataView, pos: number, length: number, out: CaptureRecord): void {
    if (length < 16) throw new Error(`simple packet block length ${length} is too short`);
    const iface = this.iface(0);
    const wireLen = view.getUint32(pos + 8, this.littleEndian);
    // An SPB has no captured length: it is the original length cut by the snap length and the block.
    let capLen = Math.min(wireLen, length - 16);
    if (iface.snaplen !== 0) capLen = Math.min(capLen, iface.snaplen);
    // No timestamp either: the packet keeps the previous one (sec/nsec are left as they were).
    this.packet(out, iface, 0, pos + 12, capLen, wireLen);
  }

  private packet(out: CaptureRecord, iface: PcapngInterface, id: number, dataOff: number, capLen: number, wireLen: number): void {
    if (capLen > kMaxCapLen) throw new Error(`captured length ${capLen} is more than the maximum of ${kMaxCapLen}`);
    out.kind = kRecordPacket;
    out.dataOff = dataOff;
    out.capLen = capLen;
    out.wireLen = wireLen;
    out.linkType = iface.linkType;
    out.iface = id;
    out.tsSec = this.sec;
    out.tsNsec = this.nsec;
  }

  /**
   * Converts a 64-bit tick count (hi:lo) in the interface's units into seconds and nanoseconds,
   * exactly, without BigInt: the count is divided by 16-bit limbs so no intermediate exceeds 2^53.
   * The seconds are a number, exact up to 2^53 (only units of 2^-10 s or coarser reach beyond);
   * they may exceed 32 bits (past 2106) or, with if_tsoffset, be negative.
   */
  private timestamp(iface: PcapngInterface, hi: number, lo: number): void {
    if (iface.binaryExp >= 0) {
      // Split hi:lo at bit e into seconds and fraction without forming the 64-bit count: a double
      // holds 53 bits, and today's date in 2^-30 s units needs 61 (nanoseconds came out 70 ns off).
      const e = iface.binaryExp;
      let sec: number;
      let fracHi = 0;
      let fracLo: number;
      if (e >= 32) {
        const unitHi = 2 ** (e - 32);
        sec = Math.floor(hi / unitHi);
        fracHi = hi - sec * unitHi;
        fracLo = lo;
      } else {
        const unit = 2 ** e;
        sec = hi * 2 ** (32 - e) + Math.floor(lo / unit);
        fracLo = lo % unit;
      }
      this.sec = sec + iface.offsetSec;
      this.nsec = binaryFractionNanos(fracHi, fracLo, e);
      return;
    }
    let e = iface.decimalExp;
    if (e > 9) {
      // Finer than nanoseconds: first reduce the count to nanoseconds.
      divide64(hi, lo, 10 ** (e - 9));
      hi = qHi;
      lo = qLo;
      e = 9;
    }
    const unit = 10 ** e;
    divide64(hi, lo, unit);
    this.sec = qHi * 4294967296 + qLo + iface.offsetSec;
    this.nsec = rem * 10 ** (9 - e);
  }
}

// 16-bit limbs of a 96-bit product, least significant first (binaryFractionNanos).
const limbs = new Float64Array(6);

/**
 * floor(hi:lo × 10^9 / 2^e) for a fraction hi:lo < 2^e, exactly, as Wireshark computes it in 64-bit
 * integers: the product is formed in 16-bit limbs so that no intermediate exceeds 2^53.
 */
function binaryFractionNanos(hi: number, lo: number, e: number): number {
  let p = (lo & 0xffff) * 1e9;
  limbs[0] = p % 65536;
  p = (lo >>> 16) * 1e9 + Math.floor(p / 65536);
  limbs[1] = p % 65536;
  p = (hi & 0xffff) * 1e9 + Math.floor(p / 65536);
  limbs[2] = p % 65536;
  p = (hi >>> 16) * 1e9 + Math.floor(p / 65536);
  limbs[3] = p % 65536;
  p = Math.floor(p / 65536);
  limbs[4] = p % 65536;
  limbs[5] = Math.floor(p / 65536);
  // The product shifted right by e: the limbs from bit 16k up (below 2^46, since the result is
  // below 10^9), then the rest of the shift.
  const k = e >>> 4;
  let v = 0;
  for (let i = 5; i >= k; i--) v = v * 65536 + limbs[i];
  return Math.floor(v / 2 ** (e - 16 * k));
}

// Quotient (high, low 32 bits) and remainder of the last divide64 call.
let qHi = 0;
let qLo = 0;
let rem = 0;

/** Divides the unsigned 64-bit value hi:lo by `divisor` (< 2^36) into qHi:qLo and rem. */
function divide64(hi: number, lo: number, divisor: number): void {
  let r = 0;
  let q3: number;
  let q2: number;
  let q1: number;
  let q0: number;
  r = r * 65536 + (hi >>> 16);
  q3 = Math.floor(r / divisor);
  r -= q3 * divisor;
  r = r * 65536 + (hi & 0xffff);
  q2 = Math.floor(r / divisor);
  r -= q2 * divisor;
  r = r * 65536 + (lo >>> 16);
  q1 = Math.floor(r / divisor);
  r -= q1 * divisor;
  r = r * 65536 + (lo & 0xffff);
  q0 = Math.floor(r / divisor);
  r -= q0 * divisor;
  qHi = q3 * 65536 + q2;
  qLo = q1 * 65536 + q0;
  rem = r;
}
