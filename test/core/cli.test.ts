/**
 * The `host` command as a user runs it: `node core/bin.js ...` in a child process. Usage errors exit
 * with 2 and a message that says what to do; a capture that cannot be read exits with 1. Each spawn
 * costs about half a second, so there are few of them.
 */
import { spawnSync } from "node:child_process";
import { closeSync, copyFileSync, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { commandLineOptions, parseCommandLine } from "../../core/cli.ts";
import { builtinPluginDir, discoverPlugins } from "../../core/plugins/plugin-loader.ts";
import { collectorPlugin, makePluginDir, parseLines, repoRoot } from "../support/host-run.ts";
import { ethernet, ipv4, ipv6, tcp, udp } from "../support/packet-builders.ts";
import { encodePcap } from "../support/pcap-writer.ts";
import { makeTempDir } from "../support/wireshark-tools.ts";

const sample = join(repoRoot, "test/fixtures/sample.pcap");
const plugins = makePluginDir();
collectorPlugin(plugins.path, "packets", ["packet", "udp", "tcp"]);
const files = makeTempDir("packet-host-cli-");
t.teardown(() => {
  plugins.remove();
  files.remove();
});

/** Runs `host` with `args` (and `input` on stdin); returns its status and output. */
function host(args: string[], input?: Uint8Array): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repoRoot, "core/bin.js"), ...args], { cwd: repoRoot, input, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test("host exits with 2 on an unknown flag and says where to look", async (t) => {
  const r = host(["-r", sample, "--bogus"]);
  t.equal(r.status, 2);
  t.match(r.stderr, /^host: Unknown option --bogus: see host --help/);
  t.equal(r.stderr.split("\n").length, 2, "one line");
  t.equal(r.stdout, "");
});

t.test("what the argument parser rejects is said in the host's words, with what to write instead", async (t) => {
  const problem = async (args: string[]) => {
    try {
      await parseCommandLine(args, () => {});
    } catch (err) {
      t.equal((err as Error).name, "UsageError", args.join(" "));
      return (err as Error).message;
    }
    return "accepted";
  };
  t.equal(await problem(["--workers", "-1"]), `Option --workers needs a value, and "-1" looks like an option: write --workers=-1 if that is the value`);
  t.equal(await problem(["-r", sample, "-c", "-5"]), `Option -c needs a value, and "-5" looks like an option: write --count=-5 if that is the value`);
  t.equal(await problem(["-r"]), "Option --read needs a value: see host --help");
  t.equal(await problem(["--stats=yes"]), "Option --stats takes no value: write it alone");
  t.equal(await problem(["--help=1"]), "Option --help takes no value: write it alone", "an option with a short name too");
  // The value quoted is the one parseArgs refused: not an earlier use of the option, and also in a group of short options.
  t.match(await problem(["--workers", "2", "--workers", "-1"]), /"-1" looks like an option: write --workers=-1 /);
  t.match(await problem(["-r", sample, "-hc", "-5"]), /^Option -c needs a value, and "-5" looks like an option: write --count=-5 /);
  t.match(await problem(["-x"]), /^Unknown option -x: see host --help/);
  t.equal(await problem(["-r", sample, "--plugins-dir", join(repoRoot, "no-such-folder")]), `Invalid --plugins-dir "${join(repoRoot, "no-such-folder")}": no such folder`);
  t.match(await problem(["--list-plugins", "--plugins-dir", sample]), /^Invalid --plugins-dir ".*sample\.pcap": not a folder/);
  t.match(await problem(["-r", sample, "--plugins", ""]), /^--plugins names no plugin: give at least one/);
  t.match(await problem(["-r", sample, "--plugins", ",, "]), /^--plugins names no plugin/);
  // Written the way the message says, the value reaches the option's own check.
  t.match(await problem(["-r", sample, "--workers=-1"]), /^Invalid --workers "-1"/);
});

t.test("host exits with 2 on an unknown plugin and lists the plugins it has", async (t) => {
  const r = host(["-r", sample, "--plugins-dir", plugins.path, "--plugins", "no-such-plugin"]);
  t.equal(r.status, 2);
  t.match(r.stderr, /^host: Unknown plugin "no-such-plugin": available plugins are /);
  const available = [...discoverPlugins([plugins.path, builtinPluginDir]).keys()];
  t.ok(available.includes("packets") && available.length > 1, "the test folder and the built-in one both have plugins");
  for (const name of available) t.match(r.stderr, new RegExp(`\\b${name}\\b`), `lists ${name}`);
});

t.test("host exits with 2 on a plugin named by a path", async (t) => {
  const r = host(["-r", sample, "--plugins", "../x"]);
  t.equal(r.status, 2);
  t.match(r.stderr, /^host: Invalid plugin name "\.\.\/x": .*use --plugins-dir DIR/);
});

t.test("a .ts plugin Node would load as CommonJS is refused with what to do; as .mts it loads", async (t) => {
  // A folder with no package.json up to the root: Node (and tsx) would compile the file as CommonJS.
  const dir = makeTempDir("packet-host-cjs-");
  t.teardown(dir.remove);
  const source = `export default { name: "bare", setup(ctx) { ctx.on("packet", () => {}); ctx.onTeardown(() => ctx.log.info("loaded")); } };\n`;
  writeFileSync(join(dir.path, "bare.ts"), source);
  const refused = host(["-r", sample, "--plugins-dir", dir.path, "--plugins", "bare"]);
  t.equal(refused.status, 1);
  t.match(refused.stderr, /^host: Plugin file .*bare\.ts: a \.ts plugin must be marked as an ES module, or Node loads it as CommonJS: .*"type": "module".* or rename the file to \.mts\n$/);
  rmSync(join(dir.path, "bare.ts"));
  writeFileSync(join(dir.path, "bare.mts"), source);
  const loaded = host(["-r", sample, "--plugins-dir", dir.path, "--plugins", "bare"]);
  t.equal(loaded.status, 0, loaded.stderr);
  t.match(loaded.stderr, /\[bare\] loaded/);
});

t.test("a .js plugin that imports the TypeScript API by path loads whether it comes before or after a .ts plugin", async (t) => {
  const dir = makeTempDir("packet-host-js-");
  t.teardown(dir.remove);
  const api = join(repoRoot, "core/plugins/plugin-api.ts");
  const source = `import { definePlugin } from ${JSON.stringify(api)};
export default definePlugin({ name: "withapi", setup(ctx) { ctx.onTeardown(() => ctx.log.info("loaded")); } });\n`;
  writeFileSync(join(dir.path, "withapi.js"), source);
  // Without "type": "module" Node would load it as CommonJS: refused with what to do, in either order.
  for (const order of ["withapi,flow-counter", "flow-counter,withapi"]) {
    const refused = host(["-r", sample, "--plugins-dir", dir.path, "--plugins", order]);
    t.equal(refused.status, 1, order);
    t.match(refused.stderr, /^host: Plugin file .*withapi\.js: a \.js plugin must be marked as an ES module.* or rename the file to \.mjs\n$/, order);
  }
  writeFileSync(join(dir.path, "package.json"), '{"type":"module"}\n');
  for (const order of ["withapi,flow-counter", "flow-counter,withapi"]) {
    const loaded = host(["-r", sample, "--plugins-dir", dir.path, "--plugins", order]);
    t.equal(loaded.status, 0, `${order}: ${loaded.stderr}`);
    t.match(loaded.stderr, /\[withapi\] loaded/, order);
  }
});

t.test("host exits with 2 on a bad --workers, --ring-size or --format and names the value", async (t) => {
  const workers = host(["-r", sample, "--workers", "0"]);
  t.equal(workers.status, 2);
  t.match(workers.stderr, /^host: Invalid --workers "0": give a whole number of at least 1\n$/);
  const ring = host(["-r", sample, "--ring-size", "512K"]);
  t.equal(ring.status, 2);
  t.match(ring.stderr, /^host: Invalid --ring-size "512K": the ring needs at least 1M\n$/);
  const format = host(["-r", sample, "--format", "xml"]);
  t.equal(format.status, 2);
  t.match(format.stderr, /^host: Invalid --format "xml": use text or json\n$/);
});

t.test("values past what the host can honour are usage errors that say the limit", async (t) => {
  const refused = async (args: string[], message: RegExp) =>
    t.rejects(parseCommandLine(["-r", sample, ...args], () => {}), { name: "UsageError", message }, args.join(" "));
  const timer = /at most 2147483 seconds \(about 24\.8 days\), the longest a timer waits$/;
  await refused(["--duration", "3000000"], timer);
  await refused(["--stats-interval", "3000000"], timer);
  await refused(["--teardown-timeout", "3000000"], timer);
  await refused(["--workers", "1000"], /^Invalid --workers "1000": at most 128$/);
  await refused(["--ring-size", "100G"], /^Invalid --ring-size "100G": at most 1G/);
  await refused(["-w", "-"], /^-w - \(standard output\) is not supported/);
  // The same file under another spelling: -w would truncate the capture before it is read.
  await refused(["-w", join(repoRoot, "test", "..", "test/fixtures/sample.pcap")], /is the file -r reads/);
  await refused(["--buffer-size", "1M"], /^--buffer-size is libpcap's kernel buffer for live capture/);
  await t.rejects(parseCommandLine(["-i", "lo", "--buffer-size", "0"], () => {}), { message: /^Invalid --buffer-size "0": give at least 64K$/ });
  await t.rejects(parseCommandLine(["-i", "lo", "--buffer-size", "100G"], () => {}), { name: "UsageError", message: /^Invalid --buffer-size "100G": at most 1G/ });
  t.match(await parseCommandLine(["-i", "lo", "--buffer-size", "1G"], () => {}), { bufferBytes: 1 << 30 });
  await refused(["--max-flows", "0"], /^Invalid --max-flows "0": give a whole number of at least 1$/);
  await refused(["--max-flows", "0x10"], /^Invalid --max-flows "0x10": give a whole number/);
  await refused(["-c", "1e3"], /^Invalid -c "1e3": give a whole number/);
  // Seconds are decimal numbers, for every option that takes them.
  await refused(["--duration", "1e3"], /^Invalid --duration "1e3": give a number of seconds above 0$/);
  await refused(["--stats-interval", "0x10"], /^Invalid --stats-interval "0x10": give a number of seconds above 0$/);
  await refused(["--flow-timeouts", "tcp=1e3"], /^Invalid --flow-timeouts "tcp=1e3": write e\.g\. tcp=300/);
  await refused(["--teardown-timeout", "-1"], /looks like an option/);
  await refused(["--teardown-timeout", "2e1"], /^Invalid --teardown-timeout "2e1": give a number of seconds$/);
  t.match(await parseCommandLine(["-r", sample, "--teardown-timeout", "0.5"], () => {}), { teardownMs: 500 }, "a teardown may be given half a second");
  t.match(await parseCommandLine(["-r", sample, "--teardown-timeout", "0"], () => {}), { teardownMs: 0 }, "or none");
  t.match(await parseCommandLine(["-r", sample, "--duration", ".5", "--flow-timeouts", "tcp=2.5,udp=30."], () => {}), { duration: 0.5, flowSettings: { tcpTimeout: 2.5, udpTimeout: 30 } });
  const longest = await parseCommandLine(["-r", sample, "--duration", "2147483", "--ring-size", "1G", "--workers", "128"], () => {});
  t.match(longest, { duration: 2147483, ringBytes: 1 << 30, workers: 128 }, "the limits themselves are accepted");
  t.match(await parseCommandLine(["-r", sample, "--max-flows", "5000", "--flow-timeouts", "udp=10"], () => {}), { flowSettings: { maxFlows: 5000, udpTimeout: 10, tcpTimeout: 300 } });
  t.match(await parseCommandLine(["-r", sample], () => {}), { flowSettings: { maxFlows: 1_000_000 } }, "a million by default");
});

t.test("-w naming the file that standard input reads (-r - < file) is refused, and the file is left whole", async (t) => {
  const dir = makeTempDir("packet-host-stdin-");
  t.teardown(dir.remove);
  const capture = join(dir.path, "in.pcap");
  copyFileSync(sample, capture);
  const fd = openSync(capture, "r");
  t.teardown(() => closeSync(fd));
  const r = spawnSync(process.execPath, [join(repoRoot, "core/bin.js"), "-r", "-", "-w", capture], { cwd: repoRoot, stdio: [fd, "pipe", "pipe"], encoding: "utf8", timeout: 60_000 });
  t.equal(r.status, 2);
  t.match(r.stderr, /^host: -w ".*in\.pcap" is the file -r - reads \(standard input\): writing it would destroy the capture first; give another name\n$/);
  t.equal(statSync(capture).size, statSync(sample).size, "the capture is whole");
});

t.test("a write that fails (a full disk) is said, naming what could not be written, and the run ends with 1", { skip: existsSync("/dev/full") ? false : "no /dev/full here" }, async (t) => {
  const get = ["-r", sample, "--plugins", "event-log"];
  const full = openSync("/dev/full", "w");
  t.teardown(() => closeSync(full));
  const toStdout = spawnSync(process.execPath, [join(repoRoot, "core/bin.js"), ...get], { cwd: repoRoot, stdio: ["ignore", full, "pipe"], encoding: "utf8", timeout: 60_000 });
  t.equal(toStdout.status, 1);
  t.equal(toStdout.stderr, "host: cannot write standard output: ENOSPC: no space left on device, write; output was lost\n");
  const toFile = host([...get, "-o", "event-log.file=/dev/full"]);
  t.equal(toFile.status, 1);
  t.equal(toFile.stderr, "[event-log] cannot write /dev/full: ENOSPC: no space left on device, write; what it would have written there from now on is lost\n");
  const pcap = host(["-r", sample, "-w", "/dev/full"]);
  t.equal(pcap.status, 1);
  t.match(pcap.stderr, /^host: Cannot write \/dev\/full: ENOSPC: no space left on device, write\n$/);
});

t.test("an option that takes one value, given twice, is a usage error (the first would be dropped in silence)", async (t) => {
  const refused = (args: string[], message: RegExp) => t.rejects(parseCommandLine(args, () => {}), { name: "UsageError", message }, args.join(" "));
  await refused(["-r", sample, "-f", "tcp", "--filter", "port 80"], /^Option --filter is given twice \(as -f and --filter\): give one expression, joining parts with and\/or \(-f 'tcp and port 80'\)$/);
  await refused(["-r", sample, "-r", sample], /^Option -r is given twice: give it once$/);
  await refused(["-r", sample, "--workers", "1", "--workers=2"], /^Option --workers is given twice: give it once$/);
  t.match(await parseCommandLine(["-r", sample, "--stats", "--stats", "--plugins", "a", "--plugins", "b", "-o", "a.x=1", "-o", "b.y=2"], () => {}), { stats: true, plugins: ["a", "b"] }, "flags and lists may repeat");
});

t.test("tcpdump's -n is accepted, alone, doubled and grouped with -r (the host never looks names up)", async (t) => {
  for (const args of [["-n", "-r", sample], ["-nn", "-r", sample], ["-nr", sample], ["-nnr", sample], ["--numeric", "-r", sample]]) {
    t.match(await parseCommandLine(args, () => {}), { read: sample }, args.join(" "));
  }
});

t.test("host exits with 2 on -o for a plugin that is not loaded", async (t) => {
  const r = host(["-r", sample, "--plugins-dir", plugins.path, "--plugins", "packets", "-o", "flow-counter.top=5"]);
  t.equal(r.status, 2);
  t.match(r.stderr, /^host: Option -o flow-counter\..*: plugin flow-counter is not loaded; add it to --plugins\n$/);
});

t.test("host exits with 1 when the capture file does not exist, naming it", async (t) => {
  const missing = join(files.path, "missing.pcap");
  const r = host(["-r", missing, "--plugins-dir", plugins.path, "--plugins", "packets"]);
  t.equal(r.status, 1);
  t.equal(r.stderr, `host: ${missing}: cannot open the capture: no such file\n`);
  t.equal(r.stdout, "");
});

t.test("host exits with 1 when -r names a directory, saying so", async (t) => {
  const r = host(["-r", files.path, "--plugins-dir", plugins.path, "--plugins", "packets"]);
  t.equal(r.status, 1);
  t.equal(r.stderr, `host: ${files.path}: cannot open the capture: it is a directory\n`);
});

t.test("host --help exits with 0 and documents exactly the flags the parser accepts", async (t) => {
  const r = host(["--help"]);
  t.equal(r.status, 0);
  t.equal(r.stderr, "");
  t.match(r.stdout, /^Usage: host /);
  // Option lines are indented and start with the flags; "Examples:" ends them.
  const optionText = r.stdout.slice(0, r.stdout.indexOf("\nExamples:"));
  const documented = new Set<string>();
  const shorts = new Map<string, string>();
  for (const line of optionText.split("\n")) {
    const m = /^ {2}((?:-[A-Za-z], )?--[a-z][a-z-]*)/.exec(line);
    if (m === null) continue;
    const [short, long] = m[1]!.includes(", ") ? m[1]!.split(", ") : [undefined, m[1]!];
    documented.add(long!.slice(2));
    if (short !== undefined) shorts.set(long!.slice(2), short.slice(1));
  }
  const accepted = Object.keys(commandLineOptions).sort();
  t.same([...documented].sort(), accepted, "every accepted flag is documented, and nothing else");
  const acceptedShorts = new Map(Object.entries(commandLineOptions).flatMap(([name, spec]) => ("short" in spec ? [[name, spec.short] as [string, string]] : [])));
  t.same(Object.fromEntries(shorts), Object.fromEntries(acceptedShorts), "short forms match");
});

t.test("host --version prints the package version", async (t) => {
  const { version } = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string };
  const r = host(["--version"]);
  t.equal(r.status, 0);
  t.equal(r.stdout, `packet-host ${version}\n`);
});

t.test("host -r - reads a capture from stdin", async (t) => {
  const frames = [
    ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1111, dport: 53 }, "query"))),
    ethernet({}, ipv6({ src: "2001:db8::1", dst: "2001:db8::2" }, tcp({ sport: 2222, dport: 80, flags: "S" }))),
    ethernet({}, ipv4({ src: "192.0.2.2", dst: "192.0.2.1" }, udp({ sport: 53, dport: 1111 }, "answer"))),
  ];
  const r = host(["-r", "-", "--plugins-dir", plugins.path, "--plugins", "packets", "--format", "json", "--workers", "1"], encodePcap(frames, { resolution: "nano" }));
  t.equal(r.status, 0);
  t.equal(r.stderr, "");
  const events = parseLines(r.stdout.trimEnd().split("\n"));
  t.same(
    events.map((e) => [e.e, e.frame, e.e === "packet" ? e.caplen : e.sport]),
    [["packet", 1, frames[0]!.length], ["udp", 1, 1111], ["packet", 2, frames[1]!.length], ["tcp", 2, 2222], ["packet", 3, frames[2]!.length], ["udp", 3, 53]],
  );
});

t.test("-c N exits 0 when the capture is damaged only after its Nth packet; without -c the damage is exit 1", async (t) => {
  const frames = Array.from({ length: 10 }, (_, i) => ethernet({}, ipv4({ src: "192.0.2.1", dst: "192.0.2.2" }, udp({ sport: 1000 + i, dport: 53 }, "q"))));
  const whole = encodePcap(frames);
  const cut = whole.subarray(0, whole.length - 5); // the last record ends early
  for (const input of [["-r", "-"], ["-r", join(files.path, "cut.pcap")]]) {
    writeFileSync(join(files.path, "cut.pcap"), cut);
    const stdin = input[1] === "-" ? cut : undefined;
    const counted = host([...input, "-c", "3", "--workers", "1"], stdin);
    t.equal(counted.status, 0, counted.stderr);
    t.equal(counted.stderr, "");
    t.equal(counted.stdout.trimEnd().split("\n").length, 3);
    const all = host([...input, "--workers", "1"], stdin);
    t.equal(all.status, 1);
    t.equal(all.stdout.trimEnd().split("\n").length, 9, "the packets before the damage");
    t.match(all.stderr, /^host: .*truncated/m);
  }
});
