import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { ethernet, ipv4, ipv6, text, udp } from "./packet-builders.ts";
import { LinkType } from "./pcap-writer.ts";
import { corruptBlockLength, encodePcapng, pcapngBlocks, toTimestampUnits, truncateAt, tsresolByte } from "./pcapng-writer.ts";
import type { PcapngBlock } from "./pcapng-writer.ts";
import { capinfosTable, makeTempDir, tsharkFields, tsharkRaw, wiresharkMissing } from "./wireshark-tools.ts";

const le16 = (v: number): number[] => [v & 0xff, v >> 8];
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const be32 = (v: number): number[] => le32(v).reverse();

t.test("encodePcapng() writes a little-endian SHB whose section length covers the rest of the section", async (t) => {
  const file = encodePcapng([{ type: "shb" }, { type: "idb", linkType: LinkType.ETHERNET, snaplen: 65535 }]);
  t.same([...file.subarray(0, 28)], [
    ...[0x0a, 0x0d, 0x0d, 0x0a], ...le32(28), ...[0x4d, 0x3c, 0x2b, 0x1a], ...le16(1), ...le16(0),
    ...le32(20), ...le32(0), // section length: the 20-byte IDB
    ...le32(28),
  ]);
  t.same([...file.subarray(28)], [...le32(1), ...le32(20), ...le16(1), ...le16(0), ...le32(65535), ...le32(20)], "IDB without options");
});

t.test("encodePcapng() writes a big-endian SHB with section length -1 when told it is unknown", async (t) => {
  const file = encodePcapng([{ type: "shb", byteOrder: "big", sectionLength: "unknown" }]);
  t.same([...file], [0x0a, 0x0d, 0x0d, 0x0a, ...be32(28), 0x1a, 0x2b, 0x3c, 0x4d, 0, 1, 0, 0, ...new Array<number>(8).fill(0xff), ...be32(28)]);
});

t.test("encodePcapng() writes IDB options padded to 32 bits and closed by opt_endofopt", async (t) => {
  const file = encodePcapng([{ type: "shb" }, { type: "idb", linkType: 101, snaplen: 0, name: "eth0", tsresol: { base: 2, exponent: 20 } }]);
  t.same([...file.subarray(28)], [
    ...le32(1), ...le32(40), ...le16(101), 0, 0, ...le32(0),
    ...le16(2), ...le16(4), ...text("eth0"), // if_name, no padding needed
    ...le16(9), ...le16(1), 0x94, 0, 0, 0, // if_tsresol 2^-20, padded
    0, 0, 0, 0, // opt_endofopt
    ...le32(40),
  ]);
  const noEnd = encodePcapng([{ type: "shb" }, { type: "idb", linkType: 1, comment: "abcde", endOfOptions: false }]);
  t.same([...noEnd.subarray(28 + 16, noEnd.length - 4)], [...le16(1), ...le16(5), ...text("abcde"), 0, 0, 0], "comment padded, no end marker");
});

t.test("encodePcapng() writes an EPB with a split 64-bit timestamp in the interface's units, padded data and options", async (t) => {
  const blocks: PcapngBlock[] = [
    { type: "shb" },
    { type: "idb", linkType: 1, tsresol: { base: 10, exponent: 9 } },
    { type: "epb", interfaceId: 0, data: Uint8Array.of(1, 2, 3, 4, 5), originalLength: 60, timestamp: 0x1_0000_0002n, flags: 1 },
  ];
  const file = encodePcapng(blocks);
  const epb = file.subarray(28 + 32); // after the SHB and the IDB with its if_tsresol option
  t.same([...epb], [
    ...le32(6), ...le32(52), ...le32(0), ...le32(1), ...le32(2), ...le32(5), ...le32(60),
    1, 2, 3, 4, 5, 0, 0, 0,
    ...le16(2), ...le16(4), ...le32(1), 0, 0, 0, 0, // epb_flags: inbound
    ...le32(52),
  ]);
});

t.test("toTimestampUnits() converts nanoseconds for decimal and binary resolutions, truncating", async (t) => {
  const ns = 1_704_067_200_123_456_789n;
  t.equal(toTimestampUnits(ns, { base: 10, exponent: 6 }), 1_704_067_200_123_456n);
  t.equal(toTimestampUnits(ns, { base: 10, exponent: 9 }), ns);
  t.equal(toTimestampUnits(ns, { base: 10, exponent: 12 }), ns * 1000n);
  t.equal(toTimestampUnits(ns, { base: 10, exponent: 0 }), 1_704_067_200n);
  t.equal(toTimestampUnits(1_500_000_000n, { base: 2, exponent: 10 }), 1536n, "1.5 s in 1/1024 s");
  t.equal(toTimestampUnits(1n, { base: 2, exponent: 20 }), 0n);
  t.same([tsresolByte({ base: 10, exponent: 6 }), tsresolByte({ base: 2, exponent: 30 })], [6, 0x9e]);
});

t.test("encodePcapng() writes SPB, OPB, custom and raw blocks with the framing readers use to skip them", async (t) => {
  const file = encodePcapng([
    { type: "shb" },
    { type: "idb", linkType: 1 },
    { type: "spb", data: Uint8Array.of(9, 9), originalLength: 64 },
    { type: "opb", interfaceId: 0, dropsCount: 3, data: Uint8Array.of(7), timestamp: 2_000_000n },
    { type: "custom", pen: 32473, data: text("hi"), copyable: false },
    { type: "raw", blockType: 0x80001234, body: Uint8Array.of(1, 2, 3) },
  ]);
  const blocks = pcapngBlocks(file);
  t.same(blocks.map((b) => [b.blockType, b.totalLength]), [[0x0a0d0d0a, 28], [1, 20], [3, 20], [2, 36], [0x40000bad, 20], [0x80001234, 16]]);
  t.same([...file.subarray(blocks[2]!.offset + 8, blocks[2]!.offset + 16)], [...le32(64), 9, 9, 0, 0]);
  const opb = blocks[3]!.offset;
  t.same([...file.subarray(opb + 8, opb + 32)], [...le16(0), ...le16(3), ...le32(0), ...le32(2000), ...le32(1), ...le32(1), 7, 0, 0, 0]);
  t.same([...file.subarray(blocks[4]!.offset + 8, blocks[4]!.offset + 16)], [...le32(32473), ...text("hi"), 0, 0]);
  t.throws(() => encodePcapng([{ type: "idb", linkType: 1 }]), /first block must be a section header block/);
});

t.test("pcapngBlocks() follows byte-order changes between sections, and the damage helpers change only what they say", async (t) => {
  const file = encodePcapng([
    { type: "shb" },
    { type: "idb", linkType: 1 },
    { type: "shb", byteOrder: "big" },
    { type: "idb", linkType: 101 },
    { type: "epb", data: new Uint8Array(8) },
  ]);
  const blocks = pcapngBlocks(file);
  t.same(blocks.map((b) => [b.offset, b.blockType, b.littleEndian]), [[0, 0x0a0d0d0a, true], [28, 1, true], [48, 0x0a0d0d0a, false], [76, 1, false], [96, 6, false]]);
  t.same([...file.subarray(48 + 16, 48 + 24)], [0, 0, 0, 0, 0, 0, 0, 60], "second section length (IDB 20 + EPB 40), big-endian");
  const broken = corruptBlockLength(file, 4, 8, "leading");
  t.same([...broken.subarray(100, 104)], be32(8));
  t.same([...broken.subarray(file.length - 4)], be32(40), "trailing length untouched");
  t.equal(pcapngBlocks(broken).length, 4, "the walk stops at a length too small for any block");
  t.same(pcapngBlocks(truncateAt(file, file.length - 1)).length, 4, "a truncated last block is not listed");
  t.equal(truncateAt(file, 10).length, 10);
  t.throws(() => corruptBlockLength(file, 9, 0), /no block 9/);
});

t.test("tshark and capinfos read interfaces, resolutions, sections and packet blocks as written", { skip: wiresharkMissing }, async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  const ether = (n: number): Uint8Array => ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1, dport: 2 }, new Uint8Array(n))));
  const raw = ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, udp({ sport: 1, dport: 2 }, new Uint8Array(100)));
  const file = encodePcapng([
    { type: "shb", userApplication: "packet-host tests", comment: "section one" },
    { type: "idb", linkType: LinkType.ETHERNET, name: "eth0" },
    { type: "idb", linkType: LinkType.RAW, snaplen: 100, tsresol: { base: 10, exponent: 9 } },
    { type: "idb", linkType: LinkType.ETHERNET, tsresol: { base: 2, exponent: 20 } },
    { type: "epb", interfaceId: 0, data: ether(10), timestamp: 1_704_067_200_123_456_789n, comment: "hello" },
    { type: "epb", interfaceId: 1, data: raw.subarray(0, 100), originalLength: raw.length, timestamp: 1_704_067_201_123_456_789n },
    { type: "epb", interfaceId: 2, data: ether(20), timestamp: 1_704_067_202_500_000_000n },
    { type: "raw", blockType: 0x80001234, body: new Uint8Array(7) },
    { type: "spb", data: ether(30) },
    { type: "opb", interfaceId: 0, data: ether(40), timestamp: 1_704_067_203_000_001_000n },
    { type: "shb", byteOrder: "big", sectionLength: "unknown" },
    { type: "idb", linkType: LinkType.RAW, tsresol: { base: 10, exponent: 3 } },
    { type: "epb", data: raw, timestamp: 1_704_067_204_987_654_321n },
  ]);
  const path = join(dir.path, "mixed.pcapng");
  writeFileSync(path, file);
  t.match(capinfosTable(path, ["-M", "-c", "-t"]), { "Number of packets": "6", "File type": "pcapng" }, "the unknown block is skipped, not counted");
  t.same(tsharkFields(path, ["frame.len", "frame.cap_len", "frame.time_epoch", "frame.interface_id", "frame.comment"]), [
    ["52", "52", "1704067200.123456000", "0", "hello"],
    ["148", "100", "1704067201.123456789", "1", ""],
    ["62", "62", "1704067202.500000000", "2", ""],
    ["72", "72", "", "0", ""], // an SPB has no timestamp
    ["82", "82", "1704067203.000001000", "0", ""],
    ["148", "148", "1704067204.987000000", "0", ""], // section-local interface 0, millisecond resolution
  ]);

  const cut = join(dir.path, "cut.pcapng");
  writeFileSync(cut, truncateAt(file, file.length - 10));
  const cutRun = tsharkRaw(["-r", cut, "-T", "fields", "-e", "frame.len"]);
  t.not(cutRun.status, 0);
  t.match(cutRun.stderr, /cut short/);
  t.equal(cutRun.stdout.trim().split("\n").length, 5, "every complete packet before the cut is still read");

  const corrupt = join(dir.path, "corrupt.pcapng");
  writeFileSync(corrupt, corruptBlockLength(file, 5, 20));
  const corruptRun = tsharkRaw(["-r", corrupt, "-T", "fields", "-e", "frame.len"]);
  t.not(corruptRun.status, 0);
  t.match(corruptRun.stderr, /damaged or corrupt/);
});
