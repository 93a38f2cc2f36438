/**
 * Parser for pcap-filter(7) expressions, faithful to libpcap 1.10's grammar (grammar.y), then a
 * resolution pass that turns each qualified value into a typed primitive (an IPv4 network, a port
 * range, a protocol number...) and reports the errors libpcap reports while generating code but that
 * do not depend on the link type ("'tcp' modifier applied to host", "illegal port number").
 *
 * The grammar has three habits people rely on and that are easy to get wrong:
 *
 * - `and` and `or` have EQUAL precedence and associate to the left: `a or b and c` is
 *   `(a or b) and c`. `not` binds tighter than both.
 * - A bare value after `and`/`or` repeats the qualifiers of the primitive before it ("implicit
 *   qualifiers"): `host 1.2.3.4 or 5.6.7.8` is `host 1.2.3.4 or host 5.6.7.8`, `port 80 or 443`
 *   is `port 80 or port 443`, `tcp and (port 80 or 443)` works too. After a primitive that has no
 *   qualifiers to give (`tcp`, `vlan`, `less 100`), a bare value is an error. A parenthesized
 *   expression passes on whatever came before its "(" — grammar.y's `$<blk>0` trick, which we
 *   reproduce by threading the inherited qualifiers through the recursive descent.
 * - In arithmetic, `%` and `^` were given no precedence in grammar.y, so bison always shifts on
 *   them: they take everything to their right as their right operand (`2 * 3 % 4` is `2 * (3 % 4)`).
 *
 * grammar.y is LALR(1) and resolves a few ambiguities (is "(" opening a parenthesized expression,
 * an arithmetic term, or a group of values?) by lookahead; this recursive-descent parser tries the
 * alternatives in turn and keeps the syntax error that got furthest, so that messages point where
 * bison would have stopped.
 */
import { FilterError } from "./filter-error.ts";
import { tokenize } from "./filter-lexer.ts";
import type { Token } from "./filter-lexer.ts";
import { lookupIpProtocol, lookupLinkProtocol, lookupService } from "./filter-names.ts";

/** Protocol qualifiers (libpcap's Q_LINK ... Q_RADIO), "default" when absent. */
export type ProtoQualifier =
  | "default" | "link" | "ip" | "arp" | "rarp" | "sctp" | "tcp" | "udp" | "icmp" | "igmp" | "igrp" | "pim"
  | "vrrp" | "carp" | "atalk" | "aarp" | "decnet" | "lat" | "sca" | "moprc" | "mopdl" | "ip6" | "icmp6" | "ah"
  | "esp" | "iso" | "esis" | "isis" | "l1" | "l2" | "iih" | "lsp" | "snp" | "csnp" | "psnp" | "clnp" | "stp"
  | "ipx" | "netbeui" | "radio";

/** Direction qualifiers; "or"/"and" are `src or dst` / `src and dst`. */
export type DirQualifier = "default" | "src" | "dst" | "or" | "and" | "addr1" | "addr2" | "addr3" | "addr4" | "ra" | "ta";

/** Where a node came from in the expression, for error pointers. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

/** IPv4 `host`/`net` (libpcap gen_host): `addr & mask` compared with the masked field. */
export interface HostNode extends Span {
  readonly kind: "host";
  readonly addr: number;
  readonly mask: number;
  /** "default" means ip or arp or rarp. */
  readonly proto: "default" | "ip" | "arp" | "rarp";
  readonly dir: "default" | "src" | "dst" | "or" | "and";
}

/** IPv6 `host`/`net` (libpcap gen_host6): four 32-bit words of address and mask. */
export interface Host6Node extends Span {
  readonly kind: "host6";
  readonly addr: readonly [number, number, number, number];
  readonly mask: readonly [number, number, number, number];
  readonly dir: "default" | "src" | "dst" | "or" | "and";
}

/** `ether host`/`ether src`/`ether dst` with a MAC address. */
export interface EtherHostNode extends Span {
  readonly kind: "etherHost";
  readonly mac: readonly number[];
  readonly dir: "default" | "src" | "dst" | "or" | "and";
}

/** `port` and `portrange` (a port is a range of one); `protocol` undefined means tcp, udp or sctp. */
export interface PortNode extends Span {
  readonly kind: "port";
  /** True for `portrange` (libpcap compiles ranges with >=/<= even when both ends are equal). */
  readonly range: boolean;
  readonly low: number;
  readonly high: number;
  readonly protocol: 6 | 17 | 132 | undefined;
  readonly dir: "default" | "src" | "dst" | "or" | "and";
}

/** `[ip|ip6|ether|iso|isis] proto N` (libpcap gen_proto). */
export interface ProtoNode extends Span {
  readonly kind: "proto";
  readonly value: number;
  readonly proto: "default" | "link" | "ip" | "ip6" | "iso" | "isis";
}

/** A protocol name alone: `tcp`, `ip6`, `arp`, `stp`... (libpcap gen_proto_abbrev). */
export interface ProtoAbbrevNode extends Span {
  readonly kind: "protoAbbrev";
  readonly proto: Exclude<ProtoQualifier, "default" | "link" | "radio">;
}

/** `arith relop arith`; `!=`, `<` and `<=` are the negations of `=`, `>=` and `>`, as in libpcap. */
export interface RelationNode extends Span {
  readonly kind: "relation";
  readonly op: "eq" | "gt" | "ge";
  readonly negate: boolean;
  readonly left: ArithNode;
  readonly right: ArithNode;
}

/** `less N` (wire length <= N) and `greater N` (wire length >= N). */
export interface LengthNode extends Span {
  readonly kind: "length";
  readonly op: "le" | "ge";
  readonly value: number;
}

/**
 * `inbound` / `outbound` (the direction the capturing host saw the packet go) and `ifindex N` (the
 * interface it was captured on): metadata that only some link-layer headers carry (filter-compiler.ts).
 */
export interface CaptureMetaNode extends Span {
  readonly kind: "inbound" | "outbound" | "ifindex";
  /** The interface index of `ifindex`; 0 for the others. */
  readonly value: number;
}

/** `vlan [id]`: checks the outer tag and shifts every later offset by 4 bytes. */
export interface VlanNode extends Span {
  readonly kind: "vlan";
  readonly id: number | undefined;
}

/** `mpls [label]`: checks the outer label and shifts every later network-layer offset by 4 bytes. */
export interface MplsNode extends Span {
  readonly kind: "mpls";
  readonly label: number | undefined;
}

/** `[ether|ip|ip6] broadcast` / `multicast`. */
export interface CastNode extends Span {
  readonly kind: "broadcast" | "multicast";
  readonly proto: "default" | "link" | "ip" | "ip6";
}

/** `byte N op V`: a byte of the link-layer header compared with a value. */
export interface ByteNode extends Span {
  readonly kind: "byte";
  readonly index: number;
  readonly op: "=" | "<" | ">" | "&" | "|";
  readonly value: number;
}

/** Boolean combinations. */
export interface BinaryNode extends Span {
  readonly kind: "and" | "or";
  readonly left: FilterNode;
  readonly right: FilterNode;
}

/** Negation. */
export interface NotNode extends Span {
  readonly kind: "not";
  readonly operand: FilterNode;
}

/** Any node of a parsed filter. */
export type FilterNode =
  | HostNode | Host6Node | EtherHostNode | PortNode | ProtoNode | ProtoAbbrevNode | RelationNode | LengthNode
  | CaptureMetaNode | VlanNode | MplsNode | CastNode | ByteNode | BinaryNode | NotNode;

/** Protocols whose headers `proto[offset]` can index (libpcap gen_load). */
export type LoadProto =
  | "link" | "ip" | "arp" | "rarp" | "atalk" | "decnet" | "sca" | "lat" | "moprc" | "mopdl" | "ip6"
  | "sctp" | "tcp" | "udp" | "icmp" | "igmp" | "igrp" | "pim" | "vrrp" | "carp" | "icmp6";

/** Arithmetic operators of `arith`. */
export type ArithOp = "+" | "-" | "*" | "/" | "%" | "&" | "|" | "^" | "<<" | ">>";

/** Arithmetic expressions (unsigned 32-bit, as in BPF). */
export type ArithNode =
  | ({ readonly kind: "number"; readonly value: number } & Span)
  | ({ readonly kind: "wireLength" } & Span)
  | ({ readonly kind: "load"; readonly proto: LoadProto; readonly index: ArithNode; readonly size: 1 | 2 | 4 } & Span)
  | ({ readonly kind: "binary"; readonly op: ArithOp; readonly left: ArithNode; readonly right: ArithNode } & Span)
  | ({ readonly kind: "negate"; readonly operand: ArithNode } & Span);

/** A parsed filter: `root` is null for an empty expression, which accepts every packet. */
export interface FilterAst {
  readonly expression: string;
  readonly root: FilterNode | null;
}

// ---------------------------------------------------------------------------------------------
// Raw parse tree: the grammar's shape, before values are given meaning.

type AddrQualifier = "default" | "host" | "net" | "port" | "portrange" | "proto" | "protochain" | "gateway";

/** Qualifiers in force for a value; `undefined` fields are libpcap's Q_UNDEF ("qerr": nothing to inherit). */
interface Qualifiers {
  readonly proto: ProtoQualifier | undefined;
  readonly dir: DirQualifier | undefined;
  readonly addr: AddrQualifier | undefined;
  readonly protoAt?: Span;
  readonly dirAt?: Span;
  readonly addrAt?: Span;
}

const noQualifiers: Qualifiers = { proto: undefined, dir: undefined, addr: undefined };

type ValueForm =
  | { readonly t: "number"; readonly tok: Token }
  | { readonly t: "ipv4"; readonly tok: Token }
  | { readonly t: "ipv4/len"; readonly tok: Token; readonly len: Token }
  | { readonly t: "ipv4 mask"; readonly tok: Token; readonly mask: Token }
  | { readonly t: "ipv6"; readonly tok: Token; readonly len?: Token }
  | { readonly t: "mac"; readonly tok: Token }
  | { readonly t: "arcnet"; readonly tok: Token }
  | { readonly t: "name"; readonly tok: Token };

type RawNode =
  | { readonly k: "bin"; readonly op: "and" | "or"; readonly left: RawNode; readonly right: RawNode; readonly span: Span }
  | { readonly k: "not"; readonly operand: RawNode; readonly span: Span }
  | { readonly k: "value"; readonly q: Qualifiers; readonly form: ValueForm; readonly span: Span }
  | { readonly k: "done"; readonly node: FilterNode };

interface Parsed {
  readonly node: RawNode;
  /** Qualifiers a following bare value inherits. */
  readonly q: Qualifiers;
}

/** Thrown inside the parser for a syntax error; the furthest one becomes the FilterError. */
class SyntaxFailure {
  constructor(readonly at: Token, readonly expected: string) {}
}

const protoWords = new Set<string>([
  "link", "ip", "arp", "rarp", "sctp", "tcp", "udp", "icmp", "igmp", "igrp", "pim", "vrrp", "carp", "atalk", "aarp",
  "decnet", "lat", "sca", "moprc", "mopdl", "ip6", "icmp6", "ah", "esp", "iso", "esis", "isis", "l1", "l2", "iih",
  "lsp", "snp", "csnp", "psnp", "clnp", "stp", "ipx", "netbeui", "radio",
]);
const dirWords = new Set(["src", "dst", "addr1", "addr2", "addr3", "addr4", "ra", "ta"]);
const addrWords = new Set(["host", "net", "port", "portrange"]);
const headWords = new Set([...dirWords, ...addrWords, "proto", "protochain", "gateway"]);
const loadProtos = new Set<string>([
  "link", "ip", "arp", "rarp", "atalk", "decnet", "sca", "lat", "moprc", "mopdl", "ip6", "sctp", "tcp", "udp",
  "icmp", "igmp", "igrp", "pim", "vrrp", "carp", "icmp6",
]);
const relops = new Map<string, { op: "eq" | "gt" | "ge"; negate: boolean }>([
  [">", { op: "gt", negate: false }], [">=", { op: "ge", negate: false }], ["=", { op: "eq", negate: false }],
  ["==", { op: "eq", negate: false }], ["<=", { op: "gt", negate: true }], ["<", { op: "ge", negate: true }],
  ["!=", { op: "eq", negate: true }],
]);
/** Binding powers [left, right] of infix arithmetic operators (see the module comment for % and ^). */
const arithPower = new Map<string, readonly [number, number]>([
  ["|", [1, 2]], ["&", [3, 4]], ["<<", [5, 6]], [">>", [5, 6]], ["+", [7, 8]], ["-", [7, 8]], ["*", [9, 10]],
  ["/", [9, 10]], ["%", [100, 0]], ["^", [100, 0]],
]);
const unaryMinusPower = 11;

/** Keywords of libpcap features this implementation leaves out, with what they are for. */
const unsupportedWords = new Map<string, string>([
  ["gateway", "'gateway' needs host-name and Ethernet-address lookups"],
  ["protochain", "'protochain' walks IPv6 extension headers in a loop"],
  ["type", "802.11 frame type matching is not implemented"],
  ["subtype", "802.11 frame subtype matching is not implemented"],
  ["dir", "802.11 direction matching is not implemented"],
  ["addr1", "802.11 address matching is not implemented"],
  ["addr2", "802.11 address matching is not implemented"],
  ["addr3", "802.11 address matching is not implemented"],
  ["addr4", "802.11 address matching is not implemented"],
  ["ra", "802.11 address matching is not implemented"],
  ["ta", "802.11 address matching is not implemented"],
  ["pppoed", "PPPoE matching is not implemented"],
  ["pppoes", "PPPoE matching is not implemented"],
  ["geneve", "Geneve matching is not implemented"],
  ["llc", "LLC frame matching is not implemented"],
  ["radio", "radio header matching is not implemented"],
  ["ifname", "pflog fields are not implemented"],
  ["ruleset", "pflog fields are not implemented"],
  ["rulenum", "pflog fields are not implemented"],
  ["subrulenum", "pflog fields are not implemented"],
  ["reason", "pflog fields are not implemented"],
  ["action", "pflog fields are not implemented"],
  ...["lane", "metac", "bcc", "oam", "oamf4", "oamf4ec", "oamf4sc", "sc", "ilmic", "vpi", "vci", "connectmsg", "metaconnect"]
    .map((w) => [w, "ATM matching is not implemented"] as [string, string]),
  ...["fisu", "lssu", "msu", "hfisu", "hlssu", "hmsu", "sio", "opc", "dpc", "sls", "hsio", "hopc", "hdpc", "hsls"]
    .map((w) => [w, "SS7 MTP matching is not implemented"] as [string, string]),
]);

const supportedList =
  "host, net, port, portrange, src/dst, ether host/src/dst, ether/ip/ip6 proto, ether broadcast/multicast, " +
  "ip, ip6, arp, rarp, tcp, udp, icmp, icmp6 and the other protocol names, vlan, mpls, less, greater, len, " +
  "inbound, outbound, ifindex, proto[offset:size] comparisons";

/** Builds the error for a construct this implementation leaves out. */
function unsupported(expression: string, word: string, span: Span, why: string): FilterError {
  return new FilterError(
    `Unsupported filter primitive '${word}' at position ${span.start}: ${why}; supported primitives are ${supportedList} (see pcap-filter(7))`,
    expression, span.start, span.end - span.start);
}

class Parser {
  private i = 0;
  private furthest: SyntaxFailure | undefined;

  constructor(private readonly expression: string, private readonly tokens: readonly Token[]) {}

  private peek(ahead = 0): Token {
    return this.tokens[Math.min(this.i + ahead, this.tokens.length - 1)]!;
  }

  private next(): Token {
    const t = this.peek();
    if (this.i < this.tokens.length - 1) this.i++;
    return t;
  }

  private fail(at: Token, expected: string): never {
    const failure = new SyntaxFailure(at, expected);
    if (this.furthest === undefined || at.start > this.furthest.at.start) this.furthest = failure;
    throw failure;
  }

  /** Runs `attempt`; on a syntax error rewinds and returns undefined (the error is remembered). */
  private attempt<T>(attempt: () => T): T | undefined {
    const saved = this.i;
    try {
      return attempt();
    } catch (e) {
      if (!(e instanceof SyntaxFailure)) throw e;
      this.i = saved;
      return undefined;
    }
  }

  private isKeyword(t: Token, ...words: string[]): boolean {
    return t.kind === "keyword" && words.includes(t.word);
  }

  private isOp(t: Token, ...ops: string[]): boolean {
    return t.kind === "op" && ops.includes(t.word);
  }

  private isNot(t: Token): boolean {
    return this.isKeyword(t, "not") || this.isOp(t, "!");
  }

  private expectOp(op: string, expected: string): Token {
    const t = this.peek();
    if (!this.isOp(t, op)) this.fail(t, expected);
    return this.next();
  }

  /** Turns the furthest syntax failure into the FilterError users see. */
  syntaxError(): FilterError {
    const f = this.furthest!;
    const found = f.at.kind === "end" ? "the end of the expression" : `'${this.expression.slice(f.at.start, f.at.end)}'`;
    return new FilterError(`Syntax error at position ${f.at.start}: expected ${f.expected}, found ${found} (see pcap-filter(7))`,
      this.expression, f.at.start, f.at.end - f.at.start);
  }

  unsupportedWord(t: Token): FilterError {
    return unsupported(this.expression, this.expression.slice(t.start, t.end), t, unsupportedWords.get(t.word) ?? "it is not implemented");
  }

  program(): RawNode | null {
    if (this.peek().kind === "end") return null;
    const r = this.expr(noQualifiers);
    if (this.peek().kind !== "end") this.fail(this.peek(), "'and', 'or' or the end of the expression");
    return r.node;
  }

  /** expr: term | expr and term | expr and id | expr or term | expr or id (left-associative). */
  private expr(context: Qualifiers): Parsed {
    let left = this.term(context);
    while (this.isKeyword(this.peek(), "and", "or")) {
      const op = this.next().word as "and" | "or";
      const right = this.termOrValue(left.q);
      left = { node: { k: "bin", op, left: left.node, right: right.node, span: spanOf(left.node, right.node) }, q: right.q };
    }
    return left;
  }

  /** term: rterm | not term. */
  private term(context: Qualifiers): Parsed {
    const t = this.peek();
    if (this.isNot(t)) {
      this.next();
      const inner = this.term(context);
      return { node: { k: "not", operand: inner.node, span: { start: t.start, end: spanOf(inner.node).end } }, q: inner.q };
    }
    return this.rterm(context);
  }

  /** After `and`/`or`: a full term, or a bare value that inherits `inherited`. */
  private termOrValue(inherited: Qualifiers): Parsed {
    const t = this.peek();
    if (this.isNot(t)) {
      this.next();
      const inner = this.termOrValue(inherited);
      return { node: { k: "not", operand: inner.node, span: { start: t.start, end: spanOf(inner.node).end } }, q: inner.q };
    }
    if (t.kind === "ipv4" || t.kind === "ipv6" || t.kind === "mac" || t.kind === "arcnet" || t.kind === "name") {
      return this.value(inherited);
    }
    if (t.kind === "number" || this.isOp(t, "(")) {
      // "80" or "(80 or 443)" is a value only if nothing arithmetic follows: "(80) = x" is a relation.
      const asValue = this.attempt(() => {
        const r = this.value(inherited);
        const after = this.peek();
        if (!(after.kind === "end" || this.isKeyword(after, "and", "or") || this.isOp(after, ")"))) {
          this.fail(after, "'and', 'or', ')' or the end of the expression");
        }
        return r;
      });
      if (asValue) return asValue;
    }
    return this.rterm(inherited);
  }

  private rterm(context: Qualifiers): Parsed {
    const t = this.peek();
    if (this.isOp(t, "(")) {
      const grouped = this.attempt(() => {
        this.next();
        const inner = this.expr(context);
        this.expectOp(")", "')' to close the '(' at position " + t.start);
        return { node: inner.node, q: context };
      });
      if (grouped) return grouped;
      return { node: this.relation(), q: noQualifiers };
    }
    if (t.kind === "keyword") {
      const w = t.word;
      if (protoWords.has(w)) {
        const after = this.peek(1);
        if (this.isOp(after, "[")) return { node: this.relation(), q: noQualifiers };
        if (after.kind === "keyword" && headWords.has(after.word)) return this.qualifiedValue();
        if (this.isKeyword(after, "broadcast", "multicast")) return this.cast();
        if (this.isKeyword(after, "type", "subtype", "dir")) throw this.unsupportedWord(after);
        if (w === "radio") throw this.unsupportedWord(t);
        this.next();
        return { node: { k: "done", node: abbrev(this.expression, t) }, q: noQualifiers };
      }
      if (headWords.has(w)) return this.qualifiedValue();
      if (w === "broadcast" || w === "multicast") return this.cast();
      if (w === "less" || w === "greater") {
        this.next();
        const n = this.peek();
        if (n.kind !== "number") this.fail(n, `a number after '${w}'`);
        this.next();
        const node: LengthNode = { kind: "length", op: w === "less" ? "le" : "ge", value: n.value, start: t.start, end: n.end };
        return { node: { k: "done", node }, q: noQualifiers };
      }
      if (w === "inbound" || w === "outbound") {
        this.next();
        const node: CaptureMetaNode = { kind: w, value: 0, start: t.start, end: t.end };
        return { node: { k: "done", node }, q: noQualifiers };
      }
      if (w === "ifindex") {
        this.next();
        const n = this.peek();
        if (n.kind !== "number") this.fail(n, "an interface index after 'ifindex'");
        this.next();
        const node: CaptureMetaNode = { kind: "ifindex", value: n.value, start: t.start, end: n.end };
        return { node: { k: "done", node }, q: noQualifiers };
      }
      if (w === "byte") return { node: { k: "done", node: this.byteOp() }, q: noQualifiers };
      if (w === "vlan" || w === "mpls") {
        this.next();
        const n = this.peek();
        let value: number | undefined;
        let end = t.end;
        if (n.kind === "number" || this.isOp(n, "(")) {
          const p = this.pnum();
          value = p.value;
          end = p.end;
        }
        const node: VlanNode | MplsNode =
          w === "vlan" ? { kind: "vlan", id: value, start: t.start, end } : { kind: "mpls", label: value, start: t.start, end };
        return { node: { k: "done", node }, q: noQualifiers };
      }
      if (w === "len") return { node: this.relation(), q: noQualifiers };
      if (unsupportedWords.has(w)) throw this.unsupportedWord(t);
      this.fail(t, "a filter primitive");
    }
    if (t.kind === "number" || this.isOp(t, "-")) return { node: this.relation(), q: noQualifiers };
    if (t.kind === "ipv4" || t.kind === "ipv6" || t.kind === "mac" || t.kind === "name" || t.kind === "arcnet") {
      this.fail(t, "a qualifier such as 'host', 'net' or 'port' before this value");
    }
    this.fail(t, "a filter primitive");
  }

  /** head id: [proto] [dir] [host|net|port|portrange] | [proto] proto|protochain|gateway, then a value. */
  private qualifiedValue(): Parsed {
    let proto: ProtoQualifier = "default";
    let dir: DirQualifier = "default";
    let addr: AddrQualifier = "default";
    let protoAt: Span | undefined;
    let dirAt: Span | undefined;
    let addrAt: Span | undefined;
    let t = this.peek();
    if (t.kind === "keyword" && protoWords.has(t.word)) {
      this.next();
      proto = t.word as ProtoQualifier;
      protoAt = t;
      t = this.peek();
    }
    if (t.kind === "keyword" && dirWords.has(t.word)) {
      this.next();
      dir = t.word as DirQualifier;
      dirAt = { start: t.start, end: t.end };
      // "src or dst" / "src and dst" (and the reverse) are one qualifier; bison commits on seeing the and/or.
      const joiner = this.peek();
      if ((t.word === "src" || t.word === "dst") && this.isKeyword(joiner, "and", "or")) {
        this.next();
        const other = t.word === "src" ? "dst" : "src";
        const second = this.peek();
        if (!this.isKeyword(second, other)) this.fail(second, `'${other}' after '${t.word} ${joiner.word}'`);
        this.next();
        dir = joiner.word as "and" | "or";
        dirAt = { start: t.start, end: second.end };
      }
      t = this.peek();
      if (t.kind === "keyword" && addrWords.has(t.word)) {
        this.next();
        addr = t.word as AddrQualifier;
        addrAt = t;
      }
    } else if (t.kind === "keyword" && (addrWords.has(t.word) || t.word === "proto" || t.word === "protochain" || t.word === "gateway")) {
      this.next();
      addr = t.word as AddrQualifier;
      addrAt = t;
    } else {
      this.fail(t, "'src', 'dst', 'host', 'net', 'port', 'portrange' or 'proto'");
    }
    const q: Qualifiers = { proto, dir, addr, protoAt, dirAt, addrAt };
    const v = this.value(q);
    return { node: v.node, q };
  }

  /** id: nid | pnum | "(" pid ")" — a value, or a parenthesized group of values sharing `q`. */
  private value(q: Qualifiers): Parsed {
    const t = this.peek();
    if (this.isNot(t)) {
      this.next();
      const inner = this.value(q);
      return { node: { k: "not", operand: inner.node, span: { start: t.start, end: spanOf(inner.node).end } }, q };
    }
    if (t.kind === "number") {
      this.next();
      return { node: { k: "value", q, form: { t: "number", tok: t }, span: t }, q };
    }
    if (this.isOp(t, "(")) return this.valueGroup(q);
    return { node: this.singleValue(q), q };
  }

  /** nid: an address or name, with its optional "/len" or "mask M". */
  private singleValue(q: Qualifiers): RawNode {
    const t = this.peek();
    switch (t.kind) {
      case "ipv4": {
        this.next();
        if (this.isOp(this.peek(), "/")) {
          this.next();
          const len = this.peek();
          if (len.kind !== "number") this.fail(len, "a prefix length after '/'");
          this.next();
          return { k: "value", q, form: { t: "ipv4/len", tok: t, len }, span: { start: t.start, end: len.end } };
        }
        if (this.isKeyword(this.peek(), "mask")) {
          this.next();
          const mask = this.peek();
          if (mask.kind !== "ipv4") this.fail(mask, "a dotted netmask after 'mask'");
          this.next();
          return { k: "value", q, form: { t: "ipv4 mask", tok: t, mask }, span: { start: t.start, end: mask.end } };
        }
        return { k: "value", q, form: { t: "ipv4", tok: t }, span: t };
      }
      case "ipv6": {
        this.next();
        if (this.isOp(this.peek(), "/")) {
          this.next();
          const len = this.peek();
          if (len.kind !== "number") this.fail(len, "a prefix length after '/'");
          this.next();
          return { k: "value", q, form: { t: "ipv6", tok: t, len }, span: { start: t.start, end: len.end } };
        }
        return { k: "value", q, form: { t: "ipv6", tok: t }, span: t };
      }
      case "mac":
      case "arcnet":
      case "name":
        this.next();
        return { k: "value", q, form: { t: t.kind, tok: t }, span: t };
      default:
        if (this.isNot(t)) {
          this.next();
          const inner = this.value(q);
          return { k: "not", operand: inner.node, span: { start: t.start, end: spanOf(inner.node).end } };
        }
        return this.fail(t, "an address, a number or a name");
    }
  }

  /** "(" pid ")": values joined by and/or, all with the qualifiers `q`; or a parenthesized number. */
  private valueGroup(q: Qualifiers): Parsed {
    const open = this.next();
    const t = this.peek();
    let node: RawNode;
    if (t.kind === "number" || this.isOp(t, "(")) {
      const p = this.pnum();
      node = { k: "value", q, form: { t: "number", tok: p.tok }, span: p };
    } else {
      node = this.singleValue(q);
    }
    while (this.isKeyword(this.peek(), "and", "or")) {
      const op = this.next().word as "and" | "or";
      const right = this.value(q);
      node = { k: "bin", op, left: node, right: right.node, span: spanOf(node, right.node) };
    }
    this.expectOp(")", `')' to close the '(' at position ${open.start}`);
    return { node, q };
  }

  /** pnum: NUM | "(" pnum ")". */
  private pnum(): { value: number; tok: Token; start: number; end: number } {
    const t = this.peek();
    if (t.kind === "number") {
      this.next();
      return { value: t.value, tok: t, start: t.start, end: t.end };
    }
    this.expectOp("(", "a number");
    const inner = this.pnum();
    const close = this.expectOp(")", `')' to close the '(' at position ${t.start}`);
    return { ...inner, start: t.start, end: close.end };
  }

  /** [ether|ip|ip6] broadcast|multicast. */
  private cast(): Parsed {
    const first = this.peek();
    let proto: ProtoQualifier = "default";
    if (first.kind === "keyword" && protoWords.has(first.word)) {
      proto = first.word as ProtoQualifier;
      this.next();
    }
    const word = this.next();
    const kind = word.word as "broadcast" | "multicast";
    if (proto !== "default" && proto !== "link" && proto !== "ip" && proto !== "ip6") {
      throw new FilterError(
        `Cannot use '${first.word} ${kind}' at position ${first.start}: only ether, ip and ip6 have ${kind} filters; write 'ether ${kind}', 'ip ${kind}' or 'ip6 ${kind}'`,
        this.expression, first.start, word.end - first.start);
    }
    if (kind === "broadcast" && proto === "ip6") {
      throw new FilterError(`Cannot use 'ip6 broadcast' at position ${first.start}: IPv6 has no broadcast; use 'ip6 multicast'`,
        this.expression, first.start, word.end - first.start);
    }
    const node: CastNode = { kind, proto: proto as CastNode["proto"], start: first.start, end: word.end };
    return { node: { k: "done", node }, q: noQualifiers };
  }

  /** byte N op V. */
  private byteOp(): ByteNode {
    const t = this.next();
    const index = this.peek();
    if (index.kind !== "number") this.fail(index, "a byte offset after 'byte'");
    this.next();
    const op = this.peek();
    if (!this.isOp(op, "&", "|", "<", ">", "=")) this.fail(op, "one of & | < > = after the byte offset");
    this.next();
    const value = this.peek();
    if (value.kind !== "number") this.fail(value, "a number to compare the byte with");
    this.next();
    return { kind: "byte", index: index.value, op: op.word as ByteNode["op"], value: value.value, start: t.start, end: value.end };
  }

  /** arth relop arth. */
  private relation(): RawNode {
    const left = this.arith(0);
    const t = this.peek();
    const rel = t.kind === "op" ? relops.get(t.word) : undefined;
    if (rel === undefined) this.fail(t, "a comparison (=, !=, <, <=, >, >=)");
    this.next();
    const right = this.arith(0);
    checkArith(this.expression, left);
    checkArith(this.expression, right);
    const node: RelationNode = { kind: "relation", op: rel.op, negate: rel.negate, left, right, start: left.start, end: right.end };
    return { k: "done", node };
  }

  /** Precedence climbing over grammar.y's arithmetic (see arithPower). */
  private arith(minPower: number): ArithNode {
    let left = this.arithOperand();
    for (;;) {
      const t = this.peek();
      const power = t.kind === "op" ? arithPower.get(t.word) : undefined;
      if (power === undefined || power[0] < minPower) return left;
      this.next();
      const right = this.arith(power[1]);
      left = { kind: "binary", op: t.word as ArithOp, left, right, start: left.start, end: right.end };
    }
  }

  private arithOperand(): ArithNode {
    const t = this.peek();
    if (t.kind === "number") {
      this.next();
      return { kind: "number", value: t.value, start: t.start, end: t.end };
    }
    if (this.isOp(t, "-")) {
      this.next();
      const operand = this.arith(unaryMinusPower);
      return { kind: "negate", operand, start: t.start, end: operand.end };
    }
    if (this.isKeyword(t, "len")) {
      this.next();
      return { kind: "wireLength", start: t.start, end: t.end };
    }
    if (this.isOp(t, "(")) {
      this.next();
      const inner = this.arith(0);
      const close = this.expectOp(")", `')' to close the '(' at position ${t.start}`);
      return { ...inner, start: t.start, end: close.end };
    }
    if (t.kind === "keyword" && protoWords.has(t.word) && this.isOp(this.peek(1), "[")) {
      this.next();
      this.next();
      const index = this.arith(0);
      let size = 1;
      let sizeTok: Token | undefined;
      if (this.isOp(this.peek(), ":")) {
        this.next();
        sizeTok = this.peek();
        if (sizeTok.kind !== "number") this.fail(sizeTok, "a size (1, 2 or 4) after ':'");
        this.next();
        size = sizeTok.value;
      }
      const close = this.expectOp("]", "']' to close the index");
      if (size !== 1 && size !== 2 && size !== 4) {
        throw new FilterError(`Invalid load size ${size} at position ${sizeTok!.start}: the size after ':' must be 1, 2 or 4`,
          this.expression, sizeTok!.start, sizeTok!.end - sizeTok!.start);
      }
      if (!loadProtos.has(t.word)) {
        if (t.word === "radio") throw this.unsupportedWord(t);
        throw new FilterError(
          `Cannot index '${this.expression.slice(t.start, t.end)}' at position ${t.start}: '[...]' works on ether (link), ip, ip6, arp, rarp, tcp, udp, icmp, icmp6, sctp, igmp, igrp, pim, vrrp and a few more headers`,
          this.expression, t.start, t.end - t.start);
      }
      return { kind: "load", proto: t.word as LoadProto, index, size: size as 1 | 2 | 4, start: t.start, end: close.end };
    }
    return this.fail(t, "a number, 'len', '(' or a header index such as ip[0]");
  }
}

/** Rejects constant division by zero and constant shifts beyond 31 bits, as libpcap's gen_arth does. */
function checkArith(expression: string, a: ArithNode): void {
  if (a.kind === "binary") {
    checkArith(expression, a.left);
    checkArith(expression, a.right);
    // libpcap only catches a literal right operand; "x / (1 - 1)" fails at run time instead.
    if (a.right.kind === "number") {
      if ((a.op === "/" || a.op === "%") && a.right.value === 0) {
        throw new FilterError(`${a.op === "/" ? "Division" : "Modulus"} by zero at position ${a.right.start}: use a non-zero divisor`,
          expression, a.right.start, a.right.end - a.right.start);
      }
      if ((a.op === "<<" || a.op === ">>") && a.right.value > 31) {
        throw new FilterError(`Shift by more than 31 bits at position ${a.right.start}: values are 32 bits wide, so shift by 0 to 31`,
          expression, a.right.start, a.right.end - a.right.start);
      }
    }
  } else if (a.kind === "negate") {
    checkArith(expression, a.operand);
  } else if (a.kind === "load") {
    checkArith(expression, a.index);
  }
}

function spanOf(a: RawNode, b?: RawNode): Span {
  const s = (n: RawNode): Span => (n.k === "done" ? n.node : n.span);
  return { start: s(a).start, end: s(b ?? a).end };
}

function abbrev(expression: string, t: Token): ProtoAbbrevNode {
  if (t.word === "link") {
    throw new FilterError(
      `Cannot use '${expression.slice(t.start, t.end)}' alone at position ${t.start}: it qualifies a value, as in 'ether host 00:11:22:33:44:55' or 'ether proto 0x0800'`,
      expression, t.start, t.end - t.start);
  }
  return { kind: "protoAbbrev", proto: t.word as ProtoAbbrevNode["proto"], start: t.start, end: t.end };
}

// ---------------------------------------------------------------------------------------------
// Resolution: giving values their meaning (libpcap gen_ncode, gen_scode, gen_mcode, gen_mcode6, gen_ecode).

class Resolver {
  constructor(private readonly expression: string) {}

  private error(message: string, span: Span): FilterError {
    return new FilterError(message, this.expression, span.start, span.end - span.start);
  }

  private text(span: Span): string {
    return this.expression.slice(span.start, span.end);
  }

  node(raw: RawNode): FilterNode {
    switch (raw.k) {
      case "done":
        return raw.node;
      case "bin": {
        const left = this.node(raw.left);
        const right = this.node(raw.right);
        return { kind: raw.op, left, right, start: raw.span.start, end: raw.span.end };
      }
      case "not":
        return { kind: "not", operand: this.node(raw.operand), start: raw.span.start, end: raw.span.end };
      case "value":
        return this.value(raw.q, raw.form, raw.span);
    }
  }

  private value(q: Qualifiers, form: ValueForm, span: Span): FilterNode {
    if (q.addr === undefined || q.proto === undefined || q.dir === undefined) {
      throw this.error(
        `Cannot tell what '${this.text(span)}' at position ${span.start} is: a bare value repeats the qualifiers of the primitive before it (as in 'port 80 or 443'), but the primitive before it has none; write a whole primitive (e.g. 'port 443' or 'host 192.0.2.1')`,
        span);
    }
    const proto = q.proto;
    if (q.addr === "gateway") throw unsupported(this.expression, "gateway", q.addrAt ?? span, unsupportedWords.get("gateway")!);
    if (q.addr === "protochain") throw unsupported(this.expression, "protochain", q.addrAt ?? span, unsupportedWords.get("protochain")!);
    if (proto === "decnet" && (q.addr === "default" || q.addr === "host" || q.addr === "net")) {
      throw unsupported(this.expression, "decnet", q.protoAt ?? span, "DECnet address matching is not implemented");
    }
    switch (form.t) {
      case "number":
        return this.number(q, form.tok.value, span);
      case "ipv4": {
        if (q.addr === "port" || q.addr === "portrange" || q.addr === "proto") {
          throw this.error(`Cannot use the address '${this.text(span)}' with '${q.addr}' at position ${span.start}: '${q.addr}' takes a number or a name`, span);
        }
        if (proto === "link") {
          throw this.error(`'${this.text(span)}' at position ${span.start} is not an Ethernet address: write six hex byte pairs such as 00:11:22:33:44:55`, span);
        }
        const parsed = parseDottedIpv4(form.tok.word);
        if (parsed === undefined) throw this.error(`Invalid IPv4 address '${form.tok.word}' at position ${span.start}: each part must be 0 to 255`, span);
        // A short address ("10.1") is left-justified and only its given bytes are compared.
        const shift = 32 - parsed.bits;
        return this.host(q, shl(parsed.value, shift), shl(0xffffffff, shift), span);
      }
      case "ipv4/len":
      case "ipv4 mask":
        return this.network(q, form, span);
      case "ipv6":
        return this.ipv6(q, form.tok, form.len, span);
      case "mac": {
        if (!((q.addr === "host" || q.addr === "default") && proto === "link")) {
          throw this.error(`Cannot use the Ethernet address '${this.text(span)}' at position ${span.start} here: write 'ether host ${this.text(span)}' (or ether src/dst)`, span);
        }
        const mac = parseMac(form.tok.word);
        if (mac === undefined) throw this.error(`Invalid Ethernet address '${form.tok.word}' at position ${span.start}: write six pairs of hex digits`, span);
        return { kind: "etherHost", mac, dir: this.addressDir(q, span), start: span.start, end: span.end };
      }
      case "arcnet":
        throw unsupported(this.expression, form.tok.word, span, "ARCnet addresses are not implemented");
      case "name":
        return this.name(q, form.tok.word, span);
    }
  }

  /** gen_ncode with a plain number. */
  private number(q: Qualifiers, v: number, span: Span): FilterNode {
    switch (q.addr) {
      case "default":
      case "host":
      case "net": {
        if (q.proto === "link") {
          throw this.error(`'${this.text(span)}' at position ${span.start} is not an Ethernet address: write six hex byte pairs such as 00:11:22:33:44:55`, span);
        }
        let mask = 0xffffffff;
        if (q.addr === "net") {
          // "net 10" means 10.0.0.0/8: a net number is left-justified one byte at a time.
          while (v !== 0 && (v & 0xff000000) === 0) {
            v = shl(v, 8);
            mask = shl(mask, 8);
          }
        }
        return this.host(q, v, mask, span);
      }
      case "port":
      case "portrange": {
        const protocol = this.portProtocol(q, span);
        if (v > 65535) throw this.error(`Illegal port number ${v} at position ${span.start}: ports go from 0 to 65535`, span);
        return { kind: "port", range: q.addr === "portrange", low: v, high: v, protocol, dir: this.portDir(q, span), start: span.start, end: span.end };
      }
      case "proto":
        return this.proto(q, v, span);
      default:
        throw unsupported(this.expression, q.addr!, q.addrAt ?? span, "it is not implemented");
    }
  }

  /** gen_mcode: "a.b.c.d/len" and "a.b.c.d mask m.m.m.m". */
  private network(q: Qualifiers, form: Extract<ValueForm, { t: "ipv4/len" | "ipv4 mask" }>, span: Span): FilterNode {
    const n = parseDottedIpv4(form.tok.word);
    if (n === undefined) throw this.error(`Invalid IPv4 address '${form.tok.word}' at position ${form.tok.start}: each part must be 0 to 255`, form.tok);
    const addr = shl(n.value, 32 - n.bits);
    let mask: number;
    if (form.t === "ipv4 mask") {
      const m = parseDottedIpv4(form.mask.word);
      if (m === undefined) throw this.error(`Invalid netmask '${form.mask.word}' at position ${form.mask.start}: each part must be 0 to 255`, form.mask);
      mask = shl(m.value, 32 - m.bits);
      if ((addr & ~mask) !== 0) {
        throw this.error(`Non-network bits set in '${this.text(span)}' at position ${span.start}: clear the host bits, e.g. 'net ${formatIpv4((addr & mask) >>> 0)} mask ${form.mask.word}'`, span);
      }
    } else {
      const len = form.len.value;
      if (len > 32) throw this.error(`Prefix length ${len} at position ${form.len.start} is too long: an IPv4 prefix is at most 32 bits`, form.len);
      mask = len === 0 ? 0 : shl(0xffffffff, 32 - len);
      if ((addr & ~mask) !== 0) {
        throw this.error(`Non-network bits set in '${this.text(span)}' at position ${span.start}: clear the host bits, e.g. 'net ${formatIpv4((addr & mask) >>> 0)}/${len}'`, span);
      }
    }
    if (q.addr !== "net") {
      throw this.error(`Cannot use the network '${this.text(span)}' at position ${span.start} with '${q.addr === "default" ? "a host" : q.addr}': mask syntax is for networks only; write 'net ${this.text(span)}'`, span);
    }
    return this.host(q, addr, mask, span);
  }

  /** gen_mcode6. */
  private ipv6(q: Qualifiers, tok: Token, lenTok: Token | undefined, span: Span): FilterNode {
    const bytes = parseIpv6(tok.word);
    if (bytes === undefined) throw this.error(`Invalid IPv6 address '${tok.word}' at position ${tok.start}: check the groups and the '::'`, tok);
    const len = lenTok?.value ?? 128;
    if (len > 128) throw this.error(`Prefix length ${len} at position ${lenTok!.start} is too long: an IPv6 prefix is at most 128 bits`, lenTok!);
    const addr: number[] = [];
    const mask: number[] = [];
    for (let w = 0; w < 4; w++) {
      const bits = Math.max(0, Math.min(32, len - 32 * w));
      const m = bits === 0 ? 0 : shl(0xffffffff, 32 - bits);
      const a = ((bytes[4 * w]! << 24) | (bytes[4 * w + 1]! << 16) | (bytes[4 * w + 2]! << 8) | bytes[4 * w + 3]!) >>> 0;
      if ((a & ~m) !== 0) {
        throw this.error(`Non-network bits set in '${this.text(span)}' at position ${span.start}: clear the bits after the first ${len}`, span);
      }
      addr.push(a);
      mask.push(m);
    }
    if (q.addr === "default" || q.addr === "host") {
      if (len !== 128) throw this.error(`Cannot use the network '${this.text(span)}' at position ${span.start} as a host: write 'net ${this.text(span)}'`, span);
    } else if (q.addr !== "net") {
      throw this.error(`Cannot use the IPv6 address '${this.text(span)}' with '${q.addr}' at position ${span.start}: write 'host' or 'net'`, span);
    }
    if (q.proto !== "default" && q.proto !== "ip6") {
      throw this.error(`Cannot apply '${q.proto}' to the IPv6 ${q.addr === "net" ? "network" : "host"} '${this.text(span)}' at position ${(q.protoAt ?? span).start}: write 'ip6 ${q.addr === "net" ? "net" : "host"} ...' or drop '${q.proto}'`, q.protoAt ?? span);
    }
    const dir = this.addressDir(q, span);
    return { kind: "host6", addr: addr as unknown as Host6Node["addr"], mask: mask as unknown as Host6Node["mask"], dir, start: span.start, end: span.end };
  }

  /** gen_scode: a name. */
  private name(q: Qualifiers, name: string, span: Span): FilterNode {
    switch (q.addr) {
      case "net":
        throw this.error(`Cannot use the network name '${name}' at position ${span.start}: network names are not resolved; write the network as an address, e.g. 'net 10.0.0.0/8'`, span);
      case "default":
      case "host":
        if (q.proto === "link") {
          throw this.error(`Cannot use the Ethernet host name '${name}' at position ${span.start}: host names are not resolved; write the MAC address, e.g. 'ether host 00:11:22:33:44:55'`, span);
        }
        throw this.error(`Cannot use the host name '${name}' at position ${span.start}: host names are not resolved (no DNS lookups in the filter); write an IP address instead, e.g. 'host 192.0.2.1'`, span);
      case "port": {
        const protocol = this.portProtocol(q, span);
        const found = lookupService(name);
        if (found === undefined) throw this.error(`Unknown port name '${name}' at position ${span.start}: write the port number instead`, span);
        const resolved = this.serviceProtocol(q, name, found.protocol, span, "port");
        if (found.port > 65535) throw this.error(`Illegal port number ${found.port} at position ${span.start}`, span);
        return { kind: "port", range: false, low: found.port, high: found.port, protocol: protocol ?? protocolNumber(resolved), dir: this.portDir(q, span), start: span.start, end: span.end };
      }
      case "portrange": {
        const protocol = this.portProtocol(q, span);
        const range = this.portRange(name, span);
        const resolved = this.serviceProtocol(q, name, range.protocol, span, "port in range");
        for (const p of [range.low, range.high]) {
          if (p < 0 || p > 65535) throw this.error(`Illegal port number ${p} in '${name}' at position ${span.start}: ports go from 0 to 65535`, span);
        }
        return {
          kind: "port", range: true, low: Math.min(range.low, range.high), high: Math.max(range.low, range.high),
          protocol: protocol ?? protocolNumber(resolved), dir: this.portDir(q, span), start: span.start, end: span.end,
        };
      }
      case "proto": {
        let v: number | undefined;
        if (q.proto === "default" || q.proto === "ip" || q.proto === "ip6") {
          v = lookupIpProtocol(name);
          if (v === undefined) throw this.error(`Unknown IP protocol '${name}' at position ${span.start}: write its number (e.g. 'proto 47' for GRE)`, span);
        } else if (q.proto === "link") {
          v = lookupLinkProtocol(name);
          if (v === undefined) throw this.error(`Unknown Ethernet protocol '${name}' at position ${span.start}: write the EtherType as a number (e.g. 'ether proto 0x88cc')`, span);
        } else if (q.proto === "iso") {
          v = name === "esis" ? 0x82 : name === "isis" ? 0x83 : name === "clnp" ? 0x81 : undefined;
          if (v === undefined) throw this.error(`Unknown OSI protocol '${name}' at position ${span.start}: use esis, isis or clnp`, span);
        } else {
          throw this.error(`Unknown protocol '${name}' for '${q.proto} proto' at position ${span.start}: write a number`, span);
        }
        return this.proto(q, v, span);
      }
      default:
        throw unsupported(this.expression, q.addr!, q.addrAt ?? span, "it is not implemented");
    }
  }

  /** pcap_nametoportrange: "N-M" numerically, else "name-name" split at the first '-'. */
  private portRange(name: string, span: Span): { low: number; high: number; protocol: ServiceProtocol } {
    const numeric = /^[+-]?\d+-[+-]?\d+/.exec(name);
    if (numeric) {
      const m = /^([+-]?\d+)-([+-]?\d+)/.exec(numeric[0])!;
      return { low: Number(m[1]), high: Number(m[2]), protocol: undefined };
    }
    const dash = name.indexOf("-");
    if (dash >= 0) {
      const a = lookupService(name.slice(0, dash));
      const b = lookupService(name.slice(dash + 1));
      if (a && b) return { low: a.port, high: b.port, protocol: a.protocol === b.protocol ? a.protocol : undefined };
    }
    throw this.error(`Unknown port range '${name}' at position ${span.start}: write it as LOW-HIGH, e.g. 'portrange 1024-65535'`, span);
  }

  /** Checks a service's protocol against a tcp/udp/sctp qualifier (libpcap: "port 'http' is tcp"). */
  private serviceProtocol(q: Qualifiers, name: string, found: ServiceProtocol, span: Span, what: string): ServiceProtocol {
    const wanted = q.proto === "tcp" ? "tcp" : q.proto === "udp" ? "udp" : q.proto === "sctp" ? "sctp" : undefined;
    if (wanted !== undefined && found !== undefined && found !== wanted) {
      throw this.error(`The ${what} '${name}' at position ${span.start} is ${found}, not ${wanted}: write the port number or use '${found}'`, span);
    }
    return found;
  }

  private portProtocol(q: Qualifiers, span: Span): 6 | 17 | 132 | undefined {
    switch (q.proto) {
      case "tcp":
        return 6;
      case "udp":
        return 17;
      case "sctp":
        return 132;
      case "default":
        return undefined;
      default:
        throw this.error(`Cannot apply '${q.proto}' to '${q.addr}' at position ${(q.protoAt ?? span).start}: only tcp, udp and sctp have ports`, q.protoAt ?? span);
    }
  }

  private portDir(q: Qualifiers, span: Span): PortNode["dir"] {
    const dir = q.dir!;
    if (dir === "default" || dir === "src" || dir === "dst" || dir === "or" || dir === "and") return dir;
    throw unsupported(this.expression, dir, q.dirAt ?? span, unsupportedWords.get(dir)!);
  }

  private addressDir(q: Qualifiers, span: Span): HostNode["dir"] {
    return this.portDir(q, span);
  }

  /** gen_host's checks of the protocol qualifier, then the node. */
  private host(q: Qualifiers, addr: number, mask: number, span: Span): FilterNode {
    const proto = q.proto!;
    const what = q.addr === "net" ? "net" : "host";
    if (proto !== "default" && proto !== "ip" && proto !== "arp" && proto !== "rarp") {
      const at = q.protoAt ?? span;
      if (proto === "link") throw this.error(`Cannot apply '${this.text(at)}' to an IPv4 ${what} at position ${at.start}: Ethernet hosts are MAC addresses (e.g. 'ether host 00:11:22:33:44:55')`, at);
      if (proto === "ip6") throw this.error(`Cannot apply 'ip6' to the IPv4 ${what} '${this.text(span)}' at position ${at.start}: write 'ip ${what}' or just '${what}'`, at);
      throw this.error(`Cannot apply '${proto}' to a ${what} at position ${at.start}: a ${what} can be qualified by ip, arp or rarp only (for example 'ip ${what} ${this.text(span)} and ${proto}')`, at);
    }
    return { kind: "host", addr: addr >>> 0, mask: mask >>> 0, proto, dir: this.addressDir(q, span), start: span.start, end: span.end };
  }

  /** gen_proto's checks, then the node. */
  private proto(q: Qualifiers, v: number, span: Span): ProtoNode {
    const proto = q.proto!;
    if (proto === "default" || proto === "link" || proto === "ip" || proto === "ip6" || proto === "iso" || proto === "isis") {
      return { kind: "proto", value: v, proto, start: span.start, end: span.end };
    }
    const at = q.protoAt ?? span;
    throw this.error(`Cannot use '${proto} proto' at position ${at.start}: only ip, ip6, ether, iso and isis encapsulate a protocol number (e.g. 'ip proto ${v}')`, at);
  }
}

type ServiceProtocol = "tcp" | "udp" | "sctp" | undefined;

function protocolNumber(p: ServiceProtocol): 6 | 17 | 132 | undefined {
  return p === "tcp" ? 6 : p === "udp" ? 17 : p === "sctp" ? 132 : undefined;
}

function shl(v: number, n: number): number {
  return n >= 32 ? 0 : (v << n) >>> 0;
}

/** libpcap's __pcap_atoin: 1-4 dotted decimal parts, each 0-255; `bits` is 8 per part. */
function parseDottedIpv4(text: string): { value: number; bits: number } | undefined {
  const parts = text.split(".");
  let value = 0;
  for (const p of parts) {
    if (!/^\d+$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    value = ((value << 8) | n) >>> 0;
  }
  return { value, bits: 8 * parts.length };
}

function formatIpv4(v: number): string {
  return [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff].join(".");
}

/** Parses the MAC notations of scanner.l (xx:xx:..., xx-xx-..., xx.xx..., xxxx.xxxx.xxxx, 12 hex digits). */
function parseMac(text: string): number[] | undefined {
  let parts: string[];
  if (/^[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}$/.test(text) || /^[0-9A-Fa-f]{12}$/.test(text)) {
    const digits = text.replace(/\./g, "");
    parts = digits.match(/../g)!;
  } else {
    parts = text.split(/[:.-]/);
  }
  if (parts.length !== 6 || parts.some((p) => !/^[0-9A-Fa-f]{1,2}$/.test(p))) return undefined;
  return parts.map((p) => parseInt(p, 16));
}

/** Parses an IPv6 address (with an optional trailing dotted IPv4 part) into 16 bytes. */
function parseIpv6(text: string): number[] | undefined {
  let head = text;
  const tailWords: number[] = [];
  const v4 = /(?:^|:)((?:\d+\.){3}\d+)$/.exec(text);
  if (v4) {
    const parsed = parseDottedIpv4(v4[1]!);
    if (parsed === undefined || parsed.bits !== 32) return undefined;
    tailWords.push(parsed.value >>> 16, parsed.value & 0xffff);
    head = text.slice(0, text.length - v4[1]!.length);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const toWords = (s: string): number[] | undefined => {
    if (s === "") return [];
    const words = s.split(":");
    if (words.some((w) => !/^[0-9A-Fa-f]{1,4}$/.test(w))) return undefined;
    return words.map((w) => parseInt(w, 16));
  };
  const left = toWords(halves[0]!);
  const right = halves.length === 2 ? toWords(halves[1]!) : [];
  if (left === undefined || right === undefined) return undefined;
  const given = left.length + right.length + tailWords.length;
  let words: number[];
  if (halves.length === 2) {
    if (given > 7) return undefined;
    words = [...left, ...new Array<number>(8 - given).fill(0), ...right, ...tailWords];
  } else {
    if (given !== 8) return undefined;
    words = [...left, ...tailWords];
  }
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

/**
 * Parses a filter expression (tcpdump / pcap-filter(7) syntax) once; compile the result per link
 * type with compileFilter(). Throws FilterError on a syntax error, on a construct this implementation
 * does not support, and on errors libpcap reports whatever the link type (a host name, a port above
 * 65535, "tcp host ...").
 *
 * @example
 * ```ts
 * const ast = parseFilter("host 10.0.0.1 or 10.0.0.2");
 * console.assert(ast.root?.kind === "or");
 * ```
 */
export function parseFilter(expression: string): FilterAst {
  const tokens = tokenize(expression);
  const parser = new Parser(expression, tokens);
  let raw: RawNode | null;
  try {
    raw = parser.program();
    return { expression, root: raw === null ? null : new Resolver(expression).node(raw) };
  } catch (e) {
    if (e instanceof SyntaxFailure) throw parser.syntaxError();
    throw tooDeep(e, expression);
  }
}

/**
 * The parser and the compiler recurse once per level of parentheses or "not": JavaScript's stack ends
 * them somewhere past a thousand levels, with a RangeError that says nothing of the filter.
 */
export function tooDeep(e: unknown, expression: string): unknown {
  if (e instanceof RangeError && /call stack/i.test(e.message)) {
    return new FilterError("The filter is nested too deeply (parentheses or \"not\" a thousand levels down): write it flatter", expression, 0, 1);
  }
  return e;
}
