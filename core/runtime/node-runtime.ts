import { createServer } from "node:net";
import { Duplex } from "node:stream";
import type { TcpConnection } from "../plugins/plugin-api.ts";
import type { HostRuntime } from "./host-runtime.ts";

/** Node.js capabilities: `net` sockets exposed as web streams with `Duplex.toWeb`. */
export const nodeRuntime: HostRuntime = {
  name: "node",
  listen({ host, port }, onConnection) {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => {
        socket.setNoDelay(true);
        // A peer that resets the connection must not become an uncaught 'error' event.
        socket.on("error", () => socket.destroy());
        const { readable, writable } = Duplex.toWeb(socket);
        const conn: TcpConnection = {
          remote: `${socket.remoteAddress}:${socket.remotePort}`,
          readable: readable as ReadableStream<Uint8Array>,
          writable: writable as WritableStream<Uint8Array>,
          close: () => socket.destroy(),
        };
        onConnection(conn);
      });
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        const address = server.address();
        resolve({
          host,
          port: typeof address === "object" && address !== null ? address.port : port,
          close: () => new Promise<void>((done) => server.close(() => done())),
        });
      });
    });
  },
};
