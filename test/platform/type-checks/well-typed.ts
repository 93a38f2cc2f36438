// Must compile: the same API used correctly (the control for misused-handler.ts).
import { definePlugin } from "../../../core/plugins/plugin-api.ts";

export default definePlugin({
  name: "well-typed",
  description: "",
  options: { top: { type: "number", default: 10, description: "" }, names: { type: "list", default: [], description: "" } },
  setup(ctx) {
    ctx.on("http.request", (req) => req.method.toLowerCase());
    ctx.on("dns", (msg) => msg.qname.toUpperCase());
    ctx.on("tcp", (seg) => seg.sport.toFixed(0));
    const top: number = ctx.options.top;
    const names: string[] = ctx.options.names;
    void top;
    void names;
  },
});
