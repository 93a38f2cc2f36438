import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { isDeno } from "../runtime/host-runtime.ts";
import { LiveCaptureError } from "./live-capture.ts";

/** A device libpcap can capture on. */
export interface CaptureInterface {
  name: string;
  description: string;
  addresses: string[];
  loopback: boolean;
  /** The interface exists as a network device and is up (pseudo devices such as "any" are not). */
  up: boolean;
}

/** The operational state Linux reports for a network device ("up", "unknown", ...), or null for none. */
function operState(name: string): string | null {
  try {
    return readFileSync(`/sys/class/net/${name}/operstate`, "utf8").trim();
  } catch {
    return null;
  }
}

/** The devices libpcap sees, with their addresses: cap's device list on Node, pcap_findalldevs on Deno. */
export async function listInterfaces(): Promise<CaptureInterface[]> {
  if (isDeno) return (await import("./deno-live-capture.ts")).denoInterfaces();
  let cap: { Cap: { deviceList(): Array<{ name: string; description?: string; flags?: string; addresses: Array<{ addr?: string }> }> } };
  try {
    cap = createRequire(import.meta.url)("cap");
  } catch (err) {
    throw new LiveCaptureError("cap-missing", (err as Error).message);
  }
  return cap.Cap.deviceList().map((d) => {
    const state = operState(d.name);
    return {
      name: d.name,
      description: d.description ?? "",
      addresses: d.addresses.map((a) => a.addr).filter((a): a is string => typeof a === "string"),
      loopback: (d.flags ?? "").includes("LOOPBACK"),
      up: state === "up" || state === "unknown",
    };
  });
}

/** The interface tcpdump would pick: the first one that is up and not a loopback. */
export function defaultInterface(list: CaptureInterface[]): CaptureInterface | null {
  return list.find((i) => i.up && !i.loopback) ?? null;
}
