import { definePlugin, type FlowRecord } from "../core/plugins/plugin-api.ts";

/** "255.255.255.255:65535". */
const kIpv4EndpointWidth = 21;

/** "a:port", with IPv6 addresses in brackets so the port stays readable. */
function endpoint(addr: string, port: number): string {
  return addr.includes(":") ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** Total of a flow in both directions. */
function flowBytes(f: FlowRecord): number {
  return f.bytes_ab + f.bytes_ba;
}

/**
 * Counts flows: one JSON line per flow when it ends (with --format json), and a table of the top
 * flows by bytes with totals per protocol at the end (and every `interval` seconds when live).
 */
export default definePlugin({
  name: "flow-counter",
  description: "Counts flows: top flows by bytes and totals per protocol (JSON: one line per ended flow)",
  options: {
    top: { type: "number", default: 10, description: "how many flows the table shows" },
    interval: { type: "number", default: 0, description: "live capture: print the table every SECONDS (0: only at the end)" },
  },
  setup(ctx) {
    const json = ctx.format === "json";
    if (!Number.isSafeInteger(ctx.options.top) || ctx.options.top < 0) ctx.fail(`top must be a whole number of flows: current value is ${ctx.options.top}`);
    if (!(ctx.options.interval >= 0 && ctx.options.interval <= 2_147_483)) {
      ctx.fail(`interval must be 0 or a number of seconds up to 2147483 (a timer's limit): current value is ${ctx.options.interval}`);
    }
    const top = ctx.options.top;
    const totals = new Map<string, { flows: number; packets: number; bytes: number }>();
    // The `top` biggest ended flows, biggest first: flows end one by one, so a sorted insert into a
    // short array is cheaper than keeping them all.
    const best: FlowRecord[] = [];
    const open = new Set<FlowRecord>();

    ctx.on("flow.start", (f) => void open.add(f));
    ctx.on("flow.end", (f) => {
      open.delete(f);
      const t = totals.get(f.proto) ?? { flows: 0, packets: 0, bytes: 0 };
      t.flows++;
      t.packets += f.packets_ab + f.packets_ba;
      t.bytes += flowBytes(f);
      totals.set(f.proto, t);
      if (json) {
        ctx.out.json({
          type: "flow",
          proto: f.proto,
          a: f.a,
          aport: f.aport,
          b: f.b,
          bport: f.bport,
          packets_ab: f.packets_ab,
          bytes_ab: f.bytes_ab,
          packets_ba: f.packets_ba,
          bytes_ba: f.bytes_ba,
          first: f.first,
          last: f.last,
          state: f.state,
        });
      }
      if (top === 0) return;
      const bytes = flowBytes(f);
      if (best.length === top && flowBytes(best[top - 1]) >= bytes) return;
      let i = best.length;
      while (i > 0 && flowBytes(best[i - 1]) < bytes) i--;
      best.splice(i, 0, f);
      if (best.length > top) best.pop();
    });

    const table = (title: string, flows: FlowRecord[]) => {
      const lines = [title];
      const rows = flows.map((f) => [endpoint(f.a, f.aport), endpoint(f.b, f.bport)]);
      // As wide as the widest endpoint shown (an IPv6 one takes up to 47 characters), and never
      // narrower than an IPv4 one can be, so that IPv4 tables always have the same layout.
      const aWidth = rows.reduce((w, [a]) => Math.max(w, a.length), kIpv4EndpointWidth);
      const bWidth = rows.reduce((w, [, b]) => Math.max(w, b.length), kIpv4EndpointWidth);
      lines.push(`${"proto".padEnd(5)} ${"a".padEnd(aWidth)} ${"b".padEnd(bWidth)} ${"packets".padStart(9)} ${"bytes".padStart(12)} state`);
      flows.forEach((f, i) => {
        const [a, b] = rows[i];
        lines.push(
          `${f.proto.padEnd(5)} ${a.padEnd(aWidth)} ${b.padEnd(bWidth)} ${String(f.packets_ab + f.packets_ba).padStart(9)} ${String(flowBytes(f)).padStart(12)} ${f.state}`,
        );
      });
      for (const [proto, t] of [...totals].sort()) {
        lines.push(`total ${proto}: ${t.flows} flows, ${t.packets} packets, ${t.bytes} bytes`);
      }
      for (const line of lines) ctx.out.line(line);
    };

    if (!json && ctx.live && ctx.options.interval > 0) {
      ctx.setInterval(() => {
        const all = [...best, ...open].sort((x, y) => flowBytes(y) - flowBytes(x)).slice(0, top);
        table(`top ${top} flows by bytes (open and ended so far)`, all);
      }, ctx.options.interval * 1000);
    }
    ctx.onTeardown(() => {
      if (!json) table(`top ${top} flows by bytes`, best);
    });
  },
});
