/**
 * A small seeded pseudo-random generator (mulberry32) so that generated captures and fuzz inputs
 * are identical on every run and machine: the same seed gives the same sequence everywhere,
 * which Math.random() cannot promise.
 */

/** Deterministic random numbers from a 32-bit seed. Not for cryptography. */
export class SeededRandom {
  #state: number;

  /** Starts the sequence for `seed` (any number; only its low 32 bits count). */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Returns a float in [0, 1). */
  next(): number {
    // mulberry32 (Tommy Ettinger): passes gjrand/PractRand for this use, and is 4 lines.
    this.#state = (this.#state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.#state ^ (this.#state >>> 15), 1 | this.#state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Returns a uint32. */
  uint32(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }

  /** Returns an integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Returns an integer in [min, max] (both included). */
  between(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Returns true with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Returns a random element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Returns an exponentially distributed value with the given mean (inter-arrival gaps). */
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  /** Fills `out` with random bytes and returns it. */
  fill(out: Uint8Array): Uint8Array {
    for (let i = 0; i < out.length; i++) out[i] = this.next() * 256;
    return out;
  }
}
