import t from "tap";
import { sniffTls, TlsClientHelloParser } from "../../core/analyzers/tls-hello.ts";
import type { TlsClientHello } from "../../core/analyzers/tls-hello.ts";
import { tlsClientHello } from "../support/tls-hello.ts";

const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));
const u16 = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];
const u24 = (v: number): number[] => [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];

interface HelloSpec {
  version?: number;
  suites?: number[];
  sni?: string;
  alpn?: string[];
  versions?: number[];
  /** Bytes of an extension that pads the hello (type 21), to make it span records. */
  padding?: number;
  noExtensions?: boolean;
}

/** A ClientHello handshake message, its 4-byte header included. */
function clientHello(spec: HelloSpec): Uint8Array {
  const ext: number[] = [];
  const add = (type: number, data: number[]) => ext.push(...u16(type), ...u16(data.length), ...data);
  if (spec.sni !== undefined) {
    const name = ascii(spec.sni);
    add(0, [...u16(name.length + 3), 0, ...u16(name.length), ...name]);
  }
  add(10, [...u16(4), ...u16(0x001d), ...u16(0x0017)]); // supported_groups, ignored
  if (spec.alpn !== undefined) {
    const list = spec.alpn.flatMap((p) => [p.length, ...ascii(p)]);
    add(16, [...u16(list.length), ...list]);
  }
  if (spec.versions !== undefined) add(43, [spec.versions.length * 2, ...spec.versions.flatMap(u16)]);
  if (spec.padding !== undefined) add(21, new Array(spec.padding).fill(0));
  const suites = spec.suites ?? [0x1301, 0x1302, 0xc02f];
  const body = [
    ...u16(spec.version ?? 0x0303),
    ...new Array(32).fill(7), // random
    32, ...new Array(32).fill(9), // session id
    ...u16(suites.length * 2), ...suites.flatMap(u16),
    1, 0, // compression: null
    ...(spec.noExtensions ? [] : [...u16(ext.length), ...ext]),
  ];
  return Uint8Array.from([1, ...u24(body.length), ...body]);
}

/** Wraps handshake bytes in TLS records of at most `recordSize` bytes. */
function records(hs: Uint8Array, recordSize = 16384, recordVersion = 0x0301): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < hs.length; i += recordSize) {
    const part = hs.subarray(i, Math.min(hs.length, i + recordSize));
    out.push(22, ...u16(recordVersion), ...u16(part.length), ...part);
  }
  return Uint8Array.from(out);
}

/** Feeds chunks (copied, then overwritten after the call, like ring slots) and returns the last non-null answer and when it came. */
function feed(chunks: Uint8Array[]): { result: TlsClientHello | "not-tls" | null; at: number } {
  const p = new TlsClientHelloParser();
  let result: TlsClientHello | "not-tls" | null = null;
  let at = -1;
  chunks.forEach((c, i) => {
    const view = c.slice();
    const r = p.data(view, i);
    view.fill(0xee);
    if (r !== null && result === null) {
      result = r;
      at = i;
    }
  });
  return { result, at };
}

const full: HelloSpec = { sni: "www.example.com", alpn: ["h2", "http/1.1"], versions: [0x0a0a, 0x0304, 0x0303], suites: [0x0a0a, 0x1301, 0x1303, 0xc02b] };
const expected: TlsClientHello = {
  version: 0x0303,
  recordVersion: 0x0301,
  sni: "www.example.com",
  alpn: ["h2", "http/1.1"],
  supportedVersions: [0x0a0a, 0x0304, 0x0303],
  cipherSuites: [0x0a0a, 0x1301, 0x1303, 0xc02b],
  extensions: [0, 10, 16, 43],
  supportedGroups: [0x001d, 0x0017],
  pointFormats: [],
  signatureAlgorithms: [],
  truncated: false,
};

t.test("TlsClientHelloParser reads SNI, ALPN, supported versions and cipher suites from one segment", async (t) => {
  const { result, at } = feed([records(clientHello(full))]);
  t.same(result, expected);
  t.equal(at, 0);
});

t.test("TlsClientHelloParser assembles a hello split across TCP segments at every point", async (t) => {
  const stream = records(clientHello(full));
  for (let k = 1; k < stream.length; k++) {
    const { result, at } = feed([stream.subarray(0, k), stream.subarray(k)]);
    if (JSON.stringify(result) !== JSON.stringify(expected) || at !== 1) {
      t.fail(`split at ${k}: ${JSON.stringify(result)} at ${at}`);
      return;
    }
  }
  t.pass("every split point gives the same hello, complete with the second segment");
});

t.test("TlsClientHelloParser assembles a hello split across TLS records, and those across segments", async (t) => {
  const hs = clientHello({ ...full, padding: 3000 });
  const stream = records(hs, 1000, 0x0303); // 4 records
  const { result: whole } = feed([stream]);
  const padded = { ...expected, recordVersion: 0x0303, extensions: [0, 10, 16, 43, 21] };
  t.same(whole, padded);
  const oneByte = feed(Array.from(stream, (_, i) => stream.subarray(i, i + 1)));
  t.same(oneByte.result, padded);
  t.equal(oneByte.at, stream.length - 1, "complete on the very last byte");
  const uneven = feed([stream.subarray(0, 7), stream.subarray(7, 1500), stream.subarray(1500, 1501), stream.subarray(1501)]);
  t.same(uneven.result, padded);
});

t.test("TlsClientHelloParser waits, without throwing, while a hello is incomplete", async (t) => {
  const stream = records(clientHello(full));
  const p = new TlsClientHelloParser();
  for (let i = 0; i < stream.length - 1; i++) {
    if (p.data(stream.subarray(i, i + 1), i) !== null) {
      t.fail(`answered early at byte ${i}`);
      return;
    }
  }
  t.pass("null for every byte but the last");
});

t.test("TlsClientHelloParser reports a hello cut short by the next record as truncated", async (t) => {
  const hs = clientHello(full);
  const cut = hs.subarray(0, 4 + 2 + 32 + 1 + 32 + 2 + 2 + 1); // one suite and a half
  const stream = Uint8Array.from([...records(cut), 21, 3, 3, 0, 2, 2, 40]); // then an alert record
  const { result } = feed([stream]);
  t.same(result, { version: 0x0303, recordVersion: 0x0301, sni: null, alpn: [], supportedVersions: [], cipherSuites: [0x0a0a], extensions: [], supportedGroups: [], pointFormats: [], signatureAlgorithms: [], truncated: true });
});

t.test("TlsClientHelloParser keeps what it read when lengths inside the hello are wrong", async (t) => {
  const hs = clientHello(full);
  // Make the extensions block claim 40 bytes more than the message holds.
  const extLenAt = 4 + 2 + 32 + 1 + 32 + 2 + 8 + 2;
  const bad = hs.slice();
  const extLen = (bad[extLenAt]! << 8) | bad[extLenAt + 1]!;
  bad[extLenAt] = (extLen + 40) >> 8;
  bad[extLenAt + 1] = (extLen + 40) & 0xff;
  const { result } = feed([records(bad)]);
  t.same(result, { ...expected, truncated: true }, "every extension inside the real bytes is still read");

  // An SNI entry whose length runs past its extension.
  const sniBad = clientHello({ sni: "abc" });
  const at = sniBad.indexOf(3, 4 + 2 + 32 + 1 + 32 + 2 + 6 + 1 + 2 + 4 + 2 + 1); // the name length's low byte
  sniBad[at] = 200;
  const r2 = feed([records(sniBad)]).result as TlsClientHello;
  t.equal(r2.sni, null);
  t.equal(r2.truncated, true);
});

t.test("TlsClientHelloParser reads an old hello without extensions", async (t) => {
  const { result } = feed([records(clientHello({ version: 0x0301, suites: [0x002f], noExtensions: true }), 16384, 0x0300)]);
  t.same(result, { version: 0x0301, recordVersion: 0x0300, sni: null, alpn: [], supportedVersions: [], cipherSuites: [0x002f], extensions: [], supportedGroups: [], pointFormats: [], signatureAlgorithms: [], truncated: false });
});

t.test("TlsClientHelloParser says not-tls at the first byte that rules TLS out, and keeps saying it", async (t) => {
  const p = new TlsClientHelloParser();
  t.equal(p.data(new TextEncoder().encode("GET / HTTP/1.1\r\n"), 0), "not-tls");
  t.equal(p.data(records(clientHello(full)), 1), "not-tls");
  t.equal(new TlsClientHelloParser().data(Uint8Array.of(22, 3, 9), 0), "not-tls", "no TLS version 3.9");
  t.equal(new TlsClientHelloParser().data(Uint8Array.of(22, 3, 1, 0, 0), 0), "not-tls", "an empty record");
  t.equal(new TlsClientHelloParser().data(Uint8Array.of(0x80, 0x2e, 0x01, 0x03, 0x01), 0), "not-tls", "an SSLv2-format hello");
  const serverHello = records(Uint8Array.from([2, 0, 0, 4, 3, 3, 0, 0]));
  t.equal(new TlsClientHelloParser().data(serverHello, 0), "not-tls", "the server's side");
  const split = new TlsClientHelloParser();
  t.equal(split.data(serverHello.subarray(0, 5), 0), null);
  t.equal(split.data(serverHello.subarray(5), 1), "not-tls");
});

t.test("TlsClientHelloParser answers once: later data gives null", async (t) => {
  const p = new TlsClientHelloParser();
  const stream = records(clientHello(full));
  t.ok(p.data(stream, 0) !== null);
  t.equal(p.data(Uint8Array.of(20, 3, 3, 0, 1, 1), 1), null);
});

t.test("TlsClientHelloParser stops collecting at 64 KiB and reports what it has", async (t) => {
  // A record stream claiming a 100000-byte hello, fed in records of 16000 bytes.
  const p = new TlsClientHelloParser();
  let result = p.data(records(Uint8Array.from([1, ...u24(100000), 3, 3])), 0);
  const filler = records(new Uint8Array(16000));
  let chunks = 0;
  while (result === null && chunks < 10) {
    result = p.data(filler, ++chunks);
  }
  t.ok(result !== null && result !== "not-tls" && result.truncated && result.version === 0x0303, "a truncated hello");
  t.equal(chunks, 5, "answered in the chunk that brought the kept bytes to 64 KiB (6 + 5 * 16000 > 65536)");
});

t.test("TlsClientHelloParser(true), for a second hello, passes over the ChangeCipherSpec and early data before it, in any chunks; a first hello's parser does not", async (t) => {
  const ccs = Uint8Array.of(20, 3, 3, 0, 1, 1);
  const earlyData = Uint8Array.from([23, 3, 3, ...u16(300), ...new Array(300).fill(1)]);
  const stream = Uint8Array.from([...ccs, ...earlyData, ...ccs, ...records(clientHello(full))]);
  for (const size of [1, 3, 5, 6, 7, 306, stream.length]) {
    const p = new TlsClientHelloParser(true);
    let r: TlsClientHello | "not-tls" | null = null;
    for (let i = 0; i < stream.length && r === null; i += size) r = p.data(stream.subarray(i, i + size), 0);
    t.same(r, expected, `chunks of ${size}`);
  }
  t.equal(new TlsClientHelloParser().data(stream, 0), "not-tls", "a first hello comes before anything else");
});

t.test("TlsClientHelloParser(true) gives up on a handshake of another kind, an alert, or more than 64 KiB of other records", async (t) => {
  // What a TLS 1.2 client sends after its hello: ClientKeyExchange (handshake type 16).
  t.equal(new TlsClientHelloParser(true).data(Uint8Array.of(20, 3, 3, 0, 1, 1, 22, 3, 3, 0, 5, 16, 0, 0, 1, 0), 0), "not-tls");
  t.equal(new TlsClientHelloParser(true).data(Uint8Array.of(21, 3, 3, 0, 2, 2, 40), 0), "not-tls");
  const p = new TlsClientHelloParser(true);
  const record = Uint8Array.from([23, 3, 3, ...u16(16000), ...new Array(16000).fill(0)]);
  const answers = Array.from({ length: 5 }, () => p.data(record, 0));
  t.same(answers, [null, null, null, null, "not-tls"], "given up in the record that passes 64 KiB");
});

t.test("TlsClientHelloParser reads the groups, point formats and signature algorithms, and calls a hello whose lists disagree with their extensions malformed", async (t) => {
  const read = (extra: Array<{ type: number; data: Uint8Array }> = []) => new TlsClientHelloParser().data(tlsClientHello({ extraExtensions: extra }), 0) as TlsClientHello;
  t.match(read(), { supportedGroups: [0x001d, 0x0017, 0x0018], pointFormats: [0], signatureAlgorithms: [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501], extensions: [10, 11, 13], truncated: false });
  const cases: Array<[string, { type: number; data: Uint8Array }]> = [
    ["a groups list longer than its extension (a second groups extension too)", { type: 10, data: Uint8Array.of(0, 4, 0, 29) }],
    ["a second point formats extension", { type: 11, data: Uint8Array.of(1, 0) }],
    ["a signature algorithms list shorter than its extension (a second one too)", { type: 13, data: Uint8Array.of(0, 2, 4, 3, 9) }],
    ["an empty point formats extension", { type: 11, data: new Uint8Array(0) }],
  ];
  for (const [what, extension] of cases) t.equal(read([extension]).truncated, true, what);
});

t.test("TlsClientHelloParser never throws on random or damaged input", async (t) => {
  let seed = 7;
  const rand = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 4294967296;
  };
  const base = records(clientHello({ ...full, padding: 300 }), 200);
  for (let i = 0; i < 2000; i++) {
    const b = base.slice();
    for (let k = 0; k < 4; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    const p = new TlsClientHelloParser();
    for (let pos = 0; pos < b.length; ) {
      const n = 1 + Math.floor(rand() * 100);
      p.data(b.subarray(pos, pos + n), pos);
      pos += n;
    }
  }
  t.pass("2000 damaged hellos fed without a throw");
});

t.test("sniffTls recognises handshake records and tells client from server", async (t) => {
  const hello = records(clientHello(full));
  t.equal(sniffTls(hello, 0, hello.length), "client-hello");
  t.equal(sniffTls(hello, 0, 5), "maybe");
  t.equal(sniffTls(hello, 0, 0), "maybe");
  t.equal(sniffTls(records(Uint8Array.from([2, 0, 0, 0])), 0, 9), "server-hello");
  t.equal(sniffTls(Uint8Array.of(23, 3, 3, 0, 10), 0, 5), "no", "application data is not a start");
  t.equal(sniffTls(Uint8Array.of(22, 3, 3, 0x50, 0, 1), 0, 6), "no", "a record longer than TLS allows");
  t.equal(sniffTls(Uint8Array.of(22, 3, 1, 0, 10, 4), 0, 6), "no", "a handshake that does not start with a hello");
  const ring = new Uint8Array(20);
  ring.set(hello.subarray(0, 6), 10);
  t.equal(sniffTls(ring, 10, 6), "client-hello", "offset and length are honoured");
});
