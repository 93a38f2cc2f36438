/**
 * pcapng writer for tests (draft-ietf-opsawg-pcapng): section header blocks in either byte order,
 * interface description blocks with their own link type, snaplen and if_tsresol (decimal or binary),
 * enhanced, simple and obsolete packet blocks, custom and unknown blocks (which readers must skip),
 * options with end-of-options, several sections per file; plus helpers that damage a file
 * (truncate it, corrupt a block length) for error-path tests.
 *
 * Every block is framed the same way, which is what lets a reader skip blocks it does not know:
 *
 *   block type u32 | block total length u32 | body, padded to 32 bits | block total length u32
 *
 * All fields use the byte order of the enclosing section, set by its SHB's byte-order magic.
 */
import { toNanoseconds } from "./pcap-writer.ts";
import type { Timestamp } from "./pcap-writer.ts";

/** Block type codes. */
export const PcapngBlockType = {
  SECTION_HEADER: 0x0a0d0d0a,
  INTERFACE_DESCRIPTION: 0x00000001,
  OBSOLETE_PACKET: 0x00000002,
  SIMPLE_PACKET: 0x00000003,
  INTERFACE_STATISTICS: 0x00000005,
  ENHANCED_PACKET: 0x00000006,
  CUSTOM_COPYABLE: 0x00000bad,
  CUSTOM_NOT_COPYABLE: 0x40000bad,
} as const;

/** The byte-order magic in every SHB; read in the wrong order it becomes 0x4d3c2b1a. */
export const kPcapngByteOrderMagic = 0x1a2b3c4d;

/** One option: a code and its value (strings are UTF-8; the writer adds the length and the padding). */
export interface BlockOption {
  readonly code: number;
  readonly value: Uint8Array | string;
}

/** Option codes shared by all blocks and those of the SHB, IDB and EPB used here. */
export const PcapngOptionCode = {
  END_OF_OPTIONS: 0,
  COMMENT: 1,
  SHB_HARDWARE: 2,
  SHB_OS: 3,
  SHB_USERAPPL: 4,
  IF_NAME: 2,
  IF_DESCRIPTION: 3,
  IF_TSRESOL: 9,
  EPB_FLAGS: 2,
} as const;

/** Timestamp resolution of an interface: units of 10^-exponent seconds (base 10) or 2^-exponent seconds (base 2). */
export interface TsResolution {
  readonly base: 10 | 2;
  readonly exponent: number;
}

/** Fields every block may carry. */
interface CommonBlockFields {
  /** Options in order; `comment` is added in front of them. */
  readonly options?: readonly BlockOption[];
  /** An opt_comment option. */
  readonly comment?: string;
  /** Whether to close a non-empty option list with opt_endofopt (default true; the spec allows leaving it out). */
  readonly endOfOptions?: boolean;
}

/** Section header block; starts a section and sets its byte order. */
export interface SectionHeaderBlock extends CommonBlockFields {
  readonly type: "shb";
  /** Byte order of this section (default "little"). */
  readonly byteOrder?: "little" | "big";
  /** Section length: "computed" (default, the real length of the section's other blocks), "unknown" (-1), or a value. */
  readonly sectionLength?: "computed" | "unknown" | bigint;
  /** Major/minor version (default 1.0). */
  readonly version?: readonly [number, number];
  /** shb_hardware / shb_os / shb_userappl options. */
  readonly hardware?: string;
  readonly os?: string;
  readonly userApplication?: string;
}

/** Interface description block; interfaces are numbered from 0 within each section in the order they appear. */
export interface InterfaceDescriptionBlock extends CommonBlockFields {
  readonly type: "idb";
  readonly linkType: number;
  /** Snapshot length; 0 means no limit (default 0). */
  readonly snaplen?: number;
  /** Timestamp resolution, written as if_tsresol when given (default microseconds, a reader's default when the option is absent). */
  readonly tsresol?: TsResolution;
  /** An if_name option. */
  readonly name?: string;
  /** An if_description option. */
  readonly description?: string;
}

/** Packet blocks take a timestamp in ns (converted with the interface's resolution) or raw units. */
interface TimestampFields {
  /** Capture time; converted to the interface's units, truncating. Default 0. */
  readonly timestamp?: Timestamp;
  /** Raw 64-bit timestamp in the interface's units, written as is (wins over `timestamp`). */
  readonly timestampUnits?: bigint;
}

/** Enhanced packet block. */
export interface EnhancedPacketBlock extends CommonBlockFields, TimestampFields {
  readonly type: "epb";
  /** Interface index within the section (default 0). */
  readonly interfaceId?: number;
  /** Captured bytes. */
  readonly data: Uint8Array;
  /** Length on the wire (default `data.length`). */
  readonly originalLength?: number;
  /** An epb_flags option (direction, reception type, FCS length, link-layer errors). */
  readonly flags?: number;
}

/** Simple packet block: no interface id (always interface 0), no timestamp; captured length is implied by the block length. */
export interface SimplePacketBlock {
  readonly type: "spb";
  readonly data: Uint8Array;
  /** Length on the wire (default `data.length`). */
  readonly originalLength?: number;
}

/** Obsolete packet block (type 2), which old writers produced and readers still accept. */
export interface ObsoletePacketBlock extends CommonBlockFields, TimestampFields {
  readonly type: "opb";
  readonly interfaceId?: number;
  readonly dropsCount?: number;
  readonly data: Uint8Array;
  readonly originalLength?: number;
}

/** Custom block (RFC-draft 4.8): a Private Enterprise Number, then data that readers skip unless they know the PEN. */
export interface CustomBlock extends CommonBlockFields {
  readonly type: "custom";
  readonly pen: number;
  readonly data: Uint8Array;
  /** Block type 0x00000BAD (may be copied by editors, default) or 0x40000BAD (may not). */
  readonly copyable?: boolean;
}

/** Any block given as a type code and a body (padded to 32 bits); for unknown or deliberately odd blocks. */
export interface RawBlock {
  readonly type: "raw";
  readonly blockType: number;
  readonly body: Uint8Array;
}

/** Anything encodePcapng() can write. */
export type PcapngBlock =
  | SectionHeaderBlock
  | InterfaceDescriptionBlock
  | EnhancedPacketBlock
  | SimplePacketBlock
  | ObsoletePacketBlock
  | CustomBlock
  | RawBlock;

const utf8 = new TextEncoder();
const microseconds: TsResolution = { base: 10, exponent: 6 };

/** Growable byte sink in one byte order. */
class BlockWriter {
  bytes: number[] = [];
  readonly #le: boolean;

  constructor(littleEndian: boolean) {
    this.#le = littleEndian;
  }

  u8(v: number): void {
    this.bytes.push(v & 0xff);
  }

  u16(v: number): void {
    const b = [v & 0xff, (v >> 8) & 0xff];
    this.bytes.push(...(this.#le ? b : b.reverse()));
  }

  u32(v: number): void {
    const b = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    this.bytes.push(...(this.#le ? b : b.reverse()));
  }

  /** Writes a 64-bit value as the pcapng timestamp does: high 32 bits first, each half in section order. */
  u64Split(v: bigint): void {
    this.u32(Number((v >> 32n) & 0xffffffffn));
    this.u32(Number(v & 0xffffffffn));
  }

  /** Writes a true 64-bit integer in section byte order (the SHB section length). */
  i64(v: bigint): void {
    const u = BigInt.asUintN(64, v);
    const lo = Number(u & 0xffffffffn);
    const hi = Number(u >> 32n);
    if (this.#le) {
      this.u32(lo);
      this.u32(hi);
    } else {
      this.u32(hi);
      this.u32(lo);
    }
  }

  raw(b: Uint8Array): void {
    for (const x of b) this.bytes.push(x);
  }

  pad32(): void {
    while (this.bytes.length % 4 !== 0) this.bytes.push(0);
  }

  options(list: readonly BlockOption[], endOfOptions: boolean): void {
    for (const o of list) {
      const value = typeof o.value === "string" ? utf8.encode(o.value) : o.value;
      this.u16(o.code);
      this.u16(value.length);
      this.raw(value);
      this.pad32();
    }
    if (list.length > 0 && endOfOptions) this.u32(0);
  }
}

/** Returns the one-byte if_tsresol value: the exponent, with the high bit set for base 2. */
export function tsresolByte(resolution: TsResolution): number {
  return resolution.base === 2 ? 0x80 | resolution.exponent : resolution.exponent;
}

/** Converts nanoseconds since the epoch to an interface's timestamp units, truncating. */
export function toTimestampUnits(ns: bigint, resolution: TsResolution): bigint {
  if (resolution.base === 2) return (ns << BigInt(resolution.exponent)) / 1_000_000_000n;
  const e = resolution.exponent;
  return e >= 9 ? ns * 10n ** BigInt(e - 9) : ns / 10n ** BigInt(9 - e);
}

function commonOptions(block: CommonBlockFields, specific: BlockOption[]): BlockOption[] {
  const list: BlockOption[] = [];
  if (block.comment !== undefined) list.push({ code: PcapngOptionCode.COMMENT, value: block.comment });
  return [...list, ...specific, ...(block.options ?? [])];
}

/** Wraps a body into a block: type, total length, body padded to 32 bits, total length again. */
function frameBlock(le: boolean, blockType: number, body: number[]): number[] {
  const w = new BlockWriter(le);
  const padded = Math.ceil(body.length / 4) * 4;
  w.u32(blockType);
  w.u32(12 + padded);
  w.bytes.push(...body);
  w.pad32();
  w.u32(12 + padded);
  return w.bytes;
}

/**
 * Encodes blocks into a pcapng file. The first block must be an SHB. Packet block timestamps are
 * converted with the resolution of the interface they name, looked up in the current section.
 */
export function encodePcapng(blocks: readonly PcapngBlock[]): Uint8Array {
  if (blocks[0]?.type !== "shb") throw new Error("Cannot encode pcapng: the first block must be a section header block (type \"shb\")");
  const encoded: number[][] = [];
  /** Index into `encoded` of each SHB whose section length is computed, and where its section ends. */
  const sections: { index: number; block: SectionHeaderBlock; le: boolean }[] = [];
  let le = true;
  let interfaces: TsResolution[] = [];

  for (const block of blocks) {
    if (block.type === "shb") {
      le = (block.byteOrder ?? "little") === "little";
      interfaces = [];
      sections.push({ index: encoded.length, block, le });
      encoded.push([]); // filled below once the section's length is known
      continue;
    }
    const w = new BlockWriter(le);
    const resolutionOf = (id: number): TsResolution => interfaces[id] ?? microseconds;
    switch (block.type) {
      case "idb": {
        const specific: BlockOption[] = [];
        if (block.name !== undefined) specific.push({ code: PcapngOptionCode.IF_NAME, value: block.name });
        if (block.description !== undefined) specific.push({ code: PcapngOptionCode.IF_DESCRIPTION, value: block.description });
        if (block.tsresol !== undefined) specific.push({ code: PcapngOptionCode.IF_TSRESOL, value: Uint8Array.of(tsresolByte(block.tsresol)) });
        w.u16(block.linkType);
        w.u16(0);
        w.u32(block.snaplen ?? 0);
        w.options(commonOptions(block, specific), block.endOfOptions ?? true);
        interfaces.push(block.tsresol ?? microseconds);
        encoded.push(frameBlock(le, PcapngBlockType.INTERFACE_DESCRIPTION, w.bytes));
        break;
      }
      case "epb": {
        const id = block.interfaceId ?? 0;
        const units = block.timestampUnits ?? toTimestampUnits(toNanoseconds(block.timestamp ?? 0n), resolutionOf(id));
        const specific: BlockOption[] = [];
        if (block.flags !== undefined) {
          const f = new BlockWriter(le);
          f.u32(block.flags);
          specific.push({ code: PcapngOptionCode.EPB_FLAGS, value: Uint8Array.from(f.bytes) });
        }
        w.u32(id);
        w.u64Split(units);
        w.u32(block.data.length);
        w.u32(block.originalLength ?? block.data.length);
        w.raw(block.data);
        w.pad32();
        w.options(commonOptions(block, specific), block.endOfOptions ?? true);
        encoded.push(frameBlock(le, PcapngBlockType.ENHANCED_PACKET, w.bytes));
        break;
      }
      case "spb":
        w.u32(block.originalLength ?? block.data.length);
        w.raw(block.data);
        encoded.push(frameBlock(le, PcapngBlockType.SIMPLE_PACKET, w.bytes));
        break;
      case "opb": {
        const id = block.interfaceId ?? 0;
        const units = block.timestampUnits ?? toTimestampUnits(toNanoseconds(block.timestamp ?? 0n), resolutionOf(id));
        w.u16(id);
        w.u16(block.dropsCount ?? 0);
        w.u64Split(units);
        w.u32(block.data.length);
        w.u32(block.originalLength ?? block.data.length);
        w.raw(block.data);
        w.pad32();
        w.options(commonOptions(block, []), block.endOfOptions ?? true);
        encoded.push(frameBlock(le, PcapngBlockType.OBSOLETE_PACKET, w.bytes));
        break;
      }
      case "custom":
        w.u32(block.pen);
        w.raw(block.data);
        w.pad32();
        w.options(commonOptions(block, []), block.endOfOptions ?? true);
        encoded.push(frameBlock(le, block.copyable === false ? PcapngBlockType.CUSTOM_NOT_COPYABLE : PcapngBlockType.CUSTOM_COPYABLE, w.bytes));
        break;
      case "raw":
        w.raw(block.body);
        encoded.push(frameBlock(le, block.blockType, w.bytes));
        break;
    }
  }

  sections.forEach(({ index, block, le: sectionLe }, i) => {
    const end = i + 1 < sections.length ? sections[i + 1]!.index : encoded.length;
    let length = 0;
    for (let j = index + 1; j < end; j++) length += encoded[j]!.length;
    const w = new BlockWriter(sectionLe);
    const specific: BlockOption[] = [];
    if (block.hardware !== undefined) specific.push({ code: PcapngOptionCode.SHB_HARDWARE, value: block.hardware });
    if (block.os !== undefined) specific.push({ code: PcapngOptionCode.SHB_OS, value: block.os });
    if (block.userApplication !== undefined) specific.push({ code: PcapngOptionCode.SHB_USERAPPL, value: block.userApplication });
    w.u32(kPcapngByteOrderMagic);
    w.u16(block.version?.[0] ?? 1);
    w.u16(block.version?.[1] ?? 0);
    const sectionLength = block.sectionLength ?? "computed";
    w.i64(sectionLength === "computed" ? BigInt(length) : sectionLength === "unknown" ? -1n : sectionLength);
    w.options(commonOptions(block, specific), block.endOfOptions ?? true);
    encoded[index] = frameBlock(sectionLe, PcapngBlockType.SECTION_HEADER, w.bytes);
  });

  const out = new Uint8Array(encoded.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of encoded) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** Where a block sits in a pcapng file. */
export interface PcapngBlockLocation {
  readonly offset: number;
  readonly blockType: number;
  readonly totalLength: number;
  readonly littleEndian: boolean;
}

/**
 * Lists the blocks of a well-formed pcapng file (each SHB switches the byte order). Stops at the
 * first block that does not fit, so it also works on the intact prefix of a damaged file.
 */
export function pcapngBlocks(bytes: Uint8Array): PcapngBlockLocation[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: PcapngBlockLocation[] = [];
  let le = true;
  for (let at = 0; at + 12 <= bytes.length; ) {
    const blockType = view.getUint32(at, true);
    if (blockType === PcapngBlockType.SECTION_HEADER) le = view.getUint32(at + 8, true) === kPcapngByteOrderMagic;
    const totalLength = view.getUint32(at + 4, le);
    if (totalLength < 12 || at + totalLength > bytes.length) break;
    out.push({ offset: at, blockType: view.getUint32(at, le), totalLength, littleEndian: le });
    at += totalLength;
  }
  return out;
}

/** Returns a copy of the first `length` bytes of a file, as if the capture had been cut off there. */
export function truncateAt(bytes: Uint8Array, length: number): Uint8Array {
  return bytes.slice(0, length);
}

/**
 * Returns a copy of a pcapng file in which block number `blockIndex` (0-based, as listed by
 * pcapngBlocks()) has its leading, trailing or both total-length fields set to `newLength`.
 */
export function corruptBlockLength(
  bytes: Uint8Array,
  blockIndex: number,
  newLength: number,
  which: "leading" | "trailing" | "both" = "both",
): Uint8Array {
  const block = pcapngBlocks(bytes)[blockIndex];
  if (block === undefined) throw new RangeError(`Cannot corrupt pcapng block: there is no block ${blockIndex}`);
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  if (which !== "trailing") view.setUint32(block.offset + 4, newLength >>> 0, block.littleEndian);
  if (which !== "leading") view.setUint32(block.offset + block.totalLength - 4, newLength >>> 0, block.littleEndian);
  return out;
}
