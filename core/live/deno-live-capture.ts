import type { CaptureInterface } from "./capture-interfaces.ts";
import type { LiveCapture, LiveCaptureOptions } from "./live-capture.ts";
import { LiveCaptureError } from "./live-capture.ts";

/** Live capture on Deno, through libpcap's C API (Deno.dlopen): to be written. */
export function openDenoCapture(_options: LiveCaptureOptions): Promise<LiveCapture> {
  return Promise.reject(new LiveCaptureError("open", "live capture under Deno is not available yet"));
}

/** Interfaces through pcap_findalldevs: to be written. */
export function denoInterfaces(): Promise<CaptureInterface[]> {
  return Promise.reject(new LiveCaptureError("open", "listing interfaces under Deno is not available yet"));
}
