/**
 * JA3 and JA3S (Salesforce, 2017): a TLS client's and server's hello reduced to one line of numbers,
 * and its MD5, the fingerprint Suricata, Zeek's ja3 package and Wireshark (`tls.handshake.ja3`) share.
 *
 * JA3 is `version,ciphers,extensions,groups,point formats`; JA3S is `version,cipher,extensions`. Each
 * list is in the hello's order, its values in decimal joined by "-"; GREASE values (RFC 8701) are left
 * out, so that a browser's random choice of them does not change its fingerprint. A hello that broke
 * off or is malformed gets none (the events say `null`): tools disagree on what to list for one.
 *
 * @example
 * ja3Text({ version: 0x0303, cipherSuites: [0x0a0a, 0x1301], extensions: [0, 10], supportedGroups: [29], pointFormats: [0] });
 * // "771,4865,0-10,29,0"
 */
import type { TlsClientHello, TlsServerHello } from "./tls-hello.ts";

/** True for the 16 GREASE values 0x0a0a, 0x1a1a, ..., 0xfafa. */
export function isGrease(value: number): boolean {
  return (value & 0x0f0f) === 0x0a0a && value >> 8 === (value & 0xff);
}

function list(values: readonly number[]): string {
  let text = "";
  for (const v of values) {
    if (isGrease(v)) continue;
    text += text === "" ? `${v}` : `-${v}`;
  }
  return text;
}

/** The JA3 string of a ClientHello. */
export function ja3Text(hello: Pick<TlsClientHello, "version" | "cipherSuites" | "extensions" | "supportedGroups" | "pointFormats">): string {
  return `${hello.version},${list(hello.cipherSuites)},${list(hello.extensions)},${list(hello.supportedGroups)},${list(hello.pointFormats)}`;
}

/** The JA3S string of a ServerHello ("" for the cipher suite of a hello that broke off before it). */
export function ja3sText(hello: Pick<TlsServerHello, "version" | "cipherSuite" | "extensions">): string {
  return `${hello.version},${hello.cipherSuite < 0 ? "" : hello.cipherSuite},${list(hello.extensions)}`;
}
