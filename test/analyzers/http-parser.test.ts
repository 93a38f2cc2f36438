import t from "tap";
import { HttpConnectionParser, sniffHttp } from "../../core/analyzers/http-parser.ts";
import type { HttpRequestHead, HttpResponseHead, HttpSink } from "../../core/analyzers/http-parser.ts";
import { concatBytes } from "../support/packet-builders.ts";

const enc = new TextEncoder();
const bytes = (s: string): Uint8Array => enc.encode(s);

/** Records what the parser reports, as short lines easy to compare. */
class Events implements HttpSink {
  log: string[] = [];
  requests: HttpRequestHead[] = [];
  responses: HttpResponseHead[] = [];
  weirds: string[] = [];
  request(h: HttpRequestHead, ts: number): void {
    this.requests.push(h);
    this.log.push(`req ${h.method} ${h.uri} ${h.version} host=${h.host} @${ts}`);
  }
  response(h: HttpResponseHead, ts: number): void {
    this.responses.push(h);
    this.log.push(`resp ${h.status} ${h.version} @${ts}`);
  }
  weird(name: string): void {
    this.weirds.push(name);
  }
}

type Step = [dir: 0 | 1, text: string];

/** Feeds a script of (direction, text) steps, each text cut into chunks by `cut`; each chunk's ts is its step's index. */
function run(script: Step[], cut: (b: Uint8Array) => Uint8Array[] = (b) => [b], limits?: { maxHeaderBytes?: number }) {
  const ev = new Events();
  const p = new HttpConnectionParser(ev, limits);
  script.forEach(([dir, text], i) => {
    for (const c of cut(bytes(text))) {
      // A copy the parser may not keep: overwritten right after the call, like a reused ring slot.
      const view = c.slice();
      p.data(dir, view, i);
      view.fill(0x21);
    }
  });
  return { ev, p };
}

const oneByteChunks = (b: Uint8Array): Uint8Array[] => Array.from(b, (_, i) => b.subarray(i, i + 1));
const splitAt = (k: number) => (b: Uint8Array): Uint8Array[] => [b.subarray(0, Math.min(k, b.length)), b.subarray(Math.min(k, b.length))].filter((x) => x.length > 0);

t.test("HttpConnectionParser reports a request and its response with their fields", async (t) => {
  const { ev } = run([
    [0, "GET /index.html?q=1 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n"],
    [1, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"],
  ]);
  t.same(ev.log, ["req GET /index.html?q=1 HTTP/1.1 host=www.example.com @0", "resp 200 HTTP/1.1 @1"]);
  t.same({ ...ev.requests[0]!.headers }, { host: "www.example.com", "user-agent": "test", accept: "*/*" });
  t.equal(ev.responses[0]!.reason, "OK");
  t.same(ev.weirds, []);
});

t.test("HttpConnectionParser reports a request head split at every possible point, at the ts of the chunk that completes it", async (t) => {
  const req = "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Folded: a\r\n  b\r\n\r\nabcGET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  const expected = ["req POST /form HTTP/1.1 host=h @1", "req GET /next HTTP/1.1 host=h @1"];
  for (let k = 1; k < req.length; k++) {
    const ev = new Events();
    const p = new HttpConnectionParser(ev);
    const b = bytes(req);
    p.data(0, b.slice(0, k), 0);
    p.data(0, b.slice(k), 1);
    // Where the first head is complete in the first chunk, its ts is 0.
    const firstHeadEnd = req.indexOf("\r\n\r\n") + 4;
    const want = [k >= firstHeadEnd ? expected[0]!.replace("@1", "@0") : expected[0]!, expected[1]!];
    if (JSON.stringify(ev.log) !== JSON.stringify(want) || ev.weirds.length !== 0) {
      t.fail(`split at ${k}: ${JSON.stringify(ev.log)} weirds ${ev.weirds}`);
      return;
    }
    if (ev.requests[0]!.headers["x-folded"] !== "a b") {
      t.fail(`split at ${k}: folded header is ${ev.requests[0]!.headers["x-folded"]}`);
      return;
    }
  }
  t.pass("every split point gives the same two requests");
});

t.test("HttpConnectionParser reports requests and responses fed one byte per chunk", async (t) => {
  const { ev } = run(
    [
      [0, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"],
      [1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n0\r\nTrailer: x\r\n\r\n"],
      [0, "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"],
      [1, "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"],
    ],
    oneByteChunks,
  );
  t.same(ev.log, ["req GET /a HTTP/1.1 host=h @0", "resp 200 HTTP/1.1 @1", "req GET /b HTTP/1.1 host=h @2", "resp 404 HTTP/1.1 @3"]);
  t.same(ev.weirds, []);
});

t.test("HttpConnectionParser parses pipelined requests in one chunk, skipping their bodies", async (t) => {
  const { ev } = run([
    [
      0,
      "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n" +
        "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\n\r\nGET /not-a-request\r\n" +
        "PUT /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nGET /\r\n0\r\n\r\n" +
        "\r\n" + // a stray empty line between messages is allowed
        "DELETE /4 HTTP/1.1\r\nHost: h\r\n\r\n",
    ],
    [1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"],
  ]);
  t.same(ev.log, [
    "req GET /1 HTTP/1.1 host=h @0",
    "req POST /2 HTTP/1.1 host=h @0",
    "req PUT /3 HTTP/1.1 host=h @0",
    "req DELETE /4 HTTP/1.1 host=h @0",
    "resp 200 HTTP/1.1 @1",
    "resp 201 HTTP/1.1 @1",
    "resp 204 HTTP/1.1 @1",
    "resp 200 HTTP/1.1 @1",
  ]);
  t.same(ev.weirds, []);
});

t.test("HttpConnectionParser skips a chunked body whatever the split: sizes, extensions, the CRLFs, trailers", async (t) => {
  const resp =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" +
    "1a;name=value;other\r\nHTTP/1.1 999 inside body\r\n\r\n" +
    "A \r\n0123456789\r\n" +
    "0\r\nExpires: never\r\nX-Trailer: 1\r\n\r\n" +
    "HTTP/1.1 304 Not Modified\r\n\r\n";
  for (let k = 1; k < resp.length; k++) {
    for (let k2 = k + 1; k2 <= resp.length; k2 += 7) {
      const ev = new Events();
      const p = new HttpConnectionParser(ev);
      p.data(0, bytes("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"), 0);
      const b = bytes(resp);
      p.data(1, b.slice(0, k), 1);
      p.data(1, b.slice(k, k2), 1);
      p.data(1, b.slice(k2), 1);
      const statuses = ev.responses.map((r) => r.status).join(",");
      if (statuses !== "200,304" || ev.weirds.length !== 0) {
        t.fail(`splits at ${k},${k2}: ${statuses} weirds ${ev.weirds}`);
        return;
      }
    }
  }
  t.pass("every split gives 200 then 304 and no weird");
});

t.test("HttpConnectionParser lower-cases header names, joins repeats, folds continuation lines and accepts bare LF", async (t) => {
  const { ev } = run([
    [0, "GET / HTTP/1.0\nHOST:  example.org  \nAccept: a\naccept: b\nX-Long: one\n\ttwo\n   three\nCookie: c=1\nCOOKIE: d=2\n\n"],
  ]);
  t.equal(ev.requests.length, 1);
  const h = ev.requests[0]!;
  t.equal(h.host, "example.org");
  t.equal(h.headers["accept"], "a, b");
  t.equal(h.headers["x-long"], "one two three");
  t.equal(h.headers["cookie"], "c=1, d=2");
  t.equal(h.version, "HTTP/1.0");
});

t.test("HttpConnectionParser gives no body to the response to a HEAD, nor to 204 and 304", async (t) => {
  const { ev } = run([
    [0, "HEAD /big HTTP/1.1\r\nHost: h\r\n\r\nGET /empty HTTP/1.1\r\nHost: h\r\n\r\nGET /cached HTTP/1.1\r\nHost: h\r\n\r\nGET /last HTTP/1.1\r\nHost: h\r\n\r\n"],
    [
      1,
      "HTTP/1.1 200 OK\r\nContent-Length: 123456\r\n\r\n" +
        "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n" +
        "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ],
  ]);
  t.same(ev.responses.map((r) => r.status), [200, 204, 304, 200]);
  t.same(ev.weirds, []);
});

t.test("HttpConnectionParser reports 100 Continue and then the final response to the same request", async (t) => {
  const { ev } = run([
    [0, "POST /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"],
    [1, "HTTP/1.1 100 Continue\r\n\r\n"],
    [0, "data"],
    [1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
    [0, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"],
    [1, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"],
  ]);
  t.same(ev.log, [
    "req POST /upload HTTP/1.1 host=h @0",
    "resp 100 HTTP/1.1 @1",
    "resp 200 HTTP/1.1 @3",
    "req HEAD / HTTP/1.1 host=h @4",
    "resp 200 HTTP/1.1 @5",
  ]);
  t.same(ev.weirds, [], "the 1xx did not consume the POST, so the HEAD's response pairs with the HEAD");
});

t.test("HttpConnectionParser: a client that leaves out the body after a final answer to Expect: 100-continue", async (t) => {
  // curl, answered 417 (or 401) before it sent the body, sends the request again on the same connection.
  const post = (expect: string, framing: string) => `POST /upload HTTP/1.1\r\nHost: h\r\n${expect}${framing}\r\n`;
  for (const framing of ["Content-Length: 4\r\n", "Transfer-Encoding: chunked\r\n"]) {
    const body = framing.startsWith("Content") ? "data" : "4\r\ndata\r\n0\r\n\r\n";
    const { ev } = run([
      [0, post("Expect: 100-continue\r\n", framing)],
      [1, "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n"],
      [0, post("", framing) + body],
      [1, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"],
      [0, post("Authorization: Basic eDp5\r\nExpect: 100-Continue\r\n", framing)],
      [1, "HTTP/1.1 100 Continue\r\n\r\n"],
      [0, body],
      [1, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"],
    ]);
    t.same(ev.log.map((l) => l.split(" @")[0]), [
      "req POST /upload HTTP/1.1 host=h",
      "resp 417 HTTP/1.1",
      "req POST /upload HTTP/1.1 host=h",
      "resp 401 HTTP/1.1",
      "req POST /upload HTTP/1.1 host=h",
      "resp 100 HTTP/1.1",
      "resp 201 HTTP/1.1",
    ], framing);
    t.same(ev.weirds, [], framing);
  }
});

t.test("HttpConnectionParser: a client that sends the body anyway after a final answer to Expect: 100-continue", async (t) => {
  // RFC 9110 10.1.1 lets it: the bytes after the answer are the body, then the next request.
  const { ev } = run([
    [0, "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 21\r\n\r\n"],
    [1, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"],
    [0, "GET-like body, 21 by."],
    [0, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"],
    [1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
  ]);
  t.same(ev.log.map((l) => l.split(" @")[0]), ["req PUT /f HTTP/1.1 host=h", "resp 401 HTTP/1.1", "req GET /next HTTP/1.1 host=h", "resp 200 HTTP/1.1"]);
  t.same(ev.weirds, []);
});

t.test("HttpConnectionParser: the body of a request without Expect is read even when it looks like a request", async (t) => {
  const inner = "GET /inner HTTP/1.1\r\n\r\n";
  const { ev } = run([
    [0, `POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: ${inner.length}\r\n\r\n`],
    [1, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"],
    [0, inner],
  ]);
  t.same(ev.log.map((l) => l.split(" @")[0]), ["req POST /echo HTTP/1.1 host=h", "resp 400 HTTP/1.1"]);
});

t.test("HttpConnectionParser: control bytes in a header of the first request do not hide the connection", async (t) => {
  // A versioned request line makes it HTTP: tshark and Zeek report these requests, and dropping the
  // connection for one odd byte would be an easy evasion.
  for (const cut of [(b: Uint8Array) => [b], (b: Uint8Array) => [b.subarray(0, 50), b.subarray(50)]]) {
    const { ev, p } = run(
      [
        [0, "GET /secret HTTP/1.1\r\nHost: x.com\r\nUser-Agent: a\x01b\x1b[31m\r\n\r\n"],
        [1, "HTTP/1.1 200 OK\r\nX-Odd: \x07\r\nContent-Length: 0\r\n\r\n"],
        [0, "GET /second HTTP/1.1\r\nHost: x.com\r\n\r\n"],
        [1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
      ],
      cut,
    );
    t.same(ev.log.map((l) => l.split(" @")[0]), ["req GET /secret HTTP/1.1 host=x.com", "resp 200 HTTP/1.1", "req GET /second HTTP/1.1 host=x.com", "resp 200 HTTP/1.1"]);
    t.equal(ev.requests[0]!.headers["user-agent"], "a\x01b\x1b[31m", "the header keeps its bytes");
    t.equal(p.failed, false);
  }
  // Without a version, a "request line" followed by binary bytes is another protocol's, as before.
  const { ev, p } = run([[0, "GET blob\r\n\x00\x01\x02binary: data\r\n\r\n"]]);
  t.same(ev.log, []);
  t.equal(p.failed, true);
});

t.test("HttpConnectionParser stops after a CONNECT is answered with 2xx: the rest is a tunnel", async (t) => {
  const { ev, p } = run([
    [0, "CONNECT secure.example.com:443 HTTP/1.1\r\nHost: secure.example.com:443\r\n\r\n\x16\x03\x01\x00\x05hello"],
    [1, "HTTP/1.0 200 Connection established\r\n\r\n\x16\x03\x03"],
    [0, "GET /inside-tls HTTP/1.1\r\n\r\n"],
    [1, "HTTP/1.1 200 OK\r\n\r\n"],
  ]);
  t.same(ev.log, ["req CONNECT secure.example.com:443 HTTP/1.1 host=secure.example.com:443 @0", "resp 200 HTTP/1.0 @1"]);
  t.same(ev.weirds, []);
  t.equal(p.failed, false, "a tunnel is not a failure");
});

t.test("HttpConnectionParser goes on after a refused CONNECT", async (t) => {
  const { ev } = run([
    [0, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"],
    [1, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"],
    [0, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nProxy-Authorization: Basic eDp5\r\n\r\n"],
    [1, "HTTP/1.1 200 OK\r\n\r\n"],
  ]);
  t.same(ev.log.map((l) => l.split(" @")[0]), [
    "req CONNECT a:443 HTTP/1.1 host=a:443",
    "resp 407 HTTP/1.1",
    "req CONNECT a:443 HTTP/1.1 host=a:443",
    "resp 200 HTTP/1.1",
  ]);
});

t.test("HttpConnectionParser stops after 101 Switching Protocols", async (t) => {
  const { ev } = run([
    [0, "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"],
    [1, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello"],
    [0, "\x81\x85abcdGET / HTTP/1.1\r\n\r\n"],
  ]);
  t.same(ev.log.map((l) => l.split(" @")[0]), ["req GET /chat HTTP/1.1 host=h", "resp 101 HTTP/1.1"]);
  t.same(ev.weirds, []);
});

t.test("HttpConnectionParser reads a response without length until the close when the connection is not kept alive", async (t) => {
  const { ev } = run([
    [0, "GET / HTTP/1.0\r\n\r\n"],
    [1, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nHTTP/1.1 200 this is body text\r\n"],
    [1, "more body\r\n\r\nHTTP/1.0 500 still body\r\n\r\n"],
  ]);
  t.same(ev.responses.map((r) => r.status), [200]);
  t.same(ev.weirds, []);
});

t.test("HttpConnectionParser takes a response with Connection: close and no length as ending at the close", async (t) => {
  const { ev } = run([
    [0, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"],
    [1, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nHTTP/1.1 200 body\r\n\r\n"],
  ]);
  t.same(ev.responses.map((r) => r.status), [200]);
});

t.test("HttpConnectionParser reads a keep-alive response without length until the close too (RFC 9112 6.3 rule 8)", async (t) => {
  const { ev } = run([
    [0, "GET /k HTTP/1.1\r\nHost: h\r\n\r\n"],
    [1, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst line\r\n"],
    [1, "HTTP/1.1 500 fake\r\n\r\n"],
  ]);
  t.same(ev.responses.map((r) => r.status), [200], "the status line inside the body is body");
  t.same(ev.weirds, []);
});

t.test("HttpConnectionParser treats a negative Content-Length as no body and reports it (variant-03-cl_negative)", async (t) => {
  const { ev } = run([
    [0, "POST / HTTP/1.1\r\nHost: target\r\nContent-Length: -1\r\n\r\nGET /smuggled-cl-negative HTTP/1.1\r\nHost: target\r\n\r\n"],
  ]);
  t.same(ev.log, ["req POST / HTTP/1.1 host=target @0", "req GET /smuggled-cl-negative HTTP/1.1 host=target @0"]);
  t.same(ev.weirds, ["http_bad_content_length"]);
});

t.test("HttpConnectionParser reports absurd or conflicting Content-Length values and reads no body", async (t) => {
  for (const cl of ["99999999999999999999", "12abc", "5, 6", ""]) {
    const { ev } = run([[0, `POST / HTTP/1.1\r\nContent-Length: ${cl}\r\n\r\nGET /next HTTP/1.1\r\n\r\n`]]);
    t.same(ev.requests.map((r) => r.uri), ["/", "/next"], `Content-Length "${cl}"`);
    t.same(ev.weirds, ["http_bad_content_length"]);
  }
  const { ev } = run([[0, `POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabcGET /next HTTP/1.1\r\n\r\n`]]);
  t.same(ev.requests.map((r) => r.uri), ["/", "/next"], "identical repeated values are one length");
});

t.test("HttpConnectionParser reports exactly the methods tshark 4.0 reports as requests", async (t) => {
  const known = [
    "GET", "PUT", "COPY", "HEAD", "LOCK", "MOVE", "POLL", "POST", "BCOPY", "BMOVE", "MKCOL", "TRACE", "PATCH", "LABEL",
    "MERGE", "DELETE", "SEARCH", "UNLOCK", "REPORT", "UPDATE", "BDELETE", "OPTIONS", "CHECKIN", "PROPFIND",
    "CHECKOUT", "CCM_POST", "PROPPATCH", "BPROPFIND", "BPROPPATCH", "UNCHECKOUT", "MKACTIVITY", "MKWORKSPACE",
    "RPC_CONNECT", "RPC_IN_DATA", "RPC_OUT_DATA", "VERSION-CONTROL", "BASELINE-CONTROL", "M-SEARCH", "M-POST",
  ];
  const script: Step[] = known.map((m) => [0, `${m} /x HTTP/1.1\r\nHost: h\r\n\r\n`]);
  const { ev } = run(script);
  t.same(ev.requests.map((r) => r.method), known);
  t.same(ev.weirds, []);

  // Not requests for tshark: GENA notifications, lower case, methods it does not know. All are framed, so the
  // requests after them and the responses still come out right.
  const other = run([
    [0, "NOTIFY * HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyget / HTTP/1.1\r\n\r\nMKCALENDAR /cal HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyzGET /after HTTP/1.1\r\n\r\n"],
    [1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 405 No\r\nContent-Length: 0\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
  ]);
  t.same(other.ev.requests.map((r) => r.uri), ["/after"]);
  t.same(other.ev.responses.map((r) => r.status), [200, 405, 201, 200]);
  t.same(other.ev.weirds, ["http_unknown_method", "http_unknown_method"]);
});

t.test("HttpConnectionParser splits odd request lines the way tshark does (methods.pcap)", async (t) => {
  const cases: [string, string, string, string][] = [
    ["OPTIONS * HTTP/1.1", "OPTIONS", "*", "HTTP/1.1"],
    ["OPTIONS HTTP/1.1", "OPTIONS", "HTTP/1.1", ""],
    ["OPTIONS", "OPTIONS", "", ""],
    ["GET / HTTP/1.", "GET", "/", "HTTP/1."],
    ["GET /HTTP/1.1", "GET", "/HTTP/1.1", ""],
    ["GET  /two-spaces HTTP/1.1", "GET", "", "/two-spaces HTTP/1.1"],
    ["GET /a b HTTP/1.1", "GET", "/a", "b HTTP/1.1"],
  ];
  for (const [line, method, uri, version] of cases) {
    const { ev } = run([[0, `${line}\nHost: www.google.com\n\n`]]);
    t.same(ev.requests.map((r) => [r.method, r.uri, r.version, r.host]), [[method, uri, version, "www.google.com"]], line);
  }
  for (const line of ["OPTIONSHTTP/1.1", "GET/ HTTP/1.1", "GET/HTTP/1.1", "\u00c3\u0083 / HTTP/1."]) {
    const { ev, p } = run([
      [0, `${line}\nHost: www.google.com\n\n`],
      [1, "HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n"],
    ]);
    t.same(ev.requests, [], `${line}: no request`);
    t.same(ev.responses.map((r) => r.status), [400], `${line}: the response is still reported`);
    t.equal(p.failed, false);
  }
});

t.test("HttpConnectionParser finds the client by content, whichever side opened the connection", async (t) => {
  const { ev } = run([
    [1, "GET /reverse HTTP/1.1\r\nHost: h\r\n\r\n"],
    [0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
  ]);
  t.same(ev.log, ["req GET /reverse HTTP/1.1 host=h @0", "resp 200 HTTP/1.1 @1"]);
});

t.test("HttpConnectionParser accepts a lower-case http/ status line and ICY responses", async (t) => {
  const { ev } = run([
    [0, "GET /index.html HTTP/1.1\r\nHost: h\r\n\r\nGET /radio HTTP/1.0\r\n\r\n"],
    [1, "http/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nICY 200 OK\r\nicy-name: x\r\n\r\n"],
  ]);
  t.same(ev.responses.map((r) => [r.status, r.version]), [[200, "http/1.1"], [200, "ICY"]]);
});

t.test("HttpConnectionParser reports a response without a pending request and one without a status code", async (t) => {
  const { ev } = run([[1, "HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n"]]);
  t.same(ev.responses.map((r) => r.status), [0]);
  t.same(ev.weirds, ["http_bad_status_code", "http_unmatched_response"]);
});

t.test("HttpConnectionParser consumes a gap inside a body without losing step", async (t) => {
  const ev = new Events();
  const p = new HttpConnectionParser(ev);
  p.data(0, bytes("GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"), 0);
  p.data(1, bytes("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nabc"), 1);
  p.gap(1, 900, 2);
  p.data(1, bytes("x".repeat(97) + "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n"), 3);
  p.gap(1, 1000, 4);
  p.data(1, bytes("x".repeat(24) + "\r\n0\r\n\r\n"), 5);
  p.data(0, bytes("GET /3 HTTP/1.1\r\n\r\n"), 6);
  p.data(1, bytes("HTTP/1.1 204 No Content\r\n\r\n"), 7);
  t.same(ev.responses.map((r) => r.status), [200, 200, 204]);
  t.same(ev.weirds, []);
});

t.test("HttpConnectionParser resynchronises at the next request after a gap inside a head", async (t) => {
  const ev = new Events();
  const p = new HttpConnectionParser(ev);
  p.data(0, bytes("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHo"), 0);
  p.gap(0, 50, 1);
  p.data(0, bytes("tail of a lost header line\r\nAccept: */*\r\n\r\nPOST /3 HTTP/1.1\r\nContent-Length: 2\r\n\r\nokGET /4 HTTP/1.1\r\n\r\n"), 2);
  t.same(ev.requests.map((r) => r.uri), ["/1", "/3", "/4"]);
  t.same(ev.weirds, ["http_content_gap", "http_resync"]);
  t.equal(p.failed, false);
});

t.test("HttpConnectionParser resynchronises on a start line split across chunks after a gap", async (t) => {
  const ev = new Events();
  const p = new HttpConnectionParser(ev);
  p.data(1, bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"), 0);
  p.gap(1, 30, 1); // runs past the end of the next response's head
  p.data(1, bytes("ength: 2\r\n\r\nxx\r\nHT"), 2);
  p.data(1, bytes("T"), 3);
  p.data(1, bytes("P/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n"), 4);
  t.same(ev.responses.map((r) => r.status), [200, 302]);
  t.same(ev.weirds, ["http_unmatched_response", "http_content_gap", "http_resync", "http_unmatched_response"]);
});

t.test("HttpConnectionParser resynchronises when a body turns out longer than announced", async (t) => {
  const { ev } = run([
    [0, "GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"],
    [1, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef\r\nghi\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"],
  ]);
  t.same(ev.responses.map((r) => r.status), [200, 404]);
  t.same(ev.weirds, ["http_bad_start_line", "http_resync"]);
});

t.test("HttpConnectionParser reports a bad chunk size and resynchronises", async (t) => {
  const { ev } = run([
    [0, "GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"],
    [1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"],
  ]);
  t.same(ev.responses.map((r) => r.status), [200, 404]);
  t.same(ev.weirds, ["http_bad_chunk", "http_resync"]);
});

t.test("HttpConnectionParser parses a chunked body correctly after an earlier bad one", async (t) => {
  const { ev } = run([
    [0, "GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"],
    [1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\rX\r\n"],
    [1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"],
  ]);
  t.same(ev.responses.map((r) => r.status), [200, 200, 204]);
  t.same(ev.weirds, ["http_bad_chunk", "http_resync", "http_unmatched_response"]);
});

t.test("HttpConnectionParser ignores gaps and data after end()", async (t) => {
  const ev = new Events();
  const p = new HttpConnectionParser(ev);
  p.end(0);
  p.gap(0, 10, 1);
  p.data(0, bytes("GET / HTTP/1.1\r\n\r\n"), 2);
  t.same(ev.log, []);
  t.same(ev.weirds, []);
});

t.test("HttpConnectionParser gives a direction up when its head passes maxHeaderBytes", async (t) => {
  const big = "X-Pad: " + "a".repeat(300) + "\r\n";
  const { ev, p } = run(
    [
      [0, "GET / HTTP/1.1\r\n" + big.repeat(4) + "\r\n"],
      [1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
    ],
    oneByteChunks,
    { maxHeaderBytes: 1024 },
  );
  t.same(ev.requests, []);
  t.same(ev.weirds, ["http_header_too_long", "http_unmatched_response"]);
  t.same(ev.responses.map((r) => r.status), [200], "the other direction goes on");
  t.equal(p.failed, false);
});

t.test("HttpConnectionParser.failed becomes true only when every side that spoke is not HTTP", async (t) => {
  const p = new HttpConnectionParser(new Events());
  t.equal(p.failed, false);
  p.data(0, Uint8Array.of(0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00), 0);
  t.equal(p.failed, true, "a TLS ClientHello and a silent server: clearly not HTTP");

  const q = new HttpConnectionParser(new Events());
  q.data(0, bytes("GET / HTTP/1.1\r\n\r\n"), 0);
  q.data(1, Uint8Array.of(0, 1, 2, 3), 1);
  t.equal(q.failed, false, "one side speaks HTTP");

  const ssh = new HttpConnectionParser(new Events());
  ssh.data(1, bytes("SSH-2.0-OpenSSH_9.6\r\n"), 0);
  ssh.data(0, bytes("SSH-2.0-PuTTY\r\n"), 1);
  t.equal(ssh.failed, true);
});

t.test("HttpConnectionParser picks up a connection captured from the middle of a message", async (t) => {
  const ev = new Events();
  const p = new HttpConnectionParser(ev);
  p.data(1, bytes("of a body sent before the capture began</html>\r\n"), 0);
  t.equal(p.failed, true, "so far the only side that spoke did not speak HTTP");
  p.data(0, bytes("GET /next HTTP/1.1\r\nHost: h\r\n\r\n"), 1);
  t.equal(p.failed, false);
  p.data(1, bytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 2);
  t.same(ev.log, ["req GET /next HTTP/1.1 host=h @1", "resp 200 HTTP/1.1 @2"]);
  t.same(ev.weirds, ["http_bad_start_line", "http_resync"]);
});

t.test("HttpConnectionParser gives up a direction after maxResyncBytes without a start line", async (t) => {
  const ev = new Events();
  const p = new HttpConnectionParser(ev, { maxResyncBytes: 1000 });
  p.data(0, bytes("of a body sent before the capture began\n"), 0);
  t.equal(p.failed, true, "looking for a start line");
  for (let i = 0; i < 5; i++) p.data(0, new Uint8Array(300).fill(0x41), i + 1);
  t.same(ev.weirds, ["http_bad_start_line", "http_resync_failed"]);
  p.data(0, bytes("\nGET / HTTP/1.1\r\n\r\n"), 9);
  t.same(ev.requests, [], "a dead direction stays dead");
  t.equal(p.failed, true);
});

t.test("HttpConnectionParser gives up at once on binary bytes before any message of the connection", async (t) => {
  // A line-based protocol whose first line looked like a request, then a binary stream back.
  const ev = new Events();
  const p = new HttpConnectionParser(ev);
  p.data(0, bytes("GET blob\n"), 0);
  t.equal(p.failed, false, "an incomplete head may still become a request");
  p.data(1, Uint8Array.of(0x9e, 0x00, 0x41, 0x0a, 0x42), 1);
  t.same(ev.weirds, ["http_bad_start_line"], "no resync");
  t.equal(p.failed, true, "the connection is not HTTP");

  // The same from the side that sent the line: its binary data is no header.
  const up = new Events();
  const u = new HttpConnectionParser(up);
  u.data(0, bytes("PUT blob\n"), 0);
  u.data(0, Uint8Array.of(0x41, 0x00, 0x9e, 0x0a, 0x0a, 0x42), 1);
  t.same(up.requests, [], "no request made of binary lines");
  t.same(up.weirds, ["http_bad_header_line"]);
  t.equal(u.failed, true);

  // After a message, binary bytes are a mis-framed body: the side resynchronises.
  const qe = new Events();
  const q = new HttpConnectionParser(qe);
  q.data(0, bytes("GET / HTTP/1.1\r\n\r\n"), 0);
  q.data(1, Uint8Array.of(0x9e, 0x00, 0x41, 0x0a, 0x42), 1);
  t.equal(q.failed, false, "one side spoke HTTP");
  q.data(1, bytes("\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 2);
  t.same(qe.log, ["req GET / HTTP/1.1 host= @0", "resp 200 HTTP/1.1 @2"], "the response after the garbage is found");
});

t.test("a control byte anywhere in a first message's header line is found, whatever its place in a word", async (t) => {
  // The head is scanned four bytes at a time: put the byte at every offset of a line, and at its end.
  // After a version-less request line, such a line means another protocol (a versioned one stays HTTP:
  // see "control bytes in a header of the first request do not hide the connection").
  for (const control of [0x00, 0x1b, 0x7f]) {
    for (let at = 0; at < 9; at++) {
      const ev = new Events();
      const p = new HttpConnectionParser(ev);
      const line = bytes("X-Padding: abcdefgh\r\n");
      line[11 + at] = control;
      p.data(0, concatBytes(bytes("GET /\r\n"), line, bytes("Host: h\r\n\r\n")), 0);
      t.same(ev.requests, [], `0x${control.toString(16)} at ${at}: no request`);
      t.same(ev.weirds, ["http_bad_header_line"], `0x${control.toString(16)} at ${at}: said why`);
    }
  }
  // In the last bytes of a chunk that ends inside a line (read byte by byte), in a view that does not
  // start its buffer.
  for (let tail = 1; tail <= 3; tail++) {
    const ev = new Events();
    const p = new HttpConnectionParser(ev);
    const head = bytes("GET /\r\nX-Padding: abcdefgh");
    const backing = new Uint8Array(head.length + 7);
    backing.set(head, 3);
    const chunk = backing.subarray(3, 3 + head.length);
    chunk[chunk.length - tail] = 0x01;
    p.data(0, chunk, 0);
    t.same(ev.weirds, ["http_bad_header_line"], `a control byte ${tail} from the end of a cut line`);
    t.equal(p.failed, true);
  }
  // HT, CR inside a line and bytes above 0x7f are no control bytes: the request stands.
  for (const allowed of [0x09, 0x0d, 0x80, 0xc3, 0xff]) {
    const ev = new Events();
    const p = new HttpConnectionParser(ev);
    const line = bytes("X-Padding: abcdefgh\r\n");
    line[13] = allowed;
    p.data(0, concatBytes(bytes("GET / HTTP/1.1\r\n"), line, bytes("Host: h\r\n\r\n")), 0);
    t.same(ev.log, ["req GET / HTTP/1.1 host=h @0"], `0x${allowed.toString(16)} is allowed`);
  }
});

t.test("HttpConnectionParser.end() reports a head that never completed", async (t) => {
  const ev = new Events();
  const p = new HttpConnectionParser(ev);
  p.data(0, bytes("GET / HTTP/1.1\r\nHost: h\r\n"), 0);
  p.end(1);
  p.data(0, bytes("\r\n"), 2);
  t.same(ev.requests, []);
  t.same(ev.weirds, ["http_truncated_head"]);
});

t.test("sniffHttp tells requests, responses, non-HTTP and too-short prefixes apart", async (t) => {
  const sniff = (s: string | Uint8Array, len?: number) => {
    const b = typeof s === "string" ? bytes(s) : s;
    return sniffHttp(b, 0, len ?? b.length);
  };
  t.equal(sniff("GET / HTTP/1.1\r\n"), "request");
  t.equal(sniff("\r\nPROPFIND /x HTTP/1.1\r\n"), "request");
  t.equal(sniff("M-SEARCH * HTTP/1.1\r\n"), "request");
  t.equal(sniff("OPTIONS\r\n"), "request");
  t.equal(sniff("GE"), "maybe");
  t.equal(sniff("M"), "maybe");
  t.equal(sniff("HTTP/1.1 200 OK\r\n"), "response");
  t.equal(sniff("http/1.1 200 OK\r\n"), "response");
  t.equal(sniff("HTT"), "maybe");
  t.equal(sniff(""), "maybe");
  t.equal(sniff("MKCALENDAR /x HTTP/1.1\r\n"), "request", "an unknown method with a version");
  t.equal(sniff("MKCALENDAR /x HTT"), "maybe", "an unknown method needs its line end");
  t.equal(sniff("SSH-2.0-OpenSSH_9.6\r\n"), "no");
  t.equal(sniff("220 mail.example.com ESMTP\r\n"), "no");
  t.equal(sniff("get / HTTP/1.1\r\n".slice(0, 5)), "maybe", "lower case is not a known method, but may still end in a version");
  t.equal(sniff(Uint8Array.of(0x16, 0x03, 0x01, 0x02, 0x00, 0x01)), "no");
  const ring = bytes("xxxxGET / HTTP/1.1\r\n");
  t.equal(sniffHttp(ring, 4, 3), "maybe", "offset and length are honoured");
  t.equal(sniffHttp(ring, 4, 4), "request");
});

t.test("HttpConnectionParser never throws on random bytes", async (t) => {
  let seed = 12345;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  const pieces = ["GET / HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\n", "Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n", "\r\n", "5\r\n", "0\r\n", ":", " ", "\n", "\x00\xff"];
  for (let round = 0; round < 300; round++) {
    const p = new HttpConnectionParser({ request() {}, response() {}, weird() {} }, { maxHeaderBytes: 512 });
    for (let i = 0; i < 30; i++) {
      const dir = rand() < 0.5 ? 0 : 1;
      if (rand() < 0.1) {
        p.gap(dir, Math.floor(rand() * 50), i);
        continue;
      }
      let s = "";
      const n = 1 + Math.floor(rand() * 6);
      for (let j = 0; j < n; j++) s += rand() < 0.7 ? pieces[Math.floor(rand() * pieces.length)] : String.fromCharCode(Math.floor(rand() * 256));
      p.data(dir, bytes(s), i);
    }
    p.end(99);
  }
  t.pass("300 random conversations parsed without a throw");
});

t.test("a head kept by a listener reads its own headers later, however many messages were parsed since", async (t) => {
  // The headers object is built on first read from a copy of the header lines: the bytes the parser
  // was fed are reused at once, and the copies share slabs (a large head, here one in seven with a
  // 5000-byte cookie, gets a copy of its own between them).
  const kept: HttpRequestHead[] = [];
  const p = new HttpConnectionParser({ request: (h) => kept.push(h), response: () => {}, weird: () => {} });
  const cookie = (i: number) => (i % 7 === 3 ? `Cookie: ${"c".repeat(5000)}${i}\r\n` : "");
  for (let i = 0; i < 2000; i++) {
    const chunk = bytes(`GET /${i} HTTP/1.1\r\nHost: h${i}\r\nX-Index: ${i}\r\nX-Fold: a\r\n  b${i}\r\n${cookie(i)}X-Pad: ${"p".repeat(i % 97)}\r\n\r\n`);
    p.data(0, chunk, i);
    chunk.fill(0x21); // the caller reuses its buffer
  }
  t.equal(kept.length, 2000);
  const wrong = kept.filter(
    (h, i) =>
      h.headers["x-index"] !== String(i) ||
      h.headers["host"] !== `h${i}` ||
      h.headers["x-fold"] !== `a b${i}` ||
      h.headers["cookie"] !== (i % 7 === 3 ? `${"c".repeat(5000)}${i}` : undefined),
  );
  t.same(wrong.map((h) => h.uri), [], "every kept head has its own headers");
  t.equal(kept[1999]!.host, "h1999");
  t.same(Object.keys(kept[5]!.headers), ["host", "x-index", "x-fold", "x-pad"], "in the order they came");
});

t.test("a head parsed where it lies and one assembled byte by byte give the same events, headers and weirds", async (t) => {
  // Heads found whole in a chunk are split at the line ends the head scan already found; heads
  // assembled across chunks are scanned again. Both must read every kind of line alike.
  const heads = [
    "GET /a HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n",
    "GET /b HTTP/1.1\nHost: h\nFolded: one\n  two\n\tthree\n\n",
    "GET /c HTTP/1.1\r\n  orphan continuation\r\nNoColonHere\r\nHost:   spaced   \r\n: empty name\r\nHost: second\r\n\r\n",
    "GET /d HTTP/1.1\r\n" + Array.from({ length: 200 }, (_, i) => `H${i}: v${i}\r\n`).join("") + "\r\n",
    "POST /e HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
  ];
  for (const head of heads) {
    const record = (feed: (p: HttpConnectionParser) => void) => {
      const seen: unknown[] = [];
      const p = new HttpConnectionParser({
        request: (h) => seen.push({ method: h.method, uri: h.uri, host: h.host, headers: { ...h.headers } }),
        response: () => {},
        weird: (name, detail) => seen.push({ weird: name, detail }),
      });
      feed(p);
      return seen;
    };
    const whole = record((p) => p.data(0, bytes(head), 0));
    const byByte = record((p) => {
      for (const b of bytes(head)) p.data(0, Uint8Array.of(b), 0);
    });
    t.ok(whole.length > 0, `${JSON.stringify(head.slice(0, 12))}: events`);
    t.same(whole, byByte, `${JSON.stringify(head.slice(0, 12))}: the same either way`);
  }
});

t.test("HttpConnectionParser reads only the range it is given of a larger buffer (as the ring hands it over)", async (t) => {
  const ev = new Events();
  const p = new HttpConnectionParser(ev);
  // One buffer holding, in order, bytes that are not this stream's, the first part of a request head, and
  // the rest of it. The first call's range ends before the line ends that complete the head: the parser
  // must not find them past the range's end.
  const first = "GET /a HTTP/1.1\r\nHost: h";
  const rest = "\r\nContent-Length: 2\r\n\r\nokGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  const ring = bytes(`\n\n\r\n${first}${rest}\n`);
  const at = 4;
  p.data(0, ring, 1, at, at + first.length);
  t.same(ev.log, [], "nothing is complete within the first range");
  p.data(0, ring, 2, at + first.length, at + first.length + rest.length);
  t.same(ev.log, ["req GET /a HTTP/1.1 host=h @2", "req GET /b HTTP/1.1 host=h @2"], "the head, its body and the next request come from the second range");
  t.same({ ...ev.requests[0]!.headers }, { host: "h", "content-length": "2" });
  t.same(ev.weirds, []);
});

t.test("heldBytes: a head spread over chunks holds a buffer until it completes or is given up; a request, 8 bytes until answered", async (t) => {
  const ev = new Events();
  const p = new HttpConnectionParser(ev);
  t.equal(p.heldBytes, 0);
  p.data(0, bytes("GET /a HTTP/1.1\r\nHost: a\r\n\r\n"), 1);
  t.equal(p.heldBytes, 8, "a head whole in one chunk is parsed in place; the request waits for its response");
  p.data(0, bytes("GET /b HTTP/1.1\r\nHost: "), 2);
  t.equal(p.heldBytes, 512 + 8, "half a head: a buffer");
  p.data(0, bytes("b\r\n\r\n"), 3);
  t.equal(p.heldBytes, 16, "the head done, the buffer is dropped");
  p.data(1, bytes("HTTP/1.1 204 No Content\r\n\r\n"), 4);
  t.equal(p.heldBytes, 8, "an answered request is forgotten");
  p.data(1, bytes("HTTP/1.1 200 OK\r\nContent-"), 5);
  t.equal(p.heldBytes, 512 + 8);
  p.gap(1, 100, 6);
  t.equal(p.heldBytes, 8, "a gap in the head: the buffer is dropped while looking for the next start line");
  t.same(ev.log, ["req GET /a HTTP/1.1 host=a @1", "req GET /b HTTP/1.1 host=b @3", "resp 204 HTTP/1.1 @4"]);
  t.same(ev.weirds, ["http_content_gap"]);
});

t.test("requests waiting for a response: at most 64 per connection, then the oldest is forgotten", async (t) => {
  const ev = new Events();
  const p = new HttpConnectionParser(ev);
  for (let i = 0; i < 70; i++) p.data(0, bytes(`GET /${i} HTTP/1.1\r\n\r\n`), i);
  t.equal(p.heldBytes, 64 * 8);
  t.same(ev.weirds, new Array(6).fill("http_too_many_pending_requests"));
  p.data(1, bytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 70);
  t.equal(p.heldBytes, 63 * 8);
});
