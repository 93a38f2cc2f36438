/**
 * The Internet checksum (RFC 1071) used by IPv4, TCP, UDP, ICMP and ICMPv6, split into an unfolded
 * word sum and a fold so that callers can add a pseudo-header and a payload summed separately
 * (the synthetic capture generator precomputes payload sums and patches only the headers).
 */

/**
 * Adds bytes [start, end) of `bytes` to `sum` as big-endian 16-bit words, padding an odd tail with a
 * zero byte. The result is left unfolded: a JavaScript number holds the sum of any packet exactly.
 * `start` must be at an even distance from where the checksummed region begins.
 */
export function sumWords(bytes: Uint8Array, start = 0, end = bytes.length, sum = 0): number {
  let i = start;
  for (; i + 1 < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  return sum;
}

/** Folds an unfolded word sum into 16 bits by adding the carries back in (one's complement addition). */
export function foldSum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** Returns the Internet checksum of bytes [start, end), adding an optional unfolded `initial` sum (a pseudo-header). */
export function internetChecksum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  return ~foldSum(sumWords(bytes, start, end, initial)) & 0xffff;
}

/**
 * Returns the unfolded sum of a TCP/UDP/ICMPv6 pseudo-header: RFC 793 for IPv4 (4-byte addresses) and
 * RFC 8200 section 8.1 for IPv6 (16-byte addresses); the layout differs but the word sum is the same formula.
 */
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, protocol: number, upperLength: number): number {
  return sumWords(src) + sumWords(dst) + protocol + Math.floor(upperLength / 0x10000) + (upperLength & 0xffff);
}
