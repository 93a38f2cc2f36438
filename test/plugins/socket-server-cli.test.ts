/**
 * The socket-server plugin in the real CLI (`node core/bin.js`), on a synthetic capture of 100k
 * packets from test/bench/make-capture.ts: a reader that stops reading neither stalls nor grows the
 * host, a client that floods commands without reading the replies does not grow it (peak RSS compared
 * with a run without that behaviour, from the `--stats` line), and SIGINT during a run ends every
 * connection with the stats line and a clean close.
 */
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import t from "tap";
import { makeCapture } from "../bench/make-capture.ts";
import { tempFolder } from "../app/app-run.ts";
import { eventLines, startCli, subscribedClient, type Line } from "./socket-server-harness.ts";

const kPackets = 100_000;
/**
 * How much more the host may grow with the misbehaving client than without it. Peak RSS depends on
 * when the collector runs: with the flooder, ten pairs of runs differed by -15 to +52 MiB, the
 * largest under the load of the whole suite. What the client would cost if it were buffered is far
 * more (about 150 MiB for the flooder's replies, checked in each test), so the margin still tells
 * the two apart.
 */
const kRssMarginMiB = 64;
const MiB = 1048576;

const capture = join(tempFolder(t), "synthetic.pcap");
makeCapture(capture, { packets: kPackets, seed: 1 });

/** `node core/bin.js -r capture --stats --format json --plugins socket-server` with a free port and `options`. */
const hostArgs = (...options: string[]) => [
  "-r",
  capture,
  "--stats",
  "--format",
  "json",
  "--plugins",
  "socket-server",
  ...["port=0", ...options].flatMap((o) => ["-o", `socket-server.${o}`]),
];

/** Peak RSS of a run, from its stats line. */
const peakRss = (stats: Line | null): number => {
  if (stats === null) throw new Error("The run printed no stats line");
  return stats.max_rss as number;
};

t.test("a reader that stops reading loses events, is told how many, and neither stalls nor grows the host", async (t) => {
  const perPacket = ["packet", "ethernet", "ipv4", "tcp"];
  // Without the slow reader: one client that reads everything (and so has the same events built).
  const baseline = startCli(hostArgs("wait=1", "queue=1000"));
  const alone = await subscribedClient(await baseline.port, perPacket);
  await alone.rest();
  const base = await baseline.done;
  t.equal(base.status, 0);

  const run = startCli(hostArgs("wait=2", "queue=1000"));
  const port = await run.port;
  const slow = await subscribedClient(port, perPacket);
  slow.pause();
  const fast = await subscribedClient(port, perPacket);
  const fastLines = await fast.rest();
  // The host has sent its final lines: the slow reader catches up now, within the time it is given.
  slow.resume();
  const slowLines = await slow.rest();
  const outcome = await run.done;
  t.equal(outcome.status, 0, "the run ends well");
  t.equal(outcome.stats?.packets, kPackets, "the whole capture was read");
  t.equal(await slow.closed, "end", "the slow reader is closed cleanly");

  const stats = slowLines[slowLines.length - 1];
  t.match(stats, { type: "stats", packets: kPackets }, "its last line is the stats line");
  const missed = stats.dropped_for_you as number;
  t.ok(missed > 0, `it lost events (${missed})`);
  const notices = slowLines.filter((l) => l.type === "dropped").map((l) => l.count as number);
  t.ok(notices.length > 0, "it was told it missed events");
  t.equal(
    notices.reduce((a, b) => a + b, 0),
    missed,
    "the dropped notices add up to dropped_for_you",
  );
  const received = eventLines(slowLines).length;
  t.equal(received + missed, stats.events_sent, "every event was either sent to it or counted as missed");
  t.equal(fastLines[fastLines.length - 1].events_sent, stats.events_sent, "both clients were offered the same events");

  // Had the missed lines been kept for it, the host would have grown by about this much.
  const meanLine = slow.bytes / slow.lines.length;
  const keptMiB = (missed * meanLine) / MiB;
  t.ok(keptMiB > kRssMarginMiB, `what the slow reader missed (${keptMiB.toFixed(0)} MiB) exceeds the margin`);
  const grew = (peakRss(outcome.stats) - peakRss(base.stats)) / MiB;
  t.ok(grew < kRssMarginMiB, `peak RSS grew by ${grew.toFixed(1)} MiB with the slow reader (at most ${kRssMarginMiB})`);
});

t.test("a client that floods commands without reading the replies does not grow the host", async (t) => {
  // "AUTH" without a token configured is a good command: each one is answered with a 35-byte line,
  // more than the kernel's socket buffers hold.
  const commands = 500_000;
  const flood = "AUTH\n".repeat(commands);
  const runWith = async (reads: boolean) => {
    const host = startCli(hostArgs("wait=1"));
    const port = await host.port;
    const flooder = connect(port, "127.0.0.1");
    const closed = new Promise<void>((resolve) => flooder.once("close", () => resolve()));
    flooder.on("error", () => {});
    let replies = 0;
    flooder.on("data", (chunk: Buffer) => {
      for (const b of chunk) if (b === 0x0a) replies++;
    });
    if (!reads) flooder.pause();
    await new Promise((resolve) => flooder.once("connect", resolve));
    flooder.write(flood);
    // Not an assertion on time: the pause gives the host the chance to take in the whole flood,
    // which it must not do while the replies pile up unread. The result does not depend on it.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    flooder.resume();
    const good = await subscribedClient(port, ["flow.end"]);
    const goodLines = await good.rest();
    await closed;
    const outcome = await host.done;
    return { outcome, goodLines, replies };
  };
  const base = await runWith(true);
  const flooded = await runWith(false);
  for (const { outcome, goodLines } of [base, flooded]) {
    t.equal(outcome.status, 0);
    t.equal(outcome.stats?.packets, kPackets);
    t.match(goodLines[goodLines.length - 1], { type: "stats", packets: kPackets, dropped_for_you: 0 }, "the other client got everything");
  }
  t.ok(flooded.replies > 0, `the flooder was answered (${flooded.replies} lines)`);
  // Queued whole, the replies (500k small objects) made the host grow by about 150 MiB: the bug this
  // test was written for.
  const grew = (peakRss(flooded.outcome.stats) - peakRss(base.outcome.stats)) / MiB;
  t.ok(grew < kRssMarginMiB, `peak RSS grew by ${grew.toFixed(1)} MiB with the flooder not reading (at most ${kRssMarginMiB})`);
});

t.test("a client that reads as fast as it can gets every per-packet event, with the default queue", async (t) => {
  // A batch of frames is dispatched in slices with event-loop turns between them, so the client's
  // lines go out while the rest is dispatched: its queue never holds a whole batch (4096 packets,
  // four lines each), which used to overflow it whatever the client's speed.
  const host = startCli(hostArgs("wait=1"));
  const client = await subscribedClient(await host.port, ["packet", "ethernet", "ipv4", "tcp"]);
  const lines = await client.rest();
  const outcome = await host.done;
  t.equal(outcome.status, 0);
  const stats = lines[lines.length - 1];
  t.match(stats, { type: "stats", packets: kPackets, dropped_for_you: 0 }, "nothing was dropped for it");
  const events = eventLines(lines);
  t.equal(events.length, stats.events_sent, `it read every event the server sent (${events.length})`);
  t.equal(events.filter((l) => l.type === "packet").length, kPackets, "one packet line per packet");
});

t.test("SIGINT during a run: clients get the stats line and a clean close, and the host exits 0", async (t) => {
  // The capture comes through a pipe that stays open, half written: the run cannot end before the
  // signal, however fast the host is.
  const host = startCli(["-r", "-", ...hostArgs("wait=1").slice(2)], "node", "pipe");
  const bytes = readFileSync(capture);
  host.stdin!.on("error", () => {});
  host.stdin!.write(bytes.subarray(0, bytes.length >> 1));
  const client = await subscribedClient(await host.port, ["packet"]);
  const first = await client.next();
  t.equal(first.type, "packet", "the capture is under way");
  host.kill("SIGINT");
  const lines = await client.rest();
  t.equal(await client.closed, "end", "a clean close");
  const outcome = await host.done;
  t.equal(outcome.status, 0, "exit status 0");
  const packets = outcome.stats?.packets as number;
  t.ok(packets < kPackets, `the capture was cut short (${packets} of ${kPackets} packets)`);
  const last = lines[lines.length - 1];
  t.match(last, { type: "stats", packets }, "the last line is the stats line, with the packets the host read");
  t.equal(lines.filter((l) => l.type === "stats").length, 1, "one stats line");
  host.stdin!.destroy();
});

t.test("SIGINT while the host waits for clients: the waiting client gets the stats line and a clean close", async (t) => {
  const host = startCli(hostArgs("wait=2"));
  const client = await subscribedClient(await host.port, ["flow.end"]);
  host.kill("SIGINT");
  const lines = await client.rest();
  t.equal(await client.closed, "end", "a clean close");
  const outcome = await host.done;
  t.equal(outcome.status, 0, "exit status 0");
  t.equal(outcome.stats?.packets, 0, "no capture was started");
  t.match(lines, [{ type: "stats", packets: 0, events_sent: 0, dropped_for_you: 0 }], "the stats line, and nothing else");
});
