import t from "tap";
import { FilterError, parseFilter } from "../../workers/filter/pcap-filter.ts";
import type { FilterNode } from "../../workers/filter/pcap-filter.ts";
import { tokenize } from "../../workers/filter/filter-lexer.ts";

/** Renders a parsed filter as an S-expression, so precedence and grouping are visible in one string. */
function shape(node: FilterNode | null): string {
  if (node === null) return "all";
  switch (node.kind) {
    case "and":
    case "or":
      return `(${node.kind} ${shape(node.left)} ${shape(node.right)})`;
    case "not":
      return `(not ${shape(node.operand)})`;
    case "protoAbbrev":
      return node.proto;
    case "host": {
      const a = node.addr;
      const text = [a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff].join(".");
      return `host:${node.proto}:${node.dir}:${text}/${node.mask.toString(16)}`;
    }
    case "port":
      return `${node.range ? "portrange" : "port"}:${node.protocol ?? "any"}:${node.dir}:${node.low}${node.range ? `-${node.high}` : ""}`;
    case "proto":
      return `proto:${node.proto}:${node.value}`;
    case "vlan":
      return `vlan:${node.id ?? "any"}`;
    case "length":
      return `len${node.op}${node.value}`;
    default:
      return node.kind;
  }
}

function parsed(expression: string): string {
  return shape(parseFilter(expression).root);
}

function failure(expression: string): FilterError {
  try {
    parseFilter(expression);
  } catch (e) {
    if (e instanceof FilterError) return e;
    throw e;
  }
  throw new Error(`expected '${expression}' to be rejected`);
}

t.test("parseFilter() gives 'and' and 'or' equal precedence, grouping left to right like tcpdump", async (t) => {
  t.equal(parsed("tcp or udp and icmp"), "(and (or tcp udp) icmp)");
  t.equal(parsed("tcp and udp or icmp"), "(or (and tcp udp) icmp)");
  t.equal(parsed("tcp || udp && icmp"), "(and (or tcp udp) icmp)", "&& and || are the same operators");
  t.equal(parsed("tcp or (udp and icmp)"), "(or tcp (and udp icmp))", "parentheses group");
});

t.test("parseFilter() binds 'not' tighter than 'and'/'or'", async (t) => {
  t.equal(parsed("not tcp and udp"), "(and (not tcp) udp)");
  t.equal(parsed("! tcp or not not udp"), "(or (not tcp) (not (not udp)))");
  t.equal(parsed("not (tcp and udp)"), "(not (and tcp udp))");
});

t.test("parseFilter() repeats the previous qualifiers for a bare value after and/or", async (t) => {
  t.equal(parsed("host 1.2.3.4 or 5.6.7.8"), "(or host:default:default:1.2.3.4/ffffffff host:default:default:5.6.7.8/ffffffff)");
  t.equal(parsed("port 80 or 443"), "(or port:any:default:80 port:any:default:443)");
  t.equal(parsed("tcp dst port 80 or 8080"), "(or port:6:dst:80 port:6:dst:8080)");
  t.equal(parsed("src host 10.0.0.1 and not 10.0.0.2"), "(and host:default:src:10.0.0.1/ffffffff (not host:default:src:10.0.0.2/ffffffff))");
  t.equal(parsed("tcp and (port 80 or 443)"), "(and tcp (or port:any:default:80 port:any:default:443))");
  t.equal(parsed("port (80 or 443)"), "(or port:any:default:80 port:any:default:443)", "a parenthesized group of values");
  t.equal(parsed("host 1.1.1.1 and (tcp) or 2.2.2.2"), "(or (and host:default:default:1.1.1.1/ffffffff tcp) host:default:default:2.2.2.2/ffffffff)",
    "a parenthesized term passes on the qualifiers before its '(' (grammar.y's $<blk>0)");
});

t.test("parseFilter() refuses a bare value when nothing before it has qualifiers", async (t) => {
  const e = failure("tcp or 80");
  t.equal(e.position, 7);
  t.equal(e.length, 2);
  t.match(e.message, /^Cannot tell what '80' at position 7 is: a bare value repeats the qualifiers of the primitive before it/);
  t.equal(failure("vlan 100 or 200").position, 12);
});

t.test("parseFilter() reads host, net and port forms as libpcap does", async (t) => {
  t.equal(parsed("net 10"), "host:default:default:10.0.0.0/ff000000", "a short net number is left-justified");
  t.equal(parsed("net 192.168"), "host:default:default:192.168.0.0/ffff0000");
  t.equal(parsed("host 10.1"), "host:default:default:10.1.0.0/ffff0000", "a short dotted host compares only its bytes");
  t.equal(parsed("net 10.0.0.0"), "host:default:default:10.0.0.0/ffffffff", "four parts means all 32 bits, even after 'net'");
  t.equal(parsed("net 10.0.0.0/8"), "host:default:default:10.0.0.0/ff000000");
  t.equal(parsed("src net 172.16.0.0 mask 255.240.0.0"), "host:default:src:172.16.0.0/fff00000");
  t.equal(parsed("src or dst net 10"), "host:default:or:10.0.0.0/ff000000");
  t.equal(parsed("src and dst host 10.0.0.1"), "host:default:and:10.0.0.1/ffffffff");
  t.equal(parsed("arp host 10.0.0.1"), "host:arp:default:10.0.0.1/ffffffff");
  t.equal(parsed("portrange 1024-65535"), "portrange:any:default:1024-65535");
  t.equal(parsed("udp portrange 68-67"), "portrange:17:default:67-68", "range ends may come in either order");
  t.equal(parsed("port domain"), "port:any:default:53", "service names that are TCP and UDP match both");
  t.equal(parsed("port http"), "port:6:default:80", "a TCP-only service name implies tcp");
  t.equal(parsed("ip proto \\tcp"), "proto:ip:6", "a backslash makes a keyword a name");
  t.equal(parsed("ether proto \\arp"), "proto:link:2054");
  t.equal(parsed("proto 17"), "proto:default:17");
  t.equal(parsed("vlan 100 and vlan"), "(and vlan:100 vlan:any)");
  t.equal(parsed("less 100 or greater 1500"), "(or lenle100 lenge1500)");
  t.equal(parsed(""), "all", "an empty filter accepts everything");
});

t.test("parseFilter() reads IPv6 addresses and prefixes", async (t) => {
  const host = parseFilter("ip6 host 2001:db8::1").root;
  t.same(host?.kind === "host6" && [host.addr, host.mask], [[0x20010db8, 0, 0, 1], [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]]);
  const net = parseFilter("net fe80::/10").root;
  t.same(net?.kind === "host6" && [net.addr, net.mask], [[0xfe800000, 0, 0, 0], [0xffc00000, 0, 0, 0]]);
  const mapped = parseFilter("host ::ffff:192.0.2.1").root;
  t.same(mapped?.kind === "host6" && mapped.addr, [0, 0, 0xffff, 0xc0000201]);
});

t.test("parseFilter() gives % and ^ the right operand that bison's missing precedence gives them", async (t) => {
  // tcpdump accepts every packet for "2 * 3 % 4 = 6": it reads 2 * (3 % 4).
  const root = parseFilter("2 * 3 % 4 = 6").root;
  t.ok(root?.kind === "relation" && root.left.kind === "binary" && root.left.op === "*" && root.left.right.kind === "binary");
  const sum = parseFilter("1 + 2 * 3 = 7").root;
  t.ok(sum?.kind === "relation" && sum.left.kind === "binary" && sum.left.op === "+", "* binds tighter than +");
});

t.test("tokenize() splits words exactly where tcpdump's scanner does", async (t) => {
  const kinds = (s: string): string[] => tokenize(s).slice(0, -1).map((k) => `${k.kind}:${k.word}`);
  t.same(kinds("10.0.0.1"), ["ipv4:10.0.0.1"]);
  t.same(kinds("10.0.0.1.5"), ["name:10.0.0.1.5"], "five parts is a name, not an address");
  t.same(kinds("1024-65535"), ["name:1024-65535"]);
  t.same(kinds("tcp-syn tcpx ip6"), ["number:tcp-syn", "name:tcpx", "keyword:ip6"]);
  t.same(kinds("aa:bb:cc:dd:ee:ff fe80::1"), ["mac:aa:bb:cc:dd:ee:ff", "ipv6:fe80::1"]);
  t.same(tokenize("0x10 010 tcpflags").slice(0, 3).map((k) => k.value), [16, 8, 13], "hex, octal and named numbers");
});

t.test("parseFilter() reports a syntax error at the token where parsing stopped", async (t) => {
  const e = failure("tcp and and udp");
  t.equal(e.position, 8);
  t.match(e.message, /^Syntax error at position 8: expected .*, found 'and'/);
  t.equal(e.pointer(), "tcp and and udp\n        ^^^");
  t.equal(failure("host").message.includes("found the end of the expression"), true);
  t.equal(failure("(tcp").position, 4);
  t.equal(failure("192.168.1.1").message.includes("a qualifier such as 'host'"), true, "a lone address needs a qualifier");
  t.equal(failure("tcp @").position, 4, "an unknown character");
});

t.test("parseFilter() points at unsupported primitives and lists what is supported", async (t) => {
  const e = failure("wlan addr1 00:11:22:33:44:55");
  t.match(e.message, /^Unsupported filter primitive 'addr1' at position 5: .*supported primitives are host, net, port/);
  t.equal(e.pointer(), "wlan addr1 00:11:22:33:44:55\n     ^^^^^");
  t.equal(failure("ip protochain 6").position, 3);
  t.match(failure("ip6 protochain 6").message, /^Unsupported filter primitive 'protochain'.*supported primitives are .*inbound, outbound, ifindex/s);
  t.match(failure("ifindex").message, /an interface index after 'ifindex'/, "ifindex needs its number");
});

t.test("parseFilter() rejects what libpcap rejects whatever the link type, with positions", async (t) => {
  t.match(failure("host example.com").message, /host names are not resolved/);
  t.equal(failure("host example.com").position, 5);
  t.match(failure("port 70000").message, /^Illegal port number 70000 at position 5/);
  t.match(failure("udp port http").message, /is tcp, not udp/);
  t.match(failure("tcp host 10.0.0.1").message, /^Cannot apply 'tcp' to a host at position 0/);
  t.match(failure("ip6 host 10.0.0.1").message, /Cannot apply 'ip6' to the IPv4 host/);
  t.match(failure("ip host ::1").message, /Cannot apply 'ip' to the IPv6 host/);
  t.match(failure("net 10.0.0.1/8").message, /^Non-network bits set in '10.0.0.1\/8'/);
  t.match(failure("host 10.0.0.0/8").message, /mask syntax is for networks only/);
  t.match(failure("port 80 and 1.2.3.4").message, /Cannot use the address '1.2.3.4' with 'port'/);
  t.match(failure("tcp proto 6").message, /^Cannot use 'tcp proto'/);
  t.match(failure("ip[0:3] = 1").message, /^Invalid load size 3 at position 5/);
  t.match(failure("ip[0] / 0 = 1").message, /^Division by zero at position 8/);
  t.match(failure("host 1:2:3:4:5:6").message, /write 'ether host 1:2:3:4:5:6'/);
  t.match(failure("less 0x100000000").message, /does not fit in 32 bits/);
  t.match(failure("port 08").message, /octal/);
});

t.test("a filter nested past what the stack allows is a FilterError, not a RangeError; a deep but sane one parses", async (t) => {
  const nested = (n: number) => `${"(".repeat(n)}tcp${")".repeat(n)}`;
  t.equal(parseFilter(nested(100)).root?.kind, "protoAbbrev");
  for (const expression of [nested(20_000), `${"not ".repeat(20_000)}tcp`]) {
    t.throws(() => parseFilter(expression), { name: "FilterError", message: /nested too deeply/ });
  }
});
