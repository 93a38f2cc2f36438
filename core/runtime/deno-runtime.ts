import type { TcpConnection } from "../plugins/plugin-api.ts";
import type { HostRuntime } from "./host-runtime.ts";

/** The part of Deno's API this adapter uses (so the project type-checks without Deno's types). */
interface DenoConn {
  readonly remoteAddr: { hostname: string; port: number };
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  setKeepAlive?(keepAlive: boolean): void;
  close(): void;
}
interface DenoListener extends AsyncIterable<DenoConn> {
  readonly addr: { hostname: string; port: number };
  close(): void;
}
declare const Deno: {
  listen(options: { hostname: string; port: number; transport: "tcp" }): DenoListener;
};

/** Deno capabilities: `Deno.listen`, whose connections are web streams already. */
export const denoRuntime: HostRuntime = {
  name: "deno",
  async listen({ host, port }, onConnection) {
    const listener = Deno.listen({ hostname: host, port, transport: "tcp" });
    let closed = false;
    (async () => {
      try {
        for await (const c of listener) {
          // As on Node: a peer that closed after shutting down its side is found when nothing is written to it.
          c.setKeepAlive?.(true);
          const conn: TcpConnection = {
            remote: `${c.remoteAddr.hostname}:${c.remoteAddr.port}`,
            readable: c.readable,
            writable: c.writable,
            close: () => {
              try {
                c.close();
              } catch {
                // already closed by the peer
              }
            },
          };
          onConnection(conn);
        }
      } catch (err) {
        if (!closed) throw err;
      }
    })();
    return {
      host,
      port: listener.addr.port,
      close: async () => {
        closed = true;
        listener.close();
      },
    };
  },
};
