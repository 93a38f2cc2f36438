/**
 * The flow table and the application parsers run on the main thread in capture order, so what the
 * plugins print must not depend on how many decode workers there are. Each capture is run with
 * http-printer, flow-counter and event-log (JSON) on 1, 2 and 4 workers, and stdout compared byte
 * for byte. The ring is the 1 MiB minimum, so that thousands of packets wrap it many times.
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import t from "tap";
import { makeCapture } from "../bench/make-capture.ts";
import { jsonLines, runApp, tempFolder } from "./app-run.ts";

const kSample = fileURLToPath(new URL("../fixtures/sample.pcap", import.meta.url));
const plugins = ["http-printer", "flow-counter", "event-log"];

/** stdout of a run on `file` with `workers` decode workers. */
async function output(file: string, workers: number): Promise<string> {
  const result = await runApp(file, { plugins, workers, format: "json" });
  if (result.status !== 0 || result.errors.length > 0) throw new Error(`The run with ${workers} workers failed: ${result.errors.join("\n")}`);
  return result.stdout;
}

/** How many records of each type the output holds. */
function typeCounts(stdout: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of jsonLines(stdout.split("\n").filter((l) => l !== ""))) counts[r.type as string] = (counts[r.type as string] ?? 0) + 1;
  return counts;
}

t.test("a synthetic capture of 4000 packets gives byte-identical output on 1, 2 and 4 workers", async (t) => {
  const dir = tempFolder(t);
  const file = join(dir, "synthetic.pcap");
  const summary = makeCapture(file, { packets: 4000, seed: 11 });
  const one = await output(file, 1);
  const counts = typeCounts(one);
  // http-printer and event-log both write each HTTP message; event-log also writes each flow.end.
  t.equal(counts["http.request"], 2 * summary.httpRequests, "every generated HTTP request is reported");
  t.equal(counts.flow, summary.flows, "every generated flow is counted");
  t.ok((counts.dns ?? 0) > 0, "DNS is in the output");
  t.equal(await output(file, 2), one, "2 workers");
  t.equal(await output(file, 4), one, "4 workers");
});

t.test("the sample capture gives byte-identical output on 1, 2 and 4 workers", async (t) => {
  const one = await output(kSample, 1);
  const counts = typeCounts(one);
  t.ok(counts["http.request"]! > 0 && counts.dns! > 0 && counts["tls.client_hello"]! > 0 && counts.flow! > 0, "HTTP, DNS, TLS and flows are in the output");
  t.equal(await output(kSample, 2), one, "2 workers");
  t.equal(await output(kSample, 4), one, "4 workers");
});
