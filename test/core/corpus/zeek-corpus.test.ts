import t from "tap";
import { checkCorpus, corpusMissing } from "./capture-corpus.ts";

// Each capture starts a decode worker (a quarter of a second on an idle machine): allow for a busy one.
t.setTimeout(15 * 60_000);

t.test("runHost reads every readable capture of the Zeek corpus with the packet count capinfos gives", { skip: corpusMissing }, async (t) => {
  await checkCorpus(t, "zeek");
});
