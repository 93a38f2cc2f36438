/**
 * Turns a compiled filter (filter-compiler.ts) into a JavaScript function with `new Function`, so
 * that deciding a packet is one call of straight-line code that V8 optimizes like hand-written code:
 * no tree walk, no closures per node, no allocation. The test tree first becomes a decision graph,
 * rearranged as tcpdump's optimizer rearranges its program (filter-optimizer.ts); tests reached from
 * one place are written inline as nested if/else, shared ones as cases of a `switch` in a loop.
 *
 * Why `new Function` is safe here: the generated source is assembled only from fixed fragments of
 * this file and from integers the compiler computed (offsets, masks, constants), each checked by
 * `literal()` to be an integer in 0..2^32-1 before it is printed. No text of the filter expression
 * (names, addresses as typed, anything) ever reaches the generated code, so an expression cannot
 * inject code. The source is available from `filterSource()` for inspection and tests.
 *
 * Out-of-bounds semantics: a BPF program that loads beyond the captured bytes stops and rejects the
 * packet, whatever the rest of the expression would say. The generated code instead lets a failed
 * load set a flag `F` and return 0, carries on, and rejects at the end if `F` is set. That gives the
 * same answer: the loads evaluated before the first failure are the ones BPF evaluates (same order),
 * and after it the answer is "reject" either way. The same flag handles division by zero at run time.
 */
import { FilterError } from "./filter-error.ts";
import type { FilterProgram, Test, Value } from "./filter-compiler.ts";
import { buildDecisions, optimizeDecisions } from "./filter-optimizer.ts";
import type { Decision, Target } from "./filter-optimizer.ts";

/** Decides a frame: `bytes` is the whole (shared) buffer and the frame starts at `offset`. */
export type FrameFilter = (bytes: Uint8Array, offset: number, caplen: number, wirelen: number) => boolean;

/** Prints a compile-time integer, refusing anything that is not one (see the module comment). */
function literal(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`filter codegen: not a 32-bit constant: ${n}`);
  return String(n);
}

function value(v: Value): string {
  switch (v.op) {
    case "imm":
      return literal(v.k);
    case "wireLength":
      return "W";
    case "load": {
      const at = v.index === null ? literal(v.k) : v.k === 0 ? value(v.index) : `${value(v.index)} + ${literal(v.k)}`;
      return `ld${v.size}(${at})`;
    }
    case "ipHeaderLength": {
      const at = v.index === null ? literal(v.k) : `${value(v.index)} + ${literal(v.k)}`;
      return `((ld1(${at}) & 15) << 2)`;
    }
    case "negate":
      return `((-${value(v.a)}) >>> 0)`;
    case "linkHeaderStart":
      return "LH";
    case "linkPayloadStart":
      return "LP";
    case "alu": {
      const a = value(v.a);
      const b = value(v.b);
      switch (v.alu) {
        case "+": return `((${a} + ${b}) >>> 0)`;
        case "-": return `((${a} - ${b}) >>> 0)`;
        case "*": return `(Math.imul(${a}, ${b}) >>> 0)`;
        case "/": return `div(${a}, ${b})`;
        case "%": return `mod(${a}, ${b})`;
        case "&": return `((${a} & ${b}) >>> 0)`;
        case "|": return `((${a} | ${b}) >>> 0)`;
        case "^": return `((${a} ^ ${b}) >>> 0)`;
        case "<<": return `shl(${a}, ${b})`;
        case ">>": return `shr(${a}, ${b})`;
      }
    }
  }
}

function comparison(t: Extract<Test, { op: "compare" }>): string {
  const a = value(t.a);
  const b = value(t.b);
  switch (t.jump) {
    case "eq": return `${a} === ${b}`;
    case "gt": return `${a} > ${b}`;
    case "ge": return `${a} >= ${b}`;
    case "set": return `(${a} & ${b}) !== 0`;
  }
}

/**
 * Writes the decision graph as JavaScript. A node reached from one place is written inline as
 * nested if/else; a node reached from several places (or nested too deep) becomes a `case` of a
 * `switch` in a loop, reached by setting `N` and continuing, so that the code stays as small as the
 * graph (no node is written twice).
 */
function graphSource(root: Target): string {
  const preds = new Map<Target, number>();
  const count = (t: Target): void => {
    const seen = preds.get(t);
    preds.set(t, (seen ?? 0) + 1);
    if (seen === undefined && t.kind === "decision") {
      count(t.yes);
      if (t.no !== t.yes) count(t.no);
    }
  };
  count(root);
  const caseIds = new Map<Decision, number>();
  const pending: Decision[] = [];
  const caseOf = (d: Decision): number => {
    let id = caseIds.get(d);
    if (id === undefined) {
      id = caseIds.size;
      caseIds.set(d, id);
      pending.push(d);
    }
    return id;
  };
  const kMaxNesting = 48;
  const goTo = (t: Target, depth: number, indent: string): string => {
    if (t.kind === "leaf") return `${indent}return ${t.accept ? "F === 0" : "false"};\n`;
    if (preds.get(t)! > 1 || depth > kMaxNesting) return `${indent}N = ${literal(caseOf(t))}; continue;\n`;
    return node(t, depth + 1, indent);
  };
  const node = (d: Decision, depth: number, indent: string): string => {
    // A test whose branches agree is only there for its loads (see skipUndecidingRoot).
    if (d.yes === d.no) return `${indent}${comparison(d.compare)};\n${goTo(d.yes, depth, indent)}`;
    return `${indent}if (${comparison(d.compare)}) {\n${goTo(d.yes, depth, indent + "  ")}${indent}} else {\n${goTo(d.no, depth, indent + "  ")}${indent}}\n`;
  };

  if (root.kind === "leaf") return `  return ${root.accept ? "F === 0" : "false"};\n`;
  caseOf(root);
  let cases = "";
  for (let i = 0; i < pending.length; i++) {
    const d = pending[i]!;
    cases += `    case ${literal(i)}:\n${node(d, 0, "      ")}`;
  }
  // Nothing shared: the root's nested if/else is the whole program.
  if (pending.length === 1) return node(root, 0, "  ");
  return `  let N = 0;\n  for (;;) switch (N) {\n${cases}    default: return false;\n  }\n`;
}

/**
 * Per-packet computation of the 802.11 offsets (libpcap's gen_load_radiotap_llprefixlen and
 * gen_load_802_11_header_len), run before the test like libpcap's prologue, so a frame too short for
 * it is rejected even if the test would not have needed the offsets.
 */
function prologue(p: FilterProgram): string {
  const lines: string[] = [];
  const radiotap = p.linkType.radiotap;
  if (radiotap && (p.needsLinkHeaderStart || p.needsLinkPayloadStart)) {
    // The radiotap length is little-endian at bytes 2-3; BPF loads byte 3 first.
    lines.push("const hi = ld1(3);", "LH = (hi << 8) | ld1(2);");
  }
  if (p.needsLinkPayloadStart) {
    lines.push(
      `const X = ${radiotap ? "LH" : literal(p.linkType.linkHeader)};`,
      "LP = X + 24;", // the fixed part of a data frame's MAC header
      "const fc = ld1(X);",
      "if ((fc & 8) !== 0 && (fc & 4) === 0) {", // a data frame
      "  if ((fc & 128) !== 0) LP += 2;", // QoS control field
    );
    if (radiotap) {
      // Atheros drivers pad the 802.11 header to 4 bytes and say so in the radiotap flags field,
      // which is at byte 8, or 16 after a TSFT field; only looked for with one presence word.
      lines.push(
        "  const present = ld4(4);",
        "  if ((present & 0x02000000) !== 0 && (present & 0x80) === 0) {",
        "    const flags = (present & 0x01000000) !== 0 ? ld1(16) : ld1(8);",
        "    if ((flags & 0x20) !== 0) LP = ((LP + 3) & 0xfffffffc) >>> 0;",
        "  }",
      );
    }
    lines.push("}");
  }
  if (lines.length > 0) lines.push("if (F !== 0) return false;");
  return lines.map((l) => `  ${l}`).join("\n");
}

/** Finds a division or modulus by a constant 0 in a value, if any. */
function zeroDivisor(v: Value): Extract<Value, { op: "alu" }> | undefined {
  switch (v.op) {
    case "alu":
      if (v.zeroDivisor !== undefined || (v.b.op === "imm" && v.b.k === 0 && (v.alu === "/" || v.alu === "%"))) return v;
      return zeroDivisor(v.a) ?? zeroDivisor(v.b);
    case "load":
    case "ipHeaderLength":
      return v.index === null ? undefined : zeroDivisor(v.index);
    case "negate":
      return zeroDivisor(v.a);
    default:
      return undefined;
  }
}

/**
 * libpcap's optimizer refuses a division or modulus by a constant 0 in any test left in the
 * program ("division by zero"); a test it removed as useless is not looked at.
 */
function refuseZeroDivisors(root: Target, expression: string): void {
  const seen = new Set<Target>();
  const walk = (t: Target): void => {
    if (seen.has(t) || t.kind !== "decision") return;
    seen.add(t);
    const found = zeroDivisor(t.compare.a) ?? zeroDivisor(t.compare.b);
    if (found !== undefined) {
      const at = found.zeroDivisor ?? { start: 0, end: expression.length };
      const what = found.alu === "/" ? "Division" : "Modulus";
      throw new FilterError(
        `${what} by zero at position ${at.start}: '${expression.slice(at.start, at.end)}' is always 0, which libpcap refuses; use a non-zero divisor`,
        expression, at.start, at.end - at.start);
    }
    walk(t.yes);
    walk(t.no);
  };
  walk(root);
}

/** Returns the JavaScript source of the factory that builds the filter (for inspection and tests). */
export function filterSource(p: FilterProgram): string {
  const root = buildDecisions(p.test);
  // libpcap leaves programs that compute the 802.11 payload offset unoptimized (no_optimize).
  const graph = p.needsLinkPayloadStart ? root : optimizeDecisions(root);
  if (graph !== root || !p.needsLinkPayloadStart) refuseZeroDivisors(graph, p.expression);
  // An optimized program that is a bare accept or reject loses its prologue too (opt_root).
  return `"use strict";
let B = null, O = 0, C = 0, W = 0, F = 0, LH = 0, LP = 0;
function ld1(a) { if (a + 1 > C) { F = 1; return 0; } return B[O + a]; }
function ld2(a) { if (a + 2 > C) { F = 1; return 0; } const i = O + a; return (B[i] << 8) | B[i + 1]; }
function ld4(a) { if (a + 4 > C) { F = 1; return 0; } const i = O + a; return ((B[i] << 24) | (B[i + 1] << 16) | (B[i + 2] << 8) | B[i + 3]) >>> 0; }
function div(a, b) { if (b === 0) { F = 1; return 0; } return Math.floor(a / b); }
function mod(a, b) { if (b === 0) { F = 1; return 0; } return a % b; }
function shl(a, b) { return b < 32 ? (a << b) >>> 0 : 0; }
function shr(a, b) { return b < 32 ? a >>> b : 0; }
return function frameFilter(bytes, offset, caplen, wirelen) {
  B = bytes; O = offset; C = caplen; W = wirelen >>> 0; F = 0;
${graph.kind === "leaf" && graph !== root ? "" : prologue(p)}
${graphSource(graph)}};`;
}

/** Builds the per-packet function of a compiled filter. */
export function generateFilter(p: FilterProgram): FrameFilter {
  const factory = new Function(filterSource(p)) as () => FrameFilter;
  return factory();
}
