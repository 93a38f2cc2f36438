import { definePlugin, type Ipv6Event } from "../core/plugins/plugin-api.ts";

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
 * wire after its link-layer header (padding included); ICMP and ICMPv6: the message, from the IP
 * header's length; TCP and UDP: the payload; another IP protocol: the IP payload after the header
 * and any IPv6 fragment header. A frame nothing was decoded from shows its own length.
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
    let json: Record<string, unknown> | null = null;
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
        json = { type: "packet", ts: p.ts, frame: p.frame, len: p.len, caplen: p.caplen, linktype: p.linktype };
      });
      ctx.on("ipv4", (h) => void (json && Object.assign(json, { src: h.src, dst: h.dst, ip: 4 })));
      ctx.on("ipv6", (h) => void (json && Object.assign(json, { src: h.src, dst: h.dst, ip: 6 })));
      ctx.on("tcp", (s) => void (json && Object.assign(json, { proto: "tcp", src: s.src, dst: s.dst, sport: s.sport, dport: s.dport, flags: s.flag_text })));
      ctx.on("udp", (d) => void (json && Object.assign(json, { proto: "udp", src: d.src, dst: d.dst, sport: d.sport, dport: d.dport })));
      ctx.on("malformed", (m) => void (json && Object.assign(json, { malformed: `${m.layer}: ${m.reason}` })));
      ctx.onTeardown(flush);
      return;
    }

    ctx.on("packet", (p) => {
      startPacket();
      len = p.len;
      linkLen = linkHeaderLength(p.linktype);
      ip = "";
      ipProto = -1;
      ipPayload = -1;
      pending = `${p.ts.toFixed(6)} ${p.unsupported ? `link type ${p.linktype}` : "?"}, length ${p.len}`;
    });
    ctx.on("ethernet", (e) => {
      linkLen = 14 + 4 * e.vlan_tags;
    });
    ctx.on("arp", (a) => {
      const op = a.operation === 1 ? `Request who-has ${a.target_ip} tell ${a.sender_ip}` : a.operation === 2 ? `Reply ${a.sender_ip} is-at ${a.sender_mac}` : `operation ${a.operation}`;
      pending = `${ctx_ts(pending)} ARP, ${op}, length ${len - linkLen}`;
    });
    ctx.on("ipv4", (h) => {
      ip = "IP";
      src = h.src;
      dst = h.dst;
      ipProto = h.protocol;
      // A zero total length (segmentation offload) says nothing: ICMP then counts what was captured.
      ipPayload = h.total_length >= h.header_length ? h.total_length - h.header_length : -1;
      pending = `${ctx_ts(pending)} IP ${src} > ${dst}: ip-proto-${ipProto}, length ${Math.max(ipPayload, 0)}`;
    });
    ctx.on("ipv6", (h) => {
      ip = "IP6";
      src = h.src;
      dst = h.dst;
      ipProto = h.protocol;
      const ext = extensionBytes(h);
      ipPayload = ext >= 0 ? h.payload_length - ext : -1;
      // Other extension headers are counted in the length: the event does not give their size.
      pending = `${ctx_ts(pending)} IP6 ${src} > ${dst}: ip-proto-${ipProto}, length ${ext >= 0 ? ipPayload : h.payload_length}`;
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
 * Bytes of IPv6 extension headers between the header and the protocol it carries, when the event
 * tells: none, or a lone fragment header (8 bytes); -1 otherwise. `extensions` is read only when
 * `next_header` says there are some, since it builds an array.
 */
function extensionBytes(h: Ipv6Event): number {
  if (h.next_header === h.protocol) return 0;
  const names = h.extensions;
  return names.length === 1 && names[0] === "fragment" ? 8 : -1;
}

/** The timestamp at the start of a pending line. */
function ctx_ts(line: string | null): string {
  return line === null ? "" : line.slice(0, line.indexOf(" "));
}
