import { readFileSync } from "node:fs";

/**
 * CPU time the calling thread has used so far, in seconds, or NaN where the system does not tell.
 *
 * `process.cpuUsage()` sums every thread of the process; a run's threads (main, reader, decoders, and
 * V8's compiler and GC threads) compete for the same cores, so where a run is slow shows only per
 * thread. Linux keeps that per thread in /proc: `schedstat` in nanoseconds, `stat` in clock ticks where
 * the kernel keeps no schedstat. Reading it is one small file read: call it per batch, not per packet.
 */
export function threadCpuSeconds(): number {
  try {
    const sched = readFileSync("/proc/thread-self/schedstat", "latin1");
    const ns = Number(sched.slice(0, sched.indexOf(" ")));
    if (ns > 0) return ns / 1e9;
    // Fields 14 and 15: utime, stime.
    const fields = procStatFields("/proc/thread-self/stat");
    return (Number(fields[11]) + Number(fields[12])) / kClockTicksPerSecond;
  } catch {
    return NaN;
  }
}

/** USER_HZ: Linux reports /proc times in these units, 100 on every architecture Node.js runs on. */
export const kClockTicksPerSecond = 100;

/**
 * The fields of a /proc `stat` file after the command name, which may itself hold spaces: index 0 is
 * field 3 (the state), index 11 field 14 (utime). Throws when the file cannot be read.
 */
export function procStatFields(path: string): string[] {
  const stat = readFileSync(path, "latin1");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** CPU time (user and system) all threads of this process have used so far, in seconds; NaN where unknown. */
export function processCpuSeconds(): number {
  try {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  } catch {
    return NaN;
  }
}
