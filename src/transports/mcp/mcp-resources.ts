import { randomUUID } from 'node:crypto';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { IcpyError } from '../../core/errors.js';

/** Calls a method as this session's principal (path limits and `visible` apply). */
export type SessionCall = (method: string, params: Record<string, unknown>, signal?: AbortSignal) => Promise<unknown>;

/**
 * Workspace files as MCP resources. A URI is `file:///` + the path relative to the workspace
 * root, each segment percent-encoded (`file:///src/app.py`): the URI path is root-relative, not
 * a path on the server's disk.
 */
export function uriOf(rel: string): string {
  return 'file:///' + rel.split('/').map(encodeURIComponent).join('/');
}

/** The workspace-relative path of a `file:///…` URI; INVALID_PARAMS (a protocol error) otherwise. */
export function pathOfUri(uri: string): string {
  if (typeof uri !== 'string' || !uri.startsWith('file:///')) {
    throw new McpError(ErrorCode.InvalidParams, `Resource URIs are file:///<path relative to the workspace root>, got '${String(uri).slice(0, 200)}'`);
  }
  try {
    return uri.slice('file:///'.length).split('/').map(decodeURIComponent).join('/');
  } catch {
    throw new McpError(ErrorCode.InvalidParams, `Resource URI is not percent-encoded correctly: '${uri.slice(0, 200)}'`);
  }
}

interface Entry {
  name: string;
  path: string;
  type: string;
  size: number;
}
interface Listing {
  entries: Entry[];
  nextCursor?: string;
}
interface Frame {
  dir: string;
  cursor?: string;
}

export interface ResourceLimits {
  /** Resources per resources/list page. */
  pageSize: number;
  /** Folders a listing may still have to visit; a wider tree is cut (and said so in the log). */
  maxPendingDirs: number;
  /** Listing cursors a session keeps (the oldest is forgotten first). */
  maxCursors: number;
  /** Largest file resources/read returns (larger: use the files_read tool with offset/length). */
  maxReadBytes: number;
}

export const DEFAULT_RESOURCE_LIMITS: ResourceLimits = { pageSize: 200, maxPendingDirs: 10_000, maxCursors: 16, maxReadBytes: 4 * 1024 * 1024 };

const MIME: Record<string, string> = {
  md: 'text/markdown',
  txt: 'text/plain',
  json: 'application/json',
  js: 'text/javascript',
  mjs: 'text/javascript',
  ts: 'text/x-typescript',
  py: 'text/x-python',
  html: 'text/html',
  css: 'text/css',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
};

function mimeOf(name: string): string | undefined {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? MIME[name.slice(dot + 1).toLowerCase()] : undefined;
}

/**
 * resources/list and resources/read of one session. Listing walks the workspace depth-first
 * through `files.list` (dot-files and .gitignored entries hidden, as files.list does by default;
 * entries a path-limited principal may not see are filtered by the method itself). The walk's
 * state is kept server-side under an opaque cursor, so cursors stay short.
 */
export class SessionResources {
  private readonly cursors = new Map<string, Frame[]>();

  constructor(
    private readonly call: SessionCall,
    private readonly limits: ResourceLimits = DEFAULT_RESOURCE_LIMITS,
  ) {}

  async list(cursor: string | undefined, signal?: AbortSignal): Promise<{ resources: Record<string, unknown>[]; nextCursor?: string }> {
    let stack: Frame[];
    if (cursor === undefined) stack = [{ dir: '' }];
    else {
      const s = this.cursors.get(cursor);
      if (!s) throw new McpError(ErrorCode.InvalidParams, 'Unknown or expired resources/list cursor; list again from the start');
      this.cursors.delete(cursor);
      stack = s;
    }
    const resources: Record<string, unknown>[] = [];
    while (stack.length > 0 && resources.length < this.limits.pageSize) {
      const frame = stack.pop()!;
      let listing: Listing;
      try {
        listing = (await this.call('files.list', { path: frame.dir, cursor: frame.cursor, limit: this.limits.pageSize - resources.length }, signal)) as Listing;
      } catch (err) {
        // A folder that went away or that this principal may not list is skipped, not fatal.
        if (err instanceof IcpyError && frame.dir !== '') continue;
        throw err;
      }
      if (listing.nextCursor) stack.push({ dir: frame.dir, cursor: listing.nextCursor });
      const dirs: Frame[] = [];
      for (const e of listing.entries) {
        if (e.type === 'dir') dirs.push({ dir: e.path });
        else if (e.type === 'file') {
          const mimeType = mimeOf(e.name);
          resources.push({ uri: uriOf(e.path), name: e.path, title: e.name, size: e.size, ...(mimeType ? { mimeType } : {}) });
        }
      }
      // Depth-first, in listing order: the first folder is visited next.
      for (let i = dirs.length - 1; i >= 0 && stack.length < this.limits.maxPendingDirs; i--) stack.push(dirs[i]!);
    }
    if (stack.length === 0) return { resources };
    const next = randomUUID();
    this.cursors.set(next, stack);
    if (this.cursors.size > this.limits.maxCursors) this.cursors.delete(this.cursors.keys().next().value!);
    return { resources, nextCursor: next };
  }

  async read(uri: string, signal?: AbortSignal): Promise<{ contents: Record<string, unknown>[] }> {
    const path = pathOfUri(uri);
    const max = this.limits.maxReadBytes;
    const r = (await this.call('files.read', { path, length: max }, signal)) as { content: string; encoding: 'utf8' | 'base64'; size: number; truncated: boolean };
    if (r.truncated) {
      throw new IcpyError('FILE_TOO_LARGE', `${path} is ${r.size} bytes, more than resources/read returns (${max}); read it in ranges with the files_read tool (offset, length)`, {
        path,
        size: r.size,
        max,
      });
    }
    const mimeType = mimeOf(path) ?? (r.encoding === 'utf8' ? 'text/plain' : 'application/octet-stream');
    return { contents: [r.encoding === 'utf8' ? { uri, mimeType, text: r.content } : { uri, mimeType, blob: r.content }] };
  }

  dispose(): void {
    this.cursors.clear();
  }
}
