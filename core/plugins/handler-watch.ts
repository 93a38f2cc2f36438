/**
 * Tells the user when a plugin's handler never returns (an endless loop). The main thread is then
 * stuck, its ^C handling too: signals reach JavaScript through the event loop, which no longer
 * turns. So another thread watches: the main thread notes in shared memory which plugin's handler
 * runs and how many calls have started, and a decode worker (idle, since nothing is dispatched any
 * more) says so on stderr, with the plugin's name and how to end the host, once per stuck call.
 *
 * Node cannot stop a running function from outside (V8's TerminateExecution leaves Node's async
 * bookkeeping broken and the process aborts), so the message is all that can be done.
 */
import { writeSync } from "node:fs";

/** Words of the shared state. */
const kPlugin = 0; // index + 1 of the plugin whose handler runs; 0 when none does
const kCalls = 1; // handler calls started: unchanged while one call runs
const kReported = 2; // the kCalls value last reported, so that one stuck call is reported once
const kNamesLength = 3; // bytes of the names below
const kWords = 4;
/** Plugin names, joined by "\n", after the words. */
const kNamesBytes = 4096;

/** A handler that has run this long is reported. */
export const kStuckHandlerSeconds = 10;

/** The main thread's side: marks handler calls, and keeps the names of the plugins. */
export class HandlerWatch {
  readonly buffer = new SharedArrayBuffer(kWords * 4 + kNamesBytes);
  private readonly words = new Int32Array(this.buffer, 0, kWords);
  private readonly names: string[] = [];

  /** The number a plugin's calls are marked with: one per name, so that reloads take none more. */
  register(name: string): number {
    const known = this.names.indexOf(name);
    if (known >= 0) return known + 1;
    this.names.push(name);
    const bytes = new TextEncoder().encode(this.names.join("\n")).subarray(0, kNamesBytes);
    new Uint8Array(this.buffer, kWords * 4, kNamesBytes).set(bytes);
    Atomics.store(this.words, kNamesLength, bytes.length);
    return this.names.length;
  }

  /**
   * Before a handler runs (plain stores: this is on the dispatch path). Returns what ran before, for
   * leave(): a handler may emit an event whose handlers (other plugins') run inside its call.
   */
  enter(plugin: number): number {
    const w = this.words;
    const outer = w[kPlugin];
    w[kPlugin] = plugin;
    w[kCalls]++;
    return outer;
  }

  /** After it returned or threw, with what enter() returned. */
  leave(outer: number): void {
    this.words[kPlugin] = outer;
  }
}

/** The name of the plugin whose handler runs now, as another thread reads it; null when none runs. */
export function runningPlugin(buffer: SharedArrayBuffer): string | null {
  const words = new Int32Array(buffer, 0, kWords);
  const plugin = Atomics.load(words, kPlugin);
  if (plugin === 0) return null;
  // Copied out of shared memory first: TextDecoder does not read a SharedArrayBuffer.
  const names = new TextDecoder().decode(new Uint8Array(buffer, kWords * 4, Atomics.load(words, kNamesLength)).slice()).split("\n");
  return names[plugin - 1] ?? null;
}

/**
 * A worker thread's side: checks every second, without keeping the thread alive, whether one handler
 * call has lasted kStuckHandlerSeconds, and then writes the message straight to file descriptor 2
 * (a worker's process.stderr goes through the main thread, which is stuck).
 */
export function watchForStuckHandlers(buffer: SharedArrayBuffer, pid: number): void {
  const words = new Int32Array(buffer, 0, kWords);
  let calls = -1;
  let since = 0;
  const timer = setInterval(() => {
    const plugin = Atomics.load(words, kPlugin);
    const now = Atomics.load(words, kCalls);
    if (plugin === 0 || now !== calls) {
      calls = now;
      since = Date.now();
      return;
    }
    if (Date.now() - since < kStuckHandlerSeconds * 1000) return;
    // Several workers watch: the first to see this call reports it.
    const reported = Atomics.load(words, kReported);
    if (reported === now || Atomics.compareExchange(words, kReported, reported, now) !== reported) return;
    const name = runningPlugin(buffer) ?? `#${plugin}`;
    try {
      writeSync(
        2,
        `host: plugin ${name}: a handler has not returned for ${kStuckHandlerSeconds} s (an endless loop?); ` +
          `nothing is dispatched meanwhile and ^C cannot stop the host: end it with kill -KILL ${pid}\n`,
      );
    } catch {
      // stderr is closed: nothing to tell anyone.
    }
  }, 1000);
  (timer as { unref?: () => void }).unref?.();
}
