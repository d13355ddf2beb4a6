import { accessSync, constants, lstatSync, realpathSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve, sep } from 'node:path';
import { IcpyError } from '../../core/errors.js';
import type { SandboxCommand, SandboxProvider, SandboxSpec } from './sandbox-port.js';

/**
 * The bubblewrap sandbox for `exec.run {sandbox: true}`.
 *
 * What a sandboxed run gets (and callers may rely on):
 * - the workspace (`root`) read-write at its own path; every other path read-only (`--ro-bind / /`);
 * - a private, empty /tmp (so the default runtime folder `<tmpdir>/icpy-<uid>` is not there), a
 *   fresh /dev and a /proc of its own PID namespace (the server's /proc/<pid>/environ and cmdline,
 *   which may hold the token, are not visible);
 * - each `hide` path masked: a folder by an empty read-only tmpfs, a file by /dev/null;
 * - no network at all, loopback included (`--unshare-net`: its own namespace with only `lo`), no
 *   IPC, its own hostname, no capabilities, a new session (no TIOCSTI into the server's terminal);
 * - only the environment in `spec.env` (`--clearenv`), less every `ICPY_*` variable but
 *   `ICPY_EXEC_ID`, with TMPDIR=/tmp. Spawn bwrap with exactly the returned `env`: bwrap's own
 *   init process is visible inside as /proc/1, environment included;
 * - it dies with its parent (`--die-with-parent`): killing the bwrap process (e.g. the run's
 *   process group) kills everything inside — the sandboxed program gets SIGKILL, not SIGTERM.
 */
/** The spec and result types are the port's (sandbox-port.ts), so ExecService and this builder share one definition. */
export type { SandboxSpec, SandboxCommand as SandboxInvocation } from './sandbox-port.js';

export const INSTALL_HINT = 'apt-get install -y bubblewrap';

export interface FindBubblewrapOptions {
  /** This executable instead of a search (config `exec.bwrapPath`); missing or not executable = unavailable. */
  path?: string;
  /**
   * Folders searched for `bwrap`, in order (a PATH-style string). Default: `$PATH`, then /usr/bin.
   * Tests point this at a folder without bwrap to prove a sandboxed run never runs unsandboxed.
   */
  searchPath?: string;
}

const found = new Map<string, string | undefined>();

/** The bwrap executable, or undefined when missing. Cached per search path. */
export function findBubblewrap(options: FindBubblewrapOptions = {}): string | undefined {
  const searchPath = options.searchPath ?? [process.env.PATH ?? '', '/usr/bin'].join(delimiter);
  const key = options.path !== undefined ? `path:${options.path}` : searchPath;
  if (found.has(key)) return found.get(key);
  let hit: string | undefined;
  const candidates = options.path !== undefined ? [options.path] : searchPath.split(delimiter).filter((d) => d && isAbsolute(d)).map((d) => join(d, 'bwrap'));
  for (const candidate of candidates) {
    if (!isAbsolute(candidate)) continue;
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) {
        hit = candidate;
        break;
      }
    } catch {
      /* not here */
    }
  }
  found.set(key, hit);
  return hit;
}

/** bwrap, or SANDBOX_UNAVAILABLE saying how to install it. A sandboxed run must never fall back to running unsandboxed. */
export function requireBubblewrap(options: FindBubblewrapOptions = {}): string {
  const bwrap = findBubblewrap(options);
  if (!bwrap) {
    throw new IcpyError('SANDBOX_UNAVAILABLE', `bubblewrap (bwrap) is not installed: ${INSTALL_HINT}`, { command: 'bwrap', install: INSTALL_HINT });
  }
  return bwrap;
}

/** The ExecService's sandbox port, backed by bubblewrap: unavailable (SANDBOX_UNAVAILABLE) when bwrap is missing. */
export function bubblewrapSandbox(options: FindBubblewrapOptions = {}): SandboxProvider {
  return {
    available: () => findBubblewrap(options) !== undefined,
    command: (spec) => sandboxCommand(spec, requireBubblewrap(options)),
  };
}

/**
 * The paths a sandboxed run must not see, besides what the private /tmp already covers: the
 * workspace's `.icpy/` (state, history, exec databases), the runtime folder (its files hold the
 * token; see transports/cli/runtime-file.ts for how app/ finds it) and `$XDG_RUNTIME_DIR` as a
 * whole (the user's agent sockets live there).
 */
export function sandboxHidePaths(input: { root: string; runtimeDir?: string; env?: Record<string, string | undefined>; extra?: string[] }): string[] {
  const out = [join(input.root, '.icpy')];
  if (input.runtimeDir) out.push(input.runtimeDir);
  const xdg = input.env?.XDG_RUNTIME_DIR;
  if (xdg && isAbsolute(xdg)) out.push(xdg);
  out.push(...(input.extra ?? []));
  return out;
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** Mounts the sandbox makes over the read-only `/`: what each covers decides whether a host path is visible inside. */
const PRIVATE_MOUNTS = ['/tmp', '/dev', '/proc'];

/** PID 1 inside the sandbox: run the program ("$@") with the real stdin, wait for it, exit with its status. */
export const SANDBOX_INIT = 'exec 3<&0; "$@" <&3 3<&- & exec 3<&-; wait $!';

/** bwrap's argument list for `spec` (pure apart from looking at the host's file system). */
export function sandboxCommand(spec: SandboxSpec, bwrap: string): SandboxCommand {
  if (!isAbsolute(spec.root)) throw new IcpyError('INVALID_PARAMS', 'sandbox root must be an absolute path', { field: 'root' });
  if (spec.command.length === 0) throw new IcpyError('INVALID_PARAMS', 'sandbox command is empty', { field: 'command' });
  const root = realOrSelf(spec.root);
  if (root === '/' || within(root, '/proc') || within(root, '/dev')) {
    throw new IcpyError('SANDBOX_UNAVAILABLE', `cannot sandbox a workspace at ${root}: the sandbox shows the workspace read-write and the rest read-only`, { root });
  }
  const cwd = realOrSelf(isAbsolute(spec.cwd) ? spec.cwd : join(root, spec.cwd));
  if (!within(cwd, root)) throw new IcpyError('PATH_OUTSIDE_WORKSPACE', 'a sandboxed run works inside the workspace', { field: 'cwd', path: spec.cwd });

  // Binds, shallowest first so a deeper bind lands on top of the one containing it.
  const binds = new Map<string, 'rw' | 'ro'>([[root, 'rw']]);
  const visible = (path: string): boolean => {
    let best = '/';
    let hidden = false;
    for (const m of PRIVATE_MOUNTS) if (within(path, m) && m.length > best.length) [best, hidden] = [m, true];
    // a bind at the same path as a private mount is mounted after it, so it wins (a workspace at /tmp shows the host's /tmp)
    for (const b of binds.keys()) if (within(path, b) && b.length >= best.length) [best, hidden] = [b, false];
    return !hidden;
  };
  // extraReadOnly and command paths (the interpreter, a script, the run's code file) are bound
  // read-only where the private /tmp would hide them; elsewhere they are seen already (read-only
  // under /, or read-write in the workspace, which a bind would wrongly make read-only).
  for (const p of spec.extraReadOnly ?? []) {
    const real = realOrSelf(p);
    if (exists(real) && !visible(real)) binds.set(real, 'ro');
  }
  for (const arg of spec.command) {
    if (!isAbsolute(arg) || !exists(arg)) continue;
    const real = realOrSelf(arg);
    if (!visible(arg)) binds.set(resolve(arg), 'ro');
    if (real !== resolve(arg) && !visible(real)) binds.set(real, 'ro');
  }

  const masks = hideTargets(spec.hide, [...binds.keys()], visible);

  const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'];
  for (const [path, mode] of [...binds].sort((a, b) => depth(a[0]) - depth(b[0]))) {
    args.push(mode === 'rw' ? '--bind' : '--ro-bind', path, path);
  }
  for (const m of masks) {
    if (m.dir) args.push('--perms', '0500', '--tmpfs', m.path, '--remount-ro', m.path);
    else args.push('--ro-bind', '/dev/null', m.path);
  }
  args.push('--unshare-net', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--hostname', 'icpy-sandbox');
  args.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL');

  const env = sandboxEnv(spec.env);
  const home = env.HOME;
  if (home && isAbsolute(home) && within(home, '/tmp') && !visible(home)) args.push('--dir', home);
  args.push('--clearenv');
  for (const [k, v] of Object.entries(env)) args.push('--setenv', k, v);
  // Our own init as PID 1 (not bwrap's): bwrap's outer process exits without reaping its init, so
  // the run's CPU time and peak RSS never reached the wrapper measuring them (GNU time saw 0). A
  // shell that waits for the program passes them up (and its exit status: 128+N after signal N,
  // as bwrap's init would). The program itself is PID 2, with ordinary signal handling; stdin is
  // handed over explicitly (an asynchronous command's stdin is /dev/null otherwise).
  args.push('--as-pid-1', '--chdir', cwd, '--', '/bin/sh', '-c', SANDBOX_INIT, 'icpy-sandbox-init', ...spec.command);
  return { file: bwrap, args, env };
}

/** icpy variables a sandboxed run may see (the run's own id); every other `ICPY_*` may carry the token or a server path. */
const ICPY_ALLOWED = new Set(['ICPY_EXEC_ID']);

/** The run's environment inside the sandbox: what the caller gave, less icpy's own variables (the token among them). */
export function sandboxEnv(input: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(input)) {
    if (k === '' || k.includes('=') || k.includes('\0') || v.includes('\0')) continue;
    if (/^ICPY_/i.test(k) && !ICPY_ALLOWED.has(k)) continue;
    env[k] = v;
  }
  env.TMPDIR = '/tmp';
  return { ...env };
}

interface Mask {
  path: string;
  dir: boolean;
}

/**
 * What to mask: each hide path (and its real path, when a symlink leads elsewhere) that exists
 * and would be visible inside. A path holding a bound folder cannot be masked without hiding
 * the workspace too, so it is refused rather than silently left visible.
 */
function hideTargets(hide: readonly string[], bound: readonly string[], visible: (p: string) => boolean): Mask[] {
  const candidates = new Map<string, boolean>();
  for (const h of hide) {
    if (!isAbsolute(h)) continue;
    for (const p of new Set([resolve(h), realOrSelf(h)])) {
      let st;
      try {
        st = lstatSync(p);
      } catch {
        continue;
      }
      if (st.isSymbolicLink()) continue; // its target is the other entry of the set
      if (!visible(p)) continue;
      for (const b of bound) {
        if (within(b, p)) throw new IcpyError('SANDBOX_UNAVAILABLE', `cannot hide ${p} from the sandbox: it contains ${b}, which the sandbox must show`, { path: p });
      }
      candidates.set(p, st.isDirectory());
    }
  }
  // A mask inside another mask is covered already (and could not be mounted on the read-only tmpfs).
  const paths = [...candidates.keys()].sort((a, b) => depth(a) - depth(b));
  const out: Mask[] = [];
  for (const p of paths) {
    if (out.some((m) => within(p, m.path))) continue;
    out.push({ path: p, dir: candidates.get(p)! });
  }
  return out;
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

function depth(p: string): number {
  return p === '/' ? 0 : p.split(sep).length;
}
