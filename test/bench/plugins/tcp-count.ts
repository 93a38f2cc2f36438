import { definePlugin } from "../../../core/plugins/plugin-api.ts";

/** The benchmark's plugin: counts `tcp` events, and nothing else, so the run measures the pipeline. */
export default definePlugin({
  name: "tcp-count",
  description: "Counts tcp events (benchmark)",
  setup(ctx) {
    let segments = 0;
    ctx.on("tcp", () => {
      segments++;
    });
    ctx.onTeardown(() => ctx.log.info(`${segments} tcp segments`));
  },
});
