/**
 * A deliberately tiny classic-pcap record walker, for tests that check what the fixture tools wrote
 * (record counts, timestamps, checksums) without depending on the host's own reader in core/,
 * which is the thing those fixtures exist to test.
 */

/** One record of a classic pcap file. */
export interface PcapRecordView {
  /** Timestamp in nanoseconds since the epoch (microsecond files are scaled up). */
  readonly timestampNs: bigint;
  readonly originalLength: number;
  /** The captured bytes (a view into the file). */
  readonly data: Uint8Array;
}

/** Global header fields of a classic pcap file. */
export interface PcapFileView {
  readonly littleEndian: boolean;
  readonly nanosecond: boolean;
  readonly snaplen: number;
  readonly linkType: number;
  readonly records: PcapRecordView[];
}

/** Parses a whole classic pcap file; throws if the magic is unknown or a record runs past the end. */
export function readPcapRecords(bytes: Uint8Array): PcapFileView {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLe = view.getUint32(0, true);
  const magicBe = view.getUint32(0, false);
  const known = [0xa1b2c3d4, 0xa1b23c4d];
  if (!known.includes(magicLe) && !known.includes(magicBe)) {
    throw new Error(`Cannot read pcap file: unknown magic number 0x${magicBe.toString(16)}`);
  }
  const le = known.includes(magicLe);
  const nanosecond = (le ? magicLe : magicBe) === 0xa1b23c4d;
  const records: PcapRecordView[] = [];
  for (let at = 24; at < bytes.length; ) {
    if (at + 16 > bytes.length) throw new Error(`Cannot read pcap file: record header cut short at byte offset ${at}`);
    const sec = view.getUint32(at, le);
    const sub = view.getUint32(at + 4, le);
    const caplen = view.getUint32(at + 8, le);
    const originalLength = view.getUint32(at + 12, le);
    if (at + 16 + caplen > bytes.length) throw new Error(`Cannot read pcap file: record data cut short at byte offset ${at}`);
    const timestampNs = BigInt(sec) * 1_000_000_000n + BigInt(nanosecond ? sub : sub * 1000);
    records.push({ timestampNs, originalLength, data: bytes.subarray(at + 16, at + 16 + caplen) });
    at += 16 + caplen;
  }
  return { littleEndian: le, nanosecond, snaplen: view.getUint32(16, le), linkType: view.getUint32(20, le), records };
}
