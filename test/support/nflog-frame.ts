/**
 * Builds LINKTYPE_NFLOG frames (Linux netfilter log, https://www.tcpdump.org/linktypes/LINKTYPE_NFLOG.html):
 * a 4-byte header (address family, version 0, resource id big-endian), then TLVs whose length and type
 * are in the capturing host's byte order. The length counts the 4-byte TLV header but not the
 * padding that aligns the next TLV to 4 bytes. The packet is the value of the NFULA_PAYLOAD TLV.
 */
import { concatBytes, text } from "./packet-builders.ts";

/** NFULA_* TLV types seen in captures. */
export const NflogTlv = { PACKET_HDR: 1, TIMESTAMP: 3, PREFIX: 10, UID: 11, PAYLOAD: 9 } as const;

/** One TLV of an NFLOG frame. */
export interface NflogTlvFields {
  readonly type: number;
  readonly value: Uint8Array;
}

/** Settings of an NFLOG frame. */
export interface NflogFields {
  /** Address family: 2 (AF_INET, default) or 10 (AF_INET6). */
  readonly family?: number;
  /** Byte order of TLV lengths and types (default "little", as on x86). */
  readonly byteOrder?: "little" | "big";
  /** TLVs before the payload (default: a packet header and a "test" prefix). */
  readonly before?: readonly NflogTlvFields[];
  /** Leave out the NFULA_PAYLOAD TLV (a damaged frame). */
  readonly noPayload?: boolean;
}

function tlv(type: number, value: Uint8Array, little: boolean): Uint8Array {
  const length = 4 + value.length;
  const out = new Uint8Array(Math.ceil(length / 4) * 4);
  const view = new DataView(out.buffer);
  view.setUint16(0, length, little);
  view.setUint16(2, type, little);
  out.set(value, 4);
  return out;
}

/** Builds an NFLOG frame carrying `packet` (an IPv4 or IPv6 packet). */
export function nflog(fields: NflogFields, packet: Uint8Array): Uint8Array {
  const little = (fields.byteOrder ?? "little") === "little";
  const family = fields.family ?? 2;
  const header = Uint8Array.of(family, 0, 0, 1);
  const before = fields.before ?? [
    { type: NflogTlv.PACKET_HDR, value: Uint8Array.of(family === 10 ? 0x86 : 0x08, family === 10 ? 0xdd : 0x00, 3, 0) },
    { type: NflogTlv.PREFIX, value: concatBytes(text("test"), Uint8Array.of(0)) },
  ];
  const parts = [header, ...before.map((t) => tlv(t.type, t.value, little))];
  if (!fields.noPayload) parts.push(tlv(NflogTlv.PAYLOAD, packet, little));
  return concatBytes(...parts);
}
