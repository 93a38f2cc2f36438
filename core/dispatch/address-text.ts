/**
 * Text forms of addresses read straight from packet bytes: IPv4 dotted quads, IPv6 in RFC 5952
 * canonical form (what tshark and tcpdump print), MAC addresses with colons.
 */

import { word } from "../../workers/flow-hash.ts";

const hex2: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const dec: string[] = Array.from({ length: 256 }, (_, i) => String(i));

/**
 * The text of IPv4 addresses seen lately, direct-mapped by the address: a link's traffic comes from
 * and goes to a few hosts, so most flows (two addresses each) and most `src`/`dst` reads find their
 * string here instead of joining seven pieces into a new one.
 */
const kIpv4CacheBits = 12;
const ipv4Words = new Int32Array(1 << kIpv4CacheBits);
const ipv4Strings: (string | undefined)[] = new Array<string | undefined>(1 << kIpv4CacheBits).fill(undefined);

/** "192.0.2.1" from the 4 bytes at `off`. */
export function ipv4Text(d: Uint8Array, off: number): string {
  return ipv4WordText(word(d, off));
}

/** "192.0.2.1" from the address as a big-endian int32, as the decode result holds it (not `>>> 0`'d). */
export function ipv4WordText(w: number): string {
  const slot = Math.imul(w, 0x9e3779b1) >>> (32 - kIpv4CacheBits);
  const cached = ipv4Strings[slot];
  if (cached !== undefined && ipv4Words[slot] === w) return cached;
  const text = `${dec[w >>> 24]}.${dec[(w >>> 16) & 255]}.${dec[(w >>> 8) & 255]}.${dec[w & 255]}`;
  ipv4Words[slot] = w;
  ipv4Strings[slot] = text;
  return text;
}

/** "2001:db8::1" from the 16 bytes at `off`: the longest run of two or more zero groups becomes "::". */
export function ipv6Text(d: Uint8Array, off: number): string {
  // IPv4-mapped addresses (::ffff:a.b.c.d) keep the dotted tail, as RFC 5952 section 5 recommends.
  let mapped = d[off + 10] === 0xff && d[off + 11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (d[off + i] !== 0) mapped = false;
  if (mapped) return `::ffff:${ipv4Text(d, off + 12)}`;
  let bestStart = -1;
  let bestLen = 0;
  let runStart = -1;
  for (let g = 0; g < 8; g++) {
    const zero = d[off + 2 * g] === 0 && d[off + 2 * g + 1] === 0;
    if (zero) {
      if (runStart < 0) runStart = g;
      const len = g - runStart + 1;
      if (len > bestLen) {
        bestLen = len;
        bestStart = runStart;
      }
    } else {
      runStart = -1;
    }
  }
  if (bestLen < 2) bestStart = -1;
  let s = "";
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      s += g === 0 ? "::" : ":";
      g += bestLen - 1;
      continue;
    }
    s += ((d[off + 2 * g] << 8) | d[off + 2 * g + 1]).toString(16);
    if (g < 7) s += ":";
  }
  return s;
}

/** "00:11:22:33:44:55" from the 6 bytes at `off`. */
export function macText(d: Uint8Array, off: number): string {
  return `${hex2[d[off]]}:${hex2[d[off + 1]]}:${hex2[d[off + 2]]}:${hex2[d[off + 3]]}:${hex2[d[off + 4]]}:${hex2[d[off + 5]]}`;
}

/** Colon-separated hex of `len` bytes (ARP hardware addresses that are not 6 bytes long). */
export function hexText(d: Uint8Array, off: number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) s += (i ? ":" : "") + hex2[d[off + i]];
  return s;
}

const upperHex2: string[] = hex2.map((h) => h.toUpperCase());

/** d[start, end) as upper-case hex without separators, as BIND and OpenSSL write digests and serials. */
export function upperHexText(d: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += upperHex2[d[i]];
  return s;
}

/** The IP address at `off` as text: 4 bytes are IPv4, 16 are IPv6. */
export function ipText(d: Uint8Array, off: number, family: 4 | 6): string {
  return family === 4 ? ipv4Text(d, off) : ipv6Text(d, off);
}
