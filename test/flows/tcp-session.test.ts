import t from "tap";
import { Flow } from "../../core/flows/flow-record.ts";
import { ByteBudget } from "../../core/flows/byte-budget.ts";
import { type SessionEvents, TcpSession } from "../../core/flows/tcp-session.ts";
import { tlsClientHello, tlsRecord, tlsServerHello } from "../support/tls-hello.ts";

const enc = new TextEncoder();

/** A session on a 5001 connection with HTTP wanted, and the requests it reports. */
function session(): { s: TcpSession; requests: string[]; budget: ByteBudget } {
  const flow = new Flow(1, "tcp", 4, 6, 0, "192.0.2.1", 40000, "192.0.2.2", 5001, 0);
  const requests: string[] = [];
  const events: SessionEvents = {
    httpRequest: (_f, _d, head) => requests.push(`${head.method} ${head.uri}`),
    httpResponse: () => {},
    tlsHello: () => {},
    tlsServerHello: () => {},
    tlsCertificates: () => {},
    dns: () => {},
    weird: () => {},
  };
  const budget = new ByteBudget(1 << 20);
  const s = new TcpSession(flow, { http: true, tls: true, dns: false, weird: false }, events, { maxOutOfOrderBytes: 65536, maxOutOfOrderSegments: 64 }, budget);
  return { s, requests, budget };
}

t.test("a connection that only looked like HTTP stops costing anything once the reply is binary", async (t) => {
  const { s, requests, budget } = session();
  s.segment(0, 0, false, false, enc.encode("GET blob\n"), 1);
  t.equal(s.done, false, "the first line looks like a request");
  const binary = Uint8Array.from({ length: 1400 }, (_, i) => (i * 131 + 7) & 0xff);
  s.segment(1, 5000, false, false, binary, 2);
  t.equal(s.done, true, "binary bytes before any message: not HTTP");
  // Out-of-order data is no longer held, and later text is not parsed.
  s.segment(1, 9000, false, false, binary, 3);
  t.equal(budget.usedBytes, 0, "nothing held for a finished session");
  s.segment(0, 9, false, false, enc.encode("\nGET /late HTTP/1.1\r\n\r\n"), 4);
  t.same(requests, []);
});

t.test("an HTTP connection with a binary body goes on being parsed", async (t) => {
  const { s, requests } = session();
  s.segment(0, 0, false, false, enc.encode("GET /a HTTP/1.1\r\n\r\n"), 1);
  const body = Uint8Array.from({ length: 100 }, (_, i) => i);
  s.segment(1, 5000, false, false, enc.encode("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"), 2);
  s.segment(1, 5000 + 40, false, false, body, 3);
  t.equal(s.done, false);
  s.segment(0, 19, false, false, enc.encode("GET /b HTTP/1.1\r\n\r\n"), 4);
  t.same(requests, ["GET /a", "GET /b"]);
});

/** Sessions that share one parser budget of `bytes`, on `port`; what they report goes to `seen`. */
function budgeted(bytes: number, port = 5001) {
  const parserBudget = new ByteBudget(bytes);
  const seen: string[] = [];
  const events: SessionEvents = {
    httpRequest: (f, _d, head) => seen.push(`${f.aport} ${head.method} ${head.uri}`),
    httpResponse: () => {},
    tlsHello: (f, _d, hello) => seen.push(`${f.aport} hello ${hello.sni}`),
    tlsServerHello: (f, _d, hello) => seen.push(`${f.aport} server hello ${hello.cipherSuite}`),
    tlsCertificates: () => {},
    dns: (f, _d, m) => seen.push(`${f.aport} dns ${m.id}`),
    weird: (f, name) => seen.push(`${f.aport} ${name}`),
  };
  const open = (sport: number) =>
    new TcpSession(
      new Flow(sport, "tcp", 4, 6, 0, "192.0.2.1", sport, "192.0.2.2", port, 0),
      { http: true, tls: true, dns: true, weird: true },
      events,
      { maxOutOfOrderBytes: 65536, maxOutOfOrderSegments: 64 },
      new ByteBudget(1 << 20),
      parserBudget,
    );
  return { open, seen, parserBudget };
}

t.test("heads spread over segments share one parser budget across connections, and give it back", async (t) => {
  const { open, seen, parserBudget } = budgeted(1500);
  const a = open(40001);
  const b = open(40002);
  const headA = enc.encode(`GET /a HTTP/1.1\r\nX-Pad: ${"a".repeat(600)}\r\n`);
  a.segment(0, 0, false, false, headA, 1);
  t.equal(parserBudget.usedBytes, 1024, "a's unfinished head: a 1 KiB buffer");
  b.segment(0, 0, false, false, enc.encode(`GET /b HTTP/1.1\r\nX-Pad: ${"b".repeat(300)}\r\n`), 2);
  t.same(seen, ["40002 parser_budget_exhausted"], "b's 512-byte buffer does not fit beside a's");
  t.equal(b.done, true, "b is analyzed no further");
  t.equal(parserBudget.usedBytes, 1024, "b holds nothing");
  b.segment(0, 333, false, false, enc.encode("\r\nGET /b2 HTTP/1.1\r\n\r\n"), 3);

  a.segment(0, headA.length, false, false, enc.encode("\r\n"), 4);
  t.same(seen.slice(1), ["40001 GET /a"], "a is unharmed");
  t.equal(parserBudget.usedBytes, 8, "a finished head gives its buffer back (the request waits for its response)");
  a.segment(1, 0, false, false, enc.encode("HTTP/1.1 204 No Content\r\n\r\n"), 4);
  t.equal(parserBudget.usedBytes, 0, "answered, it holds nothing");

  const c = open(40003);
  c.segment(0, 0, false, false, enc.encode(`GET /c HTTP/1.1\r\nX-Pad: ${"c".repeat(300)}\r\n`), 5);
  t.equal(parserBudget.usedBytes, 512, "room again for the next connection");
  c.finish(6);
  t.equal(parserBudget.usedBytes, 0, "a connection that ends mid-head gives its share back");
  t.same(seen.slice(2), ["40003 http_truncated_head"]);
});

t.test("a ClientHello or a DNS message spread over segments counts against the parser budget", async (t) => {
  const { open, seen, parserBudget } = budgeted(4096, 443);
  // The first 600 bytes of a 2000-byte ClientHello record.
  const record = new Uint8Array(600);
  record.set([0x16, 0x03, 0x01, 0x07, 0xd0, 0x01, 0x00, 0x07, 0xcc, 0x03, 0x03]);
  const tls = open(40001);
  tls.segment(0, 0, false, false, record, 1);
  t.equal(parserBudget.usedBytes, 2048, "the hello so far is held");
  const tls2 = open(40002);
  tls2.segment(0, 0, false, false, record, 2);
  t.equal(parserBudget.usedBytes, 4096);
  const tls3 = open(40003);
  tls3.segment(0, 0, false, false, record, 3);
  t.same(seen, ["40003 parser_budget_exhausted"]);
  tls.finish(4);
  tls2.finish(4);
  t.equal(parserBudget.usedBytes, 0);

  const dns = budgeted(4096, 53);
  const d = dns.open(40004);
  // A 300-byte message announced, 100 bytes of it sent.
  d.segment(0, 0, false, false, Uint8Array.from([0x01, 0x2c, 0x12, 0x34, ...new Array(98).fill(0)]), 5);
  t.equal(dns.parserBudget.usedBytes, 300, "the DNS message so far is held");
  d.finish(6);
  t.equal(dns.parserBudget.usedBytes, 0);
});

/** A session on port 443 where only `tls.client_hello` is wanted, and the SNIs it reports. */
function clientHelloSession(): { s: TcpSession; snis: Array<string | null> } {
  const flow = new Flow(1, "tcp", 4, 6, 0, "192.0.2.1", 40000, "192.0.2.2", 443, 0);
  const snis: Array<string | null> = [];
  const events: SessionEvents = {
    httpRequest: () => {},
    httpResponse: () => {},
    tlsHello: (_f, _d, hello) => snis.push(hello.sni),
    tlsServerHello: () => {},
    tlsCertificates: () => {},
    dns: () => {},
    weird: () => {},
  };
  const s = new TcpSession(flow, { http: false, tls: true, tlsServer: false, dns: false, weird: false }, events, { maxOutOfOrderBytes: 65536, maxOutOfOrderSegments: 64 }, new ByteBudget(1 << 20));
  return { s, snis };
}

t.test("a TLS 1.3 client is followed past its hello only until the server answers, or for 64 KiB when the answer is not captured; a TLS 1.2 client not at all", async (t) => {
  const hello = tlsClientHello({ serverName: "wait.example", supportedVersions: [0x0304, 0x0303] });
  const answered = clientHelloSession();
  answered.s.segment(0, 0, false, false, hello, 1);
  t.equal(answered.s.done, false, "a retry may come");
  answered.s.segment(1, 7000, false, false, tlsServerHello({ cipherSuite: 0x1301, selectedVersion: 0x0304 }), 2);
  t.equal(answered.s.done, true, "a ServerHello proper: nothing more to read");

  const oneWay = clientHelloSession();
  oneWay.s.segment(0, 0, false, false, hello, 1);
  let seq = hello.length;
  const record = tlsRecord(23, 16000);
  let records = 0;
  while (!oneWay.s.done && records < 10) {
    oneWay.s.segment(0, seq, false, false, record, 2 + records);
    seq += record.length;
    records++;
  }
  t.equal(oneWay.s.done, true, "the side is given up");
  t.equal(records, 5, "in the record that passes 64 KiB");
  t.same(oneWay.snis, ["wait.example"]);

  const old = clientHelloSession();
  old.s.segment(0, 0, false, false, tlsClientHello({ serverName: "tls12.example" }), 1);
  t.equal(old.s.done, true, "a client that offers no TLS 1.3 cannot be asked to retry: done at its hello");
});
