import { DnsTcpFramer, parseDnsMessage, type DnsMessage } from "../analyzers/dns-parser.ts";
import { HttpConnectionParser, sniffHttp, type HttpRequestHead, type HttpResponseHead } from "../analyzers/http-parser.ts";
import {
  sniffTls,
  TlsCertificateParser,
  type TlsCertificates,
  TlsClientHelloParser,
  type TlsClientHello,
  type TlsServerHello,
  TlsServerHelloParser,
} from "../analyzers/tls-hello.ts";
import type { Flow } from "./flow-record.ts";
import { ByteBudget } from "./byte-budget.ts";
import { type ReassemblyLimits, type StreamSink, TcpReassembler } from "./tcp-reassembler.ts";

/** Which application analyzers have listeners. */
export interface AppWants {
  http: boolean;
  /** The ClientHello (`tls.client_hello`). */
  tls: boolean;
  /** The ServerHello (`tls.server_hello`). */
  tlsServer?: boolean;
  /** The server's certificates, up to TLS 1.2 (`tls.certificate`). */
  tlsCertificate?: boolean;
  dns: boolean;
  weird: boolean;
}

/** Where a session's findings go (the flow analyzer turns them into events). `dir` 0 is a→b. */
export interface SessionEvents {
  httpRequest(flow: Flow, dir: 0 | 1, head: HttpRequestHead, ts: number): void;
  httpResponse(flow: Flow, dir: 0 | 1, head: HttpResponseHead, ts: number): void;
  tlsHello(flow: Flow, dir: 0 | 1, hello: TlsClientHello, ts: number): void;
  tlsServerHello(flow: Flow, dir: 0 | 1, hello: TlsServerHello, ts: number): void;
  tlsCertificates(flow: Flow, dir: 0 | 1, certificates: TlsCertificates, ts: number): void;
  dns(flow: Flow, dir: 0 | 1, message: DnsMessage, ts: number): void;
  weird(flow: Flow, name: string, detail: string, ts: number): void;
}

const kUndecided = 0;
const kHttp = 1;
const kTls = 2;
const kDns = 3;
/** Nothing (more) to learn from this connection: the streams are detached and cost nothing. */
const kDone = 4;

const kConnect = new TextEncoder().encode("CONNECT ");

/** TLS 1.2's version number, the legacy_version every later hello carries too; TLS 1.3's. */
const kTls12 = 0x0303;
const kTls13 = 0x0304;

type HelloParser = TlsClientHelloParser | TlsServerHelloParser | TlsCertificateParser;

/** Whether `bytes` start with `prefix`: null when they are too short to tell. */
function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean | null {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return false;
  return n === prefix.length ? true : null;
}

/** Bytes of a stream's start kept while content sniffing says "maybe". */
const kMaxSniffBytes = 64;

/** Feeds one direction's reassembled bytes back into its session. */
class DirectionSink implements StreamSink {
  constructor(
    private readonly session: TcpSession,
    private readonly dir: 0 | 1,
  ) {}
  data(bytes: Uint8Array, start: number, end: number, ts: number): void {
    this.session.data(this.dir, bytes, start, end, ts);
  }
  gap(bytes: number, ts: number): void {
    this.session.gap(this.dir, bytes, ts);
  }
}

/**
 * The two TCP streams of a flow and the application analyzer they feed.
 *
 * The analyzer is chosen by content, on any port (Zeek's dynamic protocol detection): the first bytes
 * of a direction are sniffed for an HTTP request or status line or a TLS ClientHello; on TCP port 53,
 * what is not HTTP is DNS. When neither direction looks like anything a listener wants, both streams are detached, so a
 * bulk transfer costs one call per segment and no copies.
 */
export class TcpSession {
  private readonly streams: [TcpReassembler, TcpReassembler];
  private kind = kUndecided;
  private http: HttpConnectionParser | null = null;
  /** Per direction, the hello parser still reading it (the client's side a ClientHello, the server's a ServerHello). */
  private readonly tls: [HelloParser | null, HelloParser | null] = [null, null];
  private dnsFramers: [DnsTcpFramer, DnsTcpFramer] | null = null;
  private readonly sniffed: [Uint8Array | null, Uint8Array | null] = [null, null];
  private readonly refused: [boolean, boolean] = [false, false];
  /** Bytes of parserBudget reserved for what the analyzer holds between segments. */
  private held = 0;

  /**
   * `budget` bounds the out-of-order bytes of all streams; `parserBudget` what all connections' analyzers
   * hold between segments (a head, hello or DNS message spread over several). A connection whose
   * analyzer needs more than is left is analyzed no further (weird `parser_budget_exhausted`).
   */
  constructor(
    private readonly flow: Flow,
    private readonly wants: AppWants,
    private readonly events: SessionEvents,
    limits: ReassemblyLimits,
    budget: ByteBudget,
    private readonly parserBudget: ByteBudget = unbounded,
  ) {
    this.streams = [
      new TcpReassembler(new DirectionSink(this, 0), limits, budget),
      new TcpReassembler(new DirectionSink(this, 1), limits, budget),
    ];
  }

  /** True once nothing more is to be learnt from the connection: its segments need not be passed on. */
  get done(): boolean {
    return this.kind === kDone;
  }

  /** One TCP segment of direction `dir` (0: a→b), its payload bytes[start, end); valid only during the call. */
  segment(dir: 0 | 1, seq: number, syn: boolean, fin: boolean, bytes: Uint8Array, ts: number, start = 0, end = bytes.length): void {
    this.streams[dir].segment(seq, syn, fin, bytes, ts, start, end);
  }

  /**
   * Direction `dir` acknowledged the other direction's bytes before `ack`. Costs one check unless the
   * other direction holds data behind a hole or dropped some beyond any window.
   */
  acked(dir: 0 | 1, ack: number, ts: number): void {
    const other = this.streams[1 - dir]!;
    if (other.wantsAcks) other.acked(ack, ts);
  }

  /** End of the flow: deliver what is held, then let the parser see the end. */
  finish(ts: number): void {
    this.streams[0].flush(ts);
    this.streams[1].flush(ts);
    this.ending = true;
    this.http?.end(ts);
    this.detach();
    this.release();
  }

  /**
   * In-order bytes of direction `dir`, bytes[start, end). HTTP, which sees every byte of a connection,
   * takes the range as it is; the others (a TLS hello, DNS over TCP, the first bytes sniffed) are rare
   * enough for a view.
   */
  data(dir: 0 | 1, bytes: Uint8Array, start: number, end: number, ts: number): void {
    switch (this.kind) {
      case kHttp:
        this.feeding = dir;
        this.http!.data(dir, bytes, ts, start, end);
        // Both sides given up on (e.g. a line-based protocol whose first line looked like a request):
        // the rest of the connection costs nothing more.
        if (this.http!.failed) this.stop();
        else if (this.http!.tunnel) this.enterTunnel();
        else this.account(this.http!.heldBytes, ts);
        return;
      case kTls:
        if (this.tls[dir] !== null) this.feedTls(dir, bytes.subarray(start, end), ts);
        return;
      case kDns: {
        const framers = this.dnsFramers!;
        framers[dir].data(bytes.subarray(start, end), ts);
        this.account(framers[0].heldBytes + framers[1].heldBytes, ts);
        return;
      }
      case kUndecided:
        // Inside a tunnel a side that did not start with a TLS hello is not sniffed again (its later
        // bytes are that protocol's, not a start).
        if (!(this.tunnelled && this.refused[dir])) this.sniff(dir, bytes.subarray(start, end), ts);
        return;
    }
  }

  /** Bytes of direction `dir` that will never arrive. */
  gap(dir: 0 | 1, bytes: number, ts: number): void {
    if (this.wants.weird) this.events.weird(this.flow, "content_gap", `${bytes} bytes missing ${dir === 0 ? "a->b" : "b->a"}`, ts);
    switch (this.kind) {
      case kHttp:
        this.http!.gap(dir, bytes, ts);
        return;
      case kDns:
        this.dnsFramers![dir].gap(bytes);
        return;
      case kTls:
        // A hello with a hole in it cannot be read: that side's is given up (not made up of the bytes
        // on both sides of the hole).
        if (this.tls[dir] !== null) this.tlsDone(dir, ts);
        return;
      case kUndecided:
        // A stream whose start was lost cannot be sniffed reliably any more.
        this.refuse(dir);
        return;
    }
  }

  private sniff(dir: 0 | 1, chunk: Uint8Array, ts: number): void {
    const held = this.sniffed[dir];
    const bytes = held === null ? chunk : concat(held, chunk);
    const verdict = this.classify(bytes);
    if (verdict === kUndecided) {
      if (bytes.length < kMaxSniffBytes) {
        this.sniffed[dir] = bytes === chunk ? chunk.slice() : bytes;
        return;
      }
      this.refuse(dir);
      return;
    }
    if (verdict === kDone) {
      this.refuse(dir);
      return;
    }
    this.sniffed[dir] = null;
    this.start(verdict, dir, bytes);
    this.data(dir, bytes, 0, bytes.length, ts);
    const other = (1 - dir) as 0 | 1;
    const otherHeld = this.sniffed[other];
    if (otherHeld !== null && this.kind !== kDone) {
      this.sniffed[other] = null;
      this.data(other, otherHeld, 0, otherHeld.length, ts);
    }
  }

  /** Which analyzer the first bytes of a direction call for; kUndecided when too few bytes to tell. */
  private classify(bytes: Uint8Array): number {
    const w = this.wants;
    const dnsPort = w.dns && (this.flow.aport === 53 || this.flow.bport === 53);
    let maybe = false;
    // Content before ports: HTTP on port 53 is HTTP, whether or not anyone listens to it (a DNS
    // message never starts like a request or status line), so that what is found there does not
    // depend on which events the plugins want.
    const tlsWanted = w.tls || w.tlsServer === true || w.tlsCertificate === true;
    if (this.tunnelled) {
      const t = sniffTls(bytes, 0, bytes.length);
      return t === "client-hello" || t === "server-hello" ? kTls : t === "maybe" ? kUndecided : kDone;
    }
    if (w.http || dnsPort || tlsWanted) {
      const h = sniffHttp(bytes, 0, bytes.length);
      if (h === "request" || h === "response") {
        if (w.http) return kHttp;
        // Without HTTP listeners, HTTP is followed only to the TLS inside a proxy's CONNECT tunnel.
        if (!tlsWanted || h === "response") return kDone;
        const connect = startsWith(bytes, kConnect);
        return connect === null ? kUndecided : connect ? kHttp : kDone;
      }
      if (h === "maybe") maybe = true;
    }
    if (dnsPort) return maybe ? kUndecided : kDns;
    if (tlsWanted) {
      const t = sniffTls(bytes, 0, bytes.length);
      if (t === "client-hello" || t === "server-hello") return kTls;
      if (t === "maybe") maybe = true;
    }
    return maybe ? kUndecided : kDone;
  }

  private start(kind: number, dir: 0 | 1, first: Uint8Array): void {
    this.kind = kind;
    const flow = this.flow;
    const events = this.events;
    if (kind === kHttp) {
      flow.service = "http";
      this.http = new HttpConnectionParser({
        request: (head, ts) => {
          this.clientDir = this.feeding;
          events.httpRequest(flow, this.feeding, head, ts);
        },
        response: (head, ts) => events.httpResponse(flow, this.ending ? ((1 - this.clientDir) as 0 | 1) : this.feeding, head, ts),
        weird: (name, detail, ts) => {
          if (this.wants.weird) events.weird(flow, name, detail, ts);
        },
      });
    } else if (kind === kTls) {
      // Inside an HTTP proxy's tunnel the connection has been HTTP first: "http,tls", as Zeek writes it.
      flow.service = flow.service === null ? "tls" : `${flow.service},tls`;
      // The hello that was sniffed tells which side is the client (its own hello may have been lost).
      const client = sniffTls(first, 0, first.length) === "server-hello" ? ((1 - dir) as 0 | 1) : dir;
      this.tlsClient = client;
      if (this.wants.tls) this.tls[client] = new TlsClientHelloParser();
      // The ServerHello is read also when only ClientHellos are wanted: it says whether a second one
      // follows (after a HelloRetryRequest) or none does.
      this.tls[1 - client] = new TlsServerHelloParser();
      // A client whose hello nobody wants costs nothing more (an upload is not reassembled for it).
      if (this.tls[client] === null) this.streams[client].detach();
    } else {
      flow.service = "dns";
      const framer = (d: 0 | 1) =>
        new DnsTcpFramer((bytes, offset, length, ts) => {
          const m = parseDnsMessage(bytes, offset, length);
          if ("error" in m) {
            if (this.wants.weird) events.weird(flow, "dns_unparsed", m.error, ts);
          } else {
            events.dns(flow, d, m, ts);
          }
        });
      this.dnsFramers = [framer(0), framer(1)];
    }
  }

  /**
   * The parser reports messages without saying from which side, but it reports them while it is
   * being fed: the direction being fed is the sender. At the end of the connection (a response read
   * until close), the sender is the side opposite the last request.
   */
  private feeding: 0 | 1 = 0;
  private clientDir: 0 | 1 = 0;
  private ending = false;

  /** Which side sends the ClientHello (the other side's ServerHello may be all that was captured). */
  private tlsClient: 0 | 1 = 0;
  /** The server answered with a HelloRetryRequest. */
  private retried = false;
  /** Hellos read so far from each side (two after a HelloRetryRequest). */
  private readonly hellos: [number, number] = [0, 0];

  /**
   * The hellos of a connection: one from each side, or two from each when the server answers the
   * first ClientHello with a HelloRetryRequest (TLS 1.3), as tshark reports them. A client that offers
   * TLS 1.3 is therefore read on after its hello until the server's answer shows which it is (or, when
   * the answer is not in the capture, for at most 64 KiB of records); what it sends meanwhile (a
   * ChangeCipherSpec, early data) is passed over without being kept. The server's hello is read for
   * that answer also when only ClientHellos are wanted.
   */
  private feedTls(dir: 0 | 1, chunk: Uint8Array, ts: number): void {
    const parser = this.tls[dir]!;
    const r = parser.data(chunk, ts);
    if (r === null) return this.account(this.tlsHeld(), ts);
    if (r === "not-tls") return this.tlsDone(dir, ts);
    if (parser instanceof TlsCertificateParser) {
      this.events.tlsCertificates(this.flow, dir, r as TlsCertificates, ts);
      return this.tlsDone(dir, ts);
    }
    const first = this.hellos[dir]++ === 0;
    // A second hello must be whole and carry TLS 1.2's legacy_version: what a TLS 1.2 client sends
    // after its ChangeCipherSpec (an encrypted Finished, in a handshake record) can start like one.
    const message = r as TlsClientHello | TlsServerHello;
    if (!first && (message.truncated || message.version !== kTls12)) return this.tlsDone(dir, ts);
    const client = this.tlsClient;
    const server = (1 - client) as 0 | 1;
    let next: HelloParser | null = null;
    // Whether `next` reads on inside the record this message ended in (else from the next record).
    let sameRecord = false;
    if (dir === client) {
      const hello = r as TlsClientHello;
      this.events.tlsHello(this.flow, dir, hello, ts);
      // A retry was asked for, or may still be: the server has not answered.
      const unanswered = this.tls[server] !== null && this.hellos[server] === 0;
      if (first && (this.retried || (unanswered && hello.supportedVersions.includes(kTls13)))) next = new TlsClientHelloParser(true);
    } else {
      const hello = r as TlsServerHello;
      if (this.wants.tlsServer) this.events.tlsServerHello(this.flow, dir, hello, ts);
      if (first && hello.helloRetry) {
        this.retried = true;
        // The ServerHello that answers the client's second hello comes next on this side.
        if (this.wants.tlsServer) next = new TlsServerHelloParser(true);
      } else {
        // A ServerHello proper: no second ClientHello follows.
        if (first && this.tls[client] !== null && this.hellos[client] > 0) this.tlsDone(client, ts);
        // Up to TLS 1.2 the server's certificates follow it, in the clear (TLS 1.3 encrypts them).
        if (this.wants.tlsCertificate && !hello.helloRetry && hello.selectedVersion < kTls13) {
          next = new TlsCertificateParser();
          sameRecord = true;
        }
      }
    }
    if (next === null) {
      if (this.tls[dir] !== null) this.tlsDone(dir, ts);
      return;
    }
    // The next message is looked for in the bytes after this one: in the same record (a server's
    // certificates), or from the next (early data may share the first hello's segment).
    if (sameRecord) next.continueRecord(parser.recordLeft);
    else next.passOver(parser.recordLeft);
    this.tls[dir] = next;
    const rest = chunk.subarray(parser.unreadFrom);
    if (rest.length > 0) return this.feedTls(dir, rest, ts);
    this.account(this.tlsHeld(), ts);
  }

  /**
   * Side `dir` has given all the hellos it will (or shown it will not): its stream is detached, and the
   * connection once both have.
   */
  private tlsDone(dir: 0 | 1, ts: number): void {
    this.tls[dir] = null;
    this.streams[dir].detach();
    const client = this.tlsClient;
    const server = (1 - client) as 0 | 1;
    if (dir === client && !this.wants.tlsServer && !this.wants.tlsCertificate && this.tls[server] !== null) {
      // The server's hello was read only to tell whether a second ClientHello comes.
      this.tls[server] = null;
      this.streams[server].detach();
    } else if (dir === server && this.hellos[server] === 0 && !this.retried && this.hellos[client] === 1 && this.tls[client] !== null) {
      // The server's side was given up before its answer: no retry will be seen.
      this.tls[client] = null;
      this.streams[client].detach();
    }
    this.account(this.tlsHeld(), ts);
    if (this.tls[0] === null && this.tls[1] === null) this.stop();
  }

  private tlsHeld(): number {
    return (this.tls[0]?.heldBytes ?? 0) + (this.tls[1]?.heldBytes ?? 0);
  }

  /**
   * A CONNECT tunnel (or an upgrade) was opened: what follows on each side is sniffed afresh, as at
   * the start of a connection, so that TLS inside an HTTP proxy's tunnel is found (as Zeek and tshark
   * find it). The bytes that followed the opening head in the same segment are not seen (a client
   * waits for the proxy's answer before it says anything through the tunnel).
   */
  private enterTunnel(): void {
    this.http = null;
    this.release();
    if (!this.wants.tls && !this.wants.tlsServer && !this.wants.tlsCertificate) return this.stop();
    this.tunnelled = true;
    this.kind = kUndecided;
    this.sniffed[0] = this.sniffed[1] = null;
    this.refused[0] = this.refused[1] = false;
  }

  /** Inside a CONNECT tunnel only TLS is looked for: what looks like HTTP there is not the proxy's. */
  private tunnelled = false;

  private refuse(dir: 0 | 1): void {
    this.sniffed[dir] = null;
    this.refused[dir] = true;
    if (this.refused[0] && this.refused[1]) this.stop();
  }

  /** Nothing more to learn: no more bytes are reassembled or parsed. */
  private stop(): void {
    this.kind = kDone;
    this.detach();
    this.release();
  }

  /**
   * Keeps this connection's share of parserBudget equal to `now`, the bytes its analyzer holds. When the
   * budget cannot cover it, the analyzer is dropped with what it holds: one connection loses its
   * analysis rather than the host its memory (Suricata's app-layer memcap does the same).
   */
  private account(now: number, ts: number): void {
    const more = now - this.held;
    if (more === 0) return;
    if (more < 0 || this.parserBudget.tryReserve(more)) {
      if (more < 0) this.parserBudget.release(-more);
      this.held = now;
      return;
    }
    if (this.wants.weird) {
      const b = this.parserBudget;
      const detail = `${this.flow.service} analysis given up: it needed ${more} bytes more, and all connections' parsers hold ${b.usedBytes} of the ${b.totalBytes} allowed`;
      this.events.weird(this.flow, "parser_budget_exhausted", detail, ts);
    }
    this.http = null;
    this.tls[0] = this.tls[1] = null;
    this.dnsFramers = null;
    this.stop();
  }

  /** Gives back this connection's share of parserBudget (its analyzer holds nothing any more). */
  private release(): void {
    this.parserBudget.release(this.held);
    this.held = 0;
  }

  private detach(): void {
    this.streams[0].detach();
    this.streams[1].detach();
  }
}

/** For sessions made without a parser budget (tests of other behaviour). */
const unbounded = new ByteBudget(Number.MAX_SAFE_INTEGER);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
