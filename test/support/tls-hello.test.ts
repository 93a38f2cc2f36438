import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { ethernet, ipv4, tcp } from "./packet-builders.ts";
import { encodePcap } from "./pcap-writer.ts";
import { tlsClientHello } from "./tls-hello.ts";
import { makeTempDir, tsharkFields, tsharkProblems, wiresharkMissing } from "./wireshark-tools.ts";

t.test("tlsClientHello() nests record, handshake and extension lengths consistently", async (t) => {
  const hello = tlsClientHello({ serverName: "example.org", alpn: ["h2", "http/1.1"], sessionId: new Uint8Array(32).fill(0xaa) });
  const view = new DataView(hello.buffer);
  t.same([hello[0], view.getUint16(1)], [22, 0x0301], "handshake record, TLS 1.0 record version");
  t.equal(view.getUint16(3), hello.length - 5, "record length");
  t.equal(hello[5], 1, "client_hello");
  t.equal((hello[6]! << 16) | view.getUint16(7), hello.length - 9, "handshake length");
  t.equal(view.getUint16(9), 0x0303);
  t.same([...hello.subarray(11, 43)], Array.from({ length: 32 }, (_, i) => i), "deterministic random");
  t.equal(hello[43], 32);
  let at = 44 + 32;
  const suites = view.getUint16(at);
  at += 2 + suites;
  t.same([hello[at], hello[at + 1]], [1, 0], "null compression only");
  at += 2;
  t.equal(view.getUint16(at), hello.length - at - 2, "extensions length");
  const types: number[] = [];
  for (let e = at + 2; e < hello.length; e += 4 + view.getUint16(e + 2)) types.push(view.getUint16(e));
  t.same(types, [0, 10, 11, 13, 16]);
  const sniAt = at + 2;
  t.same([...hello.subarray(sniAt + 4, sniAt + 9)], [0, 14, 0, 0, 11], "server_name_list length, host_name type, name length");
  t.equal(new TextDecoder().decode(hello.subarray(sniAt + 9, sniAt + 20)), "example.org");
  t.throws(() => tlsClientHello({ random: new Uint8Array(31) }), /32 bytes/);
});

t.test("Wireshark reads SNI, ALPN and cipher suites from the ClientHello", { skip: wiresharkMissing }, async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  const file = join(dir.path, "tls.pcap");
  const hello = tlsClientHello({ serverName: "example.org", alpn: ["h2", "http/1.1"], cipherSuites: [0x1301, 0xc02f] });
  writeFileSync(file, encodePcap([ethernet({}, ipv4({ src: "192.0.2.10", dst: "203.0.113.80" }, tcp({ sport: 50000, dport: 443, seq: 1, ack: 1, flags: "PA" }, hello)))]));
  t.same(tsharkProblems(file), []);
  t.same(tsharkFields(file, ["tls.handshake.type", "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str", "tls.handshake.ciphersuite"]), [
    ["1", "example.org", "h2,http/1.1", "0x1301,0xc02f"],
  ]);
});
