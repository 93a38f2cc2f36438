/**
 * The host's memory bounds seen from outside: when the parsers', the reassembly's or the flow table's
 * limit is reached, the connection that would pass it loses its analysis (a `weird` says which), the
 * others are unharmed, and `--stats` counts each time a limit cut the analysis short.
 */
import t, { type Test } from "tap";
import type { CaptureRecord } from "../support/pcap-writer.ts";
import { TcpConversation } from "../support/tcp-conversation.ts";
import { defaultFlowSettings, type FlowSettings } from "../../core/flows/flow-analyzer.ts";
import { jsonLines, runApp, tempFolder, writeCapture } from "./app-run.ts";

const server = { ip: "203.0.113.80", port: 80 };
const startNs = 1_704_067_200_000_000_000n;

/** Client `n`'s connection, starting n × 0.1 ms after the first so that the connections interleave. */
function connection(n: number): TcpConversation {
  return new TcpConversation({ client: { ip: "192.0.2.10", port: 40000 + n }, server, startNs: startNs + BigInt(n) * 100_000n });
}

/** All conversations' packets in capture-time order. */
function merged(conversations: readonly TcpConversation[]): CaptureRecord[] {
  return conversations.flatMap((c) => c.packets).sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
}

async function run(t: Test, records: CaptureRecord[], settings: Partial<FlowSettings>, format: "json" | "text" = "json") {
  const file = writeCapture(tempFolder(t), "limits.pcap", records);
  return runApp(file, {
    plugins: ["event-log"],
    options: ["event-log.events=http.request,weird"],
    format,
    stats: true,
    flowSettings: { ...defaultFlowSettings, ...settings },
  });
}

t.test("heads spread over segments: past the parser budget a connection loses its analysis, the others do not", async (t) => {
  // Four requests whose heads arrive in two parts, all first parts before any second part. The first
  // part (about 700 bytes) takes a 1 KiB buffer: two fit in 2 KiB.
  const conns = [1, 2, 3, 4].map(connection);
  for (const [i, c] of conns.entries()) c.handshake().send("client", `GET /${i + 1} HTTP/1.1\r\nHost: a\r\nX-Pad: ${"x".repeat(660)}\r\n`);
  for (const c of conns) c.idle(50_000_000n).send("client", "\r\n").close();
  const r = await run(t, merged(conns), { parserBudget: 2048 });
  t.equal(r.status, 0);
  const out = jsonLines(r.lines);
  t.same(
    out.filter((l) => l.type === "http.request").map((l) => l.uri),
    ["/1", "/2"],
    "the two connections within the budget are parsed",
  );
  const weirds = out.filter((l) => l.type === "weird");
  t.same(weirds.map((l) => l.name), ["parser_budget_exhausted", "parser_budget_exhausted"]);
  t.same(weirds.map((l) => l.flow_id), [3, 4], "named on the connections that lost their analysis");
  t.equal((r.stats!.flows as Record<string, number>).parserRefusals, 2, "--stats counts them");
});

t.test("the budget is given back: connections one after the other each get all of it", async (t) => {
  const conns = [1, 2, 3, 4].map(connection);
  conns.forEach((c, i) =>
    c.idle(BigInt(i) * 100_000_000n).handshake().send("client", `GET /${i + 1} HTTP/1.1\r\nX-Pad: ${"x".repeat(900)}\r\n`).send("client", "\r\n").close(),
  );
  // Room for one head's 1 KiB buffer, and the four requests (8 bytes each) waiting for a response.
  const r = await run(t, merged(conns), { parserBudget: 1024 + 4 * 8 });
  const out = jsonLines(r.lines);
  t.same(out.filter((l) => l.type === "http.request").map((l) => l.uri), ["/1", "/2", "/3", "/4"]);
  t.same(out.filter((l) => l.type === "weird"), []);
  t.equal((r.stats!.flows as Record<string, number>).parserRefusals, 0);
});

t.test("--stats says when the reassembly budget and the flow table's size cut the analysis short", async (t) => {
  // Out of order: the two later thirds arrive first; only 1000 bytes may be held in all.
  const c = connection(1);
  const body = `GET /ooo HTTP/1.1\r\nX-Pad: ${"y".repeat(2980 - 30)}\r\n\r\n`;
  c.handshake().send("client", body, { segments: [1000, 1000, body.length - 2000], order: [1, 2, 0] }).close();
  // Then three connections at once where the table may hold two: each packet of the one not in the
  // table evicts another (a packet of an evicted connection starts it again, picked up mid-stream).
  const others = [2, 3, 4].map((n) => connection(n).idle(1_000_000_000n).handshake().send("client", `GET /${n} HTTP/1.1\r\n\r\n`));
  const r = await run(t, merged([c, ...others]), { reassemblyBudget: 1000, maxFlows: 2 }, "text");
  t.equal(r.status, 0);
  const limits = r.errors.find((l) => l.startsWith("memory limits:"));
  t.match(limits, /^memory limits: +\d+ flows evicted \(too many open at once\), 1 stream holes given up \(reassembly memory full\)$/);
  t.notMatch(limits, /parser/, "only the limits that were reached are named");
  const clean = await run(t, merged([connection(1).handshake().send("client", "GET / HTTP/1.1\r\n\r\n")]), {}, "text");
  t.notOk(clean.errors.some((l) => l.startsWith("memory limits:")), "no line when no limit was reached");
});
