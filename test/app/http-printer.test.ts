/**
 * HTTP through the whole host: TcpConversation captures run by `runHost` with the http-printer plugin,
 * compared line for line with what it must print (text) or the records it must write (JSON). A request
 * or response is reported at the time of the segment that completes its head.
 */
import t, { type Test } from "tap";
import type { TcpConversationPacket, TcpConversationOptions } from "../support/tcp-conversation.ts";
import { TcpConversation } from "../support/tcp-conversation.ts";
import { tlsClientHello } from "../support/tls-hello.ts";
import { captureTime, jsonLines, runApp, tempFolder, writeCapture } from "./app-run.ts";

const client = { ip: "192.0.2.10", port: 49152 };
const server = { ip: "203.0.113.80", port: 80 };
const C = "192.0.2.10:49152";
const S = "203.0.113.80:80";

function conversation(options: Partial<TcpConversationOptions> = {}): TcpConversation {
  return new TcpConversation({ client, server, ...options });
}

/** The time http-printer prints for a packet. */
const at = (p: TcpConversationPacket | undefined): string => {
  if (p === undefined) throw new Error("No such packet in the conversation");
  return captureTime(p.timestamp).toFixed(6);
};

/** The last packet whose payload contains `text` (the segment that completes a message ending in it). */
function carrying(c: TcpConversation, text: string): TcpConversationPacket {
  const bytes = new TextEncoder().encode(text);
  const found = c.packets.findLast((p) => Buffer.from(p.payload).includes(Buffer.from(bytes)));
  if (found === undefined) throw new Error(`No packet carries ${JSON.stringify(text)}`);
  return found;
}

/** Runs http-printer on the conversation's packets; returns stdout lines. */
async function print(t: Test, c: TcpConversation, options: { format?: "text" | "json"; options?: string[] } = {}): Promise<string[]> {
  const dir = tempFolder(t);
  const file = writeCapture(dir, "http.pcap", c.packets);
  const result = await runApp(file, { plugins: ["http-printer"], format: options.format ?? "text", options: options.options });
  t.equal(result.status, 0, "the run succeeds");
  t.same(result.errors, [], "nothing on stderr");
  return result.lines;
}

const response200 = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

t.test("a request head split over three segments is printed once, at its last segment", async (t) => {
  const request = "GET /split/path?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\n\r\n";
  const c = conversation();
  c.handshake().send("client", request, { segments: [3, 30, request.length - 33] }).send("server", response200("ok")).close("client");
  t.same(await print(t, c), [
    `${at(carrying(c, "test\r\n\r\n"))} ${C} -> ${S} GET example.com /split/path?q=1 HTTP/1.1`,
    `${at(carrying(c, "HTTP/1.1 200"))} ${S} -> ${C} 200 OK`,
  ]);
});

t.test("control bytes and bytes above 0x7e in the printed fields are escaped, as tcpdump and Zeek print them", async (t) => {
  // Escape sequences from a capture must not reach the terminal (they can retitle, recolour or clear
  // it), and a tab or a space inside a field must not shift the line's columns.
  const c = conversation();
  const latin1 = (s: string) => Uint8Array.from(s, (ch) => ch.charCodeAt(0));
  c.handshake()
    .send("client", latin1("GET /a\x1b[31mRED\t/b HTTP/1.1\r\nHost: h\xc3\xa9llo evil\x07\r\n\r\n"))
    .send("server", latin1("HTTP/1.1 200 O\x1b[2JK, fine\r\nContent-Length: 0\r\n\r\n"))
    .close("client");
  t.same(await print(t, c), [
    `${at(carrying(c, "HTTP/1.1\r\nHost"))} ${C} -> ${S} GET h\\xc3\\xa9llo\\x20evil\\x07 /a\\x1b[31mRED\\x09/b HTTP/1.1`,
    `${at(carrying(c, "HTTP/1.1 200"))} ${S} -> ${C} 200 O\\x1b[2JK, fine`,
  ]);
});

t.test("pipelined requests in one segment are each printed, as are their responses in one segment", async (t) => {
  const c = conversation();
  c.handshake()
    .send("client", "GET /a HTTP/1.1\r\nHost: example.com\r\n\r\nGET /b HTTP/1.1\r\nHost: example.com\r\n\r\nHEAD /c HTTP/1.1\r\nHost: example.com\r\n\r\n")
    .send("server", `${response200("A")}HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n`)
    .close("client");
  const q = at(c.packets[3]);
  const r = at(c.packets[5]);
  t.same(await print(t, c), [
    `${q} ${C} -> ${S} GET example.com /a HTTP/1.1`,
    `${q} ${C} -> ${S} GET example.com /b HTTP/1.1`,
    `${q} ${C} -> ${S} HEAD example.com /c HTTP/1.1`,
    `${r} ${S} -> ${C} 200 OK`,
    `${r} ${S} -> ${C} 404 Not Found`,
    `${r} ${S} -> ${C} 200 OK`,
  ]);
});

t.test("a chunked body is skipped whole, even when it looks like a response and is split mid-chunk", async (t) => {
  const body = "1a\r\nHTTP/1.1 500 Not Really\r\n\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: yes\r\n\r\n";
  const first = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body}`;
  const c = conversation();
  c.handshake()
    .send("client", "GET /chunked HTTP/1.1\r\nHost: example.com\r\n\r\n")
    .send("server", first, { segments: [50, 20, first.length - 70] })
    .send("client", "GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n")
    .send("server", "HTTP/1.1 301 Moved Permanently\r\nLocation: /\r\nContent-Length: 0\r\n\r\n")
    .close("server");
  t.same(await print(t, c), [
    `${at(carrying(c, "/chunked"))} ${C} -> ${S} GET example.com /chunked HTTP/1.1`,
    `${at(carrying(c, "chunked\r\n\r\n"))} ${S} -> ${C} 200 OK`,
    `${at(carrying(c, "/next"))} ${C} -> ${S} GET example.com /next HTTP/1.1`,
    `${at(carrying(c, "HTTP/1.1 301"))} ${S} -> ${C} 301 Moved Permanently`,
  ]);
});

t.test("a keep-alive connection prints each of its requests and responses in order", async (t) => {
  const c = conversation();
  c.handshake();
  for (const path of ["/one", "/two", "/three"]) {
    c.send("client", `GET ${path} HTTP/1.1\r\nHost: example.com\r\n\r\n`).send("server", response200(`body of ${path}`));
  }
  c.close("client");
  const expected: string[] = [];
  for (const path of ["/one", "/two", "/three"]) {
    expected.push(`${at(carrying(c, `GET ${path}`))} ${C} -> ${S} GET example.com ${path} HTTP/1.1`);
    expected.push(`${at(carrying(c, `body of ${path}`))} ${S} -> ${C} 200 OK`);
  }
  t.same(await print(t, c), expected);
});

t.test("responses to HEAD and 304 have no body, whatever their Content-Length says", async (t) => {
  const c = conversation();
  c.handshake()
    .send("client", "HEAD /big HTTP/1.1\r\nHost: example.com\r\n\r\n")
    .send("server", "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    .send("client", "GET /cached HTTP/1.1\r\nHost: example.com\r\nIf-None-Match: \"x\"\r\n\r\n")
    .send("server", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5000\r\nETag: \"x\"\r\n\r\n")
    .send("client", "GET /after HTTP/1.1\r\nHost: example.com\r\n\r\n")
    .send("server", "HTTP/1.1 204 No Content\r\n\r\n")
    .close("client");
  t.same(await print(t, c), [
    `${at(carrying(c, "HEAD /big"))} ${C} -> ${S} HEAD example.com /big HTTP/1.1`,
    `${at(carrying(c, "100000"))} ${S} -> ${C} 200 OK`,
    `${at(carrying(c, "/cached"))} ${C} -> ${S} GET example.com /cached HTTP/1.1`,
    `${at(carrying(c, "304"))} ${S} -> ${C} 304 Not Modified`,
    `${at(carrying(c, "/after"))} ${C} -> ${S} GET example.com /after HTTP/1.1`,
    `${at(carrying(c, "204"))} ${S} -> ${C} 204 No Content`,
  ]);
});

t.test("a 100 Continue is printed, then the final response after the request body", async (t) => {
  const c = conversation();
  c.handshake()
    .send("client", "POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
    .send("server", "HTTP/1.1 100 Continue\r\n\r\n")
    .send("client", "hello world")
    .send("server", "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    .close("client");
  t.same(await print(t, c), [
    `${at(carrying(c, "POST"))} ${C} -> ${S} POST example.com /upload HTTP/1.1`,
    `${at(carrying(c, "100 Continue"))} ${S} -> ${C} 100 Continue`,
    `${at(carrying(c, "201"))} ${S} -> ${C} 201 Created`,
  ]);
});

t.test("after a CONNECT answered 200, the tunnel's bytes are not taken for HTTP", async (t) => {
  const c = conversation({ server: { ip: "203.0.113.80", port: 3128 } });
  c.handshake()
    .send("client", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    .send("server", "HTTP/1.1 200 Connection established\r\n\r\n")
    .send("client", tlsClientHello({ serverName: "example.com" }))
    .send("client", "GET /not-http HTTP/1.1\r\nHost: example.com\r\n\r\n")
    .send("server", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    .close("client");
  const proxy = "203.0.113.80:3128";
  t.same(await print(t, c), [
    `${at(carrying(c, "CONNECT"))} ${C} -> ${proxy} CONNECT example.com:443 example.com:443 HTTP/1.1`,
    `${at(carrying(c, "established"))} ${proxy} -> ${C} 200 Connection established`,
  ]);
});

t.test("HTTP on a port that is not an HTTP port is found by its content", async (t) => {
  const c = conversation({ server: { ip: "203.0.113.80", port: 8123 } });
  c.handshake().send("client", "GET /odd-port HTTP/1.0\r\nHost: example.com:8123\r\n\r\n").send("server", "HTTP/1.0 200 OK\r\n\r\nuntil close").close("server");
  const odd = "203.0.113.80:8123";
  t.same(await print(t, c), [
    `${at(carrying(c, "/odd-port"))} ${C} -> ${odd} GET example.com:8123 /odd-port HTTP/1.0`,
    `${at(carrying(c, "HTTP/1.0 200"))} ${odd} -> ${C} 200 OK`,
  ]);
});

t.test("segments out of order and retransmitted are reassembled before parsing", async (t) => {
  const request = "POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 7\r\n\r\na=1&b=2";
  const response = "HTTP/1.1 302 Found\r\nLocation: /done\r\nContent-Length: 0\r\n\r\n";
  const c = conversation();
  c.handshake()
    .send("client", request, { segments: [10, 20, 20, request.length - 50], order: [2, 0, 3, 1], duplicate: [0, 2] })
    .send("server", response, { segments: [15, response.length - 15], order: [1, 0], duplicate: [1] })
    .send("client", "GET /done HTTP/1.1\r\nHost: example.com\r\n\r\n")
    .send("server", response200("done"))
    .close("client");
  // The head is complete once segment 1 (sent last) fills the hole; the response once its segment 0 does.
  const requestDone = c.packets.filter((p) => p.from === "client" && p.payload.length === 20).at(-1);
  const responseDone = c.packets.find((p) => p.from === "server" && p.payload.length === 15);
  t.same(await print(t, c), [
    `${at(requestDone)} ${C} -> ${S} POST example.com /form HTTP/1.1`,
    `${at(responseDone)} ${S} -> ${C} 302 Found`,
    `${at(carrying(c, "GET /done"))} ${C} -> ${S} GET example.com /done HTTP/1.1`,
    `${at(carrying(c, "done"))} ${S} -> ${C} 200 OK`,
  ]);
});

t.test("a SYN captured after the SYN+ACK still says where the client's stream starts", async (t) => {
  const c = conversation();
  c.handshake().send("client", "GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n", { segments: [10, 28], order: [1, 0] }).send("server", response200("ok"));
  // The capture shows the SYN+ACK first (a mirror port can), then the SYN; the request's segments come
  // out of order, so its first data segment must be held, not taken for the start of the stream.
  const [syn, synAck] = c.packets;
  const packets = [{ ...synAck!, timestamp: syn!.timestamp }, { ...syn!, timestamp: synAck!.timestamp }, ...c.packets.slice(2)];
  const dir = tempFolder(t);
  const r = await runApp(writeCapture(dir, "late-syn.pcap", packets), { plugins: ["http-printer"], format: "text" });
  t.same(
    r.lines.map((l) => l.split(" ").slice(4).join(" ")),
    ["GET example.com /x HTTP/1.1", "200 OK"],
  );
});

t.test("a body segment the capture lost is skipped as soon as the client acknowledges it", async (t) => {
  const body = "x".repeat(3000);
  const c = conversation();
  c.handshake()
    .send("client", "GET /big HTTP/1.1\r\nHost: example.com\r\n\r\n")
    .send("server", response200(body), { segments: [1000, 1000, 1041] })
    .send("client", "GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n")
    .send("server", "HTTP/1.1 204 No Content\r\n\r\n")
    .close("client");
  // The second body segment never reached the capture; the client's ACK after the body covers it.
  const lost = c.packets.findIndex((p) => p.from === "server" && p.payload.length === 1000 && p.payload[0] === 0x78);
  t.ok(lost > 0, "the conversation has the segment to lose");
  c.packets.splice(lost, 1);
  // Without the ACK, the 204 would wait behind the hole until the connection ended, and be printed then.
  t.same(await print(t, c), [
    `${at(carrying(c, "/big"))} ${C} -> ${S} GET example.com /big HTTP/1.1`,
    `${at(carrying(c, "HTTP/1.1 200"))} ${S} -> ${C} 200 OK`,
    `${at(carrying(c, "/next"))} ${C} -> ${S} GET example.com /next HTTP/1.1`,
    `${at(carrying(c, "HTTP/1.1 204"))} ${S} -> ${C} 204 No Content`,
  ]);
});

t.test("HTTP over IPv6 prints bracketed addresses", async (t) => {
  const c = new TcpConversation({ client: { ip: "2001:db8::10", port: 50000 }, server: { ip: "2001:db8:1::80", port: 80 } });
  c.handshake().send("client", "GET /v6 HTTP/1.1\r\nHost: [2001:db8:1::80]\r\n\r\n").send("server", response200("six")).close("client");
  t.same(await print(t, c), [
    `${at(carrying(c, "/v6"))} [2001:db8::10]:50000 -> [2001:db8:1::80]:80 GET [2001:db8:1::80] /v6 HTTP/1.1`,
    `${at(carrying(c, "six"))} [2001:db8:1::80]:80 -> [2001:db8::10]:50000 200 OK`,
  ]);
});

t.test("JSON output carries the request and response records with their headers", async (t) => {
  const c = conversation();
  c.handshake()
    .send("client", "GET /json?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX-Multi: a\r\nX-Multi: b\r\n\r\n")
    .send("server", "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nnope")
    .close("client");
  const request = carrying(c, "/json");
  const response = carrying(c, "404");
  const records = jsonLines(await print(t, c, { format: "json" }));
  t.same(records, [
    {
      type: "http.request",
      ts: captureTime(request.timestamp),
      frame: c.packets.indexOf(request) + 1,
      flow_id: 1,
      src: "192.0.2.10",
      sport: 49152,
      dst: "203.0.113.80",
      dport: 80,
      method: "GET",
      host: "example.com",
      uri: "/json?x=1",
      version: "HTTP/1.1",
      headers: { host: "example.com", accept: "*/*", "x-multi": "a, b" },
    },
    {
      type: "http.response",
      ts: captureTime(response.timestamp),
      frame: c.packets.indexOf(response) + 1,
      flow_id: 1,
      src: "203.0.113.80",
      sport: 80,
      dst: "192.0.2.10",
      dport: 49152,
      status: 404,
      reason: "Not Found",
      version: "HTTP/1.1",
      headers: { "content-type": "text/plain", "content-length": "4" },
    },
  ]);
});

t.test("payload=true also prints the escaped payload of each HTTP segment", async (t) => {
  const c = conversation();
  c.handshake()
    .send("client", "GET /p HTTP/1.1\r\nHost: example.com\r\n\r\n")
    .send("server", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n\t\\\x00\xff!", { segments: [38, 6] })
    .close("client");
  const request = carrying(c, "GET /p");
  const [head, body] = c.packets.filter((p) => p.from === "server" && p.payload.length > 0);
  t.same(await print(t, c, { options: ["http-printer.payload=true"] }), [
    `${at(request)} ${C} -> ${S} payload GET /p HTTP/1.1\\r\\nHost: example.com\\r\\n\\r\\n`,
    `${at(request)} ${C} -> ${S} GET example.com /p HTTP/1.1`,
    `${at(head)} ${S} -> ${C} payload HTTP/1.1 200 OK\\r\\nContent-Length: 6\\r\\n\\r\\n`,
    `${at(head)} ${S} -> ${C} 200 OK`,
    `${at(body)} ${S} -> ${C} payload \\t\\\\\\x00\\xc3\\xbf!`,
  ]);
  // JSON: the bytes in base64 (as Suricata's EVE gives a payload), and the text form's escaped text.
  const records = (await print(t, c, { format: "json", options: ["http-printer.payload=true"] })).map((l) => JSON.parse(l) as Record<string, unknown>);
  const payloads = records.filter((r) => r.type === "tcp.payload");
  t.equal(payloads.length, 3);
  t.same(payloads[2], { type: "tcp.payload", ts: payloads[2]!.ts, frame: payloads[2]!.frame, src: "203.0.113.80", sport: 80, dst: "192.0.2.10", dport: 49152, payload: "CVwAw78h", payload_escaped: "\\t\\\\\\x00\\xc3\\xbf!" });
  t.same(Array.from(atob(payloads[2]!.payload as string), (ch) => ch.charCodeAt(0)), [0x09, 0x5c, 0x00, 0xc3, 0xbf, 0x21], "the bytes, exactly");
});

t.test("payload=true on another port prints a connection's first payload once its first message shows it is HTTP", async (t) => {
  const c = conversation({ server: { ip: "203.0.113.80", port: 8888 } });
  c.handshake()
    .send("client", "GET /q HTTP/1.1\r\nHost: example.com\r\n\r\n", { segments: [10, 28] })
    .send("server", "HTTP/1.1 204 No Content\r\n\r\n")
    .close("client");
  const S8888 = "203.0.113.80:8888";
  const [first, second] = c.packets.filter((p) => p.from === "client" && p.payload.length > 0);
  const response = carrying(c, "HTTP/1.1 204");
  t.same(await print(t, c, { options: ["http-printer.payload=true"] }), [
    `${at(first)} ${C} -> ${S8888} payload GET /q HTT`,
    `${at(second)} ${C} -> ${S8888} payload P/1.1\\r\\nHost: example.com\\r\\n\\r\\n`,
    `${at(second)} ${C} -> ${S8888} GET example.com /q HTTP/1.1`,
    `${at(response)} ${S8888} -> ${C} payload HTTP/1.1 204 No Content\\r\\n\\r\\n`,
    `${at(response)} ${S8888} -> ${C} 204 No Content`,
  ]);
  // A connection that never turns out to be HTTP prints nothing.
  const other = conversation({ server: { ip: "203.0.113.80", port: 8888 } });
  other.handshake().send("client", "\x16\x03\x01 not http at all").close("client");
  t.same(await print(t, other, { options: ["http-printer.payload=true"] }), []);
});

t.test("payload=true on another port holds at most 64 KiB of a connection, counting 256 bytes per segment besides its payload", async (t) => {
  // A request head of 300 bytes in one-byte segments: 300 × (1 + 256) passes 64 KiB at the 255th.
  const head = `GET /${"x".repeat(300 - 20)} HTTP/1.1\r\n\r\n`;
  const c = conversation({ server: { ip: "203.0.113.80", port: 8888 } });
  c.handshake().send("client", head, { segments: new Array<number>(head.length).fill(1) }).close("client");
  const lines = await print(t, c, { options: ["http-printer.payload=true"] });
  t.equal(lines.filter((l) => l.includes(" payload ")).length, 0, "the held segments were let go: none is printed");
  t.equal(lines.filter((l) => l.includes(" GET ")).length, 1, "the request itself still is");
});

t.test("a request without Host prints '-' for the host, and a response without a reason ends at its status", async (t) => {
  const c = conversation();
  c.handshake()
    .send("client", "GET /old HTTP/1.0\r\n\r\n")
    .send("server", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n")
    .send("client", "GET http://proxy.example/x HTTP/1.1\r\n\r\n")
    .send("server", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n")
    .close("client");
  t.same(await print(t, c), [
    `${at(carrying(c, "/old"))} ${C} -> ${S} GET - /old HTTP/1.0`,
    `${at(carrying(c, "HTTP/1.1 200"))} ${S} -> ${C} 200`,
    `${at(carrying(c, "proxy.example"))} ${C} -> ${S} GET - http://proxy.example/x HTTP/1.1`,
    `${at(carrying(c, "HTTP/1.1 404"))} ${S} -> ${C} 404`,
  ]);
});
