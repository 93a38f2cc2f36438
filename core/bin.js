#!/usr/bin/env node
// The `host` command on Node.js. Node 20 cannot run TypeScript by itself, so the host's own modules are
// bundled into one JavaScript file, once per change (core/pool/module-bundle.js), and run from there:
// no TypeScript loader in the way of every import, and no compiler process left running (it would stay
// root after -Z drops privileges). TypeScript plugins get tsx's loader when the first of them loads.
// If the bundle cannot be made (a read-only install), tsx loads everything.
// (On Deno: deno run -A core/cli.ts ...)
import { fileURLToPath, pathToFileURL } from "node:url";
import { bundleModule, stopBundler } from "./pool/module-bundle.js";

let entry;
try {
  entry = pathToFileURL(await bundleModule(fileURLToPath(new URL("./cli.ts", import.meta.url)), { packages: "external" })).href;
  globalThis[Symbol.for("packet-host.bundled")] = true;
} catch {
  const { register } = await import("tsx/esm/api");
  register();
  entry = new URL("./cli.ts", import.meta.url).href;
} finally {
  await stopBundler();
}
const { runAndExit } = await import(entry);
await runAndExit(process.argv.slice(2));
