import type { Flow } from "./flow-record.ts";

/** Activity lists: flows ordered by their last packet, one list per timeout. */
export const kListTcp = 0;
export const kListUdp = 1;
export const kListClosing = 2;
/** Flow.list of a flow that has ended and left the table. */
export const kListEnded = -1;

/**
 * A doubly linked list of flows, least recently active first. Moving a flow to the tail on each of its
 * packets is a few pointer writes, and expiring idle flows only looks at the head: no scan of the table.
 */
class ActivityList {
  head: Flow | null = null;
  tail: Flow | null = null;
  size = 0;

  push(f: Flow): void {
    f.lruPrev = this.tail;
    f.lruNext = null;
    if (this.tail !== null) this.tail.lruNext = f;
    else this.head = f;
    this.tail = f;
    this.size++;
  }

  remove(f: Flow): void {
    if (f.lruPrev !== null) f.lruPrev.lruNext = f.lruNext;
    else this.head = f.lruNext;
    if (f.lruNext !== null) f.lruNext.lruPrev = f.lruPrev;
    else this.tail = f.lruPrev;
    f.lruPrev = f.lruNext = null;
    this.size--;
  }
}

/** Buckets at first; the array doubles whenever the table holds more flows than it has buckets. */
const kInitialBuckets = 1 << 12;

/**
 * The flow table: flows by symmetric hash in a power-of-two array of chains, plus the activity lists
 * that drive timeouts and eviction. An array indexed by the hash's low bits, not a Map keyed by the
 * hash: most 32-bit hashes are not small integers to V8, so a Map lookup hashed a heap number, and
 * the lookup was the largest single cost of finding a packet's flow.
 */
export class FlowTable {
  private buckets: (Flow | null)[] = new Array<Flow | null>(kInitialBuckets).fill(null);
  private mask = kInitialBuckets - 1;
  readonly lists = [new ActivityList(), new ActivityList(), new ActivityList()];
  /** Flows in the table. */
  size = 0;

  /** First flow of the chain that holds the flows of `hash` (follow `nextInBucket`), or null. */
  chain(hash: number): Flow | null {
    return this.buckets[hash & this.mask]!;
  }

  /** Adds a flow to the table and to activity list `list`. */
  insert(f: Flow, list: number): void {
    if (this.size >= this.buckets.length) this.grow();
    const b = f.hash & this.mask;
    f.nextInBucket = this.buckets[b]!;
    this.buckets[b] = f;
    f.list = list;
    this.lists[list].push(f);
    this.size++;
  }

  /** Doubles the buckets and moves every flow to its chain in the new array. */
  private grow(): void {
    const old = this.buckets;
    const buckets = new Array<Flow | null>(old.length * 2).fill(null);
    const mask = buckets.length - 1;
    for (let f of old) {
      while (f !== null) {
        const next = f.nextInBucket;
        const b = f.hash & mask;
        f.nextInBucket = buckets[b]!;
        buckets[b] = f;
        f = next;
      }
    }
    this.buckets = buckets;
    this.mask = mask;
  }

  /** Marks activity: the flow goes to the tail of `list` (moving lists when it closes). */
  touch(f: Flow, list: number): void {
    const l = this.lists[f.list];
    if (f.list === list && l.tail === f) return;
    l.remove(f);
    f.list = list;
    this.lists[list].push(f);
  }

  /** Removes a flow from the table. */
  remove(f: Flow): void {
    const b = f.hash & this.mask;
    let p: Flow | null = this.buckets[b]!;
    if (p === f) {
      this.buckets[b] = f.nextInBucket;
    } else {
      while (p !== null && p.nextInBucket !== f) p = p.nextInBucket;
      if (p !== null) p.nextInBucket = f.nextInBucket;
    }
    f.nextInBucket = null;
    this.lists[f.list].remove(f);
    this.size--;
  }

  /** The least recently active flow of `list`, or null. */
  oldest(list: number): Flow | null {
    return this.lists[list].head;
  }
}
