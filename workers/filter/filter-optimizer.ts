/**
 * Turns a compiled test tree into a decision graph and rearranges it the way libpcap's BPF optimizer
 * (optimize.c, bpf_optimize) rearranges tcpdump's program.
 *
 * Why bother: the optimizer does not preserve one thing, the packets rejected because a load runs
 * past the captured bytes. When it proves a test cannot change the outcome (both of its branches
 * end up in the same place once the tests that must already have run are taken into account), it
 * drops the test and its load; and it pulls later tests of the same value ahead of others. On a
 * truncated packet tcpdump then accepts where a literal evaluation would give up. Mirroring the
 * passes that move or remove tests keeps our counts equal to tcpdump's on such packets too:
 *
 * - opt_j: jump threading. Knowing which tests were passed on every path to an edge (its edge
 *   dominators), a test of the same value with the same operator and operand is decided, and so is
 *   `A == k2` after `A == k1` succeeded; the edge then skips the test. A test whose two branches go
 *   to the same place is skipped too.
 * - or_pullup / and_pullup: in a chain of tests joined by "or" (or "and") that test the same value,
 *   a later test of the value the chain started from is moved ahead.
 *
 * Values are compared by structure (libpcap numbers them by hash-consing, which amounts to the
 * same): two loads of the same bytes are the same value. The passes, their order and their sets
 * (levels, dominators, edge dominators, in-edges) follow optimize.c, so that where several
 * rewrites are possible we pick the one libpcap picks.
 *
 * libpcap does not optimize programs that compute the 802.11 payload offset (gencode sets
 * no_optimize), so neither do we (see `optimizeDecisions`'s caller).
 */
import type { Test, Value } from "./filter-compiler.ts";

/** A test in the decision graph: evaluate `compare`, then continue at `yes` or `no`. */
export interface Decision {
  readonly kind: "decision";
  readonly compare: Extract<Test, { op: "compare" }>;
  yes: Target;
  no: Target;
  /** Value number of the accumulator being tested (libpcap's val[A_ATOM] at the end of the block). */
  readonly aval: string;
  /** Value number of the operand (a constant or the X register). */
  readonly oval: string;
  /** The jump instruction: operator and whether the operand is a constant (K) or X. */
  readonly code: string;
  /** Block number, assigned as libpcap's number_blks_r does (depth-first, true branch first). */
  id: number;
}

/** The end of the program: accept or reject. */
export interface Leaf {
  readonly kind: "leaf";
  readonly accept: boolean;
  id: number;
}

/** A node of the decision graph. */
export type Target = Decision | Leaf;

/** Structural key of a value (its "value number"): equal keys load or compute the same thing. */
function valueKey(v: Value): string {
  switch (v.op) {
    case "imm": return v.from ? valueKey(v.from) : `#${v.k}`;
    case "wireLength": return "len";
    case "load":
      if (v.via) return `ld${v.size}[${valueKey(v.via.index)}+${v.via.k}]`;
      return `ld${v.size}[${v.index === null ? "" : `${valueKey(v.index)}+`}${v.k}]`;
    case "ipHeaderLength": return `msh[${v.index === null ? "" : `${valueKey(v.index)}+`}${v.k}]`;
    case "alu": return `(${valueKey(v.a)}${v.alu}${valueKey(v.b)})`;
    case "negate": return `(-${valueKey(v.a)})`;
    case "linkHeaderStart": return "LH";
    case "linkPayloadStart": return "LP";
  }
}

/**
 * Makes a decision node, in the form libpcap's peephole pass (opt_peep) gives the block before jump
 * threading looks at it, since threading matches tests by that form:
 * "A - X; jeq #0" becomes "jeq X", "sub #c; jeq #k" becomes "jeq #(k+c)", and "and #m; jeq #0"
 * becomes "jset #m" with the branches swapped. The rewritten test decides the same way.
 */
function decision(compare: Extract<Test, { op: "compare" }>, yes: Target, no: Target): Decision {
  let { jump, a, b } = compare;
  if (jump === "eq" && b.op === "imm" && !b.from) {
    if (a.op === "alu" && a.alu === "-" && a.b.op === "imm" && !a.b.from) {
      b = { op: "imm", k: (b.k + a.b.k) >>> 0 };
      a = a.a;
    } else if (a.op === "alu" && a.alu === "&" && a.b.op === "imm" && !a.b.from && b.k === 0) {
      return decision({ op: "compare", jump: "set", a: a.a, b: a.b }, no, yes);
    }
  }
  // A constant folded from arithmetic is still a computed X operand to libpcap at this stage.
  const code = b.op === "imm" && !b.from ? `${jump}K` : `${jump}X`;
  return { kind: "decision", compare: { op: "compare", jump, a, b }, yes, no, aval: valueKey(a), oval: valueKey(b), code, id: -1 };
}

/** Evaluates a comparison of two constants, as the optimizer folds it. */
function constantOutcome(t: Extract<Test, { op: "compare" }>): boolean | undefined {
  // Only plain numbers are constants while libpcap threads branches; folded arithmetic is not yet.
  if (t.a.op !== "imm" || t.b.op !== "imm" || t.a.from || t.b.from) return undefined;
  const a = t.a.k;
  const b = t.b.k;
  switch (t.jump) {
    case "eq": return a === b;
    case "gt": return a > b;
    case "ge": return a >= b;
    case "set": return (a & b) !== 0;
  }
}

/** Translates a test tree into a decision graph with short-circuit jumps, as gencode's backpatching does. */
export function buildDecisions(test: Test): Target {
  const accept: Leaf = { kind: "leaf", accept: true, id: -1 };
  const reject: Leaf = { kind: "leaf", accept: false, id: -1 };
  const build = (t: Test, yes: Target, no: Target): Target => {
    switch (t.op) {
      case "true": return yes;
      case "false": return no;
      case "and": return build(t.a, build(t.b, yes, no), no);
      case "or": return build(t.a, yes, build(t.b, yes, no));
      case "not": return build(t.a, no, yes);
      case "compare": {
        const known = constantOutcome(t);
        if (known !== undefined) return known ? yes : no;
        return decision(t, yes, no);
      }
    }
  };
  return build(test, accept, reject);
}

/** An edge of the graph: the yes (`sense` true) or no branch of `pred`. */
interface Edge {
  readonly id: number;
  readonly pred: Decision;
  readonly sense: boolean;
}

function successor(e: Edge): Target {
  return e.sense ? e.pred.yes : e.pred.no;
}

function setSuccessor(e: Edge, t: Target): void {
  if (e.sense) e.pred.yes = t;
  else e.pred.no = t;
}

/** A bit set over block or edge numbers. */
class BitSet {
  private readonly words: Uint32Array;
  constructor(size: number, full: boolean) {
    this.words = new Uint32Array(Math.ceil(size / 32) || 1);
    if (full) this.words.fill(0xffffffff);
  }
  fill(): void {
    this.words.fill(0xffffffff);
  }
  has(i: number): boolean {
    return (this.words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }
  add(i: number): void {
    this.words[i >>> 5]! |= 1 << (i & 31);
  }
  clear(): void {
    this.words.fill(0);
  }
  intersect(other: BitSet): void {
    for (let i = 0; i < this.words.length; i++) this.words[i]! &= other.words[i]!;
  }
  /** Members in increasing order, as opt_j scans them. */
  *members(): Generator<number> {
    for (let w = 0; w < this.words.length; w++) {
      let x = this.words[w]!;
      while (x !== 0) {
        const low = x & -x;
        yield w * 32 + 31 - Math.clz32(low);
        x ^= low;
      }
    }
  }
}

/**
 * Applies libpcap's branch optimizations (the first opt_loop of bpf_optimize) to the graph and
 * returns its new root. The statement-level passes that follow in libpcap only drop loads that were
 * already made on every path to them, which changes no outcome, so they are not needed here.
 */
export function optimizeDecisions(root: Target): Target {
  if (root.kind === "leaf") return root;

  // Blocks and edges are numbered once, as opt_init does.
  const blocks: Target[] = [];
  const number = (t: Target): void => {
    if (t.id >= 0 && blocks[t.id] === t) return;
    t.id = blocks.length;
    blocks.push(t);
    if (t.kind === "decision") {
      number(t.yes);
      number(t.no);
    }
  };
  number(root);
  const n = blocks.length;
  const edges: Edge[] = new Array(2 * n);
  const yesEdge = new Map<Decision, Edge>();
  const noEdge = new Map<Decision, Edge>();
  for (const b of blocks) {
    if (b.kind !== "decision") continue;
    const et: Edge = { id: b.id, pred: b, sense: true };
    const ef: Edge = { id: n + b.id, pred: b, sense: false };
    edges[et.id] = et;
    edges[ef.id] = ef;
    yesEdge.set(b, et);
    noEdge.set(b, ef);
  }
  const edgeDominators: BitSet[] = Array.from({ length: 2 * n }, () => new BitSet(2 * n, true));
  const dominators: BitSet[] = Array.from({ length: n }, () => new BitSet(n, true));

  let done = false;
  let stuckLoops = 0;
  while (!done) {
    done = true;
    let movedNonBranch = false;

    // find_levels: leaves are level 0; each level lists blocks in reverse order of completion.
    const level = new Map<Target, number>();
    const levels: Target[][] = [];
    const visit = (b: Target): void => {
      if (level.has(b)) return;
      level.set(b, -1);
      let l = 0;
      if (b.kind === "decision") {
        visit(b.yes);
        visit(b.no);
        l = Math.max(level.get(b.yes)!, level.get(b.no)!) + 1;
      }
      level.set(b, l);
      (levels[l] ??= []).unshift(b);
    };
    visit(root);
    const maxLevel = level.get(root)!;

    // find_dom: a block's dominators are itself plus those common to all its predecessors.
    for (const d of dominators) d.fill();
    dominators[root.id]!.clear();
    for (let l = maxLevel; l >= 0; l--) {
      for (const b of levels[l] ?? []) {
        dominators[b.id]!.add(b.id);
        if (b.kind !== "decision") continue;
        dominators[b.yes.id]!.intersect(dominators[b.id]!);
        dominators[b.no.id]!.intersect(dominators[b.id]!);
      }
    }

    // find_edom: an edge's dominators are itself plus those common to all edges into its block.
    for (const d of edgeDominators) d.fill();
    if (root.kind === "decision") {
      edgeDominators[yesEdge.get(root)!.id]!.clear();
      edgeDominators[noEdge.get(root)!.id]!.clear();
    }
    const propagate = (e: Edge): void => {
      edgeDominators[e.id]!.add(e.id);
      const succ = successor(e);
      if (succ.kind === "decision") {
        edgeDominators[yesEdge.get(succ)!.id]!.intersect(edgeDominators[e.id]!);
        edgeDominators[noEdge.get(succ)!.id]!.intersect(edgeDominators[e.id]!);
      }
    };
    for (let l = maxLevel; l >= 0; l--) {
      for (const b of levels[l] ?? []) {
        if (b.kind !== "decision") continue;
        propagate(yesEdge.get(b)!);
        propagate(noEdge.get(b)!);
      }
    }

    // opt_j on every edge, from the levels nearest the leaves up.
    const foldEdge = (child: Target, e: Edge | undefined): Target | undefined => {
      if (e === undefined || child.kind !== "decision" || child.code !== e.pred.code || child.aval !== e.pred.aval) return undefined;
      if (child.oval === e.pred.oval) return e.sense ? child.yes : child.no;
      // Came through "A == k1" being true, so "A == k2" is false.
      if (e.sense && e.pred.code === "eqK") return child.no;
      return undefined;
    };
    const jumpThread = (e: Edge): void => {
      let succ = successor(e);
      if (succ.kind !== "decision") return;
      if (succ.yes === succ.no) {
        movedNonBranch = true;
        done = false;
        setSuccessor(e, succ.yes);
        succ = succ.yes;
      }
      for (let again = true; again; ) {
        again = false;
        for (const k of edgeDominators[e.id]!.members()) {
          const target = foldEdge(successor(e), edges[k]);
          if (target === undefined) continue;
          done = false;
          setSuccessor(e, target);
          if (target.kind === "decision") again = true;
          break;
        }
      }
    };
    for (let l = 1; l <= maxLevel; l++) {
      for (const b of levels[l] ?? []) {
        if (b.kind !== "decision") continue;
        jumpThread(yesEdge.get(b)!);
        jumpThread(noEdge.get(b)!);
      }
    }

    // find_inedges, then or_pullup / and_pullup on every block.
    const inEdges = new Map<Target, Edge[]>();
    for (let l = maxLevel; l > 0; l--) {
      for (const b of levels[l] ?? []) {
        if (b.kind !== "decision") continue;
        for (const e of [yesEdge.get(b)!, noEdge.get(b)!]) {
          const list = inEdges.get(successor(e)) ?? [];
          list.unshift(e);
          inEdges.set(successor(e), list);
        }
      }
    }
    const pullUp = (b: Target, isOr: boolean): void => {
      const into = inEdges.get(b);
      if (into === undefined || into.length === 0 || b.kind !== "decision") return;
      const val = into[0]!.pred.aval;
      for (const e of into) if (e.pred.aval !== val) return;
      // "Chain" follows the no branches of an or-chain, the yes branches of an and-chain.
      const chain = (d: Decision): Target => (isOr ? d.no : d.yes);
      const setChain = (d: Decision, t: Target): void => {
        if (isOr) d.no = t;
        else d.yes = t;
      };
      const exit = (d: Target): Target | undefined => (d.kind === "decision" ? (isOr ? d.yes : d.no) : undefined);
      const bExit = exit(b);
      // diff: the first block on the chain (starting at b) testing a different value than the preds.
      let diffOwner: Decision | undefined; // block whose chain pointer holds diff (undefined: b's in-edges)
      let diff: Target = b;
      let atTop = true;
      for (;;) {
        if (exit(diff) !== bExit) return;
        if (!dominators[diff.id]!.has(b.id)) return;
        if ((diff as Decision).aval !== val) break;
        diffOwner = diff as Decision;
        diff = chain(diff as Decision);
        atTop = false;
      }
      // same: further down, the first block testing the preds' value again; it gets pulled up.
      let sameOwner = diff as Decision;
      let same: Target = chain(sameOwner);
      for (;;) {
        if (exit(same) !== bExit) return;
        if (!dominators[same.id]!.has(b.id)) return;
        if ((same as Decision).aval === val) break;
        sameOwner = same as Decision;
        same = chain(same as Decision);
      }
      const pull = same as Decision;
      setChain(sameOwner, chain(pull));
      setChain(pull, diff);
      if (atTop) {
        for (const e of into) setSuccessor(e, pull);
      } else {
        setChain(diffOwner!, pull);
      }
      done = false;
    };
    for (let l = 1; l <= maxLevel; l++) {
      for (const b of levels[l] ?? []) {
        pullUp(b, true);
        pullUp(b, false);
      }
    }

    if (!done) {
      // libpcap gives up after 100 rounds that only move branches (an optimizer loop guard).
      stuckLoops = movedNonBranch ? 0 : stuckLoops + 1;
      if (stuckLoops >= 100) break;
    }
  }
  return skipUndecidingRoot(root);
}

/**
 * libpcap's opt_root, after its statement passes: root tests whose branches agree are skipped, and so
 * are tests of constants (by then folded, and their branches made to agree), but the first root's
 * loads stay (they are moved into the new root), unless the program ends up a bare "accept" or
 * "reject". The kept loads become a `probe`: evaluated before the new root only so that a packet too
 * short for them is rejected.
 */
function skipUndecidingRoot(root: Target): Target {
  const decided = (d: Decision): Target | undefined => {
    if (d.yes === d.no) return d.yes;
    const { a, b } = d.compare;
    if (a.op !== "imm" || b.op !== "imm") return undefined;
    return constantOutcome({ ...d.compare, a: { op: "imm", k: a.k }, b: { op: "imm", k: b.k } }) ? d.yes : d.no;
  };
  if (root.kind !== "decision" || decided(root) === undefined) return root;
  const first = root;
  let next: Target = root;
  for (let d = decided(next as Decision); d !== undefined; d = next.kind === "decision" ? decided(next) : undefined) next = d;
  if (next.kind === "leaf") return next;
  if (first.compare.a.op === "imm" && first.compare.b.op === "imm") return next;
  const probe: Extract<Test, { op: "compare" }> = { op: "compare", jump: "eq", a: first.compare.a, b: first.compare.b };
  return { kind: "decision", compare: probe, yes: next, no: next, aval: "probe", oval: "probe", code: "probe", id: -1 };
}
