/**
 * Typed builders for test frames: link layers, ARP, IPv4, IPv6 (with extension headers), TCP, UDP,
 * ICMPv4 and ICMPv6. Every builder returns a fresh `Uint8Array` (own buffer, byteOffset 0), and they
 * compose inside-out:
 *
 *   ethernet({ src, dst, vlans: [{ vid: 100 }] },
 *     ipv4({ src: "192.0.2.1", dst: "198.51.100.2" },
 *       tcp({ sport: 49152, dport: 80, seq: 1, ack: 1, flags: "PA" }, text("GET / HTTP/1.1\r\n\r\n"))));
 *
 * Why it works: each builder remembers (in a WeakMap, so the result stays a plain Uint8Array) what an
 * enclosing builder needs to know about it: the EtherType or IP protocol number it travels under, and
 * for TCP/UDP/ICMPv6 where its checksum sits. That checksum covers an IP pseudo-header, which only the
 * enclosing ipv4()/ipv6() knows, so the IP builder fills it in on its own copy. Consequently a bare
 * tcp()/udp()/icmpv6() result carries a zero checksum until it is wrapped; give `checksum` to pin one.
 *
 * Every field a decoder might validate (lengths, IHL, version, data offset, checksums) can be
 * overridden to craft malformed packets; explicit values always win over computed ones.
 */
import { formatIpv6, parseIpv4, parseIpv6, parseMac } from "./address-text.ts";
import { internetChecksum, pseudoHeaderSum } from "./internet-checksum.ts";

export { formatIpv4, formatIpv6, formatMac, parseIp, parseIpv4, parseIpv6, parseMac } from "./address-text.ts";
export { foldSum, internetChecksum, pseudoHeaderSum, sumWords } from "./internet-checksum.ts";

/** EtherType values the builders know (IEEE registry). */
export const EtherType = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  IPV6: 0x86dd,
  QINQ: 0x88a8,
} as const;

/** IP protocol / IPv6 next-header numbers the builders know (IANA registry). */
export const IpProtocol = {
  HOP_BY_HOP: 0,
  ICMP: 1,
  IPV4: 4,
  TCP: 6,
  UDP: 17,
  IPV6: 41,
  ROUTING: 43,
  FRAGMENT: 44,
  AH: 51,
  ICMPV6: 58,
  NO_NEXT_HEADER: 59,
  DESTINATION_OPTIONS: 60,
} as const;

/** A payload: bytes, or a string that is encoded as UTF-8 (so ASCII stays byte for byte). */
export type Payload = Uint8Array | string;

/** What an enclosing builder needs to know about a layer this module built. */
interface LayerInfo {
  /** IP protocol number to put in an enclosing IPv4 protocol / IPv6 next-header field. */
  readonly ipProtocol?: number;
  /** EtherType to put in an enclosing link header. */
  readonly etherType?: number;
  /** Offset of a checksum, still zero, that covers an IP pseudo-header; filled by ipv4()/ipv6(). */
  readonly pseudoChecksumOffset?: number;
  /** UDP transmits a computed checksum of 0 as 0xffff (0 means "no checksum", RFC 768). */
  readonly zeroChecksumAs?: number;
}

const layerInfo = new WeakMap<Uint8Array, LayerInfo>();
const encoder = new TextEncoder();
const noBytes = new Uint8Array(0);

function tagLayer(bytes: Uint8Array, info: LayerInfo): Uint8Array {
  layerInfo.set(bytes, info);
  return bytes;
}

function infoOf(bytes: Uint8Array): LayerInfo {
  return layerInfo.get(bytes) ?? {};
}

function toBytes(payload: Payload | undefined): Uint8Array {
  if (payload === undefined) return noBytes;
  return typeof payload === "string" ? encoder.encode(payload) : payload;
}

function checkRange(what: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`Cannot build packet: ${what} must be an integer from 0 to ${max}: current value is ${value}`);
  }
  return value;
}

/** Encodes a string as UTF-8 bytes; for ASCII payloads such as HTTP text this is byte for byte. */
export function text(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Decodes hex digits ("45 00 00 1c", "4500001c"; whitespace and ":" ignored) into bytes. */
export function hex(digits: string): Uint8Array {
  const clean = digits.replace(/[\s:]/g, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) {
    throw new Error(`Cannot parse hex bytes: expected pairs of hex digits: current value is "${digits}"`);
  }
  return Uint8Array.from(clean.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

/** Concatenates byte arrays (and UTF-8 strings) into one fresh array. */
export function concatBytes(...parts: Payload[]): Uint8Array {
  const arrays = parts.map(toBytes);
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** Returns a copy of `bytes` with `length` zero bytes appended (Ethernet trailer padding, TLV padding). */
function padTo(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length >= length) return bytes;
  const out = new Uint8Array(length);
  out.set(bytes);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Link layers

/** One 802.1Q / 802.1ad tag. */
export interface VlanTag {
  /** VLAN identifier, 0..4095. */
  readonly vid: number;
  /** Priority code point, 0..7 (default 0). */
  readonly pcp?: number;
  /** Drop eligible indicator (default false). */
  readonly dei?: boolean;
  /** Tag protocol identifier; defaults to 0x8100 for the innermost tag and 0x88a8 (802.1ad) for outer ones. */
  readonly tpid?: number;
}

/** Fields of an Ethernet II header. */
export interface EthernetFields {
  /** Source MAC (default "02:00:00:00:00:01", a locally administered address). */
  readonly src?: string;
  /** Destination MAC (default "02:00:00:00:00:02"). */
  readonly dst?: string;
  /** EtherType of the payload; inferred from an ipv4()/ipv6()/arp() payload when omitted. */
  readonly type?: number;
  /** VLAN tags, outermost first. */
  readonly vlans?: readonly VlanTag[];
  /**
   * Pad the frame with zeros to the 60-byte minimum (without FCS). Off by default because captures
   * taken on the sending host show unpadded frames; turn on to test trailer handling.
   */
  readonly padToMinimum?: boolean;
}

/** Builds an Ethernet II frame, with optional 802.1Q / 802.1ad (QinQ) tags, around `payload`. */
export function ethernet(fields: EthernetFields, payload?: Payload): Uint8Array {
  const inner = toBytes(payload);
  const type = fields.type ?? infoOf(inner).etherType;
  if (type === undefined) {
    throw new Error("Cannot build Ethernet frame: the payload was not made by a builder, so give `type` (an EtherType)");
  }
  const vlans = fields.vlans ?? [];
  const headerLength = 14 + 4 * vlans.length;
  let out: Uint8Array = new Uint8Array(headerLength + inner.length);
  out.set(parseMac(fields.dst ?? "02:00:00:00:00:02"), 0);
  out.set(parseMac(fields.src ?? "02:00:00:00:00:01"), 6);
  const view = new DataView(out.buffer);
  let at = 12;
  vlans.forEach((tag, i) => {
    const innermost = i === vlans.length - 1;
    view.setUint16(at, tag.tpid ?? (innermost ? EtherType.VLAN : EtherType.QINQ));
    const tci = (checkRange("VLAN pcp", tag.pcp ?? 0, 7) << 13) | ((tag.dei ? 1 : 0) << 12) | checkRange("VLAN vid", tag.vid, 4095);
    view.setUint16(at + 2, tci);
    at += 4;
  });
  view.setUint16(at, checkRange("EtherType", type, 0xffff));
  out.set(inner, headerLength);
  if (fields.padToMinimum) out = padTo(out, 60);
  return out;
}

/** Fields of a BSD null/loopback header (LINKTYPE_NULL, or LINKTYPE_LOOP when big-endian). */
export interface NullLoopbackFields {
  /** Address family; inferred from the payload: 2 for IPv4, `ipv6Family` for IPv6. */
  readonly family?: number;
  /** AF_INET6 differs per OS: 24 (NetBSD/OpenBSD, the default), 28 (FreeBSD), 30 (Darwin). */
  readonly ipv6Family?: 24 | 28 | 30;
  /**
   * LINKTYPE_NULL stores the family in the capturing host's byte order, so readers must accept both;
   * LINKTYPE_LOOP always uses big-endian. Default "little".
   */
  readonly byteOrder?: "little" | "big";
}

/** Builds a BSD null/loopback frame: a 4-byte address family, then `payload`. */
export function nullLoopback(fields: NullLoopbackFields, payload: Payload): Uint8Array {
  const inner = toBytes(payload);
  const etherType = infoOf(inner).etherType;
  const family =
    fields.family ?? (etherType === EtherType.IPV4 ? 2 : etherType === EtherType.IPV6 ? (fields.ipv6Family ?? 24) : undefined);
  if (family === undefined) {
    throw new Error("Cannot build null/loopback frame: the payload is not an IPv4/IPv6 packet, so give `family`");
  }
  const out = new Uint8Array(4 + inner.length);
  new DataView(out.buffer).setUint32(0, family, (fields.byteOrder ?? "little") === "little");
  out.set(inner, 4);
  return out;
}

/** Linux cooked-capture packet types (the direction/addressing of the packet, not its protocol). */
export const SllPacketType = { host: 0, broadcast: 1, multicast: 2, "other-host": 3, outgoing: 4 } as const;

/** Fields shared by the Linux cooked-capture headers SLL and SLL2. */
export interface SllFields {
  /** Packet type (default "host"). */
  readonly packetType?: keyof typeof SllPacketType | number;
  /** ARPHRD_ type of the capturing device (default 1, Ethernet). */
  readonly arphrdType?: number;
  /** Link-layer source address (default "02:00:00:00:00:01"); up to 8 bytes are stored. */
  readonly address?: string | Uint8Array;
  /** Protocol (EtherType); inferred from the payload when omitted. */
  readonly protocol?: number;
}

/** Fields of a Linux cooked-capture v2 header. */
export interface Sll2Fields extends SllFields {
  /** Interface index (default 1). */
  readonly interfaceIndex?: number;
}

function sllCommon(fields: SllFields, inner: Uint8Array): { packetType: number; address: Uint8Array; protocol: number } {
  const protocol = fields.protocol ?? infoOf(inner).etherType;
  if (protocol === undefined) throw new Error("Cannot build Linux cooked header: give `protocol` for a payload that no builder made");
  const packetType = typeof fields.packetType === "number" ? fields.packetType : SllPacketType[fields.packetType ?? "host"];
  const raw = fields.address ?? "02:00:00:00:00:01";
  const address = typeof raw === "string" ? parseMac(raw) : raw;
  if (address.length > 8) throw new RangeError(`Cannot build Linux cooked header: address is at most 8 bytes: current length is ${address.length}`);
  return { packetType, address, protocol };
}

/** Builds a Linux cooked-capture (LINKTYPE_LINUX_SLL, 16-byte header) frame around `payload`. */
export function linuxSll(fields: SllFields, payload: Payload): Uint8Array {
  const inner = toBytes(payload);
  const { packetType, address, protocol } = sllCommon(fields, inner);
  const out = new Uint8Array(16 + inner.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, packetType);
  view.setUint16(2, fields.arphrdType ?? 1);
  view.setUint16(4, address.length);
  out.set(address, 6);
  view.setUint16(14, protocol);
  out.set(inner, 16);
  return out;
}

/** Builds a Linux cooked-capture v2 (LINKTYPE_LINUX_SLL2, 20-byte header) frame around `payload`. */
export function linuxSll2(fields: Sll2Fields, payload: Payload): Uint8Array {
  const inner = toBytes(payload);
  const { packetType, address, protocol } = sllCommon(fields, inner);
  const out = new Uint8Array(20 + inner.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, protocol);
  // bytes 2-3 reserved (zero)
  view.setUint32(4, fields.interfaceIndex ?? 1);
  view.setUint16(8, fields.arphrdType ?? 1);
  out[10] = packetType;
  out[11] = address.length;
  out.set(address, 12);
  out.set(inner, 20);
  return out;
}

/** Returns a copy of an IP packet as a LINKTYPE_RAW frame (raw IP has no link header; this exists so tests say what they mean). */
export function rawIp(packet: Uint8Array): Uint8Array {
  return tagLayer(packet.slice(), infoOf(packet));
}

/**
 * An 802.2 LLC header with SNAP (DSAP and SSAP 0xaa, control 3, OUI 0) announcing `etherType`, then
 * `payload`: what follows an 802.3 length field, or a Linux cooked header of protocol 4.
 */
export function llcSnap(etherType: number, payload: Payload): Uint8Array {
  return concatBytes(Uint8Array.of(0xaa, 0xaa, 0x03, 0, 0, 0, etherType >> 8, etherType & 0xff), payload);
}

// ---------------------------------------------------------------------------------------------
// ARP

/** Fields of an ARP packet for IPv4 over Ethernet (RFC 826). */
export interface ArpFields {
  /** "request" (1), "reply" (2) or another opcode. */
  readonly op: "request" | "reply" | number;
  readonly senderMac: string;
  readonly senderIp: string;
  /** Target MAC (default 00:00:00:00:00:00, as in a request). */
  readonly targetMac?: string;
  readonly targetIp: string;
}

/** Builds a 28-byte ARP packet for IPv4 over Ethernet. */
export function arp(fields: ArpFields): Uint8Array {
  const out = new Uint8Array(28);
  const view = new DataView(out.buffer);
  view.setUint16(0, 1); // hardware type: Ethernet
  view.setUint16(2, EtherType.IPV4);
  out[4] = 6;
  out[5] = 4;
  view.setUint16(6, fields.op === "request" ? 1 : fields.op === "reply" ? 2 : fields.op);
  out.set(parseMac(fields.senderMac), 8);
  out.set(parseIpv4(fields.senderIp), 14);
  out.set(parseMac(fields.targetMac ?? "00:00:00:00:00:00"), 18);
  out.set(parseIpv4(fields.targetIp), 24);
  return tagLayer(out, { etherType: EtherType.ARP });
}

// ---------------------------------------------------------------------------------------------
// IPv4

/** Fields of an IPv4 header (RFC 791). */
export interface Ipv4Fields {
  readonly src: string;
  readonly dst: string;
  /** Time to live (default 64). */
  readonly ttl?: number;
  /** Type of service / DSCP+ECN byte (default 0). */
  readonly tos?: number;
  /** Identification (default 0). */
  readonly id?: number;
  readonly dontFragment?: boolean;
  readonly moreFragments?: boolean;
  /** The reserved flag bit (RFC 3514's "evil bit"): only for malformed-packet tests. */
  readonly reservedFlag?: boolean;
  /** Fragment offset in bytes; must be a multiple of 8 (it is stored in 8-byte units). */
  readonly fragmentOffset?: number;
  /** Raw option bytes; padded with zeros (End of Option List) to a multiple of 4. */
  readonly options?: Uint8Array;
  /** Protocol; inferred from the payload when omitted, 0xff (reserved) if it cannot be. */
  readonly protocol?: number;
  /** Override the total length field (default: header + payload). */
  readonly totalLength?: number;
  /** Override the IHL field, in 32-bit words (default: the real header length). */
  readonly ihl?: number;
  /** Override the version field (default 4). */
  readonly version?: number;
  /** Override the header checksum (default: computed so the header sums to 0xffff). */
  readonly checksum?: number;
}

/** Builds an IPv4 packet around `payload`, filling in lengths, protocol and checksums. */
export function ipv4(fields: Ipv4Fields, payload?: Payload): Uint8Array {
  const inner = toBytes(payload);
  const info = infoOf(inner);
  const options = fields.options ?? noBytes;
  const headerLength = 20 + Math.ceil(options.length / 4) * 4;
  if (headerLength > 60) throw new RangeError(`Cannot build IPv4 header: options are at most 40 bytes: current length is ${options.length}`);
  const fragmentOffset = fields.fragmentOffset ?? 0;
  if (fragmentOffset % 8 !== 0) throw new RangeError(`Cannot build IPv4 header: fragmentOffset must be a multiple of 8: current value is ${fragmentOffset}`);
  const src = parseIpv4(fields.src);
  const dst = parseIpv4(fields.dst);
  const protocol = fields.protocol ?? info.ipProtocol ?? 0xff;

  const out = new Uint8Array(headerLength + inner.length);
  const view = new DataView(out.buffer);
  out[0] = (checkRange("IPv4 version", fields.version ?? 4, 15) << 4) | checkRange("IPv4 IHL", fields.ihl ?? headerLength / 4, 15);
  out[1] = checkRange("IPv4 tos", fields.tos ?? 0, 255);
  view.setUint16(2, checkRange("IPv4 total length", fields.totalLength ?? out.length, 0xffff));
  view.setUint16(4, checkRange("IPv4 id", fields.id ?? 0, 0xffff));
  const flags = (fields.reservedFlag ? 4 : 0) | (fields.dontFragment ? 2 : 0) | (fields.moreFragments ? 1 : 0);
  view.setUint16(6, (flags << 13) | checkRange("IPv4 fragment offset / 8", fragmentOffset / 8, 0x1fff));
  out[8] = checkRange("IPv4 ttl", fields.ttl ?? 64, 255);
  out[9] = checkRange("IPv4 protocol", protocol, 255);
  out.set(src, 12);
  out.set(dst, 16);
  out.set(options, 20);
  view.setUint16(10, fields.checksum ?? internetChecksum(out, 0, headerLength));
  out.set(inner, headerLength);
  fillPseudoChecksum(out, headerLength, inner.length, info, pseudoHeaderSum(src, dst, protocol, inner.length));
  return tagLayer(out, { etherType: EtherType.IPV4, ipProtocol: IpProtocol.IPV4 });
}

/** Fills the pending pseudo-header checksum of the upper layer copied at `start` (see the module comment). */
function fillPseudoChecksum(out: Uint8Array, start: number, length: number, info: LayerInfo, pseudoSum: number): void {
  if (info.pseudoChecksumOffset === undefined) return;
  const at = start + info.pseudoChecksumOffset;
  let sum = internetChecksum(out, start, start + length, pseudoSum);
  if (sum === 0 && info.zeroChecksumAs !== undefined) sum = info.zeroChecksumAs;
  out[at] = sum >> 8;
  out[at + 1] = sum & 0xff;
}

// ---------------------------------------------------------------------------------------------
// IPv6

/** One IPv6 extension header; the next-header chain is computed by ipv6(). */
export type Ipv6Extension =
  /** Hop-by-hop options; `options` are raw TLVs, padded with Pad1/PadN to a multiple of 8. */
  | { readonly type: "hop-by-hop"; readonly options?: Uint8Array }
  /** Destination options; `options` are raw TLVs, padded with Pad1/PadN to a multiple of 8. */
  | { readonly type: "destination"; readonly options?: Uint8Array }
  /**
   * Routing header. With `addresses` (type 0 or 2 layout: 4 reserved bytes then the addresses),
   * `segmentsLeft` defaults to their count and, when non-zero, the last address is the final
   * destination used in upper-layer checksums (RFC 8200 8.1). With `data`, the bytes after
   * segments-left are taken as given (padded to a multiple of 8). `routingType` defaults to 0
   * with addresses and to 253 (RFC 4727 experimental) without.
   */
  | {
      readonly type: "routing";
      readonly routingType?: number;
      readonly segmentsLeft?: number;
      readonly addresses?: readonly string[];
      readonly data?: Uint8Array;
    }
  /** Fragment header; `offset` in bytes (multiple of 8), `more` is the M flag. */
  | { readonly type: "fragment"; readonly offset?: number; readonly more?: boolean; readonly id: number }
  /** Authentication header (RFC 4302); `icv` defaults to 12 zero bytes (HMAC-96 size). */
  | { readonly type: "ah"; readonly spi: number; readonly sequence: number; readonly icv?: Uint8Array }
  /** Any header given whole; byte 0 (its next-header field) is overwritten by the chain. */
  | { readonly type: "raw"; readonly code: number; readonly bytes: Uint8Array };

/** Fields of an IPv6 header (RFC 8200). */
export interface Ipv6Fields {
  /** Source address in any valid textual form ("2001:db8::1"). */
  readonly src: string;
  readonly dst: string;
  /** Traffic class (default 0). */
  readonly trafficClass?: number;
  /** Flow label, 20 bits (default 0). */
  readonly flowLabel?: number;
  /** Hop limit (default 64). */
  readonly hopLimit?: number;
  /** Extension headers in wire order. */
  readonly extensions?: readonly Ipv6Extension[];
  /** Next header after the last extension header; inferred from the payload, 59 (no next header) without one. */
  readonly protocol?: number;
  /** Override the payload length field (default: extension headers + payload). */
  readonly payloadLength?: number;
  /** Override the version field (default 6). */
  readonly version?: number;
}

const extensionCodes = {
  "hop-by-hop": IpProtocol.HOP_BY_HOP,
  destination: IpProtocol.DESTINATION_OPTIONS,
  routing: IpProtocol.ROUTING,
  fragment: IpProtocol.FRAGMENT,
  ah: IpProtocol.AH,
} as const;

/** Pads TLV options (after the 2-byte header) with Pad1/PadN so the header is a multiple of 8 bytes (RFC 8200 4.2). */
function optionsHeader(options: Uint8Array): Uint8Array {
  const length = Math.ceil((2 + options.length) / 8) * 8;
  const out = new Uint8Array(length);
  out.set(options, 2);
  const pad = length - 2 - options.length;
  if (pad === 1) out[length - 1] = 0; // Pad1
  if (pad >= 2) {
    out[2 + options.length] = 1; // PadN
    out[3 + options.length] = pad - 2;
  }
  out[1] = length / 8 - 1;
  return out;
}

function encodeExtension(ext: Ipv6Extension): { code: number; bytes: Uint8Array } {
  switch (ext.type) {
    case "hop-by-hop":
    case "destination":
      return { code: extensionCodes[ext.type], bytes: optionsHeader(ext.options ?? noBytes) };
    case "routing": {
      const addresses = (ext.addresses ?? []).map(parseIpv6);
      const body = ext.data ?? concatBytes(new Uint8Array(4), ...addresses);
      const length = Math.ceil((4 + body.length) / 8) * 8;
      const out = new Uint8Array(length);
      out[1] = length / 8 - 1;
      out[2] = ext.routingType ?? (ext.addresses ? 0 : 253);
      out[3] = ext.segmentsLeft ?? addresses.length;
      out.set(body, 4);
      return { code: IpProtocol.ROUTING, bytes: out };
    }
    case "fragment": {
      const offset = ext.offset ?? 0;
      if (offset % 8 !== 0) throw new RangeError(`Cannot build IPv6 fragment header: offset must be a multiple of 8: current value is ${offset}`);
      const out = new Uint8Array(8);
      const view = new DataView(out.buffer);
      view.setUint16(2, (checkRange("IPv6 fragment offset / 8", offset / 8, 0x1fff) << 3) | (ext.more ? 1 : 0));
      view.setUint32(4, ext.id >>> 0);
      return { code: IpProtocol.FRAGMENT, bytes: out };
    }
    case "ah": {
      const icv = ext.icv ?? new Uint8Array(12);
      const out = new Uint8Array(12 + icv.length);
      if (out.length % 4 !== 0) throw new RangeError(`Cannot build AH header: the ICV must make the header a multiple of 4 bytes: current ICV length is ${icv.length}`);
      const view = new DataView(out.buffer);
      out[1] = out.length / 4 - 2; // RFC 4302: length in 32-bit words, minus 2
      view.setUint32(4, ext.spi >>> 0);
      view.setUint32(8, ext.sequence >>> 0);
      out.set(icv, 12);
      return { code: IpProtocol.AH, bytes: out };
    }
    case "raw":
      return { code: ext.code, bytes: ext.bytes.slice() };
  }
}

/** Builds an IPv6 packet with optional extension headers around `payload`, chaining next-header values and checksums. */
export function ipv6(fields: Ipv6Fields, payload?: Payload): Uint8Array {
  const inner = toBytes(payload);
  const info = infoOf(inner);
  const src = parseIpv6(fields.src);
  let finalDst = parseIpv6(fields.dst);
  const upper = fields.protocol ?? info.ipProtocol ?? (inner.length === 0 ? IpProtocol.NO_NEXT_HEADER : 0xff);

  const encoded = (fields.extensions ?? []).map(encodeExtension);
  for (let i = 0; i < encoded.length; i++) encoded[i]!.bytes[0] = i + 1 < encoded.length ? encoded[i + 1]!.code : upper;
  for (const ext of fields.extensions ?? []) {
    if (ext.type === "routing" && ext.addresses?.length && (ext.segmentsLeft ?? ext.addresses.length) > 0) {
      finalDst = parseIpv6(ext.addresses[ext.addresses.length - 1]!);
    }
  }
  const extensionLength = encoded.reduce((n, e) => n + e.bytes.length, 0);

  const out = new Uint8Array(40 + extensionLength + inner.length);
  const view = new DataView(out.buffer);
  const version = checkRange("IPv6 version", fields.version ?? 6, 15);
  const trafficClass = checkRange("IPv6 traffic class", fields.trafficClass ?? 0, 255);
  const flowLabel = checkRange("IPv6 flow label", fields.flowLabel ?? 0, 0xfffff);
  view.setUint32(0, ((version << 28) | (trafficClass << 20) | flowLabel) >>> 0);
  view.setUint16(4, checkRange("IPv6 payload length", fields.payloadLength ?? extensionLength + inner.length, 0xffff));
  out[6] = encoded.length > 0 ? encoded[0]!.code : upper;
  out[7] = checkRange("IPv6 hop limit", fields.hopLimit ?? 64, 255);
  out.set(src, 8);
  out.set(parseIpv6(fields.dst), 24);
  let at = 40;
  for (const e of encoded) {
    out.set(e.bytes, at);
    at += e.bytes.length;
  }
  out.set(inner, at);
  fillPseudoChecksum(out, at, inner.length, info, pseudoHeaderSum(src, finalDst, upper, inner.length));
  return tagLayer(out, { etherType: EtherType.IPV6, ipProtocol: IpProtocol.IPV6 });
}

// ---------------------------------------------------------------------------------------------
// Fragmentation

/**
 * Splits a complete IPv4 packet into fragments whose payloads are at most `maxPayload` bytes
 * (rounded down to a multiple of 8). Options are copied into every fragment for simplicity.
 */
export function fragmentIpv4(packet: Uint8Array, maxPayload: number): Uint8Array[] {
  const headerLength = (packet[0]! & 0x0f) * 4;
  const step = Math.floor(maxPayload / 8) * 8;
  if (step <= 0) throw new RangeError(`Cannot fragment IPv4 packet: maxPayload must be at least 8: current value is ${maxPayload}`);
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const flagsAndOffset = view.getUint16(6);
  const baseOffset = (flagsAndOffset & 0x1fff) * 8;
  const wasLast = (flagsAndOffset & 0x2000) === 0;
  const payload = packet.subarray(headerLength);
  const fragments: Uint8Array[] = [];
  for (let start = 0; start < payload.length; start += step) {
    const piece = payload.subarray(start, Math.min(start + step, payload.length));
    const out = new Uint8Array(headerLength + piece.length);
    out.set(packet.subarray(0, headerLength));
    out.set(piece, headerLength);
    const v = new DataView(out.buffer);
    const more = start + step < payload.length || !wasLast;
    v.setUint16(2, out.length);
    v.setUint16(6, (flagsAndOffset & 0x4000) | (more ? 0x2000 : 0) | ((baseOffset + start) / 8));
    v.setUint16(10, 0);
    v.setUint16(10, internetChecksum(out, 0, headerLength));
    fragments.push(tagLayer(out, { etherType: EtherType.IPV4, ipProtocol: IpProtocol.IPV4 }));
  }
  return fragments;
}

/**
 * Splits a complete IPv6 packet into fragments (RFC 8200 4.5) whose fragmentable parts are at most
 * `maxPayload` bytes (rounded down to a multiple of 8). The unfragmentable part is the IPv6 header
 * plus any leading hop-by-hop and routing headers; a fragment header with `id` is inserted after it.
 */
export function fragmentIpv6(packet: Uint8Array, maxPayload: number, id: number): Uint8Array[] {
  const step = Math.floor(maxPayload / 8) * 8;
  if (step <= 0) throw new RangeError(`Cannot fragment IPv6 packet: maxPayload must be at least 8: current value is ${maxPayload}`);
  let nextHeaderAt = 6;
  let at = 40;
  while (packet[nextHeaderAt] === IpProtocol.HOP_BY_HOP || packet[nextHeaderAt] === IpProtocol.ROUTING) {
    nextHeaderAt = at;
    at += (packet[at + 1]! + 1) * 8;
  }
  const unfragmentable = packet.subarray(0, at);
  const nextHeader = packet[nextHeaderAt]!;
  const rest = packet.subarray(at);
  const fragments: Uint8Array[] = [];
  for (let start = 0; start < rest.length; start += step) {
    const piece = rest.subarray(start, Math.min(start + step, rest.length));
    const out = new Uint8Array(at + 8 + piece.length);
    out.set(unfragmentable);
    out[nextHeaderAt] = IpProtocol.FRAGMENT;
    const v = new DataView(out.buffer);
    v.setUint16(4, out.length - 40);
    out[at] = nextHeader;
    v.setUint16(at + 2, start | (start + step < rest.length ? 1 : 0)); // offset is in 8-byte units at bit 3: start/8 << 3 === start
    v.setUint32(at + 4, id >>> 0);
    out.set(piece, at + 8);
    fragments.push(tagLayer(out, { etherType: EtherType.IPV6, ipProtocol: IpProtocol.IPV6 }));
  }
  return fragments;
}

// ---------------------------------------------------------------------------------------------
// TCP

/** Names of TCP flags, as object keys. */
export type TcpFlagName = "fin" | "syn" | "rst" | "psh" | "ack" | "urg" | "ece" | "cwr" | "ns";

/**
 * TCP flags: letters as in Scapy ("S", "SA", "PA", "FA", "R"; F S R P A U E C N), an object
 * ({ syn: true, ack: true }), or the raw 9-bit value.
 */
export type TcpFlags = string | Partial<Record<TcpFlagName, boolean>> | number;

const flagBits: Record<TcpFlagName, number> = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20, ece: 0x40, cwr: 0x80, ns: 0x100 };
const flagLetters: Record<string, TcpFlagName> = { F: "fin", S: "syn", R: "rst", P: "psh", A: "ack", U: "urg", E: "ece", C: "cwr", N: "ns" };

/** Converts TCP flags in any accepted form to the 9-bit value (NS is bit 8). */
export function tcpFlagBits(flags: TcpFlags): number {
  if (typeof flags === "number") return checkRange("TCP flags", flags, 0x1ff);
  if (typeof flags === "string") {
    let bits = 0;
    for (const letter of flags) {
      const name = flagLetters[letter.toUpperCase()];
      if (name === undefined) throw new Error(`Cannot parse TCP flags: "${letter}" is not one of F S R P A U E C N: current value is "${flags}"`);
      bits |= flagBits[name];
    }
    return bits;
  }
  let bits = 0;
  for (const [name, on] of Object.entries(flags)) if (on) bits |= flagBits[name as TcpFlagName];
  return bits;
}

/** Formats a 9-bit TCP flag value as letters in the canonical order used by tcpFlagBits() ("SA", "FPA"). */
export function formatTcpFlags(bits: number): string {
  return "FSRPAUECN".split("").filter((letter) => bits & flagBits[flagLetters[letter]!]).join("");
}

/** One TCP option (RFC 9293, 7323, 2018). */
export type TcpOption =
  | { readonly kind: "eol" }
  | { readonly kind: "nop" }
  | { readonly kind: "mss"; readonly value: number }
  | { readonly kind: "wscale"; readonly shift: number }
  | { readonly kind: "sack-permitted" }
  /** SACK blocks as [left edge, right edge) pairs of uint32 sequence numbers. */
  | { readonly kind: "sack"; readonly blocks: ReadonlyArray<readonly [number, number]> }
  | { readonly kind: "timestamps"; readonly value: number; readonly echo: number }
  /** Any option given whole (kind, length and data). */
  | { readonly kind: "raw"; readonly bytes: Uint8Array };

/** Encodes TCP options and pads them to a multiple of 4 with `pad` bytes (EOL = 0 by default, or NOP = 1). */
export function encodeTcpOptions(options: readonly TcpOption[], pad: "eol" | "nop" = "eol"): Uint8Array {
  const parts: number[] = [];
  const u16 = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];
  const u32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
  for (const o of options) {
    switch (o.kind) {
      case "eol":
        parts.push(0);
        break;
      case "nop":
        parts.push(1);
        break;
      case "mss":
        parts.push(2, 4, ...u16(o.value));
        break;
      case "wscale":
        parts.push(3, 3, o.shift);
        break;
      case "sack-permitted":
        parts.push(4, 2);
        break;
      case "sack":
        parts.push(5, 2 + 8 * o.blocks.length, ...o.blocks.flatMap(([left, right]) => [...u32(left), ...u32(right)]));
        break;
      case "timestamps":
        parts.push(8, 10, ...u32(o.value), ...u32(o.echo));
        break;
      case "raw":
        parts.push(...o.bytes);
        break;
    }
  }
  while (parts.length % 4 !== 0) parts.push(pad === "nop" ? 1 : 0);
  return Uint8Array.from(parts);
}

/** Fields of a TCP header. */
export interface TcpFields {
  readonly sport: number;
  readonly dport: number;
  /** Sequence number, uint32 (wraps; default 0). */
  readonly seq?: number;
  /** Acknowledgement number, uint32 (default 0). */
  readonly ack?: number;
  /** Flags (default none). */
  readonly flags?: TcpFlags;
  /** Receive window (default 65535). */
  readonly window?: number;
  /** Urgent pointer (default 0). */
  readonly urgent?: number;
  /** Options, padded to a multiple of 4 bytes. */
  readonly options?: readonly TcpOption[];
  /** What pads the options: "eol" (zeros, default) or "nop". */
  readonly optionPadding?: "eol" | "nop";
  /** Override the data offset, in 32-bit words (default: the real header length). */
  readonly dataOffset?: number;
  /** Pin the checksum instead of having the enclosing IP builder compute it. */
  readonly checksum?: number;
}

/** Builds a TCP segment; its checksum is filled in by the enclosing ipv4()/ipv6() unless `checksum` is given. */
export function tcp(fields: TcpFields, payload?: Payload): Uint8Array {
  const data = toBytes(payload);
  const options = encodeTcpOptions(fields.options ?? [], fields.optionPadding);
  const headerLength = 20 + options.length;
  if (headerLength > 60) throw new RangeError(`Cannot build TCP header: options are at most 40 bytes: current length is ${options.length}`);
  const out = new Uint8Array(headerLength + data.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, checkRange("TCP source port", fields.sport, 0xffff));
  view.setUint16(2, checkRange("TCP destination port", fields.dport, 0xffff));
  view.setUint32(4, (fields.seq ?? 0) >>> 0);
  view.setUint32(8, (fields.ack ?? 0) >>> 0);
  const bits = tcpFlagBits(fields.flags ?? 0);
  out[12] = (checkRange("TCP data offset", fields.dataOffset ?? headerLength / 4, 15) << 4) | (bits >> 8);
  out[13] = bits & 0xff;
  view.setUint16(14, checkRange("TCP window", fields.window ?? 65535, 0xffff));
  view.setUint16(18, checkRange("TCP urgent pointer", fields.urgent ?? 0, 0xffff));
  out.set(options, 20);
  out.set(data, headerLength);
  if (fields.checksum !== undefined) {
    view.setUint16(16, checkRange("TCP checksum", fields.checksum, 0xffff));
    return tagLayer(out, { ipProtocol: IpProtocol.TCP });
  }
  return tagLayer(out, { ipProtocol: IpProtocol.TCP, pseudoChecksumOffset: 16 });
}

// ---------------------------------------------------------------------------------------------
// UDP

/** Fields of a UDP header (RFC 768). */
export interface UdpFields {
  readonly sport: number;
  readonly dport: number;
  /** Override the length field (default: header + payload). */
  readonly length?: number;
  /** Pin the checksum (0 means "none", legal over IPv4 only) instead of computing it. */
  readonly checksum?: number;
}

/** Builds a UDP datagram; its checksum is filled in by the enclosing ipv4()/ipv6() unless `checksum` is given. */
export function udp(fields: UdpFields, payload?: Payload): Uint8Array {
  const data = toBytes(payload);
  const out = new Uint8Array(8 + data.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, checkRange("UDP source port", fields.sport, 0xffff));
  view.setUint16(2, checkRange("UDP destination port", fields.dport, 0xffff));
  view.setUint16(4, checkRange("UDP length", fields.length ?? out.length, 0xffff));
  out.set(data, 8);
  if (fields.checksum !== undefined) {
    view.setUint16(6, checkRange("UDP checksum", fields.checksum, 0xffff));
    return tagLayer(out, { ipProtocol: IpProtocol.UDP });
  }
  return tagLayer(out, { ipProtocol: IpProtocol.UDP, pseudoChecksumOffset: 6, zeroChecksumAs: 0xffff });
}

// ---------------------------------------------------------------------------------------------
// ICMPv4

/** Fields of a generic ICMPv4 message (RFC 792). */
export interface IcmpFields {
  readonly type: number;
  readonly code?: number;
  /** The 4 "rest of header" bytes (identifier/sequence, unused, MTU...), as bytes or a uint32. */
  readonly rest?: Uint8Array | number;
  /** Pin the checksum instead of computing it. */
  readonly checksum?: number;
}

function icmpHeader(fields: IcmpFields, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + body.length);
  const view = new DataView(out.buffer);
  out[0] = checkRange("ICMP type", fields.type, 255);
  out[1] = checkRange("ICMP code", fields.code ?? 0, 255);
  if (typeof fields.rest === "number") view.setUint32(4, fields.rest >>> 0);
  else if (fields.rest) out.set(fields.rest.subarray(0, 4), 4);
  out.set(body, 8);
  return out;
}

/** Builds an ICMPv4 message of any type; the checksum (no pseudo-header in ICMPv4) is computed here. */
export function icmpv4(fields: IcmpFields, body?: Payload): Uint8Array {
  const out = icmpHeader(fields, toBytes(body));
  new DataView(out.buffer).setUint16(2, fields.checksum ?? internetChecksum(out));
  return tagLayer(out, { ipProtocol: IpProtocol.ICMP });
}

/** Identifier and sequence number of an echo request/reply. */
export interface EchoFields {
  readonly id: number;
  readonly seq: number;
  /** Build the reply instead of the request. */
  readonly reply?: boolean;
}

/** Builds an ICMPv4 echo request (type 8) or reply (type 0). */
export function icmpv4Echo(fields: EchoFields, payload?: Payload): Uint8Array {
  return icmpv4({ type: fields.reply ? 0 : 8, rest: ((fields.id & 0xffff) << 16) | (fields.seq & 0xffff) }, payload);
}

/** Builds an ICMPv4 destination unreachable (type 3) quoting `quoted` (normally an IP header and at least 8 bytes of its payload). */
export function icmpv4Unreachable(fields: { readonly code?: number; readonly nextHopMtu?: number }, quoted: Uint8Array): Uint8Array {
  return icmpv4({ type: 3, code: fields.code ?? 3, rest: fields.nextHopMtu ?? 0 }, quoted);
}

// ---------------------------------------------------------------------------------------------
// ICMPv6

/** Builds an ICMPv6 message of any type; the checksum (over a pseudo-header) is filled in by the enclosing ipv6(). */
export function icmpv6(fields: IcmpFields, body?: Payload): Uint8Array {
  const out = icmpHeader(fields, toBytes(body));
  if (fields.checksum !== undefined) {
    new DataView(out.buffer).setUint16(2, fields.checksum);
    return tagLayer(out, { ipProtocol: IpProtocol.ICMPV6 });
  }
  return tagLayer(out, { ipProtocol: IpProtocol.ICMPV6, pseudoChecksumOffset: 2 });
}

/** Builds an ICMPv6 echo request (type 128) or reply (type 129). */
export function icmpv6Echo(fields: EchoFields, payload?: Payload): Uint8Array {
  return icmpv6({ type: fields.reply ? 129 : 128, rest: ((fields.id & 0xffff) << 16) | (fields.seq & 0xffff) }, payload);
}

/** Builds an ICMPv6 destination unreachable (type 1, default code 4 "port unreachable") quoting `quoted`. */
export function icmpv6Unreachable(fields: { readonly code?: number }, quoted: Uint8Array): Uint8Array {
  return icmpv6({ type: 1, code: fields.code ?? 4 }, quoted);
}

function linkAddressOption(type: 1 | 2, mac: string): Uint8Array {
  return concatBytes(Uint8Array.of(type, 1), parseMac(mac));
}

/** Builds an ICMPv6 neighbour solicitation (type 135) for `target`, with a source link-layer address option when `sourceMac` is given. */
export function icmpv6NeighborSolicitation(fields: { readonly target: string; readonly sourceMac?: string }): Uint8Array {
  const options = fields.sourceMac ? linkAddressOption(1, fields.sourceMac) : noBytes;
  return icmpv6({ type: 135 }, concatBytes(parseIpv6(fields.target), options));
}

/** Builds an ICMPv6 neighbour advertisement (type 136) for `target`, with a target link-layer address option when `targetMac` is given. */
export function icmpv6NeighborAdvertisement(fields: {
  readonly target: string;
  readonly targetMac?: string;
  readonly router?: boolean;
  readonly solicited?: boolean;
  readonly override?: boolean;
}): Uint8Array {
  const flags = ((fields.router ? 0x80 : 0) | (fields.solicited ?? true ? 0x40 : 0) | (fields.override ?? true ? 0x20 : 0)) << 24;
  const options = fields.targetMac ? linkAddressOption(2, fields.targetMac) : noBytes;
  return icmpv6({ type: 136, rest: flags >>> 0 }, concatBytes(parseIpv6(fields.target), options));
}

/** Returns the solicited-node multicast address (ff02::1:ffXX:XXXX) that a neighbour solicitation for `target` is sent to. */
export function solicitedNodeAddress(target: string): string {
  const address = parseIpv6("ff02::1:ff00:0");
  address.set(parseIpv6(target).subarray(13), 13);
  return formatIpv6(address);
}

/** Returns the multicast MAC (33:33:xx:xx:xx:xx, RFC 2464) that carries packets to an IPv6 multicast address. */
export function ipv6MulticastMac(address: string): string {
  const b = parseIpv6(address);
  return ["33", "33", ...Array.from(b.subarray(12), (x) => x.toString(16).padStart(2, "0"))].join(":");
}
