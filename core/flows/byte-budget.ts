/**
 * A bound on bytes held across many holders: every TCP stream's out-of-order pieces share one, every
 * connection's application parsers (unfinished HTTP heads, TLS hellos, DNS messages over TCP) another.
 * Per-connection limits alone do not bound memory: a million connections that each hold a little is
 * a lot. A holder reserves before it keeps bytes and gives up keeping them when the budget says no.
 *
 * @example
 * const budget = new ByteBudget(4);
 * budget.tryReserve(3); // true
 * budget.tryReserve(2); // false: only 1 byte left
 * budget.release(3);
 */
export class ByteBudget {
  /** The bound, in bytes. */
  readonly totalBytes: number;
  #used = 0;
  #refused = 0;

  constructor(totalBytes: number) {
    if (!Number.isSafeInteger(totalBytes) || totalBytes < 0) {
      throw new RangeError(`Cannot create a byte budget: totalBytes must be a non-negative integer: current value is ${totalBytes}`);
    }
    this.totalBytes = totalBytes;
  }

  /** Bytes currently reserved by all holders. */
  get usedBytes(): number {
    return this.#used;
  }

  /** Reservations refused so far: how often the bound was what stopped a holder. */
  get refusals(): number {
    return this.#refused;
  }

  /** Reserves `bytes`; returns false, reserving nothing, when that would pass the bound. */
  tryReserve(bytes: number): boolean {
    if (this.#used + bytes > this.totalBytes) {
      this.#refused++;
      return false;
    }
    this.#used += bytes;
    return true;
  }

  /** Gives back bytes reserved earlier. */
  release(bytes: number): void {
    this.#used -= bytes;
    if (this.#used < 0) this.#used = 0;
  }
}
