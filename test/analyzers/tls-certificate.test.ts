import t from "tap";
import { TlsCertificateParser } from "../../core/analyzers/tls-hello.ts";
import { Attr, tlsCertificateMessage, x509Certificate, x509Name } from "../support/x509-builder.ts";

/** A certificate of about `bytes` bytes (a long OU pads it). */
const padded = (cn: string, bytes: number) =>
  x509Certificate({ subject: x509Name([[{ type: Attr.OU, value: "x".repeat(bytes) }], [{ type: Attr.CN, value: cn }]]) });

t.test("TlsCertificateParser reads a chain in any chunks, from inside the record the hello began", async (t) => {
  const message = tlsCertificateMessage([padded("a", 100), padded("b", 3000)]);
  for (const size of [1, 7, 1000, message.length]) {
    const p = new TlsCertificateParser();
    p.continueRecord(message.length);
    let r = null;
    for (let i = 0; i < message.length && r === null; i += size) r = p.data(message.subarray(i, i + size), 0);
    t.match(r, { truncated: false, chain: [{ subject: `CN=a,OU=${"x".repeat(100)}` }, { subject: `CN=b,OU=${"x".repeat(3000)}` }] }, `chunks of ${size}`);
  }
});

t.test("TlsCertificateParser keeps 64 KiB of a longer chain and says it broke off, with what it read of the cut certificate", async (t) => {
  const message = tlsCertificateMessage([padded("a", 15000), padded("b", 15000), padded("c", 15000)]); // about 30 KB each (subject and issuer)
  const record = (from: number, to: number) => Uint8Array.of(22, 3, 3, (to - from) >> 8, (to - from) & 0xff, ...message.subarray(from, to));
  const p = new TlsCertificateParser();
  let r = null;
  for (let at = 0; at < message.length && r === null; at += 16000) r = p.data(record(at, Math.min(message.length, at + 16000)), 0);
  t.match(r, { truncated: true });
  const chain = r !== null && r !== "not-tls" ? r.chain : [];
  t.same(chain.map((c) => [c.subject.slice(0, 4), c.truncated]), [["CN=a", false], ["CN=b", false], ["", true]]);
});
