import { definePlugin, eventRecord, type OutputWriter } from "../core/plugins/plugin-api.ts";

/** Characters that make a text value quoted: blanks and control characters (C0, DEL, C1). */
const kQuoted = /[\s\x00-\x1f\x7f-\x9f]/;
const kC1 = /[\x7f-\x9f]/g;

/**
 * A value for a text line: as it is, or quoted as a JSON string when it holds blanks or control
 * characters (JSON leaves DEL and C1 as they are; they are escaped too, so that nothing from a capture
 * reaches the terminal as a control sequence).
 */
function textValue(v: string): string {
  if (!kQuoted.test(v)) return v;
  return JSON.stringify(v).replace(kC1, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
}

/** "key=value" pairs of the scalar fields, for --format text. */
function textLine(rec: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(rec)) {
    if (k === "type" || v === null || typeof v === "object") continue;
    parts.push(`${k}=${typeof v === "string" ? textValue(v) : String(v)}`);
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
    file: { type: "string", default: "", description: "write to this file instead of stdout (\"-\": stdout)" },
  },
  async setup(ctx) {
    if (ctx.options.events.length === 0) ctx.fail(`-o event-log.events names no event: give at least one, e.g. -o event-log.events=dns,flow.end`);
    const out: OutputWriter = ctx.options.file === "" || ctx.options.file === "-" ? ctx.out : await ctx.openOutput(ctx.options.file);
    const json = ctx.format === "json";
    for (const name of ctx.options.events) {
      // Events of other plugins ("plugin.event") are accepted: they may appear once those plugins
      // start. A misspelt built-in event ("http.requests") is refused rather than logging nothing.
      if (!ctx.host.accepts(name)) {
        ctx.fail(`unknown event "${name}" in -o event-log.events: events are ${ctx.host.events().join(", ")}`);
      }
      ctx.on(name as "dns", (ev) => {
        const rec = eventRecord(name, ev);
        if (json) out.json(rec);
        else out.line(textLine(rec));
      });
    }
  },
});
