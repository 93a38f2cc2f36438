import { type ChildProcess, execFileSync, fork } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import { type OnReadOpts, Socket, type SocketConstructorOpts } from "node:net";
import { setPriority, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeno } from "../runtime/host-runtime.ts";
import { type ByteSource, StagingByteSource } from "../sources/byte-source.ts";

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

/**
 * libpcap's kernel buffer unless `--buffer-size` says otherwise: 128 MiB, Zeek's AF_Packet default. cap
 * turns on immediate mode, where the kernel ring has one slot of about 64 KiB per frame whatever its size,
 * so 128 MiB holds some 2000 frames: a few milliseconds of a busy link, enough to ride out a pause of the
 * capture process (tcpdump, without immediate mode, packs frames and gets by with 2 MiB).
 */
export const kDefaultKernelBufferBytes = 128 << 20;

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
  user: CaptureUser | null;
}

/** A user to run as after the capture opened, with the ids the system's user database gives it. */
export interface CaptureUser {
  name: string;
  uid: number;
  /** The user's primary group, which tcpdump -Z switches to as well. */
  gid: number;
}

/**
 * Looks a user up as tcpdump -Z does (getpwnam): its uid and primary group, or null when there is no
 * such user. The group must come from the user database: it is not always named after the user
 * (Debian's nobody belongs to nogroup, and there is no group "nobody"). Node has no getpwnam, so
 * `id` asks the database (NSS: /etc/passwd, LDAP, ...).
 */
export function lookUpUser(name: string): CaptureUser | null {
  const id = (flag: string): number | null => {
    try {
      const n = Number(execFileSync("id", [flag, "--", name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
      return Number.isInteger(n) ? n : null;
    } catch {
      return null;
    }
  };
  const uid = id("-u");
  const gid = uid === null ? null : id("-g");
  return uid === null || gid === null ? null : { name, uid, gid };
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
  /**
   * The host reads no more of `bytes` (it stopped early, e.g. at -c N): what is still on its way is
   * thrown away, so that the capture process is not left blocked on a full pipe and can end.
   */
  discardRest?(): void;
  /** Resolves when the capture has ended and its final counters are in. */
  readonly done: Promise<void>;
  /**
   * Once `done`: why the capture ended by itself when nobody asked it to (its process died), or null.
   * The frames it had not delivered are lost and its last counters may be short.
   */
  readonly failure?: string | null;
}

/** Opens a live capture: the cap addon in a capture process on Node, libpcap through FFI on Deno. */
export async function openLiveCapture(options: LiveCaptureOptions, stderr: (line: string) => void): Promise<LiveCapture> {
  if (isDeno) return (await import("./deno-live-capture.ts")).openDenoCapture(options, stderr);
  return openCapProcess(options, stderr);
}

/** Bytes of one read of the capture process's stream, and of the staging they wait in for the ring. */
const kPipeReadBytes = 256 << 10;
const kStagingBytes = 4 << 20;

/**
 * The pipe the capture process writes its pcap stream into, as its stdout: a FIFO, made and unlinked
 * here, rather than the pipe Node makes for a child's stdout, which Node reads into a new buffer each
 * time (see StagingByteSource). Returns the read end (non-blocking) and the write end for the child.
 */
function framePipe(): { readFd: number; writeFd: number } {
  const dir = mkdtempSync(join(tmpdir(), "packet-host-capture-"));
  try {
    const path = join(dir, "frames");
    execFileSync("mkfifo", ["-m", "600", path]);
    // The read end first, without waiting for a writer; then the write end opens at once.
    const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const writeFd = openSync(path, constants.O_WRONLY);
    return { readFd, writeFd };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `stop()` for a capture process: asks it once to stop (it then delivers what it captured and exits);
 * later calls do nothing. The request can meet a process that has just exited, whose channel Node
 * has not seen close yet: the send then fails with EPIPE, which without a callback Node raises as an
 * 'error' event, and an unhandled one ends the host with a stack trace instead of its final stats.
 * A request that fails when it is sent falls back to SIGTERM (which the process also stops on; a
 * process already gone ignores it); one that fails later, once queued, is an 'error' event, which
 * openCapProcess handles.
 */
export function stopOnce(child: ChildProcess): () => void {
  let asked = false;
  return () => {
    if (asked) return;
    asked = true;
    if (!child.connected) {
      child.kill("SIGTERM");
      return;
    }
    child.send({ type: "stop" }, (err) => {
      if (err) child.kill("SIGTERM");
    });
  };
}

/** The capture process, and the pcap stream it writes on its stdout. */
function openCapProcess(options: LiveCaptureOptions, stderr: (line: string) => void): Promise<LiveCapture> {
  const script = fileURLToPath(new URL("./cap-capture-process.js", import.meta.url));
  const { readFd, writeFd } = framePipe();
  let child: ChildProcess;
  try {
    child = fork(script, [JSON.stringify(options)], {
      stdio: ["ignore", writeFd, "pipe", "ipc"],
      // Plain JavaScript: no TypeScript loader, no inherited flags.
      execArgv: [],
    });
  } catch (err) {
    closeSync(readFd);
    throw err;
  } finally {
    // Only the child writes: the stream ends when its copy closes.
    closeSync(writeFd);
  }
  // The capture process before the host's threads when the CPU is short: it must empty the kernel's
  // ring, whose overflow cap cannot count, while the host has its own ring to fall behind into (and
  // beyond that, the capture process drops and counts). bench:live, highest clean rate: 140k -> 165k
  // packets/s, and frames lost in the kernel at 150-250k down from thousands to hundreds.
  try {
    setPriority(child.pid!, -10);
  } catch {
    // not allowed (no root or CAP_SYS_NICE): it runs at the host's priority
  }
  // The host reads this stream into its ring; while the ring is full the staging fills, reading
  // stops, the pipe fills, and the capture process drops (and counts) instead of blocking libpcap.
  // `onread` (Node reads into this one buffer and calls back) works for a socket on a descriptor as
  // well; the typings list it only for connect().
  const readerOptions: SocketConstructorOpts & { onread: OnReadOpts } = {
    fd: readFd,
    readable: true,
    writable: false,
    onread: { buffer: new Uint8Array(kPipeReadBytes), callback: (n, buf) => bytes.push(buf, n) },
  };
  const reader = new Socket(readerOptions);
  const bytes = new StagingByteSource(kStagingBytes, kPipeReadBytes, () => reader.read(0));
  reader.on("end", () => bytes.end());
  reader.on("close", () => bytes.end());
  reader.on("error", (err) => bytes.fail(err));
  // Flowing, so that the end of the stream is seen (no data events come: the bytes go to `onread`).
  reader.resume();
  const stats: LiveCaptureStats = { received: 0, dropped: 0, kernelDropped: 0 };
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  // The end is when the process has exited and its IPC channel is closed: only then have all of its
  // messages, the final counters among them, been delivered ('exit' alone may come before them).
  let exited = false;
  let failure: string | null = null;
  const ended = () => {
    if (exited && !child.connected) resolveDone();
  };
  child.on("disconnect", ended);
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
    // 'error': the process could not be started (then no 'exit' follows), or signalled, or messaged.
    // Unhandled, it would end the host with a stack trace.
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (!opened) {
        opened = true;
        reject(new LiveCaptureError("open", `cannot start the capture process: ${err.message}`));
      } else if (err.code !== "EPIPE" && err.code !== "ERR_IPC_CHANNEL_CLOSED") {
        // A message to a process that has just exited is no news; anything else is said.
        stderr(`capture: ${err.message}`);
      }
    });
    child.on("message", (msg: { type: string; kind?: LiveErrorKind; message?: string; linktype?: number; received?: number; dropped?: number }) => {
      if (msg.type === "open" && !opened) {
        opened = true;
        resolve({
          linktype: msg.linktype ?? 1,
          bytes,
          stats,
          stop: stopOnce(child),
          discardRest: () => bytes.discard(),
          done,
          get failure() {
            return failure;
          },
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
      } else if (code !== 0) {
        // It exits with 0 once it has delivered everything; anything else is a crash or a kill.
        failure = `the capture process on ${options.device} ended unexpectedly (${signal ?? `exit status ${code}`}): frames it had not delivered are lost`;
      }
      // The stream's own end (stdout closing) ends `bytes`, once the host has read what is still in
      // the pipe: ending it here could cut that off.
      exited = true;
      ended();
    });
  });
}
