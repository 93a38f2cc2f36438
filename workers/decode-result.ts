/**
 * Layout of a decode result: what a worker writes for each ring slot and the dispatcher reads.
 *
 * Results are Int32 fields in the ring's `results` SharedArrayBuffer, kResultStride per slot, so a
 * batch of decoded packets crosses threads without one structured-clone object per packet. Offsets
 * are byte offsets into the ring's `data` buffer (not relative to the frame), -1 when absent.
 *
 * Ordering: a worker writes every field of a batch before its task resolves; the dispatcher reads them
 * only after the task's promise settles. Piscina's message passing is the memory barrier, so plain
 * (non-Atomics) reads and writes are enough here.
 */

export const kResLayers = 0; // bit set of kLayer* decoded without error
export const kResFlags = 1; // bit set of kFlag*
export const kResMalformed = 2; // (malformed layer id << 8) | malformed reason code, 0 when well formed
export const kResEtherType = 3; // protocol the link layer carried (EtherType, after VLAN/MPLS), -1 if none
export const kResVlan = 4; // outer VLAN TCI (low 16 bits) | inner VLAN TCI << 16
export const kResTags = 5; // VLAN tag count | MPLS label count << 8 | first VLAN TPID was 802.1ad << 16
export const kResL2Off = 6; // offset of the Ethernet (or other link) header
export const kResL3Off = 7; // offset of the innermost IP (or ARP) header that carries the transport
export const kResIp4Off = 8; // offset of the first IPv4 header, -1 if none
export const kResIp6Off = 9; // offset of the first IPv6 header, -1 if none
export const kResIpProto = 10; // transport protocol number after IPv6 extension headers, -1 if no IP
export const kResFragment = 11; // fragment offset in bytes | more-fragments << 16 | 1 << 17 when the packet is a fragment
export const kResFragId = 12; // IPv4 identification or IPv6 fragment identification
export const kResL4Off = 13; // offset of the TCP/UDP/ICMP header
export const kResPayloadOff = 14; // offset of the transport payload
export const kResPayloadLen = 15; // transport payload length declared by the headers (may exceed what was captured)
export const kResSrcPort = 16;
export const kResDstPort = 17;
export const kResTcpSeq = 18; // uint32 stored as int32
export const kResTcpAck = 19;
export const kResTcpFlags = 20; // the 9 TCP flag bits (NS..FIN)
export const kResTcpWindow = 21;
export const kResTcpOptions = 22; // bit set of kTcpOpt*
export const kResTcpMssWscale = 23; // MSS | window scale << 16
export const kResTcpTsVal = 24;
export const kResTcpTsEcr = 25;
export const kResTcpSack = 26; // offset of the first SACK block from the TCP header | block count << 24
export const kResIcmp = 27; // ICMP/ICMPv6 type << 8 | code
export const kResFlowHash = 28; // symmetric hash of the 5-tuple and VLAN, 0 without transport ports
export const kResIpExt = 29; // bit set of IPv6 extension headers seen (kIp6Ext*)
export const kResFragDataOff = 30; // fragments: offset of the fragment's data (after the IP or fragment header)
export const kResFragDataLen = 31; // fragments: length of that data the IP header declares
// The flow key of a TCP/UDP packet, copied out of the packet so that the flow table on the main thread
// never has to touch the packet's bytes: on that thread they are a cache miss per packet, the result
// record is not (the worker just wrote it). IPv4 uses word 0 of each address only.
export const kResFamily = 32; // 4 or 6 for a TCP/UDP packet with a flow key, 0 otherwise
export const kResSrcAddr = 33; // 4 words: the source address, big-endian words
export const kResDstAddr = 37; // 4 words: the destination address
export const kResStride = 41;
/** Entries per slot in the results array. */
export const kResultStride = kResStride;

/** Layer bits of kResLayers, in decoding order. */
export const kLayerEthernet = 1 << 0;
export const kLayerVlan = 1 << 1;
export const kLayerMpls = 1 << 2;
export const kLayerArp = 1 << 3;
export const kLayerIpv4 = 1 << 4;
export const kLayerIpv6 = 1 << 5;
export const kLayerTcp = 1 << 6;
export const kLayerUdp = 1 << 7;
export const kLayerIcmp = 1 << 8;
export const kLayerIcmpv6 = 1 << 9;
export const kLayerLink = 1 << 10; // a non-Ethernet link header (null, SLL, SLL2, NFLOG, FDDI) was decoded

/** Flag bits of kResFlags. */
export const kFlagMalformed = 1 << 0;
export const kFlagUnsupportedLink = 1 << 1;
export const kFlagFragment = 1 << 2; // an IP fragment: more-fragments set or a non-zero offset
export const kFlagFilteredOut = 1 << 3; // rejected by the capture filter: no events, not counted
export const kFlagTunnel = 1 << 4; // IP in IP: kResIp4Off/kResIp6Off is the outer header

/** TCP option bits of kResTcpOptions. */
export const kTcpOptMss = 1 << 0;
export const kTcpOptWscale = 1 << 1;
export const kTcpOptSackOk = 1 << 2;
export const kTcpOptSack = 1 << 3;
export const kTcpOptTimestamp = 1 << 4;

/** IPv6 extension header bits of kResIpExt. */
export const kIp6ExtHopByHop = 1 << 0;
export const kIp6ExtRouting = 1 << 1;
export const kIp6ExtFragment = 1 << 2;
export const kIp6ExtDestination = 1 << 3;
export const kIp6ExtAuth = 1 << 4;
export const kIp6ExtEsp = 1 << 5;
export const kIp6ExtMobility = 1 << 6;

/** Layer ids used in kResMalformed, and the names `malformed` events carry. */
export const malformedLayerNames = [
  "",
  "link",
  "ethernet",
  "vlan",
  "mpls",
  "arp",
  "ipv4",
  "ipv6",
  "tcp",
  "udp",
  "icmp",
  "icmpv6",
] as const;
export const kMalLink = 1;
export const kMalEthernet = 2;
export const kMalVlan = 3;
export const kMalMpls = 4;
export const kMalArp = 5;
export const kMalIpv4 = 6;
export const kMalIpv6 = 7;
export const kMalTcp = 8;
export const kMalUdp = 9;
export const kMalIcmp = 10;
export const kMalIcmpv6 = 11;

/**
 * Decoder status codes: a decoder returns the offset where its payload starts (>= 0) or one of these
 * (negative). The names are the stable `reason` strings of `malformed` events.
 */
export const kTruncated = -1;
export const kBadVersion = -2;
export const kBadHeaderLength = -3;
export const kBadTotalLength = -4;
export const kBadOption = -5;
export const kBadExtensionHeader = -6;
export const kTooManyHeaders = -7;
export const kBadLength = -8;
export const kBadAddressLength = -9;
export const malformedReasonNames = [
  "",
  "truncated",
  "bad-version",
  "bad-header-length",
  "bad-total-length",
  "bad-option",
  "bad-extension-header",
  "too-many-headers",
  "bad-length",
  "bad-address-length",
] as const;

/** The name of a malformed layer id. */
export type MalformedLayer = Exclude<(typeof malformedLayerNames)[number], "">;
/** The name of a malformed reason. */
export type MalformedReason = Exclude<(typeof malformedReasonNames)[number], "">;
