import t from "tap";
import { DnsTcpFramer, parseDnsMessage } from "../../core/analyzers/dns-parser.ts";
import type { DnsMessage } from "../../core/analyzers/dns-parser.ts";

/** Builds DNS wire bytes piece by piece; `at()` gives the offset of the next byte, for compression pointers. */
class Wire {
  readonly b: number[] = [];
  at(): number {
    return this.b.length;
  }
  u8(...v: number[]): this {
    this.b.push(...v);
    return this;
  }
  u16(v: number): this {
    return this.u8((v >> 8) & 0xff, v & 0xff);
  }
  u32(v: number): this {
    return this.u16((v >>> 16) & 0xffff).u16(v & 0xffff);
  }
  /** A name as labels, ending with the root or with a pointer to `ptr`. */
  name(text: string, ptr?: number): this {
    for (const label of text === "" ? [] : text.split(".")) {
      this.u8(label.length, ...Array.from(label, (c) => c.charCodeAt(0)));
    }
    return ptr === undefined ? this.u8(0) : this.u16(0xc000 | ptr);
  }
  header(id: number, flags: number, qd: number, an: number, ns: number, ar: number): this {
    return this.u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
  }
  question(name: string, type: number, cls = 1): this {
    return this.name(name).u16(type).u16(cls);
  }
  /** A record whose data is written by `data` (its length is filled in afterwards). */
  rr(name: string | number, type: number, cls: number, ttl: number, data: (w: Wire) => void): this {
    if (typeof name === "number") this.u16(0xc000 | name);
    else this.name(name);
    this.u16(type).u16(cls).u32(ttl);
    const lenAt = this.at();
    this.u16(0);
    data(this);
    const len = this.at() - lenAt - 2;
    this.b[lenAt] = len >> 8;
    this.b[lenAt + 1] = len & 0xff;
    return this;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.b);
  }
}

function parse(b: Uint8Array): DnsMessage {
  const m = parseDnsMessage(b, 0, b.length);
  if ("error" in m) throw new Error(m.error);
  return m;
}

t.test("parseDnsMessage() decodes a query's header and question", async (t) => {
  const w = new Wire().header(0xbeef, 0x0100, 1, 0, 0, 0).question("www.example.com", 1);
  const m = parse(w.bytes());
  t.equal(m.id, 0xbeef);
  t.equal(m.response, false);
  t.equal(m.opcode, 0);
  t.equal(m.rcode, 0);
  t.equal(m.flags, 0x0100);
  t.same(m.questions, [{ name: "www.example.com", type: 1, class: 1 }]);
  t.equal(m.truncated, false);
});

t.test("parseDnsMessage() decodes every listed record type, with compressed names", async (t) => {
  const w = new Wire().header(7, 0x8580, 1, 9, 1, 1);
  const q = w.at();
  w.question("example.com", 255);
  const ex = q; // "example.com" at offset 12
  w.rr(ex, 1, 1, 300, (d) => d.u8(192, 0, 2, 1));
  w.rr(ex, 28, 1, 300, (d) => d.u16(0x2001).u16(0xdb8).u16(0).u16(0).u16(0).u16(0).u16(0).u16(1));
  w.rr("alias.example.com", 5, 1, 60, (d) => d.name("www", ex));
  w.rr(ex, 2, 1, 86400, (d) => d.name("ns1", ex));
  w.rr("1.2.0.192.in-addr.arpa", 12, 1, 60, (d) => d.name("host", ex));
  w.rr(ex, 15, 1, 60, (d) => d.u16(10).name("mail", ex));
  w.rr(ex, 16, 1, 60, (d) => d.u8(7, ...Array.from("v=spf1 ", (c) => c.charCodeAt(0))).u8(4, ...Array.from("-all", (c) => c.charCodeAt(0))));
  w.rr("_sip._tcp.example.com", 33, 1, 60, (d) => d.u16(1).u16(5).u16(5060).name("sip", ex));
  w.rr(ex, 99, 1, 60, (d) => d.u8(1, 2, 3));
  w.rr(ex, 6, 1, 3600, (d) => d.name("ns1", ex).name("hostmaster", ex).u32(2024010101).u32(7200).u32(900).u32(1209600).u32(0xffffffff));
  w.rr("", 41, 4096, 0, () => {}); // OPT
  const m = parse(w.bytes());
  t.equal(m.response, true);
  t.equal(m.truncated, false);
  t.same(
    m.answers.map((a) => [a.name, a.type, a.data]),
    [
      ["example.com", 1, "192.0.2.1"],
      ["example.com", 28, "2001:db8::1"],
      ["alias.example.com", 5, "www.example.com"],
      ["example.com", 2, "ns1.example.com"],
      ["1.2.0.192.in-addr.arpa", 12, "host.example.com"],
      ["example.com", 15, "10 mail.example.com"],
      ["example.com", 16, "v=spf1 -all"],
      ["_sip._tcp.example.com", 33, "1 5 5060 sip.example.com"],
      ["example.com", 99, null],
    ],
  );
  t.same(m.authorities.map((a) => [a.type, a.ttl, a.data]), [[6, 3600, "ns1.example.com hostmaster.example.com 2024010101 7200 900 1209600 4294967295"]]);
  t.same(m.additionals.map((a) => [a.name, a.type, a.class]), [["", 41, 4096]]);
});

const ascii = (text: string): number[] => Array.from(text, (c) => c.charCodeAt(0));

t.test("parseDnsMessage() writes SVCB and HTTPS data in RFC 9460's presentation form, and CAA as dig does", async (t) => {
  const w = new Wire().header(9, 0x8180, 1, 6, 0, 0);
  const q = w.at();
  w.question("example.com", 65);
  // What a CDN answers a browser: ALPN ids, address hints, an ECH config.
  w.rr(q, 65, 1, 300, (d) =>
    d.u16(1).name("")
      .u16(1).u16(6).u8(2, ...ascii("h3"), 2, ...ascii("h2"))
      .u16(4).u16(8).u8(192, 0, 2, 1, 192, 0, 2, 2)
      .u16(5).u16(3).u8(0xfe, 0x0d, 0x00)
      .u16(6).u16(16).u16(0x2001).u16(0xdb8).u16(0).u16(0).u16(0).u16(0).u16(0).u16(1),
  );
  w.rr("_8443._foo.example.com", 64, 1, 300, (d) =>
    d.u16(2).name("svc.example.net").u16(0).u16(4).u16(1).u16(3).u16(1).u16(6).u8(3, ...ascii("a,b"), 1, ...ascii("c")).u16(2).u16(0).u16(3).u16(2).u16(8443).u16(667).u16(2).u8(0x22, 0x41),
  );
  w.rr(q, 65, 1, 300, (d) => d.u16(0).name("alias.example.net"));
  w.rr(q, 65, 1, 300, (d) => d.u16(1).name("").u16(3).u16(3).u8(1, 2, 3)); // a port of 3 bytes
  w.rr(q, 257, 1, 300, (d) => d.u8(0, 5, ...ascii("issue"), ...ascii("letsencrypt.org")));
  w.rr(q, 257, 1, 300, (d) => d.u8(128, 5, ...ascii("iodef"), ...ascii('mailto:"x"')));
  const m = parse(w.bytes());
  t.same(m.answers.map((a) => a.data), [
    '1 . alpn="h3,h2" ipv4hint=192.0.2.1,192.0.2.2 ech=/g0A ipv6hint=2001:db8::1',
    '2 svc.example.net mandatory=alpn,port alpn="a\\\\,b,c" no-default-alpn port=8443 key667="\\"A"',
    "0 alias.example.net",
    null,
    '0 issue "letsencrypt.org"',
    '128 iodef "mailto:\\"x\\""',
  ]);
});

t.test("parseDnsMessage() escapes alpn ids as BIND does, and gives no SVCB text for keys out of order or a mandatory that lists itself", async (t) => {
  const w = new Wire().header(11, 0x8180, 1, 5, 0, 0);
  const q = w.at();
  w.question("example.com", 65);
  w.rr(q, 65, 1, 60, (d) => d.u16(1).name("").u16(1).u16(9).u8(8, ...ascii('a\\b c"d,'))); // the id a\b c"d,
  w.rr(q, 65, 1, 60, (d) => d.u16(1).name("").u16(1).u16(2).u8(1, 0x07).u16(9).u16(0)); // a control byte; an empty unknown key
  w.rr(q, 65, 1, 60, (d) => d.u16(1).name("").u16(3).u16(2).u16(443).u16(1).u16(3).u8(2, ...ascii("h2"))); // port before alpn
  w.rr(q, 65, 1, 60, (d) => d.u16(1).name("").u16(3).u16(2).u16(443).u16(3).u16(2).u16(80)); // port twice
  w.rr(q, 65, 1, 60, (d) => d.u16(1).name("").u16(0).u16(2).u16(0)); // mandatory=mandatory
  t.same(parse(w.bytes()).answers.map((a) => a.data), ['1 . alpn="a\\\\\\\\b c\\"d\\\\,"', '1 . alpn="\\007" key9', null, null, null]);
});

t.test("parseDnsMessage() writes DS, DNSKEY, RRSIG, NSEC and SSHFP data as BIND does (names without the final dot)", async (t) => {
  const w = new Wire().header(10, 0x8180, 1, 13, 0, 0);
  const q = w.at();
  w.question("example.com", 46);
  w.rr(q, 43, 1, 300, (d) => d.u16(2371).u8(13, 2, 0x0a, 0xbc, 0x01));
  w.rr(q, 48, 1, 300, (d) => d.u16(257).u8(3, 13, ...ascii("key")));
  // Expiration 2024-01-02 03:04:05 UTC, inception 2023-12-03 03:04:05 UTC.
  w.rr(q, 46, 1, 300, (d) => d.u16(28).u8(13, 2).u32(3600).u32(1704164645).u32(1701572645).u16(2371).name("example.com").u8(...ascii("sig")));
  w.rr(q, 46, 1, 300, (d) => d.u16(1234).u8(8, 0).u32(60).u32(0).u32(0).u16(1).name("").u8(0xff));
  // NSEC: A NS SOA RRSIG NSEC DNSKEY in window 0, CAA (257) in window 1, and a type without a mnemonic.
  w.rr(q, 47, 1, 300, (d) => d.name("www.example.com").u8(0, 7, 0x62, 0, 0, 0, 0, 0x03, 0x80).u8(1, 1, 0x40).u8(4, 27, ...new Array<number>(26).fill(0), 0x20));
  w.rr(q, 47, 1, 300, (d) => d.name("x.example.com").u8(0, 40, ...new Array<number>(40).fill(1))); // a window longer than 32 octets
  w.rr(q, 44, 1, 300, (d) => d.u8(4, 2, 0xde, 0xad, 0xbe, 0xef));
  w.rr(q, 59, 1, 300, (d) => d.u16(2371).u8(13, 2, 0x0a, 0xbc, 0x01)); // CDS
  w.rr(q, 60, 1, 300, (d) => d.u16(257).u8(3, 13, ...ascii("key"))); // CDNSKEY
  w.rr(q, 47, 1, 300, (d) => d.name("z.example.com").u8(0, 8, 0, 0, 0, 0, 0, 0, 0, 0x19)); // types 59, 60, 63
  w.rr(q, 47, 1, 300, (d) => d.name("z.example.com").u8(1, 1, 0x40).u8(0, 1, 0x40)); // windows out of order
  w.rr(q, 47, 1, 300, (d) => d.name("z.example.com").u8(0, 2, 0x40, 0)); // a window ending in a zero octet
  w.rr(q, 257, 1, 300, (d) => d.u8(0, 3, ...ascii("a b"), ...ascii("x"))); // a tag that is not letters and digits
  const m = parse(w.bytes());
  t.same(m.answers.map((a) => a.data), [
    "2371 13 2 0ABC01",
    "257 3 13 a2V5",
    "AAAA 13 2 3600 20240102030405 20231203030405 2371 example.com c2ln",
    "TYPE1234 8 0 60 19700101000000 19700101000000 1 . /w==",
    "www.example.com A NS SOA RRSIG NSEC DNSKEY CAA TYPE1234",
    null,
    "4 2 DEADBEEF",
    "2371 13 2 0ABC01",
    "257 3 13 a2V5",
    "z.example.com CDS CDNSKEY ZONEMD",
    null,
    null,
    null,
  ]);
});

t.test("parseDnsMessage() writes IPv6 addresses as RFC 5952 text", async (t) => {
  const cases: [number[], string][] = [
    [[0, 0, 0, 0, 0, 0, 0, 0], "::"],
    [[0, 0, 0, 0, 0, 0, 0, 1], "::1"],
    [[0xfe80, 0, 0, 0, 0x1, 0, 0, 0x2], "fe80::1:0:0:2"],
    [[0x2001, 0xdb8, 0, 1, 0, 0, 0, 1], "2001:db8:0:1::1"],
    [[0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], "2001:db8::1:0:0:1"],
    [[1, 0, 2, 0, 3, 0, 4, 0], "1:0:2:0:3:0:4:0"],
    [[0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201], "::ffff:192.0.2.1"],
  ];
  for (const [groups, text] of cases) {
    const w = new Wire().header(1, 0x8000, 0, 1, 0, 0).rr("a", 28, 1, 1, (d) => groups.forEach((g) => d.u16(g)));
    t.equal(parse(w.bytes()).answers[0]!.data, text);
  }
});

t.test("parseDnsMessage() escapes names like dig and gives the root as an empty string", async (t) => {
  const w = new Wire().header(1, 0, 3, 0, 0, 0);
  w.u8(3, 0x61, 0x2e, 0x62, 3, 0x63, 0x20, 0x64, 2, 0x00, 0xe9, 2, 0x5c, 0x22, 0).u16(1).u16(1); // "a.b", "c d", "\0\xe9", "\\\""
  w.question("", 2);
  w.question("Mixed-Case.Example", 1);
  const m = parse(w.bytes());
  t.same(m.questions.map((q) => q.name), ["a\\.b.c\\032d.\\000\\233.\\\\\\\"", "", "Mixed-Case.Example"]);
});

t.test("parseDnsMessage() masks the mDNS cache-flush and unicast-response bits, but not an OPT payload size", async (t) => {
  const w = new Wire().header(0, 0x8400, 1, 1, 0, 1);
  w.question("printer.local", 12, 0x8001);
  w.rr("printer.local", 1, 0x8001, 120, (d) => d.u8(10, 0, 0, 5));
  w.rr("", 41, 0xffff, 0, () => {});
  const m = parse(w.bytes());
  t.equal(m.questions[0]!.class, 1);
  t.equal(m.answers[0]!.class, 1);
  t.equal(m.additionals[0]!.class, 0xffff);
});

t.test("parseDnsMessage() stops at a compression loop without throwing", async (t) => {
  // The question name is a pointer to itself.
  const self = new Wire().header(1, 0, 1, 0, 0, 0).u16(0xc000 | 12).u16(1).u16(1);
  const m1 = parse(self.bytes());
  t.equal(m1.truncated, true);
  t.same(m1.questions, []);
  t.equal(m1.id, 1, "the header is kept");

  // Two labels, then a pointer back into the same name: a loop through earlier bytes of the same run.
  const loop = new Wire().header(2, 0, 1, 0, 0, 0).u8(1, 0x61, 1, 0x62).u16(0xc000 | 14).u16(1).u16(1);
  t.equal(parse(loop.bytes()).truncated, true);

  // Two record names pointing at each other: "x" + pointer to the second name, which points back to the first.
  const w = new Wire().header(3, 0x8000, 1, 2, 0, 0);
  w.question("ok", 1);
  const first = w.at();
  const second = first + 4 + 10; // "x" and its pointer, then type, class, ttl, rdlength (no data)
  w.u8(1, 0x78).u16(0xc000 | second).u16(1).u16(1).u32(0).u16(0);
  t.equal(w.at(), second);
  w.u16(0xc000 | first).u16(1).u16(1).u32(0).u16(0);
  const m3 = parse(w.bytes());
  t.equal(m3.truncated, true);
  t.same(m3.questions.map((q) => q.name), ["ok"], "what came before is kept");
});

t.test("parseDnsMessage() refuses forward pointers", async (t) => {
  const w = new Wire().header(1, 0x8000, 1, 1, 0, 0);
  w.u16(0xc000 | 18).u16(1).u16(1); // points after itself, at the answer's name
  w.name("later").u16(1).u16(1).u32(0).u16(4).u8(1, 2, 3, 4);
  const m = parse(w.bytes());
  t.equal(m.truncated, true);
  t.same(m.questions, []);
});

t.test("parseDnsMessage() follows a chain of backward pointers", async (t) => {
  const w = new Wire().header(1, 0x8000, 1, 2, 0, 0);
  w.question("example.com", 1); // 12
  const b = w.at();
  w.rr("www", 5, 1, 1, (d) => d.name("edge", 12)); // "www" at b, pointer target "example.com"
  w.rr(b, 1, 1, 1, (d) => d.u8(1, 1, 1, 1)); // name = pointer to "www" + pointer to 12
  const m = parse(w.bytes());
  t.same(m.answers.map((a) => a.name), ["www", "www"]);
  t.equal(m.answers[0]!.data, "edge.example.com");
  t.equal(m.truncated, false);
});

t.test("parseDnsMessage() enforces 63-byte labels and 255-byte names", async (t) => {
  const longLabel = new Wire().header(1, 0, 1, 0, 0, 0).u8(64).u8(...new Array(64).fill(0x61)).u8(0).u16(1).u16(1);
  t.equal(parse(longLabel.bytes()).truncated, true, "a length byte of 64 is not a label");

  const ok = new Wire().header(1, 0, 1, 0, 0, 0);
  for (let i = 0; i < 3; i++) ok.u8(63, ...new Array(63).fill(0x61));
  ok.u8(61, ...new Array(61).fill(0x62)).u8(0).u16(1).u16(1); // 4*64 - 2 + 1 = 255 bytes
  const m = parse(ok.bytes());
  t.equal(m.truncated, false);
  t.equal(m.questions[0]!.name.length, 253);

  const tooLong = new Wire().header(1, 0, 1, 0, 0, 0);
  for (let i = 0; i < 3; i++) tooLong.u8(63, ...new Array(63).fill(0x61));
  tooLong.u8(62, ...new Array(62).fill(0x62)).u8(0).u16(1).u16(1); // 256 bytes
  t.equal(parse(tooLong.bytes()).truncated, true);
});

t.test("parseDnsMessage() keeps what it read when the counts promise more than the data holds", async (t) => {
  const w = new Wire().header(9, 0x8180, 1, 3, 0, 0).question("a.example", 1);
  w.rr(12, 1, 1, 60, (d) => d.u8(10, 0, 0, 1));
  const full = w.bytes();
  const m = parse(full);
  t.equal(m.truncated, true);
  t.same(m.answers.map((a) => a.data), ["10.0.0.1"]);

  // Cut inside the record data: the record is dropped, the question kept.
  const cut = parseDnsMessage(full, 0, full.length - 2);
  t.ok(!("error" in cut) && cut.truncated && cut.answers.length === 0 && cut.questions.length === 1);

  // A record whose data does not fit its type gives null data, and parsing goes on.
  const odd = new Wire().header(1, 0x8000, 0, 2, 0, 0).rr("a", 1, 1, 1, (d) => d.u8(1, 2, 3)).rr("b", 1, 1, 1, (d) => d.u8(1, 2, 3, 4));
  t.same(parse(odd.bytes()).answers.map((a) => a.data), [null, "1.2.3.4"]);
});

t.test("parseDnsMessage() returns an error for fewer than 12 bytes, and honours offset and length", async (t) => {
  t.same(parseDnsMessage(Uint8Array.of(1, 2, 3), 0, 3), { error: "Cannot parse DNS message: the header needs 12 bytes: current length is 3" });
  const msg = new Wire().header(0x4242, 0, 1, 0, 0, 0).question("x", 1).bytes();
  const framed = new Uint8Array(msg.length + 10);
  framed.set(msg, 4);
  const m = parseDnsMessage(framed, 4, msg.length);
  t.ok(!("error" in m) && m.id === 0x4242 && m.questions[0]!.name === "x" && !m.truncated);
  t.ok("error" in parseDnsMessage(framed, framed.length - 5, 100), "a length past the end of the buffer is clamped");
});

t.test("parseDnsMessage() never throws on random or damaged bytes", async (t) => {
  let seed = 99;
  const rand = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 4294967296;
  };
  const good = new Wire().header(5, 0x8180, 1, 2, 0, 0).question("www.example.com", 1);
  good.rr(12, 5, 1, 1, (d) => d.name("cdn", 16)).rr(12, 1, 1, 1, (d) => d.u8(1, 2, 3, 4));
  const base = good.bytes();
  for (let i = 0; i < 3000; i++) {
    let b: Uint8Array;
    if (i % 2 === 0) {
      b = Uint8Array.from({ length: Math.floor(rand() * 80) }, () => Math.floor(rand() * 256));
    } else {
      b = base.slice();
      for (let k = 0; k < 3; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    }
    parseDnsMessage(b, 0, b.length);
  }
  t.pass("3000 inputs parsed without a throw");
});

t.test("DnsTcpFramer cuts a stream into messages whatever the chunking", async (t) => {
  const m1 = new Wire().header(1, 0, 1, 0, 0, 0).question("one.example", 1).bytes();
  const m2 = new Wire().header(2, 0, 1, 0, 0, 0).question("two.example", 28).bytes();
  const stream = Uint8Array.from([m1.length >> 8, m1.length & 0xff, ...m1, 0, 0, m2.length >> 8, m2.length & 0xff, ...m2]);
  for (let k = 0; k <= stream.length; k++) {
    const ids: number[] = [];
    const f = new DnsTcpFramer((b, o, l) => {
      const m = parseDnsMessage(b, o, l);
      if (!("error" in m)) ids.push(m.id);
    });
    const a = stream.slice(0, k);
    const b = stream.slice(k);
    f.data(a, 0);
    a.fill(0); // the framer must have copied what it keeps
    f.data(b, 1);
    if (ids.join() !== "1,2") {
      t.fail(`split at ${k}: ${ids}`);
      return;
    }
  }
  t.pass("every split point gives both messages (the empty frame between them is skipped)");
});

t.test("DnsTcpFramer passes a message lying whole in one chunk as a view of that chunk", async (t) => {
  const m1 = new Wire().header(1, 0, 0, 0, 0, 0).bytes();
  const chunk = Uint8Array.from([0, m1.length, ...m1, 0, m1.length, ...m1]);
  const seen: [Uint8Array, number, number][] = [];
  new DnsTcpFramer((b, o, l) => seen.push([b, o, l])).data(chunk, 0);
  t.equal(seen.length, 2);
  t.equal(seen[0]![0], chunk);
  t.same([seen[0]![1], seen[0]![2], seen[1]![1]], [2, 12, 16]);
});

t.test("DnsTcpFramer drops a message hit by a gap but keeps the framing; a gap in a length prefix loses it", async (t) => {
  const m = new Wire().header(7, 0, 1, 0, 0, 0).question("abc", 1).bytes();
  const framed = Uint8Array.from([0, m.length, ...m]);
  const ids: number[] = [];
  const f = new DnsTcpFramer((b, o, l) => {
    const x = parseDnsMessage(b, o, l);
    if (!("error" in x)) ids.push(x.id);
  });
  f.data(framed.subarray(0, 6), 0);
  f.gap(5);
  f.data(framed.subarray(11), 1);
  f.data(framed, 2);
  t.same(ids, [7], "only the intact second message");
  t.equal(f.lost, false);
  f.data(Uint8Array.of(0), 3);
  f.gap(3);
  t.equal(f.lost, true);
  f.data(framed, 4);
  t.same(ids, [7]);
});
