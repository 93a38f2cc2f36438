/**
 * Parsing and formatting of textual MAC, IPv4 and IPv6 addresses for the test packet builders.
 *
 * Strict on purpose: a typo in a test address should fail loudly at build time instead of
 * producing a packet that quietly carries the wrong bytes.
 */

/** Parses a MAC address written as six hex octets separated by ":" or "-" ("00:11:22:33:44:55"). */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new Error(`Cannot parse MAC address: expected six hex octets such as "00:11:22:33:44:55": current value is "${text}"`);
  }
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

/** Formats six bytes as a lower-case colon-separated MAC address. */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Parses a dotted-quad IPv4 address ("192.0.2.1"); leading zeros are rejected because they are ambiguous (octal). */
export function parseIpv4(text: string): Uint8Array {
  const parts = text.split(".");
  const ok = parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
  if (!ok) {
    throw new Error(`Cannot parse IPv4 address: expected four decimal octets such as "192.0.2.1": current value is "${text}"`);
  }
  return Uint8Array.from(parts, Number);
}

/** Formats four bytes as a dotted-quad IPv4 address. */
export function formatIpv4(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 4)).join(".");
}

/**
 * Parses any valid textual IPv6 address (RFC 4291 section 2.2): full form, "::" compression anywhere,
 * and a trailing embedded IPv4 address ("::ffff:192.0.2.1"). Zone identifiers ("%eth0") are not accepted.
 */
export function parseIpv6(text: string): Uint8Array {
  const fail = (why: string): never => {
    throw new Error(`Cannot parse IPv6 address: ${why}: current value is "${text}"`);
  };
  const halves = text.split("::");
  if (halves.length > 2) fail('"::" may appear only once');
  const groupsOf = (part: string): string[] => (part === "" ? [] : part.split(":"));
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  const words: number[][] = [[], []];
  const parts = [head, tail];
  // An embedded IPv4 address may only stand in for the last two groups of the whole address.
  const finalPart = halves.length === 2 ? 1 : 0;
  for (let h = 0; h < 2; h++) {
    const groups = parts[h]!;
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (h === finalPart && i === groups.length - 1 && g.includes(".")) {
        let v4: Uint8Array = new Uint8Array(4);
        try {
          v4 = parseIpv4(g);
        } catch {
          fail(`"${g}" is not an embedded IPv4 address`);
        }
        words[h]!.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) {
        words[h]!.push(parseInt(g, 16));
      } else {
        fail(`"${g}" is not a group of one to four hex digits`);
      }
    }
  }
  const count = words[0]!.length + words[1]!.length;
  if (halves.length === 2 ? count > 7 : count !== 8) {
    fail(halves.length === 2 ? "too many groups around \"::\"" : "expected eight groups");
  }
  const all16 = [...words[0]!, ...new Array<number>(8 - count).fill(0), ...words[1]!];
  const out = new Uint8Array(16);
  all16.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** Formats 16 bytes as an IPv6 address in the canonical RFC 5952 form (lower case, longest zero run compressed). */
export function formatIpv6(bytes: Uint8Array): string {
  const words = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  // RFC 5952 4.2.3: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(":");
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}

/** A parsed IP address of either family. */
export interface IpAddress {
  /** 4 or 6. */
  readonly version: 4 | 6;
  /** 4 or 16 bytes in network order. */
  readonly bytes: Uint8Array;
}

/** Parses an IPv4 or IPv6 address, telling the family from the presence of ":". */
export function parseIp(text: string): IpAddress {
  return text.includes(":") ? { version: 6, bytes: parseIpv6(text) } : { version: 4, bytes: parseIpv4(text) };
}
