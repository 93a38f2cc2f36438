/**
 * Deterministic synthetic capture generator for benchmarks:
 *
 *   node --import tsx test/bench/make-capture.ts OUT.pcap --packets 1000000 [--seed 1] [--concurrency 256]
 *
 * or `makeCapture(path, { packets, seed })` from code. The same seed always gives the same bytes.
 *
 * What is in it: many concurrent flows interleaved packet by packet (a few hundred open at once,
 * thousands over a million packets), each with a three-way handshake and a close:
 *   - TCP bulk transfers on port 5001: a short request, then a long one-way stream of full-size
 *     segments acknowledged every second segment (delayed ACK), downloads and some uploads;
 *   - HTTP/1.1 on port 80: keep-alive connections with one to six GET/POST requests, responses
 *     with Content-Length or chunked bodies, the last request asking the server to close;
 *   - DNS over UDP: A/AAAA queries with answers, some through a CNAME, some NXDOMAIN;
 *   - about 10% of flows over IPv6 and 10% carried in an 802.1Q VLAN, Ethernet throughout;
 *   - timestamps strictly increasing with exponential gaps (mean 10 µs, so 1M packets is ~10 s).
 *
 * Why it is fast (1M packets in a few seconds on one core), with every checksum still correct:
 * the TCP data path never allocates per packet. Each flow keeps a per-direction header template
 * (Ethernet [+ VLAN] + IP + 32-byte TCP header with the timestamps option), which is copied
 * straight into the pcap writer's chunk buffer and patched in place: IP length/id and a header
 * checksum from a precomputed partial sum, TCP seq/ack/flags/timestamps, and a TCP checksum
 * made of a precomputed pseudo-header sum, the 32 header bytes, and the payload sum. Bulk payload
 * comes from one random block with a prefix-sum table, so its sum costs O(1) per segment. Rare
 * packets (SYNs, DNS) go through the ordinary packet builders.
 *
 * The packet count is exact: near the end no new flows open, open ones are closed (at most five
 * packets each), and the remainder is filled with DNS exchanges.
 */
import { realpathSync, statSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { dnsQuery, dnsResponse } from "../support/dns-message.ts";
import type { DnsRecord } from "../support/dns-message.ts";
import { foldSum, sumWords } from "../support/internet-checksum.ts";
import { ethernet, ipv4, ipv6, parseIp, tcp, text, udp } from "../support/packet-builders.ts";
import type { TcpOption } from "../support/packet-builders.ts";
import { PcapStreamWriter } from "../support/pcap-writer.ts";
import { SeededRandom } from "../support/seeded-random.ts";

/** Settings of a synthetic capture. */
export interface SyntheticCaptureOptions {
  /** Exact number of packets to write. */
  readonly packets: number;
  /** PRNG seed (default 1). */
  readonly seed?: number;
  /** Flows open at once (default 256; fewer for small captures so that flows still complete). */
  readonly concurrency?: number;
  /** Capture start, seconds since the epoch (default 2024-01-01T00:00:00Z). */
  readonly startSec?: number;
}

/** What was written. */
export interface SyntheticCaptureSummary {
  readonly packets: number;
  /** Captured packet bytes (without pcap headers). */
  readonly bytes: number;
  readonly flows: number;
  readonly tcpFlows: number;
  readonly httpFlows: number;
  readonly httpRequests: number;
  readonly bulkFlows: number;
  readonly dnsFlows: number;
  readonly ipv6Flows: number;
  readonly vlanFlows: number;
}

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;
const CLIENT = 0;
const SERVER = 1;
type Direction = 0 | 1;

const kTcpHeader = 32; // 20 + NOP NOP TIMESTAMPS(10)
const kGatewayMac = "02:00:5e:00:00:01";
const kBulkPort = 5001;
const kBulkBlockBytes = 1 << 16;
const synOptions = (ts: number, echo: number): TcpOption[] => [
  { kind: "mss", value: 1460 },
  { kind: "sack-permitted" },
  { kind: "timestamps", value: ts, echo },
  { kind: "nop" },
  { kind: "wscale", shift: 7 },
];

const dnsNames = [
  "example.com", "www.example.com", "api.example.com", "cdn.example.com", "mail.example.com", "static.example.net",
  "www.example.net", "img.example.net", "example.org", "www.example.org", "login.example.org", "assets.example.org",
  "video.example.com", "news.example.net", "shop.example.org", "status.example.com",
];
const httpPaths = ["/", "/index.html", "/about", "/news/2024/01/article.html", "/static/app.js", "/static/style.css", "/img/logo.png", "/api/v1/items", "/search?q=packets", "/favicon.ico"];
const httpHosts = ["www.example.com", "api.example.com", "www.example.net", "example.org", "shop.example.org"];

/** Shared state of one generation run. */
class CaptureState {
  readonly rng: SeededRandom;
  readonly writer: PcapStreamWriter;
  readonly total: number;
  sec: number;
  nsec = 0;
  windingDown = false;
  bytes = 0;
  /** Bulk payload: random bytes and prefix sums of their 16-bit words (prefix[k] = sum of words 0..k-1). */
  readonly bulk: Uint8Array;
  readonly bulkPrefix: Float64Array;
  /** Text that HTTP bodies are cut from. */
  readonly bodyText: Uint8Array;
  readonly counts = { flows: 0, tcpFlows: 0, httpFlows: 0, httpRequests: 0, bulkFlows: 0, dnsFlows: 0, ipv6Flows: 0, vlanFlows: 0 };
  #nextPort = 0;

  constructor(writer: PcapStreamWriter, options: SyntheticCaptureOptions) {
    this.rng = new SeededRandom(options.seed ?? 1);
    this.writer = writer;
    this.total = options.packets;
    this.sec = options.startSec ?? 1_704_067_200;
    this.bulk = this.rng.fill(new Uint8Array(kBulkBlockBytes));
    this.bulkPrefix = new Float64Array(kBulkBlockBytes / 2 + 1);
    for (let k = 0; k < kBulkBlockBytes / 2; k++) this.bulkPrefix[k + 1] = this.bulkPrefix[k]! + ((this.bulk[2 * k]! << 8) | this.bulk[2 * k + 1]!);
    const words = ["packet", "stream", "flow", "segment", "header", "payload", "window", "capture", "decoder", "plugin", "ring", "worker"];
    let body = "<!doctype html><html><head><title>packet-host bench</title></head><body>\n";
    while (body.length < 1 << 18) body += `<p>${Array.from({ length: 12 }, () => this.rng.pick(words)).join(" ")}.</p>\n`;
    this.bodyText = text(body);
  }

  get written(): number {
    return this.writer.packets;
  }

  /**
   * Advances the clock by an exponential gap of mean 10 µs and at least 1 µs, so timestamps strictly
   * increase even after a microsecond-resolution file truncates them.
   */
  tick(): void {
    this.nsec += 1000 + Math.floor(this.rng.exponential(9_000));
    if (this.nsec >= 1_000_000_000) {
      this.sec += Math.floor(this.nsec / 1_000_000_000);
      this.nsec %= 1_000_000_000;
    }
  }

  /** Milliseconds clock for TCP timestamps. */
  get ms(): number {
    return this.sec * 1000 + Math.floor(this.nsec / 1_000_000);
  }

  /** Writes a frame built by the ordinary builders. */
  writeFrame(frame: Uint8Array): void {
    this.tick();
    this.writer.writeAt(frame, this.sec, this.nsec);
    this.bytes += frame.length;
  }

  /** A client port unique among concurrently open flows. */
  nextClientPort(): number {
    return 32768 + (this.#nextPort++ % 28000);
  }
}

/** Addresses and framing of one flow, as text (for the builders) and bytes (for the templates). */
interface Endpoints {
  readonly v6: boolean;
  readonly vlan: number | undefined;
  readonly clientIp: string;
  readonly serverIp: string;
  readonly clientMac: string;
  readonly clientPort: number;
  readonly serverPort: number;
}

function chooseEndpoints(g: CaptureState, serverPort: number, server?: string): Endpoints {
  const rng = g.rng;
  const v6 = rng.chance(0.1);
  const vlan = rng.chance(0.1) ? rng.pick([10, 20, 30]) : undefined;
  const host = rng.between(10, 250);
  if (v6) g.counts.ipv6Flows++;
  if (vlan !== undefined) g.counts.vlanFlows++;
  return {
    v6,
    vlan,
    clientIp: v6 ? `2001:db8:0:1::${host.toString(16)}` : `192.0.2.${host}`,
    serverIp: server ?? (v6 ? `2001:db8:0:2::${rng.between(1, 40).toString(16)}` : rng.chance(0.5) ? `203.0.113.${rng.between(1, 254)}` : `198.51.100.${rng.between(1, 254)}`),
    clientMac: `02:00:00:00:${(host >> 8).toString(16).padStart(2, "0")}:${(host & 0xff).toString(16).padStart(2, "0")}`,
    clientPort: g.nextClientPort(),
    serverPort,
  };
}

/** Builds a frame from `dir`'s point of view with the ordinary builders (used for rare packets). */
function buildFrame(e: Endpoints, dir: Direction, transport: Uint8Array): Uint8Array {
  const [src, dst] = dir === CLIENT ? [e.clientIp, e.serverIp] : [e.serverIp, e.clientIp];
  const ip = e.v6 ? ipv6({ src, dst, hopLimit: dir === CLIENT ? 64 : 57 }, transport) : ipv4({ src, dst, ttl: dir === CLIENT ? 64 : 57, dontFragment: true }, transport);
  const [srcMac, dstMac] = dir === CLIENT ? [e.clientMac, kGatewayMac] : [kGatewayMac, e.clientMac];
  return ethernet({ src: srcMac, dst: dstMac, vlans: e.vlan === undefined ? undefined : [{ vid: e.vlan }] }, ip);
}

/** One TCP connection's state and its fast packet path. */
class TcpFlow {
  readonly e: Endpoints;
  readonly g: CaptureState;
  /** Header templates per direction: link + IP + 32-byte TCP header, checksums zero. */
  readonly templates: [Uint8Array, Uint8Array];
  readonly linkLength: number;
  readonly ipLength: number;
  readonly mss: number;
  /** Unfolded pseudo-header sums (addresses + protocol) per direction. */
  readonly pseudoSums: [number, number];
  /** Unfolded IPv4 header sums with length, id and checksum zero. */
  readonly ipSums: [number, number];
  readonly seq: [number, number];
  readonly ipId: [number, number];
  readonly tsOffset: [number, number];
  readonly lastTs: [number, number] = [0, 0];

  constructor(g: CaptureState, e: Endpoints) {
    this.g = g;
    this.e = e;
    this.seq = [g.rng.uint32(), g.rng.uint32()];
    this.ipId = [g.rng.below(65536), g.rng.below(65536)];
    this.tsOffset = [g.rng.uint32(), g.rng.uint32()];
    this.mss = e.v6 ? 1428 : 1448; // 1500 MTU minus IP, TCP and the 12-byte timestamps option
    const t0 = buildFrame(e, CLIENT, this.#tcpTemplate(CLIENT));
    const t1 = buildFrame(e, SERVER, this.#tcpTemplate(SERVER));
    this.linkLength = e.vlan === undefined ? 14 : 18;
    this.ipLength = e.v6 ? 40 : 20;
    // The builders filled in checksums for an empty segment; clear them, they are recomputed per packet.
    for (const t of [t0, t1]) {
      t[this.linkLength + this.ipLength + 16] = 0;
      t[this.linkLength + this.ipLength + 17] = 0;
      if (!e.v6) {
        t[this.linkLength + 10] = 0;
        t[this.linkLength + 11] = 0;
        t[this.linkLength + 2] = 0;
        t[this.linkLength + 3] = 0;
      }
    }
    this.templates = [t0, t1];
    const c = parseIp(e.clientIp).bytes;
    const s = parseIp(e.serverIp).bytes;
    this.pseudoSums = [sumWords(c) + sumWords(s) + 6, sumWords(s) + sumWords(c) + 6];
    this.ipSums = e.v6 ? [0, 0] : [sumWords(t0, this.linkLength, this.linkLength + 20), sumWords(t1, this.linkLength, this.linkLength + 20)];
  }

  #tcpTemplate(dir: Direction): Uint8Array {
    const [sport, dport] = dir === CLIENT ? [this.e.clientPort, this.e.serverPort] : [this.e.serverPort, this.e.clientPort];
    return tcp({ sport, dport, window: 502, options: [{ kind: "nop" }, { kind: "nop" }, { kind: "timestamps", value: 0, echo: 0 }] });
  }

  #timestamps(dir: Direction): [number, number] {
    const ts = (this.g.ms + this.tsOffset[dir]) >>> 0;
    this.lastTs[dir] = ts;
    return [ts, this.lastTs[1 - dir]!];
  }

  /** SYN or SYN/ACK, through the builders (they carry more options than the template). */
  writeSyn(dir: Direction): void {
    const [ts, echo] = this.#timestamps(dir);
    const [sport, dport] = dir === CLIENT ? [this.e.clientPort, this.e.serverPort] : [this.e.serverPort, this.e.clientPort];
    const flags = dir === CLIENT ? SYN : SYN | ACK;
    const ack = dir === CLIENT ? 0 : this.seq[CLIENT];
    const segment = tcp({ sport, dport, seq: this.seq[dir], ack, flags, window: 64240, options: synOptions(ts, dir === CLIENT ? 0 : echo) });
    this.g.writeFrame(buildFrame(this.e, dir, segment));
    this.seq[dir] = (this.seq[dir] + 1) >>> 0;
  }

  /**
   * Writes one segment through the template. Payload comes from `src` at `offset`; `payloadSum`
   * is its unfolded word sum when the caller knows it (bulk), or -1 to compute it here.
   */
  write(dir: Direction, flags: number, src: Uint8Array, offset: number, length: number, payloadSum: number): void {
    const g = this.g;
    g.tick();
    const headers = this.linkLength + this.ipLength + kTcpHeader;
    const caplen = headers + length;
    const writer = g.writer;
    const at = writer.reserve(g.sec, g.nsec, caplen);
    const b = writer.chunk;
    b.set(this.templates[dir], at);
    if (length > 0) b.set(src.subarray(offset, offset + length), at + headers);

    const ip = at + this.linkLength;
    if (this.e.v6) {
      const payloadLength = kTcpHeader + length;
      b[ip + 4] = payloadLength >> 8;
      b[ip + 5] = payloadLength & 0xff;
    } else {
      const totalLength = 20 + kTcpHeader + length;
      const id = this.ipId[dir]!;
      this.ipId[dir] = (id + 1) & 0xffff;
      b[ip + 2] = totalLength >> 8;
      b[ip + 3] = totalLength & 0xff;
      b[ip + 4] = id >> 8;
      b[ip + 5] = id & 0xff;
      const checksum = ~foldSum(this.ipSums[dir]! + totalLength + id) & 0xffff;
      b[ip + 10] = checksum >> 8;
      b[ip + 11] = checksum & 0xff;
    }

    const t = ip + this.ipLength;
    const [ts, echo] = this.#timestamps(dir);
    put32(b, t + 4, this.seq[dir]!);
    put32(b, t + 8, flags & ACK ? this.seq[1 - dir]! : 0);
    b[t + 13] = flags;
    put32(b, t + 24, ts);
    put32(b, t + 28, echo);
    let sum = this.pseudoSums[dir]! + kTcpHeader + length;
    sum = sumWords(b, t, t + kTcpHeader, sum);
    sum += payloadSum >= 0 ? payloadSum : sumWords(b, t + kTcpHeader, t + kTcpHeader + length);
    const checksum = ~foldSum(sum) & 0xffff;
    b[t + 16] = checksum >> 8;
    b[t + 17] = checksum & 0xff;

    this.seq[dir] = (this.seq[dir]! + length + (flags & (SYN | FIN) ? 1 : 0)) >>> 0;
    g.bytes += caplen;
  }
}

function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

type FlowScript = Generator<void, void, void>;

function* handshake(f: TcpFlow): FlowScript {
  f.writeSyn(CLIENT);
  yield;
  f.writeSyn(SERVER);
  yield;
  f.write(CLIENT, ACK, f.g.bulk, 0, 0, 0);
  yield;
}

function* closeConnection(f: TcpFlow, initiator: Direction): FlowScript {
  const peer: Direction = initiator === CLIENT ? SERVER : CLIENT;
  if (f.g.rng.chance(0.03)) {
    f.write(peer, RST | ACK, f.g.bulk, 0, 0, 0);
    yield;
    return;
  }
  f.write(initiator, FIN | ACK, f.g.bulk, 0, 0, 0);
  yield;
  f.write(peer, FIN | ACK, f.g.bulk, 0, 0, 0);
  yield;
  f.write(initiator, ACK, f.g.bulk, 0, 0, 0);
  yield;
}

/** Sends a whole message as segments, the receiver acknowledging every second one and the last. */
function* sendMessage(f: TcpFlow, dir: Direction, message: Uint8Array): FlowScript {
  const peer: Direction = dir === CLIENT ? SERVER : CLIENT;
  let segments = 0;
  for (let at = 0; at < message.length; ) {
    if (f.g.windingDown) return;
    const length = Math.min(f.mss, message.length - at);
    const last = at + length === message.length;
    f.write(dir, last ? PSH | ACK : ACK, message, at, length, -1);
    yield;
    at += length;
    if (++segments % 2 === 0 || last) {
      f.write(peer, ACK, message, 0, 0, 0);
      yield;
    }
  }
}

/** Streams `total` bytes of bulk payload from `dir`, with O(1) payload sums from the prefix table. */
function* sendBulk(f: TcpFlow, dir: Direction, total: number): FlowScript {
  const g = f.g;
  const peer: Direction = dir === CLIENT ? SERVER : CLIENT;
  let segments = 0;
  for (let sent = 0; sent < total; ) {
    if (g.windingDown) return;
    const length = Math.min(f.mss, total - sent);
    // An even offset keeps the prefix table (indexed by word) usable for any length.
    const offset = (g.rng.below((kBulkBlockBytes - f.mss) >> 1) << 1) >>> 0;
    const words = length >> 1;
    let sum = g.bulkPrefix[(offset >> 1) + words]! - g.bulkPrefix[offset >> 1]!;
    if (length & 1) sum += g.bulk[offset + length - 1]! << 8;
    const last = sent + length === total;
    f.write(dir, last ? PSH | ACK : ACK, g.bulk, offset, length, sum);
    yield;
    sent += length;
    if (++segments % 2 === 0 || last) {
      f.write(peer, ACK, g.bulk, 0, 0, 0);
      yield;
    }
  }
}

function httpRequest(g: CaptureState, closeAfter: boolean): Uint8Array {
  const rng = g.rng;
  const host = rng.pick(httpHosts);
  const common = `Host: ${host}\r\nUser-Agent: packet-host-bench/1.0\r\nAccept: */*\r\nAccept-Encoding: identity\r\nConnection: ${closeAfter ? "close" : "keep-alive"}\r\n`;
  if (rng.chance(0.2)) {
    const body = JSON.stringify({ id: rng.below(100000), name: rng.pick(dnsNames), tags: ["bench", "synthetic"], note: "x".repeat(rng.between(10, 3000)) });
    return text(`POST /api/v1/items HTTP/1.1\r\n${common}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  }
  return text(`GET ${rng.pick(httpPaths)} HTTP/1.1\r\n${common}\r\n`);
}

function httpResponse(g: CaptureState, closeAfter: boolean): Uint8Array {
  const rng = g.rng;
  const notFound = rng.chance(0.05);
  const size = notFound ? 150 : rng.chance(0.7) ? rng.between(200, 16_000) : rng.between(16_000, 200_000);
  const start = rng.below(g.bodyText.length - size);
  const body = g.bodyText.subarray(start, start + size);
  const status = notFound ? "404 Not Found" : "200 OK";
  const head = `HTTP/1.1 ${status}\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nServer: packet-host-bench\r\nContent-Type: text/html; charset=utf-8\r\nConnection: ${closeAfter ? "close" : "keep-alive"}\r\n`;
  if (notFound || rng.chance(0.7)) return concat([text(`${head}Content-Length: ${size}\r\n\r\n`), body]);
  const parts: Uint8Array[] = [text(`${head}Transfer-Encoding: chunked\r\n\r\n`)];
  for (let at = 0; at < size; ) {
    const n = Math.min(size - at, rng.between(1000, 8192));
    parts.push(text(`${n.toString(16)}\r\n`), body.subarray(at, at + n), text("\r\n"));
    at += n;
  }
  parts.push(text("0\r\n\r\n"));
  return concat(parts);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function* httpFlow(g: CaptureState): FlowScript {
  g.counts.tcpFlows++;
  g.counts.httpFlows++;
  const f = new TcpFlow(g, chooseEndpoints(g, 80));
  yield* handshake(f);
  const requests = g.rng.between(1, 6);
  let serverCloses = false;
  for (let r = 0; r < requests && !g.windingDown; r++) {
    serverCloses = r === requests - 1 && g.rng.chance(0.5);
    g.counts.httpRequests++;
    yield* sendMessage(f, CLIENT, httpRequest(g, serverCloses));
    if (g.windingDown) break;
    yield* sendMessage(f, SERVER, httpResponse(g, serverCloses));
  }
  yield* closeConnection(f, serverCloses ? SERVER : CLIENT);
}

function* bulkFlow(g: CaptureState): FlowScript {
  g.counts.tcpFlows++;
  g.counts.bulkFlows++;
  const f = new TcpFlow(g, chooseEndpoints(g, kBulkPort));
  yield* handshake(f);
  const upload = g.rng.chance(0.2);
  yield* sendMessage(f, CLIENT, text(upload ? "PUT blob\n" : "GET blob\n"));
  yield* sendBulk(f, upload ? CLIENT : SERVER, g.rng.between(64 << 10, 2 << 20));
  yield* closeConnection(f, upload ? CLIENT : SERVER);
}

/** One DNS query and (unless `queryOnly`) its response. */
function* dnsFlow(g: CaptureState, queryOnly = false): FlowScript {
  g.counts.flows++;
  g.counts.dnsFlows++;
  const rng = g.rng;
  const e = chooseEndpoints(g, 53);
  const resolver: Endpoints = { ...e, serverIp: e.v6 ? "2001:db8::53" : "192.0.2.53" };
  const id = rng.below(65536);
  const name = rng.pick(dnsNames);
  const type = rng.chance(0.7) ? "A" : "AAAA";
  g.writeFrame(buildFrame(resolver, CLIENT, udp({ sport: e.clientPort, dport: 53 }, dnsQuery(id, name, type))));
  yield;
  if (queryOnly) return;
  const answers: DnsRecord[] = [];
  let owner = name;
  if (rng.chance(0.3)) {
    owner = `edge${rng.between(1, 9)}.cdn.example.net`;
    answers.push({ type: "CNAME", ttl: 3600, target: owner });
  }
  for (let i = rng.between(1, 3); i > 0; i--) {
    answers.push(type === "A" ? { name: owner, type: "A", ttl: 300, address: `203.0.113.${rng.between(1, 254)}` } : { name: owner, type: "AAAA", ttl: 300, address: `2001:db8:0:2::${rng.between(1, 0xffff).toString(16)}` });
  }
  const nxdomain = rng.chance(0.05);
  const response = dnsResponse(id, name, type, nxdomain ? [] : answers, { rcode: nxdomain ? 3 : 0 });
  g.writeFrame(buildFrame(resolver, SERVER, udp({ sport: 53, dport: e.clientPort }, response)));
  yield;
}

function newFlow(g: CaptureState): FlowScript {
  const r = g.rng.next();
  if (r < 0.45) return dnsFlow(g);
  g.counts.flows++;
  return r < 0.88 ? httpFlow(g) : bulkFlow(g);
}

/**
 * Writes exactly `options.packets` packets of synthetic traffic to `writer` (which must be an
 * Ethernet capture) and returns what was written. The writer is not closed.
 */
export function writeSyntheticTraffic(writer: PcapStreamWriter, options: SyntheticCaptureOptions): SyntheticCaptureSummary {
  const g = new CaptureState(writer, options);
  const first = writer.packets;
  const target = first + options.packets;
  // Small captures get fewer concurrent flows, or every flow would be cut short by the wind-down.
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 256, Math.floor(options.packets / 200)));
  const active: FlowScript[] = [];
  while (writer.packets < target) {
    const left = target - writer.packets;
    // Every open flow needs at most 5 more packets to finish (SYN/ACK, ACK, FIN, FIN, ACK).
    if (!g.windingDown && left <= 6 * active.length + 2) g.windingDown = true;
    if (!g.windingDown) while (active.length < concurrency) active.push(newFlow(g));
    if (active.length === 0) {
      const filler = dnsFlow(g, left === 1);
      while (!filler.next().done);
      continue;
    }
    const i = g.rng.below(active.length);
    if (active[i]!.next().done) {
      active[i] = active[active.length - 1]!;
      active.pop();
    }
  }
  return { packets: writer.packets - first, bytes: g.bytes, ...g.counts };
}

/** Writes a synthetic capture of exactly `options.packets` packets to `path` (streamed, bounded memory). */
export function makeCapture(path: string, options: SyntheticCaptureOptions): SyntheticCaptureSummary {
  const writer = PcapStreamWriter.create(path, { snaplen: 65535, chunkBytes: 8 << 20 });
  try {
    return writeSyntheticTraffic(writer, options);
  } finally {
    writer.close();
  }
}

function usage(message: string): never {
  process.stderr.write(`${message}\nUsage: node --import tsx test/bench/make-capture.ts OUT.pcap [--packets N] [--seed S] [--concurrency C]\n`);
  process.exit(2);
}

function main(args: readonly string[]): void {
  let out: string | undefined;
  const numbers: Record<string, number> = { packets: 1_000_000, seed: 1, concurrency: 256 };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const name = arg.replace(/^--/, "");
    if (arg.startsWith("--") && name in numbers) {
      const value = Number(args[++i]);
      if (!Number.isInteger(value) || value < 0) usage(`Cannot make capture: ${arg} takes a non-negative integer: current value is "${args[i] ?? ""}"`);
      numbers[name] = value;
    } else if (!arg.startsWith("--") && out === undefined) {
      out = arg;
    } else {
      usage(`Cannot make capture: unknown argument "${arg}"`);
    }
  }
  if (out === undefined) usage("Cannot make capture: give the output file");
  const started = performance.now();
  const s = makeCapture(out, { packets: numbers.packets!, seed: numbers.seed!, concurrency: numbers.concurrency! });
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  console.log(
    `${out}: ${s.packets} packets, ${s.bytes} bytes (file ${statSync(out).size}), ${s.flows} flows ` +
      `(${s.httpFlows} HTTP with ${s.httpRequests} requests, ${s.bulkFlows} bulk, ${s.dnsFlows} DNS; ${s.ipv6Flows} IPv6, ${s.vlanFlows} VLAN) in ${seconds} s`,
  );
}

const invokedPath = process.argv[1];
if (invokedPath !== undefined && import.meta.url === pathToFileURL(realpathSync(invokedPath)).href) main(process.argv.slice(2));
