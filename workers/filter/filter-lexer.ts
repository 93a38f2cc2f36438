/**
 * Tokenizer for pcap-filter(7) expressions, written to split text exactly where libpcap 1.10's flex
 * scanner (scanner.l) does, because the grammar depends on it: "10.0.0.1" is an address but
 * "10.0.0.1.5" is a name, "1024-65535" is one name (that `portrange` then splits), "tcp-syn" is the
 * number 2 and "tcpx" is a name.
 *
 * flex picks the LONGEST match at each position and, between rules matching the same length, the
 * one listed first. We reproduce that by measuring every rule at the current position and keeping the
 * longest, ties going to the lower rule rank (see `Rank`). Parsing runs once per filter, so trying ~80
 * patterns per token costs nothing that matters.
 */
import { FilterError } from "./filter-error.ts";

/** Kinds of tokens; keywords are reported as `keyword` with their canonical spelling in `word`. */
export type TokenKind =
  | "keyword" // a reserved word: `word` holds its canonical form (e.g. "ether" for link|ether|ppp|...)
  | "number" // a number, or a named constant such as tcp-syn; `value` holds it
  | "ipv4" // 1 to 4 dotted decimal parts ("10", "10.1", "10.1.2.3" when dotted); libpcap's HID
  | "ipv6" // an IPv6 address; libpcap's HID6
  | "mac" // an Ethernet address in one of the accepted notations; libpcap's EID
  | "arcnet" // "$" and 1-2 hex digits, an ARCnet address; libpcap's AID
  | "name" // anything else that looks like a word (host names, service names, "1024-65535"); libpcap's ID
  | "op" // punctuation; `word` holds it ("(", "==", "&&" is reported as keyword "and")
  | "end";

/** One token with its place in the expression. */
export interface Token {
  readonly kind: TokenKind;
  /** Keyword canonical name, operator text, or the token text for addresses and names. */
  readonly word: string;
  /** Numeric value of a `number` token. */
  readonly value: number;
  /** Offset of the first character in the expression. */
  readonly start: number;
  /** Offset just past the last character. */
  readonly end: number;
}

/**
 * Reserved words and their canonical names, in scanner.l order. Aliases map to one name so the
 * parser has fewer cases (libpcap returns the same token for them too).
 */
const keywordList: ReadonlyArray<readonly [string, string]> = [
  ["dst", "dst"], ["src", "src"],
  ["link", "link"], ["ether", "link"], ["ppp", "link"], ["slip", "link"],
  ["fddi", "link"], ["tr", "link"], ["wlan", "link"],
  ["arp", "arp"], ["rarp", "rarp"], ["ip", "ip"], ["sctp", "sctp"], ["tcp", "tcp"], ["udp", "udp"],
  ["icmp", "icmp"], ["igmp", "igmp"], ["igrp", "igrp"], ["pim", "pim"], ["vrrp", "vrrp"], ["carp", "carp"],
  ["radio", "radio"],
  ["ip6", "ip6"], ["icmp6", "icmp6"], ["ah", "ah"], ["esp", "esp"],
  ["atalk", "atalk"], ["aarp", "aarp"], ["decnet", "decnet"], ["lat", "lat"], ["sca", "sca"],
  ["moprc", "moprc"], ["mopdl", "mopdl"],
  ["iso", "iso"], ["esis", "esis"], ["es-is", "esis"], ["isis", "isis"], ["is-is", "isis"],
  ["l1", "l1"], ["l2", "l2"], ["iih", "iih"], ["lsp", "lsp"], ["snp", "snp"], ["csnp", "csnp"], ["psnp", "psnp"],
  ["clnp", "clnp"], ["stp", "stp"], ["ipx", "ipx"], ["netbeui", "netbeui"],
  ["host", "host"], ["net", "net"], ["mask", "mask"], ["port", "port"], ["portrange", "portrange"],
  ["proto", "proto"], ["protochain", "protochain"], ["gateway", "gateway"],
  ["type", "type"], ["subtype", "subtype"], ["direction", "dir"], ["dir", "dir"],
  ["address1", "addr1"], ["addr1", "addr1"], ["address2", "addr2"], ["addr2", "addr2"],
  ["address3", "addr3"], ["addr3", "addr3"], ["address4", "addr4"], ["addr4", "addr4"],
  ["ra", "ra"], ["ta", "ta"],
  ["less", "less"], ["greater", "greater"], ["byte", "byte"], ["broadcast", "broadcast"], ["multicast", "multicast"],
  ["and", "and"], ["&&", "and"], ["or", "or"], ["||", "or"], ["not", "not"],
  ["len", "len"], ["length", "len"], ["inbound", "inbound"], ["outbound", "outbound"], ["ifindex", "ifindex"],
  ["vlan", "vlan"], ["mpls", "mpls"], ["pppoed", "pppoed"], ["pppoes", "pppoes"], ["geneve", "geneve"],
  ["lane", "lane"], ["llc", "llc"], ["metac", "metac"], ["bcc", "bcc"], ["oam", "oam"], ["oamf4", "oamf4"],
  ["oamf4ec", "oamf4ec"], ["oamf4sc", "oamf4sc"], ["sc", "sc"], ["ilmic", "ilmic"], ["vpi", "vpi"], ["vci", "vci"],
  ["connectmsg", "connectmsg"], ["metaconnect", "metaconnect"],
  ["on", "ifname"], ["ifname", "ifname"], ["rset", "ruleset"], ["ruleset", "ruleset"], ["rnr", "rulenum"],
  ["rulenum", "rulenum"], ["srnr", "subrulenum"], ["subrulenum", "subrulenum"], ["reason", "reason"], ["action", "action"],
  ["fisu", "fisu"], ["lssu", "lssu"], ["lsu", "lssu"], ["msu", "msu"], ["hfisu", "hfisu"], ["hlssu", "hlssu"],
  ["hmsu", "hmsu"], ["sio", "sio"], ["opc", "opc"], ["dpc", "dpc"], ["sls", "sls"], ["hsio", "hsio"], ["hopc", "hopc"],
  ["hdpc", "hdpc"], ["hsls", "hsls"],
];

const keywords = new Map<string, string>(keywordList);

/** Named numbers of scanner.l (offsets into ICMP/TCP headers, ICMP types and TCP flag bits). */
export const namedNumbers: ReadonlyMap<string, number> = new Map([
  ["icmptype", 0], ["icmpcode", 1],
  ["icmp-echoreply", 0], ["icmp-unreach", 3], ["icmp-sourcequench", 4], ["icmp-redirect", 5], ["icmp-echo", 8],
  ["icmp-routeradvert", 9], ["icmp-routersolicit", 10], ["icmp-timxceed", 11], ["icmp-paramprob", 12],
  ["icmp-tstamp", 13], ["icmp-tstampreply", 14], ["icmp-ireq", 15], ["icmp-ireqreply", 16],
  ["icmp-maskreq", 17], ["icmp-maskreply", 18],
  ["icmp6type", 0], ["icmp6code", 1],
  ["icmp6-destinationunreach", 1], ["icmp6-packettoobig", 2], ["icmp6-timeexceeded", 3],
  ["icmp6-parameterproblem", 4], ["icmp6-echo", 128], ["icmp6-echoreply", 129],
  ["icmp6-multicastlistenerquery", 130], ["icmp6-multicastlistenerreportv1", 131],
  ["icmp6-multicastlistenerdone", 132], ["icmp6-routersolicit", 133], ["icmp6-routeradvert", 134],
  ["icmp6-neighborsolicit", 135], ["icmp6-neighboradvert", 136], ["icmp6-redirect", 137],
  ["icmp6-routerrenum", 138], ["icmp6-nodeinformationquery", 139], ["icmp6-nodeinformationresponse", 140],
  ["icmp6-ineighbordiscoverysolicit", 141], ["icmp6-ineighbordiscoveryadvert", 142],
  ["icmp6-multicastlistenerreportv2", 143], ["icmp6-homeagentdiscoveryrequest", 144],
  ["icmp6-homeagentdiscoveryreply", 145], ["icmp6-mobileprefixsolicit", 146], ["icmp6-mobileprefixadvert", 147],
  ["icmp6-certpathsolicit", 148], ["icmp6-certpathadvert", 149], ["icmp6-multicastrouteradvert", 151],
  ["icmp6-multicastroutersolicit", 152], ["icmp6-multicastrouterterm", 153],
  ["tcpflags", 13], ["tcp-fin", 0x01], ["tcp-syn", 0x02], ["tcp-rst", 0x04], ["tcp-push", 0x08],
  ["tcp-ack", 0x10], ["tcp-urg", 0x20], ["tcp-ece", 0x40], ["tcp-cwr", 0x80],
]);

/** scanner.l rule order, used to break ties between matches of equal length (lower wins). */
const Rank = {
  Keyword: 0,
  Operator: 1,
  Arcnet: 2,
  Mac: 3,
  Number: 4,
  Ipv4: 5,
  Ipv6: 6,
  BogusMac: 7,
  NamedNumber: 8,
  Name: 9,
  EscapedName: 10,
} as const;
type Rank = (typeof Rank)[keyof typeof Rank];

const operators = [">=", "<=", "!=", "==", "<<", ">>", "+", "-", "*", "/", "%", ":", "[", "]", "!", "<", ">", "(", ")", "&", "|", "^", "="];

// Sticky regular expressions for the scanner.l definitions N, HID, MAC and ID.
const N = "(?:0[xX][0-9A-Fa-f]+|[0-9]+)";
const numberRe = new RegExp(N, "y");
const hidRes = [3, 2, 1].map((dots) => new RegExp(`${N}(?:\\.${N}){${dots}}`, "y"));
const B = "[0-9A-Fa-f]{1,2}";
const B2 = "[0-9A-Fa-f]{4}";
const macRes = [
  `${B}(?::${B}){5}`,
  `${B}(?:-${B}){5}`,
  `${B}(?:\\.${B}){5}`,
  `${B2}\\.${B2}\\.${B2}`,
  `${B2}${B2}${B2}`,
].map((p) => new RegExp(p, "y"));
const bogusMacRe = new RegExp(`${B}:+(?:${B}:+)+`, "y");
const nameRe = /[A-Za-z0-9](?:[-_.A-Za-z0-9]*[.A-Za-z0-9])?/y;
const arcnetRe = new RegExp(`\\$${B}`, "y");
const escapedNameRe = /\\[^ !()\n\t]+/y;

/**
 * The IPv6 patterns of scanner.l (V680 ... V6004): 8 groups, or 0-7 groups with "::" at any gap,
 * optionally ending in a dotted IPv4 part after 6 groups (or 0-5 groups with "::").
 */
const ipv6Res: RegExp[] = (() => {
  const W = "[0-9A-Fa-f]{1,4}";
  const v4 = `${N}\\.${N}\\.${N}\\.${N}`;
  const groups = (n: number): string[] => Array.from({ length: n }, () => W);
  const patterns: string[] = [groups(8).join(":")];
  const withGap = (n: number, tail: string): void => {
    for (let gap = 0; gap <= n; gap++) {
      const left = groups(gap).join(":");
      const right = groups(n - gap).join(":");
      if (tail === "") patterns.push(`${left}::${right}`);
      else patterns.push(`${left}::${right}${n - gap > 0 ? ":" : ""}${tail}`);
    }
  };
  for (let n = 7; n >= 0; n--) withGap(n, "");
  patterns.push(`${groups(6).join(":")}:${v4}`);
  for (let n = 5; n >= 0; n--) withGap(n, v4);
  return patterns.map((p) => new RegExp(p, "y"));
})();

function matchLength(re: RegExp, text: string, at: number): number {
  re.lastIndex = at;
  const m = re.exec(text);
  return m === null ? 0 : m[0].length;
}

/**
 * Converts the digits of a `number` token like scanner.l's stou(): decimal, 0x hex, or (leading 0)
 * octal; values must fit in 32 bits.
 */
function parseNumber(text: string, expression: string, start: number): number {
  let value = 0;
  let base = 10;
  let digits = text;
  if (/^0[xX]/.test(text)) {
    base = 16;
    digits = text.slice(2);
  } else if (text.length > 1 && text[0] === "0") {
    base = 8;
    digits = text.slice(1);
    if (/[89]/.test(digits)) {
      throw new FilterError(
        `Invalid number '${text}' at position ${start}: a leading 0 makes it octal, and 8 and 9 are not octal digits; remove the leading 0`,
        expression, start, text.length);
    }
  }
  for (const ch of digits) {
    value = value * base + parseInt(ch, 16);
    if (value > 0xffffffff) {
      throw new FilterError(`Number '${text}' at position ${start} does not fit in 32 bits: use a value up to 4294967295`,
        expression, start, text.length);
    }
  }
  return value;
}

/** Splits a filter expression into tokens; throws FilterError on a character no rule accepts. */
export function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < expression.length) {
    const ch = expression[at]!;
    if (ch === " " || ch === "\t" || ch === "\r" || ch === "\n") {
      at++;
      continue;
    }
    let bestLength = 0;
    let bestRank: number = Number.POSITIVE_INFINITY;
    const offer = (length: number, rank: Rank): void => {
      if (length > bestLength || (length === bestLength && length > 0 && rank < bestRank)) {
        bestLength = length;
        bestRank = rank;
      }
    };

    for (const op of operators) if (expression.startsWith(op, at)) offer(op.length, Rank.Operator);
    // Keywords: the longest keyword that starts here (including the symbolic "&&" and "||").
    for (const word of keywords.keys()) if (expression.startsWith(word, at)) offer(word.length, Rank.Keyword);
    for (const word of namedNumbers.keys()) if (expression.startsWith(word, at)) offer(word.length, Rank.NamedNumber);
    offer(matchLength(arcnetRe, expression, at), Rank.Arcnet);
    for (const re of macRes) offer(matchLength(re, expression, at), Rank.Mac);
    offer(matchLength(numberRe, expression, at), Rank.Number);
    for (const re of hidRes) offer(matchLength(re, expression, at), Rank.Ipv4);
    for (const re of ipv6Res) offer(matchLength(re, expression, at), Rank.Ipv6);
    offer(matchLength(bogusMacRe, expression, at), Rank.BogusMac);
    offer(matchLength(nameRe, expression, at), Rank.Name);
    offer(matchLength(escapedNameRe, expression, at), Rank.EscapedName);

    if (bestLength === 0) {
      throw new FilterError(
        `Unexpected character '${ch}' at position ${at}: filter expressions use words, numbers, addresses and the operators ( ) [ ] ! & | + - * / % ^ < > = (see pcap-filter(7))`,
        expression, at, 1);
    }
    const text = expression.slice(at, at + bestLength);
    const start = at;
    const end = at + bestLength;
    const push = (kind: TokenKind, word: string, value = 0): void => {
      tokens.push({ kind, word, value, start, end });
    };
    switch (bestRank) {
      case Rank.Keyword:
        push("keyword", keywords.get(text)!);
        break;
      case Rank.Operator:
        push("op", text);
        break;
      case Rank.Arcnet:
        push("arcnet", text);
        break;
      case Rank.Mac:
        push("mac", text);
        break;
      case Rank.Number:
        push("number", text, parseNumber(text, expression, start));
        break;
      case Rank.Ipv4:
        push("ipv4", text);
        break;
      case Rank.Ipv6:
        push("ipv6", text);
        break;
      case Rank.BogusMac:
        throw new FilterError(
          `Invalid Ethernet address '${text}' at position ${start}: write six pairs of hex digits, e.g. 00:11:22:33:44:55`,
          expression, start, text.length);
      case Rank.NamedNumber:
        push("number", text, namedNumbers.get(text)!);
        break;
      case Rank.Name:
        push("name", text);
        break;
      case Rank.EscapedName:
        // A backslash makes a keyword usable as a name: "proto \tcp".
        push("name", text.slice(1));
        break;
    }
    at = end;
  }
  tokens.push({ kind: "end", word: "", value: 0, start: expression.length, end: expression.length });
  return tokens;
}
