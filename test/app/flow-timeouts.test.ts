import t from "tap";
import { fileURLToPath } from "node:url";
import { parseCommandLine } from "../../core/cli.ts";
import { runHost } from "../../core/run.ts";
import { defaultFlowSettings } from "../../core/flows/flow-analyzer.ts";

const sample = fileURLToPath(new URL("../fixtures/sample.pcap", import.meta.url));

async function flowStates(args: string[]): Promise<string[]> {
  const config = await parseCommandLine(["-r", sample, "--plugins", "flow-counter", "--format", "json", "--workers", "1", ...args], () => {});
  const chunks: string[] = [];
  await runHost(config!, { stdout: (c) => void chunks.push(c), stderr: () => {}, progress: false });
  return chunks
    .join("")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => (JSON.parse(l) as { proto: string; state: string }))
    .map((f) => `${f.proto}:${f.state}`);
}

t.test("--flow-timeouts sets the idle timeouts: short ones end the sample's UDP flows as timeouts", async (t) => {
  const byDefault = await flowStates([]);
  t.notOk(byDefault.some((s) => s === "udp:timeout"), "with the defaults, UDP flows are still open at the end");
  const short = await flowStates(["--flow-timeouts", "udp=0.0001"]);
  t.ok(short.filter((s) => s === "udp:timeout").length >= 2, short.join(" "));
});

t.test("--flow-timeouts starts from the defaults and refuses what is not seconds", async (t) => {
  const config = await parseCommandLine(["-r", sample, "--flow-timeouts", "tcp=10"], () => {});
  t.same(config!.flowSettings, { ...defaultFlowSettings, tcpTimeout: 10 });
  await t.rejects(parseCommandLine(["-r", sample, "--flow-timeouts", "tcp=ten"], () => {}), { name: "UsageError", message: /--flow-timeouts "tcp=ten"/ });
  await t.rejects(parseCommandLine(["-r", sample, "--flow-timeouts", "icmp=5"], () => {}), { name: "UsageError" });
});
