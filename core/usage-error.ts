/**
 * A usage or configuration error: the user asked for something the host cannot do. The CLI prints
 * the message (which says what to do instead) and exits with status 2, like tcpdump.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
