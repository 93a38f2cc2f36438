import t from "tap";
import { isGrease, ja3sText, ja3Text } from "../../core/analyzers/tls-fingerprint.ts";

t.test("isGrease is true for the 16 values RFC 8701 reserves and no other", async (t) => {
  const grease: number[] = [];
  for (let v = 0; v < 0x10000; v++) if (isGrease(v)) grease.push(v);
  t.same(grease, Array.from({ length: 16 }, (_, i) => (i << 12) | 0x0a00 | (i << 4) | 0x0a));
});

t.test("ja3Text lists each field in the hello's order, in decimal, without GREASE values", async (t) => {
  t.equal(
    ja3Text({ version: 0x0303, cipherSuites: [0x2a2a, 0x1301, 0xc02b], extensions: [0xdada, 0, 10, 11, 0x4a4a, 21], supportedGroups: [0x8a8a, 29, 23], pointFormats: [0, 1] }),
    "771,4865-49195,0-10-11-21,29-23,0-1",
  );
  t.equal(ja3Text({ version: 0x0301, cipherSuites: [0x002f], extensions: [], supportedGroups: [], pointFormats: [] }), "769,47,,,", "an old hello without extensions");
});

t.test("ja3sText gives version, cipher suite and extensions; a hello cut before its suite leaves it empty", async (t) => {
  t.equal(ja3sText({ version: 0x0303, cipherSuite: 0x1301, extensions: [43, 51] }), "771,4865,43-51");
  t.equal(ja3sText({ version: 0x0303, cipherSuite: -1, extensions: [] }), "771,,");
});
