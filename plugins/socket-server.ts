import { definePlugin, eventRecord, type TcpConnection } from "../core/plugins/plugin-api.ts";

const encoder = new TextEncoder();

/** Compares two strings in time that depends only on their lengths, not on where they differ. */
function sameSecret(given: string, expected: string): boolean {
  const a = encoder.encode(given);
  const b = encoder.encode(expected);
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i] ?? 0) ^ b[i];
  return diff === 0;
}

/** How long event lines may gather before they are written to a client. */
const kFlushMs = 10;
/** Runs written one by one, unless there are more than this and they average less than kMinRunBytes (see drain). */
const kMaxWritesPerBatch = 4;
const kMinRunBytes = 16 * 1024;

/** A connected client: its subscriptions, its bounded output queue and its manners. */
class Client {
  readonly events = new Set<string>();
  /**
   * What waits for the socket, as runs of bytes: consecutive event lines lie back to back in a slab of
   * LineSlabs, so the lines a client gets in a row make one run, which a new line extends. That keeps
   * the cost of an event line to a client at a compare and a store, whatever the number of clients.
   */
  private runs: Run[] = [];
  /** The run an event line may extend: the last one queued, until the queue is taken for writing. */
  private tail: Run | null = null;
  /** Lines and bytes queued (bounded by the `queue` and `queue-bytes` options). */
  queuedLines = 0;
  private queuedBytes = 0;
  /** Events dropped since the client was last told. */
  missed = 0;
  missedTotal = 0;
  strikes = 0;
  authenticated: boolean;
  /**
   * Set when the connection starts to end (`finish`): from then on nothing more is queued and no
   * command is obeyed, so that what a refused client sent in the same packet (a second token guess,
   * a SUB) has no effect in the moment before the close.
   */
  ending = false;
  closed = false;
  /** Called once when the connection closes, whatever closed it. */
  onClose: () => void = () => {};
  private writing = false;
  private scheduled = false;
  /** Readers of this client's commands waiting for room in its queue (see `room`). */
  private roomWaiters: Array<() => void> = [];
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;

  constructor(
    readonly conn: TcpConnection,
    readonly limit: number,
    readonly limitBytes: number,
    needsToken: boolean,
  ) {
    this.authenticated = !needsToken;
    this.writer = conn.writable.getWriter();
    // A peer that vanishes makes pending writes fail; that only closes this client.
    this.writer.closed.catch(() => this.close());
  }

  /**
   * Queues the event line buf[start, end) (from LineSlabs); beyond the bound the line is dropped and
   * counted, never buffered.
   */
  send(buf: Uint8Array, start: number, end: number): void {
    if (this.closed || this.ending) return;
    if (this.full(end - start)) {
      this.missed++;
      this.missedTotal++;
      return;
    }
    const tail = this.tail;
    // The line right after the tail's last one in the same slab continues its run: nothing came
    // between them, since a line the client skipped or dropped would lie between.
    if (tail !== null && tail.buf === buf && tail.end === start) tail.end = end;
    else this.push({ buf, start, end });
    this.queuedLines++;
    this.queuedBytes += end - start;
    if (!this.writing && !this.scheduled) {
      // Events come in bursts (a batch of packets at a time): lines gathered over a few milliseconds
      // go out in one write, where a write per burst cost a fifth of the host's time with 100 clients.
      this.scheduled = true;
      setTimeout(() => {
        this.scheduled = false;
        if (!this.writing) void this.drain();
      }, kFlushMs);
    }
  }

  /** Queues a control message (hello, ok, error): these are never dropped, and they are few. */
  control(message: Record<string, unknown>): void {
    if (this.closed || this.ending) return;
    this.enqueue(encoder.encode(`${JSON.stringify(message)}\n`));
    if (!this.writing) void this.drain();
  }

  /** True when a line of `bytes` more would pass a bound of the queue. */
  private full(bytes: number): boolean {
    return this.queuedLines >= this.limit || this.queuedBytes + bytes > this.limitBytes;
  }

  private push(run: Run): void {
    this.runs.push(run);
    this.tail = run;
  }

  /** Queues a line whatever the bounds (control lines, the last lines). */
  private enqueue(line: Uint8Array): void {
    this.push({ buf: line, start: 0, end: line.length });
    this.queuedLines++;
    this.queuedBytes += line.length;
  }

  /**
   * Resolves once the queue is below its bound again (or the client is going). Commands are read only
   * then: each one queues a reply, and a client that sends commands without reading the replies must
   * not grow the queue without bound; instead its input waits in the kernel, which slows its writes.
   */
  room(): Promise<void> {
    if (!this.full(0) || this.ending || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private wakeRoomWaiters(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Writes the queue out, one write at a time: a slow reader backs up here, not in the socket. */
  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.runs.length > 0 && !this.closed) {
        const batch = this.runs;
        this.runs = [];
        this.tail = null;
        this.queuedLines = 0;
        this.queuedBytes = 0;
        this.wakeRoomWaiters();
        if (this.missed > 0) {
          const notice = encoder.encode(`${JSON.stringify({ type: "dropped", count: this.missed })}\n`);
          batch.push({ buf: notice, start: 0, end: notice.length });
          this.missed = 0;
        }
        await this.writer.ready;
        // Runs go out as they are when they are few or long; many short ones (a client of some of the
        // events only) are copied into one write.
        const pieces = batch.map((r) => r.buf.subarray(r.start, r.end));
        let bytes = 0;
        for (const piece of pieces) bytes += piece.length;
        if (pieces.length <= kMaxWritesPerBatch || bytes >= pieces.length * kMinRunBytes) {
          for (const piece of pieces) await this.writer.write(piece);
        } else {
          await this.writer.write(concat(pieces));
        }
      }
    } catch {
      this.close();
    } finally {
      this.writing = false;
    }
  }

  /**
   * Sends what is queued, then `last` (made when it goes out), then closes: the end of the run. A client
   * that has not taken it all after `ms` milliseconds loses the lines still queued; it is told how many,
   * before `last`, if it reads them within `ms` more. Then it is cut off.
   */
  async finish(last: Record<string, unknown> | (() => Record<string, unknown>), ms: number): Promise<void> {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.wakeRoomWaiters();
    if (!(await this.flushed(ms)) && !this.closed) {
      // The lines not handed to the socket yet are dropped; the write in progress finishes first.
      this.missed += this.queuedLines;
      this.missedTotal += this.queuedLines;
      this.runs = [];
      this.tail = null;
      this.queuedLines = 0;
      this.queuedBytes = 0;
    }
    // The count of events missed since the last notice goes before the last line, which must be last.
    if (this.missed > 0) {
      this.enqueue(encoder.encode(`${JSON.stringify({ type: "dropped", count: this.missed })}\n`));
      this.missed = 0;
    }
    this.enqueue(encoder.encode(`${JSON.stringify(typeof last === "function" ? last() : last)}\n`));
    if (await this.flushed(ms)) await Promise.race([this.writer.close().catch(() => {}), new Promise((r) => setTimeout(r, ms))]);
    this.close();
  }

  /** Resolves true once everything queued is written (or false after `ms` milliseconds, or on a close). */
  private async flushed(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while ((this.writing || this.runs.length > 0) && !this.closed) {
      if (Date.now() >= deadline) return false;
      if (!this.writing) void this.drain();
      await new Promise((r) => setTimeout(r, 5));
    }
    return !this.closed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.runs = [];
    this.tail = null;
    this.queuedLines = 0;
    this.queuedBytes = 0;
    this.wakeRoomWaiters();
    this.conn.close();
    this.onClose();
  }
}

/** Bytes buf[start, end) queued for a client: one line, or event lines that lie back to back. */
interface Run {
  buf: Uint8Array;
  start: number;
  end: number;
}

/**
 * Event lines, encoded one after another into shared slabs. Every client of an event gets the same
 * line, so what a client has queued is mostly a run of consecutive lines, whose bytes lie one after
 * another in a slab or two: they go to the socket as views of the slabs instead of a copy of every
 * line into a batch of each client's own (with 100 clients those copies were a sixth of the main
 * thread's time). A full slab is never written again: a new one is taken, and the old one lives as
 * long as a run refers to it.
 */
class LineSlabs {
  private static readonly kSlabBytes = 256 * 1024;
  private slab = new Uint8Array(LineSlabs.kSlabBytes);
  private used = 0;
  /** Where `encode` put the last line: buf[start, end). Fields, not a result object, since encode runs per event. */
  buf = this.slab;
  start = 0;
  end = 0;

  encode(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    const most = text.length * 3;
    if (most > LineSlabs.kSlabBytes / 8) {
      // A long line gets a buffer of its own.
      this.buf = encoder.encode(text);
      this.start = 0;
      this.end = this.buf.length;
      return;
    }
    if (this.used + most > this.slab.length) {
      this.slab = new Uint8Array(LineSlabs.kSlabBytes);
      this.used = 0;
    }
    const start = this.used;
    const { written } = encoder.encodeInto(text, this.slab.subarray(start));
    this.used += written;
    this.buf = this.slab;
    this.start = start;
    this.end = this.used;
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Streams events to TCP clients as NDJSON, in capture order: the same lines event-log writes.
 *
 * A client gets a hello line, then chooses events with `{"subscribe":[...]}` / `SUB a b` (and
 * `{"unsubscribe":[...]}` / `UNSUB a b`). Each client has a bounded queue: a reader that falls behind
 * loses events (counted, and told how many when it catches up) and never slows the capture. Lines
 * longer than `max-line`, garbage and unknown commands get an error line; a client that keeps at it
 * is disconnected. Network access goes through `ctx.listen`, so the plugin runs on Node and Deno alike.
 */
/** True for 127.0.0.0/8, ::1 and localhost: addresses no other machine reaches. */
function isLoopback(host: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === "::1" || host === "localhost" || /^::ffff:127\./i.test(host);
}

export default definePlugin({
  name: "socket-server",
  description: "Streams chosen events to TCP clients as NDJSON (subscribe per client, bounded queues)",
  options: {
    host: { type: "string", default: "127.0.0.1", description: "address to listen on (a non-loopback address must be given explicitly)" },
    port: { type: "number", default: 7070, description: "TCP port (0: any free port, printed at start)" },
    token: { type: "string", default: "", description: "clients must send this token first (AUTH <token> or {\"token\":...})" },
    "max-clients": { type: "number", default: 64, description: "clients at once; more are refused with a message" },
    queue: { type: "number", default: 32768, description: "lines queued per client before its events are dropped" },
    "queue-bytes": {
      type: "number",
      default: 8 * 1024 * 1024,
      description: "bytes queued per client before its events are dropped (the host dispatches 2048 packets at a time: with 4 events each, about 2 MB)",
    },
    "max-line": { type: "number", default: 4096, description: "longest command line a client may send, in bytes" },
    strikes: { type: "number", default: 3, description: "bad commands or overlong lines before a client is disconnected" },
    wait: { type: "number", default: 0, description: "hold the start of capture until N clients have subscribed" },
  },
  async setup(ctx) {
    const o = ctx.options;
    if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) ctx.fail(`port ${o.port} is not a TCP port`);
    const counts: Array<[string, number, number]> = [["max-clients", o["max-clients"], 1], ["queue", o.queue, 1], ["max-line", o["max-line"], 16], ["queue-bytes", o["queue-bytes"], 4096], ["strikes", o.strikes, 1], ["wait", o.wait, 0]];
    for (const [key, value, min] of counts) {
      if (!Number.isInteger(value) || value < min) ctx.fail(`${key} must be a whole number of at least ${min}: current value is ${value}`);
    }
    if (o.wait > o["max-clients"]) {
      ctx.fail(`wait=${o.wait} can never be reached with max-clients=${o["max-clients"]}: raise max-clients or lower wait`);
    }
    const clients = new Set<Client>();
    const lines = new LineSlabs();
    /**
     * Per subscribed event, its clients and its bus handler. The list is an array replaced on each
     * change (never changed in place), so the handler walks it by index: no iterator objects per
     * event and client, and a change during a walk cannot disturb it.
     */
    const subscribers = new Map<string, { clients: Client[]; handler: (ev: unknown) => void }>();
    let sent = 0;

    const subscribe = (client: Client, names: string[]): string | null => {
      const bad = names.filter((n) => !ctx.host.accepts(n));
      if (bad.length > 0) return `unknown event ${bad.map((n) => JSON.stringify(n)).join(", ")}: events are ${ctx.host.events().join(", ")}`;
      for (const name of names) {
        client.events.add(name);
        let subs = subscribers.get(name);
        if (subs === undefined) {
          // Subscribe to the bus only while some client wants the event: events nobody listens to
          // are not even built.
          const entry = {
            clients: [] as Client[],
            handler: (ev: unknown) => {
              lines.encode(`${JSON.stringify(eventRecord(name, ev))}\n`);
              const { buf, start, end } = lines;
              const list = entry.clients;
              for (let i = 0; i < list.length; i++) list[i].send(buf, start, end);
              sent++;
            },
          };
          subscribers.set(name, (subs = entry));
          ctx.on(name as "dns", entry.handler);
        }
        if (!subs.clients.includes(client)) subs.clients = [...subs.clients, client];
      }
      return null;
    };

    const unsubscribe = (client: Client, names: Iterable<string>) => {
      for (const name of [...names]) {
        client.events.delete(name);
        const subs = subscribers.get(name);
        if (subs === undefined) continue;
        subs.clients = subs.clients.filter((c) => c !== client);
        if (subs.clients.length === 0) {
          subscribers.delete(name);
          ctx.off(name as "dns", subs.handler);
        }
      }
    };

    // `wait`: capture starts once this many clients have subscribed to something.
    let release: () => void = () => {};
    if (o.wait > 0) {
      ctx.holdStart(new Promise<void>((resolve) => (release = resolve)));
    }
    const checkWait = () => {
      if (o.wait > 0 && [...clients].filter((c) => c.events.size > 0 && !c.ending).length >= o.wait) release();
    };

    /** Answers a bad command or an overlong line; a client that keeps at it is disconnected. */
    const strikeAt = (client: Client, error: string): void => {
      client.control({ type: "error", error });
      if (++client.strikes >= o.strikes) {
        client.control({ type: "error", error: "too many bad commands: disconnecting" });
        void client.finish({ type: "bye" }, 1000);
      }
    };

    /** One command line from a client. */
    const command = (client: Client, line: string): void => {
      const text = line.trim();
      if (text === "") return;
      const strike = (error: string) => strikeAt(client, error);
      let verb: string;
      let args: string[];
      let token: string | undefined;
      let word = "";
      if (text.startsWith("{")) {
        let msg: unknown;
        try {
          msg = JSON.parse(text);
        } catch {
          return strike("not a command: send {\"subscribe\":[\"event\",...]} or SUB event ...");
        }
        const m = msg as { subscribe?: unknown; unsubscribe?: unknown; token?: unknown };
        const list = m.subscribe ?? m.unsubscribe;
        if (m.token !== undefined) {
          verb = "AUTH";
          args = [];
          token = typeof m.token === "string" ? m.token : undefined;
        } else if (Array.isArray(list) && list.every((x) => typeof x === "string")) {
          verb = m.subscribe !== undefined ? "SUB" : "UNSUB";
          args = list as string[];
        } else {
          return strike("unknown command: use subscribe or unsubscribe with a list of event names");
        }
      } else {
        const words = text.split(/\s+/);
        word = words[0];
        verb = word.toUpperCase();
        args = words.slice(1);
        if (verb === "AUTH") token = args.join(" ");
      }
      if (!client.authenticated) {
        if (verb === "AUTH" && token !== undefined && sameSecret(token, o.token)) {
          client.authenticated = true;
          client.control({ type: "ok", authenticated: true });
          return;
        }
        // One try: a wrong token closes the connection, so guessing costs a connection per guess.
        const error = verb === "AUTH" ? "wrong token" : "authentication required: send AUTH <token> first";
        client.control({ type: "error", error });
        void client.finish({ type: "bye" }, 1000);
        return;
      }
      if (verb === "SUB") {
        const error = subscribe(client, args);
        if (error !== null) return strike(error);
        client.control({ type: "ok", subscribed: [...client.events] });
        checkWait();
      } else if (verb === "UNSUB") {
        unsubscribe(client, args);
        client.control({ type: "ok", subscribed: [...client.events] });
      } else if (verb === "AUTH") {
        client.control({ type: "ok", authenticated: true });
      } else {
        strike(`unknown command ${JSON.stringify(word)}: use SUB, UNSUB or their JSON forms`);
      }
    };

    const maxLine = o["max-line"];
    const overlong = `line longer than ${maxLine} bytes`;
    /** True when `text` takes more than `max-line` bytes in UTF-8 (counted only when it may). */
    const tooLong = (text: string) => text.length > maxLine || (text.length * 3 > maxLine && encoder.encode(text).length > maxLine);

    /** Reads a client's lines, at most `max-line` bytes each, until it goes away. */
    const readCommands = async (client: Client) => {
      const reader = client.conn.readable.getReader();
      const decoder = new TextDecoder();
      let pending = "";
      /** True while the rest of an overlong line (already answered) is being skipped. */
      let discarding = false;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done || client.closed) break;
          // A client being disconnected is read to the end but not heeded: closing a socket with
          // unread input resets the connection, which can destroy the last lines sent to it.
          if (client.ending) continue;
          pending += decoder.decode(value, { stream: true });
          let nl: number;
          while ((nl = pending.indexOf("\n")) >= 0 && !client.ending) {
            const line = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            // A whole line can arrive in one read: its length is checked here too, and it is
            // never executed (nor echoed in an error).
            if (discarding) discarding = false;
            else if (tooLong(line)) strikeAt(client, overlong);
            else command(client, line);
            if (client.queuedLines >= o.queue) await client.room();
          }
          if (client.ending) {
            pending = "";
          } else if (discarding || tooLong(pending)) {
            // Drop what is held of the overlong line, and the rest of it as it comes.
            pending = "";
            if (!discarding) {
              discarding = true;
              strikeAt(client, overlong);
            }
          }
        }
        // The input ended: a last command without its newline still counts (`printf 'SUB dns' | nc`).
        // (What is left is never too long: the loop drops an overlong line as it grows.)
        if (!client.ending && !client.closed && !discarding) command(client, pending);
      } catch {
        // reset by the peer
      }
      // A subscribed client that only stopped talking (it shut down its side, as `echo SUB dns | nc`
      // does) goes on receiving until it closes; one being disconnected is closed by its `finish`.
      if (client.events.size === 0 && !client.ending) client.close();
    };

    /** Forgets a client (Client.onClose). */
    const remove = (client: Client) => {
      if (!clients.delete(client)) return;
      unsubscribe(client, client.events);
    };

    /** Set at teardown: connections that arrive from then on are turned away. */
    let shuttingDown = false;

    const accept = (conn: TcpConnection) => {
      const client = new Client(conn, o.queue, o["queue-bytes"], o.token !== "");
      if (shuttingDown) {
        void client.finish({ type: "error", error: "the host is shutting down" }, 1000);
        return;
      }
      if (clients.size >= o["max-clients"]) {
        client.control({ type: "error", error: `too many clients (at most ${o["max-clients"]}): try again later` });
        void client.finish({ type: "bye" }, 1000);
        return;
      }
      clients.add(client);
      client.onClose = () => remove(client);
      client.control({ type: "hello", version: ctx.host.version, events: ctx.host.events(), auth: o.token !== "" });
      void readCommands(client);
    };
    let listener: Awaited<ReturnType<typeof ctx.listen>>;
    try {
      listener = await ctx.listen({ host: o.host, port: o.port }, accept);
    } catch (err) {
      // Node says EADDRINUSE, Deno AddrInUse.
      const e = err as { code?: string; name?: string; message?: string };
      if (e.code === "EADDRINUSE" || e.name === "AddrInUse") {
        ctx.fail(`${o.host} port ${o.port} is in use: choose another with -o socket-server.port=N (0: any free port)`);
      }
      throw err;
    }
    ctx.log.info(`listening on ${listener.host}:${listener.port}`);
    if (o.token === "" && !isLoopback(listener.host)) {
      ctx.log.warn(`${listener.host} is not a loopback address and no token is set: anyone who can reach port ${listener.port} gets the traffic's events; set -o socket-server.token=SECRET`);
    }
    if (o.wait > 0) ctx.log.info(`waiting for ${o.wait} subscribed client(s) before capture starts`);

    ctx.onTeardown(async () => {
      shuttingDown = true;
      const stats = { type: "stats", ...ctx.stats(), events_sent: sent };
      await Promise.all([...clients].map((c) => c.finish(() => ({ ...stats, dropped_for_you: c.missedTotal }), 2000)));
      release();
    });
  },
});
