import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { compileFilter, FilterError, parseFilter } from "../../workers/filter/pcap-filter.ts";
import type { FilterAst, FrameFilter } from "../../workers/filter/pcap-filter.ts";
import { readPcapRecords } from "../support/pcap-records.ts";
import { encodePcap } from "../support/pcap-writer.ts";
import { SeededRandom } from "../support/seeded-random.ts";

const kCaptures = fileURLToPath(new URL("../../../shared/captures", import.meta.url));
const kSample = fileURLToPath(new URL("../fixtures/sample.pcap", import.meta.url));
const capturesMissing = existsSync(kCaptures) ? false : `no shared captures at ${kCaptures}`;

/** One frame of a capture file, with the link type of its interface and the file's byte order. */
interface Frame {
  readonly linktype: number;
  readonly order: "little" | "big";
  readonly data: Uint8Array;
  readonly wirelen: number;
}

/**
 * Reads the frames of a pcap or pcapng file the way libpcap hands them to a filter: records longer
 * than a pcap file's snapshot length are cut to it (sf-pcap.c does so). A deliberately small walker,
 * independent of the host's readers in core/.
 */
function readFrames(bytes: Uint8Array): Frame[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 4 && view.getUint32(0) === 0x0a0d0d0a) {
    const frames: Frame[] = [];
    let le = true;
    let interfaces: number[] = [];
    for (let at = 0; at + 12 <= bytes.length; ) {
      if (view.getUint32(at) === 0x0a0d0d0a) {
        le = view.getUint32(at + 8, true) === 0x1a2b3c4d;
        interfaces = [];
      }
      const type = view.getUint32(at, le);
      const length = view.getUint32(at + 4, le);
      if (length < 12 || at + length > bytes.length) break;
      if (type === 1) interfaces.push(view.getUint16(at + 8, le));
      if (type === 6) {
        const caplen = view.getUint32(at + 20, le);
        const linktype = interfaces[view.getUint32(at + 8, le)] ?? -1;
        frames.push({ linktype, order: le ? "little" : "big", data: bytes.subarray(at + 28, at + 28 + caplen), wirelen: view.getUint32(at + 24, le) });
      }
      if (type === 3) {
        const wirelen = view.getUint32(at + 8, le);
        frames.push({ linktype: interfaces[0] ?? -1, order: le ? "little" : "big", data: bytes.subarray(at + 12, at + 12 + Math.min(wirelen, length - 16)), wirelen });
      }
      at += length;
    }
    return frames;
  }
  const file = readPcapRecords(bytes);
  const snaplen = file.snaplen === 0 || file.snaplen > 262144 ? 262144 : file.snaplen;
  const order = file.littleEndian ? "little" : "big";
  return file.records.map((r) => ({ linktype: file.linkType, order, data: r.data.subarray(0, snaplen), wirelen: r.originalLength }));
}

/** Counts the frames a filter accepts, compiling it once per link type and byte order. */
function count(ast: FilterAst, frames: readonly Frame[]): number {
  const compiled = new Map<string, FrameFilter>();
  let n = 0;
  for (const f of frames) {
    let filter = compiled.get(`${f.linktype}/${f.order}`);
    if (filter === undefined) {
      filter = compileFilter(ast, f.linktype, f.order);
      compiled.set(`${f.linktype}/${f.order}`, filter);
    }
    if (filter(f.data, 0, f.data.length, f.wirelen)) n++;
  }
  return n;
}

for (const group of ["zeek", "tcpdump"]) {
  t.test(`compileFilter() selects as many packets as tcpdump 4.99 in every ${group} capture`, { skip: capturesMissing }, async (t) => {
    const expectedDir = `${kCaptures}/expected/${group}`;
    const meta = JSON.parse(readFileSync(`${expectedDir}/_meta.json`, "utf8")) as { filters: string[] };
    const asts = new Map(meta.filters.map((f) => [f, parseFilter(f)]));
    let pairs = 0;
    const wrong: string[] = [];
    for (const name of readdirSync(expectedDir)) {
      if (!name.endsWith(".json") || name === "_meta.json") continue;
      const capture = `${kCaptures}/${group}/${name.slice(0, -5)}`;
      const expected = JSON.parse(readFileSync(`${expectedDir}/${name}`, "utf8")) as { filter_counts?: Record<string, number | null> };
      if (!existsSync(capture)) continue;
      let frames: Frame[] | undefined;
      for (const [expression, want] of Object.entries(expected.filter_counts ?? {})) {
        // null: tcpdump could not compile the expression for this link type (or read the file).
        if (want === null) continue;
        frames ??= readFrames(new Uint8Array(readFileSync(capture)));
        pairs++;
        let got: number | string;
        try {
          got = count(asts.get(expression)!, frames);
        } catch (e) {
          if (!(e instanceof FilterError)) throw e;
          got = e.message;
        }
        if (got !== want) wrong.push(`${name.slice(0, -5)} '${expression}': tcpdump ${want}, here ${got}`);
      }
    }
    t.ok(pairs > 0, `${pairs} (capture, expression) pairs compared`);
    t.same(wrong, [], "every count equals tcpdump's");
  });
}

let tcpdumpMissing: string | false = false;
try {
  execFileSync("tcpdump", ["--version"], { stdio: "ignore" });
} catch {
  tcpdumpMissing = "tcpdump is not installed";
}

t.test("compileFilter() selects the same packets of sample.pcap as the installed tcpdump", { skip: tcpdumpMissing }, async (t) => {
  const frames = readFrames(new Uint8Array(readFileSync(kSample)));
  const expressions = [
    "tcp", "udp", "ip6", "arp", "icmp", "vlan and tcp", "vlan 100 and tcp port 80", "tcp port 80 or 443", "udp port 53",
    "ip6 and udp port 53", "net 192.0.2.0/24", "host 198.51.100.2 or 203.0.113.5", "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
    "ip[2:2] > 1000", "greater 1000", "not tcp and not udp", "ether broadcast", "ether multicast", "icmp6 and ip6[40] = 135",
    "tcp[((tcp[12] & 0xf0) >> 2):4] = 0x47455420", "src portrange 1024-65535 and tcp",
  ];
  for (const expression of expressions) {
    const written = execFileSync("tcpdump", ["-r", kSample, "-w", "-", expression], { stdio: ["ignore", "pipe", "ignore"] });
    const want = readPcapRecords(new Uint8Array(written)).records.length;
    t.equal(count(parseFilter(expression), frames), want, expression);
  }
});

t.test("inbound, outbound and ifindex select the frames the installed tcpdump selects, on every link type from 0 to 300", { skip: tcpdumpMissing }, async (t) => {
  // Frames whose first 64 bytes take the values the direction fields are compared with (0, 1, 2, 4,
  // 5), so that every link type's test sees both answers; the last two bytes number the frame.
  const random = new SeededRandom(276);
  const frames = Array.from({ length: 240 }, (_, i) => {
    const frame = Uint8Array.from({ length: 66 }, () => [0, 1, 2, 4, 5][random.below(5)]!);
    if (i % 3 === 0) frame.set([0, 0, 0, 5], 4);
    if (i % 4 === 0) frame.set([0, 4], 0);
    frame.set([i >> 8, i & 0xff], 64);
    return frame;
  });
  const dir = mkdtempSync(join(tmpdir(), "direction-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let compared = 0;
  let refusedByBoth = 0;
  const differ: string[] = [];
  for (let linktype = 0; linktype <= 300; linktype++) {
    const file = join(dir, `${linktype}.pcap`);
    writeFileSync(file, encodePcap(frames, { linkType: linktype }));
    for (const expression of ["inbound", "outbound", "ifindex 5"]) {
      const tcpdump = spawnSync("tcpdump", ["-r", file, "-w", "-", expression], { stdio: ["ignore", "pipe", "pipe"] });
      const want = tcpdump.status === 0
        ? readPcapRecords(new Uint8Array(tcpdump.stdout)).records.map((r) => (r.data[64]! << 8) | r.data[65]!).join(",")
        : "refused";
      let got: string;
      try {
        const filter = compileFilter(parseFilter(expression), linktype);
        got = frames.flatMap((f, i) => (filter(f, 0, f.length, f.length) ? [i] : [])).join(",");
      } catch (e) {
        if (!(e instanceof FilterError)) throw e;
        got = "refused";
      }
      // tcpdump refuses what libpcap cannot read (unknown link types) for any expression; those say
      // nothing about direction.
      if (want === "refused" && !/not supported on .* when reading savefiles/.test(tcpdump.stderr.toString())) continue;
      if (want === "refused") refusedByBoth += got === "refused" ? 1 : 0;
      else compared++;
      if (got !== want) differ.push(`link type ${linktype} '${expression}': tcpdump ${want.slice(0, 40)}, here ${got.slice(0, 40)}`);
    }
  }
  t.comment(`${compared} (link type, expression) pairs selected frames in tcpdump; ${refusedByBoth} refused by both`);
  t.ok(compared >= 28 * 2 + 1, "tcpdump reads direction on at least the 28 link types libpcap 1.10 reads it on");
  t.same(differ, [], "the same frames, or the same refusal, as tcpdump");
});
