/**
 * The helper threads (decode workers, file reader) run nicer than the main thread, which delivers
 * every event and must come first when the cores are short.
 */
import t from "tap";
import { readdirSync } from "node:fs";
import { procStatFields } from "../../core/runtime/thread-cpu.ts";
import { kernelThreadId, kHelperThreadNice, lowerThisThreadPriority } from "../../core/runtime/thread-priority.ts";
import { runApp } from "../app/app-run.ts";
import { pluginFolder, smallCapture, writePlugin } from "../platform/plugin-fixtures.ts";
import { moduleThread } from "../support/module-thread.ts";

const linux = process.platform === "linux";
const priorityModule = new URL("../../core/runtime/thread-priority.ts", import.meta.url);

/** Nice value of thread `tid` of this process (field 19 of its stat file). */
function niceOf(tid: number): number {
  return Number(procStatFields(`/proc/self/task/${tid}/stat`)[16]);
}

/** Nice values of every thread of this process. */
function threadNices(): number[] {
  return readdirSync("/proc/self/task").map((tid) => niceOf(Number(tid)));
}

t.test("a thread that lowers its priority is nicer by that much; the main thread is not", { skip: !linux && "Linux keeps a nice value per thread" }, async (t) => {
  const mainNice = niceOf(process.pid);
  t.equal(kernelThreadId(), process.pid, "the main thread's id is the process id");
  const w = moduleThread(
    priorityModule,
    `parentPort.postMessage({ tid: m.kernelThreadId(), after: m.lowerThisThreadPriority(5) });
     setTimeout(() => {}, 5000);`,
  );
  t.teardown(() => w.terminate());
  const { tid, after } = (await new Promise((resolve, reject) => {
    w.once("message", resolve);
    w.once("error", reject);
  })) as { tid: number; after: number };
  t.not(tid, process.pid, "a worker has a thread id of its own");
  t.equal(after, Math.min(19, mainNice + 5));
  t.equal(niceOf(tid), Math.min(19, mainNice + 5), "as the kernel sees it");
  t.equal(niceOf(process.pid), mainNice, "the main thread keeps its priority");
});

t.test("lowering stops at 19", { skip: !linux && "Linux keeps a nice value per thread" }, async (t) => {
  const w = moduleThread(priorityModule, "m.lowerThisThreadPriority(15); parentPort.postMessage(m.lowerThisThreadPriority(15));");
  t.teardown(() => w.terminate());
  t.equal(await new Promise((resolve) => w.once("message", resolve)), 19);
});

t.test("during a run the decode workers are nicer than the main thread", { skip: !linux && "Linux keeps a nice value per thread" }, async (t) => {
  const dir = pluginFolder(t);
  // The plugin cannot read /proc itself (plugins use no node: modules): it calls the probe this test
  // leaves on globalThis, once the pool is running.
  writePlugin(dir, "probe", `{
    name: "probe",
    description: "",
    setup(ctx) { let done = false; ctx.on("packet", () => { if (!done) { done = true; (globalThis as any).probeThreads(); } }); },
  }`);
  let seen: number[] = [];
  (globalThis as { probeThreads?: () => void }).probeThreads = () => (seen = threadNices());
  t.teardown(() => delete (globalThis as { probeThreads?: () => void }).probeThreads);
  const mainNice = niceOf(process.pid);
  const r = await runApp(smallCapture(dir, 3), { plugins: ["probe"], pluginDirs: [dir], workers: 2 });
  t.equal(r.status, 0);
  const helperNice = Math.min(19, mainNice + kHelperThreadNice);
  const nicer = seen.filter((n) => n === helperNice).length;
  t.ok(nicer >= 2, `two decode workers at nice ${helperNice}: ${seen.join(" ")}`);
  t.equal(niceOf(process.pid), mainNice, "the main thread keeps its priority");
});

t.test("lowerThisThreadPriority says when it cannot", { skip: linux && "on Linux it can" }, async (t) => {
  t.equal(lowerThisThreadPriority(1), null);
});
