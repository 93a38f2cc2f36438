/**
 * The flow table seen through the whole host: captures built with TcpConversation and the packet
 * builders are run by `runHost` with a plugin that prints every flow record whole (flow.start and
 * flow.end, in the order the host emits them). Capture timestamps drive linger and timeouts.
 */
import t, { type Test } from "tap";
import { dnsQuery, dnsResponse } from "../support/dns-message.ts";
import { concatBytes, ethernet, fragmentIpv4, fragmentIpv6, ipv4, ipv6, parseIpv6, udp } from "../support/packet-builders.ts";
import type { Ipv6Extension } from "../support/packet-builders.ts";
import type { CaptureRecord } from "../support/pcap-writer.ts";
import { TcpConversation, type TcpConversationOptions, type TcpConversationPacket } from "../support/tcp-conversation.ts";
import { defaultFlowSettings, type FlowSettings } from "../../core/flows/flow-analyzer.ts";
import { captureTime, jsonLines, runApp, tempFolder, writeCapture, writeFlowCollector } from "./app-run.ts";

const kStart = 1_704_067_200_000_000_000n; // 2024-01-01T00:00:00Z
const kSecond = 1_000_000_000n;
const client = { ip: "192.0.2.10", port: 49152 };
const server = { ip: "203.0.113.80", port: 80 };

function conversation(options: Partial<TcpConversationOptions> = {}): TcpConversation {
  return new TcpConversation({ client, server, ...options });
}

/** Packets and wire bytes sent by `side`. */
function sent(packets: readonly TcpConversationPacket[], side: "client" | "server"): { packets: number; bytes: number } {
  const mine = packets.filter((p) => p.from === side);
  return { packets: mine.length, bytes: mine.reduce((n, p) => n + p.data.length, 0) };
}

/** One UDP frame at `ns` from `src` to `dst`. */
function udpFrame(src: { ip: string; port: number }, dst: { ip: string; port: number }, payload: string | Uint8Array, ns: bigint): CaptureRecord {
  return { data: ethernet({}, ipv4({ src: src.ip, dst: dst.ip }, udp({ sport: src.port, dport: dst.port }, payload))), timestamp: ns };
}

/** Runs the capture through the host with the flow collector (and `plugins`); returns every output line as JSON. */
async function runFlows(
  t: Test,
  records: Iterable<CaptureRecord>,
  options: { snaplen?: number; plugins?: string[]; options?: string[]; flowSettings?: Partial<FlowSettings> } = {},
): Promise<Array<Record<string, unknown>>> {
  const dir = tempFolder(t);
  const file = writeCapture(dir, "flows.pcap", records, { snaplen: options.snaplen });
  const result = await runApp(file, {
    plugins: ["flow-collector", ...(options.plugins ?? [])],
    pluginDirs: [writeFlowCollector(dir)],
    options: options.options,
    flowSettings: { ...defaultFlowSettings, ...options.flowSettings },
  });
  t.equal(result.status, 0, "the run succeeds");
  t.same(result.errors, [], "nothing on stderr");
  return jsonLines(result.lines);
}

/** The flow.end records only. */
const ends = (lines: Array<Record<string, unknown>>) => lines.filter((l) => l.e === "flow.end");
/** "start N" / "end N" in emission order. */
const order = (lines: Array<Record<string, unknown>>) =>
  lines.filter((l) => l.e === "flow.start" || l.e === "flow.end").map((l) => `${l.e === "flow.start" ? "start" : "end"} ${l.id}`);

t.test("a TCP flow's side a is the sender of its SYN, and its counters are per direction in wire bytes", async (t) => {
  const c = conversation();
  c.handshake().send("client", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n").send("server", "HTTP/1.1 204 No Content\r\n\r\n").close("server");
  const [flow] = ends(await runFlows(t, c.packets));
  const ab = sent(c.packets, "client");
  const ba = sent(c.packets, "server");
  t.same(flow, {
    e: "flow.end",
    id: 1,
    proto: "tcp",
    a: "192.0.2.10",
    aport: 49152,
    b: "203.0.113.80",
    bport: 80,
    vlan: null,
    inner_vlan: null,
    packets_ab: ab.packets,
    bytes_ab: ab.bytes,
    packets_ba: ba.packets,
    bytes_ba: ba.bytes,
    first: captureTime(c.packets[0]!.timestamp),
    last: captureTime(c.packets.at(-1)!.timestamp),
    state: "closed",
    service: null,
  });
});

t.test("a TCP flow whose first packet is a SYN+ACK has the receiver of the SYN+ACK as side a", async (t) => {
  const c = conversation();
  c.handshake().send("client", "hello").close("client");
  const [flow] = ends(await runFlows(t, c.packets.slice(1)));
  t.match(flow, { a: "192.0.2.10", aport: 49152, b: "203.0.113.80", bport: 80, state: "closed" });
  t.equal(flow!.packets_ab, sent(c.packets, "client").packets - 1, "the lost SYN is not counted");
  t.equal(flow!.packets_ba, sent(c.packets, "server").packets);
});

t.test("a TCP flow picked up mid-stream has the sender of its first packet as side a", async (t) => {
  const c = conversation();
  c.handshake().send("server", "220 ready\r\n").send("client", "QUIT\r\n");
  const [flow] = ends(await runFlows(t, c.packets.slice(3)));
  t.match(flow, { a: "203.0.113.80", aport: 80, b: "192.0.2.10", bport: 49152, packets_ab: 2, packets_ba: 2, state: "open" });
});

t.test("a UDP flow's side a is the sender of its first packet", async (t) => {
  const dns = { ip: "198.51.100.53", port: 53 };
  const [flow] = ends(
    await runFlows(t, [udpFrame(dns, client, "answer first", kStart), udpFrame(client, dns, "then the query", kStart + 1000n)]),
  );
  t.match(flow, { proto: "udp", a: "198.51.100.53", aport: 53, b: "192.0.2.10", bport: 49152, packets_ab: 1, packets_ba: 1, state: "open" });
});

t.test("bytes count the wire length of frames the capture cut to its snaplen", async (t) => {
  const c = conversation();
  c.handshake().send("server", "x".repeat(3000)).close("client");
  // 80 bytes keep every header (the SYNs' are 66 bytes long) and cut the payload of the data segments.
  const [flow] = ends(await runFlows(t, c.packets, { snaplen: 80 }));
  t.equal(flow!.bytes_ba, sent(c.packets, "server").bytes);
  t.equal(flow!.bytes_ab, sent(c.packets, "client").bytes);
  t.ok((flow!.bytes_ba as number) > 3000, "the cut-off payload is in the count");
});

t.test("a TCP flow closed by FIN both ways lingers: its final ACK and a late retransmission count in it", async (t) => {
  const c = conversation();
  c.handshake().send("client", "ping").close("client");
  const fin = c.packets.at(-2)!; // the server's FIN/ACK
  c.idle(500_000_000n);
  c.segment("server", "FA", undefined, fin.seq); // retransmitted half a second later
  const late = udpFrame(client, { ip: "198.51.100.53", port: 53 }, "later", c.packets.at(-1)!.timestamp + 3n * kSecond);
  const lines = await runFlows(t, [...c.packets, late]);
  const [flow] = ends(lines);
  t.match(flow, { id: 1, state: "closed", packets_ab: sent(c.packets, "client").packets, packets_ba: sent(c.packets, "server").packets });
  t.equal(flow!.last, captureTime(c.packets.at(-1)!.timestamp), "last is the retransmission");
  t.same(order(lines), ["start 1", "end 1", "start 2", "end 2"], "the closed flow ends once its linger is over, before the later packet's flow starts");
});

t.test("a closed TCP flow still lingers when the next packet comes within a second", async (t) => {
  const c = conversation();
  c.handshake().close("client");
  const soon = udpFrame(client, { ip: "198.51.100.53", port: 53 }, "soon", c.packets.at(-1)!.timestamp + 300_000_000n);
  const lines = await runFlows(t, [...c.packets, soon]);
  t.same(order(lines), ["start 1", "start 2", "end 1", "end 2"]);
  t.equal(ends(lines)[0]!.state, "closed");
});

t.test("a TCP flow ended by RST is 'reset', and a RST repeated within the linger counts in it", async (t) => {
  const c = conversation();
  c.handshake().send("client", "x").reset("server");
  c.idle(200_000_000n);
  c.reset("server");
  const [flow, ...rest] = ends(await runFlows(t, c.packets));
  t.same(rest, [], "one flow");
  t.match(flow, { state: "reset", packets_ba: sent(c.packets, "server").packets, packets_ab: sent(c.packets, "client").packets });
});

t.test("a new SYN on the 5-tuple of a closed flow starts a new flow", async (t) => {
  const first = conversation();
  first.handshake().send("client", "one").close("client");
  const second = conversation({
    startNs: first.packets.at(-1)!.timestamp + 100_000_000n,
    client: { ...client, isn: 90_000 },
    server: { ...server, isn: 70_000 },
  });
  second.handshake().send("client", "two").close("server");
  const lines = await runFlows(t, [...first.packets, ...second.packets]);
  t.same(order(lines), ["start 1", "end 1", "start 2", "end 2"], "the old flow ends when the SYN arrives, within its linger");
  const [one, two] = ends(lines);
  t.match(one, { state: "closed", packets_ab: sent(first.packets, "client").packets, packets_ba: sent(first.packets, "server").packets });
  t.match(two, {
    state: "closed",
    packets_ab: sent(second.packets, "client").packets,
    packets_ba: sent(second.packets, "server").packets,
    first: captureTime(second.packets[0]!.timestamp),
  });
});

t.test("a UDP flow idle for more than a minute ends as 'timeout'; shorter silences do not split it", async (t) => {
  const dns = { ip: "198.51.100.53", port: 53 };
  const lines = await runFlows(t, [
    udpFrame(client, dns, "q1", kStart),
    udpFrame(dns, client, "r1", kStart + 59n * kSecond),
    udpFrame(dns, client, "r2", kStart + 59n * kSecond + 61n * kSecond),
  ]);
  t.same(order(lines), ["start 1", "end 1", "start 2", "end 2"]);
  const [one, two] = ends(lines);
  t.match(one, { a: "192.0.2.10", packets_ab: 1, packets_ba: 1, state: "timeout", last: captureTime(kStart + 59n * kSecond) });
  t.match(two, { a: "198.51.100.53", packets_ab: 1, packets_ba: 0, state: "open" });
});

t.test("a TCP flow idle for more than five minutes ends as 'timeout'; the connection goes on in a new flow", async (t) => {
  const c = conversation();
  c.handshake().send("client", "a");
  const before = c.packets.length;
  c.idle(301n * kSecond);
  c.send("server", "b");
  const lines = await runFlows(t, c.packets);
  t.same(order(lines), ["start 1", "end 1", "start 2", "end 2"]);
  const [one, two] = ends(lines);
  const idleBefore = c.packets.slice(0, before);
  t.match(one, { state: "timeout", packets_ab: sent(idleBefore, "client").packets, packets_ba: sent(idleBefore, "server").packets });
  t.equal(one!.last, captureTime(idleBefore.at(-1)!.timestamp));
  t.match(two, { a: "203.0.113.80", packets_ab: 1, packets_ba: 1, state: "open" });
});

t.test("a TCP flow idle for less than five minutes stays one flow", async (t) => {
  const c = conversation();
  c.handshake().send("client", "a");
  c.idle(299n * kSecond);
  c.send("server", "b").close("client");
  const flows = ends(await runFlows(t, c.packets));
  t.equal(flows.length, 1);
  t.match(flows[0], { state: "closed", packets_ab: sent(c.packets, "client").packets, packets_ba: sent(c.packets, "server").packets });
});

t.test("at the end of input every flow still in the table ends: open ones as 'open'", async (t) => {
  const at = (i: number) => kStart + BigInt(i) * kSecond;
  const established = conversation({ client: { ...client, port: 40001 }, startNs: at(0) }).handshake().send("client", "x");
  const halfClosed = conversation({ client: { ...client, port: 40002 }, startNs: at(1) }).handshake();
  halfClosed.segment("client", "FA");
  const closed = conversation({ client: { ...client, port: 40003 }, startNs: at(2) }).handshake().close("client");
  const reset = conversation({ client: { ...client, port: 40004 }, startNs: at(3) }).handshake().reset("client");
  const datagram = udpFrame({ ...client, port: 40005 }, { ip: "198.51.100.53", port: 53 }, "q", at(4));
  const flows = ends(
    await runFlows(t, [...established.packets, ...halfClosed.packets, ...closed.packets, ...reset.packets, datagram]),
  );
  const states = Object.fromEntries(flows.map((f) => [f.aport, f.state]));
  t.same(states, { 40001: "open", 40002: "open", 40003: "closed", 40004: "reset", 40005: "open" });
});

t.test("the same 5-tuple on two VLANs (and untagged) is three flows", async (t) => {
  const build = (vid: number | null, offset: bigint) => {
    const c = conversation({ vlans: vid === null ? undefined : [{ vid }], startNs: kStart + offset });
    return c.handshake().send("client", "same tuple").close("client").packets;
  };
  const tagged100 = build(100, 0n);
  const tagged200 = build(200, 100_000n);
  const untagged = build(null, 200_000n);
  // Interleaved packet by packet, so that the three connections are open at the same time.
  const packets = [...tagged100, ...tagged200, ...untagged].sort((x, y) => Number(x.timestamp - y.timestamp));
  const flows = ends(await runFlows(t, packets));
  const summary = (vlan: number | null, p: TcpConversationPacket[]) => ({
    vlan,
    packets_ab: sent(p, "client").packets,
    bytes_ab: sent(p, "client").bytes,
    packets_ba: sent(p, "server").packets,
    bytes_ba: sent(p, "server").bytes,
    state: "closed",
  });
  t.same(
    flows.map((f) => ({ vlan: f.vlan, packets_ab: f.packets_ab, bytes_ab: f.bytes_ab, packets_ba: f.packets_ba, bytes_ba: f.bytes_ba, state: f.state })),
    [summary(100, tagged100), summary(200, tagged200), summary(null, untagged)],
  );
});

t.test("QinQ: the same 5-tuple under one provider VLAN with two customer VLANs is two flows", async (t) => {
  const build = (inner: number, offset: bigint) =>
    conversation({ vlans: [{ vid: 100, tpid: 0x88a8 }, { vid: inner }], startNs: kStart + offset })
      .handshake()
      .send("client", `GET /v${inner} HTTP/1.1\r\nHost: example.com\r\n\r\n`)
      .close("client").packets;
  const ten = build(10, 0n);
  const twenty = build(20, 100_000n);
  const packets = [...ten, ...twenty].sort((x, y) => Number(x.timestamp - y.timestamp));
  const flows = ends(await runFlows(t, packets));
  t.same(
    flows.map((f) => ({ vlan: f.vlan, inner_vlan: f.inner_vlan, packets_ab: f.packets_ab, packets_ba: f.packets_ba, state: f.state })),
    [
      { vlan: 100, inner_vlan: 10, packets_ab: sent(ten, "client").packets, packets_ba: sent(ten, "server").packets, state: "closed" },
      { vlan: 100, inner_vlan: 20, packets_ab: sent(twenty, "client").packets, packets_ba: sent(twenty, "server").packets, state: "closed" },
    ],
  );
});

t.test("a priority tag (VLAN id 0) on one side only is the same flow as the untagged other side", async (t) => {
  // The same conversation twice (same sequence numbers), once with the client's frames priority-tagged.
  const script = (c: TcpConversation) => c.handshake().send("client", "hello").send("server", "hi").close("client").packets;
  const tagged = script(conversation({ vlans: [{ vid: 0, pcp: 5 }] }));
  const plain = script(conversation());
  const packets = [...tagged.filter((p) => p.from === "client"), ...plain.filter((p) => p.from === "server")].sort((x, y) =>
    Number(x.timestamp - y.timestamp),
  );
  const flows = ends(await runFlows(t, packets));
  t.same(
    flows.map((f) => ({ vlan: f.vlan, inner_vlan: f.inner_vlan, packets_ab: f.packets_ab, packets_ba: f.packets_ba, state: f.state })),
    [{ vlan: null, inner_vlan: null, packets_ab: sent(tagged, "client").packets, packets_ba: sent(plain, "server").packets, state: "closed" }],
  );
});

t.test("a flow idle for longer than its timeout ends when its next packet comes, even between two sweeps", async (t) => {
  const x = { ip: "192.0.2.10", port: 40000 };
  const y = { ip: "192.0.2.11", port: 40001 };
  const dns = { ip: "198.51.100.53", port: 53 };
  const s = (seconds: number) => kStart + BigInt(Math.round(seconds * 1e9));
  const summary = (lines: Array<Record<string, unknown>>) => ends(lines).map((f) => `${f.aport} ${f.packets_ab} ${f.state} ${f.first}`);
  const t0 = captureTime(s(0));
  // The sweep at 59.5 s finds X idle for 59.5 s of its 60; X's next packet comes at 60.3 s.
  const sixty = await runFlows(t, [udpFrame(x, dns, "a", s(0)), udpFrame(y, dns, "b", s(59.5)), udpFrame(x, dns, "c", s(60.3))]);
  t.same(summary(sixty), [`40000 1 timeout ${t0}`, `40001 1 open ${captureTime(s(59.5))}`, `40000 1 open ${captureTime(s(60.3))}`]);
  // A timeout shorter than the sweep's second.
  const short = await runFlows(t, [udpFrame(x, dns, "a", s(0)), udpFrame(x, dns, "b", s(0.9))], { flowSettings: { udpTimeout: 0.5 } });
  t.same(summary(short), [`40000 1 timeout ${t0}`, `40000 1 open ${captureTime(s(0.9))}`]);
});

t.test("a packet after a closed flow's linger starts a new flow, also with a linger under a second", async (t) => {
  const c = conversation();
  const packets = c.handshake().send("client", "hi").close("client").packets;
  const lastAck = packets.at(-1)!;
  const late = { ...lastAck, timestamp: lastAck.timestamp + 500_000_000n };
  const flows = ends(await runFlows(t, [...packets, late], { flowSettings: { closeLinger: 0.2 } }));
  t.same(
    flows.map((f) => `${f.state} ${(f.packets_ab as number) + (f.packets_ba as number)}`),
    ["closed " + packets.length, "open 1"],
    "the ACK 0.5 s after the close is not counted in the closed flow",
  );
});

t.test("a SYN with a new sequence number on an open connection's ports starts a new flow; a retransmitted SYN does not", async (t) => {
  const first = conversation({ client: { ...client, isn: 1000 } });
  first.handshake().send("client", "never closed");
  const second = conversation({ client: { ...client, isn: 900_000 }, startNs: kStart + kSecond });
  second.handshake().send("client", "again").close("client");
  const syn = first.packets[0]!;
  const retransmitted = { ...syn, timestamp: syn.timestamp + 500_000n }; // before the SYN/ACK, 1 ms after
  const flows = ends(await runFlows(t, [syn, retransmitted, ...first.packets.slice(1), ...second.packets]));
  t.same(
    flows.map((f) => `${f.state} ${f.packets_ab}/${f.packets_ba}`),
    [`established ${sent(first.packets, "client").packets + 1}/${sent(first.packets, "server").packets}`, `closed ${sent(second.packets, "client").packets}/${sent(second.packets, "server").packets}`],
  );
});

/** A DNS response big enough to be fragmented: eight 200-byte TXT strings. */
function bigTxtResponse(id: number): Uint8Array {
  return dnsResponse(
    id,
    "big.example.com",
    "TXT",
    Array.from({ length: 8 }, (_, i) => ({ type: "TXT" as const, texts: [String.fromCharCode(97 + i).repeat(200)] })),
  );
}

t.test("the fragments of a UDP datagram over IPv4 count as one packet, and the DNS in them is decoded", async (t) => {
  const dns = { ip: "198.51.100.53", port: 53 };
  const query = ethernet({}, ipv4({ src: client.ip, dst: dns.ip, id: 1 }, udp({ sport: 53000, dport: 53 }, dnsQuery(0x4242, "big.example.com", "TXT"))));
  const whole = ipv4({ src: dns.ip, dst: client.ip, id: 0x7777 }, udp({ sport: 53, dport: 53000 }, bigTxtResponse(0x4242)));
  const fragments = fragmentIpv4(whole, 512).map((f) => ethernet({}, f));
  t.equal(fragments.length, 4, "the response travels in four fragments");
  const lines = await runFlows(t, [query, ...fragments].map((data, i) => ({ data, timestamp: kStart + BigInt(i) * 1_000_000n })), {
    plugins: ["event-log"],
    options: ["event-log.events=dns"],
  });
  const [flow] = ends(lines);
  // As tshark counts a reassembled datagram: once, with the length of the frame that completed it.
  t.match(flow, { proto: "udp", a: client.ip, packets_ab: 1, bytes_ab: query.length, packets_ba: 1, bytes_ba: fragments.at(-1)!.length });
  const dnsRecords = lines.filter((l) => l.type === "dns");
  t.equal(dnsRecords.length, 2);
  t.match(dnsRecords[1], { frame: 5, src: dns.ip, sport: 53, dst: client.ip, dport: 53000, response: true, id: 0x4242, qname: "big.example.com", qtype: 16 });
  t.same(
    (dnsRecords[1]!.answers as Array<{ data: string }>).map((a) => a.data),
    Array.from({ length: 8 }, (_, i) => String.fromCharCode(97 + i).repeat(200)),
  );
});

t.test("the fragments of a UDP datagram over IPv6 count as one packet, whatever their order", async (t) => {
  const a = "2001:db8::10";
  const b = "2001:db8::53";
  const query = ethernet({}, ipv6({ src: a, dst: b }, udp({ sport: 53000, dport: 53 }, dnsQuery(0x0606, "big.example.com", "TXT"))));
  const whole = ipv6({ src: b, dst: a }, udp({ sport: 53, dport: 53000 }, bigTxtResponse(0x0606)));
  const fragments = fragmentIpv6(whole, 512, 0xabcdef).map((f) => ethernet({}, f));
  fragments.reverse();
  const lines = await runFlows(t, [query, ...fragments].map((data, i) => ({ data, timestamp: kStart + BigInt(i) * 1_000_000n })), {
    plugins: ["event-log"],
    options: ["event-log.events=dns"],
  });
  const [flow] = ends(lines);
  t.match(flow, { proto: "udp", a, b, packets_ab: 1, packets_ba: 1, bytes_ba: fragments.at(-1)!.length });
  const response = lines.find((l) => l.type === "dns" && l.response === true);
  t.match(response, { src: b, dst: a, id: 0x0606, qname: "big.example.com", frame: 1 + fragments.length });
  t.equal((response!.answers as unknown[]).length, 8);
});

t.test("copies of one fragment whose datagram never completes are held once and reported, not piled up", async (t) => {
  // The hostile capture of an audit: one middle fragment sent over and over, the last never sent.
  // Each run of 512 copies (the defragmenter's kMaxFragments) ends in a weird, and nothing completes.
  const dns = { ip: "198.51.100.53", port: 53 };
  const whole = ipv4({ src: dns.ip, dst: client.ip, id: 0x5151 }, udp({ sport: 53, dport: 53000 }, bigTxtResponse(0x5151)));
  const middle = ethernet({}, fragmentIpv4(whole, 480)[1]!);
  const copies = 2 * 513 + 10;
  const lines = await runFlows(t, Array.from({ length: copies }, (_, i) => ({ data: middle, timestamp: kStart + BigInt(i) * 1000n })), {
    plugins: ["event-log"],
    options: ["event-log.events=weird"],
  });
  t.same(
    lines.filter((l) => l.type === "weird").map((l) => l.name),
    ["fragment_too_many", "fragment_too_many"],
  );
  t.same(ends(lines), [], "no datagram was ever whole, so no flow began");
});

t.test("an IPv6 packet with segments left in its routing header belongs to the flow of its final destination", async (t) => {
  const a = "2001:db8::10";
  const router = "2001:db8:ffff::1";
  const final = "2001:db8:1::53";
  const query = (routing: Ipv6Extension) =>
    ethernet(
      {},
      ipv6({ src: a, dst: router, extensions: [{ type: "hop-by-hop" }, routing] }, udp({ sport: 53000, dport: 53 }, dnsQuery(0x7070, "routed.example.com", "A"))),
    );
  const reply = ethernet({}, ipv6({ src: final, dst: a }, udp({ sport: 53, dport: 53000 }, dnsResponse(0x7070, "routed.example.com", "A", []))));
  const routings: Record<string, Ipv6Extension> = {
    // Type 0 lists the final destination last.
    "type 0": { type: "routing", addresses: ["2001:db8:ffff::2", final], segmentsLeft: 2 },
    // A segment routing header (RFC 8754) lists it first: last entry 1, flags, tag, then the segments.
    "segment routing": { type: "routing", routingType: 4, segmentsLeft: 1, data: concatBytes(Uint8Array.of(1, 0, 0, 0), parseIpv6(final), parseIpv6(router)) },
  };
  for (const [name, routing] of Object.entries(routings)) {
    const flows = ends(await runFlows(t, [{ data: query(routing), timestamp: kStart }, { data: reply, timestamp: kStart + 1_000_000n }]));
    // tshark and Zeek key the connection on the final destination, which the UDP checksum covers too (RFC 8200 8.1).
    t.same(
      flows.map((f) => [f.a, f.aport, f.b, f.bport, f.packets_ab, f.packets_ba]),
      [[a, 53000, final, 53, 1, 1]],
      name,
    );
  }
});
