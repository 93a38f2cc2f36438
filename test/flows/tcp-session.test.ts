import t from "tap";
import { Flow } from "../../core/flows/flow-record.ts";
import { ReassemblyBudget } from "../../core/flows/tcp-reassembler.ts";
import { type SessionEvents, TcpSession } from "../../core/flows/tcp-session.ts";

const enc = new TextEncoder();

/** A session on a 5001 connection with HTTP wanted, and the requests it reports. */
function session(): { s: TcpSession; requests: string[]; budget: ReassemblyBudget } {
  const flow = new Flow(1, "tcp", 4, 6, 0, "192.0.2.1", 40000, "192.0.2.2", 5001, 0);
  const requests: string[] = [];
  const events: SessionEvents = {
    httpRequest: (_f, _d, head) => requests.push(`${head.method} ${head.uri}`),
    httpResponse: () => {},
    tlsHello: () => {},
    dns: () => {},
    weird: () => {},
  };
  const budget = new ReassemblyBudget(1 << 20);
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
