import t from "tap";
import {
  kBadHeaderLength,
  kBadOption,
  kTcpOptMss,
  kTcpOptSack,
  kTcpOptSackOk,
  kTcpOptTimestamp,
  kTcpOptWscale,
  kTruncated,
} from "../../../workers/decode-result.ts";
import { decodeTcp, kTcpAck, kTcpCwr, kTcpEce, kTcpFin, kTcpNs, kTcpPsh, kTcpRst, kTcpSyn, kTcpUrg, TcpLayer } from "../../../workers/layers/tcp.ts";
import { concatBytes, tcp } from "../../support/packet-builders.ts";

const u32 = (d: Uint8Array, o: number): number => ((d[o]! << 24) | (d[o + 1]! << 16) | (d[o + 2]! << 8) | d[o + 3]!) >>> 0;

t.test("decodeTcp() reads ports, 32-bit sequence numbers, window, checksum and urgent pointer", async (t) => {
  const s = tcp({ sport: 65535, dport: 1, seq: 0xfffffff0, ack: 0x80000001, flags: "PA", window: 513, urgent: 7, checksum: 0xabcd }, "data");
  const out = new TcpLayer();
  t.equal(decodeTcp(s, 0, s.length, out), 20);
  t.equal(out.srcPort, 65535);
  t.equal(out.dstPort, 1);
  t.equal(out.seq, 0xfffffff0, "a sequence number above 2^31 stays positive");
  t.equal(out.ack, 0x80000001);
  t.equal(out.headerLength, 20);
  t.equal(out.flags, kTcpPsh | kTcpAck);
  t.equal(out.window, 513);
  t.equal(out.checksum, 0xabcd);
  t.equal(out.urgent, 7);
  t.equal(out.options, 0);
  t.equal(out.soft, 0);
});

t.test("decodeTcp() reads each of the nine flag bits, NS included", async (t) => {
  const bits: Array<[string, number]> = [
    ["F", kTcpFin], ["S", kTcpSyn], ["R", kTcpRst], ["P", kTcpPsh], ["A", kTcpAck],
    ["U", kTcpUrg], ["E", kTcpEce], ["C", kTcpCwr], ["N", kTcpNs],
  ];
  const out = new TcpLayer();
  for (const [letter, bit] of bits) {
    const s = tcp({ sport: 1, dport: 2, flags: letter });
    decodeTcp(s, 0, s.length, out);
    t.equal(out.flags, bit, letter);
  }
  const all = tcp({ sport: 1, dport: 2, flags: 0x1ff });
  decodeTcp(all, 0, all.length, out);
  t.equal(out.flags, 0x1ff);
});

t.test("decodeTcp() reads MSS, window scale, SACK-permitted and timestamps of a SYN", async (t) => {
  const s = tcp({
    sport: 1,
    dport: 2,
    flags: "S",
    options: [
      { kind: "mss", value: 1460 },
      { kind: "sack-permitted" },
      { kind: "timestamps", value: 0xfeedface, echo: 0 },
      { kind: "nop" },
      { kind: "wscale", shift: 7 },
    ],
  });
  const out = new TcpLayer();
  t.equal(decodeTcp(s, 0, s.length, out), 40);
  t.equal(out.headerLength, 40);
  t.equal(out.options, kTcpOptMss | kTcpOptSackOk | kTcpOptTimestamp | kTcpOptWscale);
  t.equal(out.mss, 1460);
  t.equal(out.windowScale, 7);
  t.equal(out.tsVal, 0xfeedface);
  t.equal(out.tsEcr, 0);
  t.equal(out.soft, 0);
});

t.test("decodeTcp() points at SACK blocks and counts them", async (t) => {
  const blocks: Array<[number, number]> = [[1000, 2000], [0xfffffff0, 0x10], [5, 6]];
  const s = concatBytes(new Uint8Array(10), tcp({ sport: 1, dport: 2, flags: "A", options: [{ kind: "nop" }, { kind: "nop" }, { kind: "sack", blocks }] }));
  const out = new TcpLayer();
  t.equal(decodeTcp(s, 10, s.length, out), 10 + 20 + 28);
  t.equal(out.options, kTcpOptSack);
  t.equal(out.sackBlocks, 3);
  t.equal(out.sackOff, 10 + 24, "an offset in the buffer, after kind and length");
  for (let i = 0; i < 3; i++) {
    t.equal(u32(s, out.sackOff + 8 * i), blocks[i]![0] >>> 0);
    t.equal(u32(s, out.sackOff + 8 * i + 4), blocks[i]![1] >>> 0);
  }
});

t.test("decodeTcp() stops reading options at End of Option List", async (t) => {
  const s = tcp({ sport: 1, dport: 2, options: [{ kind: "eol" }, { kind: "raw", bytes: Uint8Array.of(2, 4, 5, 0xb4) }] });
  const out = new TcpLayer();
  t.equal(decodeTcp(s, 0, s.length, out), 28);
  t.equal(out.options, 0, "the MSS after EOL is padding, not an option");
  t.equal(out.soft, 0);
});

t.test("decodeTcp() skips unknown options by their length", async (t) => {
  const s = tcp({ sport: 1, dport: 2, options: [{ kind: "raw", bytes: Uint8Array.of(30, 6, 1, 2, 3, 4) }, { kind: "mss", value: 536 }] });
  const out = new TcpLayer();
  t.equal(decodeTcp(s, 0, s.length, out), 32);
  t.equal(out.options, kTcpOptMss);
  t.equal(out.mss, 536);
});

t.test("decodeTcp() flags a bad option list as soft damage and still returns the payload offset", async (t) => {
  const cases: Array<[string, Uint8Array]> = [
    ["a length below 2", Uint8Array.of(2, 1, 0, 0)],
    ["a length past the header", Uint8Array.of(8, 40, 0, 0)],
    ["an MSS of the wrong length", Uint8Array.of(2, 3, 5, 0)],
    ["a window scale of the wrong length", Uint8Array.of(3, 4, 7, 0)],
    ["a SACK-permitted of the wrong length", Uint8Array.of(4, 3, 0, 0)],
    ["a timestamp of the wrong length", Uint8Array.of(8, 4, 0, 0)],
    ["a SACK that is not whole blocks", Uint8Array.of(5, 4, 0, 0)],
    ["a kind without its length", Uint8Array.of(1, 1, 1, 2)],
  ];
  for (const [what, bytes] of cases) {
    const s = tcp({ sport: 80, dport: 8080, flags: "A", options: [{ kind: "raw", bytes }] }, "payload");
    const out = new TcpLayer();
    t.equal(decodeTcp(s, 0, s.length, out), 24, what);
    t.equal(out.soft, kBadOption, what);
    t.equal(out.dstPort, 8080, `${what}: the header is still read`);
  }
});

t.test("decodeTcp() returns kBadHeaderLength for a data offset below 5", async (t) => {
  for (const dataOffset of [0, 4]) {
    const s = tcp({ sport: 1, dport: 2, dataOffset }, "x");
    t.equal(decodeTcp(s, 0, s.length, new TcpLayer()), kBadHeaderLength, `data offset ${dataOffset}`);
  }
});

t.test("decodeTcp() returns kTruncated when the header or its options were not captured", async (t) => {
  const s = tcp({ sport: 1, dport: 2, options: [{ kind: "timestamps", value: 1, echo: 2 }] });
  for (const len of [0, 19, 20, 31]) t.equal(decodeTcp(s, 0, len, new TcpLayer()), kTruncated, `${len} bytes`);
  const big = tcp({ sport: 1, dport: 2, dataOffset: 15 });
  t.equal(decodeTcp(big, 0, big.length, new TcpLayer()), kTruncated, "a data offset past the captured bytes");
});
