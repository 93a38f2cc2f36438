/**
 * TcpHistory against the meanings Zeek's documentation gives conn_state and history (base/protocols/
 * conn/main.zeek), packet by packet. Side a plays Zeek's originator. Sequence numbers: a starts at
 * 100, b at 500; the test writes each packet's numbers out.
 */
import t from "tap";
import { kMaxHistory, TcpHistoryTable } from "../../core/flows/conn-history.ts";

const A = 0;
const B = 1;
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;
const kWindow = 65535;

/** One packet, its sequence and acknowledgement numbers in an array as the host hands them over. */
function feed(table: TcpHistoryTable, slot: number, dir: 0 | 1, flags: number, seq: number, ack: number, len: number, window: number): void {
  // Past the array's two words, so that reading anything else than `at` and `at + 1` shows.
  const numbers = Int32Array.of(-7, -7, seq, ack, -7);
  table.packet(slot, dir, flags, len, window, numbers, 2);
}

/** What the table says of one connection. */
class Connection {
  constructor(
    private readonly table: TcpHistoryTable,
    private readonly slot: number,
  ) {}
  get history(): string {
    return this.table.history(this.slot);
  }
  connState(): string {
    return this.table.connState(this.slot);
  }
  payloadA(): number {
    return this.table.payload(this.slot, 0);
  }
  payloadB(): number {
    return this.table.payload(this.slot, 1);
  }
}

/** Feeds packets [dir, flags, seq, ack, len, window?] to a new slot of `table`. */
function run(packets: ReadonlyArray<readonly [0 | 1, number, number, number, number, number?]>, table = new TcpHistoryTable()): Connection {
  const slot = table.open();
  for (const [dir, flags, seq, ack, len, window] of packets) feed(table, slot, dir, flags, seq, ack, len, window ?? kWindow);
  return new Connection(table, slot);
}

/** The three-way handshake: a's SYN at 100, b's SYN+ACK at 500. */
const handshake = [
  [A, SYN, 100, 0, 0],
  [B, SYN | ACK, 500, 101, 0],
  [A, ACK, 101, 501, 0],
] as const;

function summary(h: Connection) {
  return { conn_state: h.connState(), history: h.history, payload_ab: h.payloadA(), payload_ba: h.payloadB() };
}

t.test("a connection opened, used both ways and closed by FIN from both sides is SF", async (t) => {
  const h = run([
    ...handshake,
    [A, ACK | PSH, 101, 501, 20],
    [B, ACK, 501, 121, 0],
    [B, ACK | PSH, 501, 121, 300],
    [A, ACK | FIN, 121, 801, 0],
    [B, ACK | FIN, 801, 122, 0],
    [A, ACK, 122, 802, 0],
  ]);
  t.same(summary(h), { conn_state: "SF", history: "ShADadFf", payload_ab: 20, payload_ba: 300 });
});

t.test("a SYN with no answer is S0; a retransmitted SYN adds no letter", async (t) => {
  t.same(summary(run([[A, SYN, 100, 0, 0]])), { conn_state: "S0", history: "S", payload_ab: 0, payload_ba: 0 });
  t.equal(run([[A, SYN, 100, 0, 0], [A, SYN, 100, 0, 0], [A, SYN, 100, 0, 0]]).history, "S", "retransmitted SYNs");
  // Zeek restarts the side's numbering at a SYN with a new number (its SYN_seq_jump), so that SYN is
  // at relative 0 again, like the first.
  t.equal(run([[A, SYN, 100, 0, 0], [A, SYN, 9000, 0, 0]]).history, "S", "a second SYN with another initial number");
});

t.test("a SYN after a side's RST has a new relative number: another S", async (t) => {
  const h = run([...handshake, [A, ACK | PSH, 101, 501, 5], [A, RST | ACK, 106, 501, 0], [A, SYN, 4000, 0, 0]]);
  t.equal(h.history, "ShADRS");
  t.equal(h.connState(), "RSTO", "the SYN leaves the reset side as it was");
});

t.test("a SYN answered by RST is REJ", async (t) => {
  const h = run([
    [A, SYN, 100, 0, 0],
    [B, RST | ACK, 0, 101, 0],
  ]);
  t.same(summary(h), { conn_state: "REJ", history: "Sr", payload_ab: 0, payload_ba: 0 });
});

t.test("an established connection still open is S1", async (t) => {
  const h = run([...handshake, [A, ACK | PSH, 101, 501, 5], [B, ACK, 501, 106, 0]]);
  t.same(summary(h), { conn_state: "S1", history: "ShADa", payload_ab: 5, payload_ba: 0 });
});

t.test("a RST after the connection was established is RSTO from side a, RSTR from side b", async (t) => {
  const data = [...handshake, [A, ACK | PSH, 101, 501, 5], [B, ACK, 501, 106, 0]] as const;
  t.same(summary(run([...data, [A, RST | ACK, 106, 501, 0]])), { conn_state: "RSTO", history: "ShADaR", payload_ab: 5, payload_ba: 0 });
  t.same(summary(run([...data, [B, RST | ACK, 501, 106, 0]])), { conn_state: "RSTR", history: "ShADar", payload_ab: 5, payload_ba: 0 });
});

t.test("side a's SYN then its own RST, no SYN+ACK seen, is RSTOS0", async (t) => {
  const h = run([
    [A, SYN, 100, 0, 0],
    [A, RST, 101, 0, 0],
  ]);
  t.same(summary(h), { conn_state: "RSTOS0", history: "SR", payload_ab: 0, payload_ba: 0 });
});

t.test("side b's SYN+ACK then RST, a's SYN not seen, is RSTRH", async (t) => {
  const h = run([
    [B, SYN | ACK, 500, 101, 0],
    [B, RST, 501, 0, 0],
  ]);
  t.same(summary(h), { conn_state: "RSTRH", history: "hr", payload_ab: 0, payload_ba: 0 });
});

t.test("a SYN then a FIN from side a with no reply is SH; a SYN+ACK then a FIN from side b is SHR", async (t) => {
  t.same(summary(run([[A, SYN, 100, 0, 0], [A, FIN, 101, 0, 0]])), { conn_state: "SH", history: "SF", payload_ab: 0, payload_ba: 0 });
  t.same(summary(run([[B, SYN | ACK, 500, 101, 0], [B, FIN | ACK, 501, 101, 0]])), { conn_state: "SHR", history: "hf", payload_ab: 0, payload_ba: 0 });
});

t.test("an established connection closed by one side only is S2 (side a's FIN) or S3 (side b's)", async (t) => {
  t.equal(run([...handshake, [A, FIN | ACK, 101, 501, 0]]).connState(), "S2");
  t.equal(run([...handshake, [B, FIN | ACK, 501, 102, 0]]).connState(), "S3");
});

t.test("a connection picked up mid-stream is OTH, and a FIN exchange makes it SF", async (t) => {
  const mid = [
    [A, ACK | PSH, 7000, 9000, 10],
    [B, ACK | PSH, 9000, 7010, 40],
  ] as const;
  t.same(summary(run(mid)), { conn_state: "OTH", history: "Dd", payload_ab: 10, payload_ba: 40 });
  const closed = run([...mid, [A, FIN | ACK, 7010, 9040, 0], [B, FIN | ACK, 9040, 7011, 0]]);
  t.same(summary(closed), { conn_state: "SF", history: "DdFf", payload_ab: 10, payload_ba: 40 });
});

t.test("a FIN then a RST from one side, answered by the other's FIN, ended normally: SF", async (t) => {
  const h = run([...handshake, [B, FIN | ACK, 501, 101, 0], [B, RST, 502, 0, 0], [A, FIN | ACK, 101, 502, 0]]);
  t.same(summary(h), { conn_state: "SF", history: "ShAfrF", payload_ab: 0, payload_ba: 0 });
});

t.test("retransmitted data is T (again at the 10th and 100th) and counts once in the payload", async (t) => {
  const once = run([...handshake, [A, ACK | PSH, 101, 501, 10], [A, ACK | PSH, 101, 501, 10], [B, ACK, 501, 111, 0]]);
  t.same(summary(once), { conn_state: "S1", history: "ShADTa", payload_ab: 10, payload_ba: 0 });
  const packets: Array<readonly [0 | 1, number, number, number, number]> = [...handshake, [A, ACK | PSH, 101, 501, 10]];
  for (let i = 0; i < 100; i++) packets.push([A, ACK | PSH, 101, 501, 10]);
  t.equal(run(packets).history, "ShADTTT", "100 retransmissions: T at the 1st, 10th and 100th");
  packets.pop();
  t.equal(run(packets).history, "ShADTT", "99 retransmissions");
});

t.test("a zero window is W, except with a RST or after the peer's FIN", async (t) => {
  t.equal(run([...handshake, [B, ACK, 501, 101, 0, 0]]).history, "ShAaw", "side b advertises a zero window");
  t.equal(run([...handshake, [B, RST | ACK, 501, 101, 0, 0]]).history, "ShAr", "a RST with window 0 is not W");
  t.equal(run([...handshake, [A, FIN | ACK, 101, 501, 0], [B, ACK, 501, 102, 0, 0]]).history, "ShAFa", "after a's FIN, b's zero window is not W");
});

t.test("a FIN+RST is I and a SYN+FIN is Q", async (t) => {
  t.equal(run([...handshake, [A, FIN | RST | ACK, 101, 501, 0]]).history, "ShAI");
  t.equal(run([[A, SYN | FIN, 100, 0, 0]]).history, "Q");
});

t.test("a side that sent data and then reset, answered only by a bare ACK, keeps its payload: RSTOS0", async (t) => {
  // Zeek's Size() gives 0 for a SYN then RST with no answer only when the peer acknowledged data
  // (NoDataAcked is false); b's ACK of the SYN alone (start + 1) does not.
  const h = run([[A, SYN, 1000, 0, 0], [B, ACK, 0, 1001, 0], [A, ACK | PSH, 1001, 0, 300], [A, RST, 1301, 0, 0]]);
  t.same(summary(h), { conn_state: "RSTOS0", history: "SaDR", payload_ab: 300, payload_ba: 0 });
});

t.test("data the capture lost counts in the payload when the peer acknowledges it", async (t) => {
  // a sends 1000 bytes in two segments; the capture has only the second, b acknowledges both.
  const h = run([...handshake, [A, ACK | PSH, 601, 501, 500], [B, ACK, 501, 1101, 0], [A, FIN | ACK, 1101, 501, 0], [B, FIN | ACK, 501, 1102, 0]]);
  t.same(summary(h), { conn_state: "SF", history: "ShADaFf", payload_ab: 1000, payload_ba: 0 });
});

t.test("payload counts across the 32-bit sequence wrap", async (t) => {
  const isn = 0xffff_ff00;
  const h = run([
    [A, SYN, isn, 0, 0],
    [B, SYN | ACK, 500, isn + 1, 0],
    [A, ACK | PSH, isn + 1, 501, 200],
    [A, ACK | PSH, (isn + 201) >>> 0, 501, 200],
    [B, ACK, 501, (isn + 401) >>> 0, 0],
  ]);
  t.same(summary(h), { conn_state: "S1", history: "ShDa", payload_ab: 400, payload_ba: 0 });
});

t.test("a slot given back starts clean for the next connection, and the table grows past its first 64 with what it holds", async (t) => {
  const table = new TcpHistoryTable();
  const slots: number[] = [];
  for (let i = 0; i < 200; i++) {
    // Each connection is under way before the next slot is opened, so growing copies live slots.
    const slot = table.open();
    slots.push(slot);
    feed(table, slot, A, SYN, 100 + i, 0, 0, kWindow);
    feed(table, slot, B, RST | ACK, 0, 101 + i, 0, kWindow);
  }
  t.equal(new Set(slots).size, 200, "200 distinct slots");
  t.ok(slots.every((s) => table.connState(s) === "REJ" && table.history(s) === "Sr"), "each slot kept its own connection");
  table.close(slots[7]!);
  const reused = table.open();
  t.equal(reused, slots[7], "the slot given back is the next one handed out");
  t.same(summary(new Connection(table, reused)), { conn_state: "OTH", history: "", payload_ab: 0, payload_ba: 0 }, "and it starts clean");
  for (const [dir, flags, seq, ack, len] of [...handshake, [A, ACK | PSH, 101, 501, 3], [A, FIN | ACK, 104, 501, 0], [B, FIN | ACK, 501, 105, 0]] as const) {
    feed(table, reused, dir, flags, seq, ack, len, kWindow);
  }
  t.same(summary(new Connection(table, reused)), { conn_state: "SF", history: "ShADFf", payload_ab: 3, payload_ba: 0 });
  t.equal(table.connState(slots[8]!), "REJ", "its neighbour is untouched");
});

t.test("a history keeps its first kMaxHistory letters, whatever a peer sends", async (t) => {
  // Each RST at a new sequence number is a letter again, in Zeek as here.
  const packets: Array<readonly [0 | 1, number, number, number, number]> = [...handshake];
  for (let i = 0; i < 5000; i++) packets.push([B, RST, 501 + i, 0, 0]);
  const h = run(packets);
  t.equal(h.history.length, kMaxHistory);
  t.equal(h.history, "ShAr" + "r".repeat(kMaxHistory - 4));
  t.equal(h.connState(), "RSTR", "the state goes on as Zeek's");
});
