import t from "tap";
import { settledRate } from "./settled-rate.ts";

t.test("the extra packets of the longer run give the settled rate, and the rest of the short run is warm-up", async (t) => {
  // 1M packets in 0.7 s, 5M in 0.7 + 4M / 2.5M/s = 2.3 s: settled at 2.5M/s, after 0.3 s of warm-up.
  const r = settledRate(1_000_000, 1_000_000 / 0.7, 5_000_000, 5_000_000 / 2.3);
  t.ok(r !== null);
  t.equal(r!.pps, 2_500_000);
  t.ok(Math.abs(r!.warmupSeconds - 0.3) < 1e-9, `warm-up ${r!.warmupSeconds}`);
});

t.test("a steady run has no warm-up cost", async (t) => {
  const r = settledRate(1_000_000, 2_000_000, 5_000_000, 2_000_000);
  t.equal(r!.pps, 2_000_000);
  t.ok(Math.abs(r!.warmupSeconds) < 1e-9);
});

t.test("no answer when the longer run is slower per packet than the short one (noise, or a run that slows down)", async (t) => {
  t.equal(settledRate(1_000_000, 2_000_000, 5_000_000, 1_500_000), null);
  t.equal(settledRate(1_000_000, 2_000_000, 1_000_000, 2_100_000), null);
  // The long run took no longer than the short one.
  t.equal(settledRate(1_000_000, 1_000_000, 5_000_000, 5_000_000), null);
});
