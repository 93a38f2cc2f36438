/**
 * The Node runtime's TCP listener, as plugins get it through ctx.listen: a connection's input is a web
 * stream that ends when the peer shuts down its side (the output still works), and that takes from the
 * socket only what its reader asks for, so a client that sends a lot to a plugin that does not read
 * it waits in the kernel instead of filling the host's memory. Loopback only.
 */
import { connect, type Socket } from "node:net";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import t, { type Test } from "tap";
import { nodeRuntime } from "../../core/runtime/node-runtime.ts";
import type { TcpConnection } from "../../core/plugins/plugin-api.ts";

/** Listens on 127.0.0.1 with `onConnection`; returns the port and a client connected to it. */
async function serve(t: Test, onConnection: (conn: TcpConnection) => void): Promise<Socket> {
  const listener = await nodeRuntime.listen({ host: "127.0.0.1", port: 0 }, onConnection);
  t.teardown(() => listener.close());
  const client = connect(listener.port, "127.0.0.1");
  await new Promise((resolve) => client.once("connect", resolve));
  t.teardown(() => client.destroy());
  return client;
}

/** A client connected to a listener, and the server's side of that connection. */
async function accepted(t: Test): Promise<{ client: Socket; conn: TcpConnection }> {
  let connected: (c: TcpConnection) => void = () => {};
  const conn = new Promise<TcpConnection>((resolve) => (connected = resolve));
  const client = await serve(t, (c) => connected(c));
  return { client, conn: await conn };
}

// First in this file: the other tests' garbage would blur what it measures.
t.test("what the plugin reads and drops is not kept anywhere else while the connection lasts", async (t) => {
  v8.setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const { client, conn } = await accepted(t);
  gc();
  const before = process.memoryUsage().arrayBuffers;
  const sent = 64 << 20;
  for (let i = 0; i < sent / 65536; i++) client.write(new Uint8Array(65536));
  const reader = conn.readable.getReader();
  let total = 0;
  while (total < sent) {
    const { value, done } = await reader.read();
    if (done) break;
    total += value.byteLength;
  }
  t.equal(total, sent);
  // The client's own buffers are let go once its writes complete; V8 frees the memory of collected
  // array buffers on a background thread, after the collection, so it is looked at a few times.
  while (client.writableLength > 0) await new Promise((r) => setTimeout(r, 10));
  let grown = Infinity;
  for (let i = 0; i < 10 && grown >= 16 << 20; i++) {
    await new Promise((r) => setTimeout(r, 100));
    gc();
    grown = process.memoryUsage().arrayBuffers - before;
  }
  t.ok(grown < 16 << 20, `array buffers grew by ${(grown / 2 ** 20).toFixed(1)} MiB for 64 MiB read and dropped`);
  conn.close();
});

t.test("the input ends when the client shuts down its side, and the answer still reaches it", async (t) => {
  const client = await serve(t, async (conn) => {
    let bytes = 0;
    for await (const chunk of conn.readable) bytes += chunk.byteLength;
    const writer = conn.writable.getWriter();
    await writer.write(new TextEncoder().encode(`got ${bytes} bytes\n`));
    await writer.close();
  });
  const reply = new Promise<string>((resolve) => {
    let text = "";
    client.setEncoding("utf8");
    client.on("data", (s: string) => (text += s));
    client.on("end", () => resolve(text));
  });
  client.end(new Uint8Array(1 << 20));
  t.equal(await reply, `got ${1 << 20} bytes\n`);
});

t.test("what the plugin does not read stays in the kernel and the client's buffer, not in the host", async (t) => {
  const { client, conn } = await accepted(t);
  // In 64 KiB writes, so that what the client still holds is counted write by write.
  const sent = 64 << 20;
  for (let i = 0; i < sent / 65536; i++) client.write(new Uint8Array(65536));
  await new Promise((r) => setTimeout(r, 300));
  t.ok(client.writableLength > sent / 2, `most of it still waits at the client (${client.writableLength} bytes)`);
  const reader = conn.readable.getReader();
  client.end();
  let total = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    total += value.byteLength;
  }
  t.equal(total, sent, "and all of it arrives once read");
  conn.close();
});
