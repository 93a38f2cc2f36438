import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { dnsMessage, dnsOverTcp, dnsPointer, dnsQuery, dnsResponse } from "./dns-message.ts";
import { ethernet, ipv4, tcp, udp } from "./packet-builders.ts";
import { encodePcap } from "./pcap-writer.ts";
import { makeTempDir, tsharkFields, tsharkProblems, wiresharkMissing } from "./wireshark-tools.ts";

const ascii = (s: string): number[] => [...new TextEncoder().encode(s)];

t.test("dnsQuery() encodes the header and one question byte for byte", async (t) => {
  t.same(
    [...dnsQuery(0x1234, "www.example.com", "AAAA")],
    [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, ...ascii("www"), 7, ...ascii("example"), 3, ...ascii("com"), 0, 0, 28, 0, 1],
  );
  t.same([...dnsQuery(1, ".", "ANY").subarray(12)], [0, 0, 255, 0, 1], "the root name is a single zero byte");
  t.same([...dnsQuery(1, "example.com.", 65).subarray(12, 25)], [...dnsQuery(1, "example.com", 65).subarray(12, 25)], "a trailing dot changes nothing");
});

t.test("dnsResponse() points repeated names back at earlier ones", async (t) => {
  const message = dnsResponse(7, "www.example.com", "A", [
    { type: "CNAME", target: "example.com" },
    { name: "example.com", type: "A", ttl: 60, address: "203.0.113.80" },
  ]);
  const view = new DataView(message.buffer);
  t.equal(view.getUint16(2), 0x8180, "QR, RD, RA");
  t.same([view.getUint16(4), view.getUint16(6)], [1, 2]);
  const answers = 12 + 17 + 4;
  t.same([...message.subarray(answers, answers + 2)], [0xc0, 12], "CNAME owner is the question name");
  t.equal(view.getUint16(answers + 10), 2, "CNAME rdata is just a pointer");
  t.same([...message.subarray(answers + 12, answers + 14)], [0xc0, 16], "to 'example.com' inside the question");
  const second = answers + 14;
  t.same([...message.subarray(second, second + 2)], [0xc0, 16]);
  t.same([view.getUint32(second + 6), view.getUint16(second + 10)], [60, 4]);
  t.same([...message.subarray(second + 12)], [203, 0, 113, 80]);
  const uncompressed = dnsResponse(7, "www.example.com", "A", [{ type: "CNAME", target: "example.com" }], { compress: false });
  t.notOk(uncompressed.includes(0xc0), "no pointers when compression is off");
});

t.test("dnsResponse() never compresses an SRV target", async (t) => {
  const message = dnsResponse(1, "_sip._udp.example.com", "SRV", [{ type: "SRV", priority: 1, weight: 2, port: 5060, target: "sip.example.com" }]);
  t.same([...message.subarray(message.length - 17)], [3, ...ascii("sip"), 7, ...ascii("example"), 3, ...ascii("com"), 0]);
});

t.test("raw names let a test craft a compression loop and inconsistent counts", async (t) => {
  const loop = dnsMessage({ id: 1, questions: [{ name: { raw: dnsPointer(12) }, type: "A" }] });
  t.same([...loop.subarray(12)], [0xc0, 12, 0, 1, 0, 1]);
  const lying = dnsMessage({ id: 1, questions: [{ name: "example.com", type: "A" }], counts: [1, 5, 0, 0] });
  t.equal(new DataView(lying.buffer).getUint16(6), 5);
  t.same([...dnsOverTcp(Uint8Array.of(9, 9, 9))], [0, 3, 9, 9, 9]);
  t.throws(() => dnsQuery(1, "a..b", "A"), /labels are 1 to 63 bytes/);
});

t.test("Wireshark reads every record type the builder writes, over UDP and TCP", { skip: wiresharkMissing }, async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  const response = dnsResponse(
    0xbeef,
    "www.example.com",
    "ANY",
    [
      { type: "CNAME", target: "example.com" },
      { name: "example.com", type: "A", address: "203.0.113.80" },
      { name: "example.com", type: "AAAA", address: "2001:db8::80" },
      { name: "example.com", type: "MX", preference: 10, exchange: "mail.example.com" },
      { name: "example.com", type: "TXT", texts: ["v=spf1 -all", "second string"] },
      { name: "example.com", type: "NS", host: "ns1.example.com" },
      { name: "80.113.0.203.in-addr.arpa", type: "PTR", target: "www.example.com" },
      { name: "_sip._udp.example.com", type: "SRV", priority: 1, weight: 5, port: 5060, target: "sip.example.com" },
    ],
    { authorities: [{ name: "example.com", type: "SOA", mname: "ns1.example.com", rname: "hostmaster.example.com", serial: 2024010101, refresh: 7200, retry: 3600, expire: 1209600, minimum: 300 }] },
  );
  const file = join(dir.path, "dns.pcap");
  const ip = { src: "192.0.2.53", dst: "192.0.2.10" };
  writeFileSync(
    file,
    encodePcap([
      ethernet({}, ipv4({ src: ip.dst, dst: ip.src }, udp({ sport: 53000, dport: 53 }, dnsQuery(0xbeef, "www.example.com", "ANY")))),
      ethernet({}, ipv4(ip, udp({ sport: 53, dport: 53000 }, response))),
      ethernet({}, ipv4(ip, tcp({ sport: 53, dport: 53001, seq: 1, ack: 1, flags: "PA" }, dnsOverTcp(response)))),
    ]),
  );
  t.same(tsharkProblems(file), []);
  // Hex formatting of dns.id differs between Wireshark versions, so compare it as a number.
  const rows = tsharkFields(file, ["dns.id", "dns.count.answers", "dns.a", "dns.aaaa", "dns.cname", "dns.mx.mail_exchange", "dns.txt", "dns.ns", "dns.ptr.domain_name", "dns.srv.target", "dns.soa.rname"]).map(([id, ...rest]) => [Number(id), ...rest]);
  t.equal(rows.length, 3);
  t.same(rows[0]!.slice(0, 2), [0xbeef, "0"]);
  for (const row of rows.slice(1)) {
    t.same(row, [0xbeef, "8", "203.0.113.80", "2001:db8::80", "example.com", "mail.example.com", "v=spf1 -all,second string", "ns1.example.com", "www.example.com", "sip.example.com", "hostmaster.example.com"]);
  }
});
