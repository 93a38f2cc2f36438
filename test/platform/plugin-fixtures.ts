/**
 * Plugins written on the fly for the plugin-platform tests: each test gets its own folder (with the
 * package.json that makes a `.ts` file there an ES module) and a small capture from test/support.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { Test } from "tap";
import { makeTempDir } from "../support/wireshark-tools.ts";
import { encodePcap } from "../support/pcap-writer.ts";
import { TcpConversation } from "../support/tcp-conversation.ts";
import { pluginApiUrl } from "../app/app-run.ts";

export { pluginApiUrl };

/** A fresh folder for test plugins, removed after the test. */
export function pluginFolder(t: Test): string {
  const temp = makeTempDir("plugins-");
  t.teardown(() => temp.remove());
  const dir = temp.path;
  writeFileSync(join(dir, "package.json"), '{"type":"module"}\n');
  return dir;
}

/**
 * Writes plugin `name` whose default export is `body` (the argument of definePlugin). It imports the
 * API by a relative path, as a plugin folder outside the project would, so that the type checker of
 * hot reload resolves it too.
 */
export function writePlugin(dir: string, name: string, body: string): string {
  const path = join(dir, `${name}.ts`);
  const api = relative(dir, fileURLToPath(pluginApiUrl));
  writeFileSync(path, `import { definePlugin } from ${JSON.stringify(api)};\nexport default definePlugin(${body});\n`);
  return path;
}

/** A capture of `connections` small HTTP exchanges (about 10 packets each), written into `dir`. */
export function smallCapture(dir: string, connections = 20): string {
  const frames = [];
  for (let i = 0; i < connections; i++) {
    const c = new TcpConversation({
      client: { ip: "192.0.2.10", port: 40000 + i },
      server: { ip: "198.51.100.80", port: 80 },
      startNs: BigInt(1_700_000_000 + i) * 1_000_000_000n,
    });
    c.handshake();
    c.send("client", `GET /${i} HTTP/1.1\r\nHost: example.com\r\n\r\n`);
    c.send("server", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    c.close("client");
    frames.push(...c.packets);
  }
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "small.pcap");
  writeFileSync(path, encodePcap(frames));
  return path;
}
