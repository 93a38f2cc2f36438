/**
 * What a pair of runs over the same traffic, a short capture and a longer one, says about the rate a
 * run settles at. The longer capture repeats the shorter one's traffic, so the extra packets cost the
 * extra time: their rate is the settled one, without what only the start of a run pays (V8 compiling
 * the hot code while the first packets run on unoptimized code, tables and buffers growing). The
 * difference between the short run's time and its packets at the settled rate is that warm-up cost. (The
 * clock starts once the process and its threads are up, so this is not the process's start-up.)
 */
export interface SettledRate {
  /** Packets per second past the short capture's length. */
  pps: number;
  /** Seconds the short run took beyond its packets at the settled rate. */
  warmupSeconds: number;
}

/** The settled rate from a short run (packets, packets/s) and a long one; null when the long one is not faster per packet. */
export function settledRate(shortPackets: number, shortPps: number, longPackets: number, longPps: number): SettledRate | null {
  const shortSeconds = shortPackets / shortPps;
  const longSeconds = longPackets / longPps;
  const extraPackets = longPackets - shortPackets;
  const extraSeconds = longSeconds - shortSeconds;
  if (extraPackets <= 0 || extraSeconds <= 0) return null;
  const pps = extraPackets / extraSeconds;
  const warmupSeconds = shortSeconds - shortPackets / pps;
  return warmupSeconds < 0 ? null : { pps: Math.round(pps), warmupSeconds };
}
