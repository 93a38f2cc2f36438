import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { internetChecksum, pseudoHeaderSum } from "../support/internet-checksum.ts";
import { readPcapRecords } from "../support/pcap-records.ts";
import type { PcapRecordView } from "../support/pcap-records.ts";
import { makeTempDir, tsharkFields, tsharkProblems, wiresharkMissing } from "../support/wireshark-tools.ts";
import { makeCapture } from "./make-capture.ts";
import type { SyntheticCaptureSummary } from "./make-capture.ts";

const dir = makeTempDir();
t.teardown(dir.remove);

function generate(name: string, packets: number, seed = 1): { path: string; summary: SyntheticCaptureSummary; records: PcapRecordView[] } {
  const path = join(dir.path, name);
  const summary = makeCapture(path, { packets, seed });
  return { path, summary, records: readPcapRecords(readFileSync(path)).records };
}

/** Checks IPv4 header and TCP/UDP checksums of an Ethernet frame with an independent parse; returns a problem or "". */
function checksumProblem(frame: Uint8Array): string {
  let at = 12;
  let type = (frame[at]! << 8) | frame[at + 1]!;
  while (type === 0x8100 || type === 0x88a8) {
    at += 4;
    type = (frame[at]! << 8) | frame[at + 1]!;
  }
  const ip = at + 2;
  let src: Uint8Array;
  let dst: Uint8Array;
  let protocol: number;
  let upper: number;
  if (type === 0x0800) {
    const ihl = (frame[ip]! & 0x0f) * 4;
    if (internetChecksum(frame, ip, ip + ihl) !== 0) return "IPv4 header checksum";
    src = frame.subarray(ip + 12, ip + 16);
    dst = frame.subarray(ip + 16, ip + 20);
    protocol = frame[ip + 9]!;
    upper = ip + ihl;
  } else if (type === 0x86dd) {
    src = frame.subarray(ip + 8, ip + 24);
    dst = frame.subarray(ip + 24, ip + 40);
    protocol = frame[ip + 6]!;
    upper = ip + 40;
  } else {
    return `unexpected EtherType 0x${type.toString(16)}`;
  }
  if (protocol !== 6 && protocol !== 17) return `unexpected protocol ${protocol}`;
  if (internetChecksum(frame, upper, frame.length, pseudoHeaderSum(src, dst, protocol, frame.length - upper)) !== 0) {
    return protocol === 6 ? "TCP checksum" : "UDP checksum";
  }
  return "";
}

t.test("makeCapture() writes exactly the requested number of packets, however small", async (t) => {
  for (const n of [0, 1, 2, 7, 150, 2500]) {
    const { summary, records } = generate(`count-${n}.pcap`, n);
    t.equal(records.length, n, `${n} packets`);
    t.equal(summary.packets, n);
    t.equal(summary.bytes, records.reduce((sum, r) => sum + r.data.length, 0));
  }
});

t.test("makeCapture() is deterministic: the same seed gives the same bytes, another seed other bytes", async (t) => {
  const hash = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");
  const a = generate("seed-a.pcap", 3000, 42);
  const b = generate("seed-b.pcap", 3000, 42);
  const c = generate("seed-c.pcap", 3000, 43);
  t.equal(hash(a.path), hash(b.path));
  t.not(hash(a.path), hash(c.path));
  t.same(a.summary, b.summary);
});

const mix = generate("mix.pcap", 30_000, 7);

t.test("synthetic timestamps strictly increase, even at microsecond resolution", async (t) => {
  const late = mix.records.findIndex((r, i) => i > 0 && r.timestampNs <= mix.records[i - 1]!.timestampNs);
  t.equal(late, -1);
  t.equal(mix.records[0]!.timestampNs / 1_000_000_000n, 1_704_067_200n, "starts 2024-01-01");
});

t.test("every synthetic IPv4 header, TCP segment and UDP datagram has a correct checksum", async (t) => {
  const bad = mix.records.map((r, i) => [i + 1, checksumProblem(r.data)] as const).filter(([, problem]) => problem !== "");
  t.same(bad.slice(0, 5), []);
  t.ok(mix.records.every((r) => r.data.length <= 1518), "no frame exceeds a 1500-byte MTU plus Ethernet and VLAN headers");
});

t.test("the synthetic mix has HTTP, bulk and DNS flows, about 10% IPv6 and 10% VLAN", async (t) => {
  const s = mix.summary;
  t.equal(s.flows, s.httpFlows + s.bulkFlows + s.dnsFlows);
  t.equal(s.tcpFlows, s.httpFlows + s.bulkFlows);
  t.ok(s.flows > 400, `${s.flows} flows`);
  t.ok(s.httpRequests > s.httpFlows, "keep-alive connections carry several requests");
  for (const [name, count] of [["IPv6", s.ipv6Flows], ["VLAN", s.vlanFlows]] as const) {
    const share = count / s.flows;
    t.ok(share > 0.06 && share < 0.14, `${name} share ${share.toFixed(3)}`);
  }
});

t.test("Wireshark finds the synthetic traffic well formed, with every TCP flow opened and closed", { skip: wiresharkMissing }, async (t) => {
  const { path } = generate("wireshark.pcap", 6000, 11);
  t.same(tsharkProblems(path).slice(0, 5), []);
  const rows = tsharkFields(path, ["tcp.stream", "tcp.flags", "tcp.analysis.flags", "_ws.col.Protocol"], ["-Y", "tcp"]);
  const streams = new Map<string, { syn: boolean; end: boolean }>();
  const anomalies: string[] = [];
  for (const [stream = "", flags = "", analysis = ""] of rows) {
    const s = streams.get(stream) ?? { syn: false, end: false };
    const bits = Number(flags);
    if (bits & 0x02) s.syn = true;
    if (bits & 0x05) s.end = true;
    streams.set(stream, s);
    if (analysis !== "" && !(bits & 0x04)) anomalies.push(`stream ${stream}: ${analysis}`);
  }
  t.ok(streams.size > 20, `${streams.size} TCP streams`);
  t.same([...streams].filter(([, s]) => !s.syn || !s.end).map(([id]) => id), [], "every stream has a SYN and a FIN or RST");
  t.same(anomalies.slice(0, 5), [], "no lost, duplicate or out-of-order segments");
  const protocols = new Set(tsharkFields(path, ["_ws.col.Protocol"]).map((r) => r[0]));
  for (const p of ["HTTP", "DNS", "TCP"]) t.ok(protocols.has(p), `${p} present`);
});

t.test("make-capture.ts runs from the command line and prints a one-line summary", async (t) => {
  const out = join(dir.path, "cli.pcap");
  const run = spawnSync(process.execPath, ["--import", "tsx", join(import.meta.dirname, "make-capture.ts"), out, "--packets", "500", "--seed", "5"], { encoding: "utf8" });
  t.equal(run.status, 0, run.stderr);
  t.match(run.stdout, /^.*cli\.pcap: 500 packets, \d+ bytes \(file \d+\), \d+ flows .* in [\d.]+ s\n$/);
  t.equal(readPcapRecords(readFileSync(out)).records.length, 500);
  const bad = spawnSync(process.execPath, ["--import", "tsx", join(import.meta.dirname, "make-capture.ts"), out, "--packets", "many"], { encoding: "utf8" });
  t.equal(bad.status, 2);
  t.match(bad.stderr, /--packets takes a non-negative integer: current value is "many"/);
});
