import { definePlugin, type HttpRequestEvent, type HttpResponseEvent, type TcpEvent } from "../core/plugins/plugin-api.ts";

/** Escapes a payload for a terminal: printable ASCII as is, \r \n \t, everything else as \xNN. */
function escapePayload(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) {
    if (b >= 0x20 && b < 0x7f && b !== 0x5c) s += String.fromCharCode(b);
    else if (b === 0x0d) s += "\\r";
    else if (b === 0x0a) s += "\\n";
    else if (b === 0x09) s += "\\t";
    else if (b === 0x5c) s += "\\\\";
    else s += `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return s;
}

const kPrintable = /^[\x21-\x7e]*$/;
const kPrintableOrSpace = /^[\x20-\x7e]*$/;

/**
 * A message field for a text line: control bytes and bytes above 0x7e (the head's bytes, one character
 * each) as \xNN, as tcpdump and Zeek print them, so that a capture cannot send escape sequences to the
 * terminal; spaces too unless `spaces`, so that the line's fields stay apart. Most fields have none of
 * these: they are returned as they are, without a copy.
 */
function shown(s: string, spaces = false): string {
  // A regular expression is three times as fast as a loop over the characters here (per message, the
  // URI is the longest field).
  if ((spaces ? kPrintableOrSpace : kPrintable).test(s)) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += (c > 0x20 && c <= 0x7e) || (c === 0x20 && spaces) ? s[i] : `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** The bytes in base64, as Suricata's EVE JSON gives a payload (btoa: web standard, Node and Deno). */
function base64(bytes: Uint8Array): string {
  let binary = "";
  // fromCharCode takes its bytes as arguments: a few thousand at a time stays far below the limit.
  for (let i = 0; i < bytes.length; i += 4096) binary += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return btoa(binary);
}

/**
 * Connections whose payload is held until they turn out to be HTTP (or not), and bytes per connection.
 * Each held segment counts its payload and kSegmentCost more: its record and copy cost memory of their
 * own, and a connection of one-byte segments must not hold a hundred times the bound.
 */
const kMaxHeldConnections = 1024;
const kMaxHeldBytes = 64 * 1024;
const kSegmentCost = 256;

/** What a payload line shows of a segment. */
type HeldSegment = Pick<TcpEvent, "ts" | "frame" | "src" | "sport" | "dst" | "dport" | "payload">;

/** "a:port", with IPv6 addresses in brackets so the port stays readable. */
function endpoint(addr: string, port: number): string {
  return addr.includes(":") ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/**
 * Prints HTTP requests and responses as they complete, on any port (HTTP is found by content).
 * With payload=true it also prints the TCP payload of HTTP connections, escaped, like the classic
 * sniffer examples that print the payload of port 80 segments.
 */
export default definePlugin({
  name: "http-printer",
  description: "Prints HTTP/1.x requests and responses (and optionally raw TCP payloads) as they are seen",
  options: {
    payload: { type: "boolean", default: false, description: "also print the TCP payload of HTTP connections, escaped" },
  },
  setup(ctx) {
    const json = ctx.format === "json";
    // With payload=true: prints the payload a connection held before its first message (see below).
    let beforeMessage: ((ev: HttpRequestEvent | HttpResponseEvent) => void) | null = null;
    ctx.on("http.request", (req: HttpRequestEvent) => {
      beforeMessage?.(req);
      if (json) ctx.out.json({ type: "http.request", ...req.toJSON() });
      else {
        // "-" for a missing Host (HTTP/1.0), as Zeek logs an unset field, so the columns stay in place.
        ctx.out.line(
          `${req.ts.toFixed(6)} ${endpoint(req.src, req.sport)} -> ${endpoint(req.dst, req.dport)} ${shown(req.method)} ${req.host === "" ? "-" : shown(req.host)} ${shown(req.uri)} ${shown(req.version)}`,
        );
      }
    });
    ctx.on("http.response", (res: HttpResponseEvent) => {
      beforeMessage?.(res);
      if (json) ctx.out.json({ type: "http.response", ...res.toJSON() });
      else {
        const status = res.reason === "" ? String(res.status) : `${res.status} ${shown(res.reason, true)}`;
        ctx.out.line(`${res.ts.toFixed(6)} ${endpoint(res.src, res.sport)} -> ${endpoint(res.dst, res.dport)} ${status}`);
      }
    });
    if (!ctx.options.payload) return;

    // Connections known to carry HTTP (by their endpoints), plus the usual HTTP ports. A segment's
    // `tcp` event comes before the `http.request` it completes, so on another port the payload of a
    // connection not known yet is held (bounded) until its first message says it is HTTP, then printed
    // before that message's line, in the order it came; what a connection holds is dropped when it ends.
    const httpConnections = new Set<string>();
    const held = new Map<string, { segments: HeldSegment[] | null; bytes: number }>();
    const key = (a: string, ap: number, b: string, bp: number) => (a < b || (a === b && ap < bp) ? `${a}|${ap}|${b}|${bp}` : `${b}|${bp}|${a}|${ap}`);
    const printPayload = (seg: HeldSegment) => {
      const text = escapePayload(seg.payload);
      if (json) {
        // The bytes themselves in base64, and the escaped text for reading (JSON escapes it once more).
        const { ts, frame, src, sport, dst, dport } = seg;
        ctx.out.json({ type: "tcp.payload", ts, frame, src, sport, dst, dport, payload: base64(seg.payload), payload_escaped: text });
      } else {
        ctx.out.line(`${seg.ts.toFixed(6)} ${endpoint(seg.src, seg.sport)} -> ${endpoint(seg.dst, seg.dport)} payload ${text}`);
      }
    };
    beforeMessage = (ev) => {
      const k = key(ev.src, ev.sport, ev.dst, ev.dport);
      if (httpConnections.has(k)) return;
      httpConnections.add(k);
      const waiting = held.get(k);
      held.delete(k);
      for (const seg of waiting?.segments ?? []) printPayload(seg);
    };
    ctx.on("flow.end", (f) => {
      const k = key(f.a, f.aport, f.b, f.bport);
      httpConnections.delete(k);
      held.delete(k);
    });
    ctx.on("tcp", (seg: TcpEvent) => {
      if (seg.payload_length === 0) return;
      const web = seg.sport === 80 || seg.dport === 80 || seg.sport === 8080 || seg.dport === 8080;
      if (web) return printPayload(seg);
      const k = key(seg.src, seg.sport, seg.dst, seg.dport);
      if (httpConnections.has(k)) return printPayload(seg);
      let entry = held.get(k);
      if (entry === undefined) {
        if (held.size >= kMaxHeldConnections) held.delete(held.keys().next().value!);
        entry = { segments: [], bytes: 0 };
        held.set(k, entry);
      }
      if (entry.segments === null) return;
      entry.bytes += seg.payload_length + kSegmentCost;
      // More than the bound without a message: stop holding (the host may still find HTTP there later,
      // and those segments are printed once it does; the ones let go here are not).
      if (entry.bytes > kMaxHeldBytes) entry.segments = null;
      else {
        // The event and its payload are valid only during this call: keep a copy of what printing needs.
        const { ts, frame, src, sport, dst, dport } = seg;
        entry.segments.push({ ts, frame, src, sport, dst, dport, payload: seg.payload.slice() });
      }
    });
  },
});
