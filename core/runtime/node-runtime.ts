import { createServer, type Socket } from "node:net";
import { Writable } from "node:stream";
import type { TcpConnection } from "../plugins/plugin-api.ts";
import type { HostRuntime } from "./host-runtime.ts";

/** Node.js capabilities: `net` sockets exposed as web streams with `Duplex.toWeb`. */
export const nodeRuntime: HostRuntime = {
  name: "node",
  listen({ host, port }, onConnection) {
    return new Promise((resolve, reject) => {
      // Half-open allowed: a client that has said all it will (and shut down its side) still reads.
      const server = createServer({ allowHalfOpen: true }, (socket) => {
        socket.setNoDelay(true);
        // A peer that closed after shutting down its side is found by the next write, or by keepalive
        // probes when nothing is written to it.
        socket.setKeepAlive(true, 30_000);
        // A peer that resets the connection must not become an uncaught 'error' event.
        socket.on("error", () => socket.destroy());
        // Not Duplex.toWeb: its readable side would also listen to 'data' and queue every byte
        // received, unread, for as long as the connection lasts.
        const writable = Writable.toWeb(socket);
        const conn: TcpConnection = {
          remote: `${socket.remoteAddress}:${socket.remotePort}`,
          readable: readableOf(socket),
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

/**
 * The socket's input as a web stream that ends when the peer shuts down its side. (The readable of
 * Duplex.toWeb for a half-open socket ends only once the writable side has finished too.)
 */
function readableOf(socket: Socket): ReadableStream<Uint8Array> {
  let settled = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        socket.on("data", (chunk: Buffer) => {
          if (settled) return;
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          // Backpressure: the kernel holds what the reader has not asked for yet.
          if ((controller.desiredSize ?? 1) <= 0) socket.pause();
        });
        const end = () => {
          if (settled) return;
          settled = true;
          controller.close();
        };
        socket.on("end", end);
        socket.on("close", end);
      },
      pull() {
        socket.resume();
      },
      cancel() {
        settled = true;
        socket.destroy();
      },
    },
    { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength },
  );
}
