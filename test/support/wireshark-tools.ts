/**
 * Runs Wireshark's command-line tools (tshark, capinfos) as an independent judge of the files the
 * test tooling writes. Tests that use them skip with `wiresharkMissing` as the reason when the tools
 * are not installed (on Debian: `apt-get install tshark`).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function runs(tool: string): boolean {
  const r = spawnSync(tool, ["--version"], { encoding: "utf8" });
  return r.error === undefined && r.status === 0;
}

/** A skip reason when tshark or capinfos cannot be run, otherwise false. */
export const wiresharkMissing: string | false =
  runs("tshark") && runs("capinfos") ? false : "tshark and capinfos are not installed (Debian package: tshark)";

/** Preferences that make tshark verify the checksums it otherwise leaves unverified. */
export const kVerifyChecksums = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"];

/** Expert-info severity value of an error (malformed packets are errors). */
export const kExpertSeverityError = 0x800000;

function run(tool: string, args: readonly string[]): string {
  // tshark warns on stderr when run as root; only the exit status tells failure.
  const r = spawnSync(tool, args, { encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${tool} ${args.join(" ")} exited with status ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Runs tshark with `args` and returns its standard output; throws with its stderr on failure. */
export function tshark(args: readonly string[]): string {
  return run("tshark", args);
}

/** Runs capinfos with `args` and returns its standard output; throws with its stderr on failure. */
export function capinfos(args: readonly string[]): string {
  return run("capinfos", args);
}

/** Runs `capinfos -T` (table report) on one file with `flags` and returns its columns by header name. */
export function capinfosTable(file: string, flags: readonly string[]): Record<string, string> {
  const [header = "", values = ""] = capinfos(["-T", ...flags, file]).split("\n");
  const names = header.split("\t");
  const cells = values.split("\t");
  return Object.fromEntries(names.map((name, i) => [name, cells[i] ?? ""]));
}

/** Runs tshark and returns its stdout, stderr and exit status without throwing (for files meant to be damaged). */
export function tsharkRaw(args: readonly string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync("tshark", args, { encoding: "utf8", maxBuffer: 256 << 20 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** Reads `file` with tshark and returns one row of the requested fields per frame (tab-separated, "," within a field). */
export function tsharkFields(file: string, fields: readonly string[], extra: readonly string[] = []): string[][] {
  const out = tshark(["-r", file, ...extra, "-T", "fields", ...fields.flatMap((f) => ["-e", f])]);
  return out.split("\n").filter((line) => line !== "").map((line) => line.split("\t"));
}

/**
 * Lists the frames of `file` in which tshark finds a bad IP/TCP/UDP/ICMP/ICMPv6 checksum or an
 * error-level expert item (malformed packet), as "frame N: reason" strings; empty means clean.
 */
export function tsharkProblems(file: string, extra: readonly string[] = []): string[] {
  const fields = ["frame.number", "ip.checksum.status", "tcp.checksum.status", "udp.checksum.status", "icmp.checksum.status", "icmpv6.checksum.status", "_ws.expert.severity", "_ws.expert.message"];
  const problems: string[] = [];
  for (const row of tsharkFields(file, fields, [...kVerifyChecksums, ...extra])) {
    const [frame, ...rest] = row;
    const statuses = rest.slice(0, 5).join(",").split(",");
    // Checksum status 0 is "bad" (1 good, 2 unverified).
    if (statuses.includes("0")) problems.push(`frame ${frame}: bad checksum (${fields.slice(1, 6).map((f, i) => `${f}=${rest[i]}`).join(" ")})`);
    const severities = (rest[5] ?? "").split(",").filter(Boolean).map(Number);
    if (severities.some((s) => s >= kExpertSeverityError)) problems.push(`frame ${frame}: ${rest[6]}`);
  }
  return problems;
}

/** A temporary directory that the caller removes with `remove()` (e.g. in t.teardown). */
export function makeTempDir(prefix = "packet-host-"): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
