import { kBadAddressLength, kTruncated } from "../decode-result.ts";

/** An ARP (or RARP) packet. Address fields are offsets into the buffer. */
export class ArpLayer {
  hardwareType = 0;
  protocolType = 0;
  hardwareLength = 0;
  protocolLength = 0;
  /** 1 request, 2 reply, 3/4 RARP request/reply. */
  operation = 0;
  senderHardwareOff = 0;
  senderProtocolOff = 0;
  targetHardwareOff = 0;
  targetProtocolOff = 0;
}

/** Decodes an ARP header; returns the offset after the addresses or a negative status. */
export function decodeArp(d: Uint8Array, off: number, end: number, out: ArpLayer): number {
  if (end - off < 8) return kTruncated;
  out.hardwareType = (d[off] << 8) | d[off + 1];
  out.protocolType = (d[off + 2] << 8) | d[off + 3];
  const hl = d[off + 4];
  const pl = d[off + 5];
  out.hardwareLength = hl;
  out.protocolLength = pl;
  out.operation = (d[off + 6] << 8) | d[off + 7];
  if (hl === 0 || pl === 0) return kBadAddressLength;
  const total = 8 + 2 * (hl + pl);
  if (end - off < total) return kTruncated;
  out.senderHardwareOff = off + 8;
  out.senderProtocolOff = off + 8 + hl;
  out.targetHardwareOff = off + 8 + hl + pl;
  out.targetProtocolOff = off + 8 + 2 * hl + pl;
  return off + total;
}
