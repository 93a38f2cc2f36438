#!/usr/bin/env node
// The `host` command on Node.js: Node 20 cannot run TypeScript by itself, so register tsx's loader
// first, then start the CLI. (On Deno: deno run -A core/cli.ts ...)
import { register } from "tsx/esm/api";

register();
const { runAndExit } = await import("./cli.ts");
await runAndExit(process.argv.slice(2));
