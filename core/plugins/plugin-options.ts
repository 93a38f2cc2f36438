import { UsageError } from "../usage-error.ts";
import type { OptionSpecs, OptionType } from "./plugin-api.ts";

/** Raw `-o plugin.key=value` arguments, grouped by plugin then key. */
export type RawPluginOptions = Map<string, Map<string, string>>;

/** Groups `-o plugin.key=value` arguments; a malformed one is a usage error. */
export function groupOptionArgs(args: readonly string[]): RawPluginOptions {
  const out: RawPluginOptions = new Map();
  for (const arg of args) {
    const m = /^([A-Za-z0-9][A-Za-z0-9_-]*)\.([A-Za-z0-9_-]+)=(.*)$/s.exec(arg);
    if (m === null) {
      throw new UsageError(`Invalid option "-o ${arg}": write -o plugin.key=value, e.g. -o flow-counter.top=20`);
    }
    const [, plugin, key, value] = m;
    let keys = out.get(plugin);
    if (keys === undefined) out.set(plugin, (keys = new Map()));
    keys.set(key, value);
  }
  return out;
}

/** A decimal number: 10, -2.5, .5, 1e3. */
const kDecimal = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseValue(type: OptionType, raw: string): unknown {
  switch (type) {
    case "number": {
      // Decimal only: Number() would also take "0x10", "0b1" and "  ", which nobody means on a command line.
      const n = kDecimal.test(raw.trim()) ? Number(raw) : NaN;
      return Number.isFinite(n) ? n : undefined;
    }
    case "boolean": {
      const v = raw.trim().toLowerCase();
      if (v === "true" || v === "1" || v === "yes" || v === "on" || v === "") return true;
      if (v === "false" || v === "0" || v === "no" || v === "off") return false;
      return undefined;
    }
    case "list":
      return raw
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
    default:
      return raw;
  }
}

/**
 * The option values of plugin `name`: declared defaults overridden by `raw`. An undeclared key or a
 * value of the wrong type is a usage error that names the plugin and the key.
 */
export function resolvePluginOptions(
  name: string,
  specs: OptionSpecs | undefined,
  raw: ReadonlyMap<string, string> | undefined,
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  const declared = specs ?? {};
  for (const [key, spec] of Object.entries(declared)) {
    values[key] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
  }
  for (const [key, text] of raw ?? []) {
    const spec = declared[key];
    if (spec === undefined) {
      const known = Object.keys(declared);
      throw new UsageError(
        `Unknown option "${key}" for plugin ${name}: ` +
          (known.length > 0 ? `its options are ${known.join(", ")}` : "it takes no options") +
          ` (see --list-plugins)`,
      );
    }
    const value = parseValue(spec.type, text);
    if (value === undefined) {
      throw new UsageError(`Invalid value for -o ${name}.${key}: expected a ${spec.type}, got "${text}"`);
    }
    values[key] = value;
  }
  return values;
}

/** One line per option, for --list-plugins: "key=default (type) description". */
export function describeOptions(specs: OptionSpecs | undefined): string[] {
  return Object.entries(specs ?? {}).map(([key, spec]) => {
    const def = Array.isArray(spec.default) ? spec.default.join(",") : String(spec.default);
    return `${key}=${def} (${spec.type}) ${spec.description}`;
  });
}
