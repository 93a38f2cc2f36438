import t from "tap";
import { groupOptionArgs, resolvePluginOptions, describeOptions } from "../../core/plugins/plugin-options.ts";
import { UsageError } from "../../core/usage-error.ts";
import type { OptionSpecs } from "../../core/plugins/plugin-api.ts";
import { runApp } from "../app/app-run.ts";
import { pluginFolder, smallCapture, writePlugin } from "./plugin-fixtures.ts";

const specs: OptionSpecs = {
  top: { type: "number", default: 10, description: "how many" },
  verbose: { type: "boolean", default: false, description: "say more" },
  names: { type: "list", default: ["a"], description: "which" },
  file: { type: "string", default: "", description: "where" },
};

t.test("groupOptionArgs() groups -o plugin.key=value by plugin and key, values may contain = and ,", async (t) => {
  const g = groupOptionArgs(["flow-counter.top=5", "event-log.events=dns,flow.end", "event-log.file=/tmp/x=y"]);
  t.same([...g.get("flow-counter")!], [["top", "5"]]);
  t.same([...g.get("event-log")!], [["events", "dns,flow.end"], ["file", "/tmp/x=y"]]);
});

t.test("groupOptionArgs() refuses an argument without plugin, key or value, saying how to write one", async (t) => {
  for (const bad of ["top=5", "flow-counter.top", ".top=1", "flow counter.top=1"]) {
    t.throws(() => groupOptionArgs([bad]), { name: "UsageError", message: /write -o plugin\.key=value/ }, bad);
  }
});

t.test("resolvePluginOptions() parses each declared type and keeps the defaults of the rest", async (t) => {
  const v = resolvePluginOptions("p", specs, new Map([["top", "3"], ["verbose", "yes"], ["names", " x, y ,,z"]]));
  t.same(v, { top: 3, verbose: true, names: ["x", "y", "z"], file: "" });
  t.same(resolvePluginOptions("p", specs, new Map([["verbose", "off"]])).verbose, false);
});

t.test("an unknown key is a usage error naming the plugin, the key and the known options", async (t) => {
  t.throws(() => resolvePluginOptions("flow-counter", specs, new Map([["tpo", "3"]])), {
    name: "UsageError",
    message: 'Unknown option "tpo" for plugin flow-counter: its options are top, verbose, names, file (see --list-plugins)',
  });
  t.throws(() => resolvePluginOptions("bare", {}, new Map([["x", "1"]])), { message: /plugin bare: it takes no options/ });
});

t.test("an ill-typed value is a usage error naming the plugin, the key, the type and the value", async (t) => {
  t.throws(() => resolvePluginOptions("flow-counter", specs, new Map([["top", "ten"]])), new UsageError('Invalid value for -o flow-counter.top: expected a number, got "ten"'));
  t.throws(() => resolvePluginOptions("flow-counter", specs, new Map([["verbose", "maybe"]])), { message: /expected a boolean, got "maybe"/ });
  t.throws(() => resolvePluginOptions("flow-counter", specs, new Map([["top", ""]])), { message: /expected a number/ });
  for (const notDecimal of ["0x10", "0b1", "Infinity", "1_000"]) {
    t.throws(() => resolvePluginOptions("flow-counter", specs, new Map([["top", notDecimal]])), { message: /expected a number/ }, notDecimal);
  }
  for (const [text, value] of [["-2.5", -2.5], [".5", 0.5], ["1e3", 1000], [" 7 ", 7]] as const) {
    t.equal(resolvePluginOptions("flow-counter", specs, new Map([["top", text]])).top, value, text);
  }
});

t.test("describeOptions() lists key=default (type) description for --list-plugins", async (t) => {
  t.same(describeOptions(specs), ["top=10 (number) how many", "verbose=false (boolean) say more", "names=a (list) which", "file= (string) where"]);
});

t.test("a plugin's options reach ctx.options typed, and a bad -o stops the run as a usage error", async (t) => {
  const dir = pluginFolder(t);
  writePlugin(dir, "opts", `{
    name: "opts",
    description: "",
    options: { top: { type: "number", default: 1, description: "" }, tags: { type: "list", default: [], description: "" } },
    setup(ctx) { ctx.out.json({ top: ctx.options.top, tags: ctx.options.tags }); },
  }`);
  const file = smallCapture(dir, 1);
  const r = await runApp(file, { plugins: ["opts"], pluginDirs: [dir], options: ["opts.top=42", "opts.tags=a,b"] });
  t.same(JSON.parse(r.lines[0]), { top: 42, tags: ["a", "b"] });
  await t.rejects(runApp(file, { plugins: ["opts"], pluginDirs: [dir], options: ["opts.top=x"] }), { name: "UsageError", message: /-o opts\.top/ });
  await t.rejects(runApp(file, { plugins: ["opts"], pluginDirs: [dir], options: ["opts.nope=1"] }), { name: "UsageError", message: /Unknown option "nope" for plugin opts/ });
});
