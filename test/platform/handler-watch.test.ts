import t from "tap";
import { HandlerWatch, runningPlugin } from "../../core/plugins/handler-watch.ts";

t.test("HandlerWatch names the innermost running plugin, and the outer one again once an inner call returns", async (t) => {
  const watch = new HandlerWatch();
  const a = watch.register("a");
  const b = watch.register("b");
  t.same([a, b, runningPlugin(watch.buffer)], [1, 2, null], "numbered from 1; none while no handler runs");
  const outerOfA = watch.enter(a);
  t.equal(runningPlugin(watch.buffer), "a");
  // a emits an event that b handles, inside a's call.
  const outerOfB = watch.enter(b);
  t.equal(runningPlugin(watch.buffer), "b");
  watch.leave(outerOfB);
  t.equal(runningPlugin(watch.buffer), "a", "a is still running: if it loops now, a is the one named");
  watch.leave(outerOfA);
  t.equal(runningPlugin(watch.buffer), null);
});

t.test("HandlerWatch gives a reloaded plugin its number again, so that names never run out", async (t) => {
  const watch = new HandlerWatch();
  const first = watch.register("reloaded");
  for (let i = 0; i < 1000; i++) watch.register("reloaded");
  const other = watch.register("other");
  t.same([first, watch.register("reloaded"), other], [1, 1, 2]);
  watch.enter(other);
  t.equal(runningPlugin(watch.buffer), "other");
});
