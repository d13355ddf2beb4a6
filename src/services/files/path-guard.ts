import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { IcpyError } from '../../core/errors.js';
import { fsError, type PathField } from './fs-errors.js';

/** The folder under the root where icpy keeps its own state; never writable through the API. */
export const STATE_DIR = '.icpy';
/** SQLite files of the state folder (and their WAL, shared-memory and journal files). */
const STATE_DATABASE = /\.(db|sqlite)(-wal|-shm|-journal)?$/;

export interface ResolvedPath {
  /** Workspace-relative path with '/' separators ('' for the root itself). */
  rel: string;
  /** Absolute path as the caller named it (symlinks not followed). */
  abs: string;
  /** Absolute path with every existing symlink followed; inside the real root. */
  real: string;
}

const MAX_LINK_HOPS = 40;

/** A `//`, a `.` or `..` segment, or a trailing slash: not a normalized absolute path. */
const NOT_NORMAL = /\/\/|\/\.\.?(?:\/|$)|\/$/;

/**
 * A relative path made only of plain segments: no leading '/', no '\\' or NUL, no empty,
 * '.' or '..' segment, no trailing '/'. Such a path is already normal: resolve() would return
 * root + '/' + path unchanged.
 */
const PLAIN_RELATIVE = /^(?!\.\.?(?:\/|$))[^/\\\0]+(?:\/(?!\.\.?(?:\/|$))[^/\\\0]+)*$/;

/**
 * Confinement: every path a client names is resolved against the workspace root and refused
 * with PATH_OUTSIDE_WORKSPACE when it (or any symlink along it, including a dangling one that
 * a write would create through) leads outside the root. Checks compare whole path segments,
 * so `/ws2` is never taken for a child of `/ws`.
 */
export class PathGuard {
  readonly root: string;
  readonly realRoot: string;
  private readonly rootSlash: string;
  /** `.icpy/` under the real root and under the root as given (joined once: isStatePath runs per call). */
  private readonly stateDirs: readonly [string, string];
  private readonly realRootSlash: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.realRoot = realpathSync(this.root);
    this.rootSlash = this.root.endsWith(sep) ? this.root : this.root + sep;
    this.stateDirs = [join(this.realRoot, STATE_DIR), join(this.root, STATE_DIR)];
    this.realRootSlash = this.realRoot.endsWith(sep) ? this.realRoot : this.realRoot + sep;
  }

  /** True when `abs` equals `base` or lies under it (segment-wise). */
  static within(base: string, abs: string): boolean {
    if (abs === base) return true;
    const prefix = base.endsWith(sep) ? base : base + sep;
    return abs.startsWith(prefix);
  }

  /**
   * Lexical step: a relative path (or an absolute one inside the root) to an absolute path under
   * the root. `..` that climbs out, NUL bytes and absolute paths elsewhere are refused.
   */
  lexical(input: string, field: PathField = 'path'): { rel: string; abs: string } {
    // Fast path for the common case, an already-normal relative path ('src/a.ts'): no
    // separators to rewrite, no '.', '..' or empty segments, so it is its own relative form.
    if (sep === '/' && PLAIN_RELATIVE.test(input)) return { rel: input, abs: this.rootSlash + input };
    if (input.includes('\0')) throw outside(input, 'contains a NUL byte', field);
    const p = input.replace(/\\/g, '/');
    let abs: string;
    if (isAbsolute(p)) {
      abs = normalize(p);
      if (!PathGuard.within(this.root, abs) && !PathGuard.within(this.realRoot, abs)) throw outside(input, 'absolute path outside the workspace', field);
      if (!PathGuard.within(this.root, abs)) abs = join(this.root, relative(this.realRoot, abs));
    } else {
      abs = resolve(this.root, p);
      if (!PathGuard.within(this.root, abs)) throw outside(input, "'..' leads outside the workspace", field);
    }
    const rel = relative(this.root, abs).split(sep).join('/');
    return { rel, abs };
  }

  /** Full resolution: lexical, then every symlink followed and the result checked again. */
  async resolve(input: string, field: PathField = 'path'): Promise<ResolvedPath> {
    const { rel, abs } = this.lexical(input, field);
    let real: string;
    try {
      real = await this.realOf(abs, 0);
    } catch (err) {
      throw fsError(err, input, field);
    }
    if (!PathGuard.within(this.realRoot, real)) throw outside(input, 'a symlink leads outside the workspace', field);
    if ((this.isStatePath(real) || this.isStatePath(abs)) && STATE_DATABASE.test(real)) {
      // Credential hashes, agent activity, run and version history: icpy's own, for nobody's reading.
      throw new IcpyError('FORBIDDEN', `${STATE_DIR}/ databases hold icpy's own state (credentials, history) and are not readable through the API`, {
        reason: 'state',
        path: input,
        field,
      });
    }
    return { rel, abs, real };
  }

  /**
   * Where an absolute path really leads (symlinks followed, missing tail appended), or undefined
   * when that is outside the real root or cannot be resolved (a loop, a name too long).
   */
  async realInside(abs: string): Promise<string | undefined> {
    try {
      const real = await this.realOf(abs, 0);
      return PathGuard.within(this.realRoot, real) ? real : undefined;
    } catch {
      return undefined;
    }
  }

  /** Like resolve, and refuses the `.icpy/` state folder (for anything that changes the disk). */
  async resolveWritable(input: string, field: PathField = 'path'): Promise<ResolvedPath> {
    const r = await this.resolve(input, field);
    if (r.rel === '') throw new IcpyError('READ_ONLY_PATH', 'The workspace root itself cannot be changed', { path: input, field });
    if (this.isStatePath(r.real) || this.isStatePath(r.abs)) {
      throw new IcpyError('READ_ONLY_PATH', `${STATE_DIR}/ holds icpy's own state and is not writable through the API`, { path: input, field });
    }
    return r;
  }

  isStatePath(abs: string): boolean {
    return PathGuard.within(this.stateDirs[0], abs) || PathGuard.within(this.stateDirs[1], abs);
  }

  /** Workspace-relative form of a real path under the real root. */
  relOfReal(real: string): string {
    // A normalized path under the real root is its suffix (path.relative resolves both sides
    // first: a visible part of every write's event, issue 9); anything else takes the long way.
    const head = this.realRootSlash;
    if (sep === '/' && real.length > head.length && real.startsWith(head) && !NOT_NORMAL.test(real)) return real.slice(head.length);
    return relative(this.realRoot, real).split(sep).join('/');
  }

  /**
   * Synchronous on purpose: realpath of a cached path is a few microseconds in the kernel, far
   * less than a round trip through libuv's thread pool, and it runs on every file operation.
   *
   * realpath that also works for paths that do not exist yet: the deepest existing ancestor is
   * resolved and the rest appended; a dangling symlink is followed through its target, so
   * writing "through" it is checked against where the bytes would really land.
   */
  private async realOf(abs: string, hops: number): Promise<string> {
    if (hops > MAX_LINK_HOPS) throw Object.assign(new Error('Too many levels of symbolic links'), { code: 'ELOOP' });
    try {
      return realpathSync.native(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ELOOP, ENAMETOOLONG, EACCES…: mapped for the caller by resolve().
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    }
    const parent = dirname(abs);
    if (parent === abs) return abs;
    const realParent = await this.realOf(parent, hops);
    const candidate = join(realParent, abs.slice(parent.length + (parent.endsWith(sep) ? 0 : 1)));
    let st;
    try {
      st = lstatSync(candidate);
    } catch {
      return candidate;
    }
    if (st.isSymbolicLink()) {
      const target = readlinkSync(candidate);
      return this.realOf(resolve(realParent, target), hops + 1);
    }
    return candidate;
  }
}

function outside(path: string, why: string, field: PathField): IcpyError {
  return new IcpyError('PATH_OUTSIDE_WORKSPACE', `Path '${path}' is outside the workspace: ${why}`, { path, field });
}
