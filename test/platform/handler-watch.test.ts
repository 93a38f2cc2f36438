import t from "tap";
import { HandlerWatch } from "../../core/plugins/handler-watch.ts";

/** The plugin a watching thread would name: the first word of the shared state. */
const running = (watch: HandlerWatch): number => new Int32Array(watch.buffer)[0]!;

t.test("HandlerWatch names the innermost running plugin, and the outer one again once an inner call returns", async (t) => {
  const watch = new HandlerWatch();
  const a = watch.register("a");
  const b = watch.register("b");
  t.same([a, b, running(watch)], [1, 2, 0], "numbered from 1; 0 while no handler runs");
  const outerOfA = watch.enter(a);
  // a emits an event that b handles, inside a's call.
  const outerOfB = watch.enter(b);
  t.equal(running(watch), b);
  watch.leave(outerOfB);
  t.equal(running(watch), a, "a is still running: if it loops now, a is the one named");
  watch.leave(outerOfA);
  t.equal(running(watch), 0);
  t.equal(new TextDecoder().decode(new Uint8Array(watch.buffer, 16, new Int32Array(watch.buffer)[3]!)), "a\nb", "the names a watching thread reads");
});
