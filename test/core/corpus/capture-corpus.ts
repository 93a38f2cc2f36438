/**
 * Reads the shared capture corpus (`../shared/captures`, next to the repository) in-process with
 * runHost, one file at a time (1 worker, the smallest ring, no plugins, `--stats --format json`), and
 * checks each file's packet count against what capinfos/tshark reported (`expected/SET/NAME.json`).
 * The corpus is large and every run starts a worker thread, so the test files split it in shards.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Test } from "tap";
import { repoRoot, runCapture } from "../../support/host-run.ts";

/** The shared captures folder. */
export const corpusRoot = join(repoRoot, "..", "shared", "captures");

/** A skip reason when the corpus is not there, otherwise false. */
export const corpusMissing: string | false = existsSync(corpusRoot) ? false : `${corpusRoot} does not exist: the shared capture corpus is not installed here`;

/** A run that takes longer than this is a hang (the largest capture reads in well under a second). */
const kPerFileTimeoutMs = 30_000;

/** What capinfos and tshark said about one capture. */
interface Expected {
  readable: boolean;
  packets: number | null;
}

/** Reads every capture of `set` whose index is `shard` modulo `shards` and compares its packet count. */
export async function checkCorpus(t: Test, set: "zeek" | "tcpdump", shard = 0, shards = 1): Promise<void> {
  const dir = join(corpusRoot, set);
  const names = readdirSync(dir)
    .filter((name) => !name.startsWith("."))
    .sort()
    .filter((_, i) => i % shards === shard);
  let matched = 0;
  let skipped = 0;
  const problems: string[] = [];
  for (const name of names) {
    const expectedFile = join(corpusRoot, "expected", set, `${name}.json`);
    if (!existsSync(expectedFile)) {
      skipped++;
      continue;
    }
    const expected = JSON.parse(readFileSync(expectedFile, "utf8")) as Expected;
    if (!expected.readable || expected.packets === null) {
      skipped++;
      continue;
    }
    const file = join(dir, name);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), kPerFileTimeoutMs);
    try {
      const run = await runCapture(file, { workers: 1, ringBytes: 1 << 20, signal: controller.signal });
      if (controller.signal.aborted) problems.push(`${name}: still running after ${kPerFileTimeoutMs / 1000} s`);
      // Frames of a link type the host does not decode are said once, with their count.
      const linkWarning = run.errors.filter((l) => l.startsWith("host: warning: ") && l.includes(" were counted but not decoded: "));
      const expectedWarnings = run.stats.unsupported > 0 ? [`host: warning: ${run.stats.unsupported} frame(s) were counted`] : [];
      if (linkWarning.length !== expectedWarnings.length || !linkWarning.every((l, i) => l.startsWith(expectedWarnings[i]!))) {
        problems.push(`${name}: ${run.stats.unsupported} frames of unsupported link types, warned: ${JSON.stringify(linkWarning)}`);
      }
      const errors = run.errors.filter((l) => !linkWarning.includes(l));
      // A damaged file ends with status 1 and one line naming it; anything else is a failure of the host.
      const damagedOk = run.status === 1 && errors.length === 1 && errors[0]!.startsWith(`host: ${file}: `);
      if (run.status !== 0 && !damagedOk) problems.push(`${name}: status ${run.status}, stderr ${JSON.stringify(run.errors)}`);
      else if (run.status === 0 && errors.length > 0) problems.push(`${name}: stderr ${JSON.stringify(run.errors)}`);
      if (run.stats.packets === expected.packets) matched++;
      else problems.push(`${name}: ${run.stats.packets} packets, expected ${expected.packets}`);
    } catch (err) {
      problems.push(`${name}: runHost threw ${(err as Error).stack ?? String(err)}`);
    } finally {
      clearTimeout(timer);
    }
  }
  t.comment(`${set}${shards > 1 ? ` shard ${shard + 1}/${shards}` : ""}: ${matched} of ${names.length - skipped} readable captures matched (${skipped} skipped: unreadable or without expectations)`);
  t.ok(names.length - skipped > 0, "there were captures to read");
  t.same(problems, [], "every readable capture gives the expected packet count, without a crash or a hang");
}
