/**
 * TcpHistoryTable against a literal transcription of Zeek's code (test/support/zeek-tcp-reference.ts)
 * on random packet sequences: flags of every kind and combination, start numbers next to 0, 2^31
 * and 2^32, retransmissions, jumps, stray numbers, ack 0, zero windows. The port's fast path (data
 * and ACKs of established connections) and its general path must together give what Zeek's single
 * path gives, after every packet.
 */
import t from "tap";
import { kMaxHistory, TcpHistoryTable } from "../../core/flows/conn-history.ts";
import { SeededRandom } from "../support/seeded-random.ts";
import { ZeekTcpConnection } from "../support/zeek-tcp-reference.ts";

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;
const kFlagSets = [SYN, SYN | ACK, ACK, ACK | PSH, ACK, ACK | PSH, FIN | ACK, RST, RST | ACK, FIN | RST, SYN | FIN, FIN, 0, SYN | RST];
const kStarts = [100, 0, 0xffffffff, 0xfffffff0, 0x7fffffff, 0x80000000, 0x7ffffff0];
const kBigSteps = [0x40000000, 0x7fffffff, 0x80000000, 0x80000001, 0xc0000000, 2_000_000];

type Packet = [dir: 0 | 1, flags: number, seq: number, ack: number, len: number, window: number];

/** A random conversation of `n` packets; mostly in order, with the damage listed above. */
function conversation(rng: SeededRandom, n: number, bigJumps: boolean): Packet[] {
  const next = [(rng.pick(kStarts) + rng.below(50)) >>> 0, (rng.pick(kStarts) + rng.below(50)) >>> 0];
  const packets: Packet[] = [];
  for (let i = 0; i < n; i++) {
    let flags = rng.chance(0.05) ? rng.below(32) : rng.pick(kFlagSets);
    // As the flow table orders them: the first packet is side a's, unless it is a SYN+ACK.
    const dir: 0 | 1 = i === 0 ? ((flags & 0x12) === 0x12 ? 1 : 0) : rng.chance(0.5) ? 0 : 1;
    const len = flags & SYN ? (rng.chance(0.9) ? 0 : 10) : rng.chance(0.4) ? 0 : rng.chance(0.9) ? rng.between(1, 1460) : 65535;
    let seq = next[dir]!;
    const r = rng.next();
    if (r < 0.1) seq = (seq - rng.below(3000)) >>> 0;
    else if (r < 0.15) seq = rng.uint32();
    else if (r < 0.2 && bigJumps) seq = (seq + rng.pick(kBigSteps)) >>> 0;
    else if (r < 0.25) seq = (seq + rng.below(3000)) >>> 0;
    let ack = next[dir ^ 1]!;
    const q = rng.next();
    if (q < 0.1) ack = (ack - rng.below(3000)) >>> 0;
    else if (q < 0.13) ack = 0;
    else if (q < 0.18) ack = rng.uint32();
    else if (q < 0.25) ack = (ack + rng.below(3000)) >>> 0;
    else if (q < 0.3 && bigJumps) ack = (ack + rng.pick(kBigSteps)) >>> 0;
    if (rng.chance(0.2)) flags &= ~ACK;
    packets.push([dir, flags, seq, ack, len, rng.chance(0.1) ? 0 : 8192]);
    const advance = (flags & RST ? 0 : len) + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0);
    if (rng.chance(0.8)) next[dir] = (seq + advance) >>> 0;
  }
  return packets;
}

t.test("the port says what Zeek's code says, packet after packet, on 4000 random conversations", async (t) => {
  const rng = new SeededRandom(20261126);
  const table = new TcpHistoryTable();
  const numbers = new Int32Array(2);
  let compared = 0;
  let swapped = 0;
  const differences: string[] = [];
  for (let run = 0; run < 4000 && differences.length < 5; run++) {
    const packets = conversation(rng, rng.between(1, 40), rng.chance(0.3));
    const slot = table.open();
    const zeek = new ZeekTcpConnection();
    for (let i = 0; i < packets.length; i++) {
      const [dir, flags, seq, ack, len, window] = packets[i]!;
      numbers[0] = seq;
      numbers[1] = ack;
      table.packet(slot, dir, flags, len, window, numbers, 0);
      zeek.process(dir === 0, flags, seq, ack, len, window);
      // Zeek would swap the roles from here on, which the port leaves out on purpose.
      if (zeek.flipped) break;
      const mine = `${table.connState(slot)} ${table.history(slot)} ${table.payload(slot, 0)} ${table.payload(slot, 1)}`;
      const theirs = `${zeek.connState()} ${zeek.history.slice(0, kMaxHistory)} ${zeek.orig.Size()} ${zeek.resp.Size()}`;
      if (mine !== theirs) {
        differences.push(`after packet ${i + 1} of ${JSON.stringify(packets.slice(0, i + 1))}: port "${mine}", Zeek "${theirs}"`);
        break;
      }
      compared++;
    }
    if (zeek.flipped) swapped++;
    table.close(slot);
  }
  t.comment(`${compared} packets compared; ${swapped} conversations stopped where Zeek would swap roles`);
  t.ok(compared > 50_000, "most packets were compared");
  t.same(differences, []);
});
