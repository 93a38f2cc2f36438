/**
 * pcapng files read end to end (runHost with a plugin that prints every `packet` event), and the
 * timestamp arithmetic of PcapngFormat against exact BigInt arithmetic.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { CaptureRecord, kRecordPacket } from "../../../core/sources/capture-record.ts";
import { PcapngFormat } from "../../../core/sources/pcapng-format.ts";
import { collectorPlugin, makePluginDir, parseLines, runCapture, writePlugin } from "../../support/host-run.ts";
import { ethernet, ipv4, ipv6, linuxSll, linuxSll2, nullLoopback, tcp, udp } from "../../support/packet-builders.ts";
import { LinkType } from "../../support/pcap-writer.ts";
import { corruptBlockLength, encodePcapng, PcapngBlockType, pcapngBlocks, truncateAt } from "../../support/pcapng-writer.ts";
import type { BlockOption, PcapngBlock, TsResolution } from "../../support/pcapng-writer.ts";
import { SeededRandom } from "../../support/seeded-random.ts";
import { makeTempDir, tsharkFields, wiresharkMissing } from "../../support/wireshark-tools.ts";

const plugins = makePluginDir();
collectorPlugin(plugins.path, "packets", ["packet"], 64);
// The packet's time both ways: exact (seconds, nanoseconds) and as the `ts` every event carries.
writePlugin(plugins.path, "stamps", `    ctx.on("packet", (ev) => ctx.out.json({ sec: ev.ts_sec, nsec: ev.ts_nsec, ts: ev.ts }));`);
const files = makeTempDir("packet-host-pcapng-");
t.teardown(() => {
  plugins.remove();
  files.remove();
});

const hexOf = (b: Uint8Array): string => Array.from(b.subarray(0, 64), (x) => x.toString(16).padStart(2, "0")).join("");

async function read(name: string, bytes: Uint8Array, plugin = "packets") {
  const path = join(files.path, name);
  writeFileSync(path, bytes);
  const run = await runCapture(path, { plugins: [plugin], pluginDirs: [plugins.path] });
  return { path, ...run, packets: parseLines(run.lines) };
}

/** Seconds and nanoseconds of a raw timestamp, computed exactly (what Wireshark's integer arithmetic gives). */
function exactTime(units: bigint, r: TsResolution): [number, number] {
  const perSecond = r.base === 2 ? 1n << BigInt(r.exponent) : 10n ** BigInt(r.exponent);
  const sec = units / perSecond;
  const nsec = ((units % perSecond) * 1_000_000_000n) / perSecond;
  return [Number(sec), Number(nsec)];
}

const v4 = ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1, dport: 2 }, "datagram"));
const v6 = ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, tcp({ sport: 3, dport: 4, flags: "S" }));

/** Interfaces of the first section: a different link type and timestamp resolution each. */
const interfaces: Array<{ linkType: number; tsresol?: TsResolution; frame: Uint8Array }> = [
  { linkType: LinkType.ETHERNET, frame: ethernet({}, v4) }, // no if_tsresol: microseconds
  { linkType: LinkType.RAW, tsresol: { base: 10, exponent: 9 }, frame: v6 },
  { linkType: LinkType.LINUX_SLL, tsresol: { base: 10, exponent: 3 }, frame: linuxSll({}, v4) },
  { linkType: LinkType.NULL, tsresol: { base: 2, exponent: 20 }, frame: nullLoopback({}, v6) },
  { linkType: LinkType.LINUX_SLL2, tsresol: { base: 2, exponent: 30 }, frame: linuxSll2({}, v4) },
  { linkType: LinkType.IPV4, tsresol: { base: 10, exponent: 12 }, frame: v4 },
  { linkType: LinkType.LOOP, tsresol: { base: 2, exponent: 0 }, frame: nullLoopback({ byteOrder: "big" }, v4) },
];

/**
 * Raw timestamps per interface: a current date in the interface's units (or the latest second a
 * 64-bit count can hold in units that fine), plus an odd fraction.
 */
function unitsFor(r: TsResolution | undefined, salt: number): bigint {
  const res = r ?? { base: 10, exponent: 6 };
  const perSecond = res.base === 2 ? 1n << BigInt(res.exponent) : 10n ** BigInt(res.exponent);
  const maxSec = (1n << 64n) / perSecond - 1n;
  const sec = maxSec < 1_704_067_200n ? maxSec : 1_704_067_200n;
  return sec * perSecond + ((perSecond * 7n) / 9n + BigInt(salt)) % perSecond;
}

/** A file with two sections (the second in the other byte order) and the packet events it must give. */
function multiInterfaceFile(firstOrder: "little" | "big"): { bytes: Uint8Array; expected: unknown[] } {
  const secondOrder = firstOrder === "little" ? "big" : "little";
  const blocks: PcapngBlock[] = [{ type: "shb", byteOrder: firstOrder }];
  const expected: unknown[] = [];
  interfaces.forEach((i) => blocks.push({ type: "idb", linkType: i.linkType, tsresol: i.tsresol, snaplen: 0 }));
  blocks.push({ type: "raw", blockType: 0x8000_0042, body: new Uint8Array(20) }); // a block type for local use: unknown here
  interfaces.forEach((i, id) => {
    const units = unitsFor(i.tsresol, id);
    blocks.push({ type: "epb", interfaceId: id, data: i.frame, timestampUnits: units, originalLength: i.frame.length + id });
    const [sec, nsec] = exactTime(units, i.tsresol ?? { base: 10, exponent: 6 });
    expected.push([sec, nsec, i.frame.length, i.frame.length + id, i.linkType, id, hexOf(i.frame)]);
  });
  blocks.push({ type: "custom", pen: 32473, data: new Uint8Array(13) });
  // An obsolete packet block on interface 3 (binary resolution).
  const opbUnits = unitsFor(interfaces[3]!.tsresol, 99);
  blocks.push({ type: "opb", interfaceId: 3, data: interfaces[3]!.frame, timestampUnits: opbUnits });
  const [os, on] = exactTime(opbUnits, interfaces[3]!.tsresol!);
  expected.push([os, on, interfaces[3]!.frame.length, interfaces[3]!.frame.length, LinkType.NULL, 3, hexOf(interfaces[3]!.frame)]);
  blocks.push({ type: "raw", blockType: PcapngBlockType.INTERFACE_STATISTICS, body: new Uint8Array(12) });
  // Section two: its own interfaces, numbered from 0 again.
  blocks.push({ type: "shb", byteOrder: secondOrder });
  blocks.push({ type: "idb", linkType: LinkType.IPV6, tsresol: { base: 10, exponent: 5 } });
  blocks.push({ type: "idb", linkType: LinkType.ETHERNET });
  const s2 = [
    { id: 1, frame: ethernet({ vlans: [{ vid: 3 }] }, v6), units: 1_800_000_000_123_456n, res: { base: 10, exponent: 6 } as TsResolution, link: LinkType.ETHERNET },
    { id: 0, frame: v6, units: 180_000_000_012_345n, res: { base: 10, exponent: 5 } as TsResolution, link: LinkType.IPV6 },
  ];
  for (const p of s2) {
    blocks.push({ type: "epb", interfaceId: p.id, data: p.frame, timestampUnits: p.units });
    const [sec, nsec] = exactTime(p.units, p.res);
    expected.push([sec, nsec, p.frame.length, p.frame.length, p.link, p.id, hexOf(p.frame)]);
  }
  return { bytes: encodePcapng(blocks), expected };
}

const fields = (p: Record<string, unknown>) => [p.ts_sec, p.ts_nsec, p.caplen, p.len, p.linktype, p.iface, p.data_hex];

for (const order of ["little", "big"] as const) {
  t.test(`runHost reads a ${order}-endian pcapng with seven interfaces, EPB and OPB, skipped blocks and a second section`, async (t) => {
    const { bytes, expected } = multiInterfaceFile(order);
    const run = await read(`multi-${order}.pcapng`, bytes);
    t.equal(run.status, 0);
    t.same(run.errors, []);
    t.equal(run.stats.packets, expected.length);
    t.same(run.packets.map((p) => p.frame), expected.map((_, i) => i + 1));
    t.same(run.packets.map(fields), expected, "timestamps, lengths, link types, interfaces and bytes");
  });
}

t.test("runHost's pcapng timestamps agree with tshark's", { skip: wiresharkMissing }, async (t) => {
  const { bytes } = multiInterfaceFile("little");
  const run = await read("multi-tshark.pcapng", bytes);
  // Wireshark multiplies the sub-second remainder by 10^9 in 64 bits, which overflows for units finer
  // than about 10^-10 s: the 10^-12 interface (link type 228) is left out of the comparison.
  const rows = tsharkFields(run.path, ["frame.time_epoch"]);
  t.equal(rows.length, run.packets.length);
  const ours = run.packets.filter((p) => p.linktype !== LinkType.IPV4).map((p) => `${p.ts_sec}.${String(p.ts_nsec).padStart(9, "0")}`);
  const theirs = rows.filter((_, i) => run.packets[i]!.linktype !== LinkType.IPV4).map(([epoch]) => epoch);
  t.equal(ours.length, run.packets.length - 1);
  t.same(ours, theirs);
});

t.test("runHost reads simple packet blocks as interface 0, cut to the interface's snap length, at the time of the packet before them", async (t) => {
  const long = ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1, dport: 2 }, new Uint8Array(200))));
  const short = ethernet({}, v4);
  const blocks: PcapngBlock[] = [
    { type: "shb" },
    { type: "idb", linkType: LinkType.ETHERNET, snaplen: 128 },
    { type: "idb", linkType: LinkType.RAW },
    { type: "epb", interfaceId: 1, data: v6, timestamp: { sec: 1_704_067_200, nsec: 5_000 } },
    { type: "spb", data: long },
    { type: "spb", data: short },
  ];
  const run = await read("spb.pcapng", encodePcapng(blocks));
  t.equal(run.status, 0);
  t.same(
    run.packets.map((p) => [p.iface, p.linktype, p.caplen, p.len, p.data_hex, p.ts_sec, p.ts_nsec]),
    [
      [1, LinkType.RAW, v6.length, v6.length, hexOf(v6), 1_704_067_200, 5_000],
      [0, LinkType.ETHERNET, 128, long.length, hexOf(long), 1_704_067_200, 5_000],
      [0, LinkType.ETHERNET, short.length, short.length, hexOf(short), 1_704_067_200, 5_000],
    ],
  );
});

/** A file of one interface and `n` EPBs, and the block list of it. */
function numbered(n: number, byteOrder: "little" | "big" = "little") {
  const blocks: PcapngBlock[] = [{ type: "shb", byteOrder }, { type: "idb", linkType: LinkType.ETHERNET }];
  for (let i = 0; i < n; i++) {
    blocks.push({ type: "epb", data: ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2", id: i }, udp({ sport: 1, dport: 2 }, new Uint8Array(i + 3)))), timestamp: { sec: 1_704_067_200 + i, nsec: 0 } });
  }
  const bytes = encodePcapng(blocks);
  return { bytes, blocks: pcapngBlocks(bytes) };
}

/** Checks the outcome of a damaged file: `delivered` packets, then one error line at `offset`. */
function damaged(t: Test, run: Awaited<ReturnType<typeof read>>, delivered: number, offset: number | null, words: RegExp): void {
  t.equal(run.status, 1, "exit status 1");
  t.equal(run.packets.length, delivered, "every packet before the damage is delivered");
  t.same(run.packets.map((p) => p.ts_sec), Array.from({ length: delivered }, (_, i) => 1_704_067_200 + i), "in order");
  t.equal(run.stats.packets, delivered);
  t.equal(run.errors.length, 1, "one error line");
  const line = run.errors[0] ?? "";
  t.notMatch(line, /\n/, "on one line");
  t.ok(line.startsWith(`host: ${run.path}: `), `names the file: ${line}`);
  if (offset === null) t.notMatch(line, /byte offset/, "no place in the file is to blame");
  // The offset ends the problem; what to do about it may follow.
  else t.match(line, new RegExp(`at byte offset ${offset}(: [^:]+)?$`), "names the byte offset of the damaged block");
  t.match(line, words);
}

t.test("runHost delivers every packet before a pcapng block whose length is not a multiple of 4", async (t) => {
  const { bytes, blocks } = numbered(12);
  const run = await read("len13.pcapng", corruptBlockLength(bytes, 9, 13));
  damaged(t, run, 7, blocks[9]!.offset, /block length 13 is invalid/);
});

t.test("runHost delivers every packet before a pcapng block whose trailing length differs", async (t) => {
  const { bytes, blocks } = numbered(12, "big");
  const run = await read("trailing.pcapng", corruptBlockLength(bytes, 5, blocks[5]!.totalLength + 4, "trailing"));
  damaged(t, run, 3, blocks[5]!.offset, /does not match its trailing copy/);
});

t.test("runHost delivers every packet before a pcapng block that claims fewer than 12 bytes", async (t) => {
  const { bytes, blocks } = numbered(12);
  const run = await read("len8.pcapng", corruptBlockLength(bytes, 4, 8, "leading"));
  damaged(t, run, 2, blocks[4]!.offset, /block length 8 is invalid/);
});

t.test("runHost delivers every packet before a pcapng packet block that claims gigabytes", async (t) => {
  const { bytes, blocks } = numbered(12);
  const run = await read("huge.pcapng", corruptBlockLength(bytes, 11, 0x7ffffff0, "leading"));
  damaged(t, run, 9, blocks[11]!.offset, /block length 2147483632 is too large/);
});

t.test("runHost delivers every packet of a pcapng cut inside a block, then reports the block", async (t) => {
  const { bytes, blocks } = numbered(12);
  const data = await read("cut-data.pcapng", truncateAt(bytes, blocks[8]!.offset + 30));
  damaged(t, data, 6, blocks[8]!.offset, /truncated pcapng record/);
  const header = await read("cut-header.pcapng", truncateAt(bytes, blocks[10]!.offset + 6));
  damaged(t, header, 8, blocks[10]!.offset, /truncated pcapng record/);
});

t.test("runHost reports a skipped block that runs past the end of the file where the block starts", async (t) => {
  const epb = (i: number): PcapngBlock => ({ type: "epb", data: ethernet({}, v4), timestamp: { sec: 1_704_067_200 + i, nsec: 0 } });
  const bytes = encodePcapng([{ type: "shb" }, { type: "idb", linkType: LinkType.ETHERNET }, epb(0), epb(1), epb(2), { type: "custom", pen: 32473, data: new Uint8Array(40) }, epb(3), epb(4)]);
  const custom = pcapngBlocks(bytes)[5]!;
  t.equal(custom.blockType, PcapngBlockType.CUSTOM_COPYABLE);
  for (const length of [4096, 0x100000]) {
    const run = await read(`skip-${length}.pcapng`, corruptBlockLength(bytes, 5, length, "leading"));
    damaged(t, run, 3, custom.offset, new RegExp(`truncated pcapng record: ${length - (bytes.length - custom.offset)} more bytes expected`));
  }
});

t.test("runHost refuses a packet block on an interface that was not described", async (t) => {
  const blocks: PcapngBlock[] = [
    { type: "shb" },
    { type: "idb", linkType: LinkType.ETHERNET },
    { type: "epb", interfaceId: 0, data: ethernet({}, v4), timestamp: { sec: 1_704_067_200, nsec: 0 } },
    { type: "epb", interfaceId: 1, data: ethernet({}, v4) },
  ];
  const bytes = encodePcapng(blocks);
  const run = await read("no-iface.pcapng", bytes);
  damaged(t, run, 1, pcapngBlocks(bytes)[3]!.offset, /interface 1, which was not described/);
});

/** The largest whole number of seconds a double holds exactly, so the largest ts_sec that can be exact. */
const kMaxExactSec = (1n << 53n) - 1n;

t.test("PcapngFormat converts every timestamp resolution exactly, binary ones included", async (t) => {
  const rng = new SeededRandom(2024);
  const resolutions: TsResolution[] = [
    ...[0, 1, 3, 6, 9, 10, 12, 15, 18].map((exponent): TsResolution => ({ base: 10, exponent })),
    ...[0, 1, 10, 20, 24, 30, 31, 32, 33, 40, 48, 53, 63].map((exponent): TsResolution => ({ base: 2, exponent })),
  ];
  const wrong: string[] = [];
  for (const res of resolutions) {
    const blocks: PcapngBlock[] = [{ type: "shb" }, { type: "idb", linkType: 1, tsresol: res }];
    const units: bigint[] = [];
    for (let i = 0; i < 200; i++) {
      // Random 64-bit counts whose seconds a double holds exactly (below 2^53, far past 2106), and
      // the edges: 0, the largest such count.
      const perSecond = res.base === 2 ? 1n << BigInt(res.exponent) : 10n ** BigInt(res.exponent);
      const maxSec = (1n << 64n) / perSecond - 1n < kMaxExactSec ? (1n << 64n) / perSecond - 1n : kMaxExactSec;
      const sec = i === 0 ? 0n : i === 1 ? maxSec : (BigInt(rng.uint32()) * (maxSec + 1n)) >> 32n;
      const frac = i === 2 ? perSecond - 1n : (BigInt(rng.uint32()) * 4294967296n + BigInt(rng.uint32())) % perSecond;
      units.push(sec * perSecond + frac);
    }
    for (const u of units) blocks.push({ type: "epb", data: new Uint8Array(14), timestampUnits: u });
    const bytes = encodePcapng(blocks);
    const format = new PcapngFormat();
    const rec = new CaptureRecord();
    const view = new DataView(bytes.buffer);
    let k = 0;
    for (let pos = 0; pos < bytes.length; pos += rec.length) {
      format.next(bytes, view, pos, bytes.length - pos, rec);
      if (rec.kind !== kRecordPacket) continue;
      const [sec, nsec] = exactTime(units[k]!, res);
      if (rec.tsSec !== sec || rec.tsNsec !== nsec) wrong.push(`${res.base}^-${res.exponent}: ${units[k]} gave ${rec.tsSec}.${rec.tsNsec}, exact ${sec}.${nsec}`);
      k++;
    }
    t.equal(k, units.length, `${res.base}^-${res.exponent}: every packet read`);
  }
  t.same(wrong.slice(0, 10), [], "no timestamp differs from the exact conversion");
});

/** An if_tsoffset option: seconds added to every timestamp of the interface, a signed 64-bit integer. */
function tsoffset(seconds: bigint, byteOrder: "little" | "big"): BlockOption {
  const value = new Uint8Array(8);
  new DataView(value.buffer).setBigInt64(0, seconds, byteOrder === "little");
  return { code: 14, value };
}

/**
 * Interfaces whose timestamps need more than 32 bits of seconds, and raw counts on each: the first
 * seconds past 2106 (time_2106_overflow.pcapng and time_2107.pcapng of tcpdump's tests), the year
 * 9999, the largest second a double holds exactly, and if_tsoffset values that a 32-bit reading
 * gets wrong (past 2^31, past 2^32, negative: a date before 1970).
 */
const farInterfaces: Array<{ res: TsResolution; offset: bigint; units: bigint[] }> = [
  { res: { base: 10, exponent: 6 }, offset: 0n, units: [4_294_967_296_000_000n, 4_323_283_200_123_456n, 4_294_967_295_999_999n, 253_402_300_799_000_001n] },
  { res: { base: 10, exponent: 0 }, offset: 0n, units: [kMaxExactSec, 1n << 32n] },
  { res: { base: 10, exponent: 9 }, offset: (1n << 32n) + 5n, units: [1_704_067_200_123_456_789n] },
  { res: { base: 10, exponent: 6 }, offset: -(1n << 32n) - 86_400n, units: [1_000_000n, 1_500_000n] },
  { res: { base: 2, exponent: 30 }, offset: 3_000_000_000n, units: [(1_704_067_200n << 30n) + 12_345n] },
  { res: { base: 10, exponent: 6 }, offset: -86_400n, units: [0n, 86_400_000_000n + 1n] },
];

/** A pcapng of the far interfaces, and each packet's exact [sec, nsec] (Wireshark's arithmetic: count / units, then + offset). */
function farFile(byteOrder: "little" | "big"): { bytes: Uint8Array; expected: Array<[number, number]> } {
  const blocks: PcapngBlock[] = [{ type: "shb", byteOrder }];
  const expected: Array<[number, number]> = [];
  farInterfaces.forEach((i) => blocks.push({ type: "idb", linkType: LinkType.ETHERNET, tsresol: i.res, options: i.offset === 0n ? [] : [tsoffset(i.offset, byteOrder)] }));
  farInterfaces.forEach((i, id) => {
    for (const units of i.units) {
      blocks.push({ type: "epb", interfaceId: id, data: ethernet({}, v4), timestampUnits: units });
      const [sec, nsec] = exactTime(units, i.res);
      expected.push([sec + Number(i.offset), nsec]);
    }
  });
  return { bytes: encodePcapng(blocks), expected };
}

for (const order of ["little", "big"] as const) {
  t.test(`runHost gives ${order}-endian pcapng timestamps past 2106 and before 1970 exactly, with 64-bit if_tsoffset`, async (t) => {
    const { bytes, expected } = farFile(order);
    const run = await read(`far-${order}.pcapng`, bytes, "stamps");
    t.equal(run.status, 0);
    t.same(run.errors, []);
    t.same(run.packets.map((p) => [p.sec, p.nsec]), expected, "ts_sec and ts_nsec");
    // `ts` is seconds with the microseconds as a fraction (a double: not exact this far from 1970).
    t.same(run.packets.map((p) => p.ts), expected.map(([sec, nsec]) => sec + Math.floor(nsec / 1000) / 1e6), "ts");
  });
}

t.test("runHost's pcapng timestamps past 2106 and before 1970 agree with tshark's", { skip: wiresharkMissing }, async (t) => {
  const { bytes } = farFile("little");
  const run = await read("far-tshark.pcapng", bytes, "stamps");
  // tshark prints seconds and nanoseconds side by side, also before 1970: -2 s + 0.5 s is "-2.500000000".
  const theirs = tsharkFields(run.path, ["frame.time_epoch"]).map(([epoch]) => epoch);
  const ours = run.packets.map((p) => `${p.sec}.${String(p.nsec).padStart(9, "0")}`);
  t.same(ours, theirs);
});

t.test("runHost gives each packet its own seconds past 2106 when the ring's slots are reused", async (t) => {
  // More packets than the smallest ring has slots, alternating before and after 2106, so that every
  // slot is written with and without high bits of seconds.
  const n = 10_000;
  const frame = ethernet({}, v4);
  const blocks: PcapngBlock[] = [{ type: "shb" }, { type: "idb", linkType: LinkType.ETHERNET, tsresol: { base: 10, exponent: 0 } }];
  const secs = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 1_704_067_200 + i : 2 ** 33 + i * 2 ** 32));
  for (const sec of secs) blocks.push({ type: "epb", data: frame, timestampUnits: BigInt(sec) });
  const run = await read("reused-slots.pcapng", encodePcapng(blocks), "stamps");
  t.equal(run.status, 0);
  const wrong = run.packets.flatMap((p, i) => (p.sec === secs[i] ? [] : [`packet ${i + 1}: ${p.sec}, expected ${secs[i]}`]));
  t.equal(run.packets.length, n);
  t.same(wrong.slice(0, 5), []);
});
