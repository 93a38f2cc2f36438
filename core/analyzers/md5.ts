/**
 * MD5 (RFC 1321) of a short text, as hex: what JA3 and JA3S fingerprints are published as.
 *
 * Web Crypto has no MD5 and `node:crypto` is not in every runtime the analyzers run on, so it is
 * written out here. It is for identifiers, never for security, and runs once per TLS hello.
 *
 * @example
 * md5Hex("");    // "d41d8cd98f00b204e9800998ecf8427e"
 * md5Hex("abc"); // "900150983cd24fb0d6963f7d28e17f72"
 */

/** Per-round left-rotation amounts. */
const kShift = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
/** floor(2^32 * abs(sin(i + 1))) for i in 0..63. */
const kSine = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0);

/** MD5 of `text` as 32 lowercase hex digits; each character counts as one byte (its low 8 bits: JA3 text is ASCII). */
export function md5Hex(text: string): string {
  const n = text.length;
  // The message, a 1 bit, zeros, and the length in bits as 64 bits little-endian, in 64-byte blocks.
  const blocks = ((n + 8) >> 6) + 1;
  const words = new Uint32Array(blocks * 16);
  for (let i = 0; i < n; i++) words[i >> 2]! |= (text.charCodeAt(i) & 0xff) << ((i & 3) * 8);
  words[n >> 2]! |= 0x80 << ((n & 3) * 8);
  words[blocks * 16 - 2] = (n * 8) >>> 0;
  words[blocks * 16 - 1] = Math.floor((n * 8) / 2 ** 32);

  let a0 = 0x67452301;
  let b0 = 0xefcdab89;
  let c0 = 0x98badcfe;
  let d0 = 0x10325476;
  for (let block = 0; block < words.length; block += 16) {
    let a = a0;
    let b = b0;
    let c = c0;
    let d = d0;
    for (let i = 0; i < 64; i++) {
      let f: number;
      let g: number;
      if (i < 16) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (i < 32) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) & 15;
      } else if (i < 48) {
        f = b ^ c ^ d;
        g = (3 * i + 5) & 15;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) & 15;
      }
      const s = kShift[(i >> 4) * 4 + (i & 3)]!;
      const sum = (a + f + kSine[i]! + words[block + g]!) | 0;
      a = d;
      d = c;
      c = b;
      b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
    }
    a0 = (a0 + a) | 0;
    b0 = (b0 + b) | 0;
    c0 = (c0 + c) | 0;
    d0 = (d0 + d) | 0;
  }
  let hex = "";
  for (const word of [a0, b0, c0, d0]) {
    for (let byte = 0; byte < 4; byte++) hex += ((word >>> (byte * 8)) & 0xff).toString(16).padStart(2, "0");
  }
  return hex;
}
