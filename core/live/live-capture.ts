import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { isDeno } from "../runtime/host-runtime.ts";
import { type ByteSource, QueueByteSource } from "../sources/byte-source.ts";

/** What can go wrong opening a live capture; each has its own message and exit status. */
export type LiveErrorKind = "cap-missing" | "permission" | "no-device" | "filter" | "open" | "user";

/** A live capture that could not start. `message` is libpcap's (or the addon's) own words. */
export class LiveCaptureError extends Error {
  constructor(
    readonly kind: LiveErrorKind,
    message: string,
  ) {
    super(message);
    this.name = "LiveCaptureError";
  }
}

/** Settings of a live capture. */
export interface LiveCaptureOptions {
  device: string;
  /** A BPF expression for libpcap to compile, "" for none. */
  filter: string;
  /** libpcap's kernel buffer, in bytes. */
  bufferBytes: number;
  /** Bytes of captured frames that may wait for the host before frames are dropped. */
  queueBytes: number;
  /** Drop root privileges to this user once the capture handle is open (tcpdump -Z). */
  user: string | null;
}

/** Counters of a live capture. */
export interface LiveCaptureStats {
  /** Frames libpcap handed over. */
  received: number;
  /** Frames dropped because the host's buffers were full. */
  dropped: number;
  /** Frames the kernel dropped (when libpcap can tell; the cap addon cannot, so 0 on Node). */
  kernelDropped: number;
}

/**
 * A running live capture, behind the same interface on both runtimes: a pcap byte stream the host
 * parses into its ring (`bytes`), counters, and `stop()`, after which the stream ends once the frames
 * already captured have been delivered.
 */
export interface LiveCapture {
  readonly linktype: number;
  readonly bytes: ByteSource;
  readonly stats: LiveCaptureStats;
  stop(): void;
  /** Resolves when the capture has ended and its final counters are in. */
  readonly done: Promise<void>;
}

/** Opens a live capture: the cap addon in a capture process on Node, libpcap through FFI on Deno. */
export async function openLiveCapture(options: LiveCaptureOptions, stderr: (line: string) => void): Promise<LiveCapture> {
  if (isDeno) return (await import("./deno-live-capture.ts")).openDenoCapture(options);
  return openCapProcess(options, stderr);
}

/** The capture process, and the pcap stream it writes on its stdout. */
function openCapProcess(options: LiveCaptureOptions, stderr: (line: string) => void): Promise<LiveCapture> {
  const script = fileURLToPath(new URL("./cap-capture-process.js", import.meta.url));
  const child: ChildProcess = fork(script, [JSON.stringify(options)], {
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    // Plain JavaScript: no TypeScript loader, no inherited flags.
    execArgv: [],
  });
  const stats: LiveCaptureStats = { received: 0, dropped: 0, kernelDropped: 0 };
  // The host reads this stream into its ring; while the ring is full the stream is paused, the pipe
  // fills, and the capture process drops (and counts) instead of blocking libpcap.
  const bytes = new QueueByteSource(4 << 20, child.stdout!);
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (text: string) => {
    for (const line of text.split("\n")) {
      // libpcap's netmask lookup fails on interfaces without an IPv4 address; capture still works.
      if (line.trim() === "" || /This may not actually work/.test(line)) continue;
      stderr(`capture: ${line}`);
    }
  });
  return new Promise((resolve, reject) => {
    let opened = false;
    child.on("message", (msg: { type: string; kind?: LiveErrorKind; message?: string; linktype?: number; received?: number; dropped?: number }) => {
      if (msg.type === "open" && !opened) {
        opened = true;
        resolve({
          linktype: msg.linktype ?? 1,
          bytes,
          stats,
          stop: () => {
            if (child.connected) child.send({ type: "stop" });
            else child.kill("SIGTERM");
          },
          done,
        });
      } else if (msg.type === "error" && !opened) {
        opened = true;
        reject(new LiveCaptureError(msg.kind ?? "open", msg.message ?? "live capture failed"));
      } else if (msg.type === "stats") {
        stats.received = msg.received ?? stats.received;
        stats.dropped = msg.dropped ?? stats.dropped;
      }
    });
    child.on("exit", (code, signal) => {
      if (!opened) {
        opened = true;
        reject(new LiveCaptureError("open", `the capture process exited (${signal ?? code}) before it opened ${options.device}`));
      }
      bytes.end();
      resolveDone();
    });
  });
}
