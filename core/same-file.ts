import { statSync } from "node:fs";

/** True when paths `a` and `b` name the same existing file (any links or spellings), by device and inode. */
export function sameFile(a: string, b: string): boolean {
  try {
    const x = statSync(a);
    const y = statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}
