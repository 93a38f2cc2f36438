/**
 * DNS through the whole host, as the event-log plugin writes it: messages over UDP and over TCP
 * (length-prefixed, cut anywhere), compressed names, and event-log's own options (events, file).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { dnsOverTcp, dnsQuery, dnsResponse } from "../support/dns-message.ts";
import { concatBytes, ethernet, ipv4, udp } from "../support/packet-builders.ts";
import type { CaptureRecord } from "../support/pcap-writer.ts";
import { TcpConversation, type TcpConversationPacket } from "../support/tcp-conversation.ts";
import { captureTime, jsonLines, pluginApiUrl, runApp, tempFolder, writeCapture } from "./app-run.ts";

const kStart = 1_704_067_200_000_000_000n;
const resolver = { ip: "198.51.100.53", port: 53 };
const stub = { ip: "192.0.2.10", port: 53000 };

function udpFrame(src: { ip: string; port: number }, dst: { ip: string; port: number }, payload: Uint8Array, ms: number): CaptureRecord {
  return { data: ethernet({}, ipv4({ src: src.ip, dst: dst.ip }, udp({ sport: src.port, dport: dst.port }, payload))), timestamp: kStart + BigInt(ms) * 1_000_000n };
}

/** A response whose answer names are compression pointers (CNAME chain, then an A record). */
const cnameResponse = (id: number) =>
  dnsResponse(id, "www.example.com", "A", [
    { type: "CNAME", target: "edge.example.com", ttl: 300 },
    { name: "edge.example.com", type: "A", ttl: 60, address: "203.0.113.80" },
  ]);

/** Runs event-log on `records` with `options`; returns the run. */
async function logEvents(t: Test, records: Iterable<CaptureRecord>, options: string[], format: "json" | "text" = "json") {
  const dir = tempFolder(t);
  const file = writeCapture(dir, "dns.pcap", records);
  const result = await runApp(file, { plugins: ["event-log"], options, format });
  t.equal(result.status, 0, "the run succeeds");
  t.same(result.errors, [], "nothing on stderr");
  return { dir, result };
}

t.test("a DNS exchange over UDP gives one record per message, with the first question at the top level", async (t) => {
  const { result } = await logEvents(t, [udpFrame(stub, resolver, dnsQuery(0x1234, "www.example.com", "A"), 0), udpFrame(resolver, stub, cnameResponse(0x1234), 3)], [
    "event-log.events=dns",
  ]);
  const question = [{ name: "www.example.com", type: 1, class: 1 }];
  t.same(jsonLines(result.lines), [
    {
      type: "dns",
      ts: captureTime(kStart),
      frame: 1,
      src: "192.0.2.10",
      sport: 53000,
      dst: "198.51.100.53",
      dport: 53,
      proto: "udp",
      response: false,
      id: 0x1234,
      opcode: 0,
      rcode: 0,
      qname: "www.example.com",
      qtype: 1,
      truncated: false,
      questions: question,
      answers: [],
      authorities: [],
      additionals: [],
    },
    {
      type: "dns",
      ts: captureTime(kStart + 3_000_000n),
      frame: 2,
      src: "198.51.100.53",
      sport: 53,
      dst: "192.0.2.10",
      dport: 53000,
      proto: "udp",
      response: true,
      id: 0x1234,
      opcode: 0,
      rcode: 0,
      qname: "www.example.com",
      qtype: 1,
      truncated: false,
      questions: question,
      answers: [
        { name: "www.example.com", type: 5, class: 1, ttl: 300, data: "edge.example.com" },
        { name: "edge.example.com", type: 1, class: 1, ttl: 60, data: "203.0.113.80" },
      ],
      authorities: [],
      additionals: [],
    },
  ]);
});

t.test("DNS over TCP is cut into messages by their length prefixes, wherever the segments end", async (t) => {
  const query = dnsOverTcp(dnsQuery(0x0a0a, "txt.example.com", "TXT"));
  const answer = dnsOverTcp(dnsResponse(0x0a0a, "txt.example.com", "TXT", [{ type: "TXT", texts: ["v=spf1 -all", "x".repeat(250)] }]));
  const twoQueries = concatBytes(dnsOverTcp(dnsQuery(1, "a.example.com", "A")), dnsOverTcp(dnsQuery(2, "b.example.com", "AAAA")));
  const twoAnswers = concatBytes(
    dnsOverTcp(dnsResponse(1, "a.example.com", "A", [{ type: "A", address: "192.0.2.1" }])),
    dnsOverTcp(dnsResponse(2, "b.example.com", "AAAA", [{ type: "AAAA", address: "2001:db8::1" }])),
  );
  const c = new TcpConversation({ client: { ip: stub.ip, port: 53001 }, server: resolver });
  c.handshake()
    .send("client", query, { segments: [1, 6, query.length - 7] }) // the prefix itself is split
    .send("server", answer, { segments: [2, 100, answer.length - 102] })
    .send("client", twoQueries) // keep-alive: two queries in one segment
    .send("server", twoAnswers, { segments: [twoAnswers.length - 10, 10] })
    .close("client");
  const { result } = await logEvents(t, c.packets, ["event-log.events=dns"]);
  const lastOf = (bytes: Uint8Array, from: "client" | "server"): TcpConversationPacket => {
    // The segment that completes a message: the last one of `from` whose payload is part of `bytes`' send.
    const tail = Buffer.from(bytes.subarray(bytes.length - 4));
    return c.packets.findLast((p) => p.from === from && Buffer.from(p.payload).includes(tail))!;
  };
  const firstOfTwoAnswers = c.packets.findLast((p) => p.from === "server" && p.payload.length === twoAnswers.length - 10)!;
  const records = jsonLines(result.lines);
  t.same(
    records.map((r) => [r.proto, r.src, r.sport, r.response, r.id, r.qname, r.qtype, r.ts]),
    [
      ["tcp", stub.ip, 53001, false, 0x0a0a, "txt.example.com", 16, captureTime(lastOf(query, "client").timestamp)],
      ["tcp", resolver.ip, 53, true, 0x0a0a, "txt.example.com", 16, captureTime(lastOf(answer, "server").timestamp)],
      ["tcp", stub.ip, 53001, false, 1, "a.example.com", 1, captureTime(lastOf(twoQueries, "client").timestamp)],
      ["tcp", stub.ip, 53001, false, 2, "b.example.com", 28, captureTime(lastOf(twoQueries, "client").timestamp)],
      // The first answer lies whole in the first of the two segments: it is reported there.
      ["tcp", resolver.ip, 53, true, 1, "a.example.com", 1, captureTime(firstOfTwoAnswers.timestamp)],
      ["tcp", resolver.ip, 53, true, 2, "b.example.com", 28, captureTime(lastOf(twoAnswers, "server").timestamp)],
    ],
  );
  t.equal((records[1]!.answers as Array<{ data: string }>)[0]!.data, `v=spf1 -all${"x".repeat(250)}`, "the 250-byte TXT string arrived whole");
  t.equal((records[5]!.answers as Array<{ data: string }>)[0]!.data, "2001:db8::1");
});

t.test("on TCP port 53, HTTP is HTTP and DNS is DNS, whichever plugins listen", async (t) => {
  const dnsConversation = new TcpConversation({ client: { ip: stub.ip, port: 53002 }, server: resolver });
  const query = dnsOverTcp(dnsQuery(7, "a.example.com", "A"));
  dnsConversation.handshake().send("client", query, { segments: [1, query.length - 1] }).close("client");
  const webConversation = new TcpConversation({ client: { ip: stub.ip, port: 53003 }, server: resolver, startNs: kStart + 1_000_000_000n });
  webConversation
    .handshake()
    .send("client", "GET /on53 HTTP/1.1\r\nHost: example.com\r\n\r\n")
    .send("server", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    .close("client");
  const dir = tempFolder(t);
  const file = writeCapture(dir, "port53.pcap", [...dnsConversation.packets, ...webConversation.packets]);
  const result = await runApp(file, { plugins: ["event-log", "http-printer"], options: ["event-log.events=dns,http.request,http.response"] });
  t.same(result.errors, []);
  t.same(
    jsonLines(result.lines).map((r) => `${r.type} ${r.qname ?? r.uri ?? r.status}`),
    ["dns a.example.com", "http.request /on53", "http.request /on53", "http.response 200", "http.response 200"],
    "event-log's and http-printer's lines for the request and the response",
  );
  const dnsOnly = await runApp(file, { plugins: ["event-log"], options: ["event-log.events=dns,flow.end"] });
  t.same(
    jsonLines(dnsOnly.lines).map((r) => (r.type === "dns" ? `dns ${r.qname}` : `${r.aport} ${r.service}`)),
    ["dns a.example.com", "53002 dns", "53003 null"],
    "the HTTP connection is not taken for DNS when nobody wants HTTP",
  );
});

t.test("event-log.events selects which events are logged", async (t) => {
  const records = [udpFrame(stub, resolver, dnsQuery(7, "example.com", "A"), 0), udpFrame(resolver, stub, cnameResponse(7), 1)];
  const dnsOnly = await logEvents(t, records, ["event-log.events=dns"]);
  t.same(jsonLines(dnsOnly.result.lines).map((r) => r.type), ["dns", "dns"]);
  const flowsOnly = await logEvents(t, records, ["event-log.events=flow.end"]);
  t.same(jsonLines(flowsOnly.result.lines).map((r) => [r.type, r.proto, r.packets_ab, r.packets_ba]), [["flow.end", "udp", 1, 1]]);
  const byDefault = await logEvents(t, records, []);
  const all = jsonLines(byDefault.result.lines);
  t.same(all.map((r) => r.type), ["dns", "dns", "flow.end"], "the default list has dns and flow.end");
  t.equal(all[2]!.service, "dns", "with DNS analysed, the flow knows its service");
});

t.test("event-log.file writes the records to that file instead of stdout", async (t) => {
  const records = [udpFrame(stub, resolver, dnsQuery(9, "example.org", "MX"), 0), udpFrame(resolver, stub, cnameResponse(9), 1)];
  const toStdout = await logEvents(t, records, ["event-log.events=dns,flow.end"]);
  const dir = tempFolder(t);
  const path = join(dir, "events.ndjson");
  const toFile = await logEvents(t, records, ["event-log.events=dns,flow.end", `event-log.file=${path}`]);
  t.equal(toFile.result.stdout, "", "stdout stays empty");
  t.equal(readFileSync(path, "utf8"), toStdout.result.stdout, "the file holds what stdout would have");
  t.equal(toStdout.result.lines.length, 3);
});

t.test("event-log writes key=value lines with --format text", async (t) => {
  const { result } = await logEvents(t, [udpFrame(stub, resolver, dnsQuery(0x55, "example.com", "AAAA"), 0)], ["event-log.events=dns"], "text");
  t.same(result.lines, [
    `dns ts=${captureTime(kStart)} frame=1 src=192.0.2.10 sport=53000 dst=198.51.100.53 dport=53 proto=udp response=false id=85 opcode=0 rcode=0 qname=example.com qtype=28 truncated=false`,
  ]);
});

t.test("event-log.file=- is standard output, as - is for files elsewhere", async (t) => {
  const records = [udpFrame(stub, resolver, dnsQuery(9, "example.org", "MX"), 0)];
  const plain = await logEvents(t, records, ["event-log.events=dns"]);
  const cwd = process.cwd();
  const dir = tempFolder(t);
  process.chdir(dir);
  t.teardown(() => process.chdir(cwd));
  const dash = await logEvents(t, records, ["event-log.events=dns", "event-log.file=-"]);
  t.equal(dash.result.stdout, plain.result.stdout);
  t.equal(existsSync(join(dir, "-")), false, "no file named -");
});

t.test("event-log's text form quotes values with control characters, so none reaches the terminal", async (t) => {
  const c = new TcpConversation({ client: { ip: "192.0.2.10", port: 40000 }, server: { ip: "198.51.100.80", port: 80 } });
  c.handshake().send("client", Uint8Array.from("GET /a\x1b[2J\x9b31m HTTP/1.1\r\nHost: h\r\n\r\n", (ch) => ch.charCodeAt(0))).close("client");
  const { result } = await logEvents(t, c.packets, ["event-log.events=http.request"], "text");
  t.equal(result.lines.length, 1);
  t.match(result.lines[0], / uri="\/a\\u001b\[2J\\u009b31m" version=HTTP\/1\.1$/);
});

t.test("an unknown event name in event-log.events is a usage error naming it and the known events", async (t) => {
  const dir = tempFolder(t);
  const file = writeCapture(dir, "dns.pcap", [udpFrame(stub, resolver, dnsQuery(1, "example.com", "A"), 0)]);
  await t.rejects(runApp(file, { plugins: ["event-log"], options: ["event-log.events=dns,dnss"] }), {
    name: "UsageError",
    message: /^Plugin event-log: unknown event "dnss" in -o event-log\.events: events are .*\bhttp\.request\b.*\bdns\b/,
  });
});

t.test("a misspelt built-in event with a dot is refused too", async (t) => {
  const dir = tempFolder(t);
  const file = writeCapture(dir, "dns.pcap", [udpFrame(stub, resolver, dnsQuery(1, "example.com", "A"), 0)]);
  await t.rejects(runApp(file, { plugins: ["event-log"], options: ["event-log.events=http.requests"] }), {
    message: /^Plugin event-log: unknown event "http\.requests" in -o event-log\.events: events are /,
  });
  await t.rejects(runApp(file, { plugins: ["event-log"], options: ["event-log.events=flow.ended"] }), { message: /unknown event "flow\.ended"/ });
});

t.test("an empty event-log.events is refused rather than logging nothing", async (t) => {
  const dir = tempFolder(t);
  const file = writeCapture(dir, "dns.pcap", [udpFrame(stub, resolver, dnsQuery(1, "example.com", "A"), 0)]);
  await t.rejects(runApp(file, { plugins: ["event-log"], options: ["event-log.events="] }), {
    name: "UsageError",
    message: /^Plugin event-log: -o event-log\.events names no event: give at least one/,
  });
});

t.test("event-log logs the events of another plugin, which that plugin emits after event-log started", async (t) => {
  const dir = tempFolder(t);
  const plugins = join(dir, "plugins");
  mkdirSync(plugins);
  writeFileSync(join(plugins, "package.json"), JSON.stringify({ type: "module" }));
  writeFileSync(
    join(plugins, "dns-ticker.ts"),
    `import { definePlugin } from ${JSON.stringify(pluginApiUrl)};
export default definePlugin({
  name: "dns-ticker",
  description: "emits dns-ticker.tick for every DNS message",
  setup(ctx) {
    ctx.on("dns", (m) => ctx.emit("dns-ticker.tick", { id: m.id, qname: m.qname }));
  },
});
`,
  );
  const file = writeCapture(dir, "dns.pcap", [udpFrame(stub, resolver, dnsQuery(0x99, "tick.example.com", "A"), 0)]);
  const result = await runApp(file, { plugins: ["event-log", "dns-ticker"], pluginDirs: [plugins], options: ["event-log.events=dns-ticker.tick"] });
  t.equal(result.status, 0);
  t.same(jsonLines(result.lines), [{ type: "dns-ticker.tick", id: 0x99, qname: "tick.example.com" }]);
});
