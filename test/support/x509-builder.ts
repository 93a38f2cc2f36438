/**
 * X.509 certificate builder (DER, RFC 5280) for tests of the certificate reader: the fields the host
 * reads are set, the rest (key, signature) are placeholders no one verifies. And the TLS 1.2
 * Certificate handshake message that carries a chain.
 */

/** One DER element: tag, length (short or long form), contents. */
export function der(tag: number, ...contents: Array<Uint8Array | number[]>): Uint8Array {
  const body = contents.flatMap((c) => Array.from(c));
  const n = body.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Uint8Array.from([tag, ...length, ...body]);
}

/** An OID's DER contents from its dotted text. */
function oid(dotted: string): number[] {
  const arcs = dotted.split(".").map(Number);
  const out = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const bytes = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) bytes.unshift((v & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return out;
}

/** One attribute of a name: its type as a dotted OID, its value and the string tag (default UTF8String). */
export interface NameAttribute {
  readonly type: string;
  readonly value: string | Uint8Array;
  readonly tag?: number;
}

/** A Name from its RDNs, the least specific (e.g. the country) first, as DER orders them. */
export function x509Name(rdns: ReadonlyArray<ReadonlyArray<NameAttribute>>): Uint8Array {
  const text = new TextEncoder();
  return der(
    0x30,
    ...rdns.map((rdn) =>
      der(0x31, ...rdn.map((a) => der(0x30, der(0x06, oid(a.type)), der(a.tag ?? 0x0c, typeof a.value === "string" ? text.encode(a.value) : a.value)))),
    ),
  );
}

/** Attribute type OIDs by their usual short names. */
export const Attr = { C: "2.5.4.6", ST: "2.5.4.8", L: "2.5.4.7", O: "2.5.4.10", OU: "2.5.4.11", CN: "2.5.4.3", email: "1.2.840.113549.1.9.1", DC: "0.9.2342.19200300.100.1.25", UID: "0.9.2342.19200300.100.1.1" } as const;

/** What goes into a certificate. */
export interface CertificateOptions {
  readonly serial?: number[];
  readonly subject: Uint8Array;
  readonly issuer?: Uint8Array;
  /** "YYMMDDHHMMSSZ" (UTCTime) or "YYYYMMDDHHMMSSZ" (GeneralizedTime). */
  readonly notBefore?: string;
  readonly notAfter?: string;
  readonly sanDns?: readonly string[];
  /** IPv4 or IPv6 addresses as 4 or 16 bytes. */
  readonly sanIp?: ReadonlyArray<readonly number[]>;
  /** Leave out the [0] version (a version 1 certificate). */
  readonly v1?: boolean;
}

const time = (t: string) => der(t.length === 13 ? 0x17 : 0x18, new TextEncoder().encode(t));

/** A certificate's DER. */
export function x509Certificate(o: CertificateOptions): Uint8Array {
  const algorithm = der(0x30, der(0x06, oid("1.2.840.10045.4.3.2"))); // ecdsa-with-SHA256
  const extensions: Uint8Array[] = [];
  if (o.sanDns !== undefined || o.sanIp !== undefined) {
    const names = [...(o.sanDns ?? []).map((d) => der(0x82, new TextEncoder().encode(d))), ...(o.sanIp ?? []).map((ip) => der(0x87, [...ip]))];
    extensions.push(der(0x30, der(0x06, oid("2.5.29.17")), der(0x04, der(0x30, ...names))));
  }
  const tbs = der(
    0x30,
    o.v1 ? [] : der(0xa0, der(0x02, [2])),
    der(0x02, o.serial ?? [0x01]),
    algorithm,
    o.issuer ?? o.subject,
    der(0x30, time(o.notBefore ?? "240101000000Z"), time(o.notAfter ?? "250101000000Z")),
    o.subject,
    der(0x30, der(0x30, der(0x06, oid("1.2.840.10045.2.1"))), der(0x03, [0, 4, 1, 2])), // a placeholder key
    extensions.length > 0 ? der(0xa3, der(0x30, ...extensions)) : [],
  );
  return der(0x30, tbs, algorithm, der(0x03, [0, 0x30, 0]));
}

/** The TLS Certificate handshake message (type 11) carrying `chain`, without a record header. */
export function tlsCertificateMessage(chain: readonly Uint8Array[]): Uint8Array {
  const u24 = (n: number) => [n >> 16, (n >> 8) & 0xff, n & 0xff];
  const list = chain.flatMap((c) => [...u24(c.length), ...c]);
  return Uint8Array.from([11, ...u24(list.length + 3), ...u24(list.length), ...list]);
}
