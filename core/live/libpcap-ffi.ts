/**
 * libpcap's C API through Deno's FFI (`Deno.dlopen`): the symbol table, the struct layouts the host
 * reads, and small typed wrappers; plus poll(2) from libc, to wait for libpcap's descriptor. Deno
 * cannot load the `cap` addon (a nan addon), so on Deno this is how the host reaches the system libpcap.
 *
 * Only imported under Deno: nothing here touches `Deno` before a function is called, so the project
 * type-checks (and Node never loads this file) without Deno's types.
 */
import { ipv4Text, ipv6Text } from "../dispatch/address-text.ts";
import type { LiveErrorKind } from "./live-capture.ts";

/** An opaque C pointer as Deno's FFI hands it out; null is NULL. */
export type CPointer = object | null;

/** The part of Deno's FFI API this module uses (so the project type-checks without Deno's types). */
interface DenoPointerView {
  getUint8(offset?: number): number;
  getUint16(offset?: number): number;
  getUint32(offset?: number): number;
  getPointer(offset?: number): CPointer;
}
interface DenoFfi {
  dlopen(path: string, symbols: object): { symbols: unknown; close(): void };
  UnsafePointerView: {
    new (pointer: object): DenoPointerView;
    getCString(pointer: object, offset?: number): string;
    copyInto(pointer: object, destination: Uint8Array, offset?: number): void;
  };
  UnsafePointer: { create(address: bigint): CPointer };
  build: { os: string };
}
declare const Deno: DenoFfi;

/** libpcap's error buffer size (PCAP_ERRBUF_SIZE). */
export const kErrbufSize = 256;

/** pcap_activate() / pcap_next_ex() status codes the host tells apart (pcap/pcap.h). */
export const kPcapError = -1;
export const kPcapErrorBreak = -2;
export const kPcapErrorNoSuchDevice = -5;
export const kPcapErrorPermDenied = -8;
export const kPcapErrorPromiscPermDenied = -11;
/** PCAP_TSTAMP_PRECISION_NANO: timestamps in nanoseconds rather than microseconds. */
export const kPcapTstampPrecisionNano = 1;
/** PCAP_NETMASK_UNKNOWN: pcap_compile()'s netmask when the interface has no IPv4 address. */
export const kPcapNetmaskUnknown = 0xffffffff;

/** pcap_if_t.flags bits. */
export const kPcapIfLoopback = 1;
export const kPcapIfUp = 2;
export const kPcapIfRunning = 4;

/**
 * struct pcap_pkthdr on 64-bit Unix: struct timeval (tv_sec 8 bytes at 0, tv_usec at 8), caplen at 16,
 * len at 20. tv_usec is 8 bytes on Linux and 4 (plus padding) on macOS: reading its low 4 bytes as a
 * little-endian int32 is right on both, and the value always fits (it is below 10^9).
 */
export const kPkthdrSecLow = 0;
export const kPkthdrFraction = 8;
export const kPkthdrCapLen = 16;
export const kPkthdrWireLen = 20;
export const kPkthdrBytes = 24;

/**
 * The functions the host calls, as `Deno.dlopen` wants them. Functions newer than libpcap 1.0 are
 * optional: an old libpcap still captures, with microsecond timestamps.
 */
export const kLibpcapSymbols = {
  pcap_lib_version: { parameters: [], result: "pointer" },
  pcap_create: { parameters: ["buffer", "buffer"], result: "pointer" },
  pcap_set_snaplen: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_promisc: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_timeout: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_buffer_size: { parameters: ["pointer", "i32"], result: "i32" },
  pcap_set_tstamp_precision: { parameters: ["pointer", "i32"], result: "i32", optional: true },
  pcap_get_tstamp_precision: { parameters: ["pointer"], result: "i32", optional: true },
  pcap_activate: { parameters: ["pointer"], result: "i32" },
  pcap_geterr: { parameters: ["pointer"], result: "pointer" },
  pcap_statustostr: { parameters: ["i32"], result: "pointer" },
  pcap_lookupnet: { parameters: ["buffer", "buffer", "buffer", "buffer"], result: "i32" },
  pcap_compile: { parameters: ["pointer", "buffer", "buffer", "i32", "u32"], result: "i32" },
  pcap_setfilter: { parameters: ["pointer", "buffer"], result: "i32" },
  pcap_freecode: { parameters: ["buffer"], result: "void" },
  pcap_datalink: { parameters: ["pointer"], result: "i32" },
  pcap_setnonblock: { parameters: ["pointer", "i32", "buffer"], result: "i32" },
  pcap_get_selectable_fd: { parameters: ["pointer"], result: "i32" },
  pcap_next_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  pcap_stats: { parameters: ["pointer", "buffer"], result: "i32" },
  pcap_close: { parameters: ["pointer"], result: "void" },
  pcap_findalldevs: { parameters: ["buffer", "buffer"], result: "i32" },
  pcap_freealldevs: { parameters: ["pointer"], result: "void" },
} as const;

/** The loaded functions, typed as the host calls them (`Uint8Array`s stand for C buffers and out-parameters). */
export interface LibpcapSymbols {
  pcap_lib_version(): CPointer;
  pcap_create(device: Uint8Array, errbuf: Uint8Array): CPointer;
  pcap_set_snaplen(p: CPointer, snaplen: number): number;
  pcap_set_promisc(p: CPointer, on: number): number;
  pcap_set_timeout(p: CPointer, ms: number): number;
  pcap_set_buffer_size(p: CPointer, bytes: number): number;
  pcap_set_tstamp_precision: ((p: CPointer, precision: number) => number) | null;
  pcap_get_tstamp_precision: ((p: CPointer) => number) | null;
  pcap_activate(p: CPointer): number;
  pcap_geterr(p: CPointer): CPointer;
  pcap_statustostr(status: number): CPointer;
  pcap_lookupnet(device: Uint8Array, net: Uint32Array, mask: Uint32Array, errbuf: Uint8Array): number;
  pcap_compile(p: CPointer, program: Uint8Array, filter: Uint8Array, optimize: number, netmask: number): number;
  pcap_setfilter(p: CPointer, program: Uint8Array): number;
  pcap_freecode(program: Uint8Array): void;
  pcap_datalink(p: CPointer): number;
  pcap_setnonblock(p: CPointer, on: number, errbuf: Uint8Array): number;
  pcap_get_selectable_fd(p: CPointer): number;
  pcap_next_ex(p: CPointer, header: BigUint64Array, data: BigUint64Array): number;
  pcap_stats(p: CPointer, stats: Uint32Array): number;
  pcap_close(p: CPointer): void;
  pcap_findalldevs(list: BigUint64Array, errbuf: Uint8Array): number;
  pcap_freealldevs(list: CPointer): void;
}

/** The system libpcap, opened. */
export interface Libpcap {
  readonly symbols: LibpcapSymbols;
  /** The file that loaded, e.g. "libpcap.so.0.8". */
  readonly path: string;
  close(): void;
}

/** A libpcap failure, with the kind the host turns into its message and exit status. */
export class LibpcapError extends Error {
  constructor(
    readonly kind: LiveErrorKind,
    message: string,
  ) {
    super(message);
    this.name = "LibpcapError";
  }
}

/** The names libpcap goes by, most specific first (Debian ships libpcap.so.0.8 and, with -dev, libpcap.so). */
function libraryNames(os: string): string[] {
  const linux = ["libpcap.so.1", "libpcap.so.0.8", "libpcap.so"];
  const mac = ["libpcap.A.dylib", "libpcap.dylib"];
  return os === "darwin" ? mac : os === "linux" ? linux : [...linux, ...mac];
}

/**
 * Opens the system libpcap, trying its usual names. Throws LibpcapError "cap-missing" when none loads
 * (with what to install), or "open" when Deno was not given FFI permission.
 *
 * @example
 * const pcap = loadLibpcap(); // under `deno run -A`
 * console.assert(cString(pcap.symbols.pcap_lib_version()).startsWith("libpcap version"));
 * pcap.close();
 */
export function loadLibpcap(names: string[] = libraryNames(Deno.build.os)): Libpcap {
  const failures: string[] = [];
  for (const name of names) {
    try {
      const lib = Deno.dlopen(name, kLibpcapSymbols);
      return { symbols: lib.symbols as LibpcapSymbols, path: name, close: () => lib.close() };
    } catch (err) {
      const e = err as Error;
      if (e.name === "NotCapable" || e.name === "PermissionDenied") {
        throw new LibpcapError("open", "live capture under Deno loads libpcap through FFI, which needs --allow-ffi (or -A)");
      }
      // Deno repeats its prefix ("Could not open library: Could not open library: libpcap.so.1: ...").
      failures.push(e.message.replace(/^(Could not open library: )+/, ""));
    }
  }
  throw new LibpcapError(
    "cap-missing",
    `Cannot load libpcap, tried ${names.join(", ")} (${failures[0] ?? "no names"}): install libpcap (as root: apt-get install libpcap0.8)`,
  );
}

/** A NUL-terminated copy of `text`, for a `const char *` parameter. */
export function cStringBytes(text: string): Uint8Array {
  const utf8 = new TextEncoder().encode(text);
  const out = new Uint8Array(utf8.length + 1);
  out.set(utf8);
  return out;
}

/** The text of a NUL-terminated C string (an error buffer), "" for NULL. */
export function cString(source: CPointer | Uint8Array): string {
  if (source === null) return "";
  if (source instanceof Uint8Array) {
    const end = source.indexOf(0);
    return new TextDecoder().decode(end < 0 ? source : source.subarray(0, end));
  }
  return Deno.UnsafePointerView.getCString(source);
}

/** The pointer an out-parameter received (`**` arguments are passed as one-element BigUint64Arrays). */
export function pointerAt(box: BigUint64Array): CPointer {
  return Deno.UnsafePointer.create(box[0]);
}

/** Copies `into.length` bytes from C memory at `source` into `into`. */
export function copyFrom(source: CPointer, into: Uint8Array): void {
  if (source !== null) Deno.UnsafePointerView.copyInto(source, into);
}

/**
 * libpcap's words for a failed call on handle `p`: pcap_geterr() when it says something, else the
 * generic text of `status` (pcap_statustostr), as tcpdump does.
 */
export function statusText(pcap: Libpcap, p: CPointer, status: number): string {
  const detail = p === null ? "" : cString(pcap.symbols.pcap_geterr(p));
  return detail !== "" ? detail : cString(pcap.symbols.pcap_statustostr(status));
}

/** One device of pcap_findalldevs(), with the IPv4 and IPv6 addresses it carries, as text. */
export interface PcapDevice {
  name: string;
  description: string;
  flags: number;
  addresses: string[];
}

/**
 * The devices libpcap can capture on (pcap_findalldevs), in libpcap's order; the list is freed
 * before this returns.
 *
 * ```
 *  pcap_if_t (64-bit):  next @0  name @8  description @16  addresses @24  flags u32 @32
 *  pcap_addr_t:         next @0  addr @8 (struct sockaddr *)  netmask, broadaddr, dstaddr after
 * ```
 */
export function findAllDevices(pcap: Libpcap): PcapDevice[] {
  const head = new BigUint64Array(1);
  const errbuf = new Uint8Array(kErrbufSize);
  if (pcap.symbols.pcap_findalldevs(head, errbuf) !== 0) {
    throw new LibpcapError("open", `Cannot list interfaces: ${cString(errbuf)}`);
  }
  const first = pointerAt(head);
  const devices: PcapDevice[] = [];
  try {
    for (let dev = first; dev !== null; ) {
      const v = new Deno.UnsafePointerView(dev);
      const addresses: string[] = [];
      for (let a = v.getPointer(24); a !== null; ) {
        const av = new Deno.UnsafePointerView(a);
        const text = sockaddrText(av.getPointer(8));
        if (text !== null) addresses.push(text);
        a = av.getPointer(0);
      }
      devices.push({
        name: cString(v.getPointer(8)),
        description: cString(v.getPointer(16)),
        flags: v.getUint32(32),
        addresses,
      });
      dev = v.getPointer(0);
    }
  } finally {
    pcap.symbols.pcap_freealldevs(first);
  }
  return devices;
}

/**
 * An IPv4 or IPv6 socket address as text, null for other families (AF_PACKET link addresses).
 * Linux: sa_family is a u16 at 0, AF_INET 2, AF_INET6 10. BSD and macOS start with sa_len (u8) and
 * sa_family (u8); macOS's AF_INET6 is 30. The address itself is at 4 (sockaddr_in) or 8 (sockaddr_in6).
 */
function sockaddrText(sa: CPointer): string | null {
  if (sa === null) return null;
  const v = new Deno.UnsafePointerView(sa);
  const bsd = Deno.build.os === "darwin";
  const family = bsd ? v.getUint8(1) : v.getUint16(0);
  const bytes = new Uint8Array(16);
  if (family === 2) {
    Deno.UnsafePointerView.copyInto(sa, bytes.subarray(0, 4), 4);
    return ipv4Text(bytes, 0);
  }
  if (family === (bsd ? 30 : 10)) {
    Deno.UnsafePointerView.copyInto(sa, bytes, 8);
    return ipv6Text(bytes, 0);
  }
  return null;
}

/** poll(2): `struct pollfd *fds, nfds_t nfds, int timeout` (nfds_t is a long on Linux, an int on macOS: both fit a register). */
const kLibcSymbols = {
  poll: { parameters: ["buffer", "usize", "i32"], result: "i32" },
} as const;

/** A wait for one file descriptor to become readable. */
export interface ReadableWait {
  /** Returns when the descriptor is readable, a signal interrupts, or `timeoutMs` have passed. */
  wait(timeoutMs: number): void;
  close(): void;
}

/**
 * A poll(2) on `fd` for reading, through libc; null when libc cannot be loaded under its usual name
 * (the caller then sleeps in short steps instead).
 */
export function openReadableWait(fd: number): ReadableWait | null {
  const names = Deno.build.os === "darwin" ? ["libSystem.B.dylib", "/usr/lib/libSystem.B.dylib"] : ["libc.so.6", "libc.so"];
  for (const name of names) {
    let lib: { symbols: unknown; close(): void };
    try {
      lib = Deno.dlopen(name, kLibcSymbols);
    } catch {
      continue;
    }
    const poll = (lib.symbols as { poll(fds: Uint8Array, nfds: number, timeout: number): number }).poll;
    // struct pollfd { int fd; short events; short revents; }, asking for POLLIN (1).
    const pollfd = new Uint8Array(8);
    const view = new DataView(pollfd.buffer);
    view.setInt32(0, fd, true);
    view.setInt16(4, 1, true);
    return {
      wait: (timeoutMs) => void poll(pollfd, 1, Math.max(0, Math.ceil(timeoutMs))),
      close: () => lib.close(),
    };
  }
  return null;
}
