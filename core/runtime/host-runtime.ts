import type { TcpConnection, TcpListener } from "../plugins/plugin-api.ts";

/**
 * The capabilities that differ between runtimes, injected into the plugin context: plugins reach
 * the network only through these, which is what lets one plugin file run on Node.js and on Deno.
 */
export interface HostRuntime {
  readonly name: "node" | "deno";
  /** Opens a TCP server and hands each accepted connection to `onConnection` as web streams. */
  listen(options: { host: string; port: number }, onConnection: (conn: TcpConnection) => void): Promise<TcpListener>;
}

/** True when running on Deno. */
export const isDeno = "Deno" in globalThis;

/** The runtime this process runs on. */
export async function currentRuntime(): Promise<HostRuntime> {
  if (isDeno) return (await import("./deno-runtime.ts")).denoRuntime;
  return (await import("./node-runtime.ts")).nodeRuntime;
}
