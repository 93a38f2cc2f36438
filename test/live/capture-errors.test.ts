/**
 * A live capture that cannot start says why and what to do, with tcpdump's exit statuses: a filter
 * libpcap cannot compile is a usage error (2), an interface that does not exist (with the list of
 * those that do) and missing privileges are failures (1). Nothing is captured in these tests.
 */
import t from "tap";
import { liveSkip, repoRoot, runRaw, startHost } from "./live-host.ts";

t.test("a filter libpcap cannot compile: libpcap's message and exit status 2", { skip: liveSkip() }, async (t) => {
  const host = startHost(["-i", "lo", "-f", "tcp prot 80"]);
  t.teardown(() => host.kill());
  const exit = await host.end();
  t.same(exit, { code: 2, signal: null });
  const message = host.stderr.join("\n");
  t.match(message, "host: Bad filter 'tcp prot 80'", "names the filter");
  t.match(message, /syntax error/, "gives libpcap's reason");
});

t.test("an interface that does not exist: exit status 1 and the interfaces that do", { skip: liveSkip() }, async (t) => {
  const host = startHost(["-i", "nosuchif0"]);
  t.teardown(() => host.kill());
  const exit = await host.end();
  t.same(exit, { code: 1, signal: null });
  const message = host.stderr.join("\n");
  t.match(message, 'No such interface "nosuchif0"');
  const listed = /available interfaces are (.*)$/m.exec(message)?.[1].split(", ") ?? [];
  t.ok(listed.includes("lo"), `lo is among the interfaces listed (${listed.join(", ")})`);
});

// The user the host runs as in the permission test, with setpriv (util-linux) dropping root first.
const unprivileged = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"];

function permissionSkip(): string | false {
  const missing = liveSkip("setpriv");
  if (missing !== false) return missing;
  // nobody must be able to read the repository to start the host at all.
  const r = runRaw(unprivileged[0], [...unprivileged.slice(1), process.execPath, "-e", `require("fs").accessSync(${JSON.stringify(`${repoRoot}core/bin.js`)})`]);
  return r.status === 0 ? false : `user nobody cannot read ${repoRoot} (${r.stderr.trim().split("\n")[0]})`;
}

t.test("no permission to capture: exit status 1 and how to get it (root or setcap)", { skip: permissionSkip() }, async (t) => {
  const host = startHost(["-i", "lo"], { wrapper: unprivileged });
  t.teardown(() => host.kill());
  const exit = await host.end();
  t.same(exit, { code: 1, signal: null });
  const message = host.stderr.join("\n");
  t.match(message, "No permission to capture on lo", "says what failed");
  t.match(message, /Operation not permitted/, "with the system's reason");
  t.match(message, /Run as root/, "suggests root");
  t.match(message, /setcap cap_net_raw,cap_net_admin=eip/, "or giving node the capabilities");
});
