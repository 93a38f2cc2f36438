import t from "tap";
import { filterSource } from "../../workers/filter/filter-codegen.ts";
import { compileProgram } from "../../workers/filter/filter-compiler.ts";
import { parseFilter } from "../../workers/filter/pcap-filter.ts";

/** Every word the code generator itself writes; anything else in the source would have come from the expression. */
const kFixedWords = new Set([
  "use", "strict", "let", "const", "function", "return", "if", "else", "for", "switch", "case", "default", "continue",
  "null", "true", "false", "Math", "imul", "floor", "B", "O", "C", "W", "F", "LH", "LP", "N", "X", "a", "b", "i", "r",
  "hi", "fc", "present", "flags", "ld1", "ld2", "ld4", "div", "mod", "shl", "shr", "frameFilter", "bytes", "offset",
  "caplen", "wirelen",
]);

t.test("filterSource() writes only fixed words and numbers, never text of the expression", async (t) => {
  const expressions = [
    "port domain or portrange http-https", "ether proto \\arp or ip proto \\gre", "host 10.0.0.1 and not net 10.9.0.0/16",
    "ip6 net 2001:db8::/32 and vlan 7", "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn", "ip[0] / ip[1] % 3 = len - 4",
  ];
  for (const linktype of [1, 127, 0, 101]) {
    for (const expression of expressions) {
      let source: string;
      try {
        source = filterSource(compileProgram(parseFilter(expression), linktype));
      } catch {
        continue; // not every expression applies to every link type
      }
      const words = new Set(source.replace(/\b0x[0-9a-fA-F]+\b/g, "0").match(/[A-Za-z_$][A-Za-z0-9_$]*/g) ?? []);
      const foreign = [...words].filter((w) => !kFixedWords.has(w));
      t.same(foreign, [], `${expression} on link type ${linktype}`);
    }
  }
});

t.test("filterSource() shares tests reached from several places instead of copying them", async (t) => {
  // (a or b) and c: c is reached from a and from b. Once the EtherType is known to be IPv4, only the
  // two IPv4 address tests remain (the ARP and RARP ones are skipped, as libpcap's optimizer does).
  const source = filterSource(compileProgram(parseFilter("(tcp or udp) and host 192.0.2.1"), 1));
  t.equal(source.split("=== 3221225985").length - 1, 2, "the source and destination tests are written once each");
  t.match(source, /switch \(N\)/, "they are a shared case of the dispatch loop");
});
