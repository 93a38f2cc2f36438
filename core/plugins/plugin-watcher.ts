import { type FSWatcher, statSync, watch } from "node:fs";
import { errorText, type PluginHost } from "./plugin-host.ts";
import { discoverPlugins, type PluginFile } from "./plugin-loader.ts";
import type { RawPluginOptions } from "./plugin-options.ts";
import { typeCheckPlugin } from "./plugin-typecheck.ts";

/** Edits arrive as bursts of file events (write, rename, chmod); act once the burst is over. */
const kSettleMs = 150;

/** What a plugin file looked like when last loaded. */
function stamp(path: string): string {
  try {
    const st = statSync(path);
    return `${st.mtimeMs}:${st.size}`;
  } catch {
    return "";
  }
}

/**
 * `--watch`: hot reload of plugins while the capture runs.
 *
 * - a loaded plugin whose file changes is type-checked, imported anew and swapped in (teardown of
 *   the old instance, setup of the new); if the new file does not check or load, the running version
 *   stays and the reason is printed;
 * - a loaded plugin whose file disappears is unloaded;
 * - a plugin file added to a plugin folder during the run is loaded (drop-in).
 *
 * Changes are applied one at a time, between dispatched batches, so the other plugins lose nothing.
 * Modules that a plugin imports are not reloaded, only the plugin module itself.
 */
export class PluginWatcher {
  private readonly watchers: FSWatcher[] = [];
  private readonly known: Map<string, PluginFile>;
  private readonly stamps = new Map<string, string>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private queue: Promise<void> = Promise.resolve();
  private generation = 0;
  private closed = false;

  constructor(
    private readonly host: PluginHost,
    private readonly dirs: readonly string[],
    private readonly options: RawPluginOptions,
    private readonly stderr: (line: string) => void,
  ) {
    this.known = discoverPlugins(dirs);
    for (const name of host.names) {
      const file = this.known.get(name);
      if (file !== undefined) this.stamps.set(name, stamp(file.path));
    }
    for (const dir of dirs) {
      try {
        this.watchers.push(watch(dir, { recursive: false }, () => this.schedule()));
      } catch {
        // a --plugins-dir that does not exist: nothing to watch there
      }
    }
  }

  /** Resolves when every change seen so far has been applied (for tests and the end of a run). */
  async idle(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
      this.queue = this.queue.then(() => this.rescan());
    }
    await this.queue;
  }

  /** Stops watching. */
  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.queue = this.queue.then(() => this.rescan());
    }, kSettleMs);
  }

  private async rescan(): Promise<void> {
    if (this.closed) return;
    const now = discoverPlugins(this.dirs);
    for (const name of this.host.names) {
      const file = now.get(name);
      if (file === undefined) {
        await this.host.unload(name);
        this.stamps.delete(name);
        this.stderr(`[watch] ${name}: file removed, plugin unloaded`);
      } else if (stamp(file.path) !== this.stamps.get(name)) {
        await this.apply(file, "reloaded");
      }
    }
    for (const [name, file] of now) {
      if (!this.known.has(name) && !this.host.has(name)) await this.apply(file, "loaded");
    }
    for (const [name, file] of now) this.known.set(name, file);
  }

  private async apply(file: PluginFile, verb: "loaded" | "reloaded"): Promise<void> {
    const current = stamp(file.path);
    this.stamps.set(file.name, current);
    const problems = await typeCheckPlugin(file.path);
    if (problems !== null) {
      this.stderr(`[watch] ${file.name}: not ${verb}, the file does not type-check; ${verb === "reloaded" ? "the running version stays" : "fix it and save again"}:\n${problems}`);
      return;
    }
    try {
      this.generation++;
      if (verb === "reloaded") await this.host.reload(file, this.options.get(file.name), this.generation);
      else await this.host.load(file, this.options.get(file.name), this.generation);
      this.stderr(`[watch] ${file.name}: ${verb}`);
    } catch (err) {
      this.stderr(`[watch] ${file.name}: not ${verb}: ${errorText(err)}${verb === "reloaded" ? "; the running version stays" : ""}`);
    }
  }
}
