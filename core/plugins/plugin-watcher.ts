import type { RunConfig } from "../run.ts";
import type { PluginHost } from "./plugin-host.ts";

/** Placeholder for --watch (hot reload), filled in by the plugin-platform work. */
export class PluginWatcher {
  constructor(
    readonly host: PluginHost,
    readonly config: RunConfig,
    readonly stderr: (line: string) => void,
  ) {}
  close(): void {}
}
