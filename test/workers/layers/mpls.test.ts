import t from "tap";
import { kTooManyHeaders, kTruncated } from "../../../workers/decode-result.ts";
import { kEtherTypeEthernet } from "../../../workers/layers/ethernet.ts";
import { decodeMpls, MplsLayer } from "../../../workers/layers/mpls.ts";
import { concatBytes, ethernet, ipv4, ipv6, udp } from "../../support/packet-builders.ts";
import { mplsStack } from "../../support/mpls-stack.ts";

const v4 = ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1, dport: 2 }));
const v6 = ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, udp({ sport: 1, dport: 2 }));

t.test("decodeMpls() reads one label and guesses IPv4 from the payload's version nibble", async (t) => {
  const bytes = concatBytes(mplsStack([{ label: 0xfedcb }]), v4);
  const out = new MplsLayer();
  t.equal(decodeMpls(bytes, 0, bytes.length, out), 4);
  t.equal(out.labels, 1);
  t.equal(out.topLabel, 0xfedcb);
  t.equal(out.etherType, 0x0800);
});

t.test("decodeMpls() walks a stack to the bottom-of-stack entry and keeps the top label", async (t) => {
  const bytes = concatBytes(mplsStack([{ label: 16 }, { label: 17 }, { label: 18 }]), v6);
  const out = new MplsLayer();
  t.equal(decodeMpls(bytes, 0, bytes.length, out), 12);
  t.equal(out.labels, 3);
  t.equal(out.topLabel, 16);
  t.equal(out.etherType, 0x86dd);
});

t.test("decodeMpls() skips a pseudowire control word before an Ethernet frame", async (t) => {
  const inner = ethernet({}, v4);
  const bytes = concatBytes(mplsStack([{ label: 1000 }]), new Uint8Array(4), inner);
  const out = new MplsLayer();
  t.equal(decodeMpls(bytes, 0, bytes.length, out), 8);
  t.equal(out.etherType, kEtherTypeEthernet);
});

t.test("decodeMpls() reports -1 for a payload it cannot guess and an empty payload", async (t) => {
  const odd = concatBytes(mplsStack([{ label: 5 }]), Uint8Array.of(0x95, 1, 2, 3));
  const out = new MplsLayer();
  t.equal(decodeMpls(odd, 0, odd.length, out), 4);
  t.equal(out.etherType, -1);
  const bare = mplsStack([{ label: 5 }]);
  t.equal(decodeMpls(bare, 0, bare.length, out), 4);
  t.equal(out.etherType, -1);
});

t.test("decodeMpls() returns kTruncated when the stack ends without a bottom-of-stack entry", async (t) => {
  const bytes = mplsStack([{ label: 1 }, { label: 2 }], false);
  t.equal(decodeMpls(bytes, 0, bytes.length, new MplsLayer()), kTruncated);
  t.equal(decodeMpls(bytes, 0, 3, new MplsLayer()), kTruncated, "less than one entry");
});

t.test("decodeMpls() gives up with kTooManyHeaders on a stack of more than 16 labels", async (t) => {
  const bytes = concatBytes(mplsStack(Array.from({ length: 40 }, (_, i) => ({ label: i })), false), v4);
  t.equal(decodeMpls(bytes, 0, bytes.length, new MplsLayer()), kTooManyHeaders);
  const sixteen = concatBytes(mplsStack(Array.from({ length: 16 }, (_, i) => ({ label: i }))), v4);
  t.equal(decodeMpls(sixteen, 0, sixteen.length, new MplsLayer()), 64, "exactly 16 labels are fine");
});
