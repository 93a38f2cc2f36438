/**
 * Deterministic mixed traffic for pipeline tests: TCP conversations over IPv4 and IPv6 (some in
 * VLAN or QinQ tags), DNS over UDP, ICMP and ICMPv6 echoes, ARP, IPv4 and IPv6 fragments, 6in4,
 * MPLS, and a few damaged frames, interleaved packet by packet with strictly increasing timestamps.
 * Also the per-link-type sample frames the fuzz test mutates.
 */
import {
  arp,
  concatBytes,
  ethernet,
  fragmentIpv4,
  fragmentIpv6,
  icmpv4Echo,
  icmpv4Unreachable,
  icmpv6Echo,
  ipv4,
  ipv6,
  linuxSll,
  linuxSll2,
  nullLoopback,
  tcp,
  udp,
} from "./packet-builders.ts";
import { kEtherTypeMpls, mplsStack } from "./mpls-stack.ts";
import { nflog } from "./nflog-frame.ts";
import type { CaptureRecord } from "./pcap-writer.ts";
import { SeededRandom } from "./seeded-random.ts";
import { TcpConversation } from "./tcp-conversation.ts";

/** Ethernet frames of one short exchange, in order. */
type Exchange = Uint8Array[];

function tcpExchange(rng: SeededRandom, n: number): Exchange {
  const v6 = rng.chance(0.3);
  const tags = rng.chance(0.15) ? [{ vid: rng.between(1, 4094) }] : rng.chance(0.1) ? [{ vid: rng.between(1, 4094) }, { vid: rng.between(1, 4094) }] : undefined;
  const c = new TcpConversation({
    client: { ip: v6 ? `2001:db8::${(n % 65535).toString(16)}` : `10.0.${(n >> 8) & 255}.${n & 255}`, port: 1024 + (n % 60000) },
    server: { ip: v6 ? "2001:db8:ffff::80" : "203.0.113.80", port: rng.pick([80, 443, 8080]) },
    vlans: tags,
  });
  c.handshake();
  const requests = rng.between(1, 3);
  for (let i = 0; i < requests; i++) {
    c.send("client", `GET /${n}/${i} HTTP/1.1\r\nHost: example.com\r\n\r\n`);
    c.send("server", new Uint8Array(rng.between(0, 4000)).fill(0x41 + (i % 26)));
  }
  if (rng.chance(0.2)) c.reset("client");
  else c.close(rng.chance(0.5) ? "client" : "server");
  return c.frames();
}

function dnsExchange(rng: SeededRandom, n: number): Exchange {
  const port = 20000 + (n % 40000);
  const q = udp({ sport: port, dport: 53 }, new Uint8Array(rng.between(20, 60)).fill(n & 255));
  const a = udp({ sport: 53, dport: port }, new Uint8Array(rng.between(40, 400)).fill(n & 127));
  if (rng.chance(0.3)) {
    return [ethernet({}, ipv6({ src: "2001:db8::53:1", dst: "2001:db8::53" }, q)), ethernet({}, ipv6({ src: "2001:db8::53", dst: "2001:db8::53:1" }, a))];
  }
  return [ethernet({}, ipv4({ src: "192.0.2.53", dst: "198.51.100.53", id: n & 0xffff }, q)), ethernet({}, ipv4({ src: "198.51.100.53", dst: "192.0.2.53" }, a))];
}

function otherExchange(rng: SeededRandom, n: number): Exchange {
  switch (rng.below(9)) {
    case 0:
      return [
        ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, icmpv4Echo({ id: n & 0xffff, seq: 1 }, "ping"))),
        ethernet({}, ipv4({ src: "192.0.2.2", dst: "192.0.2.1" }, icmpv4Echo({ id: n & 0xffff, seq: 1, reply: true }, "ping"))),
      ];
    case 1:
      return [ethernet({}, ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, icmpv6Echo({ id: n & 0xffff, seq: 2 })))];
    case 2:
      return [ethernet({ dst: "ff:ff:ff:ff:ff:ff" }, arp({ op: "request", senderMac: "02:00:00:00:00:01", senderIp: "192.0.2.1", targetIp: `192.0.2.${n & 255}` }))];
    case 3: {
      const whole = ipv4({ src: "192.0.2.7", dst: "192.0.2.8", id: n & 0xffff }, udp({ sport: 4000, dport: 4001 }, new Uint8Array(rng.between(100, 3000))));
      return fragmentIpv4(whole, 1400).map((f) => ethernet({}, f));
    }
    case 4: {
      const whole = ipv6({ src: "2001:db8::7", dst: "2001:db8::8", extensions: [{ type: "hop-by-hop" }] }, udp({ sport: 4000, dport: 4001 }, new Uint8Array(rng.between(100, 3000))));
      return fragmentIpv6(whole, 1200, n).map((f) => ethernet({}, f));
    }
    case 5:
      return [ethernet({}, ipv4({ src: "203.0.113.1", dst: "203.0.113.2" }, ipv6({ src: "2001:db8::6", dst: "2001:db8::4" }, udp({ sport: 30000, dport: 13000 }, "6in4"))))];
    case 6:
      return [ethernet({ type: kEtherTypeMpls }, concatBytes(mplsStack([{ label: 100 + (n & 1023) }]), ipv4({ src: "192.0.2.9", dst: "192.0.2.10" }, tcp({ sport: 179, dport: 40000, flags: "A" }))))];
    case 7:
      return [ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.99" }, icmpv4Unreachable({ code: 3 }, ipv4({ src: "192.0.2.99", dst: "192.0.2.1" }, udp({ sport: 1, dport: 2 }, "12345678")))))];
    default: {
      // A damaged frame: a TCP header cut short, or an IP version that does not exist.
      const f = ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2", version: rng.chance(0.5) ? 4 : 7 }, tcp({ sport: 1, dport: 2 })));
      return [f.subarray(0, rng.between(14, f.length))];
    }
  }
}

/**
 * About `count` Ethernet packets (exactly `count`: the last exchange is cut) of interleaved exchanges,
 * 10 µs apart, starting 2024-01-01; the same seed gives the same packets.
 */
export function mixedTraffic(count: number, seed = 1): CaptureRecord[] {
  const rng = new SeededRandom(seed);
  const open: Exchange[] = [];
  const out: CaptureRecord[] = [];
  let n = 0;
  let ns = 1_704_067_200_000_000_000n;
  while (out.length < count) {
    while (open.length < 12) {
      n++;
      const kind = rng.below(10);
      open.push(kind < 5 ? tcpExchange(rng, n) : kind < 8 ? dnsExchange(rng, n) : otherExchange(rng, n));
    }
    const k = rng.below(open.length);
    const ex = open[k]!;
    out.push({ data: ex.shift()!, timestamp: ns });
    ns += 10_000n + BigInt(rng.below(1000));
    if (ex.length === 0) open.splice(k, 1);
  }
  return out;
}

/** Sample frames per link type, for tests that mutate or relabel them. */
export function sampleFramesByLinkType(seed = 1): Map<number, Uint8Array[]> {
  const ip = mixedTraffic(300, seed)
    .map((r) => r.data)
    .filter((f) => f.length >= 34 && ((f[12] === 0x08 && f[13] === 0x00) || (f[12] === 0x86 && f[13] === 0xdd)))
    .map((f) => f.subarray(14));
  const frames = new Map<number, Uint8Array[]>();
  frames.set(1, mixedTraffic(300, seed + 1).map((r) => r.data));
  frames.set(101, ip);
  frames.set(228, ip.filter((p) => p[0]! >> 4 === 4));
  frames.set(229, ip.filter((p) => p[0]! >> 4 === 6));
  frames.set(0, ip.map((p, i) => nullLoopback({ byteOrder: i % 2 === 0 ? "little" : "big", family: p[0]! >> 4 === 4 ? 2 : 24 }, p)));
  frames.set(108, ip.map((p) => nullLoopback({ byteOrder: "big", family: p[0]! >> 4 === 4 ? 2 : 24 }, p)));
  frames.set(113, ip.map((p) => linuxSll({ protocol: p[0]! >> 4 === 4 ? 0x0800 : 0x86dd }, p)));
  frames.set(276, ip.map((p) => linuxSll2({ protocol: p[0]! >> 4 === 4 ? 0x0800 : 0x86dd }, p)));
  frames.set(239, ip.map((p) => nflog({ family: p[0]! >> 4 === 4 ? 2 : 10 }, p)));
  return frames;
}
