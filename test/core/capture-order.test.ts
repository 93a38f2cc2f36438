/**
 * Capture order through the decode pool: batches decoded by several workers finish in any order,
 * yet plugins must see every event in capture order. A plugin prints every layer event (frame,
 * name and fields); runs with 1, 2 and 4 workers must print the same sequence, and that sequence
 * must equal a reference made without the pipeline: each frame decoded in turn on this thread and
 * dispatched through the same views.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { Dispatcher } from "../../core/dispatch/dispatcher.ts";
import { EventBus } from "../../core/event-bus.ts";
import { layerEventNames, type EventName } from "../../core/events.ts";
import { FrameRing } from "../../core/ring/frame-ring.ts";
import { kSlotCapLen, kSlotInterface, kSlotLinkType, kSlotOffset, kSlotStride, kSlotTsNsec, kSlotTsSec, kSlotWireLen } from "../../core/ring/ring-layout.ts";
import { FrameDecoder } from "../../workers/decode-frame.ts";
import { collectedFields, collectorPlugin, makePluginDir, parseLines, runCapture } from "../support/host-run.ts";
import { mixedTraffic } from "../support/mixed-traffic.ts";
import { encodePcap, splitTimestamp } from "../support/pcap-writer.ts";
import { makeTempDir } from "../support/wireshark-tools.ts";

const kPackets = 4000;
const records = mixedTraffic(kPackets, 7);
const plugins = makePluginDir();
collectorPlugin(plugins.path, "events", layerEventNames, 16);
const files = makeTempDir("packet-host-order-");
t.teardown(() => {
  plugins.remove();
  files.remove();
});
const capture = join(files.path, "mixed.pcap");
writeFileSync(capture, encodePcap(records, { resolution: "nano" }));

const hexOf = (b: Uint8Array): string => Array.from(b.subarray(0, 16), (x) => x.toString(16).padStart(2, "0")).join("");

/** The event lines of the reference: decode and dispatch each frame in turn, no file reader, no pool. */
function referenceEvents(): string[] {
  const ring = FrameRing.create(16 << 20);
  t.ok(ring.slotCount >= kPackets, "the reference ring holds the whole capture");
  const decoder = new FrameDecoder(ring.data, ring.slots, ring.results);
  let at = 0;
  records.forEach((r, i) => {
    const s = i * kSlotStride;
    const ts = splitTimestamp(r.timestamp!);
    ring.data.set(r.data, at);
    ring.slots[s + kSlotOffset] = at;
    ring.slots[s + kSlotCapLen] = r.data.length;
    ring.slots[s + kSlotWireLen] = r.data.length;
    ring.slots[s + kSlotLinkType] = 1;
    ring.slots[s + kSlotTsSec] = ts.sec;
    ring.slots[s + kSlotTsNsec] = ts.nsec;
    ring.slots[s + kSlotInterface] = 0;
    at += r.data.length;
    decoder.decodeSlot(i);
  });
  const bus = new EventBus();
  const lines: string[] = [];
  for (const name of layerEventNames) {
    const fields = collectedFields[name]!;
    bus.on(name as EventName, (ev) => {
      const e = ev as unknown as Record<string, unknown> & { frame: number; data: Uint8Array };
      const line: Record<string, unknown> = { e: name, frame: e.frame };
      for (const f of fields) line[f] = e[f];
      if (name === "packet") line.data_hex = hexOf(e.data);
      lines.push(JSON.stringify(line));
    });
  }
  new Dispatcher(ring, bus).dispatch(0, records.length);
  return lines;
}

const reference = referenceEvents();

t.test("the reference sees every packet once, in capture order, with its own timestamp and bytes", async (t) => {
  const packets = parseLines(reference).filter((e) => e.e === "packet");
  t.equal(packets.length, kPackets);
  const wrong = packets.filter((p, i) => {
    const ts = splitTimestamp(records[i]!.timestamp!);
    return p.frame !== i + 1 || p.ts_sec !== ts.sec || p.ts_nsec !== ts.nsec || p.data_hex !== hexOf(records[i]!.data);
  });
  t.same(wrong.slice(0, 3), []);
  const names = new Set(parseLines(reference).map((e) => e.e));
  t.same([...names].sort(), [...layerEventNames].sort(), "the traffic yields every layer event");
});

for (const workers of [1, 2, 4]) {
  t.test(`runHost with ${workers} worker${workers > 1 ? "s" : ""} delivers the reference's event sequence`, async (t) => {
    const run = await runCapture(capture, { plugins: ["events"], pluginDirs: [plugins.path], workers, ringBytes: 1 << 20 });
    t.equal(run.status, 0);
    t.same(run.errors, []);
    t.equal(run.stats.packets, kPackets);
    t.equal(run.lines.length, reference.length, "as many events as the reference");
    const first = run.lines.findIndex((line, i) => line !== reference[i]);
    t.equal(first, -1, first < 0 ? "identical" : `first difference at event ${first}: ${run.lines[first]} instead of ${reference[first]}`);
  });
}
