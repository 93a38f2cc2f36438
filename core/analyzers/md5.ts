/**
 * MD5 (RFC 1321) of a short text, as hex: what JA3 and JA3S fingerprints are published as.
 *
 * Web Crypto has no MD5, and the analyzers import no runtime's modules (they run unchanged on Node
 * and Deno, and in tests without either's APIs), so it is written out here. It is for identifiers,
 * never for security, and runs once per TLS hello.
 */

/** Per-round left-rotation amounts. */
const kShift = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
/** floor(2^32 * abs(sin(i + 1))) for i in 0..63, as RFC 1321 lists it (Math.sin's last bits are the engine's choice). */
const kSine = Uint32Array.of(
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
);

/**
 * MD5 of `text` as 32 lowercase hex digits; each character counts as one byte (its low 8 bits: JA3
 * text is ASCII).
 *
 * @example
 * md5Hex("");    // "d41d8cd98f00b204e9800998ecf8427e"
 * md5Hex("abc"); // "900150983cd24fb0d6963f7d28e17f72"
 */
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
