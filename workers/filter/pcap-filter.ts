/**
 * Capture filters with tcpdump's semantics (pcap-filter(7) as libpcap 1.10 implements it), for
 * the decode workers: parse an expression once, compile it per link type, then call the returned
 * function on every frame of the shared ring buffer.
 *
 *   parseFilter(text)            -> FilterAst     (filter-lexer.ts, filter-parser.ts, filter-names.ts)
 *   compileFilter(ast, linktype) -> FrameFilter   (filter-link-types.ts, filter-compiler.ts,
 *                                                   filter-optimizer.ts, filter-codegen.ts)
 *   filter(bytes, offset, caplen, wirelen) -> boolean, allocation-free
 *
 * Every failure is a FilterError carrying the position of the offending part of the expression.
 */
import { generateFilter } from "./filter-codegen.ts";
import type { FrameFilter } from "./filter-codegen.ts";
import { compileProgram } from "./filter-compiler.ts";
import { tooDeep, type FilterAst } from "./filter-parser.ts";

export { FilterError } from "./filter-error.ts";
export { parseFilter } from "./filter-parser.ts";
export type { FilterAst, FilterNode } from "./filter-parser.ts";
export type { FrameFilter } from "./filter-codegen.ts";

/**
 * Compiles a parsed filter for one link type (the LINKTYPE_/DLT_ number of the capture or pcapng
 * interface; the FCS bits of a pcap header may be left in). Throws FilterError when the expression
 * cannot apply to that link type, as libpcap does ("no VLAN support", "... link-layer type filtering
 * not implemented"); `less`, `greater`, `len` and `link[...]` compile for every link type.
 *
 * The returned function decides one frame: `bytes` is the whole shared buffer, `offset` where the
 * frame's first (link-layer) byte is, `caplen` the captured bytes, `wirelen` the original length. A
 * read beyond `offset + caplen` rejects the frame, like a BPF load out of bounds. It allocates
 * nothing and keeps no state between calls other than scratch variables, so one compiled filter
 * serves one worker thread.
 *
 * `fileByteOrder` (optional) is the byte order of the capture file (pcap header magic, pcapng
 * section): libpcap reads the address family of BSD loopback (DLT_NULL) captures in that order.
 * Without it both orders are accepted; see filter-compiler.ts for the one, rare, consequence.
 *
 * @example
 * ```ts
 * const accept = compileFilter(parseFilter("udp port 53"), 1);
 * const frame = new Uint8Array(42); // Ethernet + IPv4 + UDP header, zeroed
 * frame.set([0x08, 0x00], 12); frame[14] = 0x45; frame[23] = 17; frame.set([0, 53], 36);
 * console.assert(accept(frame, 0, frame.length, frame.length) === true);
 * ```
 */
export function compileFilter(ast: FilterAst, linktype: number, fileByteOrder?: "little" | "big"): FrameFilter {
  try {
    return generateFilter(compileProgram(ast, linktype, fileByteOrder));
  } catch (e) {
    throw tooDeep(e, ast.expression);
  }
}
