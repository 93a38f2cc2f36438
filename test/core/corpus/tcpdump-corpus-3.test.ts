import t from "tap";
import { checkCorpus, corpusMissing } from "./capture-corpus.ts";

// Each capture starts a decode worker (a quarter of a second on an idle machine): allow for a busy one.
t.setTimeout(15 * 60_000);

// The tcpdump corpus is read in three shards (test files), which tap can run side by side.
t.test("runHost reads every readable capture of tcpdump corpus shard 3/3 with the packet count capinfos gives", { skip: corpusMissing }, async (t) => {
  await checkCorpus(t, "tcpdump", 2, 3);
});
