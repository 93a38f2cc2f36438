/**
 * The socket-server plugin through the whole host, run in-process by `runHost`, with real TCP clients
 * on 127.0.0.1: hello, subscriptions, bad commands, garbage and overlong lines, the token, the client
 * limit, `wait=N` and the final stats line. Every run asks for port 0 and reads the real port from
 * the plugin's stderr line; `wait=N` holds the capture until the test's clients have subscribed.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import t, { type Test } from "tap";
import { TcpConversation } from "../support/tcp-conversation.ts";
import { pluginApiUrl, runApp, tempFolder, writeCapture } from "../app/app-run.ts";
import { connectClient, eventLines, LineClient, startInProcess, subscribedClient, type Line } from "./socket-server-harness.ts";

const paths = ["/page0", "/page1", "/page2"];

/**
 * Three HTTP connections one after the other (client ports 49152..49154), each a GET of
 * /page0../page2 answered by a 200, then closed: 30 packets, 3 flows, 3 requests, 3 responses.
 */
function webCapture(t: Test): string {
  const packets = paths.flatMap((path, i) => {
    const c = new TcpConversation({
      client: { ip: "192.0.2.10", port: 49152 + i },
      server: { ip: "203.0.113.80", port: 80 },
      startNs: 1_704_067_200_000_000_000n + BigInt(i) * 1_000_000_000n,
    });
    const body = `body of ${path}`;
    c.handshake()
      .send("client", `GET ${path} HTTP/1.1\r\nHost: example.com\r\n\r\n`)
      .send("server", `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
      .close("client");
    return c.packets;
  });
  return writeCapture(tempFolder(t), "web.pcap", packets);
}

/** Options of a run: a free port, plus `extra`. */
const opts = (...extra: string[]) => ["socket-server.port=0", ...extra.map((o) => `socket-server.${o}`)];

/** The `type` of each line. */
const types = (lines: readonly Line[]) => lines.map((l) => l.type);

t.test("a client gets a hello line with the host version and the events it can subscribe to", async (t) => {
  const host = startInProcess(webCapture(t), ["socket-server", "http-printer"], opts("wait=1"));
  const { client, hello } = await connectClient(await host.port);
  t.equal(hello.version, "test", "the host's version");
  t.equal(hello.auth, false, "no token asked for");
  const events = hello.events as string[];
  for (const name of ["packet", "tcp", "flow.start", "flow.end", "http.request", "http.response", "dns", "tls.client_hello"]) {
    t.ok(events.includes(name), `hello lists ${name}`);
  }
  client.send("SUB flow.end");
  await client.rest();
  t.equal((await host.done).status, 0);
});

t.test("a subscribed client receives its events in capture order, then a stats line and a clean close", async (t) => {
  const host = startInProcess(webCapture(t), ["socket-server", "http-printer"], opts("wait=1"));
  const { client } = await connectClient(await host.port);
  client.send('{"subscribe":["http.request","flow.end"]}');
  t.same(await client.next(), { type: "ok", subscribed: ["http.request", "flow.end"] });
  const lines = await client.rest();
  t.equal(await client.closed, "end", "closed with a FIN, not a reset");
  const events = eventLines(lines);
  t.same(
    events.filter((e) => e.type === "http.request").map((e) => e.uri),
    paths,
    "the three requests, in order",
  );
  t.same(
    events.filter((e) => e.type === "flow.end").map((e) => e.aport),
    [49152, 49153, 49154],
    "the three flows' ends, in order",
  );
  t.same(new Set(types(events)), new Set(["http.request", "flow.end"]), "nothing it did not ask for");
  const stats = lines[lines.length - 1];
  t.match(stats, { type: "stats", packets: 30, events_sent: 6, dropped_for_you: 0 }, "the last line is the final stats line");
  const outcome = await host.done;
  t.equal(outcome.status, 0);
  t.ok(outcome.stderr.includes(`[socket-server] listening on 127.0.0.1:${await host.port}`), "it listened on the loopback address by default");
  t.equal(outcome.stdout.length, 6, "http-printer printed its lines alongside");
});

t.test("listening beyond loopback without a token is warned about", async (t) => {
  const open = await startInProcess(webCapture(t), ["socket-server"], opts("host=0.0.0.0")).done;
  t.equal(open.status, 0);
  t.match(open.stderr, /\[socket-server\] warning: 0\.0\.0\.0 is not a loopback address and no token is set: anyone who can reach port \d+ gets the traffic's events; set -o socket-server\.token=SECRET/);
  const withToken = await startInProcess(webCapture(t), ["socket-server"], opts("host=0.0.0.0", "token=s3cret")).done;
  t.notMatch(withToken.stderr, /warning/, "not with a token");
  const loopback = await startInProcess(webCapture(t), ["socket-server"], opts()).done;
  t.notMatch(loopback.stderr, /warning/, "not on loopback");
});

t.test("unsubscribing (JSON or UNSUB) leaves a client only the events it still wants", async (t) => {
  const host = startInProcess(webCapture(t), ["socket-server"], opts("wait=2"));
  const port = await host.port;
  const { client: a } = await connectClient(port);
  a.send("SUB http.request flow.end http.response");
  t.same(await a.next(), { type: "ok", subscribed: ["http.request", "flow.end", "http.response"] });
  a.send('{"unsubscribe":["flow.end"]}');
  t.same(await a.next(), { type: "ok", subscribed: ["http.request", "http.response"] });
  a.send("unsub http.response");
  t.same(await a.next(), { type: "ok", subscribed: ["http.request"] }, "text commands are case-insensitive");
  // The second subscriber starts the capture; it asked only for what the first one dropped.
  const b = await subscribedClient(port, ["flow.end"]);
  const [aLines, bLines] = await Promise.all([a.rest(), b.rest()]);
  t.same(types(eventLines(aLines)), ["http.request", "http.request", "http.request"]);
  t.same(types(eventLines(bLines)), ["flow.end", "flow.end", "flow.end"], "flow.end still reaches the client that wants it");
  t.equal((await host.done).status, 0);
});

t.test("a bad command gets an error line, and the connection stays up", async (t) => {
  const host = startInProcess(webCapture(t), ["socket-server"], opts("wait=1", "strikes=5"));
  const { client } = await connectClient(await host.port);
  const bad: Array<[string, RegExp]> = [
    ['{"subscribe":"flow.end"}', /^unknown command: use subscribe or unsubscribe with a list of event names/],
    ["SUB http.requests", /^unknown event "http\.requests": events are packet, /],
    ["dance now", /^unknown command "dance"/],
    ['{"subscribe":["flow.end"]', /^not a command/],
  ];
  for (const [command, error] of bad) {
    client.send(command);
    t.match(await client.next(), { type: "error", error }, `${command} is answered with an error`);
  }
  client.send("SUB flow.end");
  t.same(await client.next(), { type: "ok", subscribed: ["flow.end"] }, "a good command still works afterwards");
  const lines = await client.rest();
  t.equal(eventLines(lines).length, 3, "and the events come");
  t.equal(lines[lines.length - 1].type, "stats");
  t.equal(await client.closed, "end");
  t.equal((await host.done).status, 0);
});

t.test("a client that sends garbage gets an error per line and is disconnected at the strikes-th", async (t) => {
  const host = startInProcess(webCapture(t), ["socket-server"], opts("wait=1", "strikes=3"));
  const port = await host.port;
  const { client } = await connectClient(port);
  // Bytes that are neither text nor JSON (and hold no newline), three lines of them.
  const junk = Uint8Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % 256).filter((b) => b !== 0x0a);
  for (let i = 0; i < 3; i++) client.write(Buffer.concat([junk, Buffer.from("\n")]));
  const lines = await client.rest();
  t.equal(await client.closed, "end", "disconnected with a clean close");
  t.same(types(lines), ["error", "error", "error", "error", "bye"], "an error per line, then the reason, then bye");
  t.match(lines[3], { error: /^too many bad commands/ });
  t.same(eventLines(lines), [], "no events");
  // The capture and the other clients are unaffected.
  const good = await subscribedClient(port, ["flow.end"]);
  t.equal(eventLines(await good.rest()).length, 3);
  t.equal((await host.done).status, 0);
});

t.test("an overlong line gets an error without its text echoed; repeated, the client is disconnected", async (t) => {
  const host = startInProcess(webCapture(t), ["socket-server"], opts("wait=1", "strikes=3", "max-line=64"));
  const port = await host.port;
  const { client } = await connectClient(port);
  // Written at once, so that the line and its newline arrive in one read.
  client.write(`SUB ${"x".repeat(200)}\n`);
  const first = await client.next();
  t.same(first, { type: "error", error: "line longer than 64 bytes" }, "a whole overlong line is refused, not executed");
  client.send("UNSUB flow.end");
  t.same(await client.next(), { type: "ok", subscribed: [] }, "the connection stays up after one strike");
  // No newline yet: the server answers once it holds more than the limit, without waiting for the end.
  client.write("y".repeat(150));
  const second = await client.next();
  t.same(second, { type: "error", error: "line longer than 64 bytes" }, "an overlong line is refused before its end arrives");
  client.write(`${"y".repeat(150)}\nUNSUB http.request\n`);
  t.same(await client.next(), { type: "ok", subscribed: [] }, "the rest of that line is skipped, and the next line obeyed");
  // The third strike.
  client.write(`${"z".repeat(100)}\nSUB flow.end\n`);
  const lines = await client.rest();
  t.equal(await client.closed, "end", "a clean close");
  t.same(lines, [
    { type: "error", error: "line longer than 64 bytes" },
    { type: "error", error: "too many bad commands: disconnecting" },
    { type: "bye" },
  ], "told why before the close; the SUB after the third overlong line is not obeyed");
  const good = await subscribedClient(port, ["flow.end"]);
  t.equal(eventLines(await good.rest()).length, 3, "the host goes on for the others");
  t.equal((await host.done).status, 0);
});

t.test("with a token, clients must authenticate first; refused clients get no events", async (t) => {
  const host = startInProcess(webCapture(t), ["socket-server"], opts("wait=2", "token=s3cret"));
  const port = await host.port;

  const { client: noToken, hello } = await connectClient(port);
  t.equal(hello.auth, true, "hello says a token is needed");
  noToken.send("SUB flow.end");
  const noTokenLines = await noToken.rest();
  t.match(noTokenLines[0], { type: "error", error: /^authentication required/ });
  t.same(eventLines(noTokenLines), [], "a client without the token gets no events");
  t.equal(await noToken.closed, "end");

  const { client: wrong } = await connectClient(port);
  wrong.send("AUTH s3creT");
  const wrongLines = await wrong.rest();
  t.match(wrongLines[0], { type: "error", error: "wrong token" }, "a wrong token is refused");
  t.notOk(wrongLines.some((l) => l.type === "ok"));

  // Guesses sent in one write must not get a second chance before the connection closes.
  const { client: guesser } = await connectClient(port);
  guesser.write("AUTH guess1\nAUTH s3cret\nSUB flow.end\n");
  const guesserLines = await guesser.rest();
  t.match(guesserLines[0], { type: "error", error: "wrong token" });
  t.notOk(guesserLines.some((l) => l.type === "ok"), "the right token after a wrong one on the same connection is not accepted");

  const { client: notString } = await connectClient(port);
  notString.send('{"token":123}');
  t.match((await notString.rest())[0], { type: "error", error: "wrong token" }, "a token that is not a string is a wrong token");

  const { client: text } = await connectClient(port);
  text.send("AUTH s3cret");
  t.same(await text.next(), { type: "ok", authenticated: true });
  text.send("SUB flow.end");
  t.same(await text.next(), { type: "ok", subscribed: ["flow.end"] });
  const { client: json } = await connectClient(port);
  json.send('{"token":"s3cret"}');
  t.same(await json.next(), { type: "ok", authenticated: true });
  json.send('{"subscribe":["http.request"]}');
  t.same(await json.next(), { type: "ok", subscribed: ["http.request"] });

  const [textLines, jsonLines] = await Promise.all([text.rest(), json.rest()]);
  t.same(types(eventLines(textLines)), ["flow.end", "flow.end", "flow.end"], "AUTH <token> works");
  t.same(types(eventLines(jsonLines)), ["http.request", "http.request", "http.request"], '{"token":...} works');
  t.equal((await host.done).status, 0);
});

t.test("beyond max-clients a client is refused with a message; the others are served", async (t) => {
  const host = startInProcess(webCapture(t), ["socket-server"], opts("wait=2", "max-clients=2"));
  const port = await host.port;
  const { client: a } = await connectClient(port);
  const { client: b } = await connectClient(port);
  const c = await LineClient.connect(port);
  const refused = await c.rest();
  t.match(refused[0], { type: "error", error: "too many clients (at most 2): try again later" });
  t.notOk(refused.some((l) => l.type === "hello"), "a refused client gets no hello");
  t.equal(await c.closed, "end");
  a.send("SUB flow.end");
  b.send("SUB flow.end");
  const [aLines, bLines] = await Promise.all([a.rest(), b.rest()]);
  t.equal(eventLines(aLines).length, 3);
  t.equal(eventLines(bLines).length, 3);
  t.equal((await host.done).status, 0);
});

t.test("wait=N holds the capture until N clients have subscribed; a client that only connects does not count", async (t) => {
  const host = startInProcess(webCapture(t), ["socket-server"], opts("wait=2"));
  const port = await host.port;
  const first = await subscribedClient(port, ["packet"]);
  const { client: idle } = await connectClient(port);
  // Had the capture started with the first subscriber, the last one would miss the first frames.
  const last = await subscribedClient(port, ["packet"]);
  const frames = Array.from({ length: 30 }, (_, i) => i + 1);
  const [firstLines, idleLines, lastLines] = await Promise.all([first.rest(), idle.rest(), last.rest()]);
  t.same(eventLines(firstLines).map((e) => e.frame), frames);
  t.same(eventLines(lastLines).map((e) => e.frame), frames, "the last subscriber sees every frame from the first");
  t.same(types(idleLines), ["stats"], "the idle client gets only the stats line");
  t.equal(await idle.closed, "end");
  t.equal((await host.done).status, 0);
});

t.test("events beyond a client's queue are dropped and counted, and the client is told how many it missed", async (t) => {
  // A queue of one line: the 30 packet events of one dispatched batch cannot all wait for the socket.
  const host = startInProcess(webCapture(t), ["socket-server"], opts("wait=1", "queue=1"));
  const client = await subscribedClient(await host.port, ["packet"]);
  const lines = await client.rest();
  const stats = lines[lines.length - 1];
  t.match(stats, { type: "stats", packets: 30, events_sent: 30 }, "the stats line comes last");
  const missed = stats.dropped_for_you as number;
  t.ok(missed > 0, `events were dropped for it (${missed})`);
  const notices = lines.filter((l) => l.type === "dropped").map((l) => l.count as number);
  t.equal(notices.reduce((a, b) => a + b, 0), missed, "the dropped notices add up to dropped_for_you");
  const frames = eventLines(lines).map((e) => e.frame as number);
  t.equal(frames.length + missed, 30, "every event was either sent or counted as missed");
  t.same(frames, [...frames].sort((a, b) => a - b), "what it got is in capture order");
  t.equal((await host.done).status, 0);
});

/** A plugin folder (removed with `t`) holding plugin `name`: `definition` is what definePlugin gets. */
function pluginFolder(t: Test, name: string, definition: string): string {
  const plugins = join(tempFolder(t), "plugins");
  mkdirSync(plugins);
  writeFileSync(join(plugins, "package.json"), JSON.stringify({ type: "module" }));
  writeFileSync(join(plugins, `${name}.ts`), `import { definePlugin } from ${JSON.stringify(pluginApiUrl)};\nexport default definePlugin(${definition});\n`);
  return plugins;
}

t.test("events a plugin emits can be subscribed to before it first emits them", async (t) => {
  const plugins = pluginFolder(
    t,
    "marker",
    `{
  name: "marker",
  description: "emits marker.request for every HTTP request",
  setup(ctx) {
    ctx.on("http.request", (r) => ctx.emit("marker.request", { uri: r.uri }));
  },
}`,
  );
  const host = startInProcess(webCapture(t), ["socket-server", "marker"], opts("wait=1"), { pluginDirs: [plugins] });
  const client = await subscribedClient(await host.port, ["marker.request"]);
  t.same(eventLines(await client.rest()), paths.map((uri) => ({ type: "marker.request", uri })));
  t.equal((await host.done).status, 0);
});

t.test("a client receives exactly the lines event-log writes with --format json", async (t) => {
  const file = webCapture(t);
  const events = ["flow.start", "flow.end", "http.request", "http.response"];
  const log = await runApp(file, { plugins: ["event-log"], format: "json", options: [`event-log.events=${events.join(",")}`] });
  t.equal(log.status, 0);
  t.equal(log.lines.length, 12, "3 flows, each with a start, an end, a request and a response");
  const host = startInProcess(file, ["socket-server"], opts("wait=1"));
  const client = await subscribedClient(await host.port, events);
  await client.rest();
  // Compared as text: the same bytes, not only the same objects.
  const streamed = client.lines.filter((l) => !/^\{"type":"(hello|ok|stats)"/.test(l));
  t.same(streamed, log.lines);
  t.equal((await host.done).status, 0);
});

t.test("clients of different events get exactly their lines when the lines fill many slabs", async (t) => {
  // 1500 HTTP connections (6000 event lines, about 1.5 MB: the server encodes lines into 256 KiB
  // slabs and writes runs of them as views), one request among them with a 40 KB header, whose line
  // is encoded on its own.
  const packets = Array.from({ length: 1500 }, (_, i) => {
    const c = new TcpConversation({
      client: { ip: "192.0.2.10", port: 10000 + i },
      server: { ip: "203.0.113.80", port: 80 },
      startNs: 1_704_067_200_000_000_000n + BigInt(i) * 1_000_000n,
    });
    const extra = i === 700 ? `X-Big: ${"b".repeat(40_000)}\r\n` : "";
    c.handshake()
      .send("client", `GET /item/${i} HTTP/1.1\r\nHost: example.com\r\n${extra}\r\n`)
      .send("server", "HTTP/1.1 204 No Content\r\n\r\n")
      .close("client");
    return c.packets;
  }).flat();
  const file = writeCapture(tempFolder(t), "many.pcap", packets);
  const events = ["flow.start", "flow.end", "http.request", "http.response"];
  const log = await runApp(file, { plugins: ["event-log"], format: "json", options: [`event-log.events=${events.join(",")}`] });
  t.equal(log.lines.length, 6000);
  const host = startInProcess(file, ["socket-server"], opts("wait=3"));
  const port = await host.port;
  const all = await subscribedClient(port, events);
  const requests = await subscribedClient(port, ["http.request"]);
  const ends = await subscribedClient(port, ["flow.end", "http.response"]);
  await Promise.all([all.rest(), requests.rest(), ends.rest()]);
  const streamed = (c: LineClient) => c.lines.filter((l) => !/^\{"type":"(hello|ok|stats)"/.test(l));
  const logged = (...types: string[]) => log.lines.filter((l) => types.some((type) => l.startsWith(`{"type":"${type}"`)));
  t.same(streamed(all), log.lines, "every event, byte for byte, in order");
  t.same(streamed(requests), logged("http.request"), "only the requests, the big one among them");
  t.same(streamed(ends), logged("flow.end", "http.response"), "only flow ends and responses, interleaved as they came");
  t.ok(logged("http.request").some((l) => l.length > 40_000), "the big request line is there");
  t.equal((await host.done).status, 0);
});

t.test("options that make no sense are usage errors", async (t) => {
  const file = webCapture(t);
  await t.rejects(startInProcess(file, ["socket-server"], ["socket-server.port=70000"]).done, {
    name: "UsageError",
    message: "Plugin socket-server: port 70000 is not a TCP port",
  });
  await t.rejects(startInProcess(file, ["socket-server"], opts("queue=0")).done, { name: "UsageError", message: /queue must be a whole number of at least 1: current value is 0/ });
  for (const [option, message] of [
    ["wait=0.5", /wait must be a whole number of at least 0/],
    ["wait=-1", /wait must be a whole number of at least 0/],
    ["strikes=0", /strikes must be a whole number of at least 1/],
    [["wait=3", "max-clients=2"], /^Plugin socket-server: wait=3 can never be reached with max-clients=2: raise max-clients or lower wait$/],
  ] as const) {
    const given = typeof option === "string" ? [option] : option;
    await t.rejects(startInProcess(file, ["socket-server"], opts(...given)).done, { name: "UsageError", message }, given.join(" "));
  }
});

t.test("a port in use is a usage error that says how to choose another", async (t) => {
  const file = webCapture(t);
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as AddressInfo).port;
  await t.rejects(startInProcess(file, ["socket-server"], [`socket-server.port=${port}`]).done, {
    name: "UsageError",
    message: `Plugin socket-server: 127.0.0.1 port ${port} is in use: choose another with -o socket-server.port=N (0: any free port)`,
  });
});

t.test("a line dropped at the byte bound leaves a gap that no later, smaller line bridges", async (t) => {
  // In one burst: 3000 bytes (queued), 2000 (over the 4096-byte bound: dropped), 500 and 100 (fit).
  // The dropped line's bytes lie between the first and the third in the shared slab, so the client's
  // run must end before them.
  const plugins = pluginFolder(
    t,
    "sizes",
    `{
  name: "sizes",
  description: "emits lines of chosen sizes at the first packet",
  setup(ctx) {
    let done = false;
    ctx.on("packet", () => {
      if (done) return;
      done = true;
      for (const [n, size] of [[1, 3000], [2, 2000], [3, 500], [4, 100]]) ctx.emit("sizes.line", { n, pad: "x".repeat(size) });
    });
  },
}`,
  );
  const host = startInProcess(webCapture(t), ["socket-server", "sizes"], opts("wait=1", "queue-bytes=4096"), { pluginDirs: [plugins] });
  const client = await subscribedClient(await host.port, ["sizes.line"]);
  const lines = await client.rest();
  t.same(
    eventLines(lines).map((l) => [l.n, (l.pad as string).length]),
    [[1, 3000], [3, 500], [4, 100]],
    "the lines that fit, whole and in order, and nothing of the dropped one",
  );
  t.same(lines.filter((l) => l.type === "dropped"), [{ type: "dropped", count: 1 }], "told of the one it missed");
  t.match(lines[lines.length - 1], { type: "stats", dropped_for_you: 1 });
  t.equal((await host.done).status, 0);
});

t.test("a client that shuts down its side after subscribing still gets its events; a last command needs no newline", async (t) => {
  for (const last of ["SUB http.request\n", "SUB http.request"]) {
    const host = startInProcess(webCapture(t), ["socket-server"], opts("wait=1"));
    const { client } = await connectClient(await host.port);
    client.write(last);
    client.socket.end(); // what `echo SUB http.request | ncat` does once its input ends
    const lines = await client.rest();
    t.same(types(lines), ["ok", "http.request", "http.request", "http.request", "stats"], JSON.stringify(last));
    t.equal((await host.done).status, 0);
  }
});

t.test("a client that reads nothing for 2 s at the end loses what is still queued, and is told how many before the stats line", async (t) => {
  // About 15 MB of event lines: more than the kernel's socket buffers hold for a client that stops reading.
  const c = new TcpConversation({ client: { ip: "192.0.2.10", port: 49152 }, server: { ip: "203.0.113.80", port: 80 } });
  c.handshake().send("server", new Uint8Array(16 << 20)).close("server");
  const file = writeCapture(tempFolder(t), "bulk.pcap", c.packets);
  const host = startInProcess(file, ["socket-server"], opts("wait=1", "queue=100"));
  const client = await subscribedClient(await host.port, ["packet", "ethernet", "ipv4", "tcp"]);
  client.pause();
  // The capture takes well under a second: its end waits 2 s for this client, then 2 s more for it to
  // read the notice and the stats line.
  await new Promise((r) => setTimeout(r, 3500));
  client.resume();
  const lines = await client.rest();
  const stats = lines[lines.length - 1];
  t.match(stats, { type: "stats", packets: c.packets.length }, "the stats line comes last");
  const notices = lines.filter((l) => l.type === "dropped").map((l) => l.count as number);
  const dropped = notices.reduce((a, b) => a + b, 0);
  t.ok(notices.length > 0, `it was told of ${dropped} dropped events`);
  t.equal(stats.dropped_for_you, dropped, "the notices add up to dropped_for_you");
  t.equal(eventLines(lines).length + dropped, 4 * c.packets.length, "every event was either sent or counted as dropped");
  t.equal((await host.done).status, 0);
});
