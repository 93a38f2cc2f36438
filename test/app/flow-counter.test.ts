/**
 * The flow-counter plugin through the whole host: one JSON line per ended flow with a fixed set of
 * fields, and with --format text a table of the top flows by bytes and totals per protocol.
 */
import t, { type Test } from "tap";
import { dnsQuery, dnsResponse } from "../support/dns-message.ts";
import { ethernet, ipv4, udp } from "../support/packet-builders.ts";
import type { CaptureRecord } from "../support/pcap-writer.ts";
import { TcpConversation, type TcpConversationPacket } from "../support/tcp-conversation.ts";
import { captureTime, jsonLines, runApp, tempFolder, writeCapture } from "./app-run.ts";

const kStart = 1_704_067_200_000_000_000n;
const kMs = 1_000_000n;

/** A small mixed capture: three TCP connections of different sizes and one DNS exchange, one after another. */
function mixedCapture() {
  const tcpFlow = (port: number, bytes: number, startMs: bigint) => {
    const c = new TcpConversation({ client: { ip: "192.0.2.10", port }, server: { ip: "203.0.113.80", port: 80 }, startNs: kStart + startMs * kMs });
    return c.handshake().send("client", "GET / HTTP/1.1\r\n\r\n").send("server", "x".repeat(bytes)).close("client").packets;
  };
  const small = tcpFlow(40001, 100, 0n);
  const big = tcpFlow(40002, 5000, 100n);
  const medium = tcpFlow(40003, 2000, 200n);
  const query = ethernet({}, ipv4({ src: "192.0.2.10", dst: "198.51.100.53" }, udp({ sport: 53000, dport: 53 }, dnsQuery(1, "example.com", "A"))));
  const answer = ethernet(
    {},
    ipv4({ src: "198.51.100.53", dst: "192.0.2.10" }, udp({ sport: 53, dport: 53000 }, dnsResponse(1, "example.com", "A", [{ type: "A", address: "203.0.113.80" }]))),
  );
  const dns: CaptureRecord[] = [
    { data: query, timestamp: kStart + 300n * kMs },
    { data: answer, timestamp: kStart + 301n * kMs },
  ];
  return { small, big, medium, dns, records: [...small, ...big, ...medium, ...dns] as CaptureRecord[] };
}

const total = (packets: readonly { data: Uint8Array }[]) => packets.reduce((n, p) => n + p.data.length, 0);
const side = (packets: readonly TcpConversationPacket[], from: "client" | "server") => packets.filter((p) => p.from === from);

async function count(t: Test, records: CaptureRecord[], format: "json" | "text", options: string[] = []) {
  const dir = tempFolder(t);
  const result = await runApp(writeCapture(dir, "mixed.pcap", records), { plugins: ["flow-counter"], format, options });
  t.equal(result.status, 0, "the run succeeds");
  t.same(result.errors, [], "nothing on stderr");
  return result.lines;
}

t.test("flow-counter writes one JSON line per ended flow with exactly its documented fields", async (t) => {
  const { small, big, medium, dns, records } = mixedCapture();
  const lines = jsonLines(await count(t, records, "json"));
  const fields = ["type", "proto", "a", "aport", "b", "bport", "packets_ab", "bytes_ab", "packets_ba", "bytes_ba", "first", "last", "state"];
  for (const line of lines) t.same(Object.keys(line), fields, `fields of the ${line.proto} flow from port ${line.aport}`);
  const tcp = (port: number, p: TcpConversationPacket[]) => ({
    type: "flow",
    proto: "tcp",
    a: "192.0.2.10",
    aport: port,
    b: "203.0.113.80",
    bport: 80,
    packets_ab: side(p, "client").length,
    bytes_ab: total(side(p, "client")),
    packets_ba: side(p, "server").length,
    bytes_ba: total(side(p, "server")),
    first: captureTime(p[0]!.timestamp),
    last: captureTime(p.at(-1)!.timestamp),
    state: "closed",
  });
  t.same(lines, [
    // No closed connection has lingered a second when the input ends, so every flow ends there:
    // closed ones first, each group oldest first.
    tcp(40001, small),
    tcp(40002, big),
    tcp(40003, medium),
    {
      type: "flow",
      proto: "udp",
      a: "192.0.2.10",
      aport: 53000,
      b: "198.51.100.53",
      bport: 53,
      packets_ab: 1,
      bytes_ab: dns[0]!.data.length,
      packets_ba: 1,
      bytes_ba: dns[1]!.data.length,
      first: captureTime(kStart + 300n * kMs),
      last: captureTime(kStart + 301n * kMs),
      state: "open",
    },
  ]);
});

/** A table row as flow-counter lays it out: endpoint columns as wide as the widest IPv4 one can be, or wider. */
const row = (proto: string, a: string, b: string, packets: number, bytes: number, state: string, widths = [21, 21]) =>
  `${proto.padEnd(5)} ${a.padEnd(widths[0]!)} ${b.padEnd(widths[1]!)} ${String(packets).padStart(9)} ${String(bytes).padStart(12)} ${state}`;

t.test("flow-counter's text table lists the top N flows by bytes, then totals per protocol", async (t) => {
  const { small, big, medium, dns, records } = mixedCapture();
  const tcpPackets = small.length + big.length + medium.length;
  const tcpBytes = total(small) + total(big) + total(medium);
  t.same(await count(t, records, "text", ["flow-counter.top=2"]), [
    "top 2 flows by bytes",
    `proto ${"a".padEnd(21)} ${"b".padEnd(21)}   packets        bytes state`,
    row("tcp", "192.0.2.10:40002", "203.0.113.80:80", big.length, total(big), "closed"),
    row("tcp", "192.0.2.10:40003", "203.0.113.80:80", medium.length, total(medium), "closed"),
    `total tcp: 3 flows, ${tcpPackets} packets, ${tcpBytes} bytes`,
    `total udp: 1 flows, 2 packets, ${total(dns)} bytes`,
  ]);
});

t.test("flow-counter's table shows every flow, biggest first, when N is larger than their number", async (t) => {
  const { small, big, medium, dns, records } = mixedCapture();
  const lines = await count(t, records, "text");
  t.equal(lines[0], "top 10 flows by bytes");
  t.same(lines.slice(2, 6), [
    row("tcp", "192.0.2.10:40002", "203.0.113.80:80", big.length, total(big), "closed"),
    row("tcp", "192.0.2.10:40003", "203.0.113.80:80", medium.length, total(medium), "closed"),
    row("tcp", "192.0.2.10:40001", "203.0.113.80:80", small.length, total(small), "closed"),
    row("udp", "192.0.2.10:53000", "198.51.100.53:53", 2, total(dns), "open"),
  ]);
  t.equal(lines.length, 8, "four rows between the header and the two totals");
});

t.test("flow-counter's columns widen to the longest IPv6 endpoint, so that every row stays aligned", async (t) => {
  const long = "2001:db8:ffff:ffff:ffff:ffff:ffff:fff1";
  const v6 = new TcpConversation({ client: { ip: long, port: 65000 }, server: { ip: "2001:db8::80", port: 80 }, startNs: kStart });
  const v6Packets = v6.handshake().send("client", "GET / HTTP/1.1\r\n\r\n").send("server", "x".repeat(9000)).close("client").packets;
  const { big, records } = mixedCapture();
  const lines = await count(t, [...v6Packets, ...records], "text", ["flow-counter.top=2"]);
  const widths = [`[${long}]:65000`.length, 21];
  t.same(lines.slice(1, 4), [
    `proto ${"a".padEnd(widths[0]!)} ${"b".padEnd(21)}   packets        bytes state`,
    row("tcp", `[${long}]:65000`, "[2001:db8::80]:80", v6Packets.length, total(v6Packets), "closed", widths),
    row("tcp", "192.0.2.10:40002", "203.0.113.80:80", big.length, total(big), "closed", widths),
  ]);
});

t.test("flow-counter refuses a top that is not a whole number and an interval that is not seconds", async (t) => {
  const dir = tempFolder(t);
  const file = writeCapture(dir, "none.pcap", []);
  for (const [option, message] of [
    ["flow-counter.top=-5", /top must be a whole number of flows: current value is -5/],
    ["flow-counter.top=2.5", /top must be a whole number/],
    ["flow-counter.top=99999999999999999999", /top must be a whole number of flows: current value is 100000000000000000000/],
    ["flow-counter.interval=-1", /interval must be 0 or a number of seconds/],
  ] as const) {
    await t.rejects(runApp(file, { plugins: ["flow-counter"], options: [option] }), { name: "UsageError", message }, option);
  }
});
