/**
 * Every layer decoder on random bytes: it must not throw, must return a known status or an offset
 * inside [off, end], and must not look at a byte outside [off, end): the same bytes surrounded by
 * zeros and by 0xff decode alike.
 */
import t from "tap";
import { malformedReasonNames } from "../../workers/decode-result.ts";
import { ArpLayer, decodeArp } from "../../workers/layers/arp.ts";
import { decodeEthernet, EthernetLayer } from "../../workers/layers/ethernet.ts";
import { decodeIcmp, decodeIcmpv6, IcmpLayer } from "../../workers/layers/icmp.ts";
import { decodeIpv4, Ipv4Layer } from "../../workers/layers/ipv4.ts";
import { decodeIpv6, Ipv6Layer } from "../../workers/layers/ipv6.ts";
import { decodeLink, LinkLayer } from "../../workers/layers/link-layer.ts";
import { decodeMpls, MplsLayer } from "../../workers/layers/mpls.ts";
import { decodeTcp, TcpLayer } from "../../workers/layers/tcp.ts";
import { decodeUdp, UdpLayer } from "../../workers/layers/udp.ts";
import { decodeVlan, VlanLayer } from "../../workers/layers/vlan.ts";
import { ethernet, ipv4, ipv6, tcp, udp } from "../support/packet-builders.ts";
import { SeededRandom } from "../support/seeded-random.ts";

type Decoder = (d: Uint8Array, off: number, end: number, out: Record<string, unknown>) => number;

const as = <L>(f: (d: Uint8Array, off: number, end: number, out: L) => number): Decoder => f as unknown as Decoder;
const decoders: Array<[string, () => object, Decoder]> = [
  ["decodeEthernet", () => new EthernetLayer(), as(decodeEthernet)],
  ["decodeVlan", () => new VlanLayer(), as(decodeVlan)],
  ["decodeMpls", () => new MplsLayer(), as(decodeMpls)],
  ["decodeArp", () => new ArpLayer(), as(decodeArp)],
  ["decodeIpv4", () => new Ipv4Layer(), as(decodeIpv4)],
  ["decodeIpv6", () => new Ipv6Layer(), as(decodeIpv6)],
  ["decodeTcp", () => new TcpLayer(), as(decodeTcp)],
  ["decodeUdp", () => new UdpLayer(), (d, off, end, out) => decodeUdp(d, off, end, end - off, out as unknown as UdpLayer)],
  ["decodeIcmp", () => new IcmpLayer(), as(decodeIcmp)],
  ["decodeIcmpv6", () => new IcmpLayer(), as(decodeIcmpv6)],
  ...[0, 10, 12, 14, 101, 108, 113, 228, 229, 239, 276].map(
    (lt): [string, () => object, Decoder] => [`decodeLink(${lt})`, () => new LinkLayer(), (d, off, end, out) => decodeLink(lt, d, off, end, out as unknown as LinkLayer)],
  ),
];

/** Valid headers to start from, so that mutations reach past the first checks. */
const seeds = [
  ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2", options: Uint8Array.of(1, 1, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0) }, tcp({ sport: 1, dport: 2, options: [{ kind: "mss", value: 1 }, { kind: "sack", blocks: [[1, 2]] }] }))).subarray(14),
  ipv6({ src: "2001:db8::1", dst: "2001:db8::2", extensions: [{ type: "hop-by-hop" }, { type: "fragment", offset: 8, more: true, id: 1 }] }, udp({ sport: 1, dport: 2 })),
  ipv6({ src: "2001:db8::1", dst: "2001:db8::2", extensions: [{ type: "ah", spi: 1, sequence: 2 }, { type: "routing", addresses: ["2001:db8::3"] }] }, tcp({ sport: 1, dport: 2 })),
  tcp({ sport: 1, dport: 2, options: [{ kind: "timestamps", value: 1, echo: 2 }, { kind: "wscale", shift: 1 }, { kind: "sack-permitted" }] }),
];

const kPad = 64;
const statuses = new Set(malformedReasonNames.map((_, i) => -i).filter((s) => s < 0));

for (const [name, make, decode] of decoders) {
  t.test(`${name}() returns a known status or an offset in the frame for random bytes, and reads nothing outside it`, async (t) => {
    const rng = new SeededRandom(name.length * 7919 + name.charCodeAt(6));
    const problems = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = rng.fill(new Uint8Array(rng.below(120)));
      } else {
        const s = rng.pick(seeds);
        bytes = s.slice(0, rng.below(s.length + 1));
        for (let k = rng.between(0, 4); k > 0 && bytes.length > 0; k--) bytes[rng.below(bytes.length)] = rng.below(256);
      }
      const results = [0x00, 0xff].map((fill) => {
        const d = new Uint8Array(kPad + bytes.length + kPad).fill(fill);
        d.set(bytes, kPad);
        const out = make() as Record<string, unknown>;
        let status: number;
        try {
          status = decode(d, kPad, kPad + bytes.length, out);
        } catch (err) {
          problems.add(`threw ${(err as Error).message}`);
          return null;
        }
        return { status, out: JSON.stringify(out) };
      });
      const [a, b] = results;
      if (a === null || b === null) continue;
      if (a.status < 0 ? !statuses.has(a.status) : a.status < kPad || a.status > kPad + bytes.length) {
        problems.add(`returned ${a.status} for ${bytes.length} bytes at offset ${kPad}`);
      }
      if (a.status !== b.status || a.out !== b.out) problems.add(`depends on bytes outside the frame: ${a.status} ${a.out} / ${b.status} ${b.out}`);
      const end = (JSON.parse(a.out) as { payloadEnd?: number }).payloadEnd;
      if (a.status >= 0 && end !== undefined && (end < a.status || end > kPad + bytes.length)) problems.add(`payloadEnd ${end} outside [${a.status}, ${kPad + bytes.length}]`);
    }
    t.same([...problems].slice(0, 5), []);
  });
}
