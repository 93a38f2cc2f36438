import t from "tap";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";
import { runHost } from "../../core/run.ts";
import { builtinPluginDir } from "../../core/plugins/plugin-loader.ts";
import { groupOptionArgs } from "../../core/plugins/plugin-options.ts";

/**
 * `-f` through the whole host on files: the workers evaluate the filter, filtered-out frames make no
 * events and are not counted. The filter module's own tests cover every (capture, expression) pair;
 * this one checks the wiring on the sample capture and on the zeek captures with two expressions.
 */
const root = fileURLToPath(new URL("../../", import.meta.url));
const zeek = join(root, "..", "shared", "captures", "zeek");
const expected = join(root, "..", "shared", "captures", "expected", "zeek");

async function countPassing(file: string, filter: string): Promise<{ status: number; packets: number; filtered: number; errors: string[] }> {
  const errors: string[] = [];
  const status = await runHost(
    {
      read: file, filter, count: 0, plugins: [], pluginDirs: [builtinPluginDir], workers: 1, ringBytes: 1 << 20,
      format: "json", stats: true, options: groupOptionArgs([]), watch: false, maxPluginErrors: 100, teardownMs: 1000, version: "test",
    },
    { stdout: () => {}, stderr: (l) => void errors.push(l), progress: false },
  );
  const stats = JSON.parse(errors.pop() ?? "{}") as { packets: number; filtered: number };
  return { status, packets: stats.packets, filtered: stats.filtered, errors };
}

t.test("the host counts on the sample capture what tcpdump counts, for each expression", async (t) => {
  const sample = join(root, "test", "fixtures", "sample.pcap");
  const tcpdump = spawnSync("tcpdump", ["--version"]);
  for (const expr of ["tcp port 80", "udp port 53", "vlan", "ip6", "arp", "icmp", "tcp[tcpflags] & tcp-syn != 0", "not tcp and not udp", "greater 1000"]) {
    const r = await countPassing(sample, expr);
    t.equal(r.status, 0, expr);
    t.equal(r.packets + r.filtered, 113, `${expr}: every frame is either counted or filtered out`);
    if (tcpdump.status === 0) {
      const out = spawnSync("tcpdump", ["-nr", sample, expr], { encoding: "utf8" });
      t.equal(r.packets, out.stdout.split("\n").filter((l) => l !== "").length, `${expr}: same count as tcpdump`);
    }
  }
});

t.test("an expression the host cannot handle is a usage error that points at the part", async (t) => {
  await t.rejects(countPassing(join(root, "test", "fixtures", "sample.pcap"), "tcp and protochain 6"), {
    name: "UsageError",
    message: /Unsupported filter primitive 'protochain' at position 8[^\n]*\ntcp and protochain 6\n {8}\^{10}$/,
  });
});

t.test("on the zeek captures the host agrees with tcpdump's filter counts", { skip: existsSync(zeek) ? false : "../shared/captures is not here" }, async (t) => {
  let pairs = 0;
  let equal = 0;
  const differ: string[] = [];
  for (const f of readdirSync(zeek).sort()) {
    const exp = JSON.parse(readFileSync(join(expected, `${f}.json`), "utf8")) as { readable: boolean; filter_counts?: Record<string, number | null> };
    if (!exp.readable) continue;
    for (const expr of ["tcp port 80", "vlan"]) {
      const want = exp.filter_counts?.[expr];
      if (want === null || want === undefined) continue;
      pairs++;
      const r = await countPassing(join(zeek, f), expr);
      if (r.packets === want) equal++;
      else differ.push(`${f} '${expr}': ${r.packets} vs tcpdump ${want}`);
    }
  }
  t.comment(`host -f: ${equal}/${pairs} (capture, expression) pairs equal tcpdump's counts`);
  t.ok(equal / pairs >= 0.99, differ.join("\n"));
});
