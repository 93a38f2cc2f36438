/**
 * DNS message builder (RFC 1035) for tests: queries and responses with A, AAAA, CNAME, NS, PTR, MX,
 * TXT, SOA and SRV records, name compression pointers, and raw-byte escape hatches (a name given as
 * `{ raw }` is written verbatim, so a test can craft a pointer loop or a label that runs off the end).
 *
 *   udp({ sport: 53000, dport: 53 }, dnsQuery(0x1234, "example.com", "A"))
 *   dnsResponse(0x1234, "www.example.com", "A", [
 *     { type: "CNAME", target: "example.com" },
 *     { name: "example.com", type: "A", address: "203.0.113.80" },
 *   ])
 */
import { parseIpv4, parseIpv6 } from "./address-text.ts";

/** Record types the builder knows by name, with their IANA numbers. */
export const DnsType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

/** A record type given by name. */
export type DnsTypeName = keyof typeof DnsType;

/** A domain name as text ("www.example.com", trailing dot optional, "." for the root), or raw wire bytes written verbatim. */
export type DnsName = string | { readonly raw: Uint8Array };

/** One question. */
export interface DnsQuestion {
  readonly name: DnsName;
  readonly type: DnsTypeName | number;
  /** Class (default 1, IN). */
  readonly class?: number;
}

/** The type-specific part of a resource record. */
export type DnsRecordData =
  | { readonly type: "A"; readonly address: string }
  | { readonly type: "AAAA"; readonly address: string }
  | { readonly type: "CNAME"; readonly target: DnsName }
  | { readonly type: "NS"; readonly host: DnsName }
  | { readonly type: "PTR"; readonly target: DnsName }
  | { readonly type: "MX"; readonly preference: number; readonly exchange: DnsName }
  | { readonly type: "TXT"; readonly texts: readonly string[] }
  | {
      readonly type: "SOA";
      readonly mname: DnsName;
      readonly rname: DnsName;
      readonly serial: number;
      readonly refresh: number;
      readonly retry: number;
      readonly expire: number;
      readonly minimum: number;
    }
  /** SRV targets are never compressed (RFC 2782). */
  | { readonly type: "SRV"; readonly priority: number; readonly weight: number; readonly port: number; readonly target: DnsName }
  /** Any type with RDATA given as bytes. */
  | { readonly type: "raw"; readonly rrType: number; readonly rdata: Uint8Array };

/** A resource record: owner name (default: the first question's name), TTL (default 300), class (default IN), data. */
export type DnsRecord = { readonly name?: DnsName; readonly ttl?: number; readonly class?: number } & DnsRecordData;

/** Header flags, by name; unspecified ones are clear. */
export interface DnsFlags {
  readonly response?: boolean;
  readonly opcode?: number;
  readonly authoritative?: boolean;
  readonly truncated?: boolean;
  readonly recursionDesired?: boolean;
  readonly recursionAvailable?: boolean;
  readonly authenticData?: boolean;
  readonly checkingDisabled?: boolean;
  readonly rcode?: number;
}

/** A whole message. */
export interface DnsMessageSpec {
  readonly id: number;
  /** Flags by name, or the raw 16-bit flags word. */
  readonly flags?: DnsFlags | number;
  readonly questions?: readonly DnsQuestion[];
  readonly answers?: readonly DnsRecord[];
  readonly authorities?: readonly DnsRecord[];
  readonly additionals?: readonly DnsRecord[];
  /** Compress repeated name suffixes with pointers (default true). */
  readonly compress?: boolean;
  /** Override the four section counts (qd, an, ns, ar) to craft inconsistent headers. */
  readonly counts?: readonly [number, number, number, number];
}

function flagsWord(flags: DnsFlags | number | undefined): number {
  if (typeof flags === "number") return flags & 0xffff;
  const f = flags ?? {};
  return (
    (f.response ? 0x8000 : 0) |
    (((f.opcode ?? 0) & 0xf) << 11) |
    (f.authoritative ? 0x0400 : 0) |
    (f.truncated ? 0x0200 : 0) |
    (f.recursionDesired ? 0x0100 : 0) |
    (f.recursionAvailable ? 0x0080 : 0) |
    (f.authenticData ? 0x0020 : 0) |
    (f.checkingDisabled ? 0x0010 : 0) |
    ((f.rcode ?? 0) & 0xf)
  );
}

function typeNumber(type: DnsTypeName | number): number {
  return typeof type === "number" ? type : DnsType[type];
}

/** Accumulates message bytes and remembers where each name suffix was written, for compression pointers. */
class MessageWriter {
  readonly bytes: number[] = [];
  readonly #suffixes = new Map<string, number>();
  readonly #compress: boolean;

  constructor(compress: boolean) {
    this.#compress = compress;
  }

  u8(v: number): void {
    this.bytes.push(v & 0xff);
  }

  u16(v: number): void {
    this.bytes.push((v >> 8) & 0xff, v & 0xff);
  }

  u32(v: number): void {
    this.bytes.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  }

  raw(b: Uint8Array): void {
    for (const x of b) this.bytes.push(x);
  }

  name(name: DnsName, compressible = true): void {
    if (typeof name !== "string") {
      this.raw(name.raw);
      return;
    }
    const labels = name === "." ? [] : name.replace(/\.$/, "").split(".");
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join(".").toLowerCase();
      const known = this.#suffixes.get(suffix);
      if (this.#compress && compressible && known !== undefined) {
        this.u16(0xc000 | known);
        return;
      }
      // Pointers have 14 bits, so only suffixes in the first 16 KiB can be pointed at.
      if (this.bytes.length < 0x4000 && !this.#suffixes.has(suffix)) this.#suffixes.set(suffix, this.bytes.length);
      const label = new TextEncoder().encode(labels[i]!);
      if (label.length === 0 || label.length > 63) {
        throw new RangeError(`Cannot encode DNS name: labels are 1 to 63 bytes: current name is "${name}"`);
      }
      this.u8(label.length);
      this.raw(label);
    }
    this.u8(0);
  }

  record(r: DnsRecord, defaultName: DnsName): void {
    this.name(r.name ?? defaultName);
    this.u16(r.type === "raw" ? r.rrType : DnsType[r.type]);
    this.u16(r.class ?? 1);
    this.u32(r.ttl ?? 300);
    const lengthAt = this.bytes.length;
    this.u16(0);
    switch (r.type) {
      case "A":
        this.raw(parseIpv4(r.address));
        break;
      case "AAAA":
        this.raw(parseIpv6(r.address));
        break;
      case "CNAME":
      case "PTR":
        this.name(r.target);
        break;
      case "NS":
        this.name(r.host);
        break;
      case "MX":
        this.u16(r.preference);
        this.name(r.exchange);
        break;
      case "TXT":
        for (const t of r.texts) {
          const b = new TextEncoder().encode(t);
          if (b.length > 255) throw new RangeError(`Cannot encode TXT record: strings are at most 255 bytes: current length is ${b.length}`);
          this.u8(b.length);
          this.raw(b);
        }
        break;
      case "SOA":
        this.name(r.mname);
        this.name(r.rname);
        for (const v of [r.serial, r.refresh, r.retry, r.expire, r.minimum]) this.u32(v);
        break;
      case "SRV":
        this.u16(r.priority);
        this.u16(r.weight);
        this.u16(r.port);
        this.name(r.target, false);
        break;
      case "raw":
        this.raw(r.rdata);
        break;
    }
    const length = this.bytes.length - lengthAt - 2;
    this.bytes[lengthAt] = length >> 8;
    this.bytes[lengthAt + 1] = length & 0xff;
  }
}

/** Encodes a whole DNS message. */
export function dnsMessage(spec: DnsMessageSpec): Uint8Array {
  const w = new MessageWriter(spec.compress ?? true);
  const questions = spec.questions ?? [];
  const sections = [spec.answers ?? [], spec.authorities ?? [], spec.additionals ?? []];
  const counts = spec.counts ?? [questions.length, sections[0]!.length, sections[1]!.length, sections[2]!.length];
  w.u16(spec.id);
  w.u16(flagsWord(spec.flags));
  for (const c of counts) w.u16(c);
  for (const q of questions) {
    w.name(q.name);
    w.u16(typeNumber(q.type));
    w.u16(q.class ?? 1);
  }
  const defaultName = questions[0]?.name ?? ".";
  for (const section of sections) for (const r of section) w.record(r, defaultName);
  return Uint8Array.from(w.bytes);
}

/** Encodes a standard recursive query for one name and type. */
export function dnsQuery(id: number, name: DnsName, qtype: DnsTypeName | number, flags: DnsFlags = { recursionDesired: true }): Uint8Array {
  return dnsMessage({ id, flags, questions: [{ name, type: qtype }] });
}

/** Extra parts of a response. */
export interface DnsResponseOptions {
  /** Response code (default 0, NOERROR; 3 is NXDOMAIN). */
  readonly rcode?: number;
  readonly authoritative?: boolean;
  readonly authorities?: readonly DnsRecord[];
  readonly additionals?: readonly DnsRecord[];
  readonly compress?: boolean;
}

/** Encodes a recursive resolver's response echoing the question, with `answers` (owner names default to `name`). */
export function dnsResponse(
  id: number,
  name: DnsName,
  qtype: DnsTypeName | number,
  answers: readonly DnsRecord[],
  options: DnsResponseOptions = {},
): Uint8Array {
  return dnsMessage({
    id,
    flags: { response: true, recursionDesired: true, recursionAvailable: true, authoritative: options.authoritative, rcode: options.rcode },
    questions: [{ name, type: qtype }],
    answers,
    authorities: options.authorities,
    additionals: options.additionals,
    compress: options.compress,
  });
}

/** Prefixes a message with its 2-byte length, as DNS over TCP carries it (RFC 1035 4.2.2). */
export function dnsOverTcp(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + message.length);
  out[0] = message.length >> 8;
  out[1] = message.length & 0xff;
  out.set(message, 2);
  return out;
}

/** Returns the 2 bytes of a compression pointer to `offset` (for raw names; 12 is the first question's name). */
export function dnsPointer(offset: number): Uint8Array {
  return Uint8Array.of(0xc0 | ((offset >> 8) & 0x3f), offset & 0xff);
}
