import { createHash } from "node:crypto";
import t from "tap";
import { parseX509 } from "../../core/analyzers/x509-certificate.ts";
import { Attr, x509Certificate, x509Name } from "../support/x509-builder.ts";

const read = (der: Uint8Array) => parseX509(der, 0, der.length);

t.test("parseX509 reads serial, names, validity and subject alternative names", async (t) => {
  const der = x509Certificate({
    serial: [0x00, 0xde, 0xad, 0x01],
    subject: x509Name([[{ type: Attr.C, value: "US", tag: 0x13 }], [{ type: Attr.O, value: "Example Inc" }], [{ type: Attr.CN, value: "www.example.com" }]]),
    issuer: x509Name([[{ type: Attr.C, value: "US", tag: 0x13 }], [{ type: Attr.CN, value: "Example CA" }]]),
    notBefore: "240102030405Z",
    notAfter: "20510102030405Z",
    sanDns: ["www.example.com", "*.example.com"],
    sanIp: [[192, 0, 2, 1], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
  });
  t.same(read(der), {
    version: 3,
    serial: "DEAD01",
    subject: "CN=www.example.com,O=Example Inc,C=US",
    issuer: "CN=Example CA,C=US",
    notBefore: Date.UTC(2024, 0, 2, 3, 4, 5) / 1000,
    notAfter: Date.UTC(2051, 0, 2, 3, 4, 5) / 1000,
    sanDns: ["www.example.com", "*.example.com"],
    sanIp: ["192.0.2.1", "2001:db8::1"],
    truncated: false,
    sha1: createHash("sha1").update(der).digest("hex"),
    sha256: createHash("sha256").update(der).digest("hex"),
  });
  t.match(read(x509Certificate({ v1: true, subject: x509Name([[{ type: Attr.CN, value: "old" }]]), notBefore: "500101000000Z" })), { version: 1, notBefore: Date.UTC(1950, 0, 1) / 1000 }, "a version 1 certificate; UTCTime 50 is 1950");
});

t.test("parseX509 writes names as openssl's RFC2253 option does: escapes, multi-valued RDNs, other string types, unknown attributes", async (t) => {
  const name = x509Name([
    [{ type: Attr.DC, value: "com", tag: 0x16 }],
    [{ type: Attr.ST, value: "Zürich" }],
    [{ type: Attr.O, value: 'Ex, "Inc" <a;b>+c\\' }],
    [{ type: Attr.OU, value: "#lead " }],
    [{ type: Attr.CN, value: "multi" }, { type: Attr.UID, value: "jdoe" }],
    [{ type: Attr.L, value: Uint8Array.of(0x00, 0x4c, 0x00, 0xe4), tag: 0x1e }], // BMPString "Lä"
    [{ type: "1.2.3.4", value: Uint8Array.of(0x05, 0x00), tag: 0x30 }], // not a string: dumped
    [{ type: "1.2.3.4.5", value: "x" }], // a type OpenSSL does not know: dumped too
    [{ type: Attr.email, value: "x@y.example", tag: 0x16 }],
  ]);
  t.equal(
    read(x509Certificate({ subject: name })).subject,
    'emailAddress=x@y.example,1.2.3.4.5=#0C0178,1.2.3.4=#30020500,L=L\\C3\\A4,UID=jdoe+CN=multi,OU=\\#lead\\ ,O=Ex\\, \\"Inc\\" \\<a\\;b\\>\\+c\\\\,ST=Z\\C3\\BCrich,DC=com',
  );
});

t.test("parseX509 keeps what it read when the DER breaks off or lies, and never throws", async (t) => {
  const der = x509Certificate({ serial: [0x42], subject: x509Name([[{ type: Attr.CN, value: "cut.example" }]]), sanDns: ["cut.example"] });
  const whole = read(der);
  t.equal(whole.truncated, false);
  let sawPartial = false;
  for (let n = 0; n < der.length; n++) {
    const r = parseX509(der, 0, n);
    t.equal(r.truncated, true, `cut at ${n}`);
    if (r.sha256 !== null) t.fail(`a fingerprint of a certificate cut at ${n}`);
    if (r.serial === "42") sawPartial = true;
  }
  t.ok(sawPartial, "fields read before the cut are kept");
  let seed = 11;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  for (let i = 0; i < 2000; i++) {
    const bad = der.slice();
    for (let k = 0; k < 4; k++) bad[random() % bad.length] = random();
    parseX509(bad, 0, bad.length);
  }
  t.pass("2000 damaged certificates read without a throw");
});

t.test("parseX509 writes negative serials as openssl does, and refuses times a calendar does not have", async (t) => {
  const cert = (o: Partial<Parameters<typeof x509Certificate>[0]>) => read(x509Certificate({ subject: x509Name([[{ type: Attr.CN, value: "t" }]]), ...o }));
  t.same([[0xff], [0x80, 0x00], [0x00], [0x00, 0x80]].map((serial) => cert({ serial }).serial), ["-01", "-8000", "00", "80"]);
  const year50 = new Date(0);
  year50.setUTCFullYear(50, 0, 1);
  t.equal(cert({ notBefore: "00500101000000Z" }).notBefore, year50.getTime() / 1000, "GeneralizedTime year 0050 is not 1950");
  t.equal(cert({ notBefore: "250231000000Z" }).notBefore, null, "31 February");
  t.equal(cert({ notBefore: "251231235960Z" }).notBefore, null, "second 60");
  t.equal(cert({ notBefore: "240229120000Z" }).notBefore, Date.UTC(2024, 1, 29, 12) / 1000, "29 February of a leap year");
});
