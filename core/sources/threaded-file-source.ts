import { Worker } from "node:worker_threads";
import { workerModule } from "../pool/worker-module.ts";
import { CaptureFileError } from "./capture-record.ts";
import type { FrameProducerHost, ReadProgress } from "./file-source.ts";
import type { ReaderMessage, ReaderThreadData } from "./file-reader-thread.ts";

/**
 * Reads a capture file through the reader thread (file-reader-thread.ts) and relays what it reports
 * to the pipeline: published slots become decode batches, link types are checked, progress is kept.
 * Same contract as FileSource.run(): resolves at the end of the file, rejects with CaptureFileError
 * (after every frame before the damage was published) or with the error a link-type check threw.
 */
export class ThreadedFileSource {
  readonly progress: ReadProgress = { bytesRead: 0, size: 0, packets: 0 };
  /** CPU seconds the reader thread spent reading, once it has ended (NaN before, or where unknown). */
  cpuSeconds = NaN;

  constructor(
    private readonly path: string,
    private readonly host: FrameProducerHost,
  ) {}

  private worker: Worker | null = null;
  private outcome: Promise<void> | null = null;
  private ready: Promise<void> | null = null;

  /** Starts the reader thread and resolves once it is loaded (it reads nothing before `run()`). */
  start(): Promise<void> {
    if (this.ready === null) this.ready = this.spawn();
    return this.ready;
  }

  private async spawn(): Promise<void> {
    const ring = this.host.ring;
    const data: ReaderThreadData = { ring: ring.buffers, path: this.path };
    const entry = await workerModule(new URL("./file-reader-thread.ts", import.meta.url), new URL("./file-reader-thread.js", import.meta.url));
    const worker = new Worker(new URL(entry), { workerData: data, execArgv: [] });
    this.worker = worker;
    let loaded: () => void = () => {};
    const ready = new Promise<void>((resolve) => (loaded = resolve));
    this.outcome = new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: unknown) => {
        loaded();
        if (settled) return;
        settled = true;
        if (err !== undefined) {
          ring.requestStop();
          reject(err);
        } else {
          resolve();
        }
      };
      worker.on("message", (msg: ReaderMessage) => {
        try {
          switch (msg.type) {
            case "ready":
              return loaded();
            case "published":
              this.progress.bytesRead = msg.bytesRead;
              this.progress.size = msg.size;
              this.progress.packets = msg.packets;
              this.host.published(msg.head);
              return;
            case "flush":
              this.host.flush();
              return;
            case "linktype":
              this.host.linkType(msg.linktype, msg.littleEndian);
              return;
            case "done":
              this.cpuSeconds = msg.cpu;
              return finish();
            case "error":
              this.cpuSeconds = msg.cpu;
              return finish(new CaptureFileError(msg.file, msg.offset, msg.problem, msg.advice));
            case "failure":
              return finish(new Error(msg.message));
          }
        } catch (err) {
          finish(err);
        }
      });
      worker.on("error", (err) => finish(err));
      worker.on("exit", (code) => finish(code === 0 ? undefined : new Error(`the reader thread exited with status ${code}`)));
    });
    // A failure before run() is reported by run(); until then nobody waits on it.
    this.outcome.catch(() => {});
    return ready;
  }

  /** Reads the file: resolves at its end, rejects with what went wrong. */
  async run(): Promise<void> {
    await this.start();
    this.worker!.postMessage({ type: "go" });
    return this.outcome!;
  }
}
