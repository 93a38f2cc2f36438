import t from "tap";
import { ipv4Text, ipv4WordText } from "../../../core/dispatch/address-text.ts";
import { SeededRandom } from "../../support/seeded-random.ts";

t.test("ipv4Text gives each address its own text, also when addresses share a slot of its cache", async (t) => {
  const rng = new SeededRandom(7);
  // Far more addresses than the cache has slots, each read twice: a slot returned for the wrong
  // address, or a stale string, shows as a mismatch.
  const addresses = Array.from({ length: 20_000 }, () => [rng.below(256), rng.below(256), rng.below(256), rng.below(256)]);
  addresses.push([0, 0, 0, 0], [255, 255, 255, 255], [128, 0, 0, 1], [127, 0, 0, 1]);
  const bytes = new Uint8Array(8);
  const wrong: string[] = [];
  for (let pass = 0; pass < 2; pass++) {
    for (const [i, a] of addresses.entries()) {
      const at = i % 5; // at various offsets of the buffer
      bytes.set(a, at);
      const want = a.join(".");
      const got = ipv4Text(bytes, at);
      if (got !== want) wrong.push(`${want} read as ${got}`);
      if (ipv4Text(bytes, at) !== want) wrong.push(`${want} at once again`);
      const w = (a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!; // as the decode result holds it
      if (ipv4WordText(w) !== want) wrong.push(`${want} from its word read as ${ipv4WordText(w)}`);
    }
  }
  t.same(wrong.slice(0, 5), []);
});
