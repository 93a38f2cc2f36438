import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { ethernet, ipv4, udp } from "./packet-builders.ts";
import { encodePcap, encodePcapHeader, LinkType, PcapStreamWriter } from "./pcap-writer.ts";
import type { CaptureRecord } from "./pcap-writer.ts";
import { capinfosTable, makeTempDir, tsharkFields, wiresharkMissing } from "./wireshark-tools.ts";

const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const be32 = (v: number): number[] => le32(v).reverse();

t.test("encodePcapHeader() writes the microsecond magic and version 2.4 little-endian by default", async (t) => {
  t.same([...encodePcapHeader()], [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...le32(262144), ...le32(1)]);
});

t.test("encodePcapHeader() writes the nanosecond magic big-endian, with the given snaplen and link type", async (t) => {
  t.same(
    [...encodePcapHeader({ resolution: "nano", byteOrder: "big", snaplen: 96, linkType: LinkType.LINUX_SLL2 })],
    [0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, ...be32(96), ...be32(276)],
  );
});

t.test("encodePcap() writes record headers with truncated microseconds or exact nanoseconds", async (t) => {
  const record: CaptureRecord = { data: Uint8Array.of(1, 2, 3), timestamp: 1_700_000_000_123_456_789n };
  t.same([...encodePcap([record]).subarray(24)], [...le32(1_700_000_000), ...le32(123456), ...le32(3), ...le32(3), 1, 2, 3]);
  t.same([...encodePcap([record], { resolution: "nano", byteOrder: "big" }).subarray(24)], [...be32(1_700_000_000), ...be32(123_456_789), ...be32(3), ...be32(3), 1, 2, 3]);
  const split = encodePcap([{ data: Uint8Array.of(9), timestamp: { sec: 5, nsec: 999_999_999 } }]);
  t.same([...split.subarray(24, 32)], [...le32(5), ...le32(999_999)]);
});

t.test("encodePcap() cuts records to the snaplen and keeps the wire length", async (t) => {
  const file = encodePcap([{ data: new Uint8Array(100).fill(7) }, { data: new Uint8Array(10), originalLength: 1500 }], { snaplen: 64 });
  t.same([...file.subarray(24 + 8, 24 + 16)], [...le32(64), ...le32(100)]);
  const second = 24 + 16 + 64;
  t.same([...file.subarray(second + 8, second + 16)], [...le32(10), ...le32(1500)]);
  t.equal(file.length, second + 16 + 10);
});

t.test("encodePcap() spaces bare frames stepNs apart from startNs", async (t) => {
  const file = encodePcap([Uint8Array.of(1), Uint8Array.of(2)], { startNs: 10_000_000_000n, stepNs: 2_500_000n, resolution: "nano" });
  t.same([...file.subarray(24, 32)], [...le32(10), ...le32(0)]);
  t.same([...file.subarray(24 + 17, 24 + 17 + 8)], [...le32(10), ...le32(2_500_000)]);
});

t.test("PcapStreamWriter writes the same bytes as encodePcap(), across chunk boundaries and for records larger than a chunk", async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  const records: CaptureRecord[] = Array.from({ length: 500 }, (_, i) => ({
    data: Uint8Array.from({ length: (i * 37) % 300 }, (_, j) => (i + j) & 0xff),
    timestamp: 1_700_000_000_000_000_000n + BigInt(i) * 1_234_567n,
  }));
  records.push({ data: new Uint8Array(10_000).fill(3), timestamp: 1_800_000_000_000_000_000n }, { data: new Uint8Array(200), originalLength: 9000 });
  for (const options of [{ snaplen: 128 }, { resolution: "nano" as const, byteOrder: "big" as const }]) {
    const path = join(dir.path, "stream.pcap");
    const writer = PcapStreamWriter.create(path, { ...options, chunkBytes: 4096 });
    for (const r of records) writer.write(r);
    writer.close();
    const expected = encodePcap(records, options);
    t.same(readFileSync(path), Buffer.from(expected), JSON.stringify(options));
    t.equal(writer.bytes, expected.length);
    t.equal(writer.packets, records.length);
    t.throws(() => writer.write(records[0]!), /closed/);
  }
});

t.test("PcapStreamWriter.reserve() hands out room to build a frame in place", async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  const path = join(dir.path, "reserve.pcap");
  const writer = PcapStreamWriter.create(path);
  const at = writer.reserve(1, 500_000_000, 4, 60);
  writer.chunk.set([0xde, 0xad, 0xbe, 0xef], at);
  writer.close();
  t.same([...readFileSync(path).subarray(24)], [...le32(1), ...le32(500_000), ...le32(4), ...le32(60), 0xde, 0xad, 0xbe, 0xef]);
});

t.test("capinfos and tshark read back counts, lengths and timestamps in every resolution and byte order", { skip: wiresharkMissing }, async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  const frame = (n: number): Uint8Array => ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1, dport: 2 }, new Uint8Array(n))));
  const records: CaptureRecord[] = [
    { data: frame(10), timestamp: 1_704_067_200_000_000_001n },
    { data: frame(500), timestamp: { sec: 1_704_067_201, nsec: 123_456_789 } },
    { data: frame(20), timestamp: 1_704_067_202_999_999_999n },
  ];
  for (const resolution of ["micro", "nano"] as const) {
    for (const byteOrder of ["little", "big"] as const) {
      const name = `${resolution}-${byteOrder}`;
      const file = join(dir.path, `${name}.pcap`);
      writeFileSync(file, encodePcap(records, { resolution, byteOrder, snaplen: 200 }));
      const info = capinfosTable(file, ["-M", "-c", "-t", "-E", "-l"]);
      t.match(info, { "Number of packets": "3", "File encapsulation": "ether", "Packet size limit": "200" }, name);
      t.match(info["File type"], resolution === "nano" ? /nsec|nanosecond/i : /^(pcap|Wireshark\/tcpdump\/... - pcap)$/, name);
      const times = resolution === "nano" ? ["1704067200.000000001", "1704067201.123456789", "1704067202.999999999"] : ["1704067200.000000000", "1704067201.123456000", "1704067202.999999000"];
      t.same(
        tsharkFields(file, ["frame.len", "frame.cap_len", "frame.time_epoch"]),
        [["52", "52", times[0]], ["542", "200", times[1]], ["62", "62", times[2]]],
        name,
      );
    }
  }
});
