/**
 * HTTP/1.x over one TCP connection: request and response heads, both directions, fed incrementally.
 *
 * Reads top-down like a Zeek analyzer: the records each event carries, then the options, then the parser.
 *
 * What is kept between calls is bounded: a message head being assembled (at most `maxHeaderBytes`, copied
 * because the caller's buffer is reused), a handful of integers per direction, and the queue of requests
 * still waiting for a response (at most `kMaxPendingRequests`). Bodies are never buffered: a body is
 * skipped by counting (Content-Length, chunk sizes) or, for a response that is ended by the close,
 * by ignoring everything after its head.
 *
 * Which lines count as requests follows tshark 4.0 (`is_http_request_or_reply()` in Wireshark's
 * packet-http.c, checked against tshark 4.0.17): the method is the bytes before the first space, compared
 * case-sensitively with a fixed list, optionally after an "M-" prefix (RFC 2774). Only those produce
 * `request` events, so our requests match tshark's `http.request`. Two kinds of lines are still framed
 * (their headers and body are skipped, so the connection stays in step) without an event:
 *   - NOTIFY, SUBSCRIBE, UNSUBSCRIBE (GENA), which tshark calls notifications, not requests;
 *   - a line with an unknown method that ends in "HTTP/<digit>..." ("MKCALENDAR / HTTP/1.1", "GET/HTTP/1.1"),
 *     reported as the weird `http_unknown_method`: tshark ignores it but still shows the server's response,
 *     and so do we.
 * The request-line fields are split the way tshark splits them (method up to the first space, URI the next
 * space-delimited token, version the rest of the line), so a malformed line gives the same URI in both.
 *
 * Anomalies never throw: they become `weird(name, detail, ts)` events with the stable names below, and
 * parsing goes on where it can: after a gap or a line that is not a start line, at the next line that
 * starts a message this side would send (bounded by `maxResyncBytes`); a head longer than
 * `maxHeaderBytes` or a failed resync ends parsing for that direction only.
 *
 * Weird names: http_bad_start_line, http_unknown_method, http_bad_status_code, http_bad_header_line,
 * http_header_too_long, http_bad_content_length, http_content_length_and_chunked,
 * http_bad_transfer_encoding, http_bad_chunk, http_content_gap, http_resync, http_resync_failed,
 * http_unmatched_response, http_too_many_pending_requests, http_truncated_head.
 */
import { latin1, Latin1Interner } from "./latin1-strings.ts";

/** A request line and its headers. */
export interface HttpRequestHead {
  method: string;
  uri: string;
  version: string;
  /** The first Host header's value, or "" without one. */
  host: string;
  /**
   * Header names lower-cased; a repeated header's values joined with ", " (Set-Cookie too). An object that
   * inherits nothing, so a header called "__proto__" or "constructor" is just a header: test with `in` or `Object.hasOwn`.
   * Built when first read.
   */
  readonly headers: Record<string, string>;
}

/** A status line and its headers. */
export interface HttpResponseHead {
  /** The three-digit status code, or 0 when the status line has none. */
  status: number;
  reason: string;
  version: string;
  /** Header names lower-cased; a repeated header's values joined with ", ". Built when first read. */
  readonly headers: Record<string, string>;
}

/** Receives what an `HttpConnectionParser` finds. */
export interface HttpSink {
  /** A request head (known method) is complete; `ts` is that of the chunk that completed it. */
  request(head: HttpRequestHead, ts: number): void;
  /** A response head is complete (1xx interim responses included). */
  response(head: HttpResponseHead, ts: number): void;
  /** Something odd; `name` is one of the stable names listed in this module's comment. */
  weird(name: string, detail: string, ts: number): void;
}

/** Options of `HttpConnectionParser`. */
export interface HttpParserLimits {
  /** Largest message head (start line and headers) assembled; a longer one ends parsing of its direction. Default 64 KiB. */
  maxHeaderBytes?: number;
  /**
   * Bytes scanned for a new start line after a gap or garbage before giving the direction up.
   * Default 64 KiB: a direction that shows no start line for that long is not speaking HTTP (a binary
   * transfer after an HTTP-looking first line), and scanning it to its end would cost more than
   * parsing all the HTTP in the capture.
   */
  maxResyncBytes?: number;
}

const kDefaultMaxHeaderBytes = 64 * 1024;
const kDefaultMaxResyncBytes = 64 * 1024;
/** Requests waiting for their response; pipelining deeper than this is not seen in practice. */
const kMaxPendingRequests = 64;
/** Bytes quoted in a weird's detail. */
const kDetailBytes = 64;

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;

// --- Methods ----------------------------------------------------------------------------------------------

/** Methods tshark 4.0 reports as `http.request` (packet-http.c, is_http_request_or_reply()). */
const kRequestMethods = [
  "GET", "PUT",
  "COPY", "HEAD", "LOCK", "MOVE", "POLL", "POST",
  "BCOPY", "BMOVE", "MKCOL", "TRACE", "PATCH", "LABEL", "MERGE",
  "DELETE", "SEARCH", "UNLOCK", "REPORT", "UPDATE",
  "BDELETE", "CONNECT", "OPTIONS", "CHECKIN",
  "PROPFIND", "CHECKOUT", "CCM_POST",
  "PROPPATCH", "BPROPFIND",
  "BPROPPATCH", "UNCHECKOUT", "MKACTIVITY",
  "MKWORKSPACE", "RPC_CONNECT", "RPC_IN_DATA",
  "RPC_OUT_DATA",
  "VERSION-CONTROL",
  "BASELINE-CONTROL", "SSTP_DUPLEX_POST",
];
/** Methods tshark calls notifications (GENA): framed like requests, but no `request` event. */
const kNotificationMethods = ["NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE"];

const kMethodRequest = 1;
const kMethodNotification = 2;
/** Method bytes (without "M-") -> kind, for allocation-free lookups while sniffing. */
const kMethodTable: { bytes: Uint8Array; kind: number }[] = [
  ...kRequestMethods.map((m) => ({ bytes: asciiBytes(m), kind: kMethodRequest })),
  ...kNotificationMethods.map((m) => ({ bytes: asciiBytes(m), kind: kMethodNotification })),
];
const kLongestMethod = 2 + Math.max(...kMethodTable.map((m) => m.bytes.length));
/** kMethodTable by method length: a start line's method is compared with the two or three of its length. */
const kMethodsByLength: { bytes: Uint8Array; kind: number }[][] = Array.from({ length: kLongestMethod + 1 }, (_, n) =>
  kMethodTable.filter((m) => m.bytes.length === n),
);

function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Kind of the method bytes[off, off+len) (0 when unknown), "M-" prefix allowed as tshark does. */
function methodKind(bytes: Uint8Array, off: number, len: number): number {
  if (len > 2 && bytes[off] === 0x4d /* M */ && bytes[off + 1] === 0x2d /* - */) {
    off += 2;
    len -= 2;
  }
  if (len > kLongestMethod) return 0;
  for (const m of kMethodsByLength[len]!) {
    let i = 0;
    while (i < len && bytes[off + i] === m.bytes[i]) i++;
    if (i === len) return m.kind;
  }
  return 0;
}

/** True when bytes[off, off+len) could still grow into a known method (with or without "M-"). */
function methodPrefix(bytes: Uint8Array, off: number, len: number): boolean {
  let o = off;
  let n = len;
  if (n >= 1 && bytes[o] === 0x4d) {
    if (n === 1) return true; // "M" starts MOVE, MERGE, ... and "M-"
    if (bytes[o + 1] === 0x2d) {
      o += 2;
      n -= 2;
    }
  }
  for (const m of kMethodTable) {
    if (m.bytes.length < n) continue;
    let i = 0;
    while (i < n && bytes[o + i] === m.bytes[i]) i++;
    if (i === n) return true;
  }
  return false;
}

// --- Sniffing ---------------------------------------------------------------------------------------------

/** Bytes of a line looked at when a sniff has to wait for its end (an unknown method). */
const kSniffLineBytes = 1024;

/**
 * Cheap content sniffing of the first bytes of a direction: "request" (a known method followed by a space
 * or the end of the line, or a line ending in "HTTP/<digit>"), "response" (a status line: "HTTP/" in any
 * case, or "ICY "), "no", or "maybe" when too few bytes are there to tell. Leading empty lines are skipped.
 *
 * @example
 * const b = new TextEncoder().encode("GET / HTTP/1.1\r\n");
 * sniffHttp(b, 0, b.length); // "request"
 * sniffHttp(b, 0, 2);        // "maybe"
 */
export function sniffHttp(bytes: Uint8Array, offset: number, length: number): "request" | "response" | "no" | "maybe" {
  let p = offset;
  const end = Math.min(bytes.length, offset + Math.max(0, length));
  while (p < end && (bytes[p] === CR || bytes[p] === LF)) p++;
  if (p >= end) return "maybe";
  const v = statusPrefix(bytes, p, end);
  if (v !== 0) return v === 1 ? "response" : "maybe";
  // A known method followed by a space or the end of the line.
  let t = p;
  while (t < end && t - p <= kLongestMethod && bytes[t] !== SP && bytes[t] !== CR && bytes[t] !== LF) t++;
  if (t < end && t - p <= kLongestMethod) {
    if (methodKind(bytes, p, t - p) !== 0) return "request";
  } else if (t === end && methodPrefix(bytes, p, t - p)) {
    return "maybe";
  }
  // An unknown method: only a whole line ending in a version can tell. The scan is bounded by hand because
  // `bytes` may be a large shared buffer.
  const limit = Math.min(end, p + kSniffLineBytes);
  let lineEnd = p;
  while (lineEnd < limit && bytes[lineEnd] !== LF) lineEnd++;
  if (lineEnd < limit) return startLineKind(bytes, p, lineEnd - p) === kLineUnknownRequest ? "request" : "no";
  if (limit === end && end - p < kSniffLineBytes && !hasControlBytes(bytes, p, end)) return "maybe";
  return "no";
}

const kHttpSlash = asciiBytes("HTTP/");
const kIcy = asciiBytes("ICY ");

/** 1 when bytes at p start a status line, 2 when they might (too short), 0 when they do not. */
function statusPrefix(bytes: Uint8Array, p: number, end: number): number {
  const avail = end - p;
  // "HTTP/" compared case-insensitively: some servers answer "http/1.1 200 OK" and the message is still HTTP.
  let i = 0;
  while (i < 5 && i < avail && (bytes[p + i]! & (i < 4 ? 0xdf : 0xff)) === kHttpSlash[i]) i++;
  if (i === 5) return 1;
  if (i === avail) return 2;
  i = 0;
  while (i < 4 && i < avail && bytes[p + i] === kIcy[i]) i++;
  if (i === 4) return 1;
  if (i === avail) return 2;
  return 0;
}

/** True when bytes [p, end) hold a byte no text line has (CR and HTAB are fine). */
function hasControlBytes(bytes: Uint8Array, p: number, end: number): boolean {
  for (let i = p; i < end; i++) {
    const b = bytes[i]!;
    if ((b < 0x20 && b !== HT && b !== CR) || b === 0x7f) return true;
  }
  return false;
}

const kLineInvalid = 0;
const kLineRequest = 1;
const kLineNotification = 2;
const kLineUnknownRequest = 3;
const kLineResponse = 4;

/** Classifies a complete start line (without its LF; a trailing CR is ignored). */
function startLineKind(bytes: Uint8Array, off: number, len: number): number {
  let end = off + len;
  if (end > off && bytes[end - 1] === CR) end--;
  if (statusPrefix(bytes, off, end) === 1) return kLineResponse;
  let t = off;
  while (t < end && bytes[t] !== SP) t++;
  const kind = methodKind(bytes, off, t - off);
  if (kind === kMethodRequest) return kLineRequest;
  if (kind === kMethodNotification) return kLineNotification;
  if (hasControlBytes(bytes, off, end)) return kLineInvalid;
  // Unknown method: still a request if the line ends in a version.
  return endsInVersion(bytes, off, end) ? kLineUnknownRequest : kLineInvalid;
}

/** Whether the line bytes[off, end) (a trailing CR excluded) ends in a version: "HTTP/" digit [digits and dots], then optional blanks. */
function endsInVersion(bytes: Uint8Array, off: number, end: number): boolean {
  while (end > off && (bytes[end - 1] === SP || bytes[end - 1] === HT)) end--;
  let v = end;
  while (v > off && ((bytes[v - 1]! >= 0x30 && bytes[v - 1]! <= 0x39) || bytes[v - 1] === 0x2e)) v--;
  if (v === end || v - off < 6 || !(bytes[v]! >= 0x30 && bytes[v]! <= 0x39)) return false;
  return bytes[v - 5] === 0x48 && bytes[v - 4] === 0x54 && bytes[v - 3] === 0x54 && bytes[v - 2] === 0x50 && bytes[v - 1] === 0x2f;
}

// --- Text helpers ------------------------------------------------------------------------------------------

/** Header names (lower-cased) and values seen before come back as the same strings, built once. */
const headerNames = new Latin1Interner({ slots: 256, maxBytes: 32, lowerCase: true });
const headerValues = new Latin1Interner({ slots: 1024, maxBytes: 64 });

/** An HttpRequestHead whose headers object is made when first read. */
class RequestHead implements HttpRequestHead {
  constructor(
    readonly method: string,
    readonly uri: string,
    readonly version: string,
    readonly host: string,
    private readonly parsed: ParsedHead,
  ) {}
  get headers(): Record<string, string> {
    return this.parsed.headers;
  }
}

/** An HttpResponseHead whose headers object is made when first read. */
class ResponseHead implements HttpResponseHead {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly version: string,
    private readonly parsed: ParsedHead,
  ) {}
  get headers(): Record<string, string> {
    return this.parsed.headers;
  }
}

/**
 * The prototype of every headers object: empty and inheriting nothing, so no header name meets an inherited
 * property (not even `__proto__`'s setter). Not `Object.create(null)` itself: V8 keeps null-prototype objects
 * in slow dictionary mode, while objects made from a shared prototype get fast properties whose shapes are
 * shared by messages with the same headers in the same order.
 */
const kHeadersPrototype: object = Object.freeze(Object.create(null) as object);

/**
 * Where #head found the LFs of the head it hands to parseHead (with their count), so that the head is
 * not scanned for them twice. Not recorded for a head assembled across chunks, or one of more than
 * kRecordedLines lines. Valid only during that call.
 */
const kRecordedLines = 128;
const lineFeeds = new Int32Array(kRecordedLines);

/** A DataView of the buffer indexOfLineFeed or scanLine last scanned: the ring's, nearly always. */
let wordsOf: ArrayBufferLike | null = null;
let words: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/** The DataView of `bytes`'s buffer, made anew only when the buffer changes. */
function wordsFor(bytes: Uint8Array): DataView<ArrayBufferLike> {
  if (bytes.buffer !== wordsOf) {
    wordsOf = bytes.buffer;
    words = new DataView(bytes.buffer);
  }
  return words;
}

/**
 * Index of the first LF in bytes[from, end), or -1. The parser is given ranges of the ring's whole
 * buffer, where indexOf would run on past `end`. Four bytes at a time: a word XORed with four LFs has
 * a zero byte where an LF was, which `(x - 0x01010101) & ~x & 0x80808080` detects; the word is then
 * searched byte by byte. Half the time of a byte loop on a head's lines (and of indexOf).
 */
function indexOfLineFeed(bytes: Uint8Array, from: number, end: number): number {
  const words = wordsFor(bytes);
  const base = bytes.byteOffset;
  let i = from;
  for (; i + 4 <= end; i += 4) {
    const x = words.getUint32(base + i, true) ^ 0x0a0a0a0a;
    if (((x - 0x01010101) & ~x & 0x80808080) !== 0) break;
  }
  for (; i < end; i++) if (bytes[i] === LF) return i;
  return -1;
}

/** Whether the bytes scanLine passed over (before its LF, or to the end) hold a control byte. */
let lineHasControl = false;

/**
 * indexOfLineFeed for #head, which also wants to know whether a line holds a control byte (a byte
 * below 0x20 other than HT and CR, or DEL: not in an HTTP head), and would otherwise read each line
 * a second time, a byte at a time. Returns the LF's index or -1, and sets lineHasControl. Four bytes
 * at a time as indexOfLineFeed does: `(x - 0x20202020) & ~x & 0x80808080` finds a byte below 0x20 (LF
 * is one), the same test on x XOR 0x7f7f7f7f a DEL; such a word is then read byte by byte (once per
 * line at least: the CR before the LF).
 */
function scanLine(bytes: Uint8Array, from: number, end: number): number {
  const words = wordsFor(bytes);
  const base = bytes.byteOffset;
  let control = false;
  let i = from;
  for (;;) {
    for (; i + 4 <= end; i += 4) {
      const x = words.getUint32(base + i, true);
      const y = x ^ 0x7f7f7f7f;
      if ((((x - 0x20202020) & ~x) | ((y - 0x01010101) & ~y)) & 0x80808080) break;
    }
    const stop = Math.min(i + 4, end);
    for (; i < stop; i++) {
      const b = bytes[i]!;
      if (b === LF) {
        lineHasControl = control;
        return i;
      }
      if ((b < 0x20 && b !== HT && b !== CR) || b === 0x7f) control = true;
    }
    if (i >= end) {
      lineHasControl = control;
      return -1;
    }
  }
}

/** Index of the first LF in bytes[from, end), or `end` when there is none. */
function lineFeed(bytes: Uint8Array, from: number, end: number): number {
  const lf = indexOfLineFeed(bytes, from, end);
  return lf < 0 ? end : lf;
}

/** A short, printable quote of some bytes for a weird's detail. */
function quote(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  const stop = Math.min(end, start + kDetailBytes);
  for (let i = start; i < stop; i++) {
    const b = bytes[i]!;
    s += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : "\\x" + b.toString(16).padStart(2, "0");
  }
  return end > stop ? s + "..." : s;
}

function isOws(c: number): boolean {
  return c === SP || c === HT;
}

// --- Head parsing -----------------------------------------------------------------------------------------

/**
 * A parsed head before it becomes an event: the start line's three fields, the headers the parser itself
 * needs (framing, and the first Host), and the whole headers object only on demand. Most consumers (the
 * text printers) never ask for it, and building it (a string per name and value, an object per message)
 * was the larger part of parsing a head.
 */
class ParsedHead {
  #headers: Record<string, string> | null = null;

  constructor(
    readonly kind: number,
    readonly first: string,
    readonly second: string,
    readonly rest: string,
    /** The first Host header's value (with its folded lines), or null. */
    readonly host: string | null,
    readonly connection: string | undefined,
    readonly transferEncoding: string | undefined,
    readonly contentLength: string | undefined,
    /** The Expect header's value (a request that waits for 100 Continue before its body). */
    readonly expect: string | undefined,
    /**
     * The header lines, copied to block[blockStart, blockEnd): the bytes they came from are reused as
     * soon as parsing returns. (Offsets into a shared slab, not a view of their own: a view per
     * message was a third of the copy's cost.)
     */
    private readonly block: Uint8Array,
    private readonly blockStart: number,
    private readonly blockEnd: number,
  ) {}

  /** Every header, lower-cased names, repeated ones joined with ", " (see HttpRequestHead.headers). */
  get headers(): Record<string, string> {
    if (this.#headers === null) {
      const builder = new HeadersBuilder();
      headerLines(this.block, this.blockStart, this.blockEnd, builder, null);
      this.#headers = builder.headers;
    }
    return this.#headers;
  }
}

/** What `headerLines` finds, line by line. Offsets are into the bytes it walks. */
interface HeaderLineSink {
  /** A header line: its name (OWS before the colon trimmed) and value (OWS trimmed). */
  field(bytes: Uint8Array, nameStart: number, nameEnd: number, valueStart: number, valueEnd: number): void;
  /** A continuation line (obsolete folding) of the header before it, trimmed, not empty. */
  folded(bytes: Uint8Array, valueStart: number, valueEnd: number): void;
  /** A line that is not a header: a continuation after it continues nothing. */
  broken(): void;
}

/**
 * Walks the header lines of bytes[start, end) up to the empty line that ends a head. Lines end in LF with
 * an optional CR; a line starting with SP or HTAB continues the previous header (obsolete folding, replaced
 * by one space as RFC 9112 5.2 asks). `weird`, when given, hears of lines that are not headers.
 */
function headerLines(
  bytes: Uint8Array,
  start: number,
  end: number,
  sink: HeaderLineSink,
  weird: ((name: string, detail: string) => void) | null,
  /** The LFs of these lines, when the caller knows them: lineFeeds[firstRecorded, lastRecorded). */
  firstRecorded = 0,
  lastRecorded = 0,
): void {
  let continues = false;
  let lineStart = start;
  let next = firstRecorded;
  while (lineStart < end) {
    const lf = next < lastRecorded ? lineFeeds[next++]! : lineFeed(bytes, lineStart, end);
    const lineEnd = lf > lineStart && bytes[lf - 1] === CR ? lf - 1 : lf;
    if (lineEnd === lineStart) return; // the empty line ending the head
    if (isOws(bytes[lineStart]!)) {
      let a = lineStart;
      while (a < lineEnd && isOws(bytes[a]!)) a++;
      let b = lineEnd;
      while (b > a && isOws(bytes[b - 1]!)) b--;
      if (!continues) weird?.("http_bad_header_line", quote(bytes, lineStart, lineEnd));
      else if (b > a) sink.folded(bytes, a, b);
      lineStart = lf + 1;
      continue;
    }
    let colon = lineStart;
    while (colon < lineEnd && bytes[colon] !== 0x3a) colon++;
    let nameEnd = colon;
    while (nameEnd > lineStart && isOws(bytes[nameEnd - 1]!)) nameEnd--;
    if (colon === lineEnd || nameEnd === lineStart) {
      weird?.("http_bad_header_line", quote(bytes, lineStart, lineEnd));
      continues = false;
      sink.broken();
      lineStart = lf + 1;
      continue;
    }
    let a = colon + 1;
    while (a < lineEnd && isOws(bytes[a]!)) a++;
    let b = lineEnd;
    while (b > a && isOws(bytes[b - 1]!)) b--;
    sink.field(bytes, lineStart, nameEnd, a, b);
    continues = true;
    lineStart = lf + 1;
  }
}

/** Builds the headers object: names lower-cased, repeats joined with ", ", folded lines with " ". */
class HeadersBuilder implements HeaderLineSink {
  readonly headers: Record<string, string> = Object.create(kHeadersPrototype) as Record<string, string>;
  #last: string | null = null;

  field(bytes: Uint8Array, nameStart: number, nameEnd: number, valueStart: number, valueEnd: number): void {
    const name = headerNames.get(bytes, nameStart, nameEnd);
    const value = headerValues.get(bytes, valueStart, valueEnd);
    const prev = this.headers[name];
    this.headers[name] = prev === undefined ? value : prev + ", " + value;
    this.#last = name;
  }

  folded(bytes: Uint8Array, valueStart: number, valueEnd: number): void {
    const last = this.#last;
    if (last === null) return;
    const more = latin1(bytes, valueStart, valueEnd);
    this.headers[last] = this.headers[last] === "" ? more : this.headers[last] + " " + more;
  }

  broken(): void {
    this.#last = null;
  }
}

// The headers the parser reads itself, by index into FramingScan.values.
const kOther = 0;
const kHost = 1;
const kConnection = 2;
const kTransferEncoding = 3;
const kContentLength = 4;
const kExpect = 5;
const kFramingNames = ["", "host", "connection", "transfer-encoding", "content-length", "expect"].map((n) => new TextEncoder().encode(n));

/** Which framing header the name bytes[start, end) is (ASCII case-insensitively), or kOther. */
function framingHeader(bytes: Uint8Array, start: number, end: number): number {
  const n = end - start;
  const which = n === 4 ? kHost : n === 10 ? kConnection : n === 17 ? kTransferEncoding : n === 14 ? kContentLength : n === 6 ? kExpect : kOther;
  if (which === kOther) return kOther;
  const want = kFramingNames[which]!;
  for (let i = 0; i < n; i++) {
    let c = bytes[start + i]!;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== want[i]) return kOther;
  }
  return which;
}

/**
 * The framing headers of a head, with the same joining rules as HeadersBuilder, and the first Host. One
 * instance serves every head (see framingScan): parsing is synchronous, and what it found is copied out.
 */
class FramingScan implements HeaderLineSink {
  readonly values: (string | undefined)[] = [undefined, undefined, undefined, undefined, undefined, undefined];
  host: string | null = null;
  #hosts = 0;
  #last = kOther;

  /** Forgets the last head. */
  reset(): this {
    const v = this.values;
    v[0] = v[1] = v[2] = v[3] = v[4] = v[5] = undefined;
    this.host = null;
    this.#hosts = 0;
    this.#last = kOther;
    return this;
  }

  field(bytes: Uint8Array, nameStart: number, nameEnd: number, valueStart: number, valueEnd: number): void {
    const which = framingHeader(bytes, nameStart, nameEnd);
    this.#last = which;
    if (which === kOther) return;
    const value = headerValues.get(bytes, valueStart, valueEnd);
    const prev = this.values[which];
    this.values[which] = prev === undefined ? value : prev + ", " + value;
    if (which === kHost && this.#hosts++ === 0) this.host = value;
  }

  folded(bytes: Uint8Array, valueStart: number, valueEnd: number): void {
    const which = this.#last;
    if (which === kOther) return;
    const more = latin1(bytes, valueStart, valueEnd);
    this.values[which] = this.values[which] === "" ? more : this.values[which] + " " + more;
    if (which === kHost && this.#hosts === 1) this.host = this.values[which]!;
  }

  broken(): void {
    this.#last = kOther;
  }
}

const framingScan = new FramingScan();

/**
 * Copies of header blocks, carved from shared slabs: a fresh ArrayBuffer per message costs more than
 * parsing the message. A slab lives as long as any head copied into it (an event a plugin keeps).
 */
const kSlabBytes = 32 * 1024;
let slab = new Uint8Array(0);
let slabUsed = 0;

/** Where keepBytes put its last copy: the slab, or a buffer of its own for a large block. */
let keptIn = slab;

/** Copies bytes[start, end) into `keptIn` (the slab, a fresh one when full) and returns where it starts. */
function keepBytes(bytes: Uint8Array, start: number, end: number): number {
  const n = end - start;
  if (n > kSlabBytes / 8) {
    // A large block (big cookies) gets a copy of its own and leaves the slab's room to the next heads.
    keptIn = bytes.slice(start, end);
    return 0;
  }
  if (slabUsed + n > slab.length) {
    slab = new Uint8Array(kSlabBytes);
    slabUsed = 0;
  }
  const at = slabUsed;
  slab.set(bytes.subarray(start, end), at);
  slabUsed += n;
  keptIn = slab;
  return at;
}

/**
 * Splits a complete head (start line, header lines, empty line) held in bytes[off, end). `recorded`: how
 * many of its LFs lineFeeds holds (0: none, the head is scanned for them).
 */
function parseHead(bytes: Uint8Array, off: number, end: number, kind: number, weird: (name: string, detail: string) => void, recorded: number): ParsedHead {
  const lf = recorded > 0 ? lineFeeds[0]! : lineFeed(bytes, off, end);
  const lineEnd = lf > off && bytes[lf - 1] === CR ? lf - 1 : lf;

  // Start line, split as tshark's get_token_len() does: tokens end at a space, runs of spaces are skipped,
  // except that two spaces after the method mean an empty URI.
  let p = off;
  while (p < lineEnd && bytes[p] !== SP) p++;
  const first = headerValues.get(bytes, off, p);
  let q = p;
  while (q < lineEnd && bytes[q] === SP) q++;
  if (q - p >= 2 && kind !== kLineResponse) q--;
  let r = q;
  while (r < lineEnd && bytes[r] !== SP) r++;
  // A URI is new every time; a status code repeats.
  const second = kind === kLineResponse ? headerValues.get(bytes, q, r) : latin1(bytes, q, r);
  while (r < lineEnd && bytes[r] === SP) r++;
  let restEnd = lineEnd;
  while (restEnd > r && isOws(bytes[restEnd - 1]!)) restEnd--;
  const rest = headerValues.get(bytes, r, restEnd);

  const scan = framingScan.reset();
  const headersStart = Math.min(lf + 1, end);
  headerLines(bytes, headersStart, end, scan, weird, 1, recorded);
  const v = scan.values;
  const at = keepBytes(bytes, headersStart, end);
  return new ParsedHead(kind, first, second, rest, scan.host, v[kConnection], v[kTransferEncoding], v[kContentLength], v[kExpect], keptIn, at, at + end - headersStart);
}

const kNoTokens: readonly string[] = Object.freeze([]);

/**
 * Tokens of the Connection and Transfer-Encoding values seen lately. Those values come from the interner,
 * so the same few strings ("keep-alive", "close", "chunked") repeat message after message: splitting
 * them each time made four arrays per message. Bounded: cleared when full.
 */
const tokenCache = new Map<string, readonly string[]>();
const kTokenCacheSize = 256;

/** Comma-separated tokens of a header value, lower-cased (a shared array: do not modify). */
function tokens(value: string | undefined): readonly string[] {
  if (value === undefined) return kNoTokens;
  let t = tokenCache.get(value);
  if (t === undefined) {
    t = Object.freeze(
      value
        .toLowerCase()
        .split(",")
        .map((x) => x.trim())
        .filter((x) => x !== ""),
    );
    if (tokenCache.size >= kTokenCacheSize) tokenCache.clear();
    tokenCache.set(value, t);
  }
  return t;
}

/** A Content-Length value as a byte count, or -1 when it is invalid (negative, not a number, disagreeing copies, absurd). */
function contentLength(value: string): number {
  // The usual value, one plain number of up to 15 digits (always a safe integer): read it without a split
  // and a regular expression.
  const n = value.length;
  if (n > 0 && n <= 15) {
    let v = 0;
    let i = 0;
    for (; i < n; i++) {
      const c = value.charCodeAt(i) - 0x30;
      if (c < 0 || c > 9) break;
      v = v * 10 + c;
    }
    if (i === n) return v;
  }
  let result = -1;
  for (const part of value.split(",")) {
    const t = part.trim();
    if (!/^[0-9]{1,16}$/.test(t)) return -1;
    const n = Number(t);
    if (!Number.isSafeInteger(n)) return -1;
    if (result !== -1 && n !== result) return -1;
    result = n;
  }
  return result;
}

/** The three digits a status code starts with, or -1 when it does not start with three digits. */
function statusCode(code: string): number {
  if (code.length < 3) return -1;
  let status = 0;
  for (let i = 0; i < 3; i++) {
    const c = code.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    status = status * 10 + c;
  }
  return status;
}

// --- The parser -------------------------------------------------------------------------------------------

// Direction states.
const kStateHead = 0;
const kStateBody = 1; // `remaining` bytes of a Content-Length body
const kStateUntilClose = 2; // a response body ended by the close
const kStateChunkSize = 3;
const kStateChunkExt = 4; // the rest of a chunk-size line (extensions), up to its LF
const kStateChunkData = 5;
const kStateChunkEnd = 6; // the CRLF after chunk data
const kStateTrailer = 7;
const kStateResync = 8; // looking for a start line after a gap or garbage
const kStatePaused = 9; // after CONNECT: waiting for the response to know whether a tunnel follows
const kStateTunnel = 10; // CONNECT 2xx or 101: not HTTP any more
const kStateDead = 11; // not HTTP, or given up on
const kStateClosed = 12; // end() was called

const kRoleUnknown = 0;
const kRoleClient = 1;
const kRoleServer = 2;

// What a response needs to know of its request, as bits of one small integer: a queue of 64 of them
// per connection costs 512 bytes, where an object per request cost 3.5 KB, and nothing is allocated
// per request.
/** A HEAD request: its response has no body. */
const kPendingHead = 1;
/** CONNECT or SSTP_DUPLEX_POST: a 2xx answer turns the connection into a tunnel. */
const kPendingTunnel = 2;
/** Sent by direction 1 (else 0), so that a refused CONNECT can wake the direction that sent it. */
const kPendingFrom1 = 4;
/** Sent with `Expect: 100-continue` and a body: a final answer may come before the body, which is then not sent. */
const kPendingExpect = 8;
/** Bytes a queued request costs, for heldBytes. */
const kPendingEntryBytes = 8;

/** Per-direction state. Plain fields: this object is touched for every segment. */
class Direction {
  state = kStateHead;
  role = kRoleUnknown;
  /** Messages whose head was complete in this direction. */
  messages = 0;
  sentData = false;

  // Head assembly: bytes copied so far (when a head spans chunks) and the line scanner.
  buf: Uint8Array | null = null;
  bufLen = 0;
  /** Bytes of the current line seen so far (in earlier chunks), and its first byte. */
  lineLen = 0;
  lineFirst = 0;
  /** Kind of the current head's start line once it is complete and classified, else -1. */
  startKind = -1;
  /**
   * The start line is a status line or ends in an HTTP version: the message is HTTP, and a control
   * byte in one of its header lines is a bad header, not a sign of another protocol.
   */
  startVersioned = false;
  /** Bytes of the current chunk-extension or trailer section, to bound them. */
  framingBytes = 0;

  // Bodies.
  remaining = 0;
  chunkDigits = 0;
  chunkCr = false;
  /**
   * The request's body waits for a 100 Continue (`Expect: 100-continue`): none of it came yet. When the
   * final answer comes first (a 417, or a 401 before the client retries with credentials),
   * `bodyOptional` is set: the client may then send the body or leave it out and send its next request
   * (RFC 9110 10.1.1), which the next bytes tell.
   */
  expectWaiting = false;
  bodyOptional = false;

  // Resync.
  resyncScanned = 0;
  atLineStart = false;
  /** Bytes of a line start that were too few to judge, carried into the next chunk (allocated when first needed). */
  carry: Uint8Array | null = null;
  carryLen = 0;
}

/** A direction given up on, or one that has said nothing valid yet and is looking for a start line. */
function notHttp(d: Direction): boolean {
  return d.state === kStateDead || (d.state === kStateResync && d.messages === 0);
}

/**
 * Parses HTTP/1.x on one TCP connection, both directions, fed in capture order by the reassembler.
 *
 * @example
 * const seen: string[] = [];
 * const p = new HttpConnectionParser({
 *   request: (h) => seen.push(`${h.method} ${h.uri}`),
 *   response: (h) => seen.push(String(h.status)),
 *   weird: () => {},
 * });
 * const enc = new TextEncoder();
 * p.data(0, enc.encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 1);
 * p.data(1, enc.encode("HTTP/1.1 204 No Content\r\n\r\n"), 2);
 * // seen is ["GET /", "204"]
 */
export class HttpConnectionParser {
  readonly #sink: HttpSink;
  readonly #maxHeaderBytes: number;
  readonly #maxResyncBytes: number;
  readonly #dirs: [Direction, Direction] = [new Direction(), new Direction()];
  /** Requests waiting for their response, oldest first: kPending* bits. */
  readonly #pending: number[] = [];
  #ts = 0;

  constructor(sink: HttpSink, limits?: HttpParserLimits) {
    this.#sink = sink;
    this.#maxHeaderBytes = Math.max(256, limits?.maxHeaderBytes ?? kDefaultMaxHeaderBytes);
    this.#maxResyncBytes = Math.max(0, limits?.maxResyncBytes ?? kDefaultMaxResyncBytes);
  }

  /**
   * True when this connection is clearly not HTTP: a side was given up on before any message was seen on
   * the connection, or every direction that sent data was given up on, or has not said one valid HTTP
   * message yet and is looking for a start line after bytes that were not one. The
   * consumer may stop feeding it then. A CONNECT tunnel or an upgrade is not a failure; those directions
   * simply produce no more events.
   */
  get failed(): boolean {
    const [a, b] = this.#dirs;
    if (a.messages + b.messages === 0 && (a.state === kStateDead || b.state === kStateDead)) return true;
    return (a.sentData || b.sentData) && (!a.sentData || notHttp(a)) && (!b.sentData || notHttp(b));
  }

  /**
   * True once a CONNECT answered 2xx (or a 101 Switching Protocols) made the connection a tunnel: the
   * bytes that follow on both sides are another protocol's (TLS, most often), which a consumer may
   * hand to another analyzer.
   */
  get tunnel(): boolean {
    return this.#dirs[0].state === kStateTunnel && this.#dirs[1].state === kStateTunnel;
  }

  /**
   * Bytes this parser holds between calls, for a budget shared by all connections: heads spread over
   * chunks (at most maxHeaderBytes per direction; none between messages) and requests waiting for
   * their response. (The few bytes of a line start carried while resynchronising are not counted.)
   */
  get heldBytes(): number {
    const a = this.#dirs[0];
    const b = this.#dirs[1];
    return (a.buf === null ? 0 : a.buf.length) + (b.buf === null ? 0 : b.buf.length) + this.#pending.length * kPendingEntryBytes;
  }

  /**
   * Bytes of direction `dir` (0 = the side that opened the connection), in order: chunk[start, end), by
   * default the whole chunk. `chunk` is only read during the call.
   */
  data(dir: 0 | 1, chunk: Uint8Array, ts: number, start = 0, end = chunk.length): void {
    const d = this.#dirs[dir];
    if (end <= start) return;
    d.sentData = true;
    this.#ts = ts;
    if (d.expectWaiting) this.#bodyOrNext(d, chunk, start, end);
    let pos = start;
    while (pos < end) {
      switch (d.state) {
        case kStateHead:
          pos = this.#head(d, chunk, pos, end);
          break;
        case kStateBody: {
          const n = Math.min(d.remaining, end - pos);
          d.remaining -= n;
          pos += n;
          if (d.remaining === 0) this.#messageDone(d);
          break;
        }
        case kStateChunkData: {
          const n = Math.min(d.remaining, end - pos);
          d.remaining -= n;
          pos += n;
          if (d.remaining === 0) {
            d.state = kStateChunkEnd;
            d.chunkCr = false;
          }
          break;
        }
        case kStateChunkSize:
        case kStateChunkExt:
        case kStateChunkEnd:
        case kStateTrailer:
          pos = this.#chunked(d, chunk, pos, end);
          break;
        case kStateResync:
          pos = this.#resync(d, dir, chunk, pos, end);
          break;
        default:
          // Until-close bodies, paused, tunnel and dead directions ignore their bytes.
          return;
      }
    }
  }

  /** `bytes` bytes of direction `dir` are missing (reported by the reassembler). */
  gap(dir: 0 | 1, bytes: number, ts: number): void {
    const d = this.#dirs[dir];
    this.#ts = ts;
    if (bytes <= 0) return;
    d.sentData = true;
    d.expectWaiting = d.bodyOptional = false;
    switch (d.state) {
      case kStateBody:
        if (bytes <= d.remaining) {
          // Inside a body we skip anyway: nothing is lost.
          d.remaining -= bytes;
          if (d.remaining === 0) this.#messageDone(d);
          return;
        }
        break;
      case kStateChunkData:
        if (bytes <= d.remaining) {
          d.remaining -= bytes;
          if (d.remaining === 0) {
            d.state = kStateChunkEnd;
            d.chunkCr = false;
          }
          return;
        }
        break;
      case kStateUntilClose:
      case kStatePaused:
      case kStateTunnel:
      case kStateDead:
      case kStateClosed:
        return;
      default:
        break;
    }
    this.#weird("http_content_gap", `${bytes} bytes missing in direction ${dir}`);
    this.#startResync(d, true);
  }

  /** The connection ended: a head still being assembled is reported, and everything stops. */
  end(ts: number): void {
    this.#ts = ts;
    for (const d of this.#dirs) {
      if (d.state === kStateHead && (d.bufLen > 0 || d.lineLen > 0)) {
        this.#weird("http_truncated_head", `${d.bufLen} bytes of an incomplete head`);
      }
      if (d.state !== kStateDead) d.state = kStateClosed;
      d.buf = null;
      d.bufLen = 0;
    }
  }

  #weird(name: string, detail: string): void {
    this.#sink.weird(name, detail, this.#ts);
  }

  /** #weird for parseHead, made once per connection rather than once per message. */
  readonly #headWeird = (name: string, detail: string): void => this.#weird(name, detail);

  /**
   * Assembles a head from chunk[pos, end); returns where the next state starts reading. When the whole
   * head lies in this chunk and nothing was buffered it is parsed in place, without a copy.
   */
  #head(d: Direction, chunk: Uint8Array, pos: number, end: number): number {
    if (d.bufLen === 0 && d.lineLen === 0 && d.startKind < 0) {
      // Empty lines before a start line are allowed (RFC 9112 2.2), e.g. a stray CRLF after a POST body.
      while (pos < end && (chunk[pos] === CR || chunk[pos] === LF)) pos++;
      if (pos === end) return end;
    }
    // [start, i): bytes of this chunk that belong to the head and are not in the buffer yet.
    let start = pos;
    let i = pos;
    // The LFs of a head found whole in this chunk, for parseHead (see lineFeeds).
    let recorded = 0;
    for (;;) {
      const lf = scanLine(chunk, i, end);
      if (recorded < kRecordedLines) lineFeeds[recorded] = lf;
      recorded++;
      if (lf < 0) {
        if (lineHasControl && (d.startKind < 0 || (this.#firstMessage() && !d.startVersioned))) {
          // Binary bytes where a start line (or the first message's header) should be: do not keep 64 KiB of
          // them before saying so.
          this.#rejectHead(d, d.startKind < 0 ? "http_bad_start_line" : "http_bad_header_line", chunk, i, end, false);
          return end;
        }
        if (d.lineLen === 0) d.lineFirst = chunk[i]!;
        d.lineLen += end - i;
        this.#keep(d, chunk, start, end);
        return end;
      }
      const lineLen = d.lineLen + (lf - i);
      const first = d.lineLen > 0 ? d.lineFirst : chunk[i]!;
      d.lineLen = 0;
      if (d.startKind < 0) {
        // The start line is complete: classify it now, so garbage is caught at its first line end.
        let ok: boolean;
        if (d.bufLen === 0) {
          ok = this.#startLine(d, chunk, start, lf);
        } else {
          if (!this.#keep(d, chunk, start, lf + 1)) return end;
          start = lf + 1;
          ok = this.#startLine(d, d.buf!, 0, d.bufLen - 1);
        }
        if (!ok) return d.state === kStateDead ? end : lf + 1;
      } else if (lineHasControl && this.#firstMessage() && !d.startVersioned) {
        // A header line with binary bytes before any message, after a version-less "request line": another
        // protocol's command, then its data. (After a versioned start line or an earlier message, such a
        // line is only a header with odd bytes: a control byte must not hide a request.)
        this.#rejectHead(d, "http_bad_header_line", chunk, i, lf, true);
        return d.state === kStateDead ? end : lf + 1;
      } else if (lineLen === 0 || (lineLen === 1 && first === CR)) {
        // The empty line: the head is complete.
        if (d.bufLen === 0) {
          this.#headDone(d, chunk, start, lf + 1, recorded <= kRecordedLines ? recorded : 0);
        } else {
          if (!this.#keep(d, chunk, start, lf + 1)) return end;
          this.#headDone(d, d.buf!, 0, d.bufLen);
        }
        return lf + 1;
      }
      i = lf + 1;
      if (i >= end) {
        this.#keep(d, chunk, start, end);
        return end;
      }
    }
  }

  /** Classifies the complete start line bytes[start, lf); false when it was rejected. */
  #startLine(d: Direction, bytes: Uint8Array, start: number, lf: number): boolean {
    const kind = startLineKind(bytes, start, lf - start);
    if (kind === kLineInvalid) {
      this.#rejectHead(d, "http_bad_start_line", bytes, start, lf, true);
      return false;
    }
    if (kind === kLineUnknownRequest) {
      let t = start;
      while (t < lf && bytes[t] !== SP) t++;
      this.#weird("http_unknown_method", quote(bytes, start, t));
    }
    d.startKind = kind;
    d.startVersioned = kind === kLineResponse || endsInVersion(bytes, start, lf > start && bytes[lf - 1] === CR ? lf - 1 : lf);
    return true;
  }

  /** True while no message head has completed on the connection: whether it is HTTP at all is still open. */
  #firstMessage(): boolean {
    return this.#dirs[0].messages + this.#dirs[1].messages === 0;
  }

  /**
   * A head that is not one (`why` names the weird): look for the next start line. After earlier messages a
   * body was probably mis-framed; as the first thing a side says, it is either not HTTP (and `failed` says
   * so) or a capture that began inside a message, where the next start line is still worth finding.
   */
  #rejectHead(d: Direction, why: string, bytes: Uint8Array, start: number, end: number, lineEnded: boolean): void {
    this.#weird(why, quote(bytes, start, end));
    if (this.#firstMessage() && hasControlBytes(bytes, start, end)) {
      // Binary bytes before any message on the connection: another protocol whose first line looked like
      // a request (a line-based one, "GET blob\n"). Scanning 64 KiB of it for a start line would find none.
      this.#die(d);
      return;
    }
    this.#startResync(d, lineEnded);
  }

  /** Copies head bytes into the direction's buffer; false (and the direction given up) past maxHeaderBytes. */
  #keep(d: Direction, chunk: Uint8Array, start: number, end: number): boolean {
    const n = end - start;
    if (n <= 0) return true;
    if (d.bufLen + n > this.#maxHeaderBytes) {
      this.#weird("http_header_too_long", `more than ${this.#maxHeaderBytes} bytes of head`);
      this.#die(d);
      return false;
    }
    let buf = d.buf;
    if (buf === null || buf.length < d.bufLen + n) {
      let size = buf === null ? 512 : buf.length;
      while (size < d.bufLen + n) size *= 2;
      const grown = new Uint8Array(Math.min(size, this.#maxHeaderBytes));
      if (buf !== null) grown.set(buf.subarray(0, d.bufLen));
      buf = grown;
      d.buf = buf;
    }
    buf.set(chunk.subarray(start, end), d.bufLen);
    d.bufLen += n;
    return true;
  }

  #die(d: Direction): void {
    d.state = kStateDead;
    d.buf = null;
    d.bufLen = 0;
  }

  /** A complete head lies in bytes[off, end): emit its event and set up the body. `recorded`: see parseHead. */
  #headDone(d: Direction, bytes: Uint8Array, off: number, end: number, recorded = 0): void {
    const kind = d.startKind;
    const head = parseHead(bytes, off, end, kind, this.#headWeird, recorded);
    d.messages++;
    d.startKind = -1;
    d.framingBytes = 0;
    d.bufLen = 0;
    // Not kept for the next head: an idle connection holds nothing (see heldBytes).
    d.buf = null;
    if (kind === kLineResponse) {
      if (d.role === kRoleUnknown) d.role = kRoleServer;
      this.#response(d, head);
    } else {
      if (d.role === kRoleUnknown) d.role = kRoleClient;
      this.#request(d, head);
    }
  }

  #request(d: Direction, head: ParsedHead): void {
    const method = head.first;
    const bare = method.startsWith("M-") ? method.slice(2) : method;
    const tunnel = bare === "CONNECT" || bare === "SSTP_DUPLEX_POST";
    if (this.#pending.length >= kMaxPendingRequests) {
      this.#weird("http_too_many_pending_requests", `more than ${kMaxPendingRequests} requests without a response`);
      this.#pending.shift();
    }
    const expects = head.expect !== undefined && tokens(head.expect).includes("100-continue");
    this.#pending.push((bare === "HEAD" ? kPendingHead : 0) | (tunnel ? kPendingTunnel : 0) | (d === this.#dirs[1] ? kPendingFrom1 : 0) | (expects ? kPendingExpect : 0));
    if (head.kind === kLineRequest) {
      this.#sink.request(new RequestHead(method, head.second, head.rest, head.host ?? "", head), this.#ts);
    }
    if (tunnel) {
      // Whatever the client sends before the answer is either tunnel data or nothing: wait for the response.
      d.state = kStatePaused;
      return;
    }
    // Requests have a body only when they say so (RFC 9112 6.3): chunked, else Content-Length, else none.
    this.#body(d, head, false);
    d.expectWaiting = expects && (d.state === kStateBody || d.state === kStateChunkSize);
    d.bodyOptional = false;
  }

  /**
   * The first bytes after a request that waited for 100 Continue (see Direction.expectWaiting): when a
   * final answer came before them and they start a request, the client left the body out (curl does
   * after a 417 or a 401), and they are the next request's head, not the body.
   */
  #bodyOrNext(d: Direction, chunk: Uint8Array, start: number, end: number): void {
    d.expectWaiting = false;
    if (!d.bodyOptional) return;
    d.bodyOptional = false;
    // (A body that starts like a request line is taken for one: the rarer case, and a few bytes could
    // not tell them apart.)
    if (sniffHttp(chunk, start, end - start) === "request") this.#resetHead(d);
  }

  #response(d: Direction, head: ParsedHead): void {
    const code = head.second;
    let status = statusCode(code);
    if (status < 0) {
      status = 0;
      this.#weird("http_bad_status_code", code);
    }
    const interim = status >= 100 && status < 200;
    // 1xx answers come before the real one and do not consume the request.
    const req = interim ? this.#pending[0] : this.#pending.shift();
    if (req === undefined && !interim) this.#weird("http_unmatched_response", `${status} without a pending request`);
    this.#sink.response(new ResponseHead(status, head.rest, head.first, head), this.#ts);

    const tunnel = req !== undefined && (req & kPendingTunnel) !== 0;
    if (status === 101 || (tunnel && status >= 200 && status < 300)) {
      // Switching protocols, or a tunnel: what follows on both sides is not HTTP.
      for (const x of this.#dirs) {
        x.state = kStateTunnel;
        x.buf = null;
        x.bufLen = 0;
      }
      return;
    }
    if (req !== undefined && !interim) {
      const from = this.#dirs[(req & kPendingFrom1) !== 0 ? 1 : 0];
      // A final answer before the body it was waiting for: the client may leave the body out.
      if ((req & kPendingExpect) !== 0 && from.expectWaiting) from.bodyOptional = true;
      // The tunnel was refused: the client goes on speaking HTTP.
      if (tunnel && from.state === kStatePaused) this.#resetHead(from);
    }
    if (interim || status === 204 || status === 304 || (req !== undefined && (req & kPendingHead) !== 0)) {
      this.#messageDone(d);
      return;
    }
    this.#body(d, head, true);
  }

  /** Sets up the body of a message from its framing headers (RFC 9112 6.3). */
  #body(d: Direction, head: ParsedHead, isResponse: boolean): void {
    const te = head.transferEncoding;
    const cl = head.contentLength;
    if (te !== undefined) {
      if (cl !== undefined) this.#weird("http_content_length_and_chunked", `Transfer-Encoding: ${te}; Content-Length: ${cl}`);
      const codings = tokens(te);
      if (codings[codings.length - 1] === "chunked") {
        d.state = kStateChunkSize;
        d.remaining = 0;
        d.chunkDigits = 0;
        d.chunkCr = false;
        return;
      }
      this.#weird("http_bad_transfer_encoding", te);
      if (isResponse) {
        d.state = kStateUntilClose;
        return;
      }
      this.#messageDone(d);
      return;
    }
    if (cl !== undefined) {
      const n = contentLength(cl);
      if (n < 0) {
        // Negative or nonsense: a smuggling attempt or a broken client; read no body, as tshark does.
        this.#weird("http_bad_content_length", cl);
      } else if (n > 0) {
        d.state = kStateBody;
        d.remaining = n;
        return;
      }
      this.#messageDone(d);
      return;
    }
    if (isResponse) {
      // RFC 9112 6.3 (8): a response without a declared length runs until the server closes, keep-alive
      // or not (a server that sends one cannot keep the connection). Zeek and tshark read it so.
      d.state = kStateUntilClose;
      return;
    }
    this.#messageDone(d);
  }

  #messageDone(d: Direction): void {
    this.#resetHead(d);
  }

  #resetHead(d: Direction): void {
    d.state = kStateHead;
    d.startKind = -1;
    d.lineLen = 0;
    d.bufLen = 0;
    d.framingBytes = 0;
    d.remaining = 0;
  }

  /** Chunked framing: size lines, the CRLF after data, trailers. Any byte may end a chunk. */
  #chunked(d: Direction, chunk: Uint8Array, pos: number, end: number): number {
    while (pos < end) {
      const c = chunk[pos]!;
      switch (d.state) {
        case kStateChunkSize: {
          const v = c >= 0x30 && c <= 0x39 ? c - 0x30 : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 0x57 : -1;
          if (v >= 0 && !d.chunkCr) {
            if (d.chunkDigits >= 13) return this.#badChunk(d, "chunk size too large", chunk, pos, end);
            d.remaining = d.remaining * 16 + v;
            d.chunkDigits++;
            pos++;
          } else if (d.chunkDigits > 0 && (c === 0x3b || c === SP || c === HT)) {
            d.state = kStateChunkExt;
            d.framingBytes = 0;
            pos++;
          } else if (c === CR && !d.chunkCr) {
            d.chunkCr = true;
            pos++;
          } else if (c === LF && d.chunkDigits > 0) {
            pos++;
            this.#chunkSizeDone(d);
          } else {
            return this.#badChunk(d, "bad chunk size line", chunk, pos, end);
          }
          break;
        }
        case kStateChunkExt: {
          const lf = indexOfLineFeed(chunk, pos, end);
          const stop = lf < 0 ? end : lf;
          d.framingBytes += stop - pos;
          if (d.framingBytes > this.#maxHeaderBytes) return this.#badChunk(d, "chunk extension too long", chunk, pos, end);
          if (lf < 0) return end;
          pos = lf + 1;
          this.#chunkSizeDone(d);
          break;
        }
        case kStateChunkEnd:
          if (c === CR && !d.chunkCr) {
            d.chunkCr = true;
            pos++;
          } else if (c === LF) {
            pos++;
            d.state = kStateChunkSize;
            d.remaining = 0;
            d.chunkDigits = 0;
            d.chunkCr = false;
          } else {
            return this.#badChunk(d, "no line end after chunk data", chunk, pos, end);
          }
          break;
        case kStateTrailer: {
          // Trailer fields up to an empty line; skipped, only their size is bounded.
          const lf = indexOfLineFeed(chunk, pos, end);
          const stop = lf < 0 ? end : lf;
          if (stop > pos && d.lineLen === 0) d.lineFirst = chunk[pos]!;
          const lineLen = d.lineLen + (stop - pos);
          d.framingBytes += stop - pos;
          if (d.framingBytes > this.#maxHeaderBytes) return this.#badChunk(d, "trailer too long", chunk, pos, end);
          if (lf < 0) {
            d.lineLen = lineLen;
            return end;
          }
          pos = lf + 1;
          d.lineLen = 0;
          if (lineLen === 0 || (lineLen === 1 && d.lineFirst === CR)) {
            this.#messageDone(d);
            return pos;
          }
          break;
        }
        default:
          return pos;
      }
      if (d.state === kStateChunkData) return pos;
    }
    return pos;
  }

  /** A chunk-size line ended: data follows, or the last chunk and its trailers. */
  #chunkSizeDone(d: Direction): void {
    d.chunkCr = false;
    d.framingBytes = 0;
    if (d.remaining === 0) {
      d.state = kStateTrailer;
      d.lineLen = 0;
    } else {
      d.state = kStateChunkData;
    }
  }

  #badChunk(d: Direction, why: string, chunk: Uint8Array, pos: number, end: number): number {
    this.#weird("http_bad_chunk", `${why}: ${quote(chunk, pos, end)}`);
    this.#startResync(d, false);
    return pos;
  }

  /** Starts looking for the next start line; `atLineStart` says whether the next byte may begin one. */
  #startResync(d: Direction, atLineStart: boolean): void {
    d.state = kStateResync;
    d.resyncScanned = 0;
    d.atLineStart = atLineStart;
    d.carryLen = 0;
    d.startKind = -1;
    d.lineLen = 0;
    d.buf = null;
    d.bufLen = 0;
    d.framingBytes = 0;
  }

  /**
   * Scans for a line that starts a message this side would send: a known method and a space from a client,
   * "HTTP/" from a server, either while the side is unknown. Lines of garbage and bodies are skipped.
   */
  #resync(d: Direction, dir: 0 | 1, chunk: Uint8Array, pos: number, end: number): number {
    if (d.carryLen > 0) {
      // A line start split across chunks: judge it with the first bytes of this chunk appended.
      const carry = d.carry!;
      const take = Math.min(end - pos, carry.length - d.carryLen);
      const probe = new Uint8Array(d.carryLen + take);
      probe.set(carry.subarray(0, d.carryLen));
      probe.set(chunk.subarray(pos, pos + take), d.carryLen);
      const v = this.#candidate(d, probe, 0, probe.length);
      if (v === 1) {
        const carried = carry.slice(0, d.carryLen);
        d.carryLen = 0;
        this.#resynced(d);
        this.#keepCarried(d, carried);
        return pos;
      }
      if (v === 2 && take === end - pos) {
        carry.set(chunk.subarray(pos, end), d.carryLen);
        d.carryLen += end - pos;
        return end;
      }
      d.carryLen = 0;
      d.atLineStart = false;
    }
    while (pos < end) {
      if (d.atLineStart) {
        const v = this.#candidate(d, chunk, pos, end);
        if (v === 1) {
          this.#resynced(d);
          return pos;
        }
        if (v === 2) {
          d.carry ??= new Uint8Array(kLongestMethod + 2);
          d.carry.set(chunk.subarray(pos, end));
          d.carryLen = end - pos;
          return end;
        }
        d.atLineStart = false;
      }
      const lf = indexOfLineFeed(chunk, pos, end);
      const stop = lf < 0 ? end : lf + 1;
      d.resyncScanned += stop - pos;
      if (d.resyncScanned > this.#maxResyncBytes) {
        this.#weird("http_resync_failed", `no start line in ${d.resyncScanned} bytes of direction ${dir}`);
        this.#die(d);
        return end;
      }
      if (lf < 0) return end;
      pos = lf + 1;
      d.atLineStart = true;
    }
    return pos;
  }

  /** 1 when bytes at p start a plausible message for this side, 2 when too few bytes to tell, 0 otherwise. */
  #candidate(d: Direction, bytes: Uint8Array, p: number, end: number): number {
    let maybe = false;
    if (d.role !== kRoleClient) {
      const v = statusPrefix(bytes, p, end);
      if (v === 1) return 1;
      if (v === 2) maybe = true;
    }
    if (d.role !== kRoleServer) {
      let t = p;
      while (t < end && t - p <= kLongestMethod && bytes[t] !== SP) t++;
      if (t < end && bytes[t] === SP && methodKind(bytes, p, t - p) !== 0) return 1;
      if (t === end && methodPrefix(bytes, p, t - p)) maybe = true;
    }
    return maybe ? 2 : 0;
  }

  #resynced(d: Direction): void {
    this.#weird("http_resync", `resynchronised after ${d.resyncScanned} bytes`);
    this.#resetHead(d);
  }

  /** Puts the carried bytes of a line start back in front of the head being assembled. */
  #keepCarried(d: Direction, carried: Uint8Array): void {
    d.lineFirst = carried[0]!;
    d.lineLen = carried.length;
    this.#keep(d, carried, 0, carried.length);
  }
}
