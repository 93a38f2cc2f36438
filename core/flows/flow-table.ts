import type { Flow } from "./flow-record.ts";

/** Activity lists: flows ordered by their last packet, one list per timeout. */
export const kListTcp = 0;
export const kListUdp = 1;
export const kListClosing = 2;

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

/**
 * The flow table: flows by symmetric hash (a Map of chains, so a lookup allocates nothing), plus the
 * activity lists that drive timeouts and eviction.
 */
export class FlowTable {
  private readonly buckets = new Map<number, Flow>();
  readonly lists = [new ActivityList(), new ActivityList(), new ActivityList()];
  /** Flows in the table. */
  size = 0;

  /** First flow of the chain for `hash` (follow `nextInBucket`), or undefined. */
  chain(hash: number): Flow | undefined {
    return this.buckets.get(hash);
  }

  /** Adds a flow to the table and to activity list `list`. */
  insert(f: Flow, list: number): void {
    const head = this.buckets.get(f.hash);
    f.nextInBucket = head ?? null;
    this.buckets.set(f.hash, f);
    f.list = list;
    this.lists[list].push(f);
    this.size++;
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
    let p = this.buckets.get(f.hash);
    if (p === f) {
      if (f.nextInBucket === null) this.buckets.delete(f.hash);
      else this.buckets.set(f.hash, f.nextInBucket);
    } else {
      while (p !== undefined && p.nextInBucket !== f) p = p.nextInBucket ?? undefined;
      if (p) p.nextInBucket = f.nextInBucket;
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
