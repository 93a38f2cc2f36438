/**
 * Application events and flows on real traffic: every capture of Zeek's test suite (in the shared
 * captures folder, never copied here) is run through the host in-process, and the output is scored
 * against what tshark reports with ../shared/captures/compare.mjs (its README has the matching rules).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { runApp, tempFolder } from "./app-run.ts";

const kCaptures = fileURLToPath(new URL("../../../shared/captures", import.meta.url));
const capturesMissing = existsSync(kCaptures) ? false : `no shared captures at ${kCaptures}`;
/** Share of expected items that must match. */
const kMinPercent = 98;

/** The JSON summary compare.mjs prints as its last line with --json. */
interface CompareSummary {
  expected: number;
  matched: number;
  percent: number | null;
  files_compared: number;
  extra: number;
  responses?: { expected: number; matched: number; percent: number | null };
}

function compare(actual: string, what: "http" | "dns" | "flows"): { summary: CompareSummary; report: string } {
  const report = execFileSync(
    process.execPath,
    [join(kCaptures, "compare.mjs"), "--expected", join(kCaptures, "expected/zeek"), "--actual", actual, "--what", what, "--json"],
    { encoding: "utf8" },
  );
  const lines = report.trimEnd().split("\n");
  return { summary: JSON.parse(lines.at(-1)!) as CompareSummary, report: lines.slice(0, -1).join("\n") };
}

const percent = (matched: number, expected: number) => (expected === 0 ? 100 : (100 * matched) / expected);

t.test("HTTP, DNS and flows of Zeek's captures match tshark's at least 98%", { skip: capturesMissing }, async (t) => {
  const out = tempFolder(t);
  const folder = join(kCaptures, "zeek");
  const names = readdirSync(folder).filter((n) => /\.pcap(ng)?$/.test(n)).sort();
  t.ok(names.length > 0, "there are captures to run");
  for (const name of names) {
    const result = await runApp(join(folder, name), {
      plugins: ["event-log", "flow-counter"],
      options: ["event-log.events=http.request,http.response,dns"],
      format: "json",
      stats: true,
    });
    writeFileSync(join(out, `${name}.ndjson`), result.stdout);
    writeFileSync(join(out, `${name}.stats.json`), [...result.errors, JSON.stringify(result.stats)].join("\n") + "\n");
  }

  const http = compare(out, "http");
  const requests = http.summary;
  const responses = requests.responses!;
  t.comment(`http: ${requests.matched}/${requests.expected} requests, ${responses.matched}/${responses.expected} responses over ${requests.files_compared} files`);
  t.ok(requests.expected > 0 && percent(requests.matched, requests.expected) >= kMinPercent, "HTTP requests", { report: http.report });
  t.ok(responses.expected > 0 && percent(responses.matched, responses.expected) >= kMinPercent, "HTTP responses", { report: http.report });

  const dns = compare(out, "dns");
  t.comment(`dns: ${dns.summary.matched}/${dns.summary.expected} messages over ${dns.summary.files_compared} files`);
  t.ok(dns.summary.expected > 0 && percent(dns.summary.matched, dns.summary.expected) >= kMinPercent, "DNS messages", { report: dns.report });

  const flows = compare(out, "flows");
  t.comment(`flows: ${flows.summary.matched}/${flows.summary.expected} conversations over ${flows.summary.files_compared} files`);
  t.ok(flows.summary.expected > 0 && percent(flows.summary.matched, flows.summary.expected) >= kMinPercent, "flows", { report: flows.report });
});
