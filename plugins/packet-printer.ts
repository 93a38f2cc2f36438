import { definePlugin, type PacketEvent } from "../core/plugins/plugin-api.ts";

/**
 * One line per packet, in the spirit of `tcpdump -tt -n`: the default when no plugin is named.
 *
 * The layer events of one packet arrive together and in order (packet, ethernet, arp, ipv4, ipv6,
 * transport, malformed), so the line is assembled as they come. It cannot be written at the first
 * event, since a later one may still change it (the transport replaces the IP summary, a malformed
 * note is appended), and no event says "this packet is done". Two moments do: the next packet's
 * `packet` event, and the end of the batch being dispatched. The host delivers a batch's events in
 * one synchronous loop (core/dispatch/dispatcher.ts), so a microtask queued during it runs only after
 * the batch's last packet has had all its events: the first packet of each batch queues one, and
 * it writes the last line. Without it that line would wait for the next batch, which in live capture
 * or from a slow pipe is the next packet, however late it comes. (One microtask per batch, not per
 * packet; the writes themselves are batched by the host's output writer.)
 *
 * Lengths are those tcpdump prints: what follows the header a line describes. ARP: the frame on the
 * wire after its link-layer header (padding included) and any 802.2 LLC/SNAP header (in an 802.3
 * frame, only what its length field covers); ICMP and ICMPv6: the message, from the IP header's
 * length; TCP and UDP: the payload; another IP protocol: the IP payload after the header and any
 * IPv6 extension headers (hop-by-hop, routing, destination options, fragment, AH), which tcpdump
 * walks before it names the protocol. Where tcpdump prints no length (an IPv4 fragment other than
 * the first, no next header, a mobility header) the line has none. A frame nothing was decoded from
 * shows its own length. Of IP in IP, the line describes the inner packet, which tcpdump's line ends
 * with, as far as the events tell it: the `ipv4` and `ipv6` events give the first header of each
 * version, so 4in4 and 6in6 without a decoded transport show the outer header.
 */
export default definePlugin({
  name: "packet-printer",
  description: "One line per packet, like tcpdump -tt -n (the default plugin)",
  setup(ctx) {
    let pending: string | null = null;
    let ip = "";
    let src = "";
    let dst = "";
    let len = 0;
    /** Bytes of link-layer header before the network layer (ARP's length is what follows them). */
    let linkLen = 0;
    /** Protocol of the last IP header and its payload after the header (-1: not told by the header). */
    let ipProto = -1;
    let ipPayload = -1;
    /**
     * True when the packet's IPv4 header is its innermost one (4in6). The host emits the first IPv4
     * header and then the first IPv6 header, whichever carries the other; tcpdump's line ends with
     * the inner one, which the events' `inner` tells.
     */
    let ip4Inner = false;
    let json: Record<string, unknown> | null = null;
    /**
     * The packet's `packet` view. A packet's events come in one synchronous loop over one cursor
     * (core/dispatch/dispatcher.ts), so during its later events this view still describes it: an
     * ARP packet's frame bytes are read from there (its `data` is a new view each time it is read,
     * which the hot path does not pay for).
     */
    let packet: PacketEvent | null = null;
    const flush = () => {
      if (pending !== null) ctx.out.line(pending);
      else if (json !== null) ctx.out.json(json);
      pending = null;
      json = null;
    };
    /** True while a microtask to write the batch's last line is queued. */
    let endQueued = false;
    const endOfBatch = () => {
      endQueued = false;
      flush();
    };
    /** At a `packet` event: the previous packet's line is complete; this one's is written by the end of the batch. */
    const startPacket = () => {
      flush();
      if (!endQueued) {
        endQueued = true;
        queueMicrotask(endOfBatch);
      }
    };

    if (ctx.format === "json") {
      ctx.on("packet", (p) => {
        startPacket();
        ip4Inner = false;
        json = { type: "packet", ts: p.ts, frame: p.frame, len: p.len, caplen: p.caplen, linktype: p.linktype };
      });
      ctx.on("ipv4", (h) => {
        ip4Inner = h.inner;
        if (json) Object.assign(json, { src: h.src, dst: h.dst, ip: 4 });
      });
      ctx.on("ipv6", (h) => {
        if (json && !ip4Inner) Object.assign(json, { src: h.src, dst: h.dst, ip: 6 });
      });
      ctx.on("tcp", (s) => void (json && Object.assign(json, { proto: "tcp", src: s.src, dst: s.dst, sport: s.sport, dport: s.dport, flags: s.flag_text })));
      ctx.on("udp", (d) => void (json && Object.assign(json, { proto: "udp", src: d.src, dst: d.dst, sport: d.sport, dport: d.dport })));
      ctx.on("malformed", (m) => void (json && Object.assign(json, { malformed: `${m.layer}: ${m.reason}` })));
      ctx.onTeardown(flush);
      return;
    }

    ctx.on("packet", (p) => {
      startPacket();
      packet = p;
      len = p.len;
      linkLen = linkHeaderLength(p.linktype);
      ip = "";
      ipProto = -1;
      ipPayload = -1;
      ip4Inner = false;
      pending = `${p.ts.toFixed(6)} ${p.unsupported ? `link type ${p.linktype}` : "?"}, length ${p.len}`;
    });
    ctx.on("ethernet", (e) => {
      linkLen = 14 + 4 * e.vlan_tags;
    });
    ctx.on("arp", (a) => {
      const op = a.operation === 1 ? `Request who-has ${a.target_ip} tell ${a.sender_ip}` : a.operation === 2 ? `Reply ${a.sender_ip} is-at ${a.sender_mac}` : `operation ${a.operation}`;
      // The frame's bytes say whether an LLC/SNAP header comes first (ARP is rare: reading them is cheap).
      const n = packet === null ? len - linkLen : arpLength(packet.data, packet.linktype, len, linkLen);
      pending = `${ctx_ts(pending)} ARP, ${op}, length ${n}`;
    });
    ctx.on("ipv4", (h) => {
      ip4Inner = h.inner;
      ip = "IP";
      src = h.src;
      dst = h.dst;
      ipProto = h.protocol;
      // A zero total length (segmentation offload) says nothing: ICMP then counts what was captured.
      ipPayload = h.total_length >= h.header_length ? h.total_length - h.header_length : -1;
      // A fragment after the first says only its protocol ("ip-proto-17"), as does "no next header".
      const shown = h.fragment_offset === 0 && ipProto !== kNoNextHeader;
      pending = `${ctx_ts(pending)} IP ${src} > ${dst}: ${protocolText(ipProto, shown ? Math.max(ipPayload, 0) : -1)}`;
    });
    ctx.on("ipv6", (h) => {
      if (ip4Inner) return; // 4in6: the IPv4 header's line stands
      ip = "IP6";
      src = h.src;
      dst = h.dst;
      ipProto = h.protocol;
      // What follows the extension headers, as tcpdump walks them before it names the protocol.
      ipPayload = h.upper_length;
      // tcpdump's walk ends at a mobility header, which prints the rest without a length (the
      // extension list is built only when there are extension headers: it is an array).
      if (h.next_header !== h.protocol && h.extensions.includes("mobility")) ipProto = kMobilityHeader;
      const laterFragment = h.fragment && h.fragment_offset !== 0;
      const shown = laterFragment || !endsWithoutLength(ipProto);
      pending = `${ctx_ts(pending)} IP6 ${src} > ${dst}: ${protocolText(ipProto, shown ? Math.max(ipPayload, 0) : -1)}`;
    });
    ctx.on("tcp", (s) => {
      const ack = s.flags & 0x10 ? `, ack ${s.ack}` : "";
      pending = `${ctx_ts(pending)} ${ip} ${s.src}.${s.sport} > ${s.dst}.${s.dport}: Flags [${s.flag_text}], seq ${s.seq}${ack}, win ${s.window}, length ${s.payload_length}`;
    });
    ctx.on("udp", (d) => {
      pending = `${ctx_ts(pending)} ${ip} ${d.src}.${d.sport} > ${d.dst}.${d.dport}: UDP, length ${d.payload_length}`;
    });
    // The message's length is the payload of the IP header that carries it. When the last IP event was
    // not that header (IP in IP) or could not tell, it is the message as captured (its 8-byte header
    // and the rest), which is the same unless the capture cut the packet short.
    ctx.on("icmp", (m) => {
      const n = ipProto === 1 && ipPayload >= 0 ? ipPayload : m.payload.length + 8;
      pending = `${ctx_ts(pending)} IP ${m.src} > ${m.dst}: ICMP type ${m.type} code ${m.code}, length ${n}`;
    });
    ctx.on("icmpv6", (m) => {
      const n = ipProto === 58 && ipPayload >= 0 ? ipPayload : m.payload.length + 8;
      pending = `${ctx_ts(pending)} IP6 ${m.src} > ${m.dst}: ICMP6 type ${m.type} code ${m.code}, length ${n}`;
    });
    ctx.on("malformed", (m) => {
      pending = `${pending ?? ""} [malformed ${m.layer}: ${m.reason}]`;
    });
    ctx.onTeardown(flush);
  },
});

/**
 * Bytes of link-layer header before the network layer, for the link types that carry ARP (others
 * carry only IP); Ethernet's VLAN tags are added at its `ethernet` event. tcpdump takes these off a
 * frame's length before it prints an ARP packet's.
 */
function linkHeaderLength(linktype: number): number {
  switch (linktype) {
    case 1: // Ethernet
      return 14;
    case 10: // FDDI, with its 802.2 LLC/SNAP header
      return 13 + 8;
    case 113: // Linux cooked capture (SLL)
      return 16;
    case 276: // Linux cooked capture v2 (SLL2)
      return 20;
    default:
      return 0;
  }
}

/**
 * ARP's length in the frame `d` of `wireLength` bytes whose link-layer header takes `linkLength`: what
 * follows that header and the 802.2 LLC/SNAP header (8 bytes) when there is one, as tcpdump counts it.
 * On Ethernet, a type field of 1500 or less is an 802.3 length: tcpdump takes the frame to end where
 * it says (before any padding) when that is sooner. In Linux cooked captures, protocol 4 is LLC.
 * (The decoder finds ARP after LLC only with SNAP, so the header is SNAP's 8 bytes.)
 */
function arpLength(d: Uint8Array, linktype: number, wireLength: number, linkLength: number): number {
  const rest = wireLength - linkLength;
  switch (linktype) {
    case 1: {
      const typeOrLength = (d[linkLength - 2] << 8) | d[linkLength - 1];
      return typeOrLength <= 1500 ? Math.min(typeOrLength, rest) - kSnapLength : rest;
    }
    case 113:
      return ((d[14] << 8) | d[15]) === kSllLlc ? rest - kSnapLength : rest;
    case 276:
      return ((d[0] << 8) | d[1]) === kSllLlc ? rest - kSnapLength : rest;
    default:
      return rest;
  }
}

/** An 802.2 LLC header with SNAP: DSAP, SSAP, control, OUI and EtherType. */
const kSnapLength = 8;
/** The Linux cooked header's protocol for an 802.2 LLC frame (ETH_P_802_2). */
const kSllLlc = 4;

/** "ip-proto-P, length N", or "ip-proto-P" alone for a `length` of -1 (where tcpdump prints none). */
function protocolText(proto: number, length: number): string {
  return length < 0 ? `ip-proto-${proto}` : `ip-proto-${proto}, length ${length}`;
}

const kNoNextHeader = 59;
const kMobilityHeader = 135;
/** The mobility header's number in drafts before RFC 3775, which tcpdump still reads as one. */
const kOldMobilityHeader = 62;

/**
 * True for the IPv6 protocols after which tcpdump prints no length: "no next header", and a mobility
 * header (either number), which it hands the rest of the packet to.
 */
function endsWithoutLength(proto: number): boolean {
  return proto === kNoNextHeader || proto === kMobilityHeader || proto === kOldMobilityHeader;
}

/** The timestamp at the start of a pending line. */
function ctx_ts(line: string | null): string {
  return line === null ? "" : line.slice(0, line.indexOf(" "));
}
