/**
 * DNS messages (RFC 1035): UDP payloads as they are, TCP streams through `DnsTcpFramer`, mDNS (RFC 6762)
 * with the same code.
 *
 * Robustness first: the input is whatever was on the wire, so nothing here throws on bad bytes. A header
 * shorter than 12 bytes is the only `{ error }`; anything that goes wrong later (counts larger than the
 * data, a record running past the end, a bad name) stops the parse with `truncated: true` and keeps the
 * sections decoded so far, because the header (id, flags) and the first question are what matter most.
 *
 * Names: compression pointers must point strictly before the run of labels that holds them (see
 * `readName`), which makes loops impossible whatever the bytes; a hop limit and RFC 1035's 255-byte
 * name / 63-byte label limits bound the work. Names are printed like dig prints them, without the final
 * dot ("" for the root), with bytes outside printable ASCII as \DDD and the characters that have a
 * meaning in presentation form (. ; \ ( ) @ $ ") escaped with a backslash, so a label holding a dot
 * cannot pass for two labels.
 */
import { ipv4Text, ipv6Text, upperHexText } from "../dispatch/address-text.ts";
import { latin1 } from "./latin1-strings.ts";

/** One entry of the question section. */
export interface DnsQuestion {
  name: string;
  type: number;
  /** The class, with mDNS's "unicast response" top bit masked off. */
  class: number;
}

/** One resource record of the answer, authority or additional section. */
export interface DnsAnswer {
  name: string;
  type: number;
  /** The class, with mDNS's "cache flush" top bit masked off (except for OPT, where it is a payload size). */
  class: number;
  ttl: number;
  /**
   * The record data as text for the common types: A/AAAA address, CNAME/NS/PTR target name, MX "pref name",
   * TXT its strings concatenated (as SPF and DKIM read them), SOA "mname rname serial refresh retry expire
   * minimum", SRV "prio weight port target", SVCB and HTTPS "priority target key=value ..." (RFC 9460's
   * presentation form), CAA "flags tag \"value\"", and the DNSSEC types (DS, DNSKEY, CDS, CDNSKEY,
   * RRSIG, NSEC) and SSHFP as `dig +nosplit` writes them (names without the final dot, the root as
   * "." where it is a name inside the data); null for other types or when the data does not parse.
   */
  data: string | null;
}

/** A decoded DNS message. */
export interface DnsMessage {
  id: number;
  /** The QR bit. */
  response: boolean;
  opcode: number;
  /** The header's 4-bit RCODE (an OPT record may extend it). */
  rcode: number;
  /** The whole 16-bit flags word of the header (QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE). */
  flags: number;
  questions: DnsQuestion[];
  answers: DnsAnswer[];
  authorities: DnsAnswer[];
  additionals: DnsAnswer[];
  /** True when the message ended early or broke off: the parts decoded so far are kept. Not the TC bit (that is in `flags`). */
  truncated: boolean;
}

/** The OPT pseudo-record, whose class field carries a UDP payload size rather than a class. */
const kTypeOpt = 41;
/** Compression hops followed for one name; a legal name has at most 127 labels, so at most 127 hops. */
const kMaxHops = 127;

// Outcome of readName(): a position (>= 0) or one of these.
const kNameTruncated = -1;
const kNameMalformed = -2;

/** Text of the last name read by readName(): a module-level slot so a name costs no result object. */
let gName = "";

/** Characters with a meaning in presentation form, escaped with a backslash. */
function isSpecial(c: number): boolean {
  return c === 0x2e || c === 0x3b || c === 0x5c || c === 0x28 || c === 0x29 || c === 0x40 || c === 0x24 || c === 0x22;
}

/** Appends one label, escaped as dig escapes it. */
function labelText(b: Uint8Array, start: number, end: number): string {
  let plain = true;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c <= 0x20 || c >= 0x7f || isSpecial(c)) {
      plain = false;
      break;
    }
  }
  if (plain) return latin1(b, start, end);
  let s = "";
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c <= 0x20 || c >= 0x7f) s += "\\" + String(c).padStart(3, "0");
    else if (isSpecial(c)) s += "\\" + String.fromCharCode(c);
    else s += String.fromCharCode(c);
  }
  return s;
}

/**
 * Reads the name at `pos` of the message bytes[msgStart, msgEnd). Returns the position just after the
 * name where it was written (after the first pointer, if any) and leaves its text in `gName`, or returns
 * kNameTruncated / kNameMalformed.
 *
 * Loop protection: a pointer must point strictly before the start of the run of labels it ends. The first
 * run starts at `pos`; each jump starts a new run at its target, so successive targets strictly decrease
 * and any chain of pointers ends. Real compression always points to a name written earlier, so no valid
 * message is refused by this rule.
 */
function readName(b: Uint8Array, pos: number, msgStart: number, msgEnd: number): number {
  let text = "";
  let wireLen = 1; // the root label
  let hops = 0;
  let runStart = pos;
  let next = -1;
  let p = pos;
  for (;;) {
    if (p >= msgEnd) return kNameTruncated;
    const len = b[p]!;
    if (len === 0) {
      if (next < 0) next = p + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (p + 1 >= msgEnd) return kNameTruncated;
      const target = msgStart + (((len & 0x3f) << 8) | b[p + 1]!);
      if (next < 0) next = p + 2;
      if (target >= runStart || ++hops > kMaxHops) return kNameMalformed;
      runStart = target;
      p = target;
      continue;
    }
    // 0x40 (extended label types, RFC 6891 deprecated them) and 0x80 are not labels we can read.
    if (kind !== 0) return kNameMalformed;
    wireLen += len + 1;
    if (wireLen > 255) return kNameMalformed;
    if (p + 1 + len > msgEnd) return kNameTruncated;
    const label = labelText(b, p + 1, p + 1 + len);
    text = text === "" ? label : text + "." + label;
    p += 1 + len;
  }
  gName = text;
  return next;
}

function u16(b: Uint8Array, p: number): number {
  return (b[p]! << 8) | b[p + 1]!;
}

function u32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

/** Escapes a character-string the way names are escaped, except that dots and the like are plain text. */
function stringText(b: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c < 0x20 || c >= 0x7f) s += "\\" + String(c).padStart(3, "0");
    else if (c === 0x5c) s += "\\\\";
    else s += String.fromCharCode(c);
  }
  return s;
}

/** The text of a record's data bytes[p, end), for the types listed on `DnsAnswer.data`; null otherwise. */
function rdataText(type: number, b: Uint8Array, p: number, end: number, msgStart: number, msgEnd: number): string | null {
  const len = end - p;
  switch (type) {
    case 1: // A
      return len === 4 ? ipv4Text(b, p) : null;
    case 28: // AAAA
      return len === 16 ? ipv6Text(b, p) : null;
    case 2: // NS
    case 5: // CNAME
    case 12: {
      // PTR
      const n = readName(b, p, msgStart, msgEnd);
      return n >= 0 && n <= end ? gName : null;
    }
    case 15: {
      // MX
      if (len < 3) return null;
      const n = readName(b, p + 2, msgStart, msgEnd);
      return n >= 0 && n <= end ? `${u16(b, p)} ${gName}` : null;
    }
    case 16: {
      // TXT: one or more <length><bytes> strings.
      let s = "";
      let q = p;
      while (q < end) {
        const n = b[q]!;
        if (q + 1 + n > end) return null;
        s += stringText(b, q + 1, q + 1 + n);
        q += 1 + n;
      }
      return s;
    }
    case 6: {
      // SOA
      const n1 = readName(b, p, msgStart, msgEnd);
      if (n1 < 0 || n1 > end) return null;
      const mname = gName;
      const n2 = readName(b, n1, msgStart, msgEnd);
      if (n2 < 0 || n2 + 20 > end) return null;
      return `${mname} ${gName} ${u32(b, n2)} ${u32(b, n2 + 4)} ${u32(b, n2 + 8)} ${u32(b, n2 + 12)} ${u32(b, n2 + 16)}`;
    }
    case 33: {
      // SRV
      if (len < 7) return null;
      const n = readName(b, p + 6, msgStart, msgEnd);
      return n >= 0 && n <= end ? `${u16(b, p)} ${u16(b, p + 2)} ${u16(b, p + 4)} ${gName}` : null;
    }
    case 64: // SVCB
    case 65: // HTTPS
      return serviceBindingText(b, p, end, msgStart, msgEnd);
    case 43: // DS: key tag, algorithm, digest type, digest
    case 59: // CDS
      return len > 4 ? `${u16(b, p)} ${b[p + 2]} ${b[p + 3]} ${upperHexText(b, p + 4, end)}` : null;
    case 44: // SSHFP: algorithm, fingerprint type, fingerprint
      return len > 2 ? `${b[p]} ${b[p + 1]} ${upperHexText(b, p + 2, end)}` : null;
    case 48: // DNSKEY: flags, protocol, algorithm, key
    case 60: // CDNSKEY
      return len > 4 ? `${u16(b, p)} ${b[p + 2]} ${b[p + 3]} ${btoa(latin1(b, p + 4, end))}` : null;
    case 46: {
      // RRSIG: type covered, algorithm, labels, original TTL, expiration, inception, key tag, signer, signature
      if (len < 19) return null;
      const n = readName(b, p + 18, msgStart, msgEnd);
      if (n < 0 || n >= end) return null;
      const times = `${dnsTime(u32(b, p + 8))} ${dnsTime(u32(b, p + 12))}`;
      return `${typeName(u16(b, p))} ${b[p + 2]} ${b[p + 3]} ${u32(b, p + 4)} ${times} ${u16(b, p + 16)} ${nameOrRoot()} ${btoa(latin1(b, n, end))}`;
    }
    case 47: {
      // NSEC: the next name, then the types present at this one
      const n = readName(b, p, msgStart, msgEnd);
      if (n < 0 || n > end) return null;
      const next = nameOrRoot();
      const types = typeBitmapText(b, n, end);
      return types === null ? null : types === "" ? next : `${next} ${types}`;
    }
    case 257: {
      // CAA: flags, a tag, and the rest is the value.
      if (len < 2) return null;
      const tagEnd = p + 2 + b[p + 1]!;
      if (tagEnd === p + 2 || tagEnd > end) return null;
      for (let i = p + 2; i < tagEnd; i++) if (!isAlphanumeric(b[i]!)) return null; // RFC 8659 4.1
      return `${b[p]} ${stringText(b, p + 2, tagEnd)} ${quotedText(b, tagEnd, end)}`;
    }
    default:
      return null;
  }
}

/** The name readName() just read, the root written "." (inside record data, as BIND writes it). */
const nameOrRoot = (): string => (gName === "" ? "." : gName);

/** bytes[start, end) as a quoted character-string: escaped as stringText does, and its quotes too. */
function quotedText(b: Uint8Array, start: number, end: number): string {
  return `"${stringText(b, start, end).replaceAll('"', '\\"')}"`;
}

/** IANA's mnemonics of the record types (types 1-65 by number); the others are written TYPEnnn (RFC 3597). */
const kTypeNames = new Map<number, string>([
  ..."A NS MD MF CNAME SOA MB MG MR NULL WKS PTR HINFO MINFO MX TXT RP AFSDB X25 ISDN RT NSAP NSAP-PTR SIG KEY PX GPOS AAAA LOC NXT EID NIMLOC SRV ATMA NAPTR KX CERT A6 DNAME SINK OPT APL DS SSHFP IPSECKEY RRSIG NSEC DNSKEY DHCID NSEC3 NSEC3PARAM TLSA SMIMEA - HIP NINFO RKEY TALINK CDS CDNSKEY OPENPGPKEY CSYNC ZONEMD SVCB HTTPS"
    .split(" ")
    .map((name, i): [number, string] => [i + 1, name])
    .filter(([, name]) => name !== "-"),
  ...Object.entries({ 99: "SPF", 104: "NID", 105: "L32", 106: "L64", 107: "LP", 108: "EUI48", 109: "EUI64", 249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR", 255: "ANY", 256: "URI", 257: "CAA", 258: "AVC", 260: "AMTRELAY", 32768: "TA", 32769: "DLV" }).map(
    ([type, name]): [number, string] => [Number(type), name],
  ),
]);

const isAlphanumeric = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

const typeName = (type: number): string => kTypeNames.get(type) ?? `TYPE${type}`;

/** An RRSIG time (seconds since 1970) as YYYYMMDDHHmmSS, UTC. */
function dnsTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 19).replace(/[-:T]/g, "");
}

/**
 * An NSEC type bitmap (RFC 4034 4.1.2): the type mnemonics in order; null when a window does not fit,
 * comes out of order, or ends in a zero octet (BIND refuses the record then too).
 */
function typeBitmapText(b: Uint8Array, p: number, end: number): string | null {
  const names: string[] = [];
  let last = -1;
  for (let q = p; q < end; ) {
    if (q + 2 > end) return null;
    const window = b[q]!;
    const octets = b[q + 1]!;
    if (window <= last || octets === 0 || octets > 32 || q + 2 + octets > end || b[q + 1 + octets] === 0) return null;
    last = window;
    for (let i = 0; i < octets; i++) {
      const bits = b[q + 2 + i]!;
      for (let bit = 0; bit < 8; bit++) if (bits & (0x80 >> bit)) names.push(typeName(window * 256 + i * 8 + bit));
    }
    q += 2 + octets;
  }
  return names.join(" ");
}

/** SvcParamKey names (RFC 9460 14.3.2, RFC 9461, RFC 9540); the others are written keyNNNNN. */
const kServiceParamNames = ["mandatory", "alpn", "no-default-alpn", "port", "ipv4hint", "ech", "ipv6hint", "dohpath", "ohttp"];

const serviceParamName = (key: number): string => kServiceParamNames[key] ?? `key${key}`;

/**
 * SVCB and HTTPS data (RFC 9460) in its presentation form, as `dig +nosplit` writes it: "priority
 * target key=value ...", e.g. '1 . alpn="h3,h2" ipv4hint=192.0.2.1'; the target "." is the owner name
 * itself. Null when a parameter's length does not fit its key or the keys are not in increasing order
 * (RFC 9460 2.2).
 */
function serviceBindingText(b: Uint8Array, p: number, end: number, msgStart: number, msgEnd: number): string | null {
  if (end - p < 3) return null;
  const n = readName(b, p + 2, msgStart, msgEnd);
  if (n < 0 || n > end) return null;
  let text = `${u16(b, p)} ${nameOrRoot()}`;
  let last = -1;
  for (let q = n; q < end; ) {
    if (q + 4 > end) return null;
    const key = u16(b, q);
    if (key <= last) return null;
    last = key;
    const v = q + 4;
    const vEnd = v + u16(b, q + 2);
    if (vEnd > end) return null;
    const value = serviceParamText(key, b, v, vEnd);
    if (value === null) return null;
    text += value === "" ? ` ${serviceParamName(key)}` : ` ${serviceParamName(key)}=${value}`;
    q = vEnd;
  }
  return text;
}

/** One SvcParamValue, b[p, end); "" for none (no-default-alpn, ohttp, an empty unknown key), null when malformed. */
function serviceParamText(key: number, b: Uint8Array, p: number, end: number): string | null {
  const len = end - p;
  const items: string[] = [];
  switch (key) {
    case 0: // mandatory: keys, never itself
      if (len === 0 || len % 2 !== 0) return null;
      for (let q = p; q < end; q += 2) {
        if (u16(b, q) === 0) return null;
        items.push(serviceParamName(u16(b, q)));
      }
      return items.join(",");
    case 1: // alpn: protocol ids, each length-prefixed
      for (let q = p; q < end; q += 1 + b[q]!) {
        if (b[q] === 0 || q + 1 + b[q]! > end) return null;
        items.push(alpnIdText(b, q + 1, q + 1 + b[q]!));
      }
      return items.length > 0 ? `"${items.join(",")}"` : null;
    case 2: // no-default-alpn
    case 8: // ohttp
      return len === 0 ? "" : null;
    case 3: // port
      return len === 2 ? String(u16(b, p)) : null;
    case 4: // ipv4hint
      if (len === 0 || len % 4 !== 0) return null;
      for (let q = p; q < end; q += 4) items.push(ipv4Text(b, q));
      return items.join(",");
    case 5: // ech: an ECHConfigList, in base64
      return len === 0 ? null : btoa(latin1(b, p, end));
    case 6: // ipv6hint
      if (len === 0 || len % 16 !== 0) return null;
      for (let q = p; q < end; q += 16) items.push(ipv6Text(b, q));
      return items.join(",");
    default:
      return len === 0 ? "" : quotedText(b, p, end);
  }
}

/**
 * An alpn id inside the quoted list, escaped twice as BIND writes it: for the list (a comma or a
 * backslash in an id gets a backslash), then for the string (each backslash doubled, a quote
 * escaped, bytes outside printable ASCII as \DDD).
 */
function alpnIdText(b: Uint8Array, p: number, end: number): string {
  let s = "";
  for (let i = p; i < end; i++) {
    const c = b[i]!;
    if (c === 0x2c) s += "\\\\,";
    else if (c === 0x5c) s += "\\\\\\\\";
    else if (c === 0x22) s += '\\"';
    else if (c < 0x20 || c >= 0x7f) s += "\\" + String(c).padStart(3, "0");
    else s += String.fromCharCode(c);
  }
  return s;
}

/**
 * Decodes the DNS message in bytes[offset, offset + length). Never throws: a header shorter than 12 bytes
 * gives `{ error }`; later trouble gives a message with `truncated: true` and the sections read so far.
 *
 * @example
 * const q = Uint8Array.of(0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1);
 * const m = parseDnsMessage(q, 0, q.length);
 * // m is { id: 0x1234, response: false, questions: [{ name: "a", type: 1, class: 1 }], truncated: false, ... }
 */
export function parseDnsMessage(bytes: Uint8Array, offset: number, length: number): DnsMessage | { error: string } {
  const start = Math.max(0, offset | 0);
  const end = Math.min(bytes.length, start + Math.max(0, length | 0));
  if (end - start < 12) {
    return { error: `Cannot parse DNS message: the header needs 12 bytes: current length is ${Math.max(0, end - start)}` };
  }
  const flags = u16(bytes, start + 2);
  const msg: DnsMessage = {
    id: u16(bytes, start),
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    rcode: flags & 0xf,
    flags,
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
    truncated: false,
  };
  const counts = [u16(bytes, start + 4), u16(bytes, start + 6), u16(bytes, start + 8), u16(bytes, start + 10)];
  let p = start + 12;

  // Every entry takes at least 5 bytes, so a lying count cannot make these loops outrun the data.
  for (let i = 0; i < counts[0]!; i++) {
    const n = readName(bytes, p, start, end);
    if (n < 0 || n + 4 > end) {
      msg.truncated = true;
      return msg;
    }
    msg.questions.push({ name: gName, type: u16(bytes, n), class: u16(bytes, n + 2) & 0x7fff });
    p = n + 4;
  }
  const sections = [msg.answers, msg.authorities, msg.additionals];
  for (let s = 0; s < 3; s++) {
    const list = sections[s]!;
    for (let i = 0; i < counts[s + 1]!; i++) {
      const n = readName(bytes, p, start, end);
      if (n < 0 || n + 10 > end) {
        msg.truncated = true;
        return msg;
      }
      const name = gName;
      const type = u16(bytes, n);
      const rawClass = u16(bytes, n + 2);
      const ttl = u32(bytes, n + 4);
      const rdEnd = n + 10 + u16(bytes, n + 8);
      if (rdEnd > end) {
        msg.truncated = true;
        return msg;
      }
      list.push({
        name,
        type,
        class: type === kTypeOpt ? rawClass : rawClass & 0x7fff,
        ttl,
        data: rdataText(type, bytes, n + 10, rdEnd, start, end),
      });
      p = rdEnd;
    }
  }
  return msg;
}

/** Called with each complete DNS message of a TCP stream; `bytes` is only valid during the call. */
export type DnsMessageHandler = (bytes: Uint8Array, offset: number, length: number, ts: number) => void;

/**
 * Cuts one direction of a DNS-over-TCP stream (RFC 1035 4.2.2: each message behind a 2-byte length)
 * into messages. A message lying whole in one chunk is passed on as a view of that chunk; one split across
 * chunks is copied into a buffer of at most 65535 bytes (plus the 2-byte prefix kept in an integer).
 *
 * @example
 * const sizes: number[] = [];
 * const f = new DnsTcpFramer((_b, _o, len) => sizes.push(len));
 * f.data(Uint8Array.of(0, 3, 1, 2), 0);
 * f.data(Uint8Array.of(3, 0, 1, 9), 1);
 * // sizes is [3, 1]
 */
export class DnsTcpFramer {
  readonly #onMessage: DnsMessageHandler;
  /** Bytes of the length prefix seen (0, 1 or 2) and its value so far. */
  #prefixHave = 0;
  #need = 0;
  #have = 0;
  #buf: Uint8Array | null = null;
  /** The current message lost bytes to a gap: count it out, deliver nothing. */
  #skipping = false;
  #lost = false;

  constructor(onMessage: DnsMessageHandler) {
    this.#onMessage = onMessage;
  }

  /** Bytes this framer holds between calls (a message spread over chunks), for a budget shared by connections. */
  get heldBytes(): number {
    return this.#buf === null ? 0 : this.#buf.length;
  }

  /** True once a gap hit a length prefix: message boundaries are unknown from then on, and data is ignored. */
  get lost(): boolean {
    return this.#lost;
  }

  /** The next bytes of the stream, in order; `chunk` is only read during the call. */
  data(chunk: Uint8Array, ts: number): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end && !this.#lost) {
      if (this.#prefixHave < 2) {
        this.#need = (this.#need << 8) | chunk[pos++]!;
        if (++this.#prefixHave === 2) {
          this.#have = 0;
          // A zero length frames nothing; skip it rather than hand out an empty message.
          if (this.#need === 0) this.#prefixHave = 0;
        }
        continue;
      }
      const take = Math.min(this.#need - this.#have, end - pos);
      if (this.#skipping) {
        // Counted only.
      } else if (this.#have === 0 && take === this.#need) {
        // The whole message is in this chunk: no copy.
        this.#onMessage(chunk, pos, take, ts);
      } else {
        if (this.#buf === null || this.#buf.length < this.#need) this.#buf = new Uint8Array(this.#need);
        this.#buf.set(chunk.subarray(pos, pos + take), this.#have);
        if (this.#have + take === this.#need) this.#onMessage(this.#buf, 0, this.#need, ts);
      }
      this.#have += take;
      pos += take;
      if (this.#have === this.#need) this.#nextMessage();
    }
  }

  /** `bytes` bytes of the stream are missing: the message they fall in is dropped, or framing is lost. */
  gap(bytes: number): void {
    if (this.#lost || bytes <= 0) return;
    if (this.#prefixHave === 2 && bytes <= this.#need - this.#have) {
      this.#skipping = true;
      this.#have += bytes;
      if (this.#have === this.#need) this.#nextMessage();
      return;
    }
    this.#lost = true;
    this.#buf = null;
  }

  #nextMessage(): void {
    this.#prefixHave = 0;
    this.#need = 0;
    this.#have = 0;
    this.#skipping = false;
    // The buffer is not kept for the next message: an idle connection holds nothing (see heldBytes).
    this.#buf = null;
  }
}
