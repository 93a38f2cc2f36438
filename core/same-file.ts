import { fstatSync, statSync } from "node:fs";

/** "dev:ino": a file's identity, the same for every spelling and link. */
function keyOf(st: { dev: number; ino: number }): string {
  return `${st.dev}:${st.ino}`;
}

/** The identity of the open file `fd`, as fileKey gives it. */
export function fdKey(fd: number): string {
  return keyOf(fstatSync(fd));
}

/**
 * A file's identity, its device and inode ("dev:ino"), or "" when it does not exist: the same for every
 * spelling and link. "-" is standard input (as -r takes it): `host -r - -w x.pcap < x.pcap` reads x.pcap.
 */
export function fileKey(path: string): string {
  try {
    return path === "-" ? fdKey(0) : keyOf(statSync(path));
  } catch {
    return "";
  }
}

/** True when paths `a` and `b` name the same existing file (any links or spellings). */
export function sameFile(a: string, b: string): boolean {
  const key = fileKey(a);
  return key !== "" && key === fileKey(b);
}
