/**
 * The event map: every event the host emits, with the fields it carries. The bus, `ctx.on`, the
 * JSON output and the README all follow this one declaration.
 *
 * Field names are the same in the API and in JSON output (`sport`, `packets_ab`, like Zeek's logs),
 * so that what a plugin reads is what `event-log` writes.
 *
 * Lifetime. Layer events (`packet` to `malformed`) are views into the shared ring: each is valid only
 * until its handler returns (after an `await`, it describes another packet). To keep one, call
 * `ev.toJSON()`, which returns a plain copy, or copy the fields you need; `payload` and `data` are
 * views too: keep them with `.slice()`. Application events (`flow.*`, `http.*`, `dns`, `tls.*`,
 * `weird`) are ordinary objects that a plugin may keep as they are.
 */
import type { MalformedLayer, MalformedReason } from "../workers/decode-result.ts";
import type { DnsAnswer, DnsQuestion } from "./analyzers/dns-parser.ts";

export type { MalformedLayer, MalformedReason };

/** Fields every event has. */
export interface EventBase {
  /** Capture time of the packet, in seconds since the epoch (microsecond precision). */
  readonly ts: number;
  /** Number of the packet in the capture (1-based, counting packets that passed the filter). */
  readonly frame: number;
}

/** A layer event: a view valid only during the handler call. */
export interface LayerEvent extends EventBase {
  /** A plain, JSON-ready copy of the event that stays valid. */
  toJSON(): Record<string, unknown>;
}

/** Every captured frame, whatever its link type. */
export interface PacketEvent extends LayerEvent {
  /** Timestamp seconds and nanoseconds, exactly as captured. */
  readonly ts_sec: number;
  readonly ts_nsec: number;
  /** Bytes captured and bytes on the wire. */
  readonly caplen: number;
  readonly len: number;
  /** LINKTYPE_* of the frame's interface. */
  readonly linktype: number;
  /** Interface index (pcapng IDB number; 0 for pcap and live capture). */
  readonly iface: number;
  /** The captured bytes (a view: `.slice()` to keep them). */
  readonly data: Uint8Array;
  /** True when the decoders found a damaged layer (a `malformed` event follows). */
  readonly malformed: boolean;
  /** True when the link type is one the decoders do not know. */
  readonly unsupported: boolean;
}

/** An Ethernet header, with its VLAN tags. */
export interface EthernetEvent extends LayerEvent {
  readonly src: string;
  readonly dst: string;
  /** EtherType after any VLAN tags and MPLS labels (-1 for an 802.3 frame without SNAP). */
  readonly ethertype: number;
  /** VLAN id of the outer tag, or null when untagged. */
  readonly vlan: number | null;
  /** VLAN id of the second tag (QinQ), or null. */
  readonly inner_vlan: number | null;
  /** Number of VLAN tags. */
  readonly vlan_tags: number;
}

/** An ARP or RARP packet (IPv4 over Ethernet gives readable addresses; others are hex). */
export interface ArpEvent extends LayerEvent {
  /** 1 request, 2 reply, 3 and 4 RARP. */
  readonly operation: number;
  readonly sender_mac: string;
  readonly sender_ip: string;
  readonly target_mac: string;
  readonly target_ip: string;
}

/** An IPv4 header. */
export interface Ipv4Event extends LayerEvent {
  readonly src: string;
  readonly dst: string;
  readonly ttl: number;
  readonly tos: number;
  readonly id: number;
  readonly protocol: number;
  readonly total_length: number;
  readonly header_length: number;
  readonly dont_fragment: boolean;
  readonly more_fragments: boolean;
  /** Fragment offset in bytes. */
  readonly fragment_offset: number;
  /**
   * True when this is the innermost IP header decoded, the one the transport and the flow belong to;
   * false for the outer header of an IP-in-IP tunnel (6in4, 4in4: another IP header is inside).
   */
  readonly inner: boolean;
}

/** An IPv6 header. */
export interface Ipv6Event extends LayerEvent {
  readonly src: string;
  readonly dst: string;
  readonly hop_limit: number;
  readonly traffic_class: number;
  readonly flow_label: number;
  /** Next header of the fixed header. */
  readonly next_header: number;
  /** Upper-layer protocol after the extension headers. */
  readonly protocol: number;
  readonly payload_length: number;
  /**
   * Bytes `protocol` gets: the payload after the extension headers (those of `extensions`; after a
   * fragment header that is not the first, what follows it), from the header's payload length.
   */
  readonly upper_length: number;
  /** Extension headers present, by name ("hop-by-hop", "routing", "fragment", "destination", "auth", "esp", "mobility"). */
  readonly extensions: readonly string[];
  /** True for a fragment (offset or more-fragments set); `fragment_offset` in bytes. */
  readonly fragment: boolean;
  readonly fragment_offset: number;
  /** True when this is the innermost IP header decoded; false for the outer header of a tunnel (see Ipv4Event.inner). */
  readonly inner: boolean;
}

/** A TCP segment. */
export interface TcpEvent extends LayerEvent {
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
  /** Sequence and acknowledgement numbers (uint32). */
  readonly seq: number;
  readonly ack: number;
  /** Flag bits: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80, NS 0x100. */
  readonly flags: number;
  /** Flags as tcpdump prints them: "S", "S.", "P.", "F.", "R"... */
  readonly flag_text: string;
  readonly window: number;
  /** Options; null when absent. */
  readonly mss: number | null;
  readonly window_scale: number | null;
  readonly sack_permitted: boolean;
  /** SACK blocks as [left, right] pairs. */
  readonly sack: ReadonlyArray<readonly [number, number]>;
  readonly ts_val: number | null;
  readonly ts_ecr: number | null;
  /** Payload length the headers declare, and the captured payload bytes (a view). */
  readonly payload_length: number;
  readonly payload: Uint8Array;
}

/** A UDP datagram. */
export interface UdpEvent extends LayerEvent {
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
  readonly payload_length: number;
  readonly payload: Uint8Array;
}

/** An ICMP or ICMPv6 message. */
export interface IcmpEvent extends LayerEvent {
  readonly src: string;
  readonly dst: string;
  readonly type: number;
  readonly code: number;
  readonly payload: Uint8Array;
}

/** A frame the decoders could not fully take apart: which layer and why. Decoding went on up to it. */
export interface MalformedEvent extends LayerEvent {
  readonly layer: MalformedLayer;
  readonly reason: MalformedReason;
}

/** Transport protocol of a flow. */
export type FlowProto = "tcp" | "udp";

/**
 * A flow: the bidirectional 5-tuple (and VLAN). `a` is the initiator (the sender of the first SYN, else
 * of the first packet). Counters are by direction; bytes are wire lengths, as tcpdump and tshark count.
 * The same object is passed to `flow.start` and `flow.end` and is updated while the flow lives.
 */
export interface FlowRecord {
  /** Unique per run, in order of creation. */
  readonly id: number;
  readonly proto: FlowProto;
  readonly a: string;
  readonly aport: number;
  readonly b: string;
  readonly bport: number;
  /** VLAN id of the outer 802.1Q/802.1ad tag, or null (a priority tag, VLAN id 0, counts as none). */
  readonly vlan: number | null;
  /** VLAN id of the inner tag (QinQ), or null. Flows differ by both, as Zeek's conn.log records them. */
  readonly inner_vlan: number | null;
  readonly packets_ab: number;
  readonly bytes_ab: number;
  readonly packets_ba: number;
  readonly bytes_ba: number;
  /** Timestamps of the first and last packet. */
  readonly first: number;
  readonly last: number;
  /**
   * TCP: "syn_sent", "established", "closing", "closed" (FIN both ways), "reset", "timeout" (idle),
   * "open" (still open at end of input). UDP: "active", then "timeout" or "open".
   */
  readonly state: string;
  /** Application protocol detected by content: "http", "tls", "dns", or null. */
  readonly service: string | null;
  /** The record as a plain JSON-ready object. */
  toJSON(): Record<string, unknown>;
}

/**
 * Zeek's conn.log summary of a TCP or UDP flow, emitted when the flow ends, right after its
 * `flow.end`. Every UDP flow has one; a TCP flow only when it began while some plugin listened to
 * `conn`: tracking it costs each of its packets a few steps of Zeek's state machine, which nothing
 * else needs.
 */
export interface ConnEvent {
  /** The flow, ended. */
  readonly flow: FlowRecord;
  /**
   * Zeek's conn_state, side a taken as Zeek's originator: "S0" (SYN, no reply), "REJ" (answered by
   * RST), "S1" (established, still open), "SF" (closed by FIN both ways), "S2"/"S3" (established,
   * only a / only b sent FIN), "RSTO"/"RSTR" (established, then a / b sent RST), "RSTOS0" (a sent SYN
   * then RST, no SYN+ACK seen), "RSTRH" (b sent SYN+ACK then RST, a's SYN not seen), "SH"/"SHR" (a
   * sent SYN then FIN / b sent SYN+ACK then FIN, no reply), "OTH" (no SYN seen: midstream). UDP: "SF"
   * when both sides sent, else "S0".
   */
  readonly conn_state: string;
  /**
   * Zeek's conn.log history: a letter per kind of packet, in the order first seen, upper case for
   * side a and lower case for side b: S SYN, H SYN+ACK, A pure ACK, D data, F FIN, R RST, I FIN+RST,
   * Q SYN with FIN or RST, T retransmitted data, W zero window. S, H, F and R come again for one at a new
   * relative sequence number, T and W again at the 10th, 100th, ... of theirs. Zeek's C (bad
   * checksum) and G (content gap) are not given, and never "^": side a is already the originator.
   * At most the first 48 letters (kMaxHistory). UDP: "D" when side a sent, "d" when side b did.
   */
  readonly history: string;
  /**
   * Payload bytes each side sent: for TCP by sequence numbers, as Zeek's orig_bytes and resp_bytes
   * count them (a retransmission counts once, data the capture lost but the peer acknowledged
   * counts, SYN and FIN do not); for UDP the sum of the datagrams' payload lengths (the UDP length
   * field less 8, as Zeek counts; where that field is 0 or wrong, the IP header's). Both count what
   * the headers declare, also where the capture cut a frame or a datagram's last IP fragment.
   */
  readonly payload_ab: number;
  readonly payload_ba: number;
  /** The flow record's fields and these four, as one plain JSON-ready object. */
  toJSON(): Record<string, unknown>;
}

/** Endpoints of an application event: client to server for requests, server to client for responses. */
export interface FlowEndpoints extends EventBase {
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
  /** The flow the event belongs to. */
  readonly flow: FlowRecord;
  /** The event as a plain JSON-ready object (the flow appears as `flow_id`). */
  toJSON(): Record<string, unknown>;
}

/** An HTTP/1.x request head. Header names are lower-case. */
export interface HttpRequestEvent extends FlowEndpoints {
  readonly method: string;
  readonly host: string;
  readonly uri: string;
  readonly version: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** An HTTP/1.x response head. */
export interface HttpResponseEvent extends FlowEndpoints {
  readonly status: number;
  readonly reason: string;
  readonly version: string;
  readonly headers: Readonly<Record<string, string>>;
}

export type { DnsAnswer, DnsQuestion } from "./analyzers/dns-parser.ts";

/** A DNS message, over UDP or TCP. `qname`/`qtype` repeat the first question ("" and 0 without one). */
export interface DnsEvent extends EventBase {
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
  readonly proto: FlowProto;
  readonly response: boolean;
  readonly id: number;
  readonly opcode: number;
  readonly rcode: number;
  readonly qname: string;
  readonly qtype: number;
  readonly questions: readonly DnsQuestion[];
  readonly answers: readonly DnsAnswer[];
  readonly authorities: readonly DnsAnswer[];
  readonly additionals: readonly DnsAnswer[];
  /** True when the message ended before its counts said: what was there is kept. */
  readonly truncated: boolean;
  /** The event as a plain JSON-ready object. */
  toJSON(): Record<string, unknown>;
}

/** A TLS ClientHello. */
export interface TlsClientHelloEvent extends FlowEndpoints {
  /** Server name (SNI), or null. */
  readonly sni: string | null;
  /** ALPN protocols offered, in order. */
  readonly alpn: readonly string[];
  /** legacy_version of the hello and version of the record carrying it (0x0303 is TLS 1.2). */
  readonly version: number;
  readonly record_version: number;
  /** supported_versions extension (TLS 1.3 lists 0x0304). */
  readonly supported_versions: readonly number[];
  /** Cipher suites; this list and the four after it are in the client's order, GREASE values (RFC 8701) included. */
  readonly cipher_suites: readonly number[];
  /** Extension types. */
  readonly extensions: readonly number[];
  /** supported_groups extension (the "elliptic curves" of TLS 1.2). */
  readonly supported_groups: readonly number[];
  readonly ec_point_formats: readonly number[];
  readonly signature_algorithms: readonly number[];
  /**
   * True when the hello broke off, a length inside it was wrong, or its groups, point formats or
   * signature algorithms came twice: the lists hold what was read, and there is no fingerprint.
   */
  readonly truncated: boolean;
  /**
   * The JA3 fingerprint: MD5, in hex, of `ja3_full` ("771,4865-4866,0-10-11,29-23,0": version,
   * cipher suites, extensions, groups, point formats; GREASE left out), as Wireshark and Suricata
   * compute it for a well-formed hello; null when `truncated`. Made when first read: these two are
   * getters, which `toJSON()` copies and `{...event}` does not.
   */
  readonly ja3: string | null;
  readonly ja3_full: string | null;
}

/**
 * One certificate a TLS 1.2 (or older) server sent, as it says it (nothing is verified); TLS 1.3
 * sends them encrypted. A chain gives one event per certificate, in the order sent: the server's
 * own first. From the server to the client.
 */
export interface TlsCertificateEvent extends FlowEndpoints {
  /** Place in the chain: 0 for the server's own certificate. */
  readonly index: number;
  /** Certificates read from the chain (fewer than sent when it broke off: then `truncated`). */
  readonly chain_length: number;
  /** X.509 version: 1, 2 or 3. */
  readonly version: number;
  /** Serial number in upper-case hex, as openssl prints it. */
  readonly serial: string;
  /**
   * Distinguished names as `openssl x509 -nameopt RFC2253` writes them (RFC 4514: most specific part
   * first, e.g. "CN=www.example.com,O=Example Inc,C=US"; special characters and every byte outside
   * printable ASCII escaped).
   */
  readonly subject: string;
  readonly issuer: string;
  /** Validity in seconds since 1970, or null when the time cannot be read. */
  readonly not_before: number | null;
  readonly not_after: number | null;
  /**
   * The dNSName and iPAddress entries of the subjectAltName extension (names with bytes outside
   * printable ASCII escaped as \XX, addresses as RFC 5952 text; openssl prints both otherwise).
   */
  readonly san_dns: readonly string[];
  readonly san_ip: readonly string[];
  /** True when the certificate, or the chain it came in, broke off or a length in it was wrong. */
  readonly truncated: boolean;
  /**
   * SHA-1 and SHA-256 of the certificate's DER in lower-case hex, the fingerprints Suricata and Zeek
   * log (`openssl x509 -fingerprint` gives them too, in upper case with colons); null when it broke off.
   */
  readonly sha1: string | null;
  readonly sha256: string | null;
}

/** A TLS ServerHello (or HelloRetryRequest): what the server chose from the ClientHello's offer. */
export interface TlsServerHelloEvent extends FlowEndpoints {
  /** legacy_version of the hello and version of the record carrying it (0x0303 is TLS 1.2). */
  readonly version: number;
  readonly record_version: number;
  /** The version chosen: the supported_versions extension's (0x0304 for TLS 1.3), else `version`. */
  readonly selected_version: number;
  /** The cipher suite chosen (-1 when the hello broke off before it). */
  readonly cipher_suite: number;
  /**
   * The ALPN protocol chosen, or null. TLS 1.3 sends it in EncryptedExtensions, after the hello, so
   * it is null there: the ClientHello's offer is all that is visible.
   */
  readonly alpn: string | null;
  /**
   * True for a TLS 1.3 HelloRetryRequest: the server asks the client for another ClientHello. That one
   * and the ServerHello answering it come as a second `tls.client_hello` and `tls.server_hello`.
   */
  readonly hello_retry: boolean;
  /** Extension types, in the server's order. */
  readonly extensions: readonly number[];
  /** True when the hello broke off or a length inside it was wrong; then there is no fingerprint. */
  readonly truncated: boolean;
  /**
   * The JA3S fingerprint: MD5, in hex, of `ja3s_full` ("771,4865,43-51": version, cipher suite,
   * extensions), or null when `truncated`. Getters, as `ja3`.
   */
  readonly ja3s: string | null;
  readonly ja3s_full: string | null;
}

/**
 * Something odd in the traffic that analysis went past (Zeek calls these "weird"): a gap in a TCP
 * stream, an HTTP head that does not parse, an unmatched fragment. `name` is stable; `detail` is for people.
 */
export interface WeirdEvent extends EventBase {
  readonly name: string;
  readonly detail: string;
  readonly flow: FlowRecord | null;
  /** The event as a plain JSON-ready object. */
  toJSON(): Record<string, unknown>;
}

/**
 * The built-in event map. Plugins add their own events (emitted as "plugin-name.event") by declaring
 * them in this interface (declaration merging), which types `ctx.on` and `ctx.emit` for them too:
 *
 * ```ts
 * declare module "../core/events.ts" {
 *   interface HostEvents { "dns-top.report": { names: string[] } }
 * }
 * ```
 */
export interface HostEvents {
  packet: PacketEvent;
  ethernet: EthernetEvent;
  arp: ArpEvent;
  ipv4: Ipv4Event;
  ipv6: Ipv6Event;
  tcp: TcpEvent;
  udp: UdpEvent;
  icmp: IcmpEvent;
  icmpv6: IcmpEvent;
  malformed: MalformedEvent;
  "flow.start": FlowRecord;
  "flow.end": FlowRecord;
  conn: ConnEvent;
  "http.request": HttpRequestEvent;
  "http.response": HttpResponseEvent;
  dns: DnsEvent;
  "tls.client_hello": TlsClientHelloEvent;
  "tls.server_hello": TlsServerHelloEvent;
  "tls.certificate": TlsCertificateEvent;
  weird: WeirdEvent;
}

/** Name of an event in the map. */
export type EventName = keyof HostEvents & string;

/** Events decoded per packet in the workers, in the order the dispatcher emits them for one packet. */
export const layerEventNames = [
  "packet",
  "ethernet",
  "arp",
  "ipv4",
  "ipv6",
  "tcp",
  "udp",
  "icmp",
  "icmpv6",
  "malformed",
] as const;

/** Events the flow table and the application analyzers produce. */
export const appEventNames = [
  "flow.start",
  "flow.end",
  "conn",
  "http.request",
  "http.response",
  "dns",
  "tls.client_hello",
  "tls.server_hello",
  "tls.certificate",
  "weird",
] as const;

/** Every built-in event name. */
export const builtinEventNames: readonly EventName[] = [...layerEventNames, ...appEventNames];
