import t from "tap";
import { builtinImportsIn } from "../../core/plugins/builtin-imports.ts";

const found = (source: string) => builtinImportsIn(source).map((i) => `${i.specifier}:${i.line}`);

t.test("builtinImportsIn finds each form of import of a built-in module, with its line", async (t) => {
  const source = [
    'import { readFileSync } from "node:fs";',
    "import * as net from 'node:net';",
    'import os, { EOL } from "os";',
    'export { join } from "node:path";',
    'import "node:process";',
    'const dns = await import("node:dns");',
    'const cp = require("child_process");',
    "import {",
    "  createHash,",
    '} from "node:crypto";',
    'const sub = await import("fs/promises");',
  ].join("\n");
  t.same(found(source), ["node:fs:1", "node:net:2", "os:3", "node:path:4", "node:process:5", "node:dns:6", "child_process:7", "node:crypto:8", "fs/promises:11"]);
});

t.test("builtinImportsIn leaves out packages, relative paths, type-only imports, comments and strings", async (t) => {
  const source = [
    'import { definePlugin } from "../core/plugins/plugin-api.ts";',
    'import type { Socket } from "node:net";',
    'import EventEmitter from "eventemitter3";',
    '// import { readFileSync } from "node:fs";',
    '/* import net from "node:net";',
    '   const x = require("os"); */',
    'const help = "write import fs from \\"node:fs\\" to break this";',
    "const doc = `import net from 'node:net'`;",
    'const url = "http://example.com/"; // a URL in a string is not a comment',
    'import { fsLike } from "./fs";',
    'import util from "node:util"; // after a string with //',
  ].join("\n");
  t.same(found(source), ["node:util:11"]);
});
