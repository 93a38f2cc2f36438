/**
 * TLS hellos through the whole host, as event-log writes `tls.client_hello` and `tls.server_hello`:
 * whole in one segment, split over several (the record header too), out of order, on a port that is
 * not 443, and inside an HTTP proxy's CONNECT tunnel; ServerHellos compared with tshark's.
 */
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import t, { type Test } from "tap";
import { TcpConversation, type TcpConversationOptions } from "../support/tcp-conversation.ts";
import { tlsClientHello, tlsRecord, tlsServerHello } from "../support/tls-hello.ts";
import { concatBytes } from "../support/packet-builders.ts";
import { Attr, tlsCertificateMessage, x509Certificate, x509Name } from "../support/x509-builder.ts";
import { tsharkFields, wiresharkMissing } from "../support/wireshark-tools.ts";
import { captureTime, jsonLines, runApp, tempFolder, writeCapture } from "./app-run.ts";

/** MD5 by Node's own implementation, to check the host's. */
const md5 = (text: string) => createHash("md5").update(text).digest("hex");

const client = { ip: "192.0.2.10", port: 49152 };
const server = { ip: "203.0.113.43", port: 443 };
const suites = [0x1301, 0x1302, 0xc02b];

/** A ClientHello for `sni` offering h2 and http/1.1. */
const hello = (sni: string) => tlsClientHello({ serverName: sni, alpn: ["h2", "http/1.1"], cipherSuites: suites });

function conversation(options: Partial<TcpConversationOptions> = {}): TcpConversation {
  return new TcpConversation({ client, server, ...options });
}

/** The records event-log writes for `events` (by default the ClientHellos) of a conversation, in order. */
async function clientHellos(t: Test, c: TcpConversation, events = "tls.client_hello"): Promise<Array<Record<string, unknown>>> {
  const dir = tempFolder(t);
  const result = await runApp(writeCapture(dir, "tls.pcap", c.packets), { plugins: ["event-log"], options: [`event-log.events=${events}`] });
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
      extensions: [0, 10, 11, 13, 16],
      supported_groups: [0x001d, 0x0017, 0x0018],
      ec_point_formats: [0],
      signature_algorithms: [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501],
      truncated: false,
      ja3: md5("771,4865-4866-49195,0-10-11-13-16,29-23-24,0"),
      ja3_full: "771,4865-4866-49195,0-10-11-13-16,29-23-24,0",
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

/** The tls.client_hello and tls.server_hello records of a conversation, in order. */
const hellos = (t: Test, c: TcpConversation) => clientHellos(t, c, "tls.client_hello,tls.server_hello");

t.test("a ServerHello gives a tls.server_hello record with the version, cipher suite and ALPN protocol chosen", async (t) => {
  const c = conversation();
  // TLS 1.2: the ALPN choice is in the ServerHello (TLS 1.3 sends it encrypted, after the hello).
  const serverHello = tlsServerHello({ cipherSuite: 0xc02f, alpn: "h2" });
  c.handshake().send("client", hello("www.example.com")).send("server", concatBytes(serverHello, new Uint8Array(300).fill(0x17))).close("client");
  const segment = c.packets.find((p) => p.from === "server" && p.payload.length > 0)!;
  const records = await hellos(t, c);
  t.same(records.map((r) => r.type), ["tls.client_hello", "tls.server_hello"]);
  t.same(records[1], {
    type: "tls.server_hello",
    ts: captureTime(segment.timestamp),
    frame: c.packets.indexOf(segment) + 1,
    flow_id: 1,
    src: "203.0.113.43",
    sport: 443,
    dst: "192.0.2.10",
    dport: 49152,
    version: 0x0303,
    record_version: 0x0303,
    selected_version: 0x0303,
    cipher_suite: 0xc02f,
    alpn: "h2",
    hello_retry: false,
    extensions: [16],
    truncated: false,
    ja3s: md5("771,49199,16"),
    ja3s_full: "771,49199,16",
  });
});

t.test("a TLS 1.2 ServerHello without extensions, split over segments and followed by its certificate, is reported once", async (t) => {
  const bytes = tlsServerHello({ cipherSuite: 0xc030, after: Uint8Array.of(11, 0, 0, 3, 0, 0, 0) });
  const c = conversation();
  c.handshake().send("client", hello("old.example.net")).send("server", bytes, { segments: [2, 20, bytes.length - 22] }).close("client");
  const records = await hellos(t, c);
  t.same(records.filter((r) => r.type === "tls.server_hello").map((r) => [r.selected_version, r.cipher_suite, r.alpn, r.hello_retry]), [[0x0303, 0xc030, null, false]]);
});

t.test("a HelloRetryRequest is reported as one, and a server's hello is found when the client's was not captured", async (t) => {
  const c = conversation();
  c.handshake().send("server", tlsServerHello({ cipherSuite: 0x1302, selectedVersion: 0x0304, helloRetry: true })).close("client");
  const records = await hellos(t, c);
  t.same(records.map((r) => [r.type, r.src, r.cipher_suite, r.hello_retry]), [["tls.server_hello", "203.0.113.43", 0x1302, true]]);
});

t.test("after a HelloRetryRequest the second ClientHello and ServerHello are reported too, past each side's ChangeCipherSpec, whichever hellos are listened to", async (t) => {
  const first = tlsClientHello({ serverName: "retry.example", supportedVersions: [0x0304, 0x0303], cipherSuites: [0x1301, 0x1302] });
  const second = tlsClientHello({ serverName: "retry.example", supportedVersions: [0x0304], cipherSuites: [0x1302] });
  const c = conversation();
  c.handshake()
    .send("client", first)
    .send("server", concatBytes(tlsServerHello({ cipherSuite: 0x1302, selectedVersion: 0x0304, helloRetry: true }), tlsRecord(20)))
    .send("client", concatBytes(tlsRecord(20), second), { segments: [6, 30, second.length - 30] })
    .send("server", concatBytes(tlsServerHello({ cipherSuite: 0x1302, selectedVersion: 0x0304 }), tlsRecord(23, 200)))
    .send("client", concatBytes(tlsRecord(23, 50), second))
    .close("client");
  const frames = c.packets.map((p, i) => ({ i: i + 1, from: p.from, n: p.payload.length })).filter((p) => p.n > 0);
  const file = writeCapture(tempFolder(t), "retry.pcap", c.packets);
  const both = jsonLines((await runApp(file, { plugins: ["event-log"], options: ["event-log.events=tls.client_hello,tls.server_hello"] })).lines);
  t.same(
    both.map((r) => [r.type, r.frame, r.cipher_suites ?? r.hello_retry]),
    [
      ["tls.client_hello", frames[0]!.i, [0x1301, 0x1302]],
      ["tls.server_hello", frames[1]!.i, true],
      ["tls.client_hello", frames[4]!.i, [0x1302]],
      ["tls.server_hello", frames[5]!.i, false],
    ],
    "both pairs, each at the segment that completes it; nothing after the second ServerHello",
  );
  const clientOnly = jsonLines((await runApp(file, { plugins: ["event-log"], options: ["event-log.events=tls.client_hello"] })).lines);
  t.same(clientOnly.map((r) => r.cipher_suites), [[0x1301, 0x1302], [0x1302]], "ClientHellos alone: both");
  const serverOnly = jsonLines((await runApp(file, { plugins: ["event-log"], options: ["event-log.events=tls.server_hello"] })).lines);
  t.same(serverOnly.map((r) => [r.hello_retry, r.ja3s_full]), [[true, "771,4866,43"], [false, "771,4866,43"]], "ServerHellos alone: both, with their JA3S");
});

t.test("a second ClientHello is found after early data that shares the first hello's segment and runs into the next", async (t) => {
  const first = tlsClientHello({ serverName: "early.example", supportedVersions: [0x0304], cipherSuites: [0x1301] });
  const second = tlsClientHello({ serverName: "early.example", supportedVersions: [0x0304], cipherSuites: [0x1303] });
  const flight = concatBytes(first, tlsRecord(20), tlsRecord(23, 3000));
  const c = conversation();
  c.handshake()
    .send("client", flight, { segments: [1460, 1460, flight.length - 2920] })
    .send("server", tlsServerHello({ cipherSuite: 0x1303, selectedVersion: 0x0304, helloRetry: true }))
    .send("client", concatBytes(tlsRecord(20), second))
    .send("server", tlsServerHello({ cipherSuite: 0x1303, selectedVersion: 0x0304 }))
    .close("client");
  const file = writeCapture(tempFolder(t), "early.pcap", c.packets);
  const both = jsonLines((await runApp(file, { plugins: ["event-log"], options: ["event-log.events=tls.client_hello,tls.server_hello"] })).lines);
  t.same(both.map((r) => [r.type, r.cipher_suites ?? r.hello_retry]), [
    ["tls.client_hello", [0x1301]],
    ["tls.server_hello", true],
    ["tls.client_hello", [0x1303]],
    ["tls.server_hello", false],
  ]);
  const clientOnly = jsonLines((await runApp(file, { plugins: ["event-log"], options: ["event-log.events=tls.client_hello"] })).lines);
  t.same(clientOnly.map((r) => r.cipher_suites), [[0x1301], [0x1303]]);
});

t.test("the second ServerHello captured before the second ClientHello does not hide it", async (t) => {
  const c = conversation();
  c.handshake()
    .send("client", tlsClientHello({ serverName: "late.example", supportedVersions: [0x0304], cipherSuites: [0x1301, 0x1302] }))
    .send("server", tlsServerHello({ cipherSuite: 0x1302, selectedVersion: 0x0304, helloRetry: true }))
    .send("server", tlsServerHello({ cipherSuite: 0x1302, selectedVersion: 0x0304 }))
    .send("client", tlsClientHello({ serverName: "late.example", supportedVersions: [0x0304], cipherSuites: [0x1302] }))
    .close("client");
  const records = await hellos(t, c);
  t.same(records.map((r) => [r.type, r.cipher_suites ?? r.hello_retry]), [
    ["tls.client_hello", [0x1301, 0x1302]],
    ["tls.server_hello", true],
    ["tls.server_hello", false],
    ["tls.client_hello", [0x1302]],
  ]);
});

t.test("a TLS 1.2 resumption seen from the client's side only gives one ClientHello, whatever its encrypted Finished starts with", async (t) => {
  // The Finished is encrypted, in a handshake record: its first byte may be 1, the ClientHello's type.
  const finished = Uint8Array.from([22, 3, 3, 0, 40, 1, 0, 0, 200, ...new Array<number>(36).fill(0x5a)]);
  const c = conversation();
  c.handshake()
    .send("client", tlsClientHello({ serverName: "resume.example", supportedVersions: [0x0304, 0x0303] }))
    .send("client", concatBytes(tlsRecord(20), finished, tlsRecord(23, 100)))
    .close("client");
  const records = await clientHellos(t, c);
  t.same(records.map((r) => r.sni), ["resume.example"]);
});

t.test("without a HelloRetryRequest a TLS 1.3 client gives one ClientHello, whatever its side carries after the ServerHello", async (t) => {
  const offer = tlsClientHello({ serverName: "once.example", supportedVersions: [0x0304, 0x0303] });
  const c = conversation();
  c.handshake()
    .send("client", offer)
    .send("server", concatBytes(tlsServerHello({ cipherSuite: 0x1301, selectedVersion: 0x0304 }), tlsRecord(20)))
    .send("client", concatBytes(tlsRecord(20), offer))
    .close("client");
  const records = await hellos(t, c);
  t.same(records.map((r) => r.type), ["tls.client_hello", "tls.server_hello"]);
});

t.test("tls.server_hello alone is found without a listener for tls.client_hello, and vice versa", async (t) => {
  const c = conversation();
  c.handshake().send("client", hello("a.example")).send("server", tlsServerHello({ alpn: "http/1.1" })).close("client");
  const dir = tempFolder(t);
  const file = writeCapture(dir, "tls.pcap", c.packets);
  const serverOnly = await runApp(file, { plugins: ["event-log"], options: ["event-log.events=tls.server_hello"] });
  t.same(jsonLines(serverOnly.lines).map((r) => [r.type, r.alpn]), [["tls.server_hello", "http/1.1"]]);
  const clientOnly = await runApp(file, { plugins: ["event-log"], options: ["event-log.events=tls.client_hello"] });
  t.same(jsonLines(clientOnly.lines).map((r) => [r.type, r.sni]), [["tls.client_hello", "a.example"]]);
});

t.test("TLS inside an HTTP proxy's CONNECT tunnel is found, with or without HTTP listeners in a connection that starts with CONNECT; the flow's service is http,tls", async (t) => {
  const c = new TcpConversation({ client, server: { ip: "203.0.113.8", port: 3128 } });
  c.handshake()
    .send("client", "CONNECT www.example.com:443 HTTP/1.1\r\nHost: www.example.com:443\r\n\r\n")
    .send("server", "HTTP/1.1 200 Connection established\r\n\r\n")
    .send("client", hello("www.example.com"))
    .send("server", tlsServerHello({ cipherSuite: 0x1301, selectedVersion: 0x0304 }))
    .close("client");
  const file = writeCapture(tempFolder(t), "connect.pcap", c.packets);
  for (const events of ["http.request,tls.client_hello,tls.server_hello,flow.end", "tls.client_hello,tls.server_hello,flow.end"]) {
    const r = await runApp(file, { plugins: ["event-log"], options: [`event-log.events=${events}`] });
    t.same(
      jsonLines(r.lines).filter((x) => x.type !== "http.request").map((x) => [x.type, x.sni ?? x.cipher_suite ?? x.service]),
      [["tls.client_hello", "www.example.com"], ["tls.server_hello", 0x1301], ["flow.end", "http,tls"]],
      events,
    );
  }
  // A refused CONNECT leaves an HTTP connection: nothing is looked for in what follows.
  const refused = new TcpConversation({ client, server: { ip: "203.0.113.8", port: 3128 } });
  refused.handshake()
    .send("client", "CONNECT www.example.com:443 HTTP/1.1\r\n\r\n")
    .send("server", "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
    .send("client", hello("www.example.com"))
    .close("client");
  const r = await runApp(writeCapture(tempFolder(t), "refused.pcap", refused.packets), { plugins: ["event-log"], options: ["event-log.events=http.request,tls.client_hello"] });
  t.same(jsonLines(r.lines).map((x) => x.type), ["http.request"]);
});

t.test("JA3 leaves GREASE values out (the lists keep them), and a hello cut short or malformed has no JA3 or JA3S", async (t) => {
  const greasy = tlsClientHello({ cipherSuites: [0x3a3a, 0x1301], supportedVersions: [0x7a7a, 0x0304], extraExtensions: [{ type: 0x5a5a, data: new Uint8Array(0) }] });
  const twice = tlsClientHello({ serverName: "twice.example", extraExtensions: [{ type: 11, data: Uint8Array.of(1, 0) }] });
  const whole = tlsServerHello({ cipherSuite: 0x1301, selectedVersion: 0x0304 });
  const cut = whole.slice(0, 5 + 4 + 2 + 32 + 1 + 2); // the hello breaks off after its cipher suite
  cut[3] = 0;
  cut[4] = cut.length - 5;
  const records: Array<Record<string, unknown>> = [];
  for (const [client, server] of [[greasy, whole], [twice, concatBytes(cut, tlsRecord(21, 2))]] as const) {
    const c = conversation();
    c.handshake().send("client", client).send("server", server).close("client");
    records.push(...(await hellos(t, c)));
  }
  t.same(
    records.map((r) => [r.type, r.truncated, r.ja3_full ?? r.ja3s_full, r.ja3 ?? r.ja3s]),
    [
      ["tls.client_hello", false, "771,4865,10-11-13-43,29-23-24,0", md5("771,4865,10-11-13-43,29-23-24,0")],
      ["tls.server_hello", false, "771,4865,43", md5("771,4865,43")],
      ["tls.client_hello", true, null, null],
      ["tls.server_hello", true, null, null],
    ],
  );
  t.same([records[0]!.cipher_suites, records[0]!.extensions], [[0x3a3a, 0x1301], [10, 11, 13, 43, 0x5a5a]], "the lists as sent");
});

const zeekCaptures = fileURLToPath(new URL("../../../shared/captures/zeek", import.meta.url));
t.test("on Zeek's captures, every ServerHello tshark finds is reported with its cipher suite, version and ALPN", { skip: !existsSync(zeekCaptures) ? "no shared captures" : wiresharkMissing }, async (t) => {
  let compared = 0;
  for (const name of readdirSync(zeekCaptures)) {
    const path = `${zeekCaptures}/${name}`;
    const theirs = tsharkFields(path, ["frame.number", "tls.handshake.ciphersuite", "tls.handshake.extensions.supported_version", "tls.handshake.version", "tls.handshake.extensions_alpn_str"], ["-Y", "tls.handshake.type == 2", "-E", "occurrence=f"])
      .map(([frame, suite, chosen, version, alpn]) => [Number(frame), Number(suite), Number(chosen || version), alpn || null]);
    if (theirs.length === 0) continue;
    const r = await runApp(path, { plugins: ["event-log"], options: ["event-log.events=tls.server_hello"] });
    const ours = jsonLines(r.lines).map((x) => [x.frame, x.cipher_suite, x.selected_version, x.alpn]);
    t.same(ours, theirs, name);
    compared++;
  }
  t.ok(compared >= 5, `${compared} captures with ServerHellos compared`);
});

t.test("inside a CONNECT tunnel only a TLS hello at the start of a side is looked for", async (t) => {
  const c = new TcpConversation({ client, server: { ip: "203.0.113.8", port: 3128 } });
  c.handshake()
    .send("client", "CONNECT mail.example.com:25 HTTP/1.1\r\n\r\n")
    .send("server", "HTTP/1.1 200 OK\r\n\r\n")
    .send("server", "220 mail.example.com ESMTP\r\n")
    .send("client", "EHLO client\r\n")
    .send("client", hello("late.example.com"))
    .send("client", "GET / HTTP/1.1\r\n\r\n")
    .close("client");
  const r = await runApp(writeCapture(tempFolder(t), "smtp-tunnel.pcap", c.packets), { plugins: ["event-log"], options: ["event-log.events=http.request,http.response,tls.client_hello,flow.end"] });
  t.same(jsonLines(r.lines).map((x) => [x.type, x.service ?? x.uri ?? x.status]), [["http.request", "mail.example.com:25"], ["http.response", 200], ["flow.end", "http"]]);
});

t.test("a hello with a segment missing from the capture is not reported (its bytes would be made up), the other side's is", async (t) => {
  const bytes = tlsServerHello({ cipherSuite: 0xc02f, after: new Uint8Array(3000).fill(0x41) });
  const c = conversation();
  // The hello's own bytes (47 of them) span the first three segments; the second one is lost.
  c.handshake().send("client", hello("gap.example")).send("server", bytes, { segments: [20, 20, bytes.length - 40] }).send("client", "ack").close("client");
  const middle = c.packets.filter((p) => p.from === "server" && p.payload.length === 20)[1]!;
  const lost = new TcpConversation({ client, server });
  const records = await clientHellos(t, Object.assign(lost, { packets: c.packets.filter((p) => p !== middle) }), "tls.client_hello,tls.server_hello");
  t.same(records.map((r) => [r.type, r.sni ?? r.cipher_suite]), [["tls.client_hello", "gap.example"]]);
});

t.test("on Zeek's captures, the JA3 and JA3S of every hello equal tshark's", { skip: !existsSync(zeekCaptures) ? "no shared captures" : wiresharkMissing }, async (t) => {
  let compared = 0;
  for (const name of readdirSync(zeekCaptures)) {
    const path = `${zeekCaptures}/${name}`;
    const theirs = tsharkFields(path, ["frame.number", "tls.handshake.type", "tls.handshake.ja3_full", "tls.handshake.ja3", "tls.handshake.ja3s_full", "tls.handshake.ja3s"], ["-Y", "tls.handshake.type == 1 or tls.handshake.type == 2", "-E", "occurrence=f"])
      .map(([frame, type, ja3Full, ja3, ja3sFull, ja3s]) => (type === "1" ? [Number(frame), ja3Full, ja3] : [Number(frame), ja3sFull, ja3s]));
    if (theirs.length === 0) continue;
    const r = await runApp(path, { plugins: ["event-log"], options: ["event-log.events=tls.client_hello,tls.server_hello"] });
    const ours = jsonLines(r.lines).map((x) => (x.type === "tls.client_hello" ? [x.frame, x.ja3_full, x.ja3] : [x.frame, x.ja3s_full, x.ja3s]));
    t.same(ours, theirs, name);
    compared += theirs.length;
  }
  t.ok(compared >= 10, `${compared} hellos compared`);
});

/** A TLS 1.2 server's certificate and its issuer's. */
const leaf = x509Certificate({
  serial: [0x0a, 0xbc],
  subject: x509Name([[{ type: Attr.C, value: "US", tag: 0x13 }], [{ type: Attr.CN, value: "www.example.com" }]]),
  issuer: x509Name([[{ type: Attr.CN, value: "Example CA" }]]),
  sanDns: ["www.example.com", "example.com"],
});
const ca = x509Certificate({ subject: x509Name([[{ type: Attr.CN, value: "Example CA" }]]) });

t.test("a TLS 1.2 server's certificates give a tls.certificate each, its own first, also when they share the hello's record and span segments", async (t) => {
  const chain = tlsCertificateMessage([leaf, ca]);
  // The certificates in the ServerHello's record (as most servers send them), then in a record of their own.
  const sameRecord = tlsServerHello({ cipherSuite: 0xc02f, after: chain });
  const ownRecord = concatBytes(tlsServerHello({ cipherSuite: 0xc02f }), Uint8Array.of(22, 3, 3, chain.length >> 8, chain.length & 0xff), chain);
  for (const [what, flight] of [["same record", sameRecord], ["own record", ownRecord]] as const) {
    const c = conversation();
    c.handshake().send("client", hello("www.example.com")).send("server", flight, { segments: [40, 300, flight.length - 340] }).close("client");
    const last = c.packets.findLast((p) => p.from === "server" && p.payload.length > 0)!;
    for (const events of ["tls.certificate", "tls.client_hello,tls.server_hello,tls.certificate"]) {
      const dir = tempFolder(t);
      const r = await runApp(writeCapture(dir, "certs.pcap", c.packets), { plugins: ["event-log"], options: [`event-log.events=${events}`] });
      const certs = jsonLines(r.lines).filter((x) => x.type === "tls.certificate");
      t.same(
        certs.map((x) => [x.frame, x.src, x.index, x.chain_length, x.serial, x.subject, x.issuer, x.san_dns, x.truncated]),
        [
          [c.packets.indexOf(last) + 1, "203.0.113.43", 0, 2, "0ABC", "CN=www.example.com,C=US", "CN=Example CA", ["www.example.com", "example.com"], false],
          [c.packets.indexOf(last) + 1, "203.0.113.43", 1, 2, "01", "CN=Example CA", "CN=Example CA", [], false],
        ],
        `${what}, listening to ${events}`,
      );
    }
  }
});

t.test("a TLS 1.2 server's certificates are found inside a proxy's CONNECT tunnel with only tls.certificate listened to", async (t) => {
  const c = new TcpConversation({ client, server: { ip: "203.0.113.8", port: 3128 } });
  c.handshake()
    .send("client", "CONNECT www.example.com:443 HTTP/1.1\r\nHost: www.example.com:443\r\n\r\n")
    .send("server", "HTTP/1.1 200 Connection established\r\n\r\n")
    .send("client", hello("www.example.com"))
    .send("server", tlsServerHello({ cipherSuite: 0xc02f, after: tlsCertificateMessage([leaf, ca]) }))
    .close("client");
  const r = await runApp(writeCapture(tempFolder(t), "connect-certs.pcap", c.packets), { plugins: ["event-log"], options: ["event-log.events=tls.certificate,flow.end"] });
  t.same(jsonLines(r.lines).map((x) => [x.type, x.subject ?? x.service]), [
    ["tls.certificate", "CN=www.example.com,C=US"],
    ["tls.certificate", "CN=Example CA"],
    ["flow.end", "http,tls"],
  ]);
});

t.test("TLS 1.3 certificates are encrypted: no tls.certificate, and the connection is not followed past the hellos", async (t) => {
  const c = conversation();
  c.handshake()
    .send("client", tlsClientHello({ serverName: "tls13.example", supportedVersions: [0x0304] }))
    .send("server", concatBytes(tlsServerHello({ cipherSuite: 0x1301, selectedVersion: 0x0304 }), tlsRecord(20), tlsRecord(23, 300)))
    .close("client");
  const records = await hellos(t, c);
  t.same(records.map((r) => r.type), ["tls.client_hello", "tls.server_hello"]);
  const r = await runApp(writeCapture(tempFolder(t), "tls13.pcap", c.packets), { plugins: ["event-log"], options: ["event-log.events=tls.certificate"] });
  t.same(jsonLines(r.lines), []);
});

const opensslMissing = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return false;
  } catch {
    return "openssl is not installed";
  }
})();

t.test("on Zeek's captures, every certificate tshark finds is reported as openssl reads it", { skip: !existsSync(zeekCaptures) ? "no shared captures" : wiresharkMissing || opensslMissing }, async (t) => {
  const scratch = mkdtempSync(`${tmpdir()}/packet-host-x509-`);
  let compared = 0;
  for (const name of readdirSync(zeekCaptures)) {
    const path = `${zeekCaptures}/${name}`;
    const theirs: unknown[][] = [];
    for (const [frame, hex] of tsharkFields(path, ["frame.number", "tls.handshake.certificate"], ["-Y", "tls.handshake.type == 11"])) {
      (hex ?? "").split(",").forEach((h, index) => {
        const file = `${scratch}/cert.der`;
        writeFileSync(file, Buffer.from(h, "hex"));
        const text = execFileSync("openssl", ["x509", "-inform", "DER", "-in", file, "-noout", "-subject", "-issuer", "-serial", "-startdate", "-enddate", "-nameopt", "RFC2253"], { encoding: "utf8" });
        const field = (k: string) => new RegExp(`^${k}=(.*)$`, "m").exec(text)![1]!;
        const fingerprint = (digest: string) =>
          /Fingerprint=(.*)$/m.exec(execFileSync("openssl", ["x509", "-inform", "DER", "-in", file, "-noout", "-fingerprint", `-${digest}`], { encoding: "utf8" }))![1]!.replaceAll(":", "").toLowerCase();
        theirs.push([Number(frame), index, field("subject"), field("issuer"), field("serial"), Date.parse(field("notBefore")) / 1000, Date.parse(field("notAfter")) / 1000, fingerprint("sha1"), fingerprint("sha256")]);
      });
    }
    if (theirs.length === 0) continue;
    const r = await runApp(path, { plugins: ["event-log"], options: ["event-log.events=tls.certificate"] });
    const ours = jsonLines(r.lines).map((x) => [x.frame, x.index, x.subject, x.issuer, x.serial, x.not_before, x.not_after, x.sha1, x.sha256]);
    t.same(ours, theirs, name);
    compared += theirs.length;
  }
  t.ok(compared >= 6, `${compared} certificates compared`);
});
