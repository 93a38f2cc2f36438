/**
 * Fuzzing the real pipeline: valid frames of every supported link type, mutated (bit flips, cuts,
 * absurd length fields, garbage, frames relabelled with another link type) and written to a pcapng
 * whose interfaces have random link types, supported or not; then read by runHost with 2 workers and
 * a plugin that reads every field of every layer event. Nothing may throw in a worker or a view,
 * every frame must give its `packet` event, and the malformed/unsupported counts must agree.
 *
 * The seed is random and printed; PACKET_HOST_FUZZ_SEED=<seed> replays a run, and
 * PACKET_HOST_FUZZ_FRAMES=<n> changes the number of frames (default 100000).
 */
import { randomInt } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { layerEventNames } from "../../core/events.ts";
import { isSupportedLinkType } from "../../workers/layers/link-layer.ts";
import { malformedLayerNames, malformedReasonNames } from "../../workers/decode-result.ts";
import { makePluginDir, parseLines, runCapture, writePlugin } from "../support/host-run.ts";
import { sampleFramesByLinkType } from "../support/mixed-traffic.ts";
import { encodePcapng } from "../support/pcapng-writer.ts";
import type { PcapngBlock } from "../support/pcapng-writer.ts";
import { SeededRandom } from "../support/seeded-random.ts";
import { makeTempDir } from "../support/wireshark-tools.ts";

const seed = process.env.PACKET_HOST_FUZZ_SEED !== undefined ? Number(process.env.PACKET_HOST_FUZZ_SEED) >>> 0 : randomInt(2 ** 32);
const kFrames = Number(process.env.PACKET_HOST_FUZZ_FRAMES ?? 100_000);
const kInterfaces = 24;
const kPerSection = 10_000;

const plugins = makePluginDir();
// Reads every field of every layer event (toJSON reads them all) and the byte views, and counts.
writePlugin(
  plugins.path,
  "fuzz",
  `    const counts = {};
    let packetMalformed = 0, packetUnsupported = 0, bytes = 0;
    const reasons = new Set();
    for (const name of ${JSON.stringify(layerEventNames)}) {
      counts[name] = 0;
      ctx.on(name, (ev) => {
        counts[name]++;
        const copy = ev.toJSON();
        if (name === "packet") {
          bytes += ev.data.length;
          if (ev.malformed) packetMalformed++;
          if (ev.unsupported) packetUnsupported++;
        } else if (name === "malformed") {
          reasons.add(copy.layer + ":" + copy.reason);
        } else if ("payload" in ev) {
          bytes += ev.payload.length;
        }
        JSON.stringify(copy);
      });
    }
    ctx.onTeardown(() => ctx.out.json({ counts, packetMalformed, packetUnsupported, bytes, reasons: [...reasons].sort() }));`,
);
const files = makeTempDir("packet-host-fuzz-");
t.teardown(() => {
  plugins.remove();
  files.remove();
});

/** Returns a mutated copy of `frame`. */
function mutate(rng: SeededRandom, frame: Uint8Array): Uint8Array {
  let f: Uint8Array = frame.slice();
  const mutations = rng.between(0, 3);
  for (let m = 0; m < mutations; m++) {
    switch (rng.below(6)) {
      case 0: // bit flips, mostly in the headers
        for (let k = rng.between(1, 8); k > 0 && f.length > 0; k--) {
          const at = rng.chance(0.8) ? rng.below(Math.min(f.length, 96)) : rng.below(f.length);
          f[at]! ^= 1 << rng.below(8);
        }
        break;
      case 1: // cut anywhere, the empty frame included
        f = f.subarray(0, rng.below(f.length + 1));
        break;
      case 2: {
        // an absurd 16-bit value where a length field may be
        if (f.length < 2) break;
        const at = rng.below(Math.min(f.length - 1, 80));
        const v = rng.pick([0, 1, 2, 3, 4, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xfffe, 0xffff]);
        f[at] = v >> 8;
        f[at + 1] = v & 0xff;
        break;
      }
      case 3: // a header-length nibble set to something absurd
        if (f.length > 0) {
          const at = rng.below(Math.min(f.length, 64));
          f[at] = (f[at]! & 0xf0) | rng.pick([0, 1, 4, 5, 15]);
        }
        break;
      case 4: // garbage appended
        f = Uint8Array.from([...f, ...rng.fill(new Uint8Array(rng.between(1, 64)))]);
        break;
      default: // all garbage
        f = rng.fill(new Uint8Array(rng.below(200)));
        break;
    }
  }
  return f;
}

t.test("runHost survives mutated frames of random link types, with every packet delivered and consistent counts", async (t) => {
  t.comment(`seed ${seed} (replay with PACKET_HOST_FUZZ_SEED=${seed}), ${kFrames} frames`);
  const rng = new SeededRandom(seed);
  const samples = sampleFramesByLinkType(seed);
  const supported = [...samples.keys(), 10, 12, 14];
  // Every supported link type once, the rest random: supported ones again, or numbers nobody supports.
  const linkTypes = [...supported];
  while (linkTypes.length < kInterfaces) linkTypes.push(rng.chance(0.5) ? rng.pick(supported) : rng.below(0x10000));
  const allSamples = [...samples.values()].flat();

  let unsupportedFrames = 0;
  const parts: Uint8Array[] = [];
  for (let start = 0; start < kFrames; start += kPerSection) {
    const blocks: PcapngBlock[] = [{ type: "shb", byteOrder: rng.chance(0.5) ? "little" : "big" }];
    for (const linkType of linkTypes) blocks.push({ type: "idb", linkType, tsresol: rng.chance(0.5) ? { base: 10, exponent: 9 } : { base: 2, exponent: 30 } });
    for (let i = start; i < Math.min(kFrames, start + kPerSection); i++) {
      const id = rng.below(kInterfaces);
      const own = samples.get(linkTypes[id]!);
      // Mostly a frame of the interface's own link type; sometimes one of another (or of none).
      const base = own !== undefined && rng.chance(0.8) ? rng.pick(own) : rng.pick(allSamples);
      const data = mutate(rng, base.subarray(0, rng.chance(0.7) ? 160 : base.length));
      if (!isSupportedLinkType(linkTypes[id]!)) unsupportedFrames++;
      blocks.push({ type: "epb", interfaceId: id, data, originalLength: Math.max(data.length, base.length), timestampUnits: BigInt(i) * 1_000_003n });
    }
    parts.push(encodePcapng(blocks));
  }
  const path = join(files.path, `fuzz-${seed}.pcapng`);
  writeFileSync(path, Buffer.concat(parts));

  const run = await runCapture(path, { plugins: ["fuzz"], pluginDirs: [plugins.path], workers: 2, ringBytes: 4 << 20 });
  t.equal(run.status, 0, "exit status 0: nothing was thrown out of a worker");
  // The one line a run has for frames of link types it does not decode (see left-out-warnings.test.ts).
  t.same(
    run.errors.map((l) => l.replace(/ \(the first one's is \d+\).*/, "")),
    unsupportedFrames > 0 ? [`host: warning: ${unsupportedFrames} frame(s) were counted but not decoded: their link type`] : [],
    "no error line: no handler or view threw",
  );
  const [summary] = parseLines(run.lines) as Array<{ counts: Record<string, number>; packetMalformed: number; packetUnsupported: number; reasons: string[] }>;
  t.ok(summary !== undefined, "the plugin reported");
  if (summary === undefined) return;
  t.equal(run.stats.packets, kFrames, "the stats count every frame");
  t.equal(summary.counts.packet, kFrames, "every frame gave its packet event");
  t.equal(summary.counts.malformed, run.stats.malformed, "one malformed event per malformed packet in the stats");
  t.equal(summary.packetMalformed, run.stats.malformed, "packet.malformed agrees with the stats");
  t.equal(summary.packetUnsupported, unsupportedFrames, "every frame of an unsupported link type is flagged");
  t.equal(run.stats.unsupported, unsupportedFrames, "and counted");
  t.ok(run.stats.malformed > kFrames / 20, `mutations made malformed frames (${run.stats.malformed})`);
  t.ok(summary.counts.tcp! + summary.counts.udp! > kFrames / 10, "and left many frames decodable");
  const known = new Set<string>();
  for (const layer of malformedLayerNames.slice(1)) for (const reason of malformedReasonNames.slice(1)) known.add(`${layer}:${reason}`);
  t.same(summary.reasons.filter((r) => !known.has(r)), [], "every malformed event has a stable layer and reason name");
  t.comment(`malformed reasons seen: ${summary.reasons.join(" ")}`);
});
