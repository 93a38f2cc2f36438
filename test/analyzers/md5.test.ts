import { createHash } from "node:crypto";
import t from "tap";
import { md5Hex } from "../../core/analyzers/md5.ts";

t.test("md5Hex gives RFC 1321's test suite", async (t) => {
  t.equal(md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  t.equal(md5Hex("a"), "0cc175b9c0f1b6a831c399e269772661");
  t.equal(md5Hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  t.equal(md5Hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
  t.equal(md5Hex("abcdefghijklmnopqrstuvwxyz"), "c3fcd3d76192e4007dfb496cca67e13b");
  t.equal(md5Hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890"), "57edf4a22be3c955ac49da2e2107b67a");
});

t.test("md5Hex agrees with Node's MD5 at every length across block boundaries", async (t) => {
  const wrong: number[] = [];
  for (let n = 0; n <= 200; n++) {
    const text = Array.from({ length: n }, (_, i) => String.fromCharCode(32 + ((i * 37 + n) % 95))).join("");
    if (md5Hex(text) !== createHash("md5").update(text, "latin1").digest("hex")) wrong.push(n);
  }
  t.same(wrong, [], "lengths 0-200 (55, 56 and 64 end a block or need another)");
});
