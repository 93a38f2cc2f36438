/**
 * The socket-server plugin under Deno (`npx deno run -A core/cli.ts`, where `ctx.listen` is
 * core/runtime/deno-runtime.ts) writes the same lines as under Node.js (`node core/bin.js`, with
 * core/runtime/node-runtime.ts), for the same client conversation: hello, replies, errors, events,
 * the stats line and the close. Skipped with a reason when `npx deno` is not available.
 */
import t from "tap";
import { TcpConversation } from "../support/tcp-conversation.ts";
import { tempFolder, writeCapture } from "../app/app-run.ts";
import {
  connectClient,
  denoMissing,
  LineClient,
  startCli,
  subscribedClient,
  type CliRuntime,
  type CloseKind,
  type Line,
} from "./socket-server-harness.ts";

const missing = denoMissing();

/** Two HTTP exchanges on one connection, and a second connection refused by a RST. */
function capture(): { file: string; packets: number } {
  const web = new TcpConversation({ client: { ip: "192.0.2.10", port: 49152 }, server: { ip: "203.0.113.80", port: 80 } });
  web.handshake();
  for (const path of ["/a", "/b"]) {
    web.send("client", `GET ${path} HTTP/1.1\r\nHost: example.com\r\n\r\n`).send("server", `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`);
  }
  web.close("server");
  const refused = new TcpConversation({
    client: { ip: "192.0.2.10", port: 49153 },
    server: { ip: "203.0.113.80", port: 8080 },
    startNs: 1_704_067_201_000_000_000n,
  });
  refused.segment("client", "S");
  refused.segment("server", "RA");
  const packets = [...web.packets, ...refused.packets];
  return { file: writeCapture(tempFolder(t), "web.pcap", packets), packets: packets.length };
}

/** What one client and a refused one saw in a run on `runtime`. */
interface Conversation {
  lines: Line[];
  closed: CloseKind;
  refused: Line[];
  status: number;
}

/**
 * Runs the CLI on `runtime` with max-clients=1, max-line=96, strikes=5: a client sends good and bad
 * commands and an overlong line, a second client is refused, then the capture runs.
 */
async function converse(file: string, runtime: CliRuntime): Promise<Conversation> {
  const options = ["port=0", "wait=1", "max-clients=1", "max-line=96", "strikes=5"];
  const host = startCli(["-r", file, "--plugins", "socket-server", ...options.flatMap((o) => ["-o", `socket-server.${o}`])], runtime);
  const port = await host.port;
  const { client, hello } = await connectClient(port);
  const lines: Line[] = [hello];
  const refusedClient = await LineClient.connect(port);
  const refused = await refusedClient.rest();
  for (const command of ["DANCE", "SUB http.requests", `SUB ${"x".repeat(200)}`, '{"unsubscribe":["tcp"]}']) {
    client.send(command);
    lines.push(await client.next());
  }
  client.send('{"subscribe":["flow.start","flow.end","http.request","http.response","tcp"]}');
  lines.push(...(await client.rest()));
  const outcome = await host.done;
  // The time the capture took is the one thing that may differ.
  for (const l of lines) if (l.type === "stats") l.elapsed = 0;
  return { lines, closed: await client.closed, refused, status: outcome.status };
}

t.test("under Deno a client gets exactly the lines it gets under Node.js", { skip: missing }, async (t) => {
  const { file, packets } = capture();
  const node = await converse(file, "node");
  const deno = await converse(file, "deno");
  t.equal(node.status, 0);
  t.equal(deno.status, 0);
  t.match(node.lines[node.lines.length - 1], { type: "stats", packets }, "the Node run ends with the stats line");
  t.equal(node.lines.filter((l) => l.type === "tcp").length, packets, "and streamed every TCP segment");
  t.same(deno.lines, node.lines, "the same lines, in the same order");
  t.equal(deno.closed, "end", "Deno closes cleanly");
  t.equal(node.closed, "end", "Node closes cleanly");
  t.same(deno.refused, node.refused, "the refused client is told the same");
  t.match(deno.refused, [{ type: "error", error: /^too many clients/ }, { type: "bye" }]);
});

t.test("under Deno, SIGINT while the host waits ends it as under Node.js: stats line, clean close, exit 0", { skip: missing }, async (t) => {
  const { file } = capture();
  const interrupt = async (runtime: CliRuntime) => {
    const options = ["port=0", "wait=2"].flatMap((o) => ["-o", `socket-server.${o}`]);
    const host = startCli(["-r", file, "--stats", "--format", "json", "--plugins", "socket-server", ...options], runtime);
    const client = await subscribedClient(await host.port, ["flow.end"]);
    host.kill("SIGINT");
    const lines = await client.rest();
    for (const l of lines) if (l.type === "stats") l.elapsed = 0;
    const outcome = await host.done;
    return { lines, closed: await client.closed, status: outcome.status, packets: outcome.stats?.packets };
  };
  const node = await interrupt("node");
  const deno = await interrupt("deno");
  t.match(node, { lines: [{ type: "stats", packets: 0 }], closed: "end", status: 0, packets: 0 });
  t.same(deno, node);
});
