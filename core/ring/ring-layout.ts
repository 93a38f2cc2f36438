/**
 * Shared-memory layout of the frame ring: the field indices every thread agrees on.
 *
 * The ring is three SharedArrayBuffers plus one control block:
 *
 * ```
 *  data (bytes, split in pages)                    slots (Int32, kSlotStride per slot)
 *  ┌────────────┬────────────┬─────┬────────────┐  ┌──────────────────────────────────┐
 *  │ page 0     │ page 1     │ ... │ page P-1   │  │ slot 0: offset caplen wirelen .. │
 *  │ rec rec .. │ rec rec .. │     │            │  │ slot 1: ...                      │
 *  └────────────┴────────────┴─────┴────────────┘  │ ...  (S slots, S a power of two) │
 *        ▲ frame bytes stay where the producer     └──────────────────────────────────┘
 *        │ put them; slots point into the pages    results (Int32, kResultStride per slot)
 *        │                                         ┌──────────────────────────────────┐
 *  producer ──► publishes slots [tail, head) ──►   │ written by a decode worker, read │
 *  consumer (dispatcher) releases slots in order   │ by the dispatcher: layer offsets │
 *                                                  │ ports, flags, malformed reason.. │
 *                                                  └──────────────────────────────────┘
 * ```
 *
 * Slot numbers are monotonically increasing int32 counters that wrap at 2^31 (`| 0` arithmetic); the
 * slot's index in the arrays is `seq & (S - 1)`. Frames never straddle a page, so a decoder always sees
 * one contiguous byte range, and a page is reusable once every slot that points into it is released.
 */

/** Frame descriptor fields (Int32Array `slots`, `kSlotStride` entries per slot). Written by the producer. */
export const kSlotOffset = 0; // byte offset of the frame's first link-layer byte in `data`
export const kSlotCapLen = 1; // captured length (bytes present in `data`)
export const kSlotWireLen = 2; // original length on the wire
export const kSlotLinkType = 3; // LINKTYPE_* of the frame's interface
export const kSlotTsSec = 4; // timestamp, seconds: the low 32 bits (stored as int32: read with slotSeconds)
export const kSlotTsNsec = 5; // timestamp, nanoseconds within the second
export const kSlotInterface = 6; // interface index (pcapng IDB number, 0 for pcap and live)
// Timestamp, seconds: the high 32 bits, signed. A pcapng timestamp is a 64-bit count and if_tsoffset
// a signed 64-bit number of seconds: past 2106, or before 1970, seconds do not fit 32 bits.
export const kSlotTsSecHigh = 7;
// Eight fields keep a descriptor on a 32-byte boundary.
export const kSlotStride = 8;

/**
 * The seconds of the timestamp in the slot at `s`, from its two words (exact up to 2^53 s, beyond
 * which no number is).
 */
export function slotSeconds(slots: Int32Array, s: number): number {
  return slots[s + kSlotTsSecHigh] * 4294967296 + (slots[s + kSlotTsSec] >>> 0);
}

/** Control block fields (Int32Array `control`): counters every thread may read. */
export const kCtlSlotHead = 0; // next slot sequence the producer will write (published with Atomics.store)
export const kCtlSlotTail = 1; // next slot sequence the consumer will release (published with Atomics.store)
export const kCtlByteOrder = 2; // byte order of the capture file: kByteOrderLittle / kByteOrderBig, 0 unknown
export const kCtlStop = 3; // set to 1 by the consumer when a producer thread should stop reading
export const kCtlWaiting = 4; // 1 while a producer thread sleeps on kCtlDoorbell (release() rings once the tail reaches kCtlWantTail)
export const kCtlWantTail = 5; // the tail that sleeping producer waits for: release() rings only once there
export const kCtlDoorbell = 6; // what a waiting producer sleeps on: bumped by release() and requestStop() when they wake it
export const kCtlStride = 16;
// After the kCtlStride fixed fields, one word per page: the slot sequence that ends the page (see FrameRing).
export const kCtlPageEnds = kCtlStride;

/**
 * Byte orders at kCtlByteOrder. Written by the file source before it publishes any frame, read by a
 * decode worker when it compiles the capture filter: libpcap reads the address family of a BSD
 * loopback header in the file's byte order, and so must the filter.
 */
export const kByteOrderLittle = 1;
export const kByteOrderBig = 2;

/** Smallest ring the host accepts: two pages that each hold the largest frame libpcap can return. */
export const kMinRingBytes = 1 << 20;
/** Largest captured length accepted from a file record (libpcap's MAXIMUM_SNAPLEN). */
export const kMaxCapLen = 262144;
