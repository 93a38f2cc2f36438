/**
 * The Deno capture worker: opens libpcap through FFI and loops on pcap_next_ex, turning every frame
 * into a record of a nanosecond pcap stream that it posts to the host in chunks. It is Deno's
 * counterpart of cap-capture-process.js, and writes the same stream.
 *
 * Why a worker: the loop lives in synchronous FFI calls, and on the main thread a slow plugin would
 * stall libpcap (the kernel ring would fill and drop). Here nothing but capture runs: each frame is
 * either appended for the host, within `queueBytes` not yet consumed, or dropped and counted.
 * libpcap is never blocked, and the worker never waits for the host.
 *
 * The protocol with the main thread (messages, the shared control block) is in deno-capture-protocol.ts.
 */
import { kMaxCapLen } from "../ring/ring-layout.ts";
import {
  type CaptureEndMessage,
  type CaptureStartMessage,
  type CaptureWorkerMessage,
  kQueuedBytes,
  kStopRequested,
} from "./deno-capture-protocol.ts";
import {
  type CPointer,
  copyFrom,
  cString,
  cStringBytes,
  kErrbufSize,
  kPcapErrorBreak,
  kPcapErrorNoSuchDevice,
  kPcapErrorPermDenied,
  kPcapErrorPromiscPermDenied,
  kPcapNetmaskUnknown,
  kPcapTstampPrecisionNano,
  kPkthdrBytes,
  kPkthdrCapLen,
  kPkthdrFraction,
  kPkthdrSecLow,
  kPkthdrWireLen,
  type Libpcap,
  LibpcapError,
  loadLibpcap,
  openReadableWait,
  pointerAt,
  statusText,
} from "./libpcap-ffi.ts";
import type { LiveCaptureOptions, LiveCaptureStats, LiveErrorKind } from "./live-capture.ts";

/** The part of a Deno worker's global scope this module uses. */
interface WorkerScope {
  onmessage: ((event: { data: CaptureStartMessage }) => void) | null;
  postMessage(message: CaptureWorkerMessage, transfer?: Transferable[]): void;
}
const scope = globalThis as unknown as WorkerScope;

/**
 * libpcap's read timeout: how long the kernel may hold frames to fill a buffer block before it hands
 * them over (Linux TPACKET_V3, BSD's BPF), so frames on a quiet link wait at most this long there.
 * It does not make a read return when no frame comes (no block to hand over, no wakeup): the handle is
 * non-blocking, and the worker waits with poll(2) itself.
 */
const kReadTimeoutMs = 20;
/** How long the worker waits for frames before it looks at the stop flag again: bounds stop()'s latency. */
const kIdleWaitMs = 100;
/**
 * After stop(), the worker reads on this long: frames the kernel captured before stop() may sit in a
 * buffer block it has not handed over yet (for up to kReadTimeoutMs). Without this, a ^C right after
 * some traffic would lose its last frames without counting them anywhere.
 */
const kStopDrainMs = 2 * kReadTimeoutMs;
/** Without libc's poll, the worker sleeps in steps this long (stop() wakes it at once). */
const kSleepStepMs = 5;
/** Records wait at most this long in a chunk before it is posted (a busy link: about 50 posts a second). */
const kFlushMs = 20;
/** Counters reach the host at least this often, with the kernel's drop count. */
const kStatsMs = 500;
/** Bytes of one chunk: room for the largest record (16 + kMaxCapLen) several times over. */
const kChunkBytes = 1 << 20;
/** kQueuedBytes is an Int32: the allowance stays well below 2^31. */
const kMaxQueueBytes = 1 << 30;
/** The pcap stream's header and record header sizes. */
const kFileHeaderBytes = 24;
const kRecordHeaderBytes = 16;

/** A handle pcap_activate accepted, with what the stream header and records need. */
interface OpenHandle {
  handle: CPointer;
  linktype: number;
  /** True when libpcap gives nanoseconds (pcap_set_tstamp_precision took), else microseconds. */
  nanoseconds: boolean;
  /** The descriptor to poll for frames, or -1 when libpcap has none. */
  fd: number;
  warning: string | null;
}

scope.onmessage = (event) => {
  scope.onmessage = null;
  const { options, control } = event.data;
  let pcap: Libpcap;
  let opened: OpenHandle;
  try {
    pcap = loadLibpcap();
  } catch (err) {
    return postError(err);
  }
  try {
    opened = openHandle(pcap, options);
  } catch (err) {
    pcap.close();
    return postError(err);
  }
  scope.postMessage({ type: "open", linktype: opened.linktype, warning: opened.warning });
  const counters: LiveCaptureStats = { received: 0, dropped: 0, kernelDropped: 0 };
  let end: CaptureEndMessage;
  try {
    end = capture(pcap, opened, options, new Int32Array(control), counters);
  } catch (err) {
    end = { type: "end", counters, error: `capture failed: ${(err as Error).message}` };
  }
  // Close before saying "end": the host terminates the worker when it hears it.
  pcap.symbols.pcap_close(opened.handle);
  pcap.close();
  scope.postMessage(end);
};

/** Reports a failure to open: libpcap's kind and words, or "open" for anything unexpected. */
function postError(err: unknown): void {
  const kind: LiveErrorKind = err instanceof LibpcapError ? err.kind : "open";
  scope.postMessage({ type: "error", kind, message: (err as Error).message ?? String(err) });
}

/**
 * pcap_create, the settings, pcap_activate, then the filter: what tcpdump does, with libpcap's own
 * words in every error. The handle is closed again when any step fails.
 */
function openHandle(pcap: Libpcap, options: LiveCaptureOptions): OpenHandle {
  const s = pcap.symbols;
  const errbuf = new Uint8Array(kErrbufSize);
  const device = cStringBytes(options.device);
  const p = s.pcap_create(device, errbuf);
  if (p === null) throw new LibpcapError("open", cString(errbuf));
  try {
    // Setters fail only on a handle that is already active: their status says nothing here.
    s.pcap_set_snaplen(p, kMaxCapLen);
    s.pcap_set_promisc(p, 1);
    s.pcap_set_timeout(p, kReadTimeoutMs);
    s.pcap_set_buffer_size(p, Math.min(options.bufferBytes, 0x7fffffff));
    // No immediate mode, on purpose: on Linux it means TPACKET_V2, whose ring has one slot per frame
    // sized for the interface's MTU (about 500 slots in 32 MiB on loopback), and a burst of small
    // frames overflows it; TPACKET_V3 packs frames into blocks, so the same buffer holds tens of
    // thousands. (10,000 1400-byte UDP datagrams on lo in 0.3 s, 32 MiB buffer: V2 lost a quarter to
    // a third of them in the kernel, V3 none.) The price is up to kReadTimeoutMs of latency.

    // The stream carries nanoseconds; ask libpcap for them rather than scale microseconds up.
    s.pcap_set_tstamp_precision?.(p, kPcapTstampPrecisionNano);
    const status = s.pcap_activate(p);
    if (status < 0) throw new LibpcapError(activateErrorKind(status), statusText(pcap, p, status));
    const warning = status > 0 ? statusText(pcap, p, status) : null;
    if (options.filter !== "") setFilter(pcap, p, device, options.filter);
    // Non-blocking: pcap_next_ex returns 0 when the kernel has nothing, so the worker knows when
    // to post what it holds, and it waits with a timeout of its own (see capture()).
    if (s.pcap_setnonblock(p, 1, errbuf) !== 0) throw new LibpcapError("open", cString(errbuf));
    return {
      handle: p,
      linktype: linkTypeOf(s.pcap_datalink(p)),
      nanoseconds: s.pcap_get_tstamp_precision?.(p) === kPcapTstampPrecisionNano,
      fd: s.pcap_get_selectable_fd(p),
      warning,
    };
  } catch (err) {
    s.pcap_close(p);
    throw err;
  }
}

/** What a negative pcap_activate status means for the user. */
function activateErrorKind(status: number): LiveErrorKind {
  if (status === kPcapErrorPermDenied || status === kPcapErrorPromiscPermDenied) return "permission";
  if (status === kPcapErrorNoSuchDevice) return "no-device";
  return "open";
}

/** Compiles `filter` (pcap-filter(7)) and installs it in the kernel; a failure is a "filter" error. */
function setFilter(pcap: Libpcap, p: CPointer, device: Uint8Array, filter: string): void {
  const s = pcap.symbols;
  // The netmask matters only to "ip broadcast"; an interface without IPv4 has none, which libpcap allows.
  const net = new Uint32Array(1);
  const mask = new Uint32Array(1);
  const errbuf = new Uint8Array(kErrbufSize);
  const netmask = s.pcap_lookupnet(device, net, mask, errbuf) === 0 ? mask[0] : kPcapNetmaskUnknown;
  // struct bpf_program { u_int bf_len; struct bpf_insn *bf_insns; }: 16 bytes on 64-bit.
  const program = new Uint8Array(16);
  if (s.pcap_compile(p, program, cStringBytes(filter), 1, netmask) !== 0) {
    throw new LibpcapError("filter", cString(s.pcap_geterr(p)));
  }
  try {
    if (s.pcap_setfilter(p, program) !== 0) throw new LibpcapError("filter", cString(s.pcap_geterr(p)));
  } finally {
    s.pcap_freecode(program);
  }
}

/**
 * The LINKTYPE_ value for a pcap file from pcap_datalink()'s DLT_ value. They are equal except for a
 * few historical ones; of those, only DLT_RAW (12 on Linux and macOS) shows up on live interfaces
 * (tun devices), and its LINKTYPE is 101.
 */
function linkTypeOf(dlt: number): number {
  return dlt === 12 ? 101 : dlt;
}

/**
 * The capture loop, until stop() is requested (and kStopDrainMs have passed) or libpcap fails.
 *
 * Frames are drained with a non-blocking pcap_next_ex into a chunk. A chunk is posted (copied into an
 * exact-size buffer that is transferred, so the big chunk is reused) when the next record does not
 * fit, or once it is kFlushMs old: on a busy link that batches, on a quiet one a lone frame reaches
 * the host within kReadTimeoutMs (in the kernel) + kFlushMs (here). When the kernel has nothing, the
 * worker polls libpcap's descriptor: until the pending chunk is due, or for kIdleWaitMs when it holds
 * nothing (then it checks the stop flag). A frame that would take the bytes waiting for the host
 * beyond `queueBytes` is dropped and counted.
 */
function capture(
  pcap: Libpcap,
  opened: OpenHandle,
  options: LiveCaptureOptions,
  control: Int32Array,
  counters: LiveCaptureStats,
): CaptureEndMessage {
  const s = pcap.symbols;
  const p = opened.handle;
  const queueBytes = Math.min(options.queueBytes, kMaxQueueBytes);
  const header = new Uint8Array(kPkthdrBytes);
  const headerView = new DataView(header.buffer);
  const headerBox = new BigUint64Array(1);
  const dataBox = new BigUint64Array(1);
  const kernelStats = new Uint32Array(4);
  const chunk = new Uint8Array(kChunkBytes);
  const view = new DataView(chunk.buffer);
  const fractionToNs = opened.nanoseconds ? 1 : 1000;
  const poller = opened.fd >= 0 ? openReadableWait(opened.fd) : null;
  // Without poll(2), sleep on the stop flag: stop() notifies it, so only frames wait for the step.
  // (Waiting for its current value: once it is set, that is a plain sleep, not a spin.)
  const waitForFrames =
    poller !== null
      ? poller.wait
      : (ms: number) => void Atomics.wait(control, kStopRequested, Atomics.load(control, kStopRequested), Math.min(ms, kSleepStepMs));

  // The pcap file header, as cap-capture-process.js writes it but with libpcap's real snap length.
  view.setUint32(0, 0xa1b23c4d, true); // nanosecond timestamps
  view.setUint16(4, 2, true);
  view.setUint16(6, 4, true);
  view.setUint32(8, 0, true);
  view.setUint32(12, 0, true);
  view.setUint32(16, kMaxCapLen, true);
  view.setUint32(20, opened.linktype, true);
  let used = kFileHeaderBytes;
  // When the oldest record in the chunk was added (the header counts: the host learns the link type at once).
  let firstAdded = performance.now();

  const post = (): void => {
    const bytes = chunk.slice(0, used).buffer;
    // Count the bytes as queued before the host can see (and subtract) them: see kQueuedBytes.
    Atomics.add(control, kQueuedBytes, used);
    scope.postMessage({ type: "chunk", bytes, counters: { ...counters } }, [bytes]);
    used = 0;
  };
  const readKernelStats = (): void => {
    // struct pcap_stat { u_int ps_recv; u_int ps_drop; u_int ps_ifdrop; }: ps_drop is the kernel's.
    if (s.pcap_stats(p, kernelStats) === 0) counters.kernelDropped = kernelStats[1];
  };

  let error: string | null = null;
  let lastStats = performance.now();
  try {
    // Set when stop() is seen: the worker goes on until then to collect what the kernel already holds.
    let stopAt = Infinity;
    for (;;) {
      if (stopAt === Infinity && Atomics.load(control, kStopRequested) !== 0) stopAt = performance.now() + kStopDrainMs;
      const status = s.pcap_next_ex(p, headerBox, dataBox);
      if (status < 0) {
        // -2 (PCAP_ERROR_BREAK) is pcap_breakloop: an end, not a failure.
        if (status !== kPcapErrorBreak) error = statusText(pcap, p, status);
        break;
      }
      if (status === 1) {
        counters.received++;
        copyFrom(pointerAt(headerBox), header);
        const capLen = headerView.getUint32(kPkthdrCapLen, true);
        const need = kRecordHeaderBytes + capLen;
        if (Atomics.load(control, kQueuedBytes) + used + need > queueBytes) {
          counters.dropped++;
        } else {
          if (used + need > kChunkBytes) post();
          if (used === 0) firstAdded = performance.now();
          // tv_sec's low 32 bits are the pcap record's seconds (unsigned, good until 2106).
          view.setUint32(used, headerView.getUint32(kPkthdrSecLow, true), true);
          view.setUint32(used + 4, headerView.getInt32(kPkthdrFraction, true) * fractionToNs, true);
          view.setUint32(used + 8, capLen, true);
          view.setUint32(used + 12, headerView.getUint32(kPkthdrWireLen, true), true);
          copyFrom(pointerAt(dataBox), chunk.subarray(used + kRecordHeaderBytes, used + need));
          used += need;
        }
      }
      const now = performance.now();
      if (used > 0 && now - firstAdded >= kFlushMs) post();
      if (now - lastStats >= kStatsMs) {
        readKernelStats();
        scope.postMessage({ type: "stats", counters: { ...counters } });
        lastStats = now;
      }
      if (now >= stopAt) break;
      if (status === 0) waitForFrames(Math.min(used > 0 ? firstAdded + kFlushMs - now : kIdleWaitMs, stopAt - now));
    }
    if (used > 0) post();
    readKernelStats();
  } finally {
    poller?.close();
  }
  return { type: "end", counters, error };
}
