/**
 * Backpressure: a capture twenty times the size of the smallest ring must come through whole. The
 * file reader has to wait for the dispatcher to release pages and slots instead of overwriting frames
 * still in use. Every frame carries its own number; a plugin checks the numbers arrive in order and
 * hashes every byte delivered, so a dropped, repeated, reordered or overwritten frame shows.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { makePluginDir, parseLines, runCapture, writePlugin } from "../support/host-run.ts";
import { concatBytes, ethernet, ipv4, udp } from "../support/packet-builders.ts";
import { PcapStreamWriter } from "../support/pcap-writer.ts";
import { SeededRandom } from "../support/seeded-random.ts";
import { makeTempDir } from "../support/wireshark-tools.ts";

const kRingBytes = 1 << 20;
const kFileBytes = 20 << 20;

/** FNV-1a over bytes, continued from `h`: the plugin runs the same loop over what it receives. */
function fnv(h: number, d: Uint8Array): number {
  for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i]!, 0x01000193) >>> 0;
  return h;
}

const plugins = makePluginDir();
writePlugin(
  plugins.path,
  "sequence",
  `    let count = 0, outOfOrder = 0, firstBad = null, hash = 0x811c9dc5, bytes = 0;
    ctx.on("packet", (p) => {
      const d = p.data;
      // The frame number is in the first four bytes of the UDP payload (offset 14 + 20 + 8).
      const n = ((d[42] << 24) | (d[43] << 16) | (d[44] << 8) | d[45]) >>> 0;
      if (n !== count || p.frame !== count + 1 || p.caplen !== d.length) {
        outOfOrder++;
        if (firstBad === null) firstBad = { expected: count, got: n, frame: p.frame };
      }
      for (let i = 0; i < d.length; i++) hash = Math.imul(hash ^ d[i], 0x01000193) >>> 0;
      bytes += d.length;
      count++;
    });
    ctx.onTeardown(() => ctx.out.json({ count, outOfOrder, firstBad, hash, bytes }));`,
);
const files = makeTempDir("packet-host-backpressure-");
t.teardown(() => {
  plugins.remove();
  files.remove();
});

/** Writes a pcap of at least `fileBytes` with numbered frames; returns its path and what a reader must see. */
function numberedCapture(name: string, fileBytes: number): { path: string; frames: number; hash: number; bytes: number } {
  const path = join(files.path, name);
  const writer = PcapStreamWriter.create(path);
  const rng = new SeededRandom(99);
  let hash = 0x811c9dc5;
  let frames = 0;
  let bytes = 0;
  while (writer.bytes < fileBytes) {
    // Mostly ordinary sizes; now and then a jumbo frame or one near the largest record (256 KiB),
    // which must be carried across a page boundary of the small ring.
    // (An IP packet holds at most 64 KiB: the near-256 KiB frames carry the rest as trailing bytes.)
    const size = frames % 997 === 500 ? rng.between(150_000, 262_000) : frames % 101 === 50 ? 9000 : rng.between(0, 1458);
    const payload = rng.fill(new Uint8Array(Math.max(4, Math.min(size, 8000))));
    new DataView(payload.buffer).setUint32(0, frames);
    const packet = ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2", id: frames & 0xffff }, udp({ sport: 1, dport: 2 }, payload)));
    const frame = size > payload.length ? concatBytes(packet, rng.fill(new Uint8Array(size - payload.length))) : packet;
    writer.writeAt(frame, 1_704_067_200 + Math.floor(frames / 1000), (frames % 1000) * 1000);
    hash = fnv(hash, frame);
    bytes += frame.length;
    frames++;
  }
  writer.close();
  return { path, frames, hash, bytes };
}

t.test("runHost delivers every frame of a file 20 times its ring, in order and intact", async (t) => {
  const { path, frames, hash, bytes } = numberedCapture("big.pcap", kFileBytes);
  t.ok(statSync(path).size >= 20 * kRingBytes, "the file is at least 20 times the ring");

  const run = await runCapture(path, { plugins: ["sequence"], pluginDirs: [plugins.path], workers: 2, ringBytes: kRingBytes });
  t.equal(run.status, 0);
  t.same(run.errors, []);
  const [summary] = parseLines(run.lines);
  t.same(summary, { count: frames, outOfOrder: 0, firstBad: null, hash, bytes });
  t.equal(run.stats.packets, frames, "the stats count every frame");
  t.equal(run.stats.dropped, 0);
});

t.test("runHost delivers every frame intact through a ring of two pages, whatever the reads ahead do", async (t) => {
  // A 4 MiB ring has two pages: the page after the next one is the page being parsed, whose
  // unparsed tail (a record cut by the page end) must reach the next page before it is reused.
  const { path, frames, hash, bytes } = numberedCapture("two-pages.pcap", 48 << 20);
  const run = await runCapture(path, { plugins: ["sequence"], pluginDirs: [plugins.path], workers: 1, ringBytes: 4 << 20 });
  t.equal(run.status, 0);
  t.same(run.errors, []);
  const [summary] = parseLines(run.lines);
  t.same(summary, { count: frames, outOfOrder: 0, firstBad: null, hash, bytes });
});
