/**
 * Classic pcap files read end to end: runHost with a plugin that prints every `packet` event.
 * Timestamps, lengths and bytes must come out exactly as written; a damaged file must deliver every
 * packet before the damage, then fail with one line naming the file and the byte offset.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { collectorPlugin, makePluginDir, parseLines, runCapture } from "../../support/host-run.ts";
import { ethernet, ipv4, ipv6, tcp, udp } from "../../support/packet-builders.ts";
import { encodePcap, kPcapHeaderLength, kPcapModifiedRecordHeaderLength, kPcapRecordHeaderLength, LinkType } from "../../support/pcap-writer.ts";
import type { CaptureRecord, PcapOptions } from "../../support/pcap-writer.ts";
import { truncateAt } from "../../support/pcapng-writer.ts";
import { makeTempDir, tsharkFields, wiresharkMissing } from "../../support/wireshark-tools.ts";

const plugins = makePluginDir();
collectorPlugin(plugins.path, "packets", ["packet"], 64);
const files = makeTempDir("packet-host-pcap-");
t.teardown(() => {
  plugins.remove();
  files.remove();
});

const hexOf = (b: Uint8Array): string => Array.from(b.subarray(0, 64), (x) => x.toString(16).padStart(2, "0")).join("");

/** Writes `bytes` to a temporary file and runs the host on it with the packet collector. */
async function read(name: string, bytes: Uint8Array) {
  const path = join(files.path, name);
  writeFileSync(path, bytes);
  const run = await runCapture(path, { plugins: ["packets"], pluginDirs: [plugins.path] });
  return { path, ...run, packets: parseLines(run.lines) };
}

const frames = [
  ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1, dport: 2 }, "one"))),
  ethernet({ vlans: [{ vid: 7 }] }, ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, tcp({ sport: 3, dport: 4, flags: "S" }))),
  ethernet({}, ipv4({ src: "192.0.2.3", dst: "192.0.2.4" }, udp({ sport: 5, dport: 6 }, new Uint8Array(300)))),
];
/** Timestamps that test the edges: zero, the last nanosecond, a second count above 2^31. */
const stamps = [
  { sec: 1_704_067_200, nsec: 123_456_789 },
  { sec: 0, nsec: 999_999_999 },
  { sec: 0xfffffff0, nsec: 1 },
];

function records(): CaptureRecord[] {
  return frames.map((data, i) => ({ data, timestamp: stamps[i]!, originalLength: data.length + (i === 2 ? 1000 : 0) }));
}

for (const byteOrder of ["little", "big"] as const) {
  for (const resolution of ["micro", "nano"] as const) {
    t.test(`runHost reads a ${resolution}second pcap written ${byteOrder}-endian with exact timestamps and lengths`, async (t) => {
      const options: PcapOptions = { byteOrder, resolution };
      const run = await read(`${byteOrder}-${resolution}.pcap`, encodePcap(records(), options));
      t.equal(run.status, 0);
      t.same(run.errors, []);
      t.equal(run.stats.packets, 3);
      t.same(
        run.packets.map((p) => [p.frame, p.ts_sec, p.ts_nsec, p.caplen, p.len, p.linktype, p.iface, p.data_hex]),
        frames.map((f, i) => [
          i + 1,
          stamps[i]!.sec,
          resolution === "nano" ? stamps[i]!.nsec : Math.floor(stamps[i]!.nsec / 1000) * 1000,
          f.length,
          f.length + (i === 2 ? 1000 : 0),
          1,
          0,
          hexOf(f),
        ]),
      );
    });
  }
}

for (const byteOrder of ["little", "big"] as const) {
  t.test(`runHost reads a modified pcap (magic a1b2cd34) written ${byteOrder}-endian, skipping the 8 more bytes of each record header`, async (t) => {
    const bytes = encodePcap(records(), { byteOrder, format: "modified" });
    t.equal(bytes.length, encodePcap(records(), { byteOrder }).length + 3 * 8, "the fixture has the longer record headers");
    const run = await read(`modified-${byteOrder}.pcap`, bytes);
    t.equal(run.status, 0);
    t.same(run.errors, []);
    t.equal(run.stats.packets, 3);
    t.same(
      run.packets.map((p) => [p.frame, p.ts_sec, p.ts_nsec, p.caplen, p.len, p.linktype, p.iface, p.data_hex]),
      frames.map((f, i) => [i + 1, stamps[i]!.sec, Math.floor(stamps[i]!.nsec / 1000) * 1000, f.length, f.length + (i === 2 ? 1000 : 0), 1, 0, hexOf(f)]),
    );
  });
}

t.test("runHost reads a modified pcap as tshark does", { skip: wiresharkMissing }, async (t) => {
  const run = await read("modified-tshark.pcap", encodePcap(records(), { byteOrder: "big", format: "modified" }));
  const theirs = tsharkFields(run.path, ["frame.time_epoch", "frame.cap_len", "frame.len"]);
  t.same(
    run.packets.map((p) => [`${p.ts_sec}.${String(p.ts_nsec).padStart(9, "0")}`, String(p.caplen), String(p.len)]),
    theirs,
  );
});

t.test("runHost cuts a modified Ethernet pcap's records at the snap length plus 14, as libpcap does", async (t) => {
  // The patched libpcap's cooked captures added a 14-byte Ethernet header after the snap length was
  // applied, so libpcap (pcap_check_header) allows 14 bytes more for these files; tcpdump 4.99 agrees.
  const long = ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1, dport: 2 }, new Uint8Array(100))));
  const list: CaptureRecord[] = [{ data: long }, { data: long.subarray(0, 110) }, { data: frames[0]! }];
  const withSnaplen = (bytes: Uint8Array): Uint8Array => {
    new DataView(bytes.buffer).setUint32(16, 100, true); // written with the full frames, then the header lowered
    return bytes;
  };
  const modified = await read("modified-snaplen.pcap", withSnaplen(encodePcap(list, { format: "modified" })));
  t.same(modified.packets.map((p) => [p.caplen, p.len]), [[114, long.length], [110, 110], [frames[0]!.length, frames[0]!.length]]);
  const standard = await read("standard-snaplen.pcap", withSnaplen(encodePcap(list)));
  t.same(standard.packets.map((p) => [p.caplen, p.len]), [[100, long.length], [100, 110], [frames[0]!.length, frames[0]!.length]]);
  const raw = await read("modified-raw-snaplen.pcap", withSnaplen(encodePcap(list.map((r) => ({ data: r.data.subarray(14) })), { format: "modified", linkType: LinkType.RAW })));
  t.same(raw.packets.map((p) => p.caplen), [100, 96, frames[0]!.length - 14], "only Ethernet gets the 14 bytes");
});

/**
 * A pcap file of `list` claiming version `major.minor`, with each record's two lengths written wire
 * length first where `swapped(i)` says so (as files before 2.3, and DG/UX's 543.0, have them).
 */
function withVersion(list: CaptureRecord[], major: number, minor: number, swapped: (i: number) => boolean): Uint8Array {
  const bytes = encodePcap(list);
  const view = new DataView(bytes.buffer);
  view.setUint16(4, major, true);
  view.setUint16(6, minor, true);
  let at = kPcapHeaderLength;
  list.forEach((r, i) => {
    const caplen = view.getUint32(at + 8, true);
    if (swapped(i)) {
      view.setUint32(at + 8, view.getUint32(at + 12, true), true);
      view.setUint32(at + 12, caplen, true);
    }
    at += kPcapRecordHeaderLength + caplen;
  });
  return bytes;
}

t.test("runHost reads the lengths of pcap versions before 2.3 (and 543.0) swapped, and of 2.3 either way, as libpcap does", async (t) => {
  // Frames cut by the capturer, so that the two lengths differ: 20 bytes kept of each.
  const cut = records().map((r) => ({ ...r, data: r.data.subarray(0, 20), originalLength: r.data.length }));
  const want = cut.map((r) => [20, r.originalLength, hexOf(r.data)]);
  for (const [major, minor] of [[2, 0], [2, 2], [543, 0]]) {
    const run = await read(`version-${major}.${minor}.pcap`, withVersion(cut, major, minor, () => true));
    t.same(run.errors, [], `${major}.${minor} is read`);
    t.same(run.packets.map((p) => [p.caplen, p.len, p.data_hex]), want, `${major}.${minor}: wire length first`);
  }
  // 2.3 files were written both ways: the smaller length is the captured one.
  const mixed = await read("version-2.3.pcap", withVersion(cut, 2, 3, (i) => i === 1));
  t.same(mixed.packets.map((p) => [p.caplen, p.len, p.data_hex]), want, "2.3: either order");
  const current = await read("version-2.4.pcap", withVersion(cut, 2, 4, () => false));
  t.same(current.packets.map((p) => [p.caplen, p.len, p.data_hex]), want, "2.4: captured length first");
});

t.test("runHost refuses the pcap versions libpcap refuses, saying which it reads", async (t) => {
  for (const [major, minor] of [[2, 5], [1, 0], [3, 0], [543, 1]]) {
    const run = await read(`version-${major}.${minor}.pcap`, withVersion(records(), major, minor, () => false));
    damaged(t, run, 0, 0, new RegExp(`unsupported pcap version ${major}\\.${minor} \\(pcap files are version 2\\.0 to 2\\.4`));
  }
});

t.test("runHost reads a version 2.2 pcap's lengths as tshark does", { skip: wiresharkMissing }, async (t) => {
  const cut = records().map((r) => ({ ...r, data: r.data.subarray(0, 20), originalLength: r.data.length }));
  const run = await read("version-2.2-tshark.pcap", withVersion(cut, 2, 2, () => true));
  const theirs = tsharkFields(run.path, ["frame.cap_len", "frame.len"]);
  t.same(run.packets.map((p) => [String(p.caplen), String(p.len)]), theirs);
});

t.test("runHost gives every packet of a pcap the file's link type and cuts nothing the snap length did not cut", async (t) => {
  const raw = [ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1, dport: 2 }, new Uint8Array(200))), ipv6({ src: "2001:db8::1", dst: "2001:db8::2" })];
  const run = await read("raw.pcap", encodePcap(raw, { linkType: LinkType.RAW, snaplen: 100 }));
  t.equal(run.status, 0);
  t.same(run.packets.map((p) => [p.linktype, p.caplen, p.len]), [[101, 100, 228], [101, 40, 40]]);
});

/** A pcap of `n` frames and the file offset of each record. */
function numbered(n: number): { bytes: Uint8Array; offsets: number[] } {
  const list = Array.from({ length: n }, (_, i) => ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2", id: i }, udp({ sport: 1000 + i, dport: 53 }, new Uint8Array(20 + i)))));
  const offsets: number[] = [];
  let at = kPcapHeaderLength;
  for (const f of list) {
    offsets.push(at);
    at += kPcapRecordHeaderLength + f.length;
  }
  return { bytes: encodePcap(list), offsets };
}

/** Checks the outcome of a damaged file: `delivered` packets, then one error line at `offset`. */
function damaged(t: Test, run: Awaited<ReturnType<typeof read>>, delivered: number, offset: number | null, words: RegExp): void {
  t.equal(run.status, 1, "exit status 1");
  t.equal(run.packets.length, delivered, "every packet before the damage is delivered");
  t.same(run.packets.map((p) => p.frame), Array.from({ length: delivered }, (_, i) => i + 1));
  t.equal(run.stats.packets, delivered);
  t.equal(run.errors.length, 1, "one error line");
  const line = run.errors[0] ?? "";
  t.notMatch(line, /\n/, "on one line");
  t.ok(line.startsWith(`host: ${run.path}: `), `names the file: ${line}`);
  if (offset === null) t.notMatch(line, /byte offset/, "no place in the file is to blame");
  // The offset ends the problem; what to do about it may follow.
  else t.match(line, new RegExp(`at byte offset ${offset}(: [^:]+)?$`), "names the byte offset of the damaged record");
  t.match(line, words);
}

t.test("runHost delivers every packet of a pcap cut in the middle of a record's data, then reports the record", async (t) => {
  const { bytes, offsets } = numbered(10);
  const run = await read("cut-data.pcap", truncateAt(bytes, offsets[7]! + kPcapRecordHeaderLength + 5));
  damaged(t, run, 7, offsets[7]!, /truncated pcap record: \d+ more bytes expected/);
});

t.test("runHost delivers every packet of a pcap cut in the middle of a record header, then reports it", async (t) => {
  const { bytes, offsets } = numbered(10);
  const run = await read("cut-header.pcap", truncateAt(bytes, offsets[4]! + 9));
  damaged(t, run, 4, offsets[4]!, /truncated pcap record: 7 more bytes expected/);
});

t.test("runHost reports a pcap cut inside its file header at offset 0", async (t) => {
  const { bytes } = numbered(1);
  const run = await read("cut-file-header.pcap", truncateAt(bytes, 13));
  damaged(t, run, 0, 0, /truncated pcap file header: 11 more bytes expected/);
});

t.test("runHost refuses a pcap record that claims more captured bytes than libpcap allows, after the packets before it", async (t) => {
  const { bytes, offsets } = numbered(6);
  const bad = bytes.slice();
  new DataView(bad.buffer).setUint32(offsets[3]! + 8, 0x7fffffff, true);
  const run = await read("huge-caplen.pcap", bad);
  damaged(t, run, 3, offsets[3]!, /record claims 2147483647 captured bytes/);
});

t.test("runHost delivers every packet of a modified pcap cut in the middle of a record header, then reports it", async (t) => {
  const bytes = encodePcap(records(), { format: "modified" });
  const third = kPcapHeaderLength + 2 * kPcapModifiedRecordHeaderLength + frames[0]!.length + frames[1]!.length;
  const run = await read("modified-cut-header.pcap", truncateAt(bytes, third + 20));
  damaged(t, run, 2, third, /truncated pcap record: 4 more bytes expected/);
});

t.test("runHost refuses the pcap magic numbers libpcap does not read, as unknown", async (t) => {
  // Reserved by libpcap for other modified formats (Francisco Mesquita's, Navtel's) that it never reads.
  for (const magic of [0xa1b234cd, 0xa12b3c4d]) {
    const bytes = encodePcap(records());
    new DataView(bytes.buffer).setUint32(0, magic, true);
    const run = await read(`magic-${magic.toString(16)}.pcap`, bytes);
    damaged(t, run, 0, 0, /not a pcap or pcapng file \(unknown magic number\) at byte offset 0/);
  }
});

t.test("runHost refuses a file that is not a capture, and an empty one, at offset 0", async (t) => {
  const text = await read("notes.pcap", new TextEncoder().encode("these are not packets\n"));
  damaged(t, text, 0, 0, /not a pcap or pcapng file \(unknown magic number\) at byte offset 0: convert it with editcap -F pcap/);
  const empty = await read("empty.pcap", new Uint8Array(0));
  damaged(t, empty, 0, null, /: file is empty$/);
});

t.test("runHost reads a pcap with no packets at all as an empty capture", async (t) => {
  const run = await read("header-only.pcap", encodePcap([]));
  t.equal(run.status, 0);
  t.same(run.errors, []);
  t.equal(run.stats.packets, 0);
});
