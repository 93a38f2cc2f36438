// Must NOT compile: each marked line misuses the typed plugin API. test/platform/typed-api.test.ts
// runs the type checker on this file and expects an error on exactly the lines marked "error:".
import { definePlugin } from "../../../core/plugins/plugin-api.ts";

export default definePlugin({
  name: "misused-handler",
  description: "",
  options: { top: { type: "number", default: 10, description: "" } },
  setup(ctx) {
    ctx.on("http.request", (req) => req.methd); // error: no such field on HttpRequestEvent
    ctx.on("dns", (msg) => msg.qname.toFixed(2)); // error: qname is a string
    ctx.on("tcp", (seg) => seg.sport.toUpperCase()); // error: sport is a number
    ctx.on("http.requests", () => {}); // error: not an event name
    const top: string = ctx.options.top; // error: the option is a number
    ctx.emit("dns", {} as never); // error: a plugin emits only its own "<name>.<event>" events
    ctx.emit("http.request", {} as never); // error: nor the host's own events with a dot
    ctx.on("flow.end", (f) => void (f.packets_ab = 0)); // error: events are shared, a flow's counters read-only
    ctx.on("dns", (msg) => void msg.answers.push(msg.answers[0]!)); // error: nor can its lists be changed
    void top;
  },
});

export const wrongDefault = definePlugin({
  name: "wrong-default",
  description: "",
  options: { top: { type: "number", default: "10", description: "" } }, // error: a number option's default is a number
  setup() {},
});
