import { fstatSync, statSync } from "node:fs";

/**
 * A file's identity, its device and inode ("dev:ino"), or "" when it does not exist: the same for every
 * spelling and link. "-" is standard input (as -r takes it): `host -r - -w x.pcap < x.pcap` reads x.pcap.
 */
export function fileKey(path: string): string {
  try {
    const st = path === "-" ? fstatSync(0) : statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return "";
  }
}

/** True when paths `a` and `b` name the same existing file (any links or spellings). */
export function sameFile(a: string, b: string): boolean {
  const key = fileKey(a);
  return key !== "" && key === fileKey(b);
}
