// The live capture process (Node.js): libpcap through the `cap` addon, frames out on stdout as a
// nanosecond pcap stream, control and statistics over the IPC channel.
//
// Why a process of its own: cap cannot run in a worker thread (its poll handle is bound to the
// process's default event loop, so a packet callback lands on the wrong isolate and aborts), and on
// the main thread a slow plugin would stall libpcap. Here nothing but capture runs: every frame
// libpcap hands over is either queued for the host (bounded by `queueBytes`) or dropped and counted.
// libpcap is never blocked; the host reads the stream like `host -r -`, into its ring.
//
// Plain JavaScript on purpose: it starts without the TypeScript loader, so capture begins sooner.
import { write, closeSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const config = JSON.parse(process.argv[2]);
const send = (msg) => {
  if (process.connected) process.send(msg);
};

/** DLT values of the link-type names cap returns. */
const linkTypes = { NULL: 0, ETHERNET: 1, RAW: 101, IEEE802_11_RADIO: 127, LINKTYPE_LINUX_SLL: 113 };

function fail(kind, message) {
  send({ type: "error", kind, message });
  process.exitCode = 3;
  setImmediate(() => process.exit(3));
}

let Cap;
try {
  ({ Cap } = require("cap"));
} catch (err) {
  fail("cap-missing", String(err && err.message ? err.message : err));
}

if (Cap !== undefined) start();

function start() {
  const cap = new Cap();
  // cap keeps only a raw pointer to this buffer and copies every frame into it: it must stay
  // reachable for as long as the capture runs (the packet handler below uses it), or the garbage
  // collector frees it under libpcap's feet and the process dies of heap corruption.
  const frame = Buffer.alloc(65536);
  let linkName;
  try {
    linkName = cap.open(config.device, config.filter, config.bufferBytes, frame);
  } catch (err) {
    const message = String(err.message);
    const kind = /permission|not permitted/i.test(message)
      ? "permission"
      : /no such device|doesn't exist|does not exist/i.test(message)
        ? "no-device"
        : config.filter !== "" && /filter|syntax|parse|expression|unknown|host/i.test(message)
          ? "filter"
          : "open";
    return fail(kind, message);
  }
  const m = /^Unknown linktype (\d+)$/.exec(linkName);
  const linktype = m ? Number(m[1]) : (linkTypes[linkName] ?? 1);

  if (config.user) {
    // Numeric ids looked up by the host: the primary group is not always named after the user.
    const { name, uid, gid } = config.user;
    try {
      process.initgroups(name, gid);
      process.setgid(gid);
      process.setuid(uid);
    } catch (err) {
      cap.close();
      return fail("user", `cannot switch to user ${name}: ${err.message}`);
    }
  }

  // Output chunks: a frame is appended to the current chunk; full chunks wait for their write. The
  // bytes in chunks not yet written are bounded by queueBytes; beyond, frames are dropped.
  const chunkBytes = 1 << 20;
  const free = [];
  const queue = [];
  let chunk = Buffer.allocUnsafe(chunkBytes);
  let used = 0;
  let queued = 0;
  let writing = false;
  let stopping = false;
  let received = 0;
  let dropped = 0;

  // The pcap header: nanosecond timestamps, this interface's link type, cap's snap length.
  chunk.writeUInt32LE(0xa1b23c4d, 0);
  chunk.writeUInt16LE(2, 4);
  chunk.writeUInt16LE(4, 6);
  chunk.writeUInt32LE(0, 8);
  chunk.writeUInt32LE(0, 12);
  chunk.writeUInt32LE(65535, 16);
  chunk.writeUInt32LE(linktype, 20);
  used = 24;
  queued = 24;

  // cap gives no timestamps: take the clock when the packet reaches JavaScript. A monotonic clock
  // anchored to the wall clock once, so that timestamps never go backwards.
  const originMs = performance.timeOrigin;

  // Coalescing: cap turns on libpcap's immediate mode, so the kernel wakes this process for every
  // frame, and on a quiet link each frame paid a whole event-loop turn (about 11 µs here). After a turn
  // that handled frames, the process naps for kNapMs: frames wait in the kernel ring meanwhile (its
  // thousands of slots hold tens of milliseconds even at 400k frames/s) and the next turn takes them
  // all at once. Timestamps are taken when a frame reaches JavaScript, so a frame's stamp may lag its
  // arrival by up to the nap (see the README on timestamp precision).
  const kNapMs = 1;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let napping = false;
  const napAfterTurn = () => {
    napping = false;
    if (!stopping) Atomics.wait(nap, 0, 0, kNapMs);
  };

  cap.on("packet", (nbytes) => {
    received++;
    if (!napping) {
      napping = true;
      setImmediate(napAfterTurn);
    }
    const need = 16 + nbytes;
    if (stopping || queued + need > config.queueBytes) {
      dropped++;
      return;
    }
    if (used + need > chunkBytes) seal();
    const t = originMs + performance.now();
    const sec = Math.floor(t / 1000);
    const nsec = Math.floor((t - sec * 1000) * 1e6);
    chunk.writeUInt32LE(sec >>> 0, used);
    chunk.writeUInt32LE(nsec, used + 4);
    chunk.writeUInt32LE(nbytes, used + 8);
    chunk.writeUInt32LE(nbytes, used + 12);
    frame.copy(chunk, used + 16, 0, nbytes);
    used += need;
    queued += need;
  });

  function seal() {
    if (used === 0) return;
    if (used < chunkBytes / 4) {
      // A chunk the 20 ms flush cut short (a quiet link) leaves as a copy of its bytes, and is
      // filled on: the queue's bound counts bytes, so it must not keep a 1 MiB buffer per flush
      // (with the host stalled, a trickle of frames would grow the process by 50 MiB a second).
      queue.push({ buf: Buffer.from(chunk.subarray(0, used)), len: used });
    } else {
      queue.push({ buf: chunk, len: used });
      chunk = free.pop() ?? Buffer.allocUnsafe(chunkBytes);
    }
    used = 0;
    pump();
  }

  // The pipe to the host is full (stdout is non-blocking): try again after a pause that doubles up to
  // kFullPipeMaxMs while the host does not read, and is back to 1 ms after a write. Retrying every
  // millisecond kept this process waking some 700 times a second for as long as a host stalled.
  const kFullPipeMaxMs = 16;
  let fullPipeMs = 1;

  function pump() {
    if (writing || queue.length === 0) return;
    writing = true;
    const { buf, len } = queue[0];
    let off = 0;
    const next = () =>
      write(1, buf, off, len - off, null, (err, n) => {
        if (err) {
          if (err.code === "EAGAIN") {
            setTimeout(next, fullPipeMs);
            fullPipeMs = Math.min(kFullPipeMaxMs, fullPipeMs * 2);
            return;
          }
          // The host went away: nothing more to deliver.
          return shutdown();
        }
        fullPipeMs = 1;
        off += n;
        if (off < len) return next();
        queue.shift();
        queued -= len;
        if (free.length < 4 && buf.length === chunkBytes) free.push(buf);
        writing = false;
        if (queue.length > 0) pump();
        else if (stopping) finish();
      });
    next();
  }

  // Deliver what has gathered at least every 20 ms, so that a quiet link still shows up promptly.
  const flushTimer = setInterval(seal, 20);
  // Counters go to the host often enough that its --stats-interval lines keep up with what it decodes,
  // one message at a time: a stalled host does not read them, and they must not pile up here.
  let statsInFlight = false;
  const statsTimer = setInterval(() => {
    if (statsInFlight || !process.connected) return;
    statsInFlight = true;
    process.send({ type: "stats", received, dropped }, () => (statsInFlight = false));
  }, 100);

  function stop() {
    if (stopping) return;
    stopping = true;
    cap.close();
    clearInterval(flushTimer);
    seal();
    if (!writing && queue.length === 0) finish();
  }

  function finish() {
    clearInterval(statsTimer);
    try {
      closeSync(1);
    } catch {
      // already closed
    }
    // Exit only once the final counters are on their way: an IPC message still queued at exit is lost.
    if (process.connected) process.send({ type: "stats", received, dropped, final: true }, () => process.exit(0));
    else setImmediate(() => process.exit(0));
  }

  function shutdown() {
    stopping = true;
    cap.close();
    clearInterval(flushTimer);
    finish();
  }

  process.on("message", (msg) => {
    if (msg && msg.type === "stop") stop();
  });
  process.on("disconnect", stop);
  process.on("SIGTERM", stop);
  // The host handles ^C for both: the terminal sends SIGINT to the whole process group.
  process.on("SIGINT", () => {});
  send({ type: "open", linktype });
}
