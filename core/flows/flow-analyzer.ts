import { DnsRecord, HttpRequest, HttpResponse, TlsCertificateRecord, TlsHello, TlsServerHelloRecord, Weird, type MessageOrigin } from "../analyzers/app-events.ts";
import { parseDnsMessage, type DnsMessage } from "../analyzers/dns-parser.ts";
import type { HttpRequestHead, HttpResponseHead } from "../analyzers/http-parser.ts";
import type { TlsCertificates, TlsClientHello, TlsServerHello } from "../analyzers/tls-hello.ts";
import type { PacketAnalyzer } from "../dispatch/dispatcher.ts";
import type { PacketCursor } from "../dispatch/layer-views.ts";
import { ipText, ipv4WordText } from "../dispatch/address-text.ts";
import type { EventBus } from "../event-bus.ts";
import type { FlowProto } from "../events.ts";
import { kSlotCapLen, kSlotOffset, kSlotWireLen } from "../ring/ring-layout.ts";
import {
  kFlagFragment,
  kIp6ExtRouting,
  kLayerTcp,
  kLayerUdp,
  kResDstPort,
  kResFlags,
  kResFamily,
  kResFlowHash,
  kResSrcAddr,
  kResDstAddr,
  kResFragDataLen,
  kResFragDataOff,
  kResFragId,
  kResFragment,
  kResIpExt,
  kResIpProto,
  kResL3Off,
  kResLayers,
  kResPayloadLen,
  kResPayloadOff,
  kResSrcPort,
  kResTcpFlags,
  kResTcpAck,
  kResTcpSeq,
  kResTcpWindow,
  kResVlan,
  kResTags,
} from "../../workers/decode-result.ts";
import { flowHash, vlanKey, word } from "../../workers/flow-hash.ts";
import { decodeUdp, UdpLayer } from "../../workers/layers/udp.ts";
import { Flow } from "./flow-record.ts";
import { ConnRecord, TcpHistoryTable } from "./conn-history.ts";
import { FlowTable, kListClosing, kListEnded, kListTcp, kListUdp } from "./flow-table.ts";
import { IpDefragmenter } from "./ip-defrag.ts";
import { ByteBudget } from "./byte-budget.ts";
import { type AppWants, type SessionEvents, TcpSession } from "./tcp-session.ts";
import type { ReassemblyLimits } from "./tcp-reassembler.ts";

/** Timeouts and bounds of flow tracking. Times are capture-time seconds. */
export interface FlowSettings {
  /** Idle time after which an open TCP flow ends (Zeek: 5 minutes). */
  tcpTimeout: number;
  /** Idle time after which a UDP flow ends (Zeek: 1 minute). */
  udpTimeout: number;
  /**
   * How long a TCP flow lingers after FIN both ways or RST before `flow.end`, so that the last ACK
   * and late retransmissions are counted in it rather than starting a new flow.
   */
  closeLinger: number;
  /** Flows tracked at once; beyond, one is ended to make room (see evictOne). */
  maxFlows: number;
  /** Bytes held out of order per TCP direction, and in all. */
  maxOutOfOrderBytes: number;
  reassemblyBudget: number;
  /** Bytes all connections' application parsers hold in messages spread over several segments. */
  parserBudget: number;
}

/** What `--stats` says of flows. The bounds' counters say when the host's memory limits shaped the results. */
export interface FlowStats {
  /** Flows open at the time, and seen in all. */
  active: number;
  total: number;
  /** Flows ended early because `maxFlows` were open. */
  evicted: number;
  /** Holes in TCP streams given up (each a gap) because all streams together held `reassemblyBudget`. */
  reassemblyRefusals: number;
  /** Connections whose application analysis stopped because all parsers together held `parserBudget`. */
  parserRefusals: number;
}

/** Defaults: Zeek's idle timeouts, one second of linger, a million flows, 64 MiB of reassembly, 64 MiB for parsers. */
export const defaultFlowSettings: FlowSettings = {
  tcpTimeout: 300,
  udpTimeout: 60,
  closeLinger: 1,
  maxFlows: 1_000_000,
  maxOutOfOrderBytes: 256 * 1024,
  reassemblyBudget: 64 * 1024 * 1024,
  parserBudget: 64 * 1024 * 1024,
};

const kDnsPorts = new Set([53, 5353, 5355]);
const kNoBytes = new Uint8Array(0);

/**
 * The stateful analysis on the main thread: IP defragmentation, the flow table, TCP streams and the
 * application parsers, fed packet by packet in capture order.
 *
 * It runs only when some plugin listens to a flow or application event, and then only the parts that
 * have listeners (no TCP streams unless HTTP, TLS or DNS is wanted). Because it runs in one thread in
 * capture order, its output does not depend on the number of decode workers.
 */
export class FlowAnalyzer implements PacketAnalyzer, SessionEvents {
  private readonly table = new FlowTable();
  private readonly zeek = new TcpHistoryTable();
  private readonly defrag: IpDefragmenter;
  private readonly budget: ByteBudget;
  private readonly parserBudget: ByteBudget;
  private readonly streamLimits: ReassemblyLimits;
  private readonly wants: AppWants = { http: false, tls: false, tlsServer: false, tlsCertificate: false, dns: false, weird: false };
  private wantStart = false;
  private wantEnd = false;
  private wantConn = false;
  private needSessions = false;
  private nextId = 1;
  private total = 0;
  private evicted = 0;
  private nextExpiry = 0;
  /** Capture time between two sweeps of the activity lists (see expire). */
  private readonly sweepEvery: number;
  private now = 0;
  private frame = 0;

  // The packet being analyzed, as plain fields (no object per packet). Addresses and payload may sit
  // in different buffers: a reassembled datagram's payload is a fresh copy.
  private addr: Uint8Array = new Uint8Array(0);
  private srcOff = 0;
  private dstOff = 0;
  private family: 4 | 6 = 4;
  private proto = 0;
  private sport = 0;
  private dport = 0;
  /** The packet's vlanKey (0: untagged). */
  private vlan = 0;
  private hash = 0;
  private wire = 0;
  private tcpSeq = 0;
  private tcpAck = 0;
  /**
   * The same two numbers as int32, at `seqAckAt` and the word after: the decode result record (which
   * holds kResTcpAck right after kResTcpSeq), or `fragmentSeqAck` for a reassembled datagram. The
   * Zeek history table reads them there (see TcpHistoryTable.packet).
   */
  private seqAck: Int32Array = new Int32Array(2);
  private seqAckAt = 0;
  private readonly fragmentSeqAck = new Int32Array(2);
  private tcpFlags = 0;
  private tcpWindow = 0;
  /** The UDP header of a reassembled datagram. */
  private readonly fragmentUdp = new UdpLayer();
  /** Transport payload length as the headers declare it (the capture may hold less). */
  private declaredLen = 0;
  private pay: Uint8Array = new Uint8Array(0);
  private payOff = 0;
  private payLen = 0;
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private d0 = 0;
  private d1 = 0;
  private d2 = 0;
  private d3 = 0;

  constructor(
    private readonly bus: EventBus,
    private readonly settings: FlowSettings = defaultFlowSettings,
  ) {
    this.sweepEvery = Math.min(1, settings.tcpTimeout, settings.udpTimeout, settings.closeLinger);
    this.defrag = new IpDefragmenter({ maxDatagrams: 4096, maxBytes: 16 << 20, timeoutSec: 30, pieceOverhead: 256 });
    this.defrag.onProblem = (problem) => this.weirdEvent(null, problem, "fragmented datagram given up", this.now);
    this.budget = new ByteBudget(settings.reassemblyBudget);
    this.parserBudget = new ByteBudget(settings.parserBudget);
    this.streamLimits = { maxOutOfOrderBytes: settings.maxOutOfOrderBytes, maxOutOfOrderSegments: 256, pieceOverhead: 400 };
    bus.onChange(() => this.refresh());
    this.refresh();
  }

  /** True when some listener needs flows; the dispatcher skips the analyzer otherwise. */
  get active(): boolean {
    return this.wantStart || this.wantEnd || this.wantConn || this.needSessions || this.wants.dns || this.wants.weird;
  }

  /** Re-reads which events have listeners. */
  refresh(): void {
    const b = this.bus;
    this.wantStart = b.has("flow.start");
    this.wantEnd = b.has("flow.end");
    this.wantConn = b.has("conn");
    this.wants.http = b.has("http.request") || b.has("http.response");
    this.wants.tls = b.has("tls.client_hello");
    this.wants.tlsServer = b.has("tls.server_hello");
    this.wants.tlsCertificate = b.has("tls.certificate");
    this.wants.dns = b.has("dns");
    this.wants.weird = b.has("weird");
    this.needSessions = this.wants.http || this.wants.tls || this.wants.tlsServer || this.wants.tlsCertificate || this.wants.dns;
  }

  /** Flows open now and seen in all, and how often a memory bound cut the analysis short. */
  stats(): FlowStats | undefined {
    if (this.total === 0) return undefined;
    return {
      active: this.table.size,
      total: this.total,
      evicted: this.evicted,
      reassemblyRefusals: this.budget.refusals,
      parserRefusals: this.parserBudget.refusals,
    };
  }

  packet(c: PacketCursor): void {
    const res = c.ring.results;
    const r = c.r;
    const flags = res[r + kResFlags];
    const layers = res[r + kResLayers];
    if ((layers & (kLayerTcp | kLayerUdp)) === 0 && (flags & kFlagFragment) === 0) return;
    const ts = c.ts;
    this.now = ts;
    this.frame = c.frame;
    if (ts >= this.nextExpiry) this.expire(ts);
    const d = c.ring.data;
    const l3 = res[r + kResL3Off];
    this.addr = d;
    this.vlan = vlanKey(res[r + kResTags] & 0xff, res[r + kResVlan]);
    this.wire = c.ring.slots[c.s + kSlotWireLen] >>> 0;
    const frameEnd = c.ring.slots[c.s + kSlotOffset] + c.ring.slots[c.s + kSlotCapLen];
    if (flags & kFlagFragment) {
      // Rare: the packet's own bytes give the key (there is no transport header to copy it with).
      this.setFamily(d[l3] >> 4 === 6 ? 6 : 4, l3);
      this.routeTo(d, l3, res[r + kResIpExt], frameEnd);
      this.keyFromBytes();
      return this.fragment(c);
    }
    // The key as the worker copied it into the result record: no read of the packet's bytes here.
    this.setFamily(res[r + kResFamily] === 6 ? 6 : 4, l3);
    this.s0 = res[r + kResSrcAddr];
    this.d0 = res[r + kResDstAddr];
    if (this.family === 6) {
      this.s1 = res[r + kResSrcAddr + 1];
      this.s2 = res[r + kResSrcAddr + 2];
      this.s3 = res[r + kResSrcAddr + 3];
      this.d1 = res[r + kResDstAddr + 1];
      this.d2 = res[r + kResDstAddr + 2];
      this.d3 = res[r + kResDstAddr + 3];
    }
    this.proto = layers & kLayerTcp ? 6 : 17;
    this.sport = res[r + kResSrcPort];
    this.dport = res[r + kResDstPort];
    this.hash = res[r + kResFlowHash];
    if (this.family === 6 && (res[r + kResIpExt] & kIp6ExtRouting) !== 0 && this.routeTo(d, l3, kIp6ExtRouting, frameEnd)) {
      // The workers hashed the header's destination; a routed packet's flow is that of its final one.
      this.keyFromBytes();
      this.hash = flowHash(d, 6, this.srcOff, this.dstOff, this.sport, this.dport, this.proto, this.vlan);
    }
    this.tcpSeq = res[r + kResTcpSeq] >>> 0;
    this.tcpAck = res[r + kResTcpAck] >>> 0;
    this.seqAck = res;
    this.seqAckAt = r + kResTcpSeq;
    this.tcpFlags = res[r + kResTcpFlags];
    this.tcpWindow = res[r + kResTcpWindow];
    const payOff = res[r + kResPayloadOff];
    this.pay = d;
    this.payOff = payOff;
    this.declaredLen = Math.max(0, res[r + kResPayloadLen]);
    this.payLen = Math.min(this.declaredLen, Math.max(0, frameEnd - payOff));
    this.transport();
  }

  /** Family and where the addresses are, for an IP header at `l3` (offsets only: nothing is read). */
  private setFamily(family: 4 | 6, l3: number): void {
    this.family = family;
    this.srcOff = family === 4 ? l3 + 12 : l3 + 8;
    this.dstOff = family === 4 ? l3 + 16 : l3 + 24;
  }

  /**
   * An IPv6 packet with a routing header that still has segments left belongs to the flow of its
   * final destination (tshark and Zeek agree): point `dstOff` there. True when it moved.
   */
  private routeTo(d: Uint8Array, l3: number, ext: number, frameEnd: number): boolean {
    if (this.family !== 6 || (ext & kIp6ExtRouting) === 0) return false;
    const finalDst = ipv6FinalDestination(d, l3, frameEnd);
    if (finalDst < 0) return false;
    this.dstOff = finalDst;
    return true;
  }

  /** Reads the address words of the key from the packet's bytes. */
  private keyFromBytes(): void {
    const d = this.addr;
    const s = this.srcOff;
    const t = this.dstOff;
    this.s0 = word(d, s);
    this.d0 = word(d, t);
    if (this.family === 6) {
      this.s1 = word(d, s + 4);
      this.s2 = word(d, s + 8);
      this.s3 = word(d, s + 12);
      this.d1 = word(d, t + 4);
      this.d2 = word(d, t + 8);
      this.d3 = word(d, t + 12);
    }
  }

  /** A fragment: held until its datagram is whole, which then counts once (as tshark counts it). */
  private fragment(c: PacketCursor): void {
    const res = c.ring.results;
    const r = c.r;
    const proto = res[r + kResIpProto];
    if (proto !== 6 && proto !== 17) return;
    const frag = res[r + kResFragment];
    const d = c.ring.data;
    const off = res[r + kResFragDataOff];
    const frameEnd = c.ring.slots[c.s + kSlotOffset] + c.ring.slots[c.s + kSlotCapLen];
    const declared = Math.max(0, res[r + kResFragDataLen]);
    const len = Math.min(declared, Math.max(0, frameEnd - off));
    const key = `${this.family}|${ipText(d, this.srcOff, this.family)}|${ipText(d, this.dstOff, this.family)}|${proto}|${res[r + kResFragId]}|${this.vlan}`;
    const whole = this.defrag.add(key, frag & 0xffff, (frag & (1 << 16)) !== 0, d.subarray(off, off + len), this.now, declared);
    if (whole === null) return;
    if (proto === 6) {
      if (whole.length < 20) return;
      const hl = (whole[12] >> 4) * 4;
      if (hl < 20 || whole.length < hl) return;
      this.tcpSeq = ((whole[4] << 24) | (whole[5] << 16) | (whole[6] << 8) | whole[7]) >>> 0;
      this.tcpAck = ((whole[8] << 24) | (whole[9] << 16) | (whole[10] << 8) | whole[11]) >>> 0;
      this.fragmentSeqAck[0] = this.tcpSeq;
      this.fragmentSeqAck[1] = this.tcpAck;
      this.seqAck = this.fragmentSeqAck;
      this.seqAckAt = 0;
      this.tcpFlags = ((whole[12] & 1) << 8) | whole[13];
      this.tcpWindow = (whole[14] << 8) | whole[15];
      this.payOff = hl;
    } else {
      if (whole.length < 8) return;
      this.payOff = 8;
    }
    this.proto = proto;
    this.sport = (whole[0] << 8) | whole[1];
    this.dport = (whole[2] << 8) | whole[3];
    this.pay = whole;
    this.payLen = whole.length - this.payOff;
    // What the headers declare, as for a packet that came whole: the capture may have cut the last
    // fragment. UDP's own length field counts where it fits, by the workers' rule (decodeUdp).
    const declaredTotal = this.defrag.wholeDeclaredLength;
    if (proto === 6) {
      this.declaredLen = declaredTotal - this.payOff;
    } else {
      decodeUdp(whole, 0, whole.length, declaredTotal, this.fragmentUdp);
      this.declaredLen = this.fragmentUdp.length - 8;
    }
    this.hash = flowHash(d, this.family, this.srcOff, this.dstOff, this.sport, this.dport, proto, this.vlan);
    this.transport();
  }

  /** The packet's flow: counters, TCP state, streams, and DNS over UDP. */
  private transport(): void {
    let dir: 0 | 1 = 0;
    let found: Flow | null = this.table.chain(this.hash);
    while (found !== null) {
      const f = found;
      if (f.hash === this.hash && f.ipProto === this.proto && f.family === this.family && f.vlanKey === this.vlan) {
        if (this.isA(f, true)) {
          dir = 0;
          break;
        }
        if (this.isA(f, false)) {
          dir = 1;
          break;
        }
      }
      found = f.nextInBucket;
    }
    let f = found ?? undefined;
    const ts = this.now;
    if (f !== undefined && ts - f.last > this.idleLimit(f.list)) {
      // Its idle time (or linger) ran out since the last sweep: it ends, with any others due before it,
      // and this packet starts a new flow. (A capture whose clock steps back may leave it in place.)
      this.expire(ts);
      if (f.list !== kListEnded) {
        if (f.list !== kListClosing) f.state = "timeout";
        this.end(f);
      }
      f = undefined;
    }
    const isTcp = this.proto === 6;
    const flags = this.tcpFlags;
    if (f !== undefined && isTcp && (flags & 0x12) === 0x02) {
      if (f.state === "closed" || f.state === "reset") {
        // A new SYN on a finished connection: the old flow ends here and a new one starts.
        this.end(f);
        f = undefined;
      } else if (dir === 0 && f.synSeq !== -1 && f.synSeq !== this.tcpSeq) {
        // A SYN with another initial sequence number: a new connection on the same ports (the old one
        // was never seen to close); a retransmitted SYN carries the same number. Zeek's weird name.
        this.weirdEvent(f, "active_connection_reuse", `SYN with sequence number ${this.tcpSeq} after ${f.synSeq}`, ts);
        this.end(f);
        f = undefined;
      }
    }
    if (f === undefined) {
      // The initiator sent the first SYN; a SYN+ACK seen first was sent by the responder.
      const swap = isTcp && (flags & 0x12) === 0x12;
      f = this.create(swap);
      dir = swap ? 1 : 0;
    }
    if (dir === 0) {
      f.packets_ab++;
      f.bytes_ab += this.wire;
    } else {
      f.packets_ba++;
      f.bytes_ba += this.wire;
    }
    f.last = ts;
    if (isTcp) {
      if (f.zeekSlot >= 0) this.zeek.packet(f.zeekSlot, dir, flags, this.declaredLen, this.tcpWindow, this.seqAck, this.seqAckAt);
      // Each side's first SYN, whenever the capture shows it (a SYN+ACK or a stray ACK may come first):
      // a session made later starts its streams there (openSession).
      if ((flags & 0x02) !== 0) {
        if (dir === 0) {
          if (f.synSeq === -1) f.synSeq = this.tcpSeq;
        } else if (f.synSeqB === -1) {
          f.synSeqB = this.tcpSeq;
        }
      }
      this.tcpState(f, dir, flags);
      // A session that is done (a bulk transfer, a TLS connection past its hello) costs nothing more.
      // A bare ACK carries no bytes (SYN and FIN move sequence numbers, so they count), but it may tell
      // the other direction that a hole it waits on was lost by the capture.
      const session = f.session ?? (f.sessionDue && this.payLen > 0 ? this.openSession(f, dir, flags, ts) : null);
      if (session !== null && !session.done) {
        if (this.payLen > 0 || (flags & 0x03) !== 0) {
          session.segment(dir, this.tcpSeq, (flags & 0x02) !== 0, (flags & 0x01) !== 0, this.pay, ts, this.payOff, this.payOff + this.payLen);
        }
        if (flags & 0x10) session.acked(dir, this.tcpAck, ts);
      }
    } else {
      if (dir === 0) f.udpPayloadAb += this.declaredLen;
      else f.udpPayloadBa += this.declaredLen;
      this.table.touch(f, kListUdp);
      if (this.wants.dns && (kDnsPorts.has(this.sport) || kDnsPorts.has(this.dport)) && this.payLen > 0) {
        const m = parseDnsMessage(this.pay, this.payOff, this.payLen);
        if ("error" in m) {
          if (this.wants.weird) this.weirdEvent(f, "dns_unparsed", m.error, ts);
        } else {
          f.service = "dns";
          this.bus.emit("dns", new DnsRecord(this.packetOrigin(), "udp", m));
        }
      }
    }
  }

  /** True when the packet's source is side a (`srcIsA`) or its destination is (`!srcIsA`). */
  private isA(f: Flow, srcIsA: boolean): boolean {
    const aPort = srcIsA ? this.sport : this.dport;
    const bPort = srcIsA ? this.dport : this.sport;
    if (f.aport !== aPort || f.bport !== bPort) return false;
    if (srcIsA) {
      if (f.aw0 !== this.s0 || f.bw0 !== this.d0) return false;
      return this.family === 4 || (f.aw1 === this.s1 && f.aw2 === this.s2 && f.aw3 === this.s3 && f.bw1 === this.d1 && f.bw2 === this.d2 && f.bw3 === this.d3);
    }
    if (f.aw0 !== this.d0 || f.bw0 !== this.s0) return false;
    return this.family === 4 || (f.aw1 === this.d1 && f.aw2 === this.d2 && f.aw3 === this.d3 && f.bw1 === this.s1 && f.bw2 === this.s2 && f.bw3 === this.s3);
  }

  private create(swap: boolean): Flow {
    if (this.table.size >= this.settings.maxFlows) this.evictOne();
    const d = this.addr;
    const fam = this.family;
    // IPv4 text from the key's words, which the decode result gave: reading the packet's own bytes
    // here was a cache miss per flow (the main thread does not touch the IP header otherwise).
    const srcText = fam === 4 ? ipv4WordText(this.s0) : ipText(d, this.srcOff, fam);
    const dstText = fam === 4 ? ipv4WordText(this.d0) : ipText(d, this.dstOff, fam);
    const proto: FlowProto = this.proto === 6 ? "tcp" : "udp";
    const f = swap
      ? new Flow(this.nextId++, proto, fam, this.proto, this.hash, dstText, this.dport, srcText, this.sport, this.vlan)
      : new Flow(this.nextId++, proto, fam, this.proto, this.hash, srcText, this.sport, dstText, this.dport, this.vlan);
    if (swap) {
      f.aw0 = this.d0;
      f.aw1 = this.d1;
      f.aw2 = this.d2;
      f.aw3 = this.d3;
      f.bw0 = this.s0;
      f.bw1 = this.s1;
      f.bw2 = this.s2;
      f.bw3 = this.s3;
    } else {
      f.aw0 = this.s0;
      f.aw1 = this.s1;
      f.aw2 = this.s2;
      f.aw3 = this.s3;
      f.bw0 = this.d0;
      f.bw1 = this.d1;
      f.bw2 = this.d2;
      f.bw3 = this.d3;
    }
    f.first = this.now;
    if (proto === "tcp") {
      // A flow picked up mid-stream (no SYN seen) is already established.
      if ((this.tcpFlags & 0x02) === 0) f.state = "established";
      // The streams are made at the first payload byte (openSession): a connection that never carries
      // any (a scan, a refused SYN) costs no session.
      f.sessionDue = this.needSessions;
      if (this.wantConn) f.zeekSlot = this.zeek.open();
    }
    this.table.insert(f, proto === "tcp" ? kListTcp : kListUdp);
    this.total++;
    if (this.wantStart) this.bus.emit("flow.start", f);
    return f;
  }

  /**
   * The flow's TCP streams, made at its first payload byte. Each stream starts where its SYN said, as
   * if the session had seen the SYNs: a first data segment that arrives after a hole is then held, not
   * taken for the start of the stream.
   */
  private openSession(f: Flow, dir: 0 | 1, flags: number, ts: number): TcpSession {
    const s = new TcpSession(f, this.wants, this, this.streamLimits, this.budget, this.parserBudget);
    f.session = s;
    f.sessionDue = false;
    // The packet being handled passes its own SYN (TCP Fast Open carries data in it).
    const syn = (flags & 0x02) !== 0;
    if (f.synSeq !== -1 && !(syn && dir === 0)) s.segment(0, f.synSeq, true, false, kNoBytes, ts);
    if (f.synSeqB !== -1 && !(syn && dir === 1)) s.segment(1, f.synSeqB, true, false, kNoBytes, ts);
    return s;
  }

  private tcpState(f: Flow, dir: 0 | 1, flags: number): void {
    if (flags & 0x04) {
      f.state = "reset";
    } else if (flags & 0x01) {
      if (dir === 0) f.finA = true;
      else f.finB = true;
      f.state = f.finA && f.finB ? "closed" : "closing";
    } else if (f.state === "syn_sent" && (flags & 0x12) !== 0x02) {
      f.state = "established";
    }
    this.table.touch(f, f.state === "closed" || f.state === "reset" ? kListClosing : kListTcp);
  }

  /** How long a flow of activity list `list` may stay idle. */
  private idleLimit(list: number): number {
    const s = this.settings;
    return list === kListClosing ? s.closeLinger : list === kListUdp ? s.udpTimeout : s.tcpTimeout;
  }

  /**
   * Ends flows whose idle time or linger has run out (capture time `now`). Runs at most every second of
   * capture time (or the shortest timeout, if shorter); a packet of a flow that ran out in between ends
   * it itself (see transport).
   */
  private expire(now: number): void {
    this.nextExpiry = now + this.sweepEvery;
    this.expireList(kListClosing, now - this.settings.closeLinger, null);
    this.expireList(kListTcp, now - this.settings.tcpTimeout, "timeout");
    this.expireList(kListUdp, now - this.settings.udpTimeout, "timeout");
  }

  private expireList(list: number, before: number, state: string | null): void {
    for (let f = this.table.oldest(list); f !== null && f.last < before; f = this.table.oldest(list)) {
      if (state !== null) f.state = state;
      this.end(f);
    }
  }

  /**
   * Ends one flow for room: a closed one still lingering (it is over anyway), else the least recently
   * active UDP flow (cheap to lose: no stream state), else the least recently active TCP flow. The
   * latter two end in state "evicted".
   */
  private evictOne(): void {
    const f = this.table.oldest(kListClosing) ?? this.table.oldest(kListUdp) ?? this.table.oldest(kListTcp);
    if (f === null) return;
    this.evicted++;
    if (f.list !== kListClosing) f.state = "evicted";
    this.end(f);
  }

  private end(f: Flow): void {
    this.table.remove(f);
    f.list = kListEnded;
    if (f.session !== null) {
      f.session.finish(this.now);
      f.session = null;
    }
    if (this.wantEnd) this.bus.emit("flow.end", f);
    const slot = f.zeekSlot;
    if (slot >= 0) {
      f.zeekSlot = -1;
      if (this.wantConn) this.bus.emit("conn", this.zeek.record(f, slot));
      this.zeek.close(slot);
    } else if (this.wantConn && f.proto === "udp") {
      this.bus.emit("conn", ConnRecord.udp(f, f.udpPayloadAb, f.udpPayloadBa));
    }
  }

  /** End of input: every open flow ends (state "open" unless it had closed). */
  finish(): void {
    for (const list of [kListClosing, kListTcp, kListUdp]) {
      for (let f = this.table.oldest(list); f !== null; f = this.table.oldest(list)) {
        if (f.state !== "closed" && f.state !== "reset") f.state = "open";
        this.end(f);
      }
    }
  }

  // SessionEvents: findings of the TCP streams, turned into events with the flow's endpoints.

  private origin(flow: Flow, dir: 0 | 1, ts: number): MessageOrigin {
    return dir === 0
      ? { ts, frame: this.frame, flow, src: flow.a, sport: flow.aport, dst: flow.b, dport: flow.bport }
      : { ts, frame: this.frame, flow, src: flow.b, sport: flow.bport, dst: flow.a, dport: flow.aport };
  }

  private packetOrigin(): Omit<MessageOrigin, "flow"> {
    return {
      ts: this.now,
      frame: this.frame,
      src: ipText(this.addr, this.srcOff, this.family),
      sport: this.sport,
      dst: ipText(this.addr, this.dstOff, this.family),
      dport: this.dport,
    };
  }

  httpRequest(flow: Flow, dir: 0 | 1, head: HttpRequestHead, ts: number): void {
    if (this.bus.has("http.request")) this.bus.emit("http.request", new HttpRequest(this.origin(flow, dir, ts), head));
  }

  httpResponse(flow: Flow, dir: 0 | 1, head: HttpResponseHead, ts: number): void {
    if (this.bus.has("http.response")) this.bus.emit("http.response", new HttpResponse(this.origin(flow, dir, ts), head));
  }

  tlsHello(flow: Flow, dir: 0 | 1, hello: TlsClientHello, ts: number): void {
    this.bus.emit("tls.client_hello", new TlsHello(this.origin(flow, dir, ts), hello));
  }

  tlsServerHello(flow: Flow, dir: 0 | 1, hello: TlsServerHello, ts: number): void {
    this.bus.emit("tls.server_hello", new TlsServerHelloRecord(this.origin(flow, dir, ts), hello));
  }

  /** One event per certificate, the server's own first (index 0). */
  tlsCertificates(flow: Flow, dir: 0 | 1, certificates: TlsCertificates, ts: number): void {
    const o = this.origin(flow, dir, ts);
    const chain = certificates.chain;
    for (let i = 0; i < chain.length; i++) {
      this.bus.emit("tls.certificate", new TlsCertificateRecord(o, chain[i]!, i, chain.length, certificates.truncated));
    }
  }

  dns(flow: Flow, dir: 0 | 1, message: DnsMessage, ts: number): void {
    if (!this.wants.dns) return;
    const o = this.origin(flow, dir, ts);
    this.bus.emit("dns", new DnsRecord(o, "tcp", message));
  }

  weird(flow: Flow, name: string, detail: string, ts: number): void {
    this.weirdEvent(flow, name, detail, ts);
  }

  private weirdEvent(flow: Flow | null, name: string, detail: string, ts: number): void {
    if (this.wants.weird) this.bus.emit("weird", new Weird(ts, this.frame, name, detail, flow));
  }
}

/**
 * Offset of the final destination of an IPv6 packet whose routing header still has segments left, or
 * -1. The header's destination is then only the next hop: tshark (and Zeek, for types 0 and 2) key the
 * connection on the final one, which the transport checksum covers too (RFC 8200 8.1), so the packet
 * and the replies from that address make one flow. Types 0 and 2 (Mobile IPv6) list it last; a
 * segment routing header (type 4, RFC 8754) lists it first.
 */
function ipv6FinalDestination(d: Uint8Array, l3: number, end: number): number {
  let next = d[l3 + 6];
  let p = l3 + 40;
  // Only hop-by-hop and destination options may come before the routing header.
  for (let n = 0; n < 8 && p + 8 <= end; n++) {
    const len = (d[p + 1] + 1) * 8;
    if (next === 43) {
      const type = d[p + 2];
      const addresses = (len - 8) >> 4;
      if (d[p + 3] === 0 || addresses === 0 || p + len > end) return -1;
      if (type === 0 || type === 2) return p + 8 + (addresses - 1) * 16;
      return type === 4 ? p + 8 : -1;
    }
    if (next !== 0 && next !== 60) return -1;
    next = d[p];
    p += len;
  }
  return -1;
}
