/**
 * Compiles a parsed filter for one link type into a small tree of tests over byte loads, following
 * libpcap 1.10's code generator (gencode.c) function by function, so that the same expression
 * selects the same packets as `tcpdump -r FILE EXPR`. filter-optimizer.ts then rearranges it as
 * tcpdump's optimizer would, and filter-codegen.ts turns it into the per-packet function.
 *
 * Where tcpdump's behaviour surprises, we keep it, because the goal is equal packet counts:
 *
 * - Offsets are state, not scope. `vlan` and `mpls` move every offset used by the primitives that
 *   come AFTER them in the text, whatever the parentheses say: `(vlan and tcp) or tcp` tests both
 *   `tcp`s inside the VLAN tag. We walk the tree in source order with mutable offsets, as bison
 *   reduces it.
 * - `tcp`, `udp`, `ip` never look inside VLAN tags on their own.
 * - `port`/`portrange` on IPv4 skip non-first fragments; on IPv6 they look at the fixed header's next
 *   header only (no fragment header), while `tcp`/`udp`/`ip6 proto N` also accept one fragment header.
 * - `tcp[...]`, `udp[...]` etc. use the IPv4 header length and only match IPv4 first fragments
 *   (libpcap 1.10 compiles `tcp[...]` without complaint and it never matches IPv6).
 * - In `a + b` the protocol check of `b` is dropped (gen_arth keeps only the left operand's).
 * - `host X` with an IPv4 address is `ip host X or arp host X or rarp host X`.
 *
 * Order matters too: a BPF program that loads past the captured length rejects the packet at once,
 * whatever the rest of the expression says, so tests are combined in the order libpcap chains its
 * blocks (gen_and(b0, b1) runs b0 first).
 */
import { FilterError } from "./filter-error.ts";
import { describeLinkType, kOffsetNotSet, linkTypeName } from "./filter-link-types.ts";
import type { LinkType } from "./filter-link-types.ts";
import type { ArithNode, ArithOp, CaptureMetaNode, FilterAst, FilterNode, LoadProto, ProtoAbbrevNode, Span } from "./filter-parser.ts";

/** A 32-bit unsigned value computed from the packet. */
export type Value =
  /** A constant; `from` is the arithmetic it was folded from, if any (see filter-optimizer.ts). */
  | { readonly op: "imm"; readonly k: number; readonly from?: Value }
  | { readonly op: "wireLength" }
  /**
   * Big-endian load of `size` bytes at `index + k` (BPF_LD ABS/IND); `via` is the indexed form it
   * was folded from when the index was a constant.
   */
  | { readonly op: "load"; readonly size: 1 | 2 | 4; readonly index: Value | null; readonly k: number; readonly via?: { readonly index: Value; readonly k: number } }
  /** 4 * (byte at `index + k` & 0xf): the IPv4 header length (BPF_LDX MSH). */
  | { readonly op: "ipHeaderLength"; readonly index: Value | null; readonly k: number }
  /** `zeroDivisor` marks a division or modulus by a constant 0, with where it was written. */
  | { readonly op: "alu"; readonly alu: ArithOp; readonly a: Value; readonly b: Value; readonly zeroDivisor?: Span }
  | { readonly op: "negate"; readonly a: Value }
  /** Length of the radiotap header, computed once per packet. */
  | { readonly op: "linkHeaderStart" }
  /** Offset of the 802.11 payload (radiotap + MAC header + QoS + padding), computed once per packet. */
  | { readonly op: "linkPayloadStart" };

/** A boolean test; "set" is BPF's jset (a & b != 0). */
export type Test =
  | { readonly op: "true" }
  | { readonly op: "false" }
  | { readonly op: "and" | "or"; readonly a: Test; readonly b: Test }
  | { readonly op: "not"; readonly a: Test }
  | { readonly op: "compare"; readonly jump: "eq" | "gt" | "ge" | "set"; readonly a: Value; readonly b: Value };

/** A filter compiled for one link type, before code generation. */
export interface FilterProgram {
  readonly test: Test;
  readonly linkType: LinkType;
  /** The filter expression, for error messages. */
  readonly expression: string;
  /** The program reads the radiotap length (`linkHeaderStart`). */
  readonly needsLinkHeaderStart: boolean;
  /** The program reads the 802.11 payload offset (`linkPayloadStart`). */
  readonly needsLinkPayloadStart: boolean;
}

const kTrue: Test = { op: "true" };
const kFalse: Test = { op: "false" };

/** Where a load is relative to (libpcap's e_offrel). */
const Rel = {
  Packet: 0,
  LinkHeader: 1,
  Llc: 2, // start of the link-layer payload (the LLC header on LLC links)
  PrevMplsHeader: 3,
  LinkPayload: 4, // the network-layer header
  LinkPayloadNoSnap: 5,
  LinkType: 6,
  TransportIpv4: 7,
  TransportIpv6: 8,
} as const;
type Rel = (typeof Rel)[keyof typeof Rel];

const EtherType = {
  IP: 0x0800, ARP: 0x0806, REVARP: 0x8035, IPV6: 0x86dd, ATALK: 0x809b, AARP: 0x80f3, IPX: 0x8137, DN: 0x6003,
  SCA: 0x6007, LAT: 0x6004, MOPDL: 0x6001, MOPRC: 0x6002, NS: 0x0600, VLAN: 0x8100, QINQ_AD: 0x88a8,
  QINQ_OLD: 0x9100, MPLS: 0x8847,
} as const;
const Sap = { IP: 0x06, ISONS: 0xfe, NETBEUI: 0xf0, IPX: 0xe0, STP: 0x42, SNAP: 0xaa } as const;
const kEtherMtu = 1500;

/** Link types whose header records the packet's direction, and where (libpcap gen_inbound). */
const kSlip = 8;
const kPflog = 117;
const kPppPppd = 166;
const kIpnet = 226;
const kLinuxSll = 113;
const kLinuxSll2 = 276;
/** Juniper's headers: after a 3-byte magic, a flags byte whose bit 0 is set for inbound packets. */
const kJuniper = new Set([130, 131, 132, 133, 134, 135, 136, 137, 164, 167, 168, 178, 179, 180, 181, 183, 194, 200, 232, 233, 234, 238]);
/** sll_pkttype / sll2_pkttype of a packet the capturing host sent (PACKET_OUTGOING). */
const kPacketOutgoing = 4;

function u32(v: number): number {
  return v >>> 0;
}

function and(a: Test, b: Test): Test {
  return { op: "and", a, b };
}

function or(a: Test, b: Test): Test {
  return { op: "or", a, b };
}

function not(a: Test): Test {
  return { op: "not", a };
}

function imm(k: number): Value {
  return { op: "imm", k: u32(k) };
}

/**
 * A load at `index + k`. libpcap's optimizer turns an indexed load whose index is a known constant
 * into an absolute one, adding in 32 bits, so offsets that wrap (Juniper link types have "not set"
 * offsets of 2^32 - 1) land where tcpdump's do.
 */
function load(size: 1 | 2 | 4, index: Value | null, k: number): Value {
  if (index !== null && index.op === "imm") return { op: "load", size, index: null, k: u32(index.k + k), via: { index, k: u32(k) } };
  return { op: "load", size, index, k: u32(k) };
}

/**
 * Arithmetic, simplified as libpcap's optimizer finally simplifies it (opt_stmt): constants are
 * folded, and a zero operand of *, &, / ... makes the other operand's loads dead, so a short packet
 * is not rejected by them. Folded constants remember what they were folded from: libpcap folds only
 * after its branch optimizations, which still see the arithmetic (filter-optimizer.ts).
 */
function alu(op: ArithOp, a: Value, b: Value, at?: Span): Value {
  const from: Value = { op: "alu", alu: op, a, b };
  if (a.op === "imm" && a.k === 0 && b.op !== "imm" && (op === "*" || op === "/" || op === "%" || op === "&" || op === "<<" || op === ">>")) {
    return { op: "imm", k: 0, from };
  }
  if (b.op === "imm" && b.k === 0 && a.op !== "imm" && (op === "*" || op === "&")) return { op: "imm", k: 0, from };
  if (b.op === "imm" && b.k === 0 && (op === "/" || op === "%")) return { ...from, zeroDivisor: at };
  if (a.op === "imm" && b.op === "imm") {
    const x = a.k;
    const y = b.k;
    let k: number;
    switch (op) {
      case "+": k = x + y; break;
      case "-": k = x - y; break;
      case "*": k = Math.imul(x, y); break;
      case "/": k = Math.floor(x / y); break;
      case "%": k = x % y; break;
      case "&": k = x & y; break;
      case "|": k = x | y; break;
      case "^": k = x ^ y; break;
      case "<<": k = y < 32 ? x << y : 0; break;
      case ">>": k = y < 32 ? x >>> y : 0; break;
    }
    return { op: "imm", k: u32(k), from };
  }
  return from;
}

/** Ethernet types to PPP protocol numbers (libpcap ethertype_to_ppptype). */
function pppType(llProto: number): number {
  switch (llProto) {
    case EtherType.IP: return 0x0021;
    case EtherType.IPV6: return 0x0057;
    case EtherType.DN: return 0x0027;
    case EtherType.ATALK: return 0x0029;
    case EtherType.NS: return 0x0025;
    case Sap.ISONS: return 0x0023;
    case Sap.STP: return 0x0031;
    case Sap.IPX: return 0x002b;
    default: return llProto;
  }
}

/** The code generator's state for one compilation: offsets move as `vlan`/`mpls` are met. */
class Generator {
  private linkType: number;
  private linkPayload: number;
  private network: number;
  private networkNoSnap: number;
  private labelDepth = 0;
  needsLinkHeaderStart = false;
  needsLinkPayloadStart = false;

  constructor(readonly lt: LinkType, private readonly expression: string, private readonly fileByteOrder?: "little" | "big") {
    this.linkType = lt.linkType;
    this.linkPayload = lt.linkPayload;
    this.network = lt.network;
    this.networkNoSnap = lt.networkNoSnap;
  }

  private error(message: string, span: Span): FilterError {
    return new FilterError(message, this.expression, span.start, span.end - span.start);
  }

  private text(span: Span): string {
    return this.expression.slice(span.start, span.end);
  }

  /** Names the link type in messages: "link type 101 (Raw IP)". */
  private linkName(): string {
    return linkTypeName(this.lt);
  }

  // --- loads (gen_load_a, gen_load_absoffsetrel) ---

  private linkHeaderLoad(offset: number, size: 1 | 2 | 4): Value {
    if (this.lt.radiotap) {
      this.needsLinkHeaderStart = true;
      return load(size, { op: "linkHeaderStart" }, this.lt.linkHeader + offset);
    }
    return load(size, null, this.lt.linkHeader + offset);
  }

  private payloadIndex(): Value | null {
    if (!this.lt.variablePayload) return null;
    this.needsLinkPayloadStart = true;
    return { op: "linkPayloadStart" };
  }

  private payloadLoad(offset: number, size: 1 | 2 | 4): Value {
    return load(size, this.payloadIndex(), this.linkPayload + offset);
  }

  /** X = IPv4 header length (+ variable payload start), as gen_loadx_iphdrlen. */
  private ipHeaderLength(): Value {
    const index = this.payloadIndex();
    const hl: Value = { op: "ipHeaderLength", index, k: u32(this.linkPayload + this.network) };
    return index === null ? hl : alu("+", hl, index);
  }

  private load(rel: Rel, offset: number, size: 1 | 2 | 4): Value {
    switch (rel) {
      case Rel.Packet:
        return load(size, null, offset);
      case Rel.LinkHeader:
        return this.linkHeaderLoad(offset, size);
      case Rel.Llc:
        return this.payloadLoad(offset, size);
      case Rel.PrevMplsHeader:
        return this.payloadLoad(u32(this.network - 4 + offset), size);
      case Rel.LinkPayload:
        return this.payloadLoad(u32(this.network + offset), size);
      case Rel.LinkPayloadNoSnap:
        return this.payloadLoad(u32(this.networkNoSnap + offset), size);
      case Rel.LinkType:
        return load(size, null, this.linkType + offset);
      case Rel.TransportIpv4:
        return load(size, this.ipHeaderLength(), this.linkPayload + this.network + offset);
      case Rel.TransportIpv6:
        return this.payloadLoad(u32(this.network + 40 + offset), size);
    }
  }

  // --- comparisons (gen_ncmp and friends) ---

  private ncmp(rel: Rel, offset: number, size: 1 | 2 | 4, mask: number, jump: "eq" | "gt" | "ge", reverse: boolean, v: number): Test {
    if (u32(mask) === 0) {
      // "field & 0": the optimizer drops the load, so a short packet is not rejected by it.
      const r = jump === "eq" ? v === 0 : jump === "ge" ? v === 0 : false;
      return (reverse && jump !== "eq" ? !r : r) ? kTrue : kFalse;
    }
    let a = this.load(rel, offset, size);
    if (u32(mask) !== 0xffffffff) a = { op: "alu", alu: "&", a, b: imm(mask) };
    const t: Test = { op: "compare", jump, a, b: imm(v) };
    return reverse && jump !== "eq" ? not(t) : t;
  }

  private cmp(rel: Rel, offset: number, size: 1 | 2 | 4, v: number): Test {
    return this.ncmp(rel, offset, size, 0xffffffff, "eq", false, v);
  }

  private mcmp(rel: Rel, offset: number, size: 1 | 2 | 4, v: number, mask: number): Test {
    return this.ncmp(rel, offset, size, mask, "eq", false, v);
  }

  private jset(rel: Rel, offset: number, size: 1 | 2 | 4, bits: number): Test {
    return { op: "compare", jump: "set", a: this.load(rel, offset, size), b: imm(bits) };
  }

  /** gen_bcmp: compares bytes, last word first. */
  private bcmp(rel: Rel, offset: number, bytes: readonly number[]): Test {
    let b: Test | undefined;
    let size = bytes.length;
    const chain = (t: Test): void => {
      b = b === undefined ? t : and(b, t);
    };
    while (size >= 4) {
      const v = ((bytes[size - 4]! << 24) | (bytes[size - 3]! << 16) | (bytes[size - 2]! << 8) | bytes[size - 1]!) >>> 0;
      chain(this.cmp(rel, offset + size - 4, 4, v));
      size -= 4;
    }
    while (size >= 2) {
      chain(this.cmp(rel, offset + size - 2, 2, (bytes[size - 2]! << 8) | bytes[size - 1]!));
      size -= 2;
    }
    if (size > 0) chain(this.cmp(rel, offset, 1, bytes[0]!));
    return b!;
  }

  private snap(orgCode: number, protoType: number): Test {
    return this.bcmp(Rel.Llc, 0, [
      Sap.SNAP, Sap.SNAP, 0x03, (orgCode >> 16) & 0xff, (orgCode >> 8) & 0xff, orgCode & 0xff, (protoType >> 8) & 0xff, protoType & 0xff,
    ]);
  }

  // --- link-layer protocol tests (gen_linktype and the per-family helpers) ---

  private notLength(): Test {
    // "type/length field <= 1500": an 802.3 frame, not Ethernet II.
    return not(this.ncmp(Rel.LinkType, 0, 2, 0xffffffff, "gt", false, kEtherMtu));
  }

  private etherLinkType(p: number): Test {
    switch (p) {
      case Sap.ISONS:
      case Sap.IP:
      case Sap.NETBEUI:
        return and(this.notLength(), this.cmp(Rel.Llc, 0, 2, (p << 8) | p));
      case Sap.IPX: {
        let b1 = or(this.cmp(Rel.Llc, 0, 1, Sap.IPX), this.cmp(Rel.Llc, 0, 2, 0xffff));
        b1 = or(this.snap(0x000000, EtherType.IPX), b1);
        b1 = and(this.notLength(), b1);
        return or(this.cmp(Rel.LinkType, 0, 2, EtherType.IPX), b1);
      }
      case EtherType.ATALK:
      case EtherType.AARP: {
        const b1 = and(this.notLength(), p === EtherType.ATALK ? this.snap(0x080007, EtherType.ATALK) : this.snap(0x000000, EtherType.AARP));
        return or(this.cmp(Rel.LinkType, 0, 2, p), b1);
      }
      default:
        if (p <= kEtherMtu) return and(this.notLength(), this.cmp(Rel.LinkType, 2, 1, p));
        return this.cmp(Rel.LinkType, 0, 2, p);
    }
  }

  private llcLinkType(p: number): Test {
    switch (p) {
      case Sap.IP:
      case Sap.ISONS:
      case Sap.NETBEUI:
        return this.cmp(Rel.Llc, 0, 2, (p << 8) | p);
      case Sap.IPX:
        return this.cmp(Rel.Llc, 0, 1, Sap.IPX);
      case EtherType.ATALK:
        return this.snap(0x080007, EtherType.ATALK);
      default:
        return p <= kEtherMtu ? this.cmp(Rel.Llc, 0, 1, p) : this.cmp(Rel.Llc, 6, 2, p);
    }
  }

  private sllLinkType(p: number): Test {
    const k8022 = 0x0004;
    const k8023 = 0x0001;
    switch (p) {
      case Sap.ISONS:
      case Sap.IP:
      case Sap.NETBEUI:
        return and(this.cmp(Rel.LinkType, 0, 2, k8022), this.cmp(Rel.Llc, 0, 2, (p << 8) | p));
      case Sap.IPX: {
        let b1 = or(this.cmp(Rel.Llc, 0, 1, Sap.IPX), this.snap(0x000000, EtherType.IPX));
        b1 = and(this.cmp(Rel.LinkType, 0, 2, k8022), b1);
        b1 = or(this.cmp(Rel.LinkType, 0, 2, k8023), b1);
        return or(this.cmp(Rel.LinkType, 0, 2, EtherType.IPX), b1);
      }
      case EtherType.ATALK:
      case EtherType.AARP: {
        const b1 = and(this.cmp(Rel.LinkType, 0, 2, k8022), p === EtherType.ATALK ? this.snap(0x080007, EtherType.ATALK) : this.snap(0x000000, EtherType.AARP));
        return or(this.cmp(Rel.LinkType, 0, 2, p), b1);
      }
      default:
        if (p <= kEtherMtu) return and(this.cmp(Rel.LinkType, 0, 2, k8022), this.cmp(Rel.LinkHeader, this.linkPayload, 1, p));
        return this.cmp(Rel.LinkType, 0, 2, p);
    }
  }

  /**
   * BSD loopback: the address family is a 32-bit word. DLT_NULL stores it in the capturing host's
   * byte order, which libpcap takes to be the capture file's. Given that order we test one value, as
   * libpcap does; without it we accept both orders (an address family never collides with another
   * one byte-swapped), which decides the same except, rarely, on truncated packets (the optimizer
   * then rearranges a different program).
   */
  private loopbackLinkType(family: number): Test {
    const networkOrder = this.cmp(Rel.LinkHeader, 0, 4, family);
    if (this.lt.family === "bsd-loop" || this.fileByteOrder === "big") return networkOrder;
    const swapped = this.cmp(Rel.LinkHeader, 0, 4, u32(((family & 0xff) << 24) | ((family & 0xff00) << 8) | ((family >>> 8) & 0xff00) | (family >>> 24)));
    return this.fileByteOrder === "little" ? swapped : or(swapped, networkOrder);
  }

  /** gen_check_802_11_data_frame: type "data" (FC bit 3 set, bit 2 clear). */
  private wlanDataFrame(): Test {
    return and(not(this.jset(Rel.LinkHeader, 0, 1, 0x04)), this.jset(Rel.LinkHeader, 0, 1, 0x08));
  }

  /** gen_linktype: is the link-layer payload of protocol `p` (an EtherType, or an LLC SAP <= 1500)? */
  linkTypeTest(p: number, span: Span): Test {
    if (this.labelDepth > 0) return this.mplsLinkType(p, span);
    switch (this.lt.family) {
      case "ethernet":
        return this.etherLinkType(p);
      case "cisco-hdlc":
        return this.cmp(Rel.LinkType, 0, 2, p === Sap.ISONS ? (Sap.ISONS << 8) | Sap.ISONS : p);
      case "ieee802-11":
        return and(this.wlanDataFrame(), this.llcLinkType(p));
      case "llc":
        return this.llcLinkType(p);
      case "sunatm":
        // SunATM pseudo-header: the protocol field (low nibble of byte 0) says LLC encapsulation.
        return and(this.ncmp(Rel.LinkHeader, 0, 1, 0x0f, "eq", false, 0x02), this.llcLinkType(p));
      case "linux-sll":
        return this.sllLinkType(p);
      case "raw-ip":
        if (p === EtherType.IP) return this.mcmp(Rel.LinkHeader, 0, 1, 0x40, 0xf0);
        if (p === EtherType.IPV6) return this.mcmp(Rel.LinkHeader, 0, 1, 0x60, 0xf0);
        return kFalse;
      case "ipv4":
        return p === EtherType.IP ? kTrue : kFalse;
      case "ipv6":
        return p === EtherType.IPV6 ? kTrue : kFalse;
      case "ppp":
        return this.cmp(Rel.LinkType, 0, 2, pppType(p));
      case "bsd-null":
      case "bsd-loop":
        if (p === EtherType.IP) return this.loopbackLinkType(2);
        if (p === EtherType.IPV6) {
          // AF_INET6 differs per OS: 24 (NetBSD, OpenBSD, Npcap), 28 (FreeBSD), 30 (Darwin).
          const b1 = or(this.loopbackLinkType(24), this.loopbackLinkType(28));
          return or(this.loopbackLinkType(30), b1);
        }
        return kFalse;
      case "arcnet":
        switch (p) {
          case EtherType.IPV6: return this.cmp(Rel.LinkType, 0, 1, 0xc4);
          case EtherType.IP: return or(this.cmp(Rel.LinkType, 0, 1, 212), this.cmp(Rel.LinkType, 0, 1, 240));
          case EtherType.ARP: return or(this.cmp(Rel.LinkType, 0, 1, 213), this.cmp(Rel.LinkType, 0, 1, 241));
          case EtherType.REVARP: return this.cmp(Rel.LinkType, 0, 1, 214);
          case EtherType.ATALK: return this.cmp(Rel.LinkType, 0, 1, 221);
          default: return kFalse;
        }
      case "localtalk":
        return p === EtherType.ATALK ? kTrue : kFalse;
      case "frame-relay":
        // Q.922 header then the NLPID (0xcc IPv4, 0x8e IPv6) after a UI control byte.
        if (p === EtherType.IP) return this.cmp(Rel.LinkHeader, 2, 2, 0x03cc);
        if (p === EtherType.IPV6) return this.cmp(Rel.LinkHeader, 2, 2, 0x038e);
        if (p === Sap.ISONS) {
          const b2 = or(this.cmp(Rel.LinkHeader, 2, 2, 0x0382), this.cmp(Rel.LinkHeader, 2, 2, 0x0383));
          return or(this.cmp(Rel.LinkHeader, 2, 2, 0x0381), b2);
        }
        return kFalse;
      case "juniper":
        // libpcap only checks the "MGC" magic number, whatever the protocol asked for.
        return this.mcmp(Rel.LinkHeader, 0, 4, 0x4d474300, 0xffffff00);
      case "bacnet":
        return this.mcmp(Rel.LinkHeader, 0, 4, 0x55ff0000, 0xffff0000);
      case "ipnet":
        if (p === EtherType.IP) return this.cmp(Rel.LinkType, 0, 1, 2);
        if (p === EtherType.IPV6) return this.cmp(Rel.LinkType, 0, 1, 26);
        return kFalse;
      case "generic":
        if (this.linkType !== kOffsetNotSet) return this.cmp(Rel.LinkType, 0, 2, p);
        throw this.notImplemented(this.lt.description, span);
      case "not-implemented":
        throw this.notImplemented(this.lt.refusal ?? this.lt.description, span);
    }
  }

  private notImplemented(what: string, span: Span): FilterError {
    const why = what.startsWith("link type")
      ? "its link-layer header is unknown here"
      : `${what} link-layer type filtering is not implemented (as in libpcap)`;
    return this.error(
      `Cannot use '${this.text(span)}' at position ${span.start} on ${this.linkName()}: ${why}; only 'less', 'greater', 'len' and 'link[...]' work on this link type`,
      span);
  }

  private mplsLinkType(p: number, span: Span): Test {
    // Bottom-of-stack bit of the last label, then the IP version nibble.
    const bottom = this.mcmp(Rel.LinkPayload, u32(-2), 1, 0x01, 0x01);
    if (p === EtherType.IP) return and(bottom, this.mcmp(Rel.LinkPayload, 0, 1, 0x40, 0xf0));
    if (p === EtherType.IPV6) return and(bottom, this.mcmp(Rel.LinkPayload, 0, 1, 0x60, 0xf0));
    throw this.error(`Cannot use '${this.text(span)}' at position ${span.start} after 'mpls': only IPv4 and IPv6 are recognised inside MPLS`, span);
  }

  // --- hosts (gen_host, gen_hostop, gen_host6, gen_ehostop) ---

  private hostOp(addr: number, mask: number, dir: string, p: number, srcOff: number, dstOff: number, span: Span): Test {
    switch (dir) {
      case "src":
      case "dst":
        return and(this.linkTypeTest(p, span), this.mcmp(Rel.LinkPayload, dir === "src" ? srcOff : dstOff, 4, addr, mask));
      case "and":
        return and(this.hostOp(addr, mask, "src", p, srcOff, dstOff, span), this.hostOp(addr, mask, "dst", p, srcOff, dstOff, span));
      default:
        return or(this.hostOp(addr, mask, "src", p, srcOff, dstOff, span), this.hostOp(addr, mask, "dst", p, srcOff, dstOff, span));
    }
  }

  private host(addr: number, mask: number, proto: string, dir: string, span: Span): Test {
    switch (proto) {
      case "ip":
        return this.hostOp(addr, mask, dir, EtherType.IP, 12, 16, span);
      case "arp":
        return this.hostOp(addr, mask, dir, EtherType.ARP, 14, 24, span);
      case "rarp":
        return this.hostOp(addr, mask, dir, EtherType.REVARP, 14, 24, span);
      default: {
        let b0 = this.host(addr, mask, "ip", dir, span);
        // Inside MPLS only IPv4 is looked at.
        if (this.labelDepth === 0) {
          const b1 = or(b0, this.host(addr, mask, "arp", dir, span));
          b0 = or(b1, this.host(addr, mask, "rarp", dir, span));
        }
        return b0;
      }
    }
  }

  private host6Op(addr: readonly number[], mask: readonly number[], dir: string, span: Span): Test {
    switch (dir) {
      case "src":
      case "dst": {
        const offset = dir === "src" ? 8 : 24;
        let b1 = this.mcmp(Rel.LinkPayload, offset + 12, 4, addr[3]!, mask[3]!);
        b1 = and(this.mcmp(Rel.LinkPayload, offset + 8, 4, addr[2]!, mask[2]!), b1);
        b1 = and(this.mcmp(Rel.LinkPayload, offset + 4, 4, addr[1]!, mask[1]!), b1);
        b1 = and(this.mcmp(Rel.LinkPayload, offset, 4, addr[0]!, mask[0]!), b1);
        return and(this.linkTypeTest(EtherType.IPV6, span), b1);
      }
      case "and":
        return and(this.host6Op(addr, mask, "src", span), this.host6Op(addr, mask, "dst", span));
      default:
        return or(this.host6Op(addr, mask, "src", span), this.host6Op(addr, mask, "dst", span));
    }
  }

  private macHost(mac: readonly number[], dir: string, span: Span, what = `'${this.text(span)}'`): Test {
    if (this.lt.family === "ieee802-11") return this.wlanHost(mac, dir);
    const layout = this.lt.macAddresses;
    if (layout === undefined) {
      throw this.error(
        `Cannot use ${what} at position ${span.start} on ${this.linkName()}: Ethernet addresses exist only on Ethernet, 802.11, FDDI, token ring and Fibre Channel captures`,
        span);
    }
    switch (dir) {
      case "src":
        return this.bcmp(Rel.LinkHeader, layout.src, mac);
      case "dst":
        return this.bcmp(Rel.LinkHeader, layout.dst, mac);
      case "and":
        return and(this.macHost(mac, "src", span, what), this.macHost(mac, "dst", span, what));
      default:
        return or(this.macHost(mac, "src", span, what), this.macHost(mac, "dst", span, what));
    }
  }

  /**
   * gen_wlanhostop: where the source and destination are in an 802.11 header depends on the frame
   * type and the To DS / From DS bits. Control frames (FC bit 2 set) never match.
   */
  private wlanHost(mac: readonly number[], dir: string): Test {
    const fcBit = (offset: number, bit: number): Test => this.jset(Rel.LinkHeader, offset, 1, bit);
    const at = (offset: number): Test => this.bcmp(Rel.LinkHeader, offset, mac);
    switch (dir) {
      case "src": {
        // Data frames: SA at 24 (To DS and From DS), 16 (From DS only), 10 (no From DS); management: 10.
        let b0 = and(fcBit(1, 0x01), at(24));
        b0 = or(and(not(fcBit(1, 0x01)), at(16)), b0);
        b0 = and(fcBit(1, 0x02), b0);
        b0 = or(and(not(fcBit(1, 0x02)), at(10)), b0);
        b0 = and(fcBit(0, 0x08), b0);
        b0 = or(and(not(fcBit(0, 0x08)), at(10)), b0);
        return and(not(fcBit(0, 0x04)), b0);
      }
      case "dst": {
        // Data frames: DA at 16 (To DS) or 4; management frames: 4.
        let b0 = and(fcBit(1, 0x01), at(16));
        b0 = or(and(not(fcBit(1, 0x01)), at(4)), b0);
        b0 = and(fcBit(0, 0x08), b0);
        b0 = or(and(not(fcBit(0, 0x08)), at(4)), b0);
        return and(not(fcBit(0, 0x04)), b0);
      }
      case "and":
        return and(this.wlanHost(mac, "src"), this.wlanHost(mac, "dst"));
      default:
        return or(this.wlanHost(mac, "src"), this.wlanHost(mac, "dst"));
    }
  }

  /** gen_multicast for 802.11: the group bit of the DA, wherever the DA is. */
  private wlanMulticast(): Test {
    const fcBit = (offset: number, bit: number): Test => this.jset(Rel.LinkHeader, offset, 1, bit);
    const group = (offset: number): Test => this.jset(Rel.LinkHeader, offset, 1, 0x01);
    let b0 = and(fcBit(1, 0x01), group(16));
    b0 = or(and(not(fcBit(1, 0x01)), group(4)), b0);
    b0 = and(fcBit(0, 0x08), b0);
    b0 = or(and(not(fcBit(0, 0x08)), group(4)), b0);
    return and(not(fcBit(0, 0x04)), b0);
  }

  // --- ports (gen_port, gen_portop, gen_port6, gen_portrange...) ---

  /** "Not a fragment other than the first": the 13-bit fragment offset is zero. */
  private ipFirstFragment(): Test {
    return not(this.jset(Rel.LinkPayload, 6, 2, 0x1fff));
  }

  private portAtom(rel: Rel, offset: number, low: number, high: number, range: boolean): Test {
    if (!range) return this.cmp(rel, offset, 2, low);
    return and(this.ncmp(rel, offset, 2, 0xffffffff, "ge", false, low), this.ncmp(rel, offset, 2, 0xffffffff, "gt", true, high));
  }

  private portDir(rel: Rel, low: number, high: number, range: boolean, dir: string): Test {
    switch (dir) {
      case "src":
        return this.portAtom(rel, 0, low, high, range);
      case "dst":
        return this.portAtom(rel, 2, low, high, range);
      case "and":
        return and(this.portAtom(rel, 0, low, high, range), this.portAtom(rel, 2, low, high, range));
      default:
        return or(this.portAtom(rel, 0, low, high, range), this.portAtom(rel, 2, low, high, range));
    }
  }

  private portOp4(proto: number, low: number, high: number, range: boolean, dir: string): Test {
    const b0 = and(this.cmp(Rel.LinkPayload, 9, 1, proto), this.ipFirstFragment());
    return and(b0, this.portDir(Rel.TransportIpv4, low, high, range, dir));
  }

  private portOp6(proto: number, low: number, high: number, range: boolean, dir: string): Test {
    // No fragment header handling: libpcap compares the fixed header's next header only.
    return and(this.cmp(Rel.LinkPayload, 6, 1, proto), this.portDir(Rel.TransportIpv6, low, high, range, dir));
  }

  private ports(node: Extract<FilterNode, { kind: "port" }>): Test {
    const { low, high, range, dir, protocol } = node;
    const perProtocol = (op: (p: number) => Test): Test => {
      if (protocol !== undefined) return op(protocol);
      const b1 = or(op(6), op(17));
      return or(op(132), b1);
    };
    const v4 = and(this.linkTypeTest(EtherType.IP, node), perProtocol((p) => this.portOp4(p, low, high, range, dir)));
    const v6 = and(this.linkTypeTest(EtherType.IPV6, node), perProtocol((p) => this.portOp6(p, low, high, range, dir)));
    return or(v6, v4);
  }

  // --- protocols (gen_proto, gen_proto_abbrev) ---

  private proto(v: number, proto: string, span: Span): Test {
    switch (proto) {
      case "default":
        return or(this.proto(v, "ip", span), this.proto(v, "ip6", span));
      case "link":
        return this.linkTypeTest(v, span);
      case "ip":
        return and(this.linkTypeTest(EtherType.IP, span), this.cmp(Rel.LinkPayload, 9, 1, v));
      case "ip6": {
        const b0 = this.linkTypeTest(EtherType.IPV6, span);
        // The protocol may follow one fragment header, but no other extension header.
        const b1 = and(this.cmp(Rel.LinkPayload, 6, 1, 44), this.cmp(Rel.LinkPayload, 40, 1, v));
        return and(b0, or(this.cmp(Rel.LinkPayload, 6, 1, v), b1));
      }
      case "iso":
        switch (this.lt.family) {
          case "frame-relay":
            return this.cmp(Rel.LinkHeader, 2, 2, 0x0300 | v);
          case "cisco-hdlc":
            return and(this.linkTypeTest((Sap.ISONS << 8) | Sap.ISONS, span), this.cmp(Rel.LinkPayloadNoSnap, 1, 1, v));
          default:
            return and(this.linkTypeTest(Sap.ISONS, span), this.cmp(Rel.LinkPayloadNoSnap, 0, 1, v));
        }
      case "isis":
        return and(this.proto(0x83, "iso", span), this.cmp(Rel.LinkPayloadNoSnap, 4, 1, v));
      default:
        throw new Error(`filter compiler: unexpected proto qualifier ${proto}`);
    }
  }

  private isisTypes(types: readonly number[], span: Span): Test {
    // libpcap ORs each new test in front of the previous ones.
    let b = or(this.proto(types[0]!, "isis", span), this.proto(types[1]!, "isis", span));
    for (const t of types.slice(2)) b = or(this.proto(t, "isis", span), b);
    return b;
  }

  protoAbbrev(proto: ProtoAbbrevNode["proto"], span: Span): Test {
    switch (proto) {
      case "sctp": return this.proto(132, "default", span);
      case "tcp": return this.proto(6, "default", span);
      case "udp": return this.proto(17, "default", span);
      case "icmp": return this.proto(1, "ip", span);
      case "igmp": return this.proto(2, "ip", span);
      case "igrp": return this.proto(9, "ip", span);
      case "pim": return this.proto(103, "default", span);
      case "vrrp":
      case "carp": return this.proto(112, "ip", span);
      case "ip": return this.linkTypeTest(EtherType.IP, span);
      case "arp": return this.linkTypeTest(EtherType.ARP, span);
      case "rarp": return this.linkTypeTest(EtherType.REVARP, span);
      case "atalk": return this.linkTypeTest(EtherType.ATALK, span);
      case "aarp": return this.linkTypeTest(EtherType.AARP, span);
      case "decnet": return this.linkTypeTest(EtherType.DN, span);
      case "sca": return this.linkTypeTest(EtherType.SCA, span);
      case "lat": return this.linkTypeTest(EtherType.LAT, span);
      case "mopdl": return this.linkTypeTest(EtherType.MOPDL, span);
      case "moprc": return this.linkTypeTest(EtherType.MOPRC, span);
      case "ip6": return this.linkTypeTest(EtherType.IPV6, span);
      case "icmp6": return this.proto(58, "ip6", span);
      case "ah": return this.proto(51, "default", span);
      case "esp": return this.proto(50, "default", span);
      case "iso": return this.linkTypeTest(Sap.ISONS, span);
      case "esis": return this.proto(0x82, "iso", span);
      case "isis": return this.proto(0x83, "iso", span);
      case "clnp": return this.proto(0x81, "iso", span);
      case "l1": return this.isisTypes([15, 17, 18, 24, 26], span);
      case "l2": return this.isisTypes([16, 17, 20, 25, 27], span);
      case "iih": return this.isisTypes([15, 16, 17], span);
      case "lsp": return this.isisTypes([18, 20], span);
      case "snp": return this.isisTypes([24, 25, 26, 27], span);
      case "csnp": return this.isisTypes([24, 25], span);
      case "psnp": return this.isisTypes([26, 27], span);
      case "stp": return this.linkTypeTest(Sap.STP, span);
      case "ipx": return this.linkTypeTest(Sap.IPX, span);
      case "netbeui": return this.linkTypeTest(Sap.NETBEUI, span);
    }
  }

  // --- arithmetic (gen_load, gen_arth, gen_relation) ---

  private arith(a: ArithNode): { value: Value; guard: Test | null } {
    switch (a.kind) {
      case "number":
        return { value: imm(a.value), guard: null };
      case "wireLength":
        return { value: { op: "wireLength" }, guard: null };
      case "negate": {
        const inner = this.arith(a.operand);
        const negated: Value = { op: "negate", a: inner.value };
        const value: Value = inner.value.op === "imm" ? { op: "imm", k: u32(-inner.value.k), from: negated } : negated;
        return { value, guard: inner.guard };
      }
      case "binary": {
        const left = this.arith(a.left);
        const right = this.arith(a.right);
        // libpcap's gen_arth keeps only the left operand's protocol check.
        return { value: alu(a.op, left.value, right.value, a.right), guard: left.guard };
      }
      case "load":
        return this.headerLoad(a.proto, this.arith(a.index), a.size, a);
    }
  }

  private headerLoad(proto: LoadProto, index: { value: Value; guard: Test | null }, size: 1 | 2 | 4, span: Span): { value: Value; guard: Test | null } {
    const withGuard = (b: Test): Test => (index.guard ? and(index.guard, b) : b);
    const offsetBy = (variable: Value | null): Value => (variable === null ? index.value : alu("+", index.value, variable));
    switch (proto) {
      case "link": {
        const variable: Value | null = this.lt.radiotap ? { op: "linkHeaderStart" } : null;
        if (variable) this.needsLinkHeaderStart = true;
        return { value: load(size, offsetBy(variable), this.lt.linkHeader), guard: index.guard };
      }
      case "tcp": case "udp": case "sctp": case "icmp": case "igmp": case "igrp": case "pim": case "vrrp": case "carp": {
        const value = load(size, alu("+", index.value, this.ipHeaderLength()), this.linkPayload + this.network);
        const b = withGuard(and(this.protoAbbrev(proto, span), this.ipFirstFragment()));
        return { value, guard: and(this.protoAbbrev("ip", span), b) };
      }
      case "icmp6": {
        let b = withGuard(this.protoAbbrev("ip6", span));
        b = and(b, this.cmp(Rel.LinkPayload, 6, 1, 58));
        const value = load(size, offsetBy(this.payloadIndex()), this.linkPayload + this.network + 40);
        return { value, guard: b };
      }
      default: {
        // ip, ip6, arp, rarp and the other network-layer protocols: relative to the network header.
        const value = load(size, offsetBy(this.payloadIndex()), this.linkPayload + this.network);
        return { value, guard: withGuard(this.protoAbbrev(proto, span)) };
      }
    }
  }

  // --- everything else ---

  private vlan(id: number | undefined, span: Span): Test {
    if (this.labelDepth > 0) {
      throw this.error(`Cannot use 'vlan' at position ${span.start} after 'mpls': write 'vlan' before 'mpls' (VLAN tags come before MPLS labels)`, span);
    }
    if (!this.lt.vlan) {
      throw this.error(
        `No VLAN support for ${this.linkName()} at position ${span.start}: 'vlan' works only on Ethernet and 802.11 captures, so remove it from the filter for this capture`,
        span);
    }
    let b0 = or(this.linkTypeTest(EtherType.VLAN, span), this.linkTypeTest(EtherType.QINQ_AD, span));
    b0 = or(b0, this.linkTypeTest(EtherType.QINQ_OLD, span));
    if (id !== undefined) {
      if (id > 0x0fff) throw this.error(`VLAN ID ${id} at position ${span.start} is too large: VLAN IDs go from 0 to 4095`, span);
      b0 = and(b0, this.mcmp(Rel.LinkPayload, 0, 2, id, 0x0fff));
    }
    // Everything after this `vlan` looks 4 bytes further in (a kludge documented in gencode.c).
    this.linkPayload = u32(this.linkPayload + 4);
    this.linkType = u32(this.linkType + 4);
    return b0;
  }

  private mpls(label: number | undefined, span: Span): Test {
    let b0: Test;
    if (this.labelDepth > 0) {
      // An inner label: the previous one must not have had the bottom-of-stack bit.
      b0 = this.mcmp(Rel.PrevMplsHeader, 2, 1, 0, 0x01);
    } else if (this.lt.family === "ethernet" || this.lt.family === "cisco-hdlc") {
      b0 = this.linkTypeTest(EtherType.MPLS, span);
    } else if (this.lt.number === 9) {
      b0 = this.linkTypeTest(0x0281, span);
    } else {
      throw this.error(`No MPLS support for ${this.linkName()} at position ${span.start}: 'mpls' works on Ethernet, Cisco HDLC and PPP captures only`, span);
    }
    if (label !== undefined) {
      if (label > 0xfffff) throw this.error(`MPLS label ${label} at position ${span.start} is too large: labels go from 0 to 1048575`, span);
      b0 = and(b0, this.mcmp(Rel.LinkPayload, 0, 4, u32(label * 4096), 0xfffff000));
    }
    this.networkNoSnap = u32(this.networkNoSnap + 4);
    this.network = u32(this.network + 4);
    this.labelDepth++;
    return b0;
  }

  private broadcast(proto: string, span: Span): Test {
    if (proto === "ip") {
      // tcpdump reading a file compiles with a netmask of 0, so only 0.0.0.0 and 255.255.255.255 match.
      const b0 = this.linkTypeTest(EtherType.IP, span);
      return and(b0, or(this.cmp(Rel.LinkPayload, 16, 4, 0), this.cmp(Rel.LinkPayload, 16, 4, 0xffffffff)));
    }
    if (this.lt.family === "arcnet") return this.cmp(Rel.LinkHeader, 1, 1, 0);
    if (this.lt.family === "ieee802-11") return this.wlanHost([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "dst");
    if (this.lt.macAddresses === undefined) {
      throw this.error(`Cannot use '${this.text(span)}' at position ${span.start} on ${this.linkName()}: it has no link-layer broadcast address; use 'ip broadcast'`, span);
    }
    return this.macHost([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "dst", span);
  }

  private multicast(proto: string, span: Span): Test {
    if (proto === "ip") return and(this.linkTypeTest(EtherType.IP, span), this.ncmp(Rel.LinkPayload, 16, 1, 0xffffffff, "ge", false, 224));
    if (proto === "ip6") return and(this.linkTypeTest(EtherType.IPV6, span), this.cmp(Rel.LinkPayload, 24, 1, 255));
    switch (this.lt.family) {
      case "arcnet":
        return this.cmp(Rel.LinkHeader, 1, 1, 0);
      case "ieee802-11":
        return this.wlanMulticast();
      default: {
        const layout = this.lt.macAddresses;
        if (layout === undefined) {
          throw this.error(`Cannot use '${this.text(span)}' at position ${span.start} on ${this.linkName()}: it has no link-layer multicast address; use 'ip multicast' or 'ip6 multicast'`, span);
        }
        // The group bit is the low bit of the destination's first byte.
        return this.jset(Rel.LinkHeader, layout.dst, 1, 1);
      }
    }
  }

  /**
   * `inbound`, `outbound` and `ifindex N` (libpcap gen_inbound, gen_ifindex). In a capture file the
   * direction is known only where the link-layer header records it, the interface index only in
   * Linux cooked v2 headers; elsewhere libpcap refuses them when reading files (live on Linux it asks
   * the kernel instead, which is what the host does live too: libpcap compiles live filters).
   */
  private captureMeta(n: CaptureMetaNode): Test {
    const lt = this.lt.number;
    const outbound = n.kind === "outbound";
    if (n.kind === "ifindex") {
      if (lt === kLinuxSll2) return this.cmp(Rel.LinkHeader, 4, 4, n.value);
      throw this.error(
        `Cannot use '${this.text(n)}' at position ${n.start} on ${this.linkName()}: its frames carry no interface index (only Linux cooked v2 headers do, as libpcap reads files)`,
        n);
    }
    switch (lt) {
      case kLinuxSll:
      case kLinuxSll2: {
        const sent = lt === kLinuxSll ? this.cmp(Rel.LinkHeader, 0, 2, kPacketOutgoing) : this.cmp(Rel.LinkHeader, 10, 1, kPacketOutgoing);
        return outbound ? sent : not(sent);
      }
      case kSlip: {
        const received = this.cmp(Rel.LinkHeader, 0, 1, 0);
        return outbound ? not(received) : received;
      }
      case kIpnet:
        return this.cmp(Rel.LinkHeader, 2, 2, outbound ? 1 : 2);
      case kPflog:
        return this.cmp(Rel.LinkHeader, 60, 1, outbound ? 2 : 1);
      case kPppPppd:
        return this.cmp(Rel.LinkHeader, 0, 1, outbound ? 1 : 0);
    }
    if (kJuniper.has(lt)) return this.mcmp(Rel.LinkHeader, 3, 1, outbound ? 0 : 1, 0x01);
    throw this.error(
      `Cannot use '${n.kind}' at position ${n.start} on ${this.linkName()}: its frames do not record their direction ` +
        "(Linux cooked SLL/SLL2, SLIP, pflog, PPP-pppd, Solaris ipnet and Juniper headers do, as libpcap reads files): " +
        "filter live, where libpcap asks the kernel, or record with -i any, whose Linux cooked headers keep the direction",
      n);
  }

  node(n: FilterNode): Test {
    switch (n.kind) {
      case "and": {
        const a = this.node(n.left);
        return and(a, this.node(n.right));
      }
      case "or": {
        const a = this.node(n.left);
        return or(a, this.node(n.right));
      }
      case "not":
        return not(this.node(n.operand));
      case "host":
        return this.host(n.addr, n.mask, n.proto, n.dir, n);
      case "host6":
        return this.host6Op(n.addr, n.mask, n.dir, n);
      case "etherHost":
        return this.macHost(n.mac, n.dir, n);
      case "port":
        return this.ports(n);
      case "proto":
        return this.proto(n.value, n.proto, n);
      case "protoAbbrev":
        return this.protoAbbrev(n.proto, n);
      case "relation": {
        const left = this.arith(n.left);
        const right = this.arith(n.right);
        let b: Test = { op: "compare", jump: n.op, a: left.value, b: right.value };
        if (n.negate) b = not(b);
        const guard = left.guard && right.guard ? and(left.guard, right.guard) : (left.guard ?? right.guard);
        return guard ? and(guard, b) : b;
      }
      case "length": {
        const t: Test = { op: "compare", jump: n.op === "ge" ? "ge" : "gt", a: { op: "wireLength" }, b: imm(n.value) };
        return n.op === "ge" ? t : not(t);
      }
      case "inbound":
      case "outbound":
      case "ifindex":
        return this.captureMeta(n);
      case "vlan":
        return this.vlan(n.id, n);
      case "mpls":
        return this.mpls(n.label, n);
      case "broadcast":
        return this.broadcast(n.proto, n);
      case "multicast":
        return this.multicast(n.proto, n);
      case "byte":
        switch (n.op) {
          case "=": return this.cmp(Rel.LinkHeader, n.index, 1, n.value);
          case "<": return this.ncmp(Rel.LinkHeader, n.index, 1, 0xffffffff, "ge", true, n.value);
          case ">": return this.ncmp(Rel.LinkHeader, n.index, 1, 0xffffffff, "gt", false, n.value);
          case "&": return this.jset(Rel.LinkHeader, n.index, 1, n.value);
          case "|": return not({ op: "compare", jump: "eq", a: alu("|", this.load(Rel.LinkHeader, n.index, 1), imm(n.value)), b: imm(0) });
        }
    }
  }
}

/**
 * Compiles a parsed filter for one link type into a test tree (see filter-codegen.ts for the
 * function). Throws FilterError when the expression cannot apply to the link type.
 */
export function compileProgram(ast: FilterAst, linktype: number, fileByteOrder?: "little" | "big"): FilterProgram {
  const lt = describeLinkType(linktype);
  const gen = new Generator(lt, ast.expression, fileByteOrder);
  const test = ast.root === null ? kTrue : gen.node(ast.root);

  return {
    test, linkType: lt, expression: ast.expression, needsLinkHeaderStart: gen.needsLinkHeaderStart,
    needsLinkPayloadStart: gen.needsLinkPayloadStart,
  };
}
