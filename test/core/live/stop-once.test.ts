/**
 * Stopping the capture process (stopOnce in core/live/live-capture.ts) with real child processes: a
 * stop request that meets a process which has just exited must not become an 'error' event (which,
 * unhandled, ended the host with a stack trace instead of its final statistics), and only the first
 * request is sent.
 */
import { fork, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { stopOnce } from "../../../core/live/live-capture.ts";

function child(dir: string, source: string): ChildProcess {
  const path = join(dir, "child.cjs");
  writeFileSync(path, source);
  return fork(path, [], { stdio: ["ignore", "ignore", "inherit", "ipc"], execArgv: [] });
}

const gone = (c: ChildProcess) => new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once("exit", () => resolve())));

t.test("a stop request to a process that has just exited is not an error", async (t) => {
  const dir = t.testdir();
  // The process says goodbye and exits at once, as the capture process does once it has delivered its frames.
  const c = child(dir, `process.send("bye"); process.exit(0);`);
  const errors: Error[] = [];
  c.on("error", (err) => errors.push(err));
  const stop = stopOnce(c);
  await new Promise<void>((resolve) =>
    c.once("message", () => {
      // Hold this thread until the process is surely gone: Node has not yet seen its channel close,
      // so the request goes to a socket whose other end is closed.
      const until = Date.now() + 300;
      while (Date.now() < until);
      t.equal(c.connected, true, "the channel still looks open");
      stop();
      resolve();
    }),
  );
  await gone(c);
  await new Promise((r) => setTimeout(r, 100));
  t.same(errors.map((e) => e.message), [], "no error event");
});

t.test("only the first stop is sent; a process no longer connected gets SIGTERM", async (t) => {
  const dir = t.testdir();
  // Counts the stop requests, reports the count when asked, and ends on SIGTERM.
  const c = child(
    dir,
    `let stops = 0;
     process.on("message", (m) => { if (m.type === "stop") stops++; else process.send(stops); });
     process.on("SIGTERM", () => process.exit(3));
     process.send("ready");`,
  );
  await new Promise((resolve) => c.once("message", resolve));
  const stop = stopOnce(c);
  stop();
  stop();
  stop();
  c.send({ type: "count" });
  const count = await new Promise((resolve) => c.once("message", resolve));
  t.equal(count, 1, "one request for three calls");

  const d = child(dir, `process.on("SIGTERM", () => process.exit(3)); process.disconnect(); setTimeout(() => {}, 10000);`);
  await new Promise((resolve) => d.once("disconnect", resolve));
  const code = new Promise((resolve) => d.once("exit", (status) => resolve(status)));
  stopOnce(d)();
  t.equal(await code, 3, "SIGTERM when the channel is closed");
  c.kill("SIGKILL");
  await gone(c);
});
