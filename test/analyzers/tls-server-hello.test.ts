import t from "tap";
import { TlsServerHelloParser } from "../../core/analyzers/tls-hello.ts";
import type { TlsServerHello } from "../../core/analyzers/tls-hello.ts";
import { tlsClientHello, tlsRecord, tlsServerHello } from "../support/tls-hello.ts";

/** Feeds `bytes` in chunks of `size` and returns what the parser gave first (null: nothing yet). */
function feed(bytes: Uint8Array, size = bytes.length): TlsServerHello | "not-tls" | null {
  const p = new TlsServerHelloParser();
  for (let i = 0; i < bytes.length; i += size) {
    const r = p.data(bytes.subarray(i, i + size), 0);
    if (r !== null) return r;
  }
  return null;
}

t.test("TlsServerHelloParser reads the version and cipher suite a TLS 1.3 server chose, and a TLS 1.2 server's ALPN protocol", async (t) => {
  t.same(feed(tlsServerHello({ cipherSuite: 0x1302, selectedVersion: 0x0304 })), {
    version: 0x0303,
    recordVersion: 0x0303,
    selectedVersion: 0x0304,
    cipherSuite: 0x1302,
    alpn: null,
    helloRetry: false,
    extensions: [43],
    truncated: false,
  });
  t.match(feed(tlsServerHello({ cipherSuite: 0xc030, alpn: "http/1.1" })), { selectedVersion: 0x0303, cipherSuite: 0xc030, alpn: "http/1.1", truncated: false });
});

t.test("TlsServerHelloParser reads a TLS 1.2 hello without extensions, whatever the chunks, and ignores what follows it", async (t) => {
  const bytes = tlsServerHello({ version: 0x0303, cipherSuite: 0x009c, after: Uint8Array.of(11, 0, 0, 3, 0, 0, 0) });
  for (const size of [1, 2, 5, 7, 40, bytes.length]) {
    t.match(feed(bytes, size), { selectedVersion: 0x0303, cipherSuite: 0x009c, alpn: null, truncated: false }, `chunks of ${size}`);
  }
});

t.test("TlsServerHelloParser tells a HelloRetryRequest by its random", async (t) => {
  t.match(feed(tlsServerHello({ selectedVersion: 0x0304, helloRetry: true })), { helloRetry: true, selectedVersion: 0x0304 });
  t.match(feed(tlsServerHello({ selectedVersion: 0x0304 })), { helloRetry: false });
});

t.test("TlsServerHelloParser says not-tls for a ClientHello or another protocol, and keeps what a cut hello had", async (t) => {
  t.equal(feed(tlsClientHello({ serverName: "x.example" })), "not-tls", "a ClientHello is not the server's hello");
  t.equal(feed(new TextEncoder().encode("HTTP/1.1 200 OK\r\n\r\n")), "not-tls");
  const whole = tlsServerHello({ cipherSuite: 0x1301, selectedVersion: 0x0304 });
  // The record says it holds more than the handshake header claims: the hello ends where it says it does.
  const cut = whole.slice(0, 5 + 4 + 2 + 32 + 1 + 2);
  cut[3] = 0;
  cut[4] = cut.length - 5; // a record that ends there
  const r = new TlsServerHelloParser().data(Uint8Array.of(...cut, 21, 3, 3, 0, 2, 2, 40), 0);
  t.match(r, { cipherSuite: 0x1301, truncated: true }, "an alert record ends an unfinished hello: what came before is kept");
});

t.test("the ServerHello after a HelloRetryRequest is found past the server's ChangeCipherSpec; early data is the client's only", async (t) => {
  const hello = tlsServerHello({ cipherSuite: 0x1303, selectedVersion: 0x0304 });
  const afterCcs = Uint8Array.of(...tlsRecord(20), ...hello);
  t.match(new TlsServerHelloParser(true).data(afterCcs, 0), { cipherSuite: 0x1303, helloRetry: false, truncated: false });
  t.equal(new TlsServerHelloParser().data(afterCcs, 0), "not-tls", "a first hello comes before anything else");
  t.equal(new TlsServerHelloParser(true).data(Uint8Array.of(...tlsRecord(23, 40), ...hello), 0), "not-tls");
});
