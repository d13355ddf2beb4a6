import { IcpyError } from './errors.js';
import type { Scope } from './rpc/method.js';

/**
 * Who a call acts for (issue 13): the owner (the server token) or a named agent credential. Every
 * call context carries one; the dispatcher checks its scopes and path limits for every transport,
 * and event delivery filters by the same rules.
 */
export interface Principal {
  /** `owner`, or `agent:<credential id>`. Connections are tracked by it (revocation closes them). */
  readonly id: string;
  readonly kind: 'owner' | 'agent';
  /** Display name: `owner`, or the credential's name. An agent's connections carry it as their name. */
  readonly name: string;
  readonly scopes: ReadonlySet<Scope>;
  /** Path limits; absent = the whole workspace. */
  readonly paths?: PathRule;
  /** Milliseconds since the epoch after which the credential no longer authenticates. */
  readonly expiresAt?: number;
}

/** Token → principal, or undefined when the token is missing, wrong, revoked or expired. */
export type Authenticator = (token: string | undefined | null) => Principal | undefined;

export const ALL_SCOPES: ReadonlySet<Scope> = Object.freeze(new Set<Scope>(['read', 'write', 'execute', 'admin'])) as ReadonlySet<Scope>;
export const READ_ONLY_SCOPES: ReadonlySet<Scope> = Object.freeze(new Set<Scope>(['read'])) as ReadonlySet<Scope>;

export function ownerPrincipal(scopes: ReadonlySet<Scope> = ALL_SCOPES): Principal {
  return Object.freeze({ id: 'owner', kind: 'owner', name: 'owner', scopes });
}

/** What in-process callers (services calling methods for themselves) act as: everything, no limits. */
export const SYSTEM_PRINCIPAL: Principal = Object.freeze({ id: 'system', kind: 'owner', name: 'icpy', scopes: ALL_SCOPES });

export function hasScope(p: Principal, scope: Scope): boolean {
  return p.scopes.has(scope) || p.scopes.has('admin');
}

/**
 * Workspace-relative path globs (`src/**`, `docs/*.md`, `README.md`). Paths are `/`-separated,
 * relative to the root, without `.` or `..` segments ('' is the root). `*` matches within one
 * segment, `?` one character, `**` (a whole segment) any number of segments, zero included — so
 * `src/**` allows `src` itself and everything under it. Matching is a set-of-states walk over the
 * segments: linear in path × glob length, no backtracking across segments.
 */
export interface PathRule {
  readonly globs: readonly string[];
  /** The path itself (a file, or a folder and so everything it holds) is inside the limits. */
  allows(rel: string): boolean;
  /** Something at or below this folder may be allowed: it can be listed (its entries filtered). */
  mayContain(dir: string): boolean;
}

export const MAX_PATH_GLOBS = 32;
export const MAX_PATH_GLOB_LENGTH = 256;

/** Throws INVALID_PARAMS (field `paths`) on a malformed glob list. */
export function compilePathRule(globs: readonly string[]): PathRule {
  if (!Array.isArray(globs) || globs.length === 0 || globs.length > MAX_PATH_GLOBS) {
    throw new IcpyError('INVALID_PARAMS', `paths must hold 1 to ${MAX_PATH_GLOBS} globs`, { field: 'paths' });
  }
  const compiled = globs.map((g) => {
    if (typeof g !== 'string' || g.length === 0 || g.length > MAX_PATH_GLOB_LENGTH) {
      throw new IcpyError('INVALID_PARAMS', `paths: each glob is 1 to ${MAX_PATH_GLOB_LENGTH} characters`, { field: 'paths' });
    }
    const norm = g.replace(/^\.\/+/, '').replace(/\/+$/, '');
    const segs = norm === '' ? ['**'] : norm.split('/');
    if (segs.some((s) => s === '' || s === '.' || s === '..' || (s.includes('**') && s !== '**'))) {
      throw new IcpyError('INVALID_PARAMS', `paths: '${g}' is not a workspace-relative glob (no '.', '..', empty segments; '**' only as a whole segment)`, {
        field: 'paths',
      });
    }
    return segs;
  });
  /** Walk every glob over the path's segments; `onStep` sees the live states after each prefix. */
  const walk = (rel: string, onStep?: (gi: number, states: Set<number>) => boolean): Set<number>[] => {
    const parts = splitRel(rel);
    return compiled.map((segs, gi) => {
      let states = closure(segs, new Set([0]));
      if (onStep?.(gi, states)) return states;
      for (const part of parts) {
        const next = new Set<number>();
        for (const s of states) {
          const seg = segs[s];
          if (seg === undefined) continue;
          if (seg === '**') next.add(s);
          else if (segmentMatches(seg, part)) next.add(s + 1);
        }
        states = closure(segs, next);
        if (states.size === 0) break;
        if (onStep?.(gi, states)) break;
      }
      return states;
    });
  };
  return Object.freeze({
    globs: Object.freeze([...globs]),
    allows(rel: string): boolean {
      // Allowed when some glob matches the path or one of its ancestors (a glob naming a folder
      // grants what is in it).
      let hit = false;
      walk(rel, (gi, states) => (hit = hit || states.has(compiled[gi]!.length)));
      return hit;
    },
    mayContain(dir: string): boolean {
      return walk(dir).some((states) => states.size > 0);
    },
  });
}

function splitRel(rel: string): string[] {
  const r = rel.replace(/^\.\/+/, '').replace(/\/+$/, '');
  return r === '' || r === '.' ? [] : r.split('/');
}

/** `**` may match zero segments: a state before one also stands after it. */
function closure(segs: readonly string[], states: Set<number>): Set<number> {
  for (const s of [...states]) {
    let i = s;
    while (segs[i] === '**') {
      i++;
      states.add(i);
    }
  }
  return states;
}

/** `*` and `?` within one segment, by the greedy two-pointer match (no exponential backtracking). */
function segmentMatches(glob: string, text: string): boolean {
  let g = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (g < glob.length && (glob[g] === '?' || glob[g] === text[t])) {
      g++;
      t++;
    } else if (g < glob.length && glob[g] === '*') {
      star = g++;
      mark = t;
    } else if (star >= 0) {
      g = star + 1;
      t = ++mark;
    } else return false;
  }
  while (g < glob.length && glob[g] === '*') g++;
  return g === glob.length;
}

/** Is `rel` (workspace-relative, normalized) inside this principal's path limits? */
export function pathAllowed(p: Principal, rel: string): boolean {
  return !p.paths || p.paths.allows(rel);
}

/**
 * The refusal a model can read: what was refused, why, and what is allowed. `field` names the
 * param (or `path` when it comes from a resolved link).
 */
export function pathForbidden(p: Principal, rel: string, field: string): IcpyError {
  const globs = p.paths?.globs ?? [];
  return new IcpyError(
    'FORBIDDEN',
    `${p.name} may only use paths matching ${globs.map((g) => `'${g}'`).join(', ')}; '${rel || '.'}' (${field}) is outside them`,
    { reason: 'paths', field, path: rel, paths: [...globs] },
  );
}

export function assertPathAllowed(p: Principal, rel: string, field: string): void {
  if (!pathAllowed(p, rel)) throw pathForbidden(p, rel, field);
}

/**
 * A param path as the path limits see it: `/`-separated, relative to the root, `.` and `..`
 * resolved lexically ('' is the root). Undefined when it leaves the root (the service refuses it
 * as PATH_OUTSIDE_WORKSPACE; a path-limited principal is refused it first). The files service
 * checks the resolved real path again, so a link inside the limits that points out is refused too.
 */
export function normalizeRel(path: string): string | undefined {
  const out: string[] = [];
  for (const seg of path.replace(/\\/g, '/').split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(seg);
  }
  if (path.startsWith('/')) return undefined;
  return out.join('/');
}

/** One workspace path a call names, for the dispatcher's path check. */
export interface PathUse {
  /** The param it comes from (`path`, `from`, `to`, `edits.0.path`), named in a refusal. */
  field: string;
  path: string | undefined;
  /**
   * `item` (default): the path itself must be allowed. `tree`: a folder the call lists or searches
   * below — allowed when something in it may be, the result then filtered by `visible`.
   */
  use?: 'item' | 'tree';
}

/** Throws the readable FORBIDDEN for the first use outside the principal's limits. */
export function checkPathUses(p: Principal, uses: readonly PathUse[]): void {
  const rule = p.paths;
  if (!rule) return;
  for (const u of uses) {
    if (u.path === undefined) continue;
    const rel = normalizeRel(u.path);
    if (rel === undefined) throw pathForbidden(p, u.path, u.field);
    const ok = u.use === 'tree' ? rule.mayContain(rel) : rule.allows(rel);
    if (!ok) throw pathForbidden(p, rel, u.field);
  }
}
