import { kTruncated } from "../decode-result.ts";
import type { LinkLayer } from "./link-layer.ts";

/**
 * Address-family values seen in BSD loopback headers. AF_INET is 2 everywhere; AF_INET6 differs by
 * OS: 10 Linux, 23 Windows, 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS.
 */
function familyEtherType(family: number): number {
  if (family === 2) return 0x0800;
  if (family === 10 || family === 23 || family === 24 || family === 28 || family === 30) return 0x86dd;
  return -1;
}

/**
 * Decodes a LINKTYPE_NULL header: a 4-byte address family in the byte order of the machine that
 * captured it, which the file does not say. Families are small numbers, so a value that only makes
 * sense byte-swapped is read big-endian.
 */
export function decodeBsdNull(d: Uint8Array, off: number, end: number, out: LinkLayer): number {
  if (end - off < 4) return kTruncated;
  const le = d[off] | (d[off + 1] << 8) | (d[off + 2] << 16) | (d[off + 3] << 24);
  const family = (le & 0xffff0000) !== 0 ? (d[off] << 24) | (d[off + 1] << 16) | (d[off + 2] << 8) | d[off + 3] : le;
  out.etherType = familyEtherType(family >>> 0);
  return off + 4;
}

/** Decodes a LINKTYPE_LOOP header: like NULL, but always big-endian (OpenBSD). */
export function decodeBsdLoop(d: Uint8Array, off: number, end: number, out: LinkLayer): number {
  if (end - off < 4) return kTruncated;
  out.etherType = familyEtherType(((d[off] << 24) | (d[off + 1] << 16) | (d[off + 2] << 8) | d[off + 3]) >>> 0);
  return off + 4;
}
