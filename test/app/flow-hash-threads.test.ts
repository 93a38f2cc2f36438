/**
 * The flow hash is keyed with a random key per process (workers/flow-hash.ts), and two kinds of thread
 * compute it: the decode workers for every TCP/UDP packet, the main thread for datagrams it reassembles
 * from fragments. A flow whose packets are hashed by different threads must still be one flow, which
 * holds only if every worker got the main thread's key.
 */
import t from "tap";
import { dnsQuery } from "../support/dns-message.ts";
import { ethernet, fragmentIpv4, fragmentIpv6, ipv4, ipv6, udp, type VlanTag } from "../support/packet-builders.ts";
import type { CaptureRecord } from "../support/pcap-writer.ts";
import { jsonLines, runApp, tempFolder, writeCapture, writeFlowCollector } from "./app-run.ts";

const kStart = 1_704_067_200_000_000_000n; // 2024-01-01T00:00:00Z
const kFlows = 400;

/**
 * kFlows UDP flows, a quarter each over IPv4, IPv6, IPv4 on VLAN 10 and IPv6 under QinQ 20/30: all
 * the queries first, then every reply in fragments, then a last unfragmented packet from each server.
 * The queries and the last packets are hashed by whichever worker decodes their batch, the replies
 * by the main thread.
 */
function capture(): CaptureRecord[] {
  const queries: Uint8Array[] = [];
  const replies: Uint8Array[] = [];
  const lasts: Uint8Array[] = [];
  for (let i = 0; i < kFlows; i++) {
    const v6 = i % 2 === 1;
    const vlans: VlanTag[] = i % 4 === 2 ? [{ vid: 10 }] : i % 4 === 3 ? [{ vid: 20 }, { vid: 30 }] : [];
    const client = v6 ? `2001:db8::${(i + 1).toString(16)}` : `10.1.${i >> 8}.${i & 0xff}`;
    const server = v6 ? "2001:db8:53::53" : "198.51.100.53";
    const cport = 20000 + i;
    const ip = (src: string, dst: string, payload: Uint8Array) => (v6 ? ipv6({ src, dst }, payload) : ipv4({ src, dst, id: i }, payload));
    queries.push(ethernet({ vlans }, ip(client, server, udp({ sport: cport, dport: 53 }, dnsQuery(i, "example.com", "A")))));
    const reply = ip(server, client, udp({ sport: 53, dport: cport }, new Uint8Array(1200).fill(i & 0xff)));
    const fragments = v6 ? fragmentIpv6(reply, 512, 0x10000 + i) : fragmentIpv4(reply, 512);
    for (const f of fragments) replies.push(ethernet({ vlans }, f));
    lasts.push(ethernet({ vlans }, ip(server, client, udp({ sport: 53, dport: cport }, "last"))));
  }
  return [...queries, ...replies, ...lasts].map((data, i) => ({ data, timestamp: kStart + BigInt(i) * 1_000_000n }));
}

for (const workers of [2, 4]) {
  t.test(`on ${workers} workers, a flow is one flow whichever thread hashed each of its packets`, async (t) => {
    const dir = tempFolder(t);
    const file = writeCapture(dir, "fragments.pcap", capture());
    const result = await runApp(file, { plugins: ["flow-collector"], pluginDirs: [writeFlowCollector(dir)], workers, stats: true });
    t.equal(result.status, 0);
    t.same(result.errors, []);
    const tasks = (result.stats!.workers as { tasks: Record<string, number> }).tasks;
    t.ok(Object.keys(tasks).length >= 2, `more than one worker decoded: ${JSON.stringify(tasks)}`);
    const ends = jsonLines(result.lines).filter((l) => l.e === "flow.end");
    t.equal(ends.length, kFlows, "one flow per 5-tuple and VLAN");
    const split = ends.filter((f) => f.packets_ab !== 1 || f.packets_ba !== 2);
    t.same(split, [], "each with its query, its reassembled reply and its last packet");
  });
}
