/**
 * The TLS hellos (RFC 8446 4.1.2-4.1.3, RFC 5246 7.4.1.2-7.4.1.3) of each side of a connection (two
 * from each after a HelloRetryRequest): the ClientHello's server name, ALPN, offered versions, cipher
 * suites and the lists JA3 is made of, and the ServerHello's choice among them (version, cipher suite,
 * ALPN protocol).
 *
 * The hello may be cut anywhere: across TLS records (big post-quantum key shares make 2-record hellos
 * common) and across TCP segments. The parser keeps the handshake bytes it needs, at most 64 KiB; when the
 * whole hello lies in one record of one chunk it is read in place, without a copy. Nothing here throws on
 * bad bytes: a hello that breaks off or lies about a length gives what could be read, with `truncated`.
 *
 * SSLv2-format hellos (a first byte with the top bit set) are reported as "not-tls": nothing has sent them
 * by default for over a decade, and they carry no extensions.
 */
import { latin1 } from "./latin1-strings.ts";
import { parseX509, type X509Certificate } from "./x509-certificate.ts";

/** What a ClientHello offers. */
export interface TlsClientHello {
  /** legacy_version of the hello (0x0303 for TLS 1.2 and 1.3). */
  version: number;
  /** Version in the header of the first record (often 0x0301, whatever the hello offers). */
  recordVersion: number;
  /** The first host_name of the server_name extension, or null. */
  sni: string | null;
  /** Protocols of the ALPN extension, in order. */
  alpn: string[];
  /** The supported_versions extension (TLS 1.3 offers itself here), GREASE values included. */
  supportedVersions: number[];
  /** Cipher suites in the client's order, GREASE values included. */
  cipherSuites: number[];
  /** Extension types in the client's order, GREASE values included. */
  extensions: number[];
  /** The supported_groups extension (named groups, once "elliptic curves"), GREASE values included. */
  supportedGroups: number[];
  /** The ec_point_formats extension. */
  pointFormats: number[];
  /** The signature_algorithms extension, in the client's order. */
  signatureAlgorithms: number[];
  /**
   * True when the hello broke off, a length inside it was wrong, or its groups, point formats or
   * signature algorithms came twice: the fields hold what was read.
   */
  truncated: boolean;
}

/** What a ServerHello (or a HelloRetryRequest, which has its form) chose. */
export interface TlsServerHello {
  /** legacy_version of the hello (0x0303 for TLS 1.2 and 1.3). */
  version: number;
  /** Version in the header of the first record. */
  recordVersion: number;
  /** The version chosen: the supported_versions extension's (TLS 1.3), else `version`. */
  selectedVersion: number;
  /** The cipher suite chosen, or -1 when the hello broke off before it. */
  cipherSuite: number;
  /** The ALPN protocol chosen, or null (always null in TLS 1.3, where it is sent encrypted). */
  alpn: string | null;
  /** True for a HelloRetryRequest (TLS 1.3): the server asks for another ClientHello. */
  helloRetry: boolean;
  /** Extension types in the server's order. */
  extensions: number[];
  /** True when the hello broke off or a length inside it was wrong: the fields hold what came before. */
  truncated: boolean;
}

const kContentHandshake = 22;
const kHandshakeClientHello = 1;
const kHandshakeServerHello = 2;
const kHandshakeCertificate = 11;
/** Largest record a peer may send: 2^14 plus the 2048 bytes of expansion TLS 1.2 allows. */
const kMaxRecord = 16384 + 2048;
/** Handshake bytes kept while a hello is assembled. */
const kMaxHelloBytes = 64 * 1024;
const kContentChangeCipherSpec = 20;
const kContentApplicationData = 23;
/** Bytes of other records a second hello may follow before the side is given up on (see `skipped`). */
const kMaxSkippedBytes = 64 * 1024;

const kExtServerName = 0;
const kExtSupportedGroups = 10;
const kExtEcPointFormats = 11;
const kExtSignatureAlgorithms = 13;
const kExtAlpn = 16;
const kExtSupportedVersions = 43;

/**
 * Cheap content sniffing of the first bytes of a direction: "client-hello" or "server-hello" when they
 * start a TLS handshake record holding that message, "no", or "maybe" when too few bytes are there.
 *
 * @example
 * sniffTls(Uint8Array.of(22, 3, 1, 0, 200, 1), 0, 6); // "client-hello"
 * sniffTls(Uint8Array.of(22, 3), 0, 2);               // "maybe"
 * sniffTls(new TextEncoder().encode("GET /"), 0, 5);  // "no"
 */
export function sniffTls(bytes: Uint8Array, offset: number, length: number): "client-hello" | "server-hello" | "no" | "maybe" {
  const p = Math.max(0, offset);
  const n = Math.min(bytes.length, p + Math.max(0, length)) - p;
  if (n < 1) return "maybe";
  if (bytes[p] !== kContentHandshake) return "no";
  if (n < 2) return "maybe";
  if (bytes[p + 1] !== 3) return "no";
  if (n < 3) return "maybe";
  if (bytes[p + 2]! > 4) return "no";
  if (n < 5) return "maybe";
  const len = (bytes[p + 3]! << 8) | bytes[p + 4]!;
  if (len === 0 || len > kMaxRecord) return "no";
  if (n < 6) return "maybe";
  const type = bytes[p + 5];
  return type === kHandshakeClientHello ? "client-hello" : type === kHandshakeServerHello ? "server-hello" : "no";
}

/**
 * Collects the first handshake message of one side of a TCP connection (after the records `skipped`
 * passes over), fed in order, when it is a hello of the expected type (TlsClientHelloParser,
 * TlsServerHelloParser below).
 *
 * `data()` returns null while more bytes are needed, the hello once it is complete (then null for any
 * later call), or "not-tls" as soon as the bytes show that no such hello starts this stream (and again on
 * every later call).
 *
 * A second hello, after a TLS 1.3 HelloRetryRequest, is read by a parser made with `skipped`: the
 * content types of the records that may come before it and are passed over (each side's
 * ChangeCipherSpec of middlebox compatibility mode, RFC 8446 D.4; the client's early data). Past 64 KiB
 * of them the side is given up ("not-tls").
 */
class TlsHelloParser<Hello> {
  /** The record header being read. */
  readonly #header = new Uint8Array(5);
  #headerHave = 0;
  #recordRemaining = 0;
  #recordVersion = -1;
  /** Handshake bytes kept so far (only when the hello spans records or chunks). */
  #hs: Uint8Array | null = null;
  #hsHave = 0;
  #notTls = false;
  #done = false;
  /** Bytes of skipped records passed over so far. */
  #skippedBytes = 0;
  /** Bytes still to pass over before reading (the rest of the record of the hello before). */
  #passOver = 0;
  #unreadFrom = 0;
  #recordLeft = 0;

  constructor(
    /** The handshake type expected first (1 ClientHello, 2 ServerHello). */
    private readonly type: number,
    private readonly parse: (b: Uint8Array, start: number, end: number, recordVersion: number) => Hello,
    /** Content types passed over before the hello, as a bit mask (1 << type); 0 for a first hello. */
    private readonly skipped = 0,
  ) {}

  /** Bytes this parser holds between calls (a hello spread over chunks), for a budget shared by connections. */
  get heldBytes(): number {
    return this.#hs === null ? 0 : this.#hs.length;
  }

  /**
   * Once `data()` has given the hello: where in that chunk the bytes after it begin, and how many of
   * them (or of later chunks) are the rest of the hello's record. A parser of the next hello is fed
   * from there, after `passOver(recordLeft)`: early data in the hello's segment is not lost.
   */
  get unreadFrom(): number {
    return this.#unreadFrom;
  }
  get recordLeft(): number {
    return this.#recordLeft;
  }

  /** Ignores the first `bytes` bytes fed (the rest of a record another parser began). */
  passOver(bytes: number): void {
    this.#passOver = bytes;
  }

  /**
   * Starts inside a handshake record another parser began, `bytes` of it left: the next handshake
   * message may follow the last one in its record (a TLS 1.2 server's Certificate after its hello).
   */
  continueRecord(bytes: number): void {
    if (bytes <= 0) return;
    this.#header[0] = kContentHandshake;
    this.#headerHave = 5;
    this.#recordRemaining = bytes;
  }

  /** The next bytes of the side this parser reads; `chunk` is only read during the call. */
  data(chunk: Uint8Array, ts: number): Hello | null | "not-tls" {
    void ts;
    if (this.#notTls) return "not-tls";
    if (this.#done) return null;
    const end = chunk.length;
    let pos = Math.min(this.#passOver, end);
    this.#passOver -= pos;
    while (pos < end) {
      if (this.#headerHave < 5) {
        const c = chunk[pos++]!;
        const at = this.#headerHave;
        this.#header[this.#headerHave++] = c;
        // Judge each header byte as it comes, so a non-TLS stream is told apart at its first bytes.
        // (`c < 32`: a shift by 32 or more wraps, and no content type to skip is that high.)
        const bad =
          (at === 0 && c !== kContentHandshake && !(this.#hsHave === 0 && c < 32 && (this.skipped & (1 << c)) !== 0)) ||
          (at === 1 && c !== 3) ||
          (at === 2 && c > 4);
        if (bad) {
          // A later record of another type inside an unfinished hello ends it; at the start it means not TLS.
          if (this.#hsHave > 0) return this.#finish(this.#hs!, 0, this.#hsHave, end, 0);
          return this.#fail();
        }
        if (this.#headerHave === 5) {
          const len = (this.#header[3]! << 8) | this.#header[4]!;
          if (len === 0 || len > kMaxRecord) {
            if (this.#hsHave > 0) return this.#finish(this.#hs!, 0, this.#hsHave, end, 0);
            return this.#fail();
          }
          this.#recordRemaining = len;
          if (this.#header[0] !== kContentHandshake) {
            this.#skippedBytes += 5 + len;
            if (this.#skippedBytes > kMaxSkippedBytes) return this.#fail();
            continue;
          }
          if (this.#recordVersion < 0) this.#recordVersion = (this.#header[1]! << 8) | this.#header[2]!;
        }
        continue;
      }
      const take = Math.min(this.#recordRemaining, end - pos);
      if (this.#header[0] !== kContentHandshake) {
        // A record before the hello that it may follow: passed over, nothing kept.
        pos += take;
        this.#recordRemaining -= take;
        if (this.#recordRemaining === 0) this.#headerHave = 0;
        continue;
      }
      if (this.#hsHave === 0 && take >= 4) {
        // The common case: the whole hello in this record, in this chunk. Read it in place.
        if (chunk[pos] !== this.type) return this.#fail();
        const need = 4 + ((chunk[pos + 1]! << 16) | (chunk[pos + 2]! << 8) | chunk[pos + 3]!);
        if (need <= take) return this.#finish(chunk, pos, pos + need, pos + need, this.#recordRemaining - need);
      }
      const takeStart = pos;
      const before = this.#hsHave;
      this.#keep(chunk, pos, take);
      pos += take;
      this.#recordRemaining -= take;
      if (this.#recordRemaining === 0) this.#headerHave = 0;
      if (this.#hsHave >= 1 && this.#hs![0] !== this.type) return this.#fail();
      if (this.#hsHave >= 4) {
        const hs = this.#hs!;
        const need = 4 + ((hs[1]! << 16) | (hs[2]! << 8) | hs[3]!);
        if (need <= this.#hsHave) {
          // The hello ends inside this take (it was not complete before it): what follows it
          // there is the next message's, and is left unread.
          const helloEnd = takeStart + (need - before);
          return this.#finish(hs, 0, need, helloEnd, this.#recordRemaining + (pos - helloEnd));
        }
        if (this.#hsHave >= kMaxHelloBytes) return this.#finish(hs, 0, this.#hsHave, pos, this.#recordRemaining);
      }
    }
    return null;
  }

  #keep(chunk: Uint8Array, pos: number, n: number): void {
    const room = kMaxHelloBytes - this.#hsHave;
    const m = Math.min(n, room);
    if (m <= 0) return;
    if (this.#hs === null || this.#hs.length < this.#hsHave + m) {
      const size = Math.min(kMaxHelloBytes, Math.max(2048, (this.#hsHave + m) * 2));
      const grown = new Uint8Array(size);
      if (this.#hs !== null) grown.set(this.#hs.subarray(0, this.#hsHave));
      this.#hs = grown;
    }
    this.#hs.set(chunk.subarray(pos, pos + m), this.#hsHave);
    this.#hsHave += m;
  }

  #fail(): "not-tls" {
    this.#notTls = true;
    this.#hs = null;
    return "not-tls";
  }

  /**
   * The hello in b[start, end); the chunk's bytes after it begin at `unreadFrom`, the first
   * `recordLeft` of them in its record. (A hello ended by a record of another kind leaves the rest of
   * its chunk unread: the header that ended it is lost.)
   */
  #finish(b: Uint8Array, start: number, end: number, unreadFrom: number, recordLeft: number): Hello {
    this.#done = true;
    this.#unreadFrom = unreadFrom;
    this.#recordLeft = recordLeft;
    const hello = this.parse(b, start, end, this.#recordVersion);
    this.#hs = null;
    return hello;
  }
}

/**
 * Collects the ClientHello from the client's side of a TCP connection, fed in order.
 *
 * @example
 * const p = new TlsClientHelloParser();
 * p.data(Uint8Array.of(22, 3, 1), 0);          // null: a record header has begun
 * new TlsClientHelloParser().data(new TextEncoder().encode("SSH-2.0"), 0); // "not-tls"
 */
export class TlsClientHelloParser extends TlsHelloParser<TlsClientHello> {
  /**
   * `again`: the client's second hello, answering a HelloRetryRequest; its ChangeCipherSpec and any
   * early data it sent after the first are passed over.
   */
  constructor(again = false) {
    super(kHandshakeClientHello, parseClientHello, again ? (1 << kContentChangeCipherSpec) | (1 << kContentApplicationData) : 0);
  }
}

/** Collects the ServerHello (or HelloRetryRequest) from the server's side of a TCP connection, fed in order. */
export class TlsServerHelloParser extends TlsHelloParser<TlsServerHello> {
  /** `again`: the ServerHello after a HelloRetryRequest; the server's ChangeCipherSpec is passed over. */
  constructor(again = false) {
    super(kHandshakeServerHello, parseServerHello, again ? 1 << kContentChangeCipherSpec : 0);
  }
}

/** The certificates of a TLS 1.2 (or older) server's Certificate message, its own first. */
export interface TlsCertificates {
  chain: X509Certificate[];
  /** True when the message broke off (it is kept up to 64 KiB) or a length in it was wrong. */
  truncated: boolean;
}

/**
 * Collects the Certificate message that follows a TLS 1.2 server's ServerHello, fed in order from
 * where the hello ended (`continueRecord`). TLS 1.3 sends it encrypted.
 */
export class TlsCertificateParser extends TlsHelloParser<TlsCertificates> {
  constructor() {
    super(kHandshakeCertificate, parseCertificates);
  }
}

/** Reads a Certificate handshake message (its 4-byte header included) from b[start, end). */
function parseCertificates(b: Uint8Array, start: number, end: number): TlsCertificates {
  const out: TlsCertificates = { chain: [], truncated: false };
  const stop = messageStop(b, start, end, out);
  const u24 = (p: number): number => (b[p]! << 16) | (b[p + 1]! << 8) | b[p + 2]!;
  if (start + 7 > stop) return cut(out);
  const listEnd = start + 7 + u24(start + 4);
  if (listEnd > stop) out.truncated = true;
  const limit = Math.min(listEnd, stop);
  let p = start + 7;
  while (p < limit) {
    if (p + 3 > limit) return cut(out);
    const certEnd = p + 3 + u24(p);
    if (certEnd > limit) {
      // Cut (at 64 KiB, or by the message's end): what was read of it is kept, and said to be cut.
      out.chain.push(parseX509(b, p + 3, limit));
      return cut(out);
    }
    out.chain.push(parseX509(b, p + 3, certEnd));
    p = certEnd;
  }
  return out;
}

/**
 * Reads a ClientHello handshake message (its 4-byte header included) from b[start, end); `end` may cut it
 * short, which sets `truncated`.
 */
function parseClientHello(b: Uint8Array, start: number, end: number, recordVersion: number): TlsClientHello {
  const out: TlsClientHello = {
    version: 0,
    recordVersion: recordVersion < 0 ? 0 : recordVersion,
    sni: null,
    alpn: [],
    supportedVersions: [],
    cipherSuites: [],
    extensions: [],
    supportedGroups: [],
    pointFormats: [],
    signatureAlgorithms: [],
    truncated: false,
  };
  const stop = messageStop(b, start, end, out);
  const u16 = (p: number): number => (b[p]! << 8) | b[p + 1]!;

  let p = start + 4;
  if (p + 2 > stop) return cut(out);
  out.version = u16(p);
  p += 2 + 32; // random
  if (p + 1 > stop) return cut(out);
  p += 1 + b[p]!; // session id
  if (p + 2 > stop) return cut(out);
  const suitesEnd = p + 2 + u16(p);
  p += 2;
  for (; p + 2 <= Math.min(suitesEnd, stop); p += 2) out.cipherSuites.push(u16(p));
  if (suitesEnd > stop) return cut(out);
  p = suitesEnd;
  if (p + 1 > stop) return cut(out);
  p += 1 + b[p]!; // compression methods
  if (p > stop) return cut(out);
  if (p === stop) return out; // no extensions: a valid (old) hello
  return extensions(b, p, stop, out, (type, dataStart, dataEnd) => {
    const len = dataEnd - dataStart;
    out.extensions.push(type);
    if (type === kExtServerName && out.sni === null) {
      // server_name_list: entries of name_type(1) length(2) name.
      let q = dataStart + 2;
      const listEnd = Math.min(dataEnd, dataStart + 2 + (len >= 2 ? u16(dataStart) : 0));
      while (q + 3 <= listEnd) {
        const nameType = b[q]!;
        const nameLen = u16(q + 1);
        if (q + 3 + nameLen > listEnd) {
          out.truncated = true;
          break;
        }
        if (nameType === 0) {
          out.sni = latin1(b, q + 3, q + 3 + nameLen);
          break;
        }
        q += 3 + nameLen;
      }
    } else if (type === kExtAlpn && len >= 2) {
      let q = dataStart + 2;
      const listEnd = Math.min(dataEnd, dataStart + 2 + u16(dataStart));
      while (q + 1 <= listEnd) {
        const n = b[q]!;
        if (q + 1 + n > listEnd) {
          out.truncated = true;
          break;
        }
        out.alpn.push(latin1(b, q + 1, q + 1 + n));
        q += 1 + n;
      }
    } else if (type === kExtSupportedVersions && len >= 1) {
      const listEnd = Math.min(dataEnd, dataStart + 1 + b[dataStart]!);
      for (let q = dataStart + 1; q + 2 <= listEnd; q += 2) out.supportedVersions.push(u16(q));
    } else if (type === kExtSupportedGroups || type === kExtSignatureAlgorithms) {
      // A list whose length is not its extension's, or a second such extension, makes the hello
      // malformed (and so without a JA3): what a fingerprint would list is then anyone's guess
      // (tshark's differs by case).
      const list = type === kExtSupportedGroups ? out.supportedGroups : out.signatureAlgorithms;
      if (len < 2 || u16(dataStart) !== len - 2 || seenBefore(out.extensions)) out.truncated = true;
      const listEnd = Math.min(dataEnd, dataStart + 2 + (len >= 2 ? u16(dataStart) : 0));
      for (let q = dataStart + 2; q + 2 <= listEnd; q += 2) list.push(u16(q));
    } else if (type === kExtEcPointFormats) {
      if (len < 1 || b[dataStart]! !== len - 1 || seenBefore(out.extensions)) out.truncated = true;
      const listEnd = Math.min(dataEnd, dataStart + 1 + (len >= 1 ? b[dataStart]! : 0));
      for (let q = dataStart + 1; q < listEnd; q++) out.pointFormats.push(b[q]!);
    }
  });
}

/** Whether the extension just appended to `types` came before too. */
function seenBefore(types: readonly number[]): boolean {
  return types.indexOf(types[types.length - 1]!) !== types.length - 1;
}

/** The random of a HelloRetryRequest: SHA-256 of "HelloRetryRequest" (RFC 8446 4.1.3). */
const kHelloRetryRandom = Uint8Array.of(
  0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
  0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
);

/**
 * Reads a ServerHello handshake message (its 4-byte header included) from b[start, end); `end` may cut
 * it short, which sets `truncated`.
 */
function parseServerHello(b: Uint8Array, start: number, end: number, recordVersion: number): TlsServerHello {
  const out: TlsServerHello = {
    version: 0,
    recordVersion: recordVersion < 0 ? 0 : recordVersion,
    selectedVersion: 0,
    cipherSuite: -1,
    alpn: null,
    helloRetry: false,
    extensions: [],
    truncated: false,
  };
  const stop = messageStop(b, start, end, out);
  const u16 = (p: number): number => (b[p]! << 8) | b[p + 1]!;

  let p = start + 4;
  if (p + 2 > stop) return cut(out);
  out.version = out.selectedVersion = u16(p);
  p += 2;
  if (p + 32 > stop) return cut(out);
  out.helloRetry = kHelloRetryRandom.every((x, i) => b[p + i] === x);
  p += 32;
  if (p + 1 > stop) return cut(out);
  p += 1 + b[p]!; // session id
  if (p + 2 > stop) return cut(out);
  out.cipherSuite = u16(p);
  p += 2;
  if (p + 1 > stop) return cut(out);
  p += 1; // compression method
  if (p === stop) return out; // no extensions: a valid (TLS 1.2 or older) hello
  return extensions(b, p, stop, out, (type, dataStart, dataEnd) => {
    const len = dataEnd - dataStart;
    out.extensions.push(type);
    if (type === kExtSupportedVersions && len === 2) {
      out.selectedVersion = u16(dataStart); // one version: the server's choice
    } else if (type === kExtAlpn && len >= 3) {
      // A protocol_name_list of exactly one name.
      const n = b[dataStart + 2]!;
      if (dataStart + 3 + n <= dataEnd) out.alpn = latin1(b, dataStart + 3, dataStart + 3 + n);
      else out.truncated = true;
    }
  });
}

/**
 * Where the handshake message in b[start, end) (its 4-byte header included) ends: where its length
 * says, or at `end` when the bytes stop sooner (then the hello is `truncated`).
 */
function messageStop(b: Uint8Array, start: number, end: number, out: { truncated: boolean }): number {
  const declaredEnd = start + 4 + (end - start >= 4 ? (b[start + 1]! << 16) | (b[start + 2]! << 8) | b[start + 3]! : 0);
  if (end - start < 4 || declaredEnd > end) out.truncated = true;
  return Math.min(end, declaredEnd);
}

/**
 * Walks a hello's extensions block at `p` (its 2-byte length first) up to `stop`, giving each
 * extension's type and data range to `each`; a length that runs past the block or the message marks
 * the hello `truncated` (what came before is kept).
 */
function extensions<Hello extends { truncated: boolean }>(
  b: Uint8Array,
  p: number,
  stop: number,
  out: Hello,
  each: (type: number, dataStart: number, dataEnd: number) => void,
): Hello {
  if (p + 2 > stop) return cut(out);
  const extEnd = p + 2 + ((b[p]! << 8) | b[p + 1]!);
  p += 2;
  if (extEnd > stop) out.truncated = true;
  const limit = Math.min(extEnd, stop);
  while (p + 4 <= limit) {
    const type = (b[p]! << 8) | b[p + 1]!;
    const dataEnd = p + 4 + ((b[p + 2]! << 8) | b[p + 3]!);
    if (dataEnd > limit) return cut(out);
    each(type, p + 4, dataEnd);
    p = dataEnd;
  }
  if (p !== limit) out.truncated = true;
  return out;
}

function cut<Hello extends { truncated: boolean }>(out: Hello): Hello {
  out.truncated = true;
  return out;
}
