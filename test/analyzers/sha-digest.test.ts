import { createHash } from "node:crypto";
import t from "tap";
import { sha1Hex, sha256Hex } from "../../core/analyzers/sha-digest.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

t.test("sha1Hex and sha256Hex give FIPS 180's examples", async (t) => {
  t.equal(sha1Hex(ascii("abc"), 0, 3), "a9993e364706816aba3e25717850c26c9cd0d89d");
  t.equal(sha256Hex(ascii("abc"), 0, 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const two = ascii("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
  t.equal(sha1Hex(two, 0, two.length), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  t.equal(sha256Hex(two, 0, two.length), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  t.equal(sha256Hex(new Uint8Array(0), 0, 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
});

t.test("sha1Hex and sha256Hex agree with Node's at every length up to 300 bytes, and on a range inside a buffer", async (t) => {
  const bytes = Uint8Array.from({ length: 310 }, (_, i) => (i * 151 + 7) & 0xff);
  const wrong: number[] = [];
  for (let n = 0; n <= 300; n++) {
    const slice = bytes.subarray(5, 5 + n);
    if (sha1Hex(bytes, 5, 5 + n) !== createHash("sha1").update(slice).digest("hex")) wrong.push(n);
    if (sha256Hex(bytes, 5, 5 + n) !== createHash("sha256").update(slice).digest("hex")) wrong.push(-n);
  }
  t.same(wrong, []);
});
