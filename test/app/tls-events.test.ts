/**
 * TLS ClientHellos through the whole host, as event-log writes `tls.client_hello`: whole in one
 * segment, split over several (the record header too), out of order, and on a port that is not 443.
 */
import t, { type Test } from "tap";
import { TcpConversation, type TcpConversationOptions } from "../support/tcp-conversation.ts";
import { tlsClientHello } from "../support/tls-client-hello.ts";
import { captureTime, jsonLines, runApp, tempFolder, writeCapture } from "./app-run.ts";

const client = { ip: "192.0.2.10", port: 49152 };
const server = { ip: "203.0.113.43", port: 443 };
const suites = [0x1301, 0x1302, 0xc02b];

/** A ClientHello for `sni` offering h2 and http/1.1. */
const hello = (sni: string) => tlsClientHello({ serverName: sni, alpn: ["h2", "http/1.1"], cipherSuites: suites });

function conversation(options: Partial<TcpConversationOptions> = {}): TcpConversation {
  return new TcpConversation({ client, server, ...options });
}

async function clientHellos(t: Test, c: TcpConversation): Promise<Array<Record<string, unknown>>> {
  const dir = tempFolder(t);
  const result = await runApp(writeCapture(dir, "tls.pcap", c.packets), { plugins: ["event-log"], options: ["event-log.events=tls.client_hello"] });
  t.equal(result.status, 0, "the run succeeds");
  t.same(result.errors, [], "nothing on stderr");
  return jsonLines(result.lines);
}

t.test("a ClientHello in one segment gives a tls.client_hello record with SNI and ALPN", async (t) => {
  const c = conversation();
  c.handshake().send("client", hello("www.example.com")).send("server", new Uint8Array(200).fill(0x16)).close("client");
  const segment = c.packets[3]!;
  t.same(await clientHellos(t, c), [
    {
      type: "tls.client_hello",
      ts: captureTime(segment.timestamp),
      frame: 4,
      flow_id: 1,
      src: "192.0.2.10",
      sport: 49152,
      dst: "203.0.113.43",
      dport: 443,
      sni: "www.example.com",
      alpn: ["h2", "http/1.1"],
      version: 0x0303,
      record_version: 0x0301,
      supported_versions: [],
      cipher_suites: suites,
    },
  ]);
});

t.test("a ClientHello split over segments, the record header too, is reported at its last segment", async (t) => {
  const bytes = hello("split.example.org");
  const c = conversation();
  c.handshake().send("client", bytes, { segments: [3, 40, 60, bytes.length - 103] }).close("client");
  const last = c.packets.findLast((p) => p.from === "client" && p.payload.length === bytes.length - 103)!;
  const records = await clientHellos(t, c);
  t.same(
    records.map((r) => [r.sni, r.alpn, r.ts, r.frame]),
    [["split.example.org", ["h2", "http/1.1"], captureTime(last.timestamp), c.packets.indexOf(last) + 1]],
  );
});

t.test("a ClientHello whose segments arrive out of order and twice is reported once", async (t) => {
  const bytes = hello("reordered.example.net");
  const c = conversation();
  c.handshake().send("client", bytes, { segments: [50, 50, bytes.length - 100], order: [1, 2, 0], duplicate: [1] }).close("server");
  const records = await clientHellos(t, c);
  t.same(
    records.map((r) => [r.sni, r.src, r.dport]),
    [["reordered.example.net", "192.0.2.10", 443]],
  );
});

t.test("a ClientHello on a port that is not 443 is found by its content", async (t) => {
  const c = conversation({ server: { ip: "203.0.113.43", port: 8443 } });
  c.handshake().send("client", hello("alt-port.example.com")).close("client");
  const records = await clientHellos(t, c);
  t.same(
    records.map((r) => [r.sni, r.dport]),
    [["alt-port.example.com", 8443]],
  );
});

t.test("a ClientHello over IPv6 without SNI reports sni null", async (t) => {
  const c = new TcpConversation({ client: { ip: "2001:db8::10", port: 50000 }, server: { ip: "2001:db8::443", port: 443 } });
  c.handshake().send("client", tlsClientHello({ alpn: ["http/1.1"] })).close("client");
  const records = await clientHellos(t, c);
  t.same(
    records.map((r) => [r.src, r.dst, r.sni, r.alpn]),
    [["2001:db8::10", "2001:db8::443", null, ["http/1.1"]]],
  );
});
