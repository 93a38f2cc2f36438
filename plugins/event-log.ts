import { definePlugin, type OutputWriter } from "../core/plugins/plugin-api.ts";

/** The JSON form of an event: its own `toJSON()` when it has one (views, flows, messages), else itself. */
function record(name: string, ev: unknown): Record<string, unknown> {
  const body = ev !== null && typeof ev === "object" && typeof (ev as { toJSON?: unknown }).toJSON === "function"
    ? (ev as { toJSON(): Record<string, unknown> }).toJSON()
    : (ev as Record<string, unknown>);
  return { type: name, ...body };
}

/** "key=value" pairs of the scalar fields, for --format text. */
function textLine(rec: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(rec)) {
    if (k === "type" || v === null || typeof v === "object") continue;
    parts.push(`${k}=${typeof v === "string" && /\s/.test(v) ? JSON.stringify(v) : String(v)}`);
  }
  return `${rec.type} ${parts.join(" ")}`;
}

/**
 * Writes chosen events, one per line: NDJSON with --format json (the same record the socket server
 * streams), "name key=value ..." with --format text; to stdout or to a file.
 */
export default definePlugin({
  name: "event-log",
  description: "Logs chosen events (NDJSON with --format json) to stdout or a file",
  options: {
    events: {
      type: "list",
      default: ["flow.end", "http.request", "http.response", "dns", "tls.client_hello"],
      description: "events to log, comma-separated (any event name, also those plugins emit)",
    },
    file: { type: "string", default: "", description: "write to this file instead of stdout" },
  },
  async setup(ctx) {
    const out: OutputWriter = ctx.options.file === "" ? ctx.out : await ctx.openOutput(ctx.options.file);
    const json = ctx.format === "json";
    const known = new Set(ctx.host.events());
    // Namespaces of known dotted events ("flow", "http", "tls"): a name in one of them must be known,
    // so that a typo such as "http.requests" is refused rather than logging nothing.
    const namespaces = new Set([...known].filter((n) => n.includes(".")).map((n) => n.slice(0, n.indexOf("."))));
    for (const name of ctx.options.events) {
      // Events of other plugins ("plugin.event") may appear once those plugins start.
      const pluginEvent = /^[a-z0-9_-]+\.[a-z0-9_.-]+$/i.test(name) && !namespaces.has(name.slice(0, name.indexOf(".")));
      if (!known.has(name) && !pluginEvent) {
        ctx.fail(`unknown event "${name}" in -o event-log.events: events are ${[...known].join(", ")}`);
      }
      ctx.on(name as "dns", (ev) => {
        const rec = record(name, ev);
        if (json) out.json(rec);
        else out.line(textLine(rec));
      });
    }
  },
});
