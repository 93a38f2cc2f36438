/**
 * Strings from protocol bytes, one character per byte (ISO 8859-1), as HTTP reads header fields
 * (RFC 9110 5.5: field values are octets; anything above 0x7f is opaque data).
 *
 * Header names and most values repeat from message to message (Host, User-Agent, Accept,
 * "keep-alive", the same server's Content-Type...), so `Latin1Interner` hands back the string it
 * made the last time it saw the same bytes: no string is built, and a repeated name is the very
 * same string, whose hash V8 has already computed for the headers object.
 */

/** Strings of up to this many bytes are built a character at a time (no temporary array). */
const kShortString = 24;
/** Longer strings are built from slices of this many bytes. */
const kSliceBytes = 4096;

/** `bytes[start, end)` as a string of the same length, one character per byte. */
export function latin1(bytes: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n <= 0) return "";
  if (n <= kShortString) {
    let s = "";
    for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
    return s;
  }
  let s = "";
  for (let i = start; i < end; i += kSliceBytes) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + kSliceBytes)) as unknown as number[]);
  }
  return s;
}

/**
 * A direct-mapped cache from short byte strings to the strings made of them. Bounded: `slots` entries
 * of at most `maxBytes` bytes each; a new string simply replaces the one in its slot.
 *
 * @example
 * const names = new Latin1Interner({ lowerCase: true });
 * const a = names.get(new TextEncoder().encode("Host: a"), 0, 4); // "host"
 * const b = names.get(new TextEncoder().encode("HOST: b"), 0, 4); // "host" again
 */
export class Latin1Interner {
  readonly #mask: number;
  readonly #maxBytes: number;
  readonly #lowerCase: boolean;
  /** The bytes each slot's string was made from, back to back, `maxBytes` apart. */
  readonly #keys: Uint8Array;
  /** Length of each slot's key; -1 while the slot is empty. */
  readonly #lengths: Int32Array;
  readonly #strings: string[];

  constructor(options: { slots?: number; maxBytes?: number; lowerCase?: boolean } = {}) {
    const slots = 1 << Math.ceil(Math.log2(Math.max(2, options.slots ?? 1024)));
    this.#mask = slots - 1;
    this.#maxBytes = Math.max(1, options.maxBytes ?? 64);
    this.#lowerCase = options.lowerCase ?? false;
    this.#keys = new Uint8Array(slots * this.#maxBytes);
    this.#lengths = new Int32Array(slots).fill(-1);
    this.#strings = new Array<string>(slots).fill("");
  }

  /** The string of `bytes[start, end)` (lower-cased when the interner was made so). */
  get(bytes: Uint8Array, start: number, end: number): string {
    const n = end - start;
    if (n <= 0) return "";
    if (n > this.#maxBytes) return this.#make(bytes, start, end);
    // FNV-1a over the raw bytes: "Host" and "host" are different keys that give the same string.
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
    const slot = (h ^ (h >>> 15)) & this.#mask;
    const keys = this.#keys;
    const at = slot * this.#maxBytes;
    if (this.#lengths[slot] === n) {
      let i = 0;
      while (i < n && keys[at + i] === bytes[start + i]) i++;
      if (i === n) return this.#strings[slot]!;
    }
    const s = this.#make(bytes, start, end);
    keys.set(bytes.subarray(start, end), at);
    this.#lengths[slot] = n;
    this.#strings[slot] = s;
    return s;
  }

  #make(bytes: Uint8Array, start: number, end: number): string {
    const s = latin1(bytes, start, end);
    return this.#lowerCase ? s.toLowerCase() : s;
  }
}
