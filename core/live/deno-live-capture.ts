/**
 * Live capture on Deno: libpcap's C API through Deno's FFI, since Deno cannot load the `cap` addon.
 * The capture runs in a Deno Worker (deno-capture-worker.ts) that posts a nanosecond pcap stream;
 * this side feeds it to the host as a ByteSource, like the Node capture process's stdout.
 *
 * Only imported under Deno (live-capture.ts and capture-interfaces.ts check the runtime first).
 */
import { existsSync, readFileSync } from "node:fs";
import { QueueByteSource } from "../sources/byte-source.ts";
import type { CaptureInterface } from "./capture-interfaces.ts";
import { type CaptureStartMessage, type CaptureWorkerMessage, kControlInts, kQueuedBytes, kStopRequested } from "./deno-capture-protocol.ts";
import { findAllDevices, kPcapIfLoopback, kPcapIfRunning, kPcapIfUp, type Libpcap, LibpcapError, loadLibpcap } from "./libpcap-ffi.ts";
import { type LiveCapture, LiveCaptureError, type LiveCaptureOptions, type LiveCaptureStats } from "./live-capture.ts";

/**
 * Opens a live capture on Deno: resolves once libpcap has activated the device and installed the
 * filter, or rejects with a LiveCaptureError of libpcap's kind and words. `stderr` receives libpcap's
 * warnings and the -Z notice; a failure during the capture is the capture's `failure`.
 */
export function openDenoCapture(
  options: LiveCaptureOptions,
  stderr: (line: string) => void = (line) => console.error(line),
): Promise<LiveCapture> {
  if (options.user) {
    // Not done on Deno (yet): its node:process has setuid and setgid but no initgroups or setgroups,
    // so root's supplementary groups would stay. Say so rather than keep root without a word.
    stderr(`capture: -Z ${options.user.name}: not supported on Deno; the capture keeps the privileges it started with`);
  }
  const control = new Int32Array(new SharedArrayBuffer(kControlInts * Int32Array.BYTES_PER_ELEMENT));
  const stats: LiveCaptureStats = { received: 0, dropped: 0, kernelDropped: 0 };
  // What the host reads frees the worker's allowance (kQueuedBytes); the worker drops beyond it, so
  // this queue holds at most options.queueBytes and needs no pausing of its own.
  const bytes = new QueueByteSource(options.queueBytes, undefined, (n) => Atomics.sub(control, kQueuedBytes, n));
  const worker = new Worker(new URL("./deno-capture-worker.ts", import.meta.url), { type: "module" });
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  // Why the capture ended without being asked to (libpcap failed, the worker crashed), for run.ts.
  let failure: string | null = null;
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    bytes.end();
    worker.terminate();
    resolveDone();
  };

  return new Promise((resolve, reject) => {
    let opened = false;
    worker.onmessage = (event: MessageEvent<CaptureWorkerMessage>) => {
      const msg = event.data;
      switch (msg.type) {
        case "open":
          opened = true;
          if (msg.warning !== null) stderr(`capture: warning: ${msg.warning}`);
          resolve({
            linktype: msg.linktype,
            bytes,
            stats,
            stop: () => {
              Atomics.store(control, kStopRequested, 1);
              // Wakes a worker that sleeps on the flag; one in poll(2) sees it within kIdleWaitMs.
              Atomics.notify(control, kStopRequested);
            },
            // Frees the worker's allowance too (QueueByteSource reports discarded bytes as consumed).
            discardRest: () => bytes.discard(),
            done,
            get failure() {
              return failure;
            },
          });
          break;
        case "error":
          opened = true;
          end();
          reject(new LiveCaptureError(msg.kind, msg.message));
          break;
        case "chunk":
          Object.assign(stats, msg.counters);
          bytes.push(new Uint8Array(msg.bytes));
          break;
        case "stats":
          Object.assign(stats, msg.counters);
          break;
        case "end":
          Object.assign(stats, msg.counters);
          if (msg.error !== null) failure = `the capture on ${options.device} failed: ${msg.error}`;
          end();
          break;
      }
    };
    worker.onerror = (event: ErrorEvent) => {
      // Handled here: an uncaught error in the worker must not end the host.
      event.preventDefault();
      const message = event.message || "unknown error";
      if (!opened) {
        opened = true;
        reject(new LiveCaptureError("open", `the capture worker failed before it opened ${options.device}: ${message}`));
      } else {
        failure = `the capture worker on ${options.device} failed: ${message}: frames it had not delivered are lost`;
      }
      end();
    };
    const start: CaptureStartMessage = { type: "start", options, control: control.buffer as SharedArrayBuffer };
    worker.postMessage(start);
  });
}

/**
 * The devices libpcap sees (pcap_findalldevs), as the Node path lists them. `up` follows the same rule
 * where Linux tells (/sys/class/net/NAME/operstate "up" or "unknown"; pseudo devices such as "any"
 * have none), and libpcap's UP and RUNNING flags elsewhere.
 */
export async function denoInterfaces(): Promise<CaptureInterface[]> {
  let pcap: Libpcap;
  try {
    pcap = loadLibpcap();
  } catch (err) {
    throw liveCaptureError(err);
  }
  const sysfs = existsSync("/sys/class/net");
  try {
    return findAllDevices(pcap).map((d) => {
      const state = sysfs ? operState(d.name) : null;
      return {
        name: d.name,
        description: d.description,
        addresses: d.addresses,
        loopback: (d.flags & kPcapIfLoopback) !== 0,
        up: sysfs ? state === "up" || state === "unknown" : (d.flags & kPcapIfUp) !== 0 && (d.flags & kPcapIfRunning) !== 0,
      };
    });
  } catch (err) {
    throw liveCaptureError(err);
  } finally {
    pcap.close();
  }
}

/** Linux's operational state of a network device ("up", "unknown", "down", ...), null for none. */
function operState(name: string): string | null {
  try {
    return readFileSync(`/sys/class/net/${name}/operstate`, "utf8").trim();
  } catch {
    return null;
  }
}

/** A LibpcapError as the LiveCaptureError the host reports; anything else as it is. */
function liveCaptureError(err: unknown): unknown {
  return err instanceof LibpcapError ? new LiveCaptureError(err.kind, err.message) : err;
}
