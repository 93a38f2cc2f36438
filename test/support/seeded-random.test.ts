import t from "tap";
import { SeededRandom } from "./seeded-random.ts";

t.test("SeededRandom repeats its sequence for a seed and differs between seeds", async (t) => {
  const draw = (seed: number): number[] => {
    const rng = new SeededRandom(seed);
    return Array.from({ length: 8 }, () => rng.uint32());
  };
  t.same(draw(1), draw(1));
  t.not(draw(1).join(), draw(2).join());
  t.equal(new SeededRandom(2 ** 32 + 5).next(), new SeededRandom(5).next(), "only the low 32 bits of the seed count");
});

t.test("SeededRandom helpers stay in their ranges and cover them", async (t) => {
  const rng = new SeededRandom(99);
  const seen = new Set<number>();
  const outOfRange: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const x = rng.next();
    if (!(x >= 0 && x < 1)) outOfRange.push(`next() gave ${x}`);
    seen.add(rng.between(3, 6));
    const below = rng.below(4);
    if (below < 0 || below >= 4) outOfRange.push(`below(4) gave ${below}`);
  }
  t.same(outOfRange, []);
  t.same([...seen].sort(), [3, 4, 5, 6], "between() includes both ends");
  t.equal(rng.fill(new Uint8Array(4096)).filter((b) => b === 0).length < 64, true, "fill() bytes are not mostly zero");
  t.equal(["a", "b", "c"].includes(rng.pick(["a", "b", "c"])), true);
});
