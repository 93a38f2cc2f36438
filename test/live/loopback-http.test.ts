/**
 * Live capture on loopback, end to end: a local HTTP server, the host capturing on `lo` with a
 * filter on the server's port and the http-printer plugin, requests made while it runs, then ^C.
 */
import { createServer, get } from "node:http";
import type { AddressInfo } from "node:net";
import t from "tap";
import { liveSkip, startHost } from "./live-host.ts";

const skip = liveSkip();

/** GET http://127.0.0.1:port/path, resolving with the body once the response is complete. */
function request(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

t.test("http-printer names each request made on loopback while the host captures on lo", { skip }, async (t) => {
  const server = createServer((req, res) => res.end(`you asked for ${req.url}`));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;

  const host = startHost(["-i", "lo", "-f", `tcp port ${port}`, "--plugins", "http-printer"]);
  t.teardown(() => host.kill());
  // "GET 127.0.0.1:port /path HTTP/1.1": method, Host header, URI and version, as http-printer prints them.
  const printed = (path: string) => host.stdout.filter((line) => line.includes(` GET 127.0.0.1:${port} ${path} HTTP/1.1`));

  // The capture is open once a request shows up: ask until one does (the first ones may come too early).
  let warmups = 0;
  await host.until("a first request to show up", () => {
    if (host.stdout.some((line) => line.includes(" /warm-up-"))) return true;
    request(port, `/warm-up-${++warmups}`).catch(() => {});
    return false;
  });

  const paths = ["/index.html", "/search?q=packets", "/a/b/c", "/favicon.ico", "/last"];
  for (const path of paths) t.equal(await request(port, path), `you asked for ${path}`);
  await host.until("every request to be printed", () => paths.every((path) => printed(path).length > 0));
  host.interrupt();
  const exit = await host.end();

  t.same(exit, { code: 0, signal: null }, "^C ends the run with status 0");
  for (const path of paths) {
    const lines = printed(path);
    t.equal(lines.length, 1, `${path} is printed once`);
    const m = new RegExp(`^\\d+\\.\\d{6} 127\\.0\\.0\\.1:(\\d+) -> 127\\.0\\.0\\.1:${port} GET `).exec(lines[0] ?? "");
    t.ok(m, `${path}: capture time, client and server come first`);
    // The server's answer on the same connection is printed too.
    const answer = ` 127.0.0.1:${port} -> 127.0.0.1:${m?.[1]} 200 OK`;
    t.ok(host.stdout.some((line) => line.endsWith(answer)), `${path}: its response is printed`);
  }
});
