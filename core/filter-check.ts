import { compileFilter, FilterError, parseFilter } from "../workers/filter/pcap-filter.ts";
import { UsageError } from "./usage-error.ts";

/**
 * Validates a capture filter on the main thread before the workers see it: the syntax once at
 * startup (`linktype` null), then once per link type the capture announces. A problem becomes a
 * usage error whose message points at the offending part of the expression.
 */
export function checkFilter(expression: string, linktype: number | null, littleEndian = true): void {
  try {
    const ast = parseFilter(expression);
    if (linktype !== null) compileFilter(ast, linktype, littleEndian ? "little" : "big");
  } catch (err) {
    if (err instanceof FilterError) throw new UsageError(`Bad filter: ${err.message}\n${err.pointer()}`);
    throw err;
  }
}
