/**
 * The `conn` event through the whole host: captures built with TcpConversation and the packet
 * builders, run with event-log writing `flow.end` and `conn` (or with a test plugin that listens to
 * `conn` only from the first flow's start on).
 */
import t, { type Test } from "tap";
import { internetChecksum } from "../support/internet-checksum.ts";
import { concatBytes, ethernet, fragmentIpv4, ipv4, udp } from "../support/packet-builders.ts";
import type { CaptureRecord } from "../support/pcap-writer.ts";
import { makePluginDir, writePlugin } from "../support/host-run.ts";
import { TcpConversation } from "../support/tcp-conversation.ts";
import { defaultFlowSettings } from "../../core/flows/flow-analyzer.ts";
import { captureTime, jsonLines, runApp, tempFolder, writeCapture } from "./app-run.ts";

const kStart = 1_704_067_200_000_000_000n; // 2024-01-01T00:00:00Z
const client = { ip: "192.0.2.10", port: 49152 };
const server = { ip: "203.0.113.80", port: 80 };
const dns = { ip: "198.51.100.53", port: 53 };

function udpFrame(src: { ip: string; port: number }, dst: { ip: string; port: number }, payload: string, ns: bigint): CaptureRecord {
  return { data: ethernet({}, ipv4({ src: src.ip, dst: dst.ip }, udp({ sport: src.port, dport: dst.port }, payload))), timestamp: ns };
}

/** Every `flow.end` and `conn` line event-log writes for `records`, as JSON. */
async function run(t: Test, records: Iterable<CaptureRecord>, options: { snaplen?: number } = {}): Promise<Array<Record<string, unknown>>> {
  const dir = tempFolder(t);
  const result = await runApp(writeCapture(dir, "conn.pcap", records, { snaplen: options.snaplen }), {
    plugins: ["event-log"],
    options: ["event-log.events=flow.end,conn"],
    format: "json",
  });
  t.equal(result.status, 0, "the run succeeds");
  t.same(result.errors, [], "nothing on stderr");
  return jsonLines(result.lines);
}

const conns = (lines: Array<Record<string, unknown>>) => lines.filter((l) => l.type === "conn");

t.test("a TCP connection's conn record follows its flow.end: the flow record plus Zeek's summary", async (t) => {
  const c = new TcpConversation({ client, server, startNs: kStart });
  const request = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
  const response = "HTTP/1.1 204 No Content\r\n\r\n";
  c.handshake().send("client", request).send("server", response).close("server");
  const lines = await run(t, c.packets);
  t.same(
    lines.map((l) => l.type),
    ["flow.end", "conn"],
    "conn right after flow.end",
  );
  const [end, conn] = lines;
  const { type: _end, ...flow } = end!;
  t.same(conn, {
    type: "conn",
    ...flow,
    payload_ab: request.length,
    payload_ba: response.length,
    conn_state: "SF",
    // Zeek's letters: SYN, SYN+ACK, ACK, data, the server's ACK and data, then the server's FIN and
    // the client's.
    history: "ShADadfF",
  });
  t.equal(conn!.first, captureTime(c.packets[0]!.timestamp));
});

t.test("a refused connection is REJ, one with no answer S0, and a reset one RSTO", async (t) => {
  const refused = new TcpConversation({ client, server, startNs: kStart });
  refused.segment("client", "S");
  refused.reset("server");
  const unanswered = new TcpConversation({ client: { ...client, port: 49153 }, server, startNs: kStart + 1_000_000n });
  unanswered.segment("client", "S");
  const reset = new TcpConversation({ client: { ...client, port: 49154 }, server, startNs: kStart + 2_000_000n });
  reset.handshake().send("client", "hello").reset("client");
  const byPort = new Map(conns(await run(t, [...refused.packets, ...unanswered.packets, ...reset.packets])).map((c) => [c.aport, c]));
  t.match(byPort.get(49152), { conn_state: "REJ", history: "Sr", payload_ab: 0, payload_ba: 0 });
  t.match(byPort.get(49153), { conn_state: "S0", history: "S", payload_ab: 0, payload_ba: 0 });
  t.match(byPort.get(49154), { conn_state: "RSTO", history: "ShADaR", payload_ab: 5, payload_ba: 0 });
});

t.test("UDP: both sides sent is SF with Dd, one side S0 with D; payload is the datagrams' sum", async (t) => {
  const lines = conns(
    await run(t, [
      udpFrame(client, dns, "query", kStart),
      udpFrame(dns, client, "the answer", kStart + 1000n),
      udpFrame({ ...client, port: 50000 }, dns, "one", kStart + 2000n),
      udpFrame({ ...client, port: 50000 }, dns, "two!", kStart + 3000n),
    ]),
  );
  t.match(lines, [
    { proto: "udp", aport: 49152, conn_state: "SF", history: "Dd", payload_ab: 5, payload_ba: 10 },
    { proto: "udp", aport: 50000, conn_state: "S0", history: "D", payload_ab: 7, payload_ba: 0 },
  ]);
});

t.test("payload counts what the headers declare, also where the capture cut the frames", async (t) => {
  const c = new TcpConversation({ client, server, startNs: kStart });
  c.handshake().send("server", "x".repeat(3000)).close("client");
  // 80 bytes keep every header and cut the payload of the data segments (and of the datagram).
  const lines = conns(await run(t, [...c.packets, udpFrame(client, dns, "y".repeat(500), kStart + 1_000_000_000n)], { snaplen: 80 }));
  t.match(lines, [
    { proto: "tcp", payload_ab: 0, payload_ba: 3000, conn_state: "SF", history: "ShAdFf" },
    { proto: "udp", payload_ab: 500, payload_ba: 0, conn_state: "S0", history: "D" },
  ]);
});

t.test("a flow evicted for room has its conn record, once", async (t) => {
  const a = new TcpConversation({ client, server, startNs: kStart });
  a.handshake().send("client", "first");
  const b = new TcpConversation({ client: { ...client, port: 49153 }, server, startNs: kStart + 1_000_000n });
  b.handshake().send("client", "second").close("client");
  const dir = tempFolder(t);
  const result = await runApp(writeCapture(dir, "evict.pcap", [...a.packets, ...b.packets]), {
    plugins: ["event-log"],
    options: ["event-log.events=flow.end,conn"],
    format: "json",
    flowSettings: { ...defaultFlowSettings, maxFlows: 1 },
  });
  const lines = jsonLines(result.lines);
  t.same(
    lines.map((l) => `${l.type} ${l.aport} ${l.state}`),
    ["flow.end 49152 evicted", "conn 49152 evicted", "flow.end 49153 closed", "conn 49153 closed"],
  );
  t.match(conns(lines), [
    { aport: 49152, conn_state: "S1", history: "ShADa", payload_ab: 5 },
    { aport: 49153, conn_state: "SF", history: "ShADaFf", payload_ab: 6 },
  ]);
});

t.test("a TCP segment in IP fragments counts once the datagram is whole", async (t) => {
  const c = new TcpConversation({ client, server, startNs: kStart });
  c.handshake().send("client", "y".repeat(1200)).close("client");
  const records: CaptureRecord[] = [];
  for (const p of c.packets) {
    if (p.data.length < 1000) {
      records.push({ data: p.data, timestamp: p.timestamp });
      continue;
    }
    // The IP packet after the 14-byte Ethernet header, in pieces of 512 bytes.
    for (const piece of fragmentIpv4(p.data.subarray(14), 512)) records.push({ data: ethernet({}, piece), timestamp: p.timestamp });
  }
  t.ok(records.length > c.packets.length, "the data segment went out in fragments");
  const [conn] = conns(await run(t, records));
  t.match(conn, { payload_ab: 1200, payload_ba: 0, conn_state: "SF", history: "ShADaFf" });
});

t.test("a TCP segment whose last IP fragment the capture cut counts what the headers declare", async (t) => {
  const c = new TcpConversation({ client, server, startNs: kStart });
  c.handshake().send("client", "z".repeat(1200), { ack: false });
  const data = c.packets.at(-1)!;
  // Two fragments: data bytes [0, 104) whole, then [104, 1200) of which the capture keeps 100 bytes.
  const [first, ...rest] = fragmentIpv4(data.data.subarray(14), 104);
  const tail = ethernet({ type: 0x0800 }, concatBytes(rest[0]!.subarray(0, 20), ...rest.map((f) => f.subarray(20))));
  // concatBytes joined the later fragments' payloads behind the second one's header: fix its length
  // and more-fragments flag so it is the last fragment, then cut it.
  const view = new DataView(tail.buffer, tail.byteOffset + 14);
  view.setUint16(2, tail.length - 14);
  view.setUint16(6, view.getUint16(6) & ~0x2000);
  view.setUint16(10, 0);
  view.setUint16(10, internetChecksum(tail, 14, 34));
  const records: CaptureRecord[] = [
    ...c.packets.slice(0, -1),
    { data: ethernet({}, first!), timestamp: data.timestamp },
    { data: tail.subarray(0, 120), originalLength: tail.length, timestamp: data.timestamp },
  ];
  const [conn] = conns(await run(t, records));
  t.match(conn, { payload_ab: 1200, history: "ShAD" });
});

t.test("a TCP flow that began before a plugin listened to conn has none; a UDP flow always has one", async (t) => {
  const dir = tempFolder(t);
  const folder = makePluginDir();
  t.teardown(folder.remove);
  // Listens to conn from the second flow's start on: the second flow began before it listened.
  writePlugin(
    folder.path,
    "late-conn",
    `let started = 0;
    ctx.on("flow.start", () => {
      if (++started !== 2) return;
      ctx.on("conn", (c) => ctx.out.json({ id: c.flow.id, proto: c.flow.proto, history: c.history }));
    });`,
  );
  const first = new TcpConversation({ client, server, startNs: kStart });
  first.handshake().send("client", "a").close("client");
  const second = new TcpConversation({ client: { ...client, port: 49999 }, server, startNs: kStart + 1_000_000_000n });
  second.handshake().send("client", "b").close("client");
  const udpLater = udpFrame(client, dns, "q", kStart + 2_000_000_000n);
  const records = [...first.packets.slice(0, 1), udpFrame({ ...client, port: 40000 }, dns, "early", kStart + 1000n), ...first.packets.slice(1), ...second.packets, udpLater];
  const result = await runApp(writeCapture(dir, "late.pcap", records), { plugins: ["late-conn"], pluginDirs: [folder.path], format: "json" });
  t.equal(result.status, 0);
  // Flow 1 (TCP) began before the listener: no conn. Flow 2 (UDP) too, but a UDP flow's summary needs
  // no tracking. Flows 3 and 4 began after.
  t.same(
    jsonLines(result.lines)
      .map((l) => `${l.id} ${l.proto} ${l.history}`)
      .sort(),
    ["2 udp D", "3 tcp ShADaFf", "4 udp D"],
  );
});
