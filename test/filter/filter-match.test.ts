import t from "tap";
import type { Test } from "tap";
import { compileFilter, FilterError, parseFilter } from "../../workers/filter/pcap-filter.ts";
import {
  arp, concatBytes, ethernet, fragmentIpv4, hex, icmpv4Echo, icmpv6Echo, ipv4, ipv6, linuxSll, linuxSll2, nullLoopback,
  rawIp, tcp, udp,
} from "../support/packet-builders.ts";

const kEthernet = 1;
const kRawIp = 101;
const kIpv4 = 228;
const kIpv6 = 229;
const kNull = 0;
const kLoop = 108;
const kSll = 113;
const kSll2 = 276;
const kRadiotap = 127;

/**
 * Runs a filter the way the workers do: the frame sits at an odd offset inside a SharedArrayBuffer
 * and is followed by 0xff bytes, so a read past `caplen` would see data instead of being refused.
 */
function decide(expression: string, frame: Uint8Array, options: { linktype?: number; caplen?: number; wirelen?: number } = {}): boolean {
  const filter = compileFilter(parseFilter(expression), options.linktype ?? kEthernet);
  const shared = new Uint8Array(new SharedArrayBuffer(frame.length + 200)).fill(0xff);
  const offset = 37;
  shared.set(frame, offset);
  const caplen = options.caplen ?? frame.length;
  return filter(shared, offset, caplen, options.wirelen ?? frame.length);
}

/** Checks several expressions against one frame: `expected` maps expression to decision. */
function expectAll(t: Test, frame: Uint8Array, expected: Record<string, boolean>, linktype = kEthernet): void {
  for (const [expression, want] of Object.entries(expected)) {
    t.equal(decide(expression, frame, { linktype }), want, `${want ? "accepts" : "rejects"}: ${expression}`);
  }
}

function compileError(expression: string, linktype: number): FilterError {
  try {
    compileFilter(parseFilter(expression), linktype);
  } catch (e) {
    if (e instanceof FilterError) return e;
    throw e;
  }
  throw new Error(`expected '${expression}' not to compile for link type ${linktype}`);
}

const syn = ipv4({ src: "10.0.0.1", dst: "192.0.2.80" }, tcp({ sport: 40000, dport: 80, flags: "S" }));
const dnsQuery = (src: string, dst: string): Uint8Array => udp({ sport: 5353, dport: 53 }, "query");

t.test("compileFilter() matches protocols, hosts, nets and ports of an Ethernet IPv4 TCP SYN", async (t) => {
  expectAll(t, ethernet({ src: "02:00:00:00:00:01", dst: "02:00:00:00:00:02" }, syn), {
    "tcp": true, "udp": false, "ip": true, "ip6": false, "arp": false, "icmp": false,
    "host 10.0.0.1": true, "src host 10.0.0.1": true, "dst host 10.0.0.1": false, "host 10.0.0.1 and 192.0.2.80": true,
    "net 10": true, "net 10.0.0.0/8": true, "dst net 192.0.2.0 mask 255.255.255.0": true, "net 172.16.0.0/12": false,
    "tcp port 80": true, "udp port 80": false, "port 80 or 443": true, "src port 80": false, "dst port 80": true,
    "portrange 1-1023": true, "src portrange 1-1023": false, "tcp src portrange 40000-40000": true,
    "tcp[tcpflags] & tcp-syn != 0": true, "tcp[13] & 2 != 0": true, "tcp[tcpflags] & tcp-ack != 0": false,
    "tcp[tcpflags] == tcp-syn": true, "ip[0] & 0xf != 5": false, "ip[9] = 6": true, "ip proto 6": true, "proto \\tcp": true,
    "ether src 02:00:00:00:00:01": true, "ether dst 02:00:00:00:00:01": false, "ether proto 0x0800": true,
    "ether broadcast": false, "ether multicast": false, "vlan": false,
  });
});

t.test("compileFilter() finds the TCP header behind IPv4 options (tcp[] and ports use the IHL)", async (t) => {
  const withOptions = ipv4({ src: "10.0.0.1", dst: "10.0.0.2", options: Uint8Array.of(1, 1, 1, 0) }, tcp({ sport: 1, dport: 80, flags: "S" }));
  expectAll(t, ethernet({}, withOptions), {
    "ip[0] & 0xf != 5": true, "tcp dst port 80": true, "tcp[tcpflags] & tcp-syn != 0": true, "tcp[2:2] = 80": true,
  });
});

t.test("compileFilter() matches non-first IPv4 fragments by protocol but not by port", async (t) => {
  const datagram = ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, udp({ sport: 5353, dport: 53 }, "x".repeat(64)));
  const [first, second] = fragmentIpv4(datagram, 32);
  expectAll(t, ethernet({}, first!), { "udp": true, "udp port 53": true, "ip[6:2] & 0x1fff = 0": true });
  expectAll(t, ethernet({}, second!), { "udp": true, "udp port 53": false, "udp[0:2] = 5353": false, "ip[6:2] & 0x1fff != 0": true });
});

t.test("compileFilter() follows one IPv6 fragment header for tcp/udp but not for ports, like libpcap", async (t) => {
  const plain = ipv6({ src: "2001:db8::1", dst: "2001:db8::53" }, dnsQuery("", ""));
  expectAll(t, ethernet({}, plain), {
    "udp": true, "ip6": true, "ip": false, "udp port 53": true, "ip6 host 2001:db8::1": true, "net 2001:db8::/32": true,
    "dst host 2001:db8::1": false, "ip6 proto 17": true, "ip6[6] = 17": true,
  });
  const fragmented = ipv6({ src: "2001:db8::1", dst: "2001:db8::53", extensions: [{ type: "fragment", id: 7, more: true }] }, dnsQuery("", ""));
  expectAll(t, ethernet({}, fragmented), { "udp": true, "udp port 53": false, "ip6 proto 44": true, "proto 17": true });
  const hopByHop = ipv6({ src: "2001:db8::1", dst: "2001:db8::53", extensions: [{ type: "hop-by-hop" }] }, dnsQuery("", ""));
  expectAll(t, ethernet({}, hopByHop), { "udp": false, "ip6": true, "not tcp and not udp": true });
});

t.test("compileFilter() reads tcp[] on IPv4 only, as libpcap 1.10 does", async (t) => {
  const v6syn = ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, tcp({ sport: 1, dport: 2, flags: "S" }));
  expectAll(t, ethernet({}, v6syn), { "tcp": true, "tcp[tcpflags] & tcp-syn != 0": false, "ip6 and tcp[13] = 2": false });
});

t.test("compileFilter() needs 'vlan' to look inside tags, and every 'vlan' shifts what follows by 4 bytes", async (t) => {
  const tagged = ethernet({ vlans: [{ vid: 100 }] }, syn);
  expectAll(t, tagged, {
    "tcp": false, "ip": false, "vlan": true, "vlan 100": true, "vlan 200": false, "vlan and tcp port 80": true,
    "vlan 100 and host 10.0.0.1": true, "vlan and vlan": false, "(vlan and tcp) or udp": true,
  });
  const qinq = ethernet({ vlans: [{ vid: 10 }, { vid: 20 }] }, syn);
  expectAll(t, qinq, { "vlan 10 and vlan 20 and tcp": true, "vlan and tcp": false, "vlan 20": false });
  // Offsets are state: the 'tcp' after 'vlan' reads 4 bytes further in even across 'or'.
  expectAll(t, ethernet({}, syn), { "tcp or vlan": true, "vlan or tcp": false });
});

t.test("compileFilter() treats 'host' as ip, arp or rarp host on Ethernet", async (t) => {
  const request = ethernet({}, arp({ op: "request", senderMac: "02:00:00:00:00:01", senderIp: "10.0.0.1", targetIp: "10.0.0.9" }));
  expectAll(t, request, { "arp": true, "host 10.0.0.9": true, "dst host 10.0.0.9": true, "ip host 10.0.0.9": false, "arp src host 10.0.0.1": true, "ip": false });
});

t.test("compileFilter() checks the version nibble on raw IP and trusts the link type on LINKTYPE_IPV4/IPV6", async (t) => {
  expectAll(t, rawIp(syn), { "ip": true, "ip6": false, "tcp port 80": true, "host 10.0.0.1": true, "arp": false }, kRawIp);
  const v6 = ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, dnsQuery("", ""));
  expectAll(t, rawIp(v6), { "ip": false, "ip6": true, "udp port 53": true }, kRawIp);
  const badVersion = syn.slice();
  badVersion[0] = 0x55;
  expectAll(t, badVersion, { "ip": true, "tcp": true }, kIpv4);
  expectAll(t, badVersion, { "ip": false }, kRawIp);
  expectAll(t, v6, { "ip6": true, "ip": false, "udp": true }, kIpv6);
});

t.test("compileFilter() reads the address family of BSD null (either byte order) and loop (network order) headers", async (t) => {
  expectAll(t, nullLoopback({ byteOrder: "little" }, syn), { "ip": true, "tcp port 80": true, "ip6": false }, kNull);
  expectAll(t, nullLoopback({ byteOrder: "big" }, syn), { "ip": true }, kNull);
  const v6 = ipv6({ src: "::1", dst: "::1" }, dnsQuery("", ""));
  for (const family of [24, 28, 30] as const) {
    t.equal(decide("ip6 and udp port 53", nullLoopback({ ipv6Family: family }, v6), { linktype: kNull }), true, `AF_INET6 = ${family}`);
  }
  expectAll(t, nullLoopback({ byteOrder: "big" }, syn), { "ip": true }, kLoop);
  expectAll(t, nullLoopback({ byteOrder: "little" }, syn), { "ip": false }, kLoop);
});

t.test("compileFilter() finds the protocol of Linux cooked captures v1 and v2", async (t) => {
  expectAll(t, linuxSll({}, syn), { "tcp port 80": true, "ip": true, "ip6": false, "host 10.0.0.1": true }, kSll);
  expectAll(t, linuxSll2({}, syn), { "tcp port 80": true, "ip": true, "udp": false }, kSll2);
});

t.test("compileFilter() finds IP after the 802.11 header, its QoS field and radiotap padding", async (t) => {
  const llcIp = concatBytes(hex("aa aa 03 00 00 00 08 00"), ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, dnsQuery("", "")));
  const addresses = hex("02 00 00 00 00 0a  02 00 00 00 00 0b  02 00 00 00 00 0c");
  const radiotap = (length: number, present: string, fields: string): Uint8Array =>
    concatBytes(Uint8Array.of(0, 0, length, 0), hex(present), hex(fields));
  // Data frame (FC 0x08) to the DS (flags 0x01): DA is address 3, SA address 2.
  const data = concatBytes(radiotap(8, "00 00 00 00", ""), hex("08 01 00 00"), addresses, hex("00 00"), llcIp);
  expectAll(t, data, {
    "udp port 53": true, "ip": true, "host 10.0.0.2": true, "tcp": false,
    "ether src 02:00:00:00:00:0b": true, "ether dst 02:00:00:00:00:0c": true, "ether host 02:00:00:00:00:0a": false,
  }, kRadiotap);
  // QoS data (FC 0x88) adds 2 bytes; the radiotap "data pad" flag (byte 8) rounds the payload offset up
  // to a multiple of 4, counted from the start of the radiotap header as libpcap does.
  const qosPadded = concatBytes(radiotap(12, "02 00 00 00", "20 00 00 00"), hex("88 01 00 00"), addresses, hex("00 00 00 00 00 00"), llcIp);
  expectAll(t, qosPadded, { "udp port 53": true, "ip[9] = 17": true }, kRadiotap);
  // A management frame carries no IP.
  const beacon = concatBytes(radiotap(8, "00 00 00 00", ""), hex("80 00 00 00"), addresses, hex("00 00"), llcIp);
  expectAll(t, beacon, { "ip": false, "udp": false, "greater 10": true }, kRadiotap);
});

t.test("compileFilter() rejects the whole packet when a test reads past the captured bytes, like BPF", async (t) => {
  const frame = ethernet({}, syn);
  const cut = { caplen: 30, wirelen: frame.length };
  t.equal(decide("tcp port 80", frame, cut), false, "the ports are not captured");
  t.equal(decide("not tcp port 80", frame, cut), false, "negation does not turn a failed read into a match");
  t.equal(decide("ip[100] = 1 or tcp", frame), false, "a failed read stops everything, even an 'or'");
  t.equal(decide("tcp or ip[100] = 1", frame), true, "but 'or' stops before reading when the left side matches");
  t.equal(decide("less 100", frame, cut), true, "length tests read no packet bytes");
  t.equal(decide("ip[0] / ip[1] = 1", frame), false, "division by a zero byte at run time rejects");
  t.equal(decide("not ip[0] / ip[1] = 1", frame), false);
});

t.test("compileFilter() skips tests that cannot change the outcome, as tcpdump's optimizer does, even on truncated packets", async (t) => {
  const frame = ethernet({}, ipv4({ src: "10.0.0.2", dst: "192.0.2.80" }, tcp({ sport: 40000, dport: 80, flags: "S" })));
  const toSource = { caplen: 30, wirelen: frame.length }; // the IPv4 source address is the last captured field
  t.equal(decide("host 10.0.0.1 or 10.0.0.2", frame, toSource), true, "both source tests are pulled ahead of the destination tests");
  t.equal(decide("src host 10.0.0.2 or dst host 10.0.0.9", frame, toSource), true);
  t.equal(decide("tcp port 80 or ip", frame, toSource), true, "the port tests cannot matter for an IPv4 packet, so they are dropped");
  t.equal(decide("tcp port 80", frame, toSource), false);
  t.equal(decide("rarp and ip proto 1 or less 100", frame, toSource), true);
  t.equal(decide("rarp and ip proto 1 or less 100", frame, { caplen: 10, wirelen: frame.length }), false,
    "the first test's load is kept even when the test is dropped");
});

t.test("compileFilter() compares lengths with the original (wire) length", async (t) => {
  const frame = ethernet({}, syn);
  t.equal(decide("greater 1000", frame, { wirelen: 1500 }), true);
  t.equal(decide("less 100", frame, { wirelen: 1500 }), false);
  t.equal(decide(`len = ${frame.length}`, frame), true);
  t.equal(decide("len - 14 > 1000", frame, { wirelen: 1500 }), true);
  t.equal(decide("less 54", frame), true, "less is <=, greater is >=");
  t.equal(decide("greater 54", frame), true);
});

t.test("compileFilter() evaluates ICMP and ICMPv6 header tests", async (t) => {
  const echo = ethernet({}, ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }, icmpv4Echo({ id: 1, seq: 1 })));
  expectAll(t, echo, { "icmp": true, "icmp[icmptype] == icmp-echo": true, "icmp[icmptype] = icmp-echoreply": false, "icmp[icmpcode] = 0": true });
  const echo6 = ethernet({}, ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, icmpv6Echo({ id: 1, seq: 1 })));
  expectAll(t, echo6, { "icmp6": true, "icmp": false, "icmp6[icmp6type] = icmp6-echo": true, "icmp6[0] = 129": false });
});

t.test("compileFilter() computes arithmetic in unsigned 32 bits", async (t) => {
  const frame = ethernet({}, syn);
  expectAll(t, frame, {
    "ip[0] - 0x46 = 0xffffffff": true, "ip[9] * 2 + 1 = 13": true, "ip[0] % 16 = 5": true, "ip[0] ^ 0x40 = 5": true,
    "ip[0] >> 4 = 4": true, "ip[0] << 24 = 0x45000000": true, "-1 = 0xffffffff": true, "ip[12:4] = 0x0a000001": true,
    "2 * 3 % 4 = 6": true,
  });
});
t.test("compileFilter() reads the packet direction and interface index of Linux cooked headers, as libpcap does", async (t) => {
  const sent = { packetType: "outgoing" } as const;
  for (const [build, linktype] of [[linuxSll, kSll], [linuxSll2, kSll2]] as const) {
    expectAll(t, build({}, syn), { "inbound": true, "outbound": false, "inbound and tcp port 80": true, "not outbound": true }, linktype);
    expectAll(t, build(sent, syn), { "inbound": false, "outbound": true, "outbound and udp": false }, linktype);
    // Broadcast, multicast and other-host packets all came in: only PACKET_OUTGOING is outbound.
    for (const packetType of ["broadcast", "multicast", "other-host"] as const) {
      t.equal(decide("inbound", build({ packetType }, syn), { linktype }), true, `${packetType} is inbound on ${linktype}`);
    }
  }
  expectAll(t, linuxSll2({ interfaceIndex: 7 }, syn), { "ifindex 7": true, "ifindex 1": false, "ifindex 7 and outbound": false }, kSll2);
});

t.test("compileFilter() refuses inbound, outbound and ifindex where the frames do not record them", async (t) => {
  for (const linktype of [kEthernet, kRawIp, kNull, kLoop, kIpv6]) {
    const e = compileError("tcp and inbound", linktype);
    t.match(e.message, /^Cannot use 'inbound' at position 8 on .*: its frames do not record their direction \(Linux cooked SLL\/SLL2.*\): filter live, .* or record with -i any/);
    t.equal(e.pointer(), "tcp and inbound\n        ^^^^^^^");
  }
  t.match(compileError("outbound", kEthernet).message, /^Cannot use 'outbound'/);
  t.match(compileError("ifindex 3", kSll).message, /^Cannot use 'ifindex 3' at position 0 on link type 113 \(Linux cooked v1\): its frames carry no interface index/);
});

t.test("compileFilter() refuses what cannot apply to a link type, with libpcap's reasons", async (t) => {
  const vlan = compileError("tcp and vlan", kRawIp);
  t.match(vlan.message, /^No VLAN support for link type 101 \(Raw IP\) at position 8/);
  t.equal(vlan.pointer(), "tcp and vlan\n        ^^^^");
  t.match(compileError("tcp", 239).message, /NFLOG link-layer type filtering is not implemented/);
  t.match(compileError("ip", 4242).message, /on link type 4242: /);
  t.match(compileError("ether host 00:11:22:33:44:55", kRawIp).message, /Ethernet addresses exist only on/);
  t.match(compileError("ether broadcast", kSll).message, /no link-layer broadcast address/);
  t.match(compileError("mpls", kRawIp).message, /^No MPLS support/);
  t.match(compileError("vlan 5000", kEthernet).message, /VLAN IDs go from 0 to 4095/);
  for (const linktype of [239, 4242, kRawIp]) {
    t.equal(decide("greater 10 and len < 1000 and link[0] = 0x45", syn, { linktype }), true, `length tests work on link type ${linktype}`);
  }
});

t.test("compileFilter() keeps the FCS bits of a pcap link-type field out of the way", async (t) => {
  t.equal(decide("tcp port 80", ethernet({}, syn), { linktype: 0x30000001 }), true);
});

t.test("compiled filters keep no state between packets or between each other", async (t) => {
  const a = compileFilter(parseFilter("ip[100] = 1"), kEthernet);
  const b = compileFilter(parseFilter("tcp"), kEthernet);
  const frame = ethernet({}, syn);
  t.equal(a(frame, 0, frame.length, frame.length), false, "out of bounds");
  t.equal(b(frame, 0, frame.length, frame.length), true, "the other filter's failed read does not leak");
  const long = concatBytes(frame, new Uint8Array(100));
  t.equal(a(long, 0, long.length, long.length), false, "the next packet starts clean");
  long[14 + 100] = 1;
  t.equal(a(long, 0, long.length, long.length), true);
});
