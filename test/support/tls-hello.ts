/**
 * TLS hello builders for SNI/ALPN and negotiation tests. The ClientHello (RFC 5246 7.4.1.2, RFC 8446
 * 4.1.2): a complete TLS record (record header, handshake header, version, random, session id, cipher
 * suites, compression methods, extensions), with server_name (RFC 6066) and
 * application_layer_protocol_negotiation (RFC 7301) plus the supported_groups, ec_point_formats and
 * signature_algorithms a real client sends. The ServerHello (RFC 5246 7.4.1.3, RFC 8446 4.1.3): the
 * version, cipher suite and ALPN protocol chosen, or a HelloRetryRequest.
 */

/** One extension, given whole: its type and its extension_data. */
export interface TlsExtension {
  readonly type: number;
  readonly data: Uint8Array;
}

/** What goes into the ClientHello. */
export interface ClientHelloOptions {
  /** Host name for the server_name extension; omitted when undefined. */
  readonly serverName?: string;
  /** Protocols for the ALPN extension, e.g. ["h2", "http/1.1"]; omitted when undefined. */
  readonly alpn?: readonly string[];
  /** 32 random bytes (default: bytes 0x00..0x1f, so fixtures stay byte-identical). */
  readonly random?: Uint8Array;
  /** Legacy session id, 0..32 bytes (default empty). */
  readonly sessionId?: Uint8Array;
  /** Cipher suite code points (default: common TLS 1.2 ECDHE/RSA suites). */
  readonly cipherSuites?: readonly number[];
  /** client_version / legacy_version (default 0x0303, TLS 1.2). */
  readonly version?: number;
  /** Version in the record header (default 0x0301, as clients send for compatibility). */
  readonly recordVersion?: number;
  /** Versions for the supported_versions extension (TLS 1.3 clients offer 0x0304 there); omitted when undefined. */
  readonly supportedVersions?: readonly number[];
  /** Extensions appended after the built-in ones. */
  readonly extraExtensions?: readonly TlsExtension[];
}

/** Extension type code points used here (IANA TLS ExtensionType registry). */
export const TlsExtensionType = {
  SERVER_NAME: 0,
  SUPPORTED_GROUPS: 10,
  EC_POINT_FORMATS: 11,
  SIGNATURE_ALGORITHMS: 13,
  ALPN: 16,
  SUPPORTED_VERSIONS: 43,
} as const;

const defaultCipherSuites = [0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0x009c, 0x009d, 0x002f, 0x0035];

/** Byte sink with the length-prefixed vectors TLS uses everywhere. */
class TlsWriter {
  readonly bytes: number[] = [];

  u8(v: number): void {
    this.bytes.push(v & 0xff);
  }

  u16(v: number): void {
    this.bytes.push((v >> 8) & 0xff, v & 0xff);
  }

  raw(b: Iterable<number>): void {
    for (const x of b) this.bytes.push(x);
  }

  /** Writes a vector whose length prefix is `prefixBytes` wide (1, 2 or 3), with contents from `fill`. */
  vector(prefixBytes: 1 | 2 | 3, fill: (w: TlsWriter) => void): void {
    const inner = new TlsWriter();
    fill(inner);
    const n = inner.bytes.length;
    if (prefixBytes === 3) this.bytes.push((n >> 16) & 0xff);
    if (prefixBytes >= 2) this.bytes.push((n >> 8) & 0xff);
    this.bytes.push(n & 0xff);
    this.raw(inner.bytes);
  }
}

function extension(type: number, fill: (w: TlsWriter) => void): TlsExtension {
  const w = new TlsWriter();
  fill(w);
  return { type, data: Uint8Array.from(w.bytes) };
}

/** Builds one TLS record (content type 22, handshake) holding a ClientHello. */
export function tlsClientHello(options: ClientHelloOptions = {}): Uint8Array {
  const ascii = new TextEncoder();
  const extensions: TlsExtension[] = [];
  if (options.serverName !== undefined) {
    const host = ascii.encode(options.serverName);
    extensions.push(
      extension(TlsExtensionType.SERVER_NAME, (w) =>
        w.vector(2, (list) => {
          list.u8(0); // name_type host_name
          list.vector(2, (n) => n.raw(host));
        }),
      ),
    );
  }
  extensions.push(
    extension(TlsExtensionType.SUPPORTED_GROUPS, (w) => w.vector(2, (l) => [0x001d, 0x0017, 0x0018].forEach((g) => l.u16(g)))),
    extension(TlsExtensionType.EC_POINT_FORMATS, (w) => w.vector(1, (l) => l.u8(0))),
    extension(TlsExtensionType.SIGNATURE_ALGORITHMS, (w) =>
      w.vector(2, (l) => [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501].forEach((s) => l.u16(s))),
    ),
  );
  if (options.alpn !== undefined) {
    const protocols = options.alpn;
    extensions.push(extension(TlsExtensionType.ALPN, (w) => w.vector(2, (l) => protocols.forEach((p) => l.vector(1, (n) => n.raw(ascii.encode(p)))))));
  }
  if (options.supportedVersions !== undefined) {
    const versions = options.supportedVersions;
    extensions.push(extension(TlsExtensionType.SUPPORTED_VERSIONS, (w) => w.vector(1, (l) => versions.forEach((v) => l.u16(v)))));
  }
  extensions.push(...(options.extraExtensions ?? []));

  const random = options.random ?? Uint8Array.from({ length: 32 }, (_, i) => i);
  if (random.length !== 32) throw new RangeError(`Cannot build ClientHello: random must be 32 bytes: current length is ${random.length}`);
  const sessionId = options.sessionId ?? new Uint8Array(0);
  if (sessionId.length > 32) throw new RangeError(`Cannot build ClientHello: session id is at most 32 bytes: current length is ${sessionId.length}`);

  const record = new TlsWriter();
  record.u8(22); // ContentType handshake
  record.u16(options.recordVersion ?? 0x0301);
  record.vector(2, (handshake) => {
    handshake.u8(1); // HandshakeType client_hello
    handshake.vector(3, (hello) => {
      hello.u16(options.version ?? 0x0303);
      hello.raw(random);
      hello.vector(1, (s) => s.raw(sessionId));
      hello.vector(2, (c) => (options.cipherSuites ?? defaultCipherSuites).forEach((suite) => c.u16(suite)));
      hello.vector(1, (c) => c.u8(0)); // compression: null only
      hello.vector(2, (e) => {
        for (const ext of extensions) {
          e.u16(ext.type);
          e.vector(2, (d) => d.raw(ext.data));
        }
      });
    });
  });
  return Uint8Array.from(record.bytes);
}

/** What goes into the ServerHello. */
export interface ServerHelloOptions {
  /** legacy_version (default 0x0303). */
  readonly version?: number;
  /** Version in the record header (default 0x0303). */
  readonly recordVersion?: number;
  /** The cipher suite chosen (default 0xc02f, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256). */
  readonly cipherSuite?: number;
  /** A supported_versions extension with this version (TLS 1.3: 0x0304); omitted when undefined. */
  readonly selectedVersion?: number;
  /** An ALPN extension with this protocol; omitted when undefined. */
  readonly alpn?: string;
  /** Writes the HelloRetryRequest random (RFC 8446 4.1.3) instead of bytes 0x20..0x3f. */
  readonly helloRetry?: boolean;
  /** Handshake messages to put after the ServerHello in the same record (a TLS 1.2 Certificate...). */
  readonly after?: Uint8Array;
}

const helloRetryRandom = [
  0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
  0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/** Builds one TLS record (content type 22, handshake) holding a ServerHello. */
export function tlsServerHello(options: ServerHelloOptions = {}): Uint8Array {
  const record = new TlsWriter();
  record.u8(22);
  record.u16(options.recordVersion ?? 0x0303);
  record.vector(2, (handshake) => {
    handshake.u8(2); // HandshakeType server_hello
    handshake.vector(3, (hello) => {
      hello.u16(options.version ?? 0x0303);
      hello.raw(options.helloRetry ? helloRetryRandom : Array.from({ length: 32 }, (_, i) => 0x20 + i));
      hello.vector(1, () => {}); // session id: empty
      hello.u16(options.cipherSuite ?? 0xc02f);
      hello.u8(0); // compression: null
      if (options.selectedVersion === undefined && options.alpn === undefined) return;
      hello.vector(2, (e) => {
        if (options.selectedVersion !== undefined) {
          e.u16(TlsExtensionType.SUPPORTED_VERSIONS);
          e.vector(2, (d) => d.u16(options.selectedVersion!));
        }
        if (options.alpn !== undefined) {
          const name = new TextEncoder().encode(options.alpn);
          e.u16(TlsExtensionType.ALPN);
          e.vector(2, (d) => d.vector(2, (l) => l.vector(1, (n) => n.raw(name))));
        }
      });
    });
    if (options.after !== undefined) handshake.raw(options.after);
  });
  return Uint8Array.from(record.bytes);
}

/**
 * One TLS record of another content type, its contents `length` bytes of 1: a ChangeCipherSpec (20:
 * middlebox compatibility mode of TLS 1.3 sends one, RFC 8446 D.4), an alert (21) or application data (23).
 */
export function tlsRecord(contentType: 20 | 21 | 23, length = 1): Uint8Array {
  return Uint8Array.of(contentType, 3, 3, length >> 8, length & 0xff, ...new Array<number>(length).fill(1));
}
