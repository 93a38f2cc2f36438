import {
  kFlagFragment,
  kFlagMalformed,
  kFlagTunnel,
  kFlagUnsupportedLink,
  kLayerArp,
  kLayerEthernet,
  kLayerIcmp,
  kLayerIcmpv6,
  kLayerIpv4,
  kLayerIpv6,
  kLayerLink,
  kLayerMpls,
  kLayerTcp,
  kLayerUdp,
  kLayerVlan,
  kMalArp,
  kMalEthernet,
  kMalIcmp,
  kMalIcmpv6,
  kMalIpv4,
  kMalIpv6,
  kMalLink,
  kMalMpls,
  kMalTcp,
  kMalUdp,
  kMalVlan,
  kResDstPort,
  kResEtherType,
  kResFlags,
  kResFamily,
  kResFlowHash,
  kResSrcAddr,
  kResDstAddr,
  kResFragDataLen,
  kResFragDataOff,
  kResFragId,
  kResFragment,
  kResIcmp,
  kResIp4Off,
  kResIp6Off,
  kResIpExt,
  kResIpProto,
  kResL2Off,
  kResL3Off,
  kResL4Off,
  kResLayers,
  kResMalformed,
  kResPayloadLen,
  kResPayloadOff,
  kResSrcPort,
  kResStride,
  kResTags,
  kResTcpAck,
  kResTcpFlags,
  kResTcpMssWscale,
  kResTcpOptions,
  kResTcpSack,
  kResTcpSeq,
  kResTcpTsEcr,
  kResTcpTsVal,
  kResTcpWindow,
  kResVlan,
  kTooManyHeaders,
} from "./decode-result.ts";
import { kSlotCapLen, kSlotLinkType, kSlotOffset, kSlotStride } from "../core/ring/ring-layout.ts";
import { decodeArp, ArpLayer } from "./layers/arp.ts";
import { decodeEthernet, decodeLlc, EthernetLayer, kEtherTypeEthernet, lengthEnd } from "./layers/ethernet.ts";
import { decodeIcmp, decodeIcmpv6, IcmpLayer } from "./layers/icmp.ts";
import { decodeIpv4, Ipv4Layer } from "./layers/ipv4.ts";
import { decodeIpv6, Ipv6Layer } from "./layers/ipv6.ts";
import { decodeLink, isSupportedLinkType, kLinkEthernet, LinkLayer } from "./layers/link-layer.ts";
import { decodeMpls, MplsLayer } from "./layers/mpls.ts";
import { decodeTcp, TcpLayer } from "./layers/tcp.ts";
import { decodeUdp, UdpLayer } from "./layers/udp.ts";
import { decodeVlan, isVlanTpid, VlanLayer } from "./layers/vlan.ts";
import { flowHash, vlanKey } from "./flow-hash.ts";

const kMaxTags = 8; // VLAN tags plus nested Ethernet/MPLS headers before we call it hostile
const kMaxIpNesting = 2; // outer IP plus one IP-in-IP tunnel

/**
 * Decodes ring slots into their result records: the chain of layer decoders for one frame.
 *
 * One instance per worker holds one preallocated layer object per protocol, reused for every frame,
 * so decoding allocates nothing. A layer decoder that fails leaves the layers before it in place and
 * records which layer failed and why (kResMalformed); nothing throws.
 */
export class FrameDecoder {
  private readonly eth = new EthernetLayer();
  private readonly vlan = new VlanLayer();
  private readonly mpls = new MplsLayer();
  private readonly link = new LinkLayer();
  private readonly arp = new ArpLayer();
  private readonly ip4 = new Ipv4Layer();
  private readonly ip6 = new Ipv6Layer();
  private readonly tcp = new TcpLayer();
  private readonly udp = new UdpLayer();
  private readonly icmp = new IcmpLayer();
  private r = 0; // base of the current result record

  constructor(
    private readonly d: Uint8Array,
    private readonly slots: Int32Array,
    private readonly res: Int32Array,
  ) {}

  /** Decodes the frame of slot array index `index` (not sequence) into its result record. */
  decodeSlot(index: number): void {
    const s = index * kSlotStride;
    this.decode(index, this.slots[s + kSlotOffset], this.slots[s + kSlotCapLen], this.slots[s + kSlotLinkType]);
  }

  /** Decodes the `caplen` bytes at `off` of link type `linktype` into result record `index`. */
  decode(index: number, off: number, caplen: number, linktype: number): void {
    const res = this.res;
    const r = index * kResStride;
    this.r = r;
    res[r + kResLayers] = 0;
    res[r + kResFlags] = 0;
    res[r + kResMalformed] = 0;
    res[r + kResEtherType] = -1;
    res[r + kResVlan] = 0;
    res[r + kResTags] = 0;
    res[r + kResL2Off] = off;
    res[r + kResL3Off] = -1;
    res[r + kResIp4Off] = -1;
    res[r + kResIp6Off] = -1;
    res[r + kResIpProto] = -1;
    res[r + kResFragment] = 0;
    res[r + kResFragId] = 0;
    res[r + kResL4Off] = -1;
    res[r + kResPayloadOff] = -1;
    res[r + kResPayloadLen] = 0;
    res[r + kResSrcPort] = 0;
    res[r + kResDstPort] = 0;
    res[r + kResTcpFlags] = 0;
    res[r + kResTcpOptions] = 0;
    res[r + kResIcmp] = 0;
    res[r + kResFlowHash] = 0;
    res[r + kResFamily] = 0;
    for (let i = 0; i < 4; i++) {
      res[r + kResSrcAddr + i] = 0;
      res[r + kResDstAddr + i] = 0;
    }
    res[r + kResIpExt] = 0;
    // Fields only some packets carry are reset too, so that a record never shows a field of the
    // packet this slot held before, whoever reads it without looking at the layer bits first.
    res[r + kResTcpSeq] = 0;
    res[r + kResTcpAck] = 0;
    res[r + kResTcpWindow] = 0;
    res[r + kResTcpMssWscale] = 0;
    res[r + kResTcpTsVal] = 0;
    res[r + kResTcpTsEcr] = 0;
    res[r + kResTcpSack] = 0;
    res[r + kResFragDataOff] = -1;
    res[r + kResFragDataLen] = 0;

    let end = off + caplen;
    let p: number;
    let etherType: number;
    if (linktype === kLinkEthernet) {
      p = decodeEthernet(this.d, off, end, this.eth);
      if (p < 0) return this.fail(kMalEthernet, p);
      res[r + kResLayers] |= kLayerEthernet;
      etherType = this.eth.etherType;
      end = this.eth.end;
    } else if (isSupportedLinkType(linktype)) {
      p = decodeLink(linktype, this.d, off, end, this.link);
      if (p < 0) return this.fail(kMalLink, p);
      res[r + kResLayers] |= kLayerLink;
      end = this.link.payloadEnd;
      etherType = this.link.etherType;
    } else {
      res[r + kResFlags] |= kFlagUnsupportedLink;
      return;
    }
    this.network(etherType, p, end, 0);
  }

  /** Follows VLAN tags, MPLS labels and nested Ethernet to the network layer, then decodes it. */
  private network(etherType: number, p: number, end: number, nesting: number): void {
    const res = this.res;
    const r = this.r;
    let tags = 0;
    for (;;) {
      if (isVlanTpid(etherType)) {
        if (tags >= kMaxTags) return this.fail(kMalVlan, kTooManyHeaders);
        const tpid = etherType;
        p = decodeVlan(this.d, p, end, this.vlan);
        if (p < 0) return this.fail(kMalVlan, p);
        const count = res[r + kResTags] & 0xff;
        if (count === 0) res[r + kResVlan] = this.vlan.tci; // the 802.1ad mark goes to kResTags
        else if (count === 1) res[r + kResVlan] = (res[r + kResVlan] & 0xffff) | (this.vlan.tci << 16);
        if (count === 0 && tpid === 0x88a8) res[r + kResTags] |= 1 << 16;
        res[r + kResTags] += 1;
        res[r + kResLayers] |= kLayerVlan;
        etherType = this.vlan.etherType;
        // After a tag, as after the MAC addresses, 1500 or less is an 802.3 length: LLC/SNAP says
        // what follows (tcpdump and Wireshark read ARP in tagged 802.3 frames so).
        if (etherType <= 1500) {
          end = lengthEnd(p, etherType, end);
          p = decodeLlc(this.d, p, end, this.vlan);
          etherType = this.vlan.etherType;
        }
      } else if (etherType === 0x8847 || etherType === 0x8848) {
        if (tags >= kMaxTags) return this.fail(kMalMpls, kTooManyHeaders);
        p = decodeMpls(this.d, p, end, this.mpls);
        if (p < 0) return this.fail(kMalMpls, p);
        res[r + kResTags] += this.mpls.labels << 8;
        res[r + kResLayers] |= kLayerMpls;
        etherType = this.mpls.etherType;
      } else if (etherType === kEtherTypeEthernet) {
        if (tags >= kMaxTags) return this.fail(kMalEthernet, kTooManyHeaders);
        p = decodeEthernet(this.d, p, end, this.eth);
        if (p < 0) return this.fail(kMalEthernet, p);
        etherType = this.eth.etherType;
        end = this.eth.end;
      } else {
        break;
      }
      tags++;
    }
    if (nesting === 0) res[r + kResEtherType] = etherType;
    switch (etherType) {
      case 0x0800:
        return this.ipv4(p, end, nesting);
      case 0x86dd:
        return this.ipv6(p, end, nesting);
      case 0x0806:
      case 0x8035: {
        const q = decodeArp(this.d, p, end, this.arp);
        if (q < 0) return this.fail(kMalArp, q);
        res[r + kResLayers] |= kLayerArp;
        res[r + kResL3Off] = p;
        return;
      }
    }
  }

  private ipv4(p: number, end: number, nesting: number): void {
    const res = this.res;
    const r = this.r;
    const ip = this.ip4;
    const q = decodeIpv4(this.d, p, end, ip);
    if (q < 0) return this.fail(kMalIpv4, q);
    res[r + kResLayers] |= kLayerIpv4;
    if (res[r + kResIp4Off] < 0) res[r + kResIp4Off] = p;
    res[r + kResL3Off] = p;
    if (ip.soft !== 0) this.soft(kMalIpv4, ip.soft);
    const proto = ip.protocol;
    res[r + kResIpProto] = proto;
    if (ip.moreFragments || ip.fragmentOffset !== 0) {
      this.fragment(ip.fragmentOffset, ip.moreFragments, ip.id, q, ip.payloadLength);
      if (ip.fragmentOffset !== 0) return; // the transport header is in the first fragment only
    }
    this.transport(proto, q, ip.payloadEnd, p + ip.totalLength, nesting, 4);
  }

  private ipv6(p: number, end: number, nesting: number): void {
    const res = this.res;
    const r = this.r;
    const ip = this.ip6;
    const q = decodeIpv6(this.d, p, end, ip);
    if (q < 0) return this.fail(kMalIpv6, q);
    res[r + kResLayers] |= kLayerIpv6;
    if (res[r + kResIp6Off] < 0) res[r + kResIp6Off] = p;
    res[r + kResL3Off] = p;
    res[r + kResIpExt] |= ip.extensions;
    res[r + kResIpProto] = ip.protocol;
    if (ip.isFragment) {
      this.fragment(ip.fragmentOffset, ip.moreFragments, ip.fragmentId, ip.fragmentDataOff, p + 40 + ip.payloadLength - ip.fragmentDataOff);
      if (ip.fragmentOffset !== 0) return;
    }
    this.transport(ip.protocol, q, ip.payloadEnd, q + ip.upperLength, nesting, 6);
  }

  /**
   * Decodes the transport header at `p`. `end` is where captured payload bytes end, `declaredEnd`
   * where the IP header says they end (later when the capture was cut by the snap length).
   */
  private transport(proto: number, p: number, end: number, declaredEnd: number, nesting: number, family: 4 | 6): void {
    const res = this.res;
    const r = this.r;
    switch (proto) {
      case 6: {
        const t = this.tcp;
        const q = decodeTcp(this.d, p, end, t);
        if (q < 0) return this.fail(kMalTcp, q);
        res[r + kResLayers] |= kLayerTcp;
        res[r + kResL4Off] = p;
        res[r + kResPayloadOff] = q;
        res[r + kResPayloadLen] = Math.max(0, declaredEnd - q);
        res[r + kResSrcPort] = t.srcPort;
        res[r + kResDstPort] = t.dstPort;
        res[r + kResTcpSeq] = t.seq;
        res[r + kResTcpAck] = t.ack;
        res[r + kResTcpFlags] = t.flags;
        res[r + kResTcpWindow] = t.window;
        res[r + kResTcpOptions] = t.options;
        res[r + kResTcpMssWscale] = t.mss | (t.windowScale << 16);
        res[r + kResTcpTsVal] = t.tsVal;
        res[r + kResTcpTsEcr] = t.tsEcr;
        // Relative to the TCP header: an absolute ring offset can exceed the 24 bits left beside the count.
        res[r + kResTcpSack] = t.sackBlocks === 0 ? 0 : (t.sackOff - p) | (t.sackBlocks << 24);
        if (t.soft !== 0) this.soft(kMalTcp, t.soft);
        this.hashFlow(family, 6);
        return;
      }
      case 17: {
        const u = this.udp;
        // The UDP length of a first fragment counts the whole datagram, which this packet only
        // starts: it cannot be checked against this packet's IP length.
        const declared = res[r + kResFlags] & kFlagFragment ? 0xffff : declaredEnd - p;
        const q = decodeUdp(this.d, p, end, declared, u);
        if (q < 0) return this.fail(kMalUdp, q);
        res[r + kResLayers] |= kLayerUdp;
        res[r + kResL4Off] = p;
        res[r + kResPayloadOff] = q;
        res[r + kResPayloadLen] = u.length - 8;
        res[r + kResSrcPort] = u.srcPort;
        res[r + kResDstPort] = u.dstPort;
        if (u.soft !== 0) this.soft(kMalUdp, u.soft);
        this.hashFlow(family, 17);
        return;
      }
      case 1:
      case 58: {
        const isV6 = proto === 58;
        const q = isV6 ? decodeIcmpv6(this.d, p, end, this.icmp) : decodeIcmp(this.d, p, end, this.icmp);
        if (q < 0) return this.fail(isV6 ? kMalIcmpv6 : kMalIcmp, q);
        res[r + kResLayers] |= isV6 ? kLayerIcmpv6 : kLayerIcmp;
        res[r + kResL4Off] = p;
        res[r + kResPayloadOff] = q;
        res[r + kResPayloadLen] = Math.max(0, declaredEnd - q);
        res[r + kResIcmp] = (this.icmp.type << 8) | this.icmp.code;
        return;
      }
      case 4:
      case 41:
        // IP in IP (4in4, 6in4, 6in6...): decode the inner packet too; flows belong to it.
        if (nesting + 1 >= kMaxIpNesting) return;
        res[r + kResFlags] |= kFlagTunnel;
        if (proto === 4) this.ipv4(p, end, nesting + 1);
        else this.ipv6(p, end, nesting + 1);
        return;
    }
  }

  /** Stores the flow hash of the packet's 5-tuple and VLAN (see flow-hash.ts). */
  private hashFlow(family: 4 | 6, proto: number): void {
    const res = this.res;
    const r = this.r;
    const d = this.d;
    const l3 = res[r + kResL3Off];
    const src = family === 4 ? l3 + 12 : l3 + 8;
    const dst = family === 4 ? l3 + 16 : l3 + 24;
    const vlan = vlanKey(res[r + kResTags] & 0xff, res[r + kResVlan]);
    res[r + kResFlowHash] = flowHash(d, family, src, dst, res[r + kResSrcPort], res[r + kResDstPort], proto, vlan);
    res[r + kResFamily] = family;
    const words = family === 4 ? 1 : 4;
    for (let i = 0; i < words; i++) {
      res[r + kResSrcAddr + i] = (d[src + 4 * i] << 24) | (d[src + 4 * i + 1] << 16) | (d[src + 4 * i + 2] << 8) | d[src + 4 * i + 3];
      res[r + kResDstAddr + i] = (d[dst + 4 * i] << 24) | (d[dst + 4 * i + 1] << 16) | (d[dst + 4 * i + 2] << 8) | d[dst + 4 * i + 3];
    }
  }

  /** Marks the packet as an IP fragment and records what reassembly needs. */
  private fragment(offset: number, more: boolean, id: number, dataOff: number, dataLen: number): void {
    const res = this.res;
    const r = this.r;
    res[r + kResFlags] |= kFlagFragment;
    res[r + kResFragment] = offset | (more ? 1 << 16 : 0) | (1 << 17);
    res[r + kResFragId] = id;
    res[r + kResFragDataOff] = dataOff;
    res[r + kResFragDataLen] = dataLen;
  }

  private fail(layer: number, status: number): void {
    this.res[this.r + kResFlags] |= kFlagMalformed;
    this.res[this.r + kResMalformed] = (layer << 8) | -status;
  }

  private soft(layer: number, status: number): void {
    if (this.res[this.r + kResMalformed] === 0) this.fail(layer, status);
  }
}
