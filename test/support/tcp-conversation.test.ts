import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { encodePcap } from "./pcap-writer.ts";
import { TcpConversation } from "./tcp-conversation.ts";
import { makeTempDir, tsharkFields, tsharkProblems, wiresharkMissing } from "./wireshark-tools.ts";

const summary = (c: TcpConversation): string[] => c.packets.map((p) => `${p.from} ${p.flags} seq=${p.seq} ack=${p.ack} len=${p.payload.length}`);

t.test("TcpConversation advances seq and ack through handshake, data and close", async (t) => {
  const c = new TcpConversation({ client: { ip: "192.0.2.10", port: 49152 }, server: { ip: "203.0.113.80", port: 80 } });
  c.handshake().send("client", "hello").send("server", "world!").close("client");
  t.same(summary(c), [
    "client S seq=1000 ack=0 len=0",
    "server SA seq=5000 ack=1001 len=0",
    "client A seq=1001 ack=5001 len=0",
    "client PA seq=1001 ack=5001 len=5",
    "server A seq=5001 ack=1006 len=0",
    "server PA seq=5001 ack=1006 len=6",
    "client A seq=1006 ack=5007 len=0",
    "client FA seq=1006 ack=5007 len=0",
    "server FA seq=5007 ack=1007 len=0",
    "client A seq=1007 ack=5008 len=0",
  ]);
  t.same(
    c.packets.slice(0, 3).map((p) => p.timestamp),
    [1_704_067_200_000_000_000n, 1_704_067_200_001_000_000n, 1_704_067_200_002_000_000n],
    "one packet per millisecond by default",
  );
});

t.test("TcpConversation cuts, reorders and duplicates segments with the seq of their place in the stream", async (t) => {
  const c = new TcpConversation({ client: { ip: "2001:db8::10", port: 40000, isn: 0xfffffffe }, server: { ip: "2001:db8::80", port: 80 }, link: "raw" });
  c.handshake().send("client", "abcdefghij", { segments: [3, 3, 4], order: [2, 0, 1], duplicate: [0] });
  // The SYN takes 0xfffffffe, so data starts at 0xffffffff and wraps: "def" is at 2, "ghij" at 5.
  const data = c.packets.filter((p) => p.payload.length > 0);
  t.same(data.map((p) => [p.seq, new TextDecoder().decode(p.payload)]), [
    [5, "ghij"],
    [0xffffffff, "abc"],
    [0xffffffff, "abc"],
    [2, "def"],
  ]);
  t.equal(c.packets.at(-1)!.ack, 9, "the peer acknowledges the whole payload, wrapping past 2^32");
  t.equal(c.packets[0]!.data[0]! >> 4, 6, "raw link: the frame starts with the IPv6 header");
  t.throws(() => c.send("client", "abc", { segments: [1, 1] }), /must add up to the payload length 3/);
  t.throws(() => c.send("client", "abc", { segments: [1, 2], order: [0, 0] }), /permutation/);
  t.throws(() => new TcpConversation({ client: { ip: "192.0.2.1", port: 1 }, server: { ip: "2001:db8::1", port: 2 } }), /same IP version/);
});

t.test("TcpConversation cuts at the MSS, pushes only the last segment, and reset() sends RST/ACK", async (t) => {
  const c = new TcpConversation({ client: { ip: "192.0.2.10", port: 1 }, server: { ip: "192.0.2.20", port: 2 }, mss: 1000 });
  c.handshake().send("server", new Uint8Array(2500), { ack: false }).reset("client");
  t.same(c.packets.slice(3).map((p) => [p.flags, p.payload.length]), [["A", 1000], ["A", 1000], ["PA", 500], ["RA", 0]]);
});

t.test("Wireshark follows a conversation without missing or malformed segments", { skip: wiresharkMissing }, async (t) => {
  const dir = makeTempDir();
  t.teardown(dir.remove);
  const c = new TcpConversation({ client: { ip: "192.0.2.10", port: 49152 }, server: { ip: "203.0.113.80", port: 8080 }, vlans: [{ vid: 7 }] });
  c.handshake().send("client", "x".repeat(3000)).send("server", "y".repeat(100)).close("server");
  const file = join(dir.path, "conversation.pcap");
  writeFileSync(file, encodePcap(c.packets));
  t.same(tsharkProblems(file), []);
  const analysis = tsharkFields(file, ["tcp.seq", "tcp.ack", "tcp.len", "tcp.analysis.flags"]);
  t.same(
    analysis.map((r) => r.slice(0, 3).join("/")),
    ["0/0/0", "0/1/0", "1/1/0", "1/1/1460", "1461/1/1460", "2921/1/80", "1/3001/0", "1/3001/100", "3001/101/0", "101/3001/0", "3001/102/0", "102/3002/0"],
    "relative seq/ack as Wireshark computes them",
  );
  t.ok(analysis.every((r) => (r[3] ?? "") === ""), "no TCP analysis flags (lost, retransmitted, out-of-order)");
});
