/**
 * What the filter compiler needs to know about each link type: where the link-layer type field and
 * the network-layer header are, and which family of "is this protocol X?" test applies. The numbers
 * are libpcap 1.10's init_linktype() (gencode.c), so offsets match what tcpdump compiles, quirks
 * included (Frame Relay reads the IP header 4 bytes early; SLIP checks the version nibble in its
 * pseudo-header; all Juniper types only check the magic number).
 *
 * Keys are the link-type numbers found in pcap and pcapng files (LINKTYPE_*). Where libpcap maps a
 * file value to a different DLT_* number (101 -> DLT_RAW 12, 100 -> DLT_ATM_RFC1483 11, ...), the
 * DLT_* value is accepted as well, so callers may pass either.
 */

/** Stands for libpcap's OFFSET_NOT_SET; offsets are unsigned 32-bit and wrap like libpcap's u_int. */
export const kOffsetNotSet = 0xffffffff;

/** Which gen_linktype() branch a link type takes (how "is it IPv4?" is decided). */
export type LinkFamily =
  | "ethernet" // EtherType at off_linktype, 802.2/802.3 below 1500 (gen_ether_linktype)
  | "cisco-hdlc" // EtherType-like field, OSI as 0xfefe
  | "ieee802-11" // 802.11 data frame check, then LLC/SNAP (gen_llc_linktype)
  | "llc" // LLC/SNAP only: FDDI, token ring, ATM RFC 1483, IP over Fibre Channel
  | "sunatm" // SunATM pseudo-header protocol field = LLC, then LLC/SNAP
  | "linux-sll" // EtherType, 802.2 and 802.3 pseudo-types (gen_linux_sll_linktype)
  | "raw-ip" // no type field: IP version nibble (DLT_RAW, SLIP)
  | "ipv4" // always IPv4
  | "ipv6" // always IPv6
  | "ppp" // PPP protocol numbers
  | "bsd-null" // address family in the capturing host's byte order
  | "bsd-loop" // address family in network byte order
  | "arcnet" // ARCnet protocol bytes
  | "localtalk" // AppleTalk only
  | "frame-relay" // NLPIDs
  | "juniper" // Juniper magic number, whatever the protocol
  | "bacnet" // BACnet MS/TP preamble
  | "ipnet" // Solaris ipnet address family byte
  | "generic" // EtherType at off_linktype when set, else "not implemented"
  | "not-implemented"; // libpcap refuses any link-layer type test

/** One link type's layout. Offsets are from the frame's first byte. */
export interface LinkType {
  /** The number the caller passed, after masking the FCS bits of the pcap header. */
  readonly number: number;
  /** Human-readable name for messages ("Ethernet", "Raw IPv4"). */
  readonly description: string;
  readonly family: LinkFamily;
  /** Start of the link-layer header (non-zero after a fixed pseudo-header, e.g. netANALYZER). */
  readonly linkHeader: number;
  /** True when a radiotap header of variable length precedes the 802.11 header. */
  readonly radiotap: boolean;
  /** Offset of the type field (kOffsetNotSet when there is none). */
  readonly linkType: number;
  /** Offset of the link-layer payload; for 802.11 the constant part (the rest is computed per frame). */
  readonly linkPayload: number;
  /** True when the payload offset depends on the frame (802.11: QoS field, radiotap padding). */
  readonly variablePayload: boolean;
  /** Network header relative to the payload: 8 for LLC/SNAP, 0 otherwise (libpcap off_nl). */
  readonly network: number;
  /** Same, for frames without SNAP (libpcap off_nl_nosnap). */
  readonly networkNoSnap: number;
  /** Where Ethernet-style source and destination addresses are, relative to `linkHeader`, if the link has them. */
  readonly macAddresses?: { readonly src: number; readonly dst: number };
  /** libpcap's "X link-layer type filtering not implemented" subject, for not-implemented families. */
  readonly refusal?: string;
  /** True for link types that allow `vlan` (Ethernet, 802.11). */
  readonly vlan: boolean;
}

const N = kOffsetNotSet;

interface Row {
  readonly numbers: readonly number[];
  readonly description: string;
  readonly family: LinkFamily;
  /** [linkType, linkPayload, network, networkNoSnap] as in init_linktype(). */
  readonly offsets: readonly [number, number, number, number];
  readonly linkHeader?: number;
  readonly radiotap?: boolean;
  readonly variablePayload?: boolean;
  readonly macAddresses?: { readonly src: number; readonly dst: number };
  readonly refusal?: string;
  readonly vlan?: boolean;
}

const rows: readonly Row[] = [
  { numbers: [1], description: "Ethernet", family: "ethernet", offsets: [12, 14, 0, 3], macAddresses: { src: 6, dst: 0 }, vlan: true },
  { numbers: [240], description: "netANALYZER", family: "ethernet", offsets: [16, 18, 0, 3], linkHeader: 4, macAddresses: { src: 6, dst: 0 }, vlan: true },
  { numbers: [241], description: "netANALYZER transparent", family: "ethernet", offsets: [24, 26, 0, 3], linkHeader: 12, macAddresses: { src: 6, dst: 0 }, vlan: true },
  { numbers: [0], description: "BSD loopback", family: "bsd-null", offsets: [0, 4, 0, 0] },
  { numbers: [108], description: "OpenBSD loopback", family: "bsd-loop", offsets: [0, 4, 0, 0] },
  { numbers: [109], description: "OpenBSD encapsulated IP", family: "bsd-null", offsets: [0, 12, 0, 0] },
  { numbers: [101, 12, 14], description: "Raw IP", family: "raw-ip", offsets: [N, 0, 0, 0] },
  { numbers: [228], description: "Raw IPv4", family: "ipv4", offsets: [N, 0, 0, 0] },
  { numbers: [229], description: "Raw IPv6", family: "ipv6", offsets: [N, 0, 0, 0] },
  { numbers: [8], description: "SLIP", family: "raw-ip", offsets: [N, 16, 0, 0] },
  { numbers: [102], description: "SLIP (BSD/OS)", family: "raw-ip", offsets: [N, 24, 0, 0] },
  { numbers: [113], description: "Linux cooked v1", family: "linux-sll", offsets: [14, 16, 0, 0] },
  { numbers: [276], description: "Linux cooked v2", family: "generic", offsets: [0, 20, 0, 0] },
  { numbers: [9], description: "PPP", family: "ppp", offsets: [2, 4, 0, 0] },
  { numbers: [166], description: "PPP for pppd, with direction flag", family: "ppp", offsets: [2, 4, 0, 0] },
  { numbers: [50], description: "PPP over serial", family: "ppp", offsets: [2, 4, 0, 0] },
  { numbers: [51], description: "PPPoE", family: "ppp", offsets: [6, 8, 0, 0] },
  { numbers: [104], description: "Cisco HDLC", family: "cisco-hdlc", offsets: [2, 4, 0, 0] },
  { numbers: [112, 16], description: "Cisco HDLC (NetBSD)", family: "cisco-hdlc", offsets: [2, 4, 0, 0] },
  { numbers: [10], description: "FDDI", family: "llc", offsets: [13, 13, 8, 3], macAddresses: { src: 7, dst: 1 } },
  { numbers: [6], description: "Token ring", family: "llc", offsets: [14, 14, 8, 3], macAddresses: { src: 8, dst: 2 } },
  { numbers: [122], description: "IP over Fibre Channel", family: "llc", offsets: [16, 16, 8, 3], macAddresses: { src: 10, dst: 2 } },
  { numbers: [100, 11], description: "RFC 1483 LLC/SNAP-encapsulated ATM", family: "llc", offsets: [0, 0, 8, 3] },
  { numbers: [106, 19], description: "Linux Classical IP over ATM", family: "llc", offsets: [0, 0, 8, 3] },
  { numbers: [123], description: "Sun raw ATM", family: "sunatm", offsets: [4, 4, 8, 3] },
  { numbers: [105], description: "802.11", family: "ieee802-11", offsets: [24, 0, 8, 3], variablePayload: true, vlan: true },
  { numbers: [127], description: "802.11 plus radiotap header", family: "ieee802-11", offsets: [24, 0, 8, 3], variablePayload: true, radiotap: true, vlan: true },
  { numbers: [7], description: "ARCNET", family: "arcnet", offsets: [2, 6, 0, 0] },
  { numbers: [129], description: "Linux ARCNET", family: "arcnet", offsets: [4, 8, 0, 0] },
  { numbers: [114], description: "LocalTalk", family: "localtalk", offsets: [N, 0, 0, 0] },
  { numbers: [107], description: "Frame Relay", family: "frame-relay", offsets: [N, 0, 0, 0] },
  { numbers: [182], description: "Multi-link Frame Relay", family: "not-implemented", offsets: [N, 0, 4, 0], refusal: "Multi-link Frame Relay" },
  { numbers: [138], description: "Apple IP-over-IEEE 1394", family: "generic", offsets: [16, 18, 0, 0] },
  { numbers: [99], description: "Symantec Firewall", family: "generic", offsets: [6, 44, 0, 0] },
  { numbers: [134, 131, 130, 179, 181, 180], description: "Juniper", family: "juniper", offsets: [4, 4, 0, N] },
  { numbers: [137], description: "Juniper ATM1 PIC", family: "juniper", offsets: [4, 4, 0, 10] },
  { numbers: [135], description: "Juniper ATM2 PIC", family: "juniper", offsets: [8, 8, 0, 10] },
  { numbers: [167, 178], description: "Juniper Ethernet", family: "juniper", offsets: [16, 14, 18, 21] },
  { numbers: [168], description: "Juniper PPPoE/ATM", family: "juniper", offsets: [4, 6, 0, N] },
  { numbers: [133], description: "Juniper GGSN PIC", family: "juniper", offsets: [6, 12, 0, N] },
  { numbers: [132], description: "Juniper Encryption Services PIC", family: "juniper", offsets: [6, N, N, N] },
  { numbers: [164], description: "Juniper Passive Monitor PIC", family: "juniper", offsets: [12, 12, 0, N] },
  { numbers: [136], description: "Juniper Services PIC", family: "juniper", offsets: [12, N, N, N] },
  { numbers: [183, 200], description: "Juniper", family: "juniper", offsets: [18, N, N, N] },
  { numbers: [194, 232, 233, 234, 238], description: "Juniper", family: "juniper", offsets: [8, N, N, N] },
  { numbers: [165], description: "BACnet MS/TP", family: "bacnet", offsets: [N, N, N, N] },
  { numbers: [226], description: "Solaris ipnet", family: "ipnet", offsets: [1, 24, 0, N] },
  { numbers: [140], description: "SS7 MTP2", family: "not-implemented", offsets: [N, N, N, N], refusal: "MTP2" },
  { numbers: [139], description: "SS7 MTP2 with pseudo-header", family: "not-implemented", offsets: [N, N, N, N], refusal: "MTP2" },
  { numbers: [197], description: "Endace ERF", family: "not-implemented", offsets: [N, N, N, N], refusal: "ERF" },
  { numbers: [246, 121, 18], description: "Packet filter state syncing", family: "not-implemented", offsets: [N, 4, 0, 0], refusal: "PFSYNC" },
  { numbers: [202], description: "AX.25 with KISS header", family: "not-implemented", offsets: [N, N, N, N], refusal: "AX.25" },
  { numbers: [144], description: "Linux IrDA", family: "not-implemented", offsets: [N, N, N, N], refusal: "IrDA" },
  { numbers: [143], description: "DOCSIS", family: "not-implemented", offsets: [N, N, N, N], refusal: "DOCSIS" },
  { numbers: [177], description: "LAPD", family: "not-implemented", offsets: [N, N, N, N], refusal: "LAPD" },
  { numbers: [186, 189, 220, 249], description: "USB", family: "not-implemented", offsets: [N, N, N, N], refusal: "USB" },
  { numbers: [187, 201], description: "Bluetooth HCI UART", family: "not-implemented", offsets: [N, N, N, N], refusal: "Bluetooth" },
  { numbers: [190, 227], description: "CAN", family: "not-implemented", offsets: [N, N, N, N], refusal: "CAN" },
  { numbers: [195, 191, 215, 230, 283], description: "IEEE 802.15.4", family: "not-implemented", offsets: [N, N, N, N], refusal: "IEEE 802.15.4" },
  { numbers: [193], description: "IEEE 802.16 MAC Common Part Sublayer plus radio header", family: "not-implemented", offsets: [N, N, N, N], refusal: "IEEE 802.16" },
  { numbers: [196], description: "SITA pseudo-header", family: "not-implemented", offsets: [N, N, N, N], refusal: "SITA" },
  { numbers: [198], description: "Ethernet with Juniper RAIF1", family: "not-implemented", offsets: [N, N, N, N], refusal: "RAIF1" },
  { numbers: [199, 209], description: "IPMB", family: "not-implemented", offsets: [N, N, N, N], refusal: "IPMB" },
  { numbers: [239], description: "Linux netfilter log messages", family: "not-implemented", offsets: [N, N, N, N], refusal: "NFLOG" },
];

const byNumber = new Map<number, Row>();
for (const row of rows) for (const n of row.numbers) if (!byNumber.has(n)) byNumber.set(n, row);

/** The pcap header's link-type field carries FCS information in its top bits (LT_LINKTYPE mask). */
const kLinkTypeMask = 0x03ffffff;

/** Names a link type for messages: "link type 1 (Ethernet)", or "link type 4242" when it is unknown. */
export function linkTypeName(lt: LinkType): string {
  return lt.description.startsWith("link type") ? lt.description : `link type ${lt.number} (${lt.description})`;
}

/**
 * Describes a link type. Unknown numbers get a layout with no offsets at all, so that only tests that
 * do not look at the link layer (`less`, `greater`, `len`, `link[...]`) compile for them, as in
 * libpcap for the link types it knows nothing about.
 */
export function describeLinkType(linktype: number): LinkType {
  const number = (linktype & kLinkTypeMask) >>> 0;
  const row = byNumber.get(number);
  if (row === undefined) {
    return {
      number, description: `link type ${number}`, family: "generic", linkHeader: 0, radiotap: false, linkType: N,
      linkPayload: N, variablePayload: false, network: N, networkNoSnap: N, vlan: false,
    };
  }
  const [linkType, linkPayload, network, networkNoSnap] = row.offsets;
  const linkHeader = row.linkHeader ?? 0;
  return {
    number, description: row.description, family: row.family, linkHeader, radiotap: row.radiotap ?? false, linkType,
    linkPayload, variablePayload: row.variablePayload ?? false, network, networkNoSnap,
    macAddresses: row.macAddresses,
    refusal: row.refusal, vlan: row.vlan ?? false,
  };
}
