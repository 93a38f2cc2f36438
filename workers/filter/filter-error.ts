/**
 * The one error type of the capture-filter compiler. Every failure (a character the lexer does not
 * know, a syntax error, a construct this implementation does not support, a filter that cannot apply
 * to a capture's link type) is a FilterError that says where in the expression it happened, so a
 * command-line front end can print the expression with a caret line under the offending part:
 *
 *   Unsupported filter primitive 'addr1' at position 5: ...
 *   wlan addr1 00:11:22:33:44:55
 *        ^^^^^
 */

/** A filter expression that cannot be parsed or compiled; `pointer()` shows where. */
export class FilterError extends Error {
  /** Offset in `expression` (UTF-16 code units) of the first character of the offending part. */
  readonly position: number;
  /** Length of the offending part (at least 1, so the caret line is never empty). */
  readonly length: number;
  /** The whole filter expression as given. */
  readonly expression: string;

  /**
   * @example
   * ```ts
   * const e = new FilterError("Unexpected character '@' at position 4: remove it", "tcp @", 4, 1);
   * console.assert(e.pointer() === "tcp @\n    ^");
   * ```
   */
  constructor(message: string, expression: string, position: number, length = 1) {
    super(message);
    this.name = "FilterError";
    this.expression = expression;
    this.position = Math.max(0, Math.min(position, expression.length));
    this.length = Math.max(1, length);
  }

  /** Returns the expression followed by a line with carets under the offending part. */
  pointer(): string {
    return `${this.expression}\n${" ".repeat(this.position)}${"^".repeat(this.length)}`;
  }
}
