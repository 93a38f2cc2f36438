import { kTruncated } from "../decode-result.ts";
import { decodeLlc } from "./ethernet.ts";
import type { LinkLayer } from "./link-layer.ts";

/** Decodes an FDDI header (frame control, two MAC addresses) and the LLC/SNAP header after it. */
export function decodeFddi(d: Uint8Array, off: number, end: number, out: LinkLayer): number {
  if (end - off < 13) return kTruncated;
  return decodeLlc(d, off + 13, end, out);
}
