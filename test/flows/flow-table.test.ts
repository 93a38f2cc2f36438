import t from "tap";
import { Flow } from "../../core/flows/flow-record.ts";
import { FlowTable, kListTcp, kListUdp } from "../../core/flows/flow-table.ts";

/** The flows whose hash is `hash`, by walking the chain the table gives for it. */
function lookup(table: FlowTable, hash: number): number[] {
  const ids: number[] = [];
  for (let f = table.chain(hash); f !== null; f = f.nextInBucket) if (f.hash === hash) ids.push(f.id);
  return ids.sort((a, b) => a - b);
}

function flow(id: number, hash: number): Flow {
  return new Flow(id, "tcp", 4, 6, hash, "192.0.2.1", id & 0xffff, "192.0.2.2", 80, 0);
}

t.test("every flow is found by its hash while the table grows past its buckets, and after removals", async (t) => {
  const table = new FlowTable();
  // Negative and large hashes, and pairs that share their low bits (the same bucket before growing).
  const hashes: number[] = [];
  for (let i = 0; i < 20_000; i++) hashes.push(Math.imul(i, 0x9e3779b1) | 0);
  for (let i = 0; i < 1000; i++) hashes.push((i << 14) | 7);
  const flows = hashes.map((h, i) => flow(i, h));
  for (const f of flows) table.insert(f, f.id % 3 === 0 ? kListUdp : kListTcp);
  t.equal(table.size, flows.length);
  const wrong = flows.filter((f) => !lookup(table, f.hash).includes(f.id));
  t.same(wrong.map((f) => f.id), [], "each flow is in the chain of its hash");

  for (const f of flows) if (f.id % 2 === 0) table.remove(f);
  t.equal(table.size, flows.length / 2);
  const lost = flows.filter((f) => f.id % 2 === 1 && !lookup(table, f.hash).includes(f.id));
  const kept = flows.filter((f) => f.id % 2 === 0 && lookup(table, f.hash).includes(f.id));
  t.same(lost.map((f) => f.id), [], "the others stay");
  t.same(kept.map((f) => f.id), [], "removed flows are gone from their chains");
  t.equal(table.lists[kListTcp]!.size + table.lists[kListUdp]!.size, flows.length / 2, "and from the activity lists");
});

t.test("flows with the same hash share a chain and are removed one by one", async (t) => {
  const table = new FlowTable();
  const same = [flow(1, -5), flow(2, -5), flow(3, -5)];
  for (const f of same) table.insert(f, kListTcp);
  t.same(lookup(table, -5), [1, 2, 3]);
  table.remove(same[1]!);
  t.same(lookup(table, -5), [1, 3], "from the middle of the chain");
  table.remove(same[2]!);
  t.same(lookup(table, -5), [1], "from its head");
  table.remove(same[0]!);
  t.same(lookup(table, -5), []);
  t.equal(table.oldest(kListTcp), null);
});
