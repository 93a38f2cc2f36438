/** What a capture-format parser found at the read position. Reused for every record: no allocation. */
export class CaptureRecord {
  /** kRecord* constant. */
  kind = 0;
  /** Bytes of the stream this record occupies (may exceed the bytes available for kRecordSkip). */
  length = 0;
  /** For packets: offset of the frame bytes in the buffer that was parsed. */
  dataOff = 0;
  capLen = 0;
  wireLen = 0;
  linkType = 0;
  /** Seconds since the epoch: an integer, negative or past 2^32 in pcapng (exact up to 2^53). */
  tsSec = 0;
  /** Nanoseconds within the second, 0 to 999 999 999 (also when tsSec is negative). */
  tsNsec = 0;
  iface = 0;
}

/** More bytes are needed; `length` says how many the record occupies in all (0 if not known yet). */
export const kRecordNeedMore = 0;
/** A packet: the frame fields are set. */
export const kRecordPacket = 1;
/** A record without a packet (file header, interface description, statistics): consumed and skipped. */
export const kRecordSkip = 2;

/**
 * A capture file that cannot be read on: which file, where, what, and what the user can do about it.
 * Every packet before `offset` was delivered. `offset` is -1 when no place in the file is to blame
 * (it could not be opened, or it is empty).
 */
export class CaptureFileError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly problem: string,
    readonly advice = "",
  ) {
    super(`${file}: ${problem}${offset < 0 ? "" : ` at byte offset ${offset}`}${advice === "" ? "" : `: ${advice}`}`);
    this.name = "CaptureFileError";
  }
}

/** A capture format that can be parsed record by record out of a byte buffer. */
export interface CaptureFormat {
  /** Short name for messages ("pcap", "pcapng"). */
  readonly name: string;
  /**
   * Parses the record at `pos` with `avail` bytes available into `out`. Throws a plain Error with
   * a message describing the damage; the reader adds the file name and byte offset.
   */
  next(d: Uint8Array, view: DataView, pos: number, avail: number, out: CaptureRecord): void;
  /** Link types of the interfaces seen so far (for filter validation and `-w`). */
  readonly linkTypes: readonly number[];
  /** Byte order of the file (of its current section, for pcapng). */
  readonly littleEndian: boolean;
}
