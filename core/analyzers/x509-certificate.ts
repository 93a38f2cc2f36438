/**
 * X.509 certificates (RFC 5280), as a TLS 1.2 server sends them in the clear: what Zeek's x509.log
 * and Suricata's tls records show of each (subject, issuer, serial, validity, subject alternative
 * names). Nothing is verified; this is what the certificate says, not whether it is true.
 *
 * DER is read in place. Names are written as `openssl x509 -nameopt RFC2253` writes them (RFC 4514:
 * most specific part first, "," between parts, "+" inside a multi-valued one, special characters and
 * every byte outside printable ASCII escaped), so that they can be compared with what OpenSSL-based
 * tools log. Nothing here throws on bad bytes: a certificate that breaks off or lies about a length
 * gives what was read before, with `truncated`.
 */
import { ipv4Text, ipv6Text, upperHexText } from "../dispatch/address-text.ts";
import { latin1 } from "./latin1-strings.ts";
import { sha1Hex, sha256Hex } from "./sha-digest.ts";

/** What a certificate says about itself. */
export interface X509Certificate {
  /** 1, 2 or 3. */
  version: number;
  /** The serial number in upper-case hex, without DER's sign byte (as openssl prints it). */
  serial: string;
  subject: string;
  issuer: string;
  /** Validity, in seconds since 1970 (null when the time cannot be read). */
  notBefore: number | null;
  notAfter: number | null;
  /** The dNSName and iPAddress entries of the subjectAltName extension, in order. */
  sanDns: string[];
  sanIp: string[];
  /** True when the DER broke off or a length in it was wrong: the fields hold what came before. */
  truncated: boolean;
  /** SHA-1 and SHA-256 of the DER in hex (Suricata's and Zeek's fingerprints), or null when it broke off. */
  sha1: string | null;
  sha256: string | null;
}

// The element readTlv() just read: its tag and where its contents lie. Module state rather than a
// result object, as in the DNS parser: one certificate reads hundreds of elements.
let gTag = 0;
let gStart = 0;
let gEnd = 0;
/** Set when readTlv() with `clip` cut an element short. */
let gClipped = false;

/**
 * Reads the DER element at b[p, end): tag (one byte; X.509 needs no other), then its length (short
 * or long form, at most 4 bytes; a long form DER would have written shorter is accepted). Returns
 * where the next element starts, or -1 when the element does not fit. With `clip`, an element longer than the bytes there ends at
 * `end` instead (a certificate cut short keeps the fields before the cut).
 */
function readTlv(b: Uint8Array, p: number, end: number, clip = false): number {
  if (p + 2 > end) return -1;
  const tag = b[p]!;
  if ((tag & 0x1f) === 0x1f) return -1;
  let len = b[p + 1]!;
  let q = p + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || q + n > end) return -1;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[q + i]!;
    q += n;
  }
  if (q + len > end) {
    if (!clip) return -1;
    len = end - q;
    gClipped = true;
  }
  gTag = tag;
  gStart = q;
  gEnd = q + len;
  return gEnd;
}

/** The tag readTlv() just read (a call, so that TypeScript does not narrow it across calls). */
const tagRead = (): number => gTag;

const kSequence = 0x30;
const kSet = 0x31;
const kInteger = 0x02;
const kOid = 0x06;
const kOctetString = 0x04;
const kBoolean = 0x01;

/**
 * Reads the certificate whose DER is b[start, end).
 *
 * @example
 * parseX509(der, 0, der.length).subject; // "CN=www.example.com,O=Example Inc,C=US"
 */
export function parseX509(b: Uint8Array, start: number, end: number): X509Certificate {
  const out: X509Certificate = { version: 1, serial: "", subject: "", issuer: "", notBefore: null, notAfter: null, sanDns: [], sanIp: [], truncated: false, sha1: null, sha256: null };
  const cut = (): X509Certificate => {
    out.truncated = true;
    return out;
  };
  // A certificate cut short is read up to the cut (and said to be truncated).
  gClipped = false;
  const certEnd = readTlv(b, start, end, true);
  if (certEnd < 0 || tagRead() !== kSequence) return cut();
  if (!gClipped) {
    // The fingerprints are of the whole certificate element, as the server sent it.
    out.sha1 = sha1Hex(b, start, certEnd);
    out.sha256 = sha256Hex(b, start, certEnd);
  }
  if (readTlv(b, gStart, gEnd, true) < 0 || tagRead() !== kSequence) return cut(); // tbsCertificate
  out.truncated = gClipped;
  const tbsEnd = gEnd;
  let p = gStart;
  let next = readTlv(b, p, tbsEnd);
  if (next < 0) return cut();
  if (tagRead() === 0xa0) {
    // [0] EXPLICIT Version
    if (readTlv(b, gStart, gEnd) < 0 || tagRead() !== kInteger || gEnd - gStart !== 1) return cut();
    out.version = b[gStart]! + 1;
    p = next;
    next = readTlv(b, p, tbsEnd);
    if (next < 0) return cut();
  }
  if (tagRead() !== kInteger) return cut();
  out.serial = serialText(b, gStart, gEnd);
  p = next;
  if ((p = readTlv(b, p, tbsEnd)) < 0 || tagRead() !== kSequence) return cut(); // signature AlgorithmIdentifier
  if ((next = readTlv(b, p, tbsEnd)) < 0 || tagRead() !== kSequence) return cut();
  const issuer = nameText(b, gStart, gEnd);
  if (issuer === null) return cut();
  out.issuer = issuer;
  p = next;
  if ((next = readTlv(b, p, tbsEnd)) < 0 || tagRead() !== kSequence) return cut(); // validity
  const validityEnd = gEnd;
  let q = readTlv(b, gStart, validityEnd);
  if (q < 0) return cut();
  out.notBefore = timeValue(b, tagRead(), gStart, gEnd);
  if (readTlv(b, q, validityEnd) < 0) return cut();
  out.notAfter = timeValue(b, tagRead(), gStart, gEnd);
  p = next;
  if ((next = readTlv(b, p, tbsEnd)) < 0 || tagRead() !== kSequence) return cut();
  const subject = nameText(b, gStart, gEnd);
  if (subject === null) return cut();
  out.subject = subject;
  p = next;
  if ((p = readTlv(b, p, tbsEnd)) < 0 || tagRead() !== kSequence) return cut(); // subjectPublicKeyInfo
  // [1] and [2] unique identifiers (IMPLICIT), then [3] EXPLICIT extensions.
  while (p < tbsEnd) {
    if ((next = readTlv(b, p, tbsEnd)) < 0) return cut();
    if (tagRead() === 0xa3) {
      if (readTlv(b, gStart, gEnd) < 0 || tagRead() !== kSequence) return cut();
      if (!extensions(b, gStart, gEnd, out)) return cut();
    }
    p = next;
  }
  return out;
}

/** The subjectAltName OID, 2.5.29.17. */
const kOidSubjectAltName = [0x55, 0x1d, 0x11];

/** Reads the Extensions in b[p, end) for the subjectAltName; false when one is malformed. */
function extensions(b: Uint8Array, p: number, end: number, out: X509Certificate): boolean {
  while (p < end) {
    const next = readTlv(b, p, end);
    if (next < 0 || tagRead() !== kSequence) return false;
    const extEnd = gEnd;
    let q = readTlv(b, gStart, extEnd);
    if (q < 0 || tagRead() !== kOid) return false;
    const isSan = oidIs(b, gStart, gEnd, kOidSubjectAltName);
    if ((q = readTlv(b, q, extEnd)) < 0) return false;
    if (tagRead() === kBoolean && (q = readTlv(b, q, extEnd)) < 0) return false; // critical
    if (tagRead() !== kOctetString) return false;
    if (isSan) {
      // GeneralNames: a SEQUENCE of [2] dNSName (IA5String) and [7] iPAddress among others.
      if (readTlv(b, gStart, gEnd) < 0 || tagRead() !== kSequence) return false;
      const namesEnd = gEnd;
      for (let r = gStart; r < namesEnd; ) {
        const after = readTlv(b, r, namesEnd);
        if (after < 0) return false;
        if (tagRead() === 0x82) out.sanDns.push(escapedText(b, gStart, gEnd, false));
        else if (tagRead() === 0x87 && gEnd - gStart === 4) out.sanIp.push(ipv4Text(b, gStart));
        else if (tagRead() === 0x87 && gEnd - gStart === 16) out.sanIp.push(ipv6Text(b, gStart));
        r = after;
      }
    }
    p = next;
  }
  return true;
}

function oidIs(b: Uint8Array, start: number, end: number, oid: readonly number[]): boolean {
  if (end - start !== oid.length) return false;
  for (let i = 0; i < oid.length; i++) if (b[start + i] !== oid[i]) return false;
  return true;
}

/** An INTEGER's value in hex, as openssl prints a serial: "-" and the magnitude when it is negative. */
function serialText(b: Uint8Array, start: number, end: number): string {
  if (start >= end) return "";
  const negative = (b[start]! & 0x80) !== 0;
  // The magnitude: the bytes themselves, or their two's complement (invert, add one from the right).
  const bytes = b.slice(start, end);
  if (negative) {
    let carry = 1;
    for (let i = bytes.length - 1; i >= 0; i--) {
      const v = (~bytes[i]! & 0xff) + carry;
      bytes[i] = v & 0xff;
      carry = v >> 8;
    }
  }
  let p = 0;
  while (p < bytes.length - 1 && bytes[p] === 0) p++; // DER's sign byte (and any other leading zero)
  return (negative ? "-" : "") + upperHexText(bytes, p, bytes.length);
}

/** UTCTime (YYMMDDHHMMSSZ, 1950-2049) or GeneralizedTime (YYYYMMDDHHMMSSZ) in seconds; null otherwise. */
function timeValue(b: Uint8Array, tag: number, start: number, end: number): number | null {
  const digits = tag === 0x17 ? 12 : tag === 0x18 ? 14 : -1;
  if (digits < 0 || end - start !== digits + 1 || b[end - 1] !== 0x5a) return null;
  const n: number[] = [];
  for (let i = start; i < end - 1; i += 2) {
    const hi = b[i]! - 0x30;
    const lo = b[i + 1]! - 0x30;
    if (hi < 0 || hi > 9 || lo < 0 || lo > 9) return null;
    n.push(hi * 10 + lo);
  }
  const year = tag === 0x17 ? (n[0]! < 50 ? 2000 + n[0]! : 1900 + n[0]!) : n[0]! * 100 + n[1]!;
  const [month, day, hour, minute, second] = tag === 0x17 ? n.slice(1) : n.slice(2);
  // setUTCFullYear, since Date.UTC reads years 0-99 as 1900-1999; a day the month does not have
  // (31 February) or a leap second moves the date, and is refused as openssl refuses it.
  const date = new Date(0);
  date.setUTCFullYear(year, month! - 1, day!);
  date.setUTCHours(hour!, minute!, second!);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month! - 1 || date.getUTCDate() !== day! || date.getUTCHours() !== hour! || date.getUTCMinutes() !== minute! || date.getUTCSeconds() !== second!) return null;
  return date.getTime() / 1000;
}

/** Short names OpenSSL gives the attribute types 2.5.4.N. */
const kX520Names = new Map<number, string>([
  [3, "CN"], [4, "SN"], [5, "serialNumber"], [6, "C"], [7, "L"], [8, "ST"], [9, "street"], [10, "O"],
  [11, "OU"], [12, "title"], [13, "description"], [14, "searchGuide"], [15, "businessCategory"],
  [16, "postalAddress"], [17, "postalCode"], [18, "postOfficeBox"], [19, "physicalDeliveryOfficeName"],
  [20, "telephoneNumber"], [41, "name"], [42, "GN"], [43, "initials"], [44, "generationQualifier"],
  [45, "x500UniqueIdentifier"], [46, "dnQualifier"], [65, "pseudonym"], [72, "role"], [97, "organizationIdentifier"],
]);

/** Other attribute types OpenSSL names, by their dotted OID. */
const kOtherNames = new Map<string, string>([
  ["1.2.840.113549.1.9.1", "emailAddress"],
  ["0.9.2342.19200300.100.1.25", "DC"],
  ["0.9.2342.19200300.100.1.1", "UID"],
  ["1.3.6.1.4.1.311.60.2.1.1", "jurisdictionL"],
  ["1.3.6.1.4.1.311.60.2.1.2", "jurisdictionST"],
  ["1.3.6.1.4.1.311.60.2.1.3", "jurisdictionC"],
]);

function oidText(b: Uint8Array, start: number, end: number): string {
  let s = "";
  let v = 0;
  for (let i = start; i < end; i++) {
    v = v * 128 + (b[i]! & 0x7f);
    if (b[i]! & 0x80) continue;
    if (s === "") s = v < 80 ? `${Math.floor(v / 40)}.${v % 40}` : `2.${v - 80}`;
    else s += `.${v}`;
    v = 0;
  }
  return s;
}

/** The name OpenSSL gives an attribute type, or null for one it does not know (written as its OID). */
function attributeName(b: Uint8Array, start: number, end: number): string | null {
  if (end - start === 3 && b[start] === 0x55 && b[start + 1] === 0x04) return kX520Names.get(b[start + 2]!) ?? null;
  return kOtherNames.get(oidText(b, start, end)) ?? null;
}

/**
 * A Name (a SEQUENCE of RDNs, each a SET of type and value) in b[p, end), written as RFC 4514 and
 * OpenSSL's RFC2253 option do: the last RDN first (and, as OpenSSL reverses its flat list of
 * entries, the last value of a multi-valued RDN first too). Null when it is malformed.
 */
function nameText(b: Uint8Array, p: number, end: number): string | null {
  const rdns: string[] = [];
  while (p < end) {
    const next = readTlv(b, p, end);
    if (next < 0 || tagRead() !== kSet) return null;
    const setEnd = gEnd;
    const values: string[] = [];
    for (let q = gStart; q < setEnd; ) {
      const after = readTlv(b, q, setEnd);
      if (after < 0 || tagRead() !== kSequence) return null;
      const avaEnd = gEnd;
      const v = readTlv(b, gStart, avaEnd);
      if (v < 0 || tagRead() !== kOid) return null;
      const type = attributeName(b, gStart, gEnd);
      const dotted = type === null ? oidText(b, gStart, gEnd) : "";
      const valueStart = v;
      if (readTlv(b, v, avaEnd) < 0) return null;
      // The value of a type OpenSSL does not know is dumped as "#" and its DER, as OpenSSL does.
      values.push(type === null ? `${dotted}=${derHex(b, valueStart, gEnd)}` : `${type}=${valueText(b, tagRead(), gStart, gEnd, valueStart)}`);
      q = after;
    }
    rdns.push(values.reverse().join("+"));
    p = next;
  }
  return rdns.reverse().join(",");
}

/** An attribute value: a string type decoded and escaped, anything else "#" and its DER in hex. */
function valueText(b: Uint8Array, tag: number, start: number, end: number, derStart: number): string {
  switch (tag) {
    case 0x0c: // UTF8String
    case 0x12: // NumericString
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x1a: // VisibleString
      return escapedText(b, start, end, true);
    case 0x14: // T61String: OpenSSL reads it as Latin-1
      return escapedUtf8(utf8.encode(latin1(b, start, end)));
    case 0x1e: // BMPString: UTF-16BE
      if ((end - start) % 2 !== 0) break;
      return escapedUtf8(utf8.encode(new TextDecoder("utf-16be").decode(b.subarray(start, end))));
    case 0x1c: {
      // UniversalString: UTF-32BE
      if ((end - start) % 4 !== 0) break;
      let s = "";
      for (let i = start; i < end; i += 4) s += String.fromCodePoint(Math.min(0x10ffff, ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0));
      return escapedUtf8(utf8.encode(s));
    }
  }
  return derHex(b, derStart, end);
}

/** "#" and the bytes in upper-case hex: RFC 4514's form for a value written as its DER. */
function derHex(b: Uint8Array, start: number, end: number): string {
  return `#${upperHexText(b, start, end)}`;
}

function escapedUtf8(bytes: Uint8Array): string {
  return escapedText(bytes, 0, bytes.length, true);
}

const utf8 = new TextEncoder();

/**
 * Bytes as text: a byte outside printable ASCII as \XX (UTF-8 bytes one by one, as OpenSSL writes
 * them). With `rfc4514`, also `,+"\<>;` escaped with a backslash, and a leading "#" or space and a
 * trailing space (so that the name parses back).
 */
function escapedText(b: Uint8Array, start: number, end: number, rfc4514: boolean): string {
  let s = "";
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c < 0x20 || c >= 0x7f) s += `\\${upperHexText(b, i, i + 1)}`;
    else if (rfc4514 && (c === 0x2c || c === 0x2b || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x3b)) s += `\\${String.fromCharCode(c)}`;
    else if (rfc4514 && ((i === start && (c === 0x23 || c === 0x20)) || (i === end - 1 && c === 0x20))) s += `\\${String.fromCharCode(c)}`;
    else s += String.fromCharCode(c);
  }
  return s;
}
