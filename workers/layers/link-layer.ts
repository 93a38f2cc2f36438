import { kTruncated } from "../decode-result.ts";
import { decodeBsdNull, decodeBsdLoop } from "./bsd-null.ts";
import { decodeFddi } from "./fddi.ts";
import { decodeLinuxSll, decodeLinuxSll2 } from "./linux-sll.ts";
import { decodeNflog } from "./nflog.ts";

/** LINKTYPE_* values (https://www.tcpdump.org/linktypes.html) the decoders understand. */
export const kLinkNull = 0;
export const kLinkEthernet = 1;
export const kLinkFddi = 10;
export const kLinkRawOpenBsd = 12;
export const kLinkRawBsdOs = 14;
export const kLinkRaw = 101;
export const kLinkLoop = 108;
export const kLinkLinuxSll = 113;
export const kLinkIpv4 = 228;
export const kLinkIpv6 = 229;
export const kLinkNflog = 239;
export const kLinkLinuxSll2 = 276;

/** What a non-Ethernet link header says about its payload. */
export class LinkLayer {
  /** The protocol carried, as an EtherType (0x0800, 0x86dd, 0x0806, ...), -1 when unknown. */
  etherType = 0;
  /** Where the payload ends (NFLOG carries it in a TLV; everything else runs to the frame's end). */
  payloadEnd = 0;
}

/** The link types isSupportedLinkType accepts, for people. */
export const decodedLinkTypes =
  "Ethernet (1), BSD loopback (0, 108), FDDI (10), raw IP (12, 14, 101, 228, 229), Linux cooked SLL (113) and SLL2 (276), NFLOG (239)";

/** True when `linktype` is one the decode workers can take apart. */
export function isSupportedLinkType(linktype: number): boolean {
  switch (linktype) {
    case kLinkNull:
    case kLinkEthernet:
    case kLinkFddi:
    case kLinkRawOpenBsd:
    case kLinkRawBsdOs:
    case kLinkRaw:
    case kLinkLoop:
    case kLinkLinuxSll:
    case kLinkIpv4:
    case kLinkIpv6:
    case kLinkNflog:
    case kLinkLinuxSll2:
      return true;
  }
  return false;
}

/**
 * Decodes the link header of a non-Ethernet frame (Ethernet has its own decoder because VLAN tags
 * and MPLS follow it); returns the payload offset or a negative status, and sets `out.etherType`.
 * This is the link-type table: adding a link type means one case here and its decoder file.
 */
export function decodeLink(linktype: number, d: Uint8Array, off: number, end: number, out: LinkLayer): number {
  out.payloadEnd = end;
  switch (linktype) {
    case kLinkNull:
      return decodeBsdNull(d, off, end, out);
    case kLinkLoop:
      return decodeBsdLoop(d, off, end, out);
    case kLinkLinuxSll:
      return decodeLinuxSll(d, off, end, out);
    case kLinkLinuxSll2:
      return decodeLinuxSll2(d, off, end, out);
    case kLinkNflog:
      return decodeNflog(d, off, end, out);
    case kLinkFddi:
      return decodeFddi(d, off, end, out);
    case kLinkIpv4:
      out.etherType = 0x0800;
      return off;
    case kLinkIpv6:
      out.etherType = 0x86dd;
      return off;
    default:
      // Raw IP: the version nibble says which.
      if (end - off < 1) return kTruncated;
      out.etherType = ipVersionEtherType(d[off]);
      return off;
  }
}

/** EtherType for a raw IP packet whose first byte is `b0`, -1 when it is neither IPv4 nor IPv6. */
export function ipVersionEtherType(b0: number): number {
  const v = b0 >> 4;
  return v === 4 ? 0x0800 : v === 6 ? 0x86dd : -1;
}
