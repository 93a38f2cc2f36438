/**
 * The pcap writer's "modified" format (Alexey Kuznetzov's patched libpcap, magic a1b2cd34): the
 * bytes it writes, and that the default format is unchanged by it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { encodePcap, encodePcapHeader, PcapStreamWriter } from "./pcap-writer.ts";
import type { CaptureRecord } from "./pcap-writer.ts";
import { makeTempDir } from "./wireshark-tools.ts";

const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const be32 = (v: number): number[] => le32(v).reverse();

t.test("encodePcapHeader() writes the modified magic in either byte order", async (t) => {
  t.same([...encodePcapHeader({ format: "modified" }).subarray(0, 4)], [0x34, 0xcd, 0xb2, 0xa1]);
  t.same([...encodePcapHeader({ format: "modified", byteOrder: "big" }).subarray(0, 4)], [0xa1, 0xb2, 0xcd, 0x34]);
  t.same([...encodePcapHeader({ format: "standard" })], [...encodePcapHeader()], "standard is the default");
});

t.test("encodePcap() writes a modified record header as the standard 16 bytes, then ifindex, protocol, pkt_type and a pad byte", async (t) => {
  const record: CaptureRecord = { data: Uint8Array.of(1, 2, 3), timestamp: 1_700_000_000_123_456_789n };
  t.same([...encodePcap([record], { format: "modified" }).subarray(24)], [...le32(1_700_000_000), ...le32(123456), ...le32(3), ...le32(3), ...le32(2), 0x00, 0x08, 0, 0, 1, 2, 3]);
  t.same([...encodePcap([record], { format: "modified", byteOrder: "big" }).subarray(24)], [...be32(1_700_000_000), ...be32(123456), ...be32(3), ...be32(3), ...be32(2), 0x08, 0x00, 0, 0, 1, 2, 3]);
});

t.test("the writer refuses a modified pcap with nanosecond timestamps, saying what to use", async (t) => {
  t.throws(() => encodePcap([], { format: "modified", resolution: "nano" }), /microseconds only: use resolution "micro"/);
});

t.test("PcapStreamWriter writes the same modified bytes as encodePcap(), across chunk boundaries", async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  const records: CaptureRecord[] = Array.from({ length: 300 }, (_, i) => ({
    data: Uint8Array.from({ length: (i * 37) % 300 }, (_, j) => (i + j) & 0xff),
    timestamp: 1_700_000_000_000_000_000n + BigInt(i) * 1_234_567n,
  }));
  const path = join(dir.path, "modified.pcap");
  const writer = PcapStreamWriter.create(path, { format: "modified", byteOrder: "big", chunkBytes: 4096 });
  for (const r of records) writer.write(r);
  writer.close();
  const expected = encodePcap(records, { format: "modified", byteOrder: "big" });
  t.same(readFileSync(path), Buffer.from(expected));
  t.equal(writer.bytes, expected.length);
});
