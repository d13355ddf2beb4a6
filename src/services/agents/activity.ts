import { IcpyError } from '../../core/errors.js';
import { normalizeRel, pathAllowed, type PathUse, type Principal } from '../../core/principal.js';
import type { CalledInfo } from '../../core/rpc/index.js';

/** One call an agent made, as agents.activity returns it. */
export interface ActivityEntry {
  /** Rises by one per recorded call; pass the last one seen as `since` to page forward. */
  id: number;
  time: number;
  /** The connection's name: the credential's name, or what an owner-token agent called itself. */
  agent: string;
  principalId: string;
  connectionId: string;
  transport: string;
  method: string;
  /** Workspace paths the call named (at most MAX_ACTIVITY_PATHS). */
  paths?: string[];
  /** The command or code it ran, or the text it typed (first COMMAND_PREVIEW characters). */
  command?: string;
  outcome: 'ok' | 'error';
  /** The error code when it failed (`FORBIDDEN`, `FILE_NOT_FOUND`…) and the first characters of its message. */
  code?: string;
  message?: string;
  ms: number;
}

export type ActivityRecord = Omit<ActivityEntry, 'id'>;

/** Where the entries go (app wires the SQLite store). */
export interface ActivityStore {
  add(row: { time: number; principalId: string; agent: string; record: ActivityRecord }): void;
  list(opts: { limit: number; after?: number; who?: string; sinceTime?: number }): { rows: { id: number; record: ActivityRecord }[]; more: boolean };
}

export const COMMAND_PREVIEW = 200;
export const MAX_ACTIVITY_PATHS = 8;
const MAX_PATH_CHARS = 1024;
const MESSAGE_PREVIEW = 200;
/** Param names that hold a workspace path, and ones that hold what is run or typed. */
const PATH_KEYS = ['path', 'from', 'to', 'cwd', 'dir', 'root'];
const PATH_LIST_KEYS = ['paths'];
const COMMAND_KEYS = ['command', 'code', 'data', 'input'];
/** Reading the log is not an action: an agent polling it would fill it with its own reads. */
const NOT_RECORDED = new Set(['agents.activity']);

/**
 * The activity entry of one finished call, or undefined when it is not an agent's (the connection
 * is not of kind `agent`) or not recorded. `declared` is the method's own `paths` declaration,
 * when it has one (more exact than the param-name guess).
 */
export function activityOf(call: CalledInfo, declared?: (params: any) => PathUse[]): ActivityRecord | undefined {
  const { ctx } = call;
  if (ctx.connection.kind !== 'agent' || NOT_RECORDED.has(call.name)) return undefined;
  const rec: ActivityRecord = {
    time: Date.now(),
    agent: ctx.connection.name,
    principalId: ctx.principal.id,
    connectionId: ctx.connection.id,
    transport: ctx.connection.transport,
    method: call.name,
    outcome: call.error === undefined ? 'ok' : 'error',
    ms: Math.round(call.ms * 1000) / 1000,
  };
  const paths = pathsOf(call.params, declared);
  if (paths.length) rec.paths = paths;
  const command = commandOf(call.params);
  if (command !== undefined) rec.command = command;
  if (call.error !== undefined) {
    rec.code = call.error instanceof IcpyError ? call.error.code : 'INTERNAL_ERROR';
    // Our own bugs' messages stay in the log, never in what clients read.
    if (call.error instanceof IcpyError) rec.message = call.error.message.slice(0, MESSAGE_PREVIEW);
  }
  return rec;
}

function pathsOf(params: unknown, declared?: (params: any) => PathUse[]): string[] {
  const out = new Set<string>();
  const add = (p: unknown) => {
    if (typeof p === 'string' && out.size < MAX_ACTIVITY_PATHS) out.add(p.slice(0, MAX_PATH_CHARS));
  };
  if (declared) {
    try {
      for (const u of declared(params)) add(u.path);
    } catch {
      // params the declaration does not fit (a refused call): fall back to the names below
    }
  }
  if (out.size === 0 && isRecord(params)) {
    for (const k of PATH_KEYS) add(params[k]);
    for (const k of PATH_LIST_KEYS) {
      const v = params[k];
      if (Array.isArray(v)) for (const p of v.slice(0, MAX_ACTIVITY_PATHS)) add(p);
    }
    const edits = params.edits;
    if (Array.isArray(edits)) for (const e of edits.slice(0, MAX_ACTIVITY_PATHS)) if (isRecord(e)) add(e.path);
  }
  return [...out];
}

function commandOf(params: unknown): string | undefined {
  if (!isRecord(params)) return undefined;
  for (const k of COMMAND_KEYS) {
    const v = params[k];
    if (typeof v === 'string') return v.slice(0, COMMAND_PREVIEW);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(' ').slice(0, COMMAND_PREVIEW);
  }
  return undefined;
}

/**
 * What a path-limited principal may see of the log: entries whose paths are all inside its limits,
 * and its own entries that name no path. Others' path-free calls (commands) are not shown: a
 * command line can name any path.
 */
export function activityVisibleTo(entry: ActivityEntry, p: Principal): boolean {
  if (!p.paths) return true;
  if (!entry.paths?.length) return entry.principalId === p.id;
  return entry.paths.every((path) => {
    const rel = normalizeRel(path);
    return rel !== undefined && pathAllowed(p, rel);
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
