/**
 * The application events as objects: built once per message (rare next to packets), kept by plugins
 * as they like. `toJSON` is the one JSON form, shared by event-log, the socket server and printers.
 */
import type {
  DnsAnswer,
  DnsEvent,
  DnsQuestion,
  FlowProto,
  FlowRecord,
  HttpRequestEvent,
  HttpResponseEvent,
  TlsCertificateEvent,
  TlsClientHelloEvent,
  TlsServerHelloEvent,
  WeirdEvent,
} from "../events.ts";
import type { DnsMessage } from "./dns-parser.ts";
import type { HttpRequestHead, HttpResponseHead } from "./http-parser.ts";
import { md5Hex } from "./md5.ts";
import { ja3sText, ja3Text } from "./tls-fingerprint.ts";
import type { TlsClientHello, TlsServerHello } from "./tls-hello.ts";
import type { X509Certificate } from "./x509-certificate.ts";

/** Where an application message was seen: time, packet, flow and the direction's endpoints. */
export interface MessageOrigin {
  ts: number;
  frame: number;
  flow: FlowRecord;
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

abstract class FlowMessage {
  readonly ts: number;
  readonly frame: number;
  readonly flow: FlowRecord;
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
  constructor(o: MessageOrigin) {
    this.ts = o.ts;
    this.frame = o.frame;
    this.flow = o.flow;
    this.src = o.src;
    this.sport = o.sport;
    this.dst = o.dst;
    this.dport = o.dport;
  }
  protected origin(): Record<string, unknown> {
    return {
      ts: this.ts,
      frame: this.frame,
      flow_id: this.flow.id,
      src: this.src,
      sport: this.sport,
      dst: this.dst,
      dport: this.dport,
    };
  }
}

/** An HTTP message: its headers object is the parser's, built when first read (most listeners never do). */
abstract class HttpMessage extends FlowMessage {
  readonly #head: { readonly headers: Record<string, string> };
  constructor(o: MessageOrigin, head: { readonly headers: Record<string, string> }) {
    super(o);
    this.#head = head;
  }
  get headers(): Record<string, string> {
    return this.#head.headers;
  }
}

/** `http.request` */
export class HttpRequest extends HttpMessage implements HttpRequestEvent {
  readonly method: string;
  readonly host: string;
  readonly uri: string;
  readonly version: string;
  constructor(o: MessageOrigin, head: HttpRequestHead) {
    super(o, head);
    this.method = head.method;
    this.host = head.host;
    this.uri = head.uri;
    this.version = head.version;
  }
  toJSON(): Record<string, unknown> {
    return {
      ...this.origin(),
      method: this.method,
      host: this.host,
      uri: this.uri,
      version: this.version,
      headers: this.headers,
    };
  }
}

/** `http.response` */
export class HttpResponse extends HttpMessage implements HttpResponseEvent {
  readonly status: number;
  readonly reason: string;
  readonly version: string;
  constructor(o: MessageOrigin, head: HttpResponseHead) {
    super(o, head);
    this.status = head.status;
    this.reason = head.reason;
    this.version = head.version;
  }
  toJSON(): Record<string, unknown> {
    return {
      ...this.origin(),
      status: this.status,
      reason: this.reason,
      version: this.version,
      headers: this.headers,
    };
  }
}

/** `tls.client_hello` */
export class TlsHello extends FlowMessage implements TlsClientHelloEvent {
  readonly sni: string | null;
  readonly alpn: string[];
  readonly version: number;
  readonly record_version: number;
  readonly supported_versions: number[];
  readonly cipher_suites: number[];
  readonly extensions: number[];
  readonly supported_groups: number[];
  readonly ec_point_formats: number[];
  readonly signature_algorithms: number[];
  readonly truncated: boolean;
  #ja3Full: string | null | undefined = undefined;
  #ja3: string | null | undefined = undefined;
  constructor(o: MessageOrigin, hello: TlsClientHello) {
    super(o);
    this.sni = hello.sni;
    this.alpn = hello.alpn;
    this.version = hello.version;
    this.record_version = hello.recordVersion;
    this.supported_versions = hello.supportedVersions;
    this.cipher_suites = hello.cipherSuites;
    this.extensions = hello.extensions;
    this.supported_groups = hello.supportedGroups;
    this.ec_point_formats = hello.pointFormats;
    this.signature_algorithms = hello.signatureAlgorithms;
    this.truncated = hello.truncated;
  }
  /** Made when first read (a plugin that never looks pays nothing); null for a hello cut short or malformed. */
  get ja3_full(): string | null {
    if (this.#ja3Full === undefined) {
      this.#ja3Full = this.truncated
        ? null
        : ja3Text({
            version: this.version,
            cipherSuites: this.cipher_suites,
            extensions: this.extensions,
            supportedGroups: this.supported_groups,
            pointFormats: this.ec_point_formats,
          });
    }
    return this.#ja3Full;
  }
  get ja3(): string | null {
    if (this.#ja3 === undefined) this.#ja3 = this.ja3_full === null ? null : md5Hex(this.ja3_full);
    return this.#ja3;
  }
  toJSON(): Record<string, unknown> {
    return {
      ...this.origin(),
      sni: this.sni,
      alpn: this.alpn,
      version: this.version,
      record_version: this.record_version,
      supported_versions: this.supported_versions,
      cipher_suites: this.cipher_suites,
      extensions: this.extensions,
      supported_groups: this.supported_groups,
      ec_point_formats: this.ec_point_formats,
      signature_algorithms: this.signature_algorithms,
      truncated: this.truncated,
      ja3: this.ja3,
      ja3_full: this.ja3_full,
    };
  }
}

/** `tls.server_hello` */
export class TlsServerHelloRecord extends FlowMessage implements TlsServerHelloEvent {
  readonly version: number;
  readonly record_version: number;
  readonly selected_version: number;
  readonly cipher_suite: number;
  readonly alpn: string | null;
  readonly hello_retry: boolean;
  readonly extensions: number[];
  readonly truncated: boolean;
  #ja3sFull: string | null | undefined = undefined;
  #ja3s: string | null | undefined = undefined;
  constructor(o: MessageOrigin, hello: TlsServerHello) {
    super(o);
    this.version = hello.version;
    this.record_version = hello.recordVersion;
    this.selected_version = hello.selectedVersion;
    this.cipher_suite = hello.cipherSuite;
    this.alpn = hello.alpn;
    this.hello_retry = hello.helloRetry;
    this.extensions = hello.extensions;
    this.truncated = hello.truncated;
  }
  /** Made when first read; null for a hello cut short or malformed. */
  get ja3s_full(): string | null {
    if (this.#ja3sFull === undefined) {
      this.#ja3sFull = this.truncated ? null : ja3sText({ version: this.version, cipherSuite: this.cipher_suite, extensions: this.extensions });
    }
    return this.#ja3sFull;
  }
  get ja3s(): string | null {
    if (this.#ja3s === undefined) this.#ja3s = this.ja3s_full === null ? null : md5Hex(this.ja3s_full);
    return this.#ja3s;
  }
  toJSON(): Record<string, unknown> {
    return {
      ...this.origin(),
      version: this.version,
      record_version: this.record_version,
      selected_version: this.selected_version,
      cipher_suite: this.cipher_suite,
      alpn: this.alpn,
      hello_retry: this.hello_retry,
      extensions: this.extensions,
      truncated: this.truncated,
      ja3s: this.ja3s,
      ja3s_full: this.ja3s_full,
    };
  }
}

/** `tls.certificate` */
export class TlsCertificateRecord extends FlowMessage implements TlsCertificateEvent {
  readonly index: number;
  readonly chain_length: number;
  readonly version: number;
  readonly serial: string;
  readonly subject: string;
  readonly issuer: string;
  readonly not_before: number | null;
  readonly not_after: number | null;
  readonly san_dns: string[];
  readonly san_ip: string[];
  readonly truncated: boolean;
  readonly sha1: string | null;
  readonly sha256: string | null;
  /** `chainCut`: the message carrying the chain broke off (it is kept up to 64 KiB). */
  constructor(o: MessageOrigin, cert: X509Certificate, index: number, chainLength: number, chainCut: boolean) {
    super(o);
    this.index = index;
    this.chain_length = chainLength;
    this.version = cert.version;
    this.serial = cert.serial;
    this.subject = cert.subject;
    this.issuer = cert.issuer;
    this.not_before = cert.notBefore;
    this.not_after = cert.notAfter;
    this.san_dns = cert.sanDns;
    this.san_ip = cert.sanIp;
    this.truncated = cert.truncated || chainCut;
    this.sha1 = cert.sha1;
    this.sha256 = cert.sha256;
  }
  toJSON(): Record<string, unknown> {
    return {
      ...this.origin(),
      index: this.index,
      chain_length: this.chain_length,
      version: this.version,
      serial: this.serial,
      subject: this.subject,
      issuer: this.issuer,
      not_before: this.not_before,
      not_after: this.not_after,
      san_dns: this.san_dns,
      san_ip: this.san_ip,
      truncated: this.truncated,
      sha1: this.sha1,
      sha256: this.sha256,
    };
  }
}

/** `dns` */
export class DnsRecord implements DnsEvent {
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
  readonly ts: number;
  readonly frame: number;
  readonly proto: FlowProto;
  readonly response: boolean;
  readonly id: number;
  readonly opcode: number;
  readonly rcode: number;
  readonly qname: string;
  readonly qtype: number;
  readonly questions: DnsQuestion[];
  readonly answers: DnsAnswer[];
  readonly authorities: DnsAnswer[];
  readonly additionals: DnsAnswer[];
  readonly truncated: boolean;
  constructor(o: Omit<MessageOrigin, "flow">, proto: FlowProto, m: DnsMessage) {
    this.ts = o.ts;
    this.frame = o.frame;
    this.src = o.src;
    this.sport = o.sport;
    this.dst = o.dst;
    this.dport = o.dport;
    this.proto = proto;
    this.response = m.response;
    this.id = m.id;
    this.opcode = m.opcode;
    this.rcode = m.rcode;
    this.qname = m.questions[0]?.name ?? "";
    this.qtype = m.questions[0]?.type ?? 0;
    this.questions = m.questions;
    this.answers = m.answers;
    this.authorities = m.authorities;
    this.additionals = m.additionals;
    this.truncated = m.truncated;
  }
  toJSON(): Record<string, unknown> {
    return {
      ts: this.ts,
      frame: this.frame,
      src: this.src,
      sport: this.sport,
      dst: this.dst,
      dport: this.dport,
      proto: this.proto,
      response: this.response,
      id: this.id,
      opcode: this.opcode,
      rcode: this.rcode,
      qname: this.qname,
      qtype: this.qtype,
      truncated: this.truncated,
      questions: this.questions,
      answers: this.answers,
      authorities: this.authorities,
      additionals: this.additionals,
    };
  }
}

/** `weird` */
export class Weird implements WeirdEvent {
  constructor(
    readonly ts: number,
    readonly frame: number,
    readonly name: string,
    readonly detail: string,
    readonly flow: FlowRecord | null,
  ) {}
  toJSON(): Record<string, unknown> {
    return { ts: this.ts, frame: this.frame, name: this.name, detail: this.detail, flow_id: this.flow?.id ?? null };
  }
}
