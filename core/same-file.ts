import { statSync } from "node:fs";

/** A file's identity, its device and inode ("dev:ino"), or "" when it does not exist: the same for every spelling and link. */
export function fileKey(path: string): string {
  try {
    const st = statSync(path);
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
