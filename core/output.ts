import type { OutputWriter } from "./plugins/plugin-api.ts";

/** Where buffered output goes: a function that writes a chunk synchronously or queues it. */
export type ChunkSink = (chunk: string) => void;

const kFlushBytes = 64 * 1024;

/**
 * A line writer that batches lines into large writes. Printing plugins write one line per event;
 * one system call per line would cost more than decoding the packet, so lines are collected and
 * written when 64 KiB have gathered, on the next turn of the event loop, or at `flush()`.
 */
export class BufferedLineWriter implements OutputWriter {
  private parts: string[] = [];
  private size = 0;
  private scheduled = false;
  private closed = false;

  constructor(private readonly sink: ChunkSink) {}

  line(text: string): void {
    if (this.closed) return;
    this.parts.push(text, "\n");
    this.size += text.length + 1;
    if (this.size >= kFlushBytes) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  json(value: unknown): void {
    this.line(JSON.stringify(value));
  }

  /** Writes everything gathered so far. */
  flush(): void {
    if (this.size === 0 || this.closed) return;
    const chunk = this.parts.join("");
    this.parts = [];
    this.size = 0;
    this.sink(chunk);
  }

  /** Drops further output (the reader went away: EPIPE). */
  close(): void {
    this.closed = true;
    this.parts = [];
    this.size = 0;
  }
}
