/**
 * packet-printer, the default plugin: when each line is written (a packet read from a slow pipe is
 * printed before the next one arrives, as tcpdump does), and what it prints.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { Readable } from "node:stream";
import t from "tap";
import { repoRoot } from "../support/host-run.ts";
import { ethernet, ipv4, udp } from "../support/packet-builders.ts";
import { encodePcap, encodePcapHeader, kPcapHeaderLength } from "../support/pcap-writer.ts";

/**
 * How long a test waits for the host to start and deliver its first packet: a guard against a hang,
 * not a timed assertion (it is far above what startup takes, even on a loaded machine).
 */
const kStartGuardMs = 30_000;
/**
 * How long packet-printer's line may follow another plugin's line for the same packet. The line is
 * written before the end of the batch that delivered the packet, so in practice it comes in the same
 * write as the other plugin's; this only leaves room for a slow machine.
 */
const kSameBatchMs = 2_000;

/** Collects a stream's lines and lets a test wait for one. */
class LineWaiter {
  readonly lines: string[] = [];
  private partial = "";
  private wake: (() => void) | null = null;
  private ended = false;

  constructor(stream: Readable) {
    stream.setEncoding("utf8");
    stream.on("data", (text: string) => {
      const parts = (this.partial + text).split("\n");
      this.partial = parts.pop() ?? "";
      this.lines.push(...parts);
      this.wake?.();
    });
    stream.on("end", () => {
      this.ended = true;
      this.wake?.();
    });
  }

  /** Resolves with the first line that satisfies `test`; rejects after `ms`, naming `what` and the lines so far. */
  async waitFor(test: (line: string) => boolean, ms: number, what: string): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.lines.find(test);
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (this.ended || left <= 0) {
        throw new Error(`Gave up waiting for ${what} after ${ms} ms${this.ended ? " (stdout ended)" : ""}; lines so far: ${JSON.stringify(this.lines)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }
}

t.test("a packet read from a slow pipe is printed before the next packet is written to the pipe", async (t) => {
  const frames = [1, 2].map((i) => ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 40000, dport: 9999 }, `hello ${i}`))));
  const capture = encodePcap(
    frames.map((data, i) => ({ data, timestamp: { sec: 1700000000 + i, nsec: 0 } })),
    { resolution: "nano" },
  );
  const firstRecordEnd = kPcapHeaderLength + 16 + frames[0]!.length;
  t.same(capture.subarray(0, kPcapHeaderLength), encodePcapHeader({ resolution: "nano" }), "the capture starts with its global header");
  const expected = ["1700000000.000000 IP 192.0.2.1.40000 > 192.0.2.2.9999: UDP, length 7", "1700000001.000000 IP 192.0.2.1.40000 > 192.0.2.2.9999: UDP, length 7"];

  // event-log writes its line for a packet while the packet's events are delivered: once it shows on
  // stdout, the host has dispatched the first packet, whatever time it took to start.
  const child = spawn(
    process.execPath,
    [join(repoRoot, "core/bin.js"), "-r", "-", "--workers", "1", "--plugins", "packet-printer,event-log", "-o", "event-log.events=packet"],
    { cwd: repoRoot, stdio: ["pipe", "pipe", "pipe"] },
  );
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill();
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  const out = new LineWaiter(child.stdout);

  child.stdin.write(capture.subarray(0, firstRecordEnd));
  await out.waitFor((line) => line.startsWith("packet ") && line.includes(" frame=1 "), kStartGuardMs, "event-log's line for the first packet");
  const first = await out.waitFor((line) => line.includes(" IP "), kSameBatchMs, "packet-printer's line for the first packet, with the second not yet written");
  t.equal(first, expected[0], "the first packet's line is complete");

  child.stdin.end(capture.subarray(firstRecordEnd));
  t.equal(await exited, 0, stderr);
  t.same(
    out.lines.filter((line) => line.includes(" IP ")),
    expected,
    "each packet is printed once, in order",
  );
});
