// Types of module-bundle.js (plain JavaScript, so that core/bin.js can use it before TypeScript loads).

/** Path of an up-to-date bundle of `entry`; npm packages bundled in, or left to node_modules ("external"). */
export function bundleModule(entry: string, options?: { packages?: "bundle" | "external" }): Promise<string>;

/** Stops esbuild's service process if this process started one (before dropping privileges). */
export function stopBundler(): Promise<void>;
