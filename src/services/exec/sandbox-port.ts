/**
 * The seam to the bubblewrap sandbox (`sandbox.ts`, the sandbox helper's): ExecService is given a
 * `SandboxProvider` by the app, so it never runs a sandboxed request unsandboxed — no provider, or
 * one that finds no bwrap, is SANDBOX_UNAVAILABLE.
 */
export interface SandboxSpec {
  /** Workspace (real path): bound read-write at the same path. */
  root: string;
  /** Inside root. */
  cwd: string;
  /** Resolved interpreter + args (absolute path of the interpreter). */
  command: string[];
  /** The cleaned env the run gets (PATH, HOME, LANG, TERM…). */
  env: Record<string, string>;
  /** Paths to mask (root/.icpy, the runtime dir/file, the token file). */
  hide: string[];
  /** Bound read-only at the same path after the private /tmp (the run's private code folder, icpy's node_modules). */
  extraReadOnly?: string[];
}

export interface SandboxCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
}

export interface SandboxProvider {
  /** Undefined when bubblewrap is missing (a sandboxed request then fails with SANDBOX_UNAVAILABLE). */
  available(): boolean;
  command(spec: SandboxSpec): SandboxCommand;
}
