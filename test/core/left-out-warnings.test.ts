/**
 * What a run counts but leaves out is said once at its end, on stderr: frames of a link type the
 * decoders do not know, and frames -w cannot write because a pcap file has one link type.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { runCapture } from "../support/host-run.ts";
import { ethernet, ipv4, udp } from "../support/packet-builders.ts";
import { encodePcapng, type PcapngBlock } from "../support/pcapng-writer.ts";
import { makeTempDir } from "../support/wireshark-tools.ts";

const kRadiotap = 127;
const kRaw = 101;

/** A pcapng of three interfaces (Ethernet, raw IP, radiotap), one or two frames each. */
function mixedCapture(dir: string): string {
  const packet = ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1, dport: 2 }, "x"));
  const blocks: PcapngBlock[] = [
    { type: "shb" },
    { type: "idb", linkType: 1 },
    { type: "idb", linkType: kRaw },
    { type: "idb", linkType: kRadiotap },
  ];
  const frames: Array<[number, Uint8Array]> = [[0, ethernet({}, packet)], [1, packet], [2, new Uint8Array(40)], [1, packet], [2, new Uint8Array(40)]];
  frames.forEach(([interfaceId, data], i) => blocks.push({ type: "epb", interfaceId, data, timestampUnits: BigInt(1_700_000_000_000_000 + i) }));
  const path = join(dir, "mixed.pcapng");
  writeFileSync(path, encodePcapng(blocks));
  return path;
}

const run = (file: string, write?: string) => runCapture(file, { write });

t.test("frames of a link type the host does not decode, and frames -w cannot write, are said once at the end", async (t) => {
  const dir = makeTempDir("packet-host-left-out-");
  t.teardown(dir.remove);
  const file = mixedCapture(dir.path);
  const out = join(dir.path, "out.pcap");
  const r = await run(file, out);
  t.equal(r.status, 0);
  t.same(r.errors, [
    "host: warning: 2 frame(s) were counted but not decoded: their link type (the first one's is 127) is not one the host decodes: Ethernet (1), BSD loopback (0, 108), FDDI (10), raw IP (12, 14, 101, 228, 229), Linux cooked SLL (113) and SLL2 (276), NFLOG (239)",
    `host: warning: -w ${out}: 4 frame(s) left out: their link type is not the first frame's (1), and a pcap file has one; read the input itself, or split it by interface first (tshark -r IN -Y frame.interface_id==N -w OUT)`,
  ]);
  const written = readFileSync(out);
  t.equal(written.length, 24 + 16 + 14 + 29, "the pcap holds the header and the one Ethernet frame");
  t.same((await run(file)).errors.length, 1, "without -w, only the link type is said");
});
