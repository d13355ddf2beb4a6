import { z } from 'zod';
import { IcpyError } from '../../core/errors.js';
import { defineMethod, sourceOf } from '../../core/rpc/index.js';
import type { FileService } from './file-service.js';
import type { FileSearch } from './file-search.js';

const path = z.string().max(4096).describe("Workspace-relative path ('' or '.' = the root); an absolute path must lie inside the root");
const version = z.string().describe('Opaque version of a file; compare for equality only');
const entryType = z.enum(['file', 'dir', 'symlink', 'other']);

export const statSchema = z.object({
  path: z.string(),
  name: z.string(),
  type: entryType,
  size: z.number().int(),
  mtime: z.number().int().describe('Milliseconds since the epoch'),
  mode: z.number().int(),
  version,
  symlink: z.boolean(),
});

const entrySchema = z.object({
  name: z.string(),
  path: z.string(),
  type: entryType.describe('For a symlink: the type of its target (symlink when dangling)'),
  size: z.number().int(),
  mtime: z.number().int(),
  symlink: z.boolean(),
});

/** Options shared by files.search and files.find: what to include, how many, and paging. */
const searchPaging = {
  hidden: z.boolean().optional(),
  ignored: z.boolean().optional(),
  maxResults: z.number().int().min(1).max(100_000).optional(),
  pageSize: z.number().int().min(1).max(10_000).optional(),
  cursor: z.string().max(100).optional(),
};
const pageMeta = {
  nextCursor: z.string().optional().describe('Pass as `cursor` to get the next page'),
  total: z.number().int().describe('Results found (at most maxResults)'),
  limitHit: z.boolean().describe('The search stopped at maxResults; narrow it to see more'),
  engine: z.enum(['ripgrep', 'builtin']),
  elapsedMs: z.number(),
};
const contentMatch = z.object({
  path: z.string(),
  line: z.number().int().describe('1-based'),
  column: z.number().int().describe('0-based UTF-16 offset of the first match'),
  text: z.string().describe('The matching line, cut at 500 characters'),
  ranges: z.array(z.tuple([z.number().int(), z.number().int()])).describe('UTF-16 [start, end) of each match in text'),
});
const nameMatch = z.object({ path: z.string(), score: z.number(), positions: z.array(z.number().int()) });

export function createFilesMethods(files: FileService, search: FileSearch) {
  return [
    defineMethod({
      name: 'files.search',
      description:
        "Search file contents (ripgrep when `rg` is on PATH, else a slower built-in scan; `engine` says which). Literal text unless `regex`; smart case unless `caseSensitive` is given; `globs` like '*.ts', 'src/**', '!*.min.js'; .gitignore'd and hidden files skipped unless `ignored`/`hidden`. Stops at maxResults (default 1000) and returns pages of pageSize (default 200): pass `cursor` alone for the next page (kept 5 minutes).",
      params: z.strictObject({
        query: z.string().max(10_000).optional(),
        regex: z.boolean().optional(),
        caseSensitive: z.boolean().optional(),
        wholeWord: z.boolean().optional(),
        globs: z.array(z.string().min(1).max(1000)).max(100).optional(),
        ...searchPaging,
      }),
      result: z.object({ results: z.array(contentMatch), ...pageMeta }),
      scope: 'read',
      examples: [{ query: 'TODO', globs: ['*.py'] }, { query: 'def \\w+\\(', regex: true }],
      handler: async (p, ctx) => {
        if (p.cursor) return search.page(p.cursor) as Awaited<ReturnType<FileSearch['content']>>;
        if (!p.query) throw new IcpyError('INVALID_PARAMS', 'query: required unless cursor is given', { field: 'query' });
        return search.content({ ...p, query: p.query }, ctx.signal);
      },
    }),
    defineMethod({
      name: 'files.find',
      description:
        "Fuzzy file-name search (quick open): files whose path contains the query's characters in order, ranked (file-name and word-start matches first, then shorter paths); `positions` are the matched character indexes. Respects .gitignore and hides dot-files unless asked. Paged like files.search.",
      params: z.strictObject({
        query: z.string().max(1000).optional(),
        ...searchPaging,
      }),
      result: z.object({ results: z.array(nameMatch), ...pageMeta }),
      scope: 'read',
      examples: [{ query: 'srvts' }],
      handler: async (p) => {
        if (p.cursor) return search.page(p.cursor) as Awaited<ReturnType<FileSearch['names']>>;
        return search.names({ ...p, query: p.query ?? '' });
      },
    }),
    defineMethod({
      name: 'files.list',
      description:
        'Entries of a folder (folders first, then by name) with type, size and mtime. Hides dot-files unless `hidden`, and entries matched by .gitignore unless `ignored`. Paged: pass the returned `nextCursor` as `cursor` for the next page.',
      params: z.strictObject({
        path: path.default(''),
        hidden: z.boolean().optional(),
        ignored: z.boolean().optional().describe('Include entries that .gitignore excludes'),
        limit: z.number().int().min(1).max(10_000).optional().describe('Page size (default 1000)'),
        cursor: z.string().max(5000).optional(),
      }),
      result: z.object({ path: z.string(), entries: z.array(entrySchema), total: z.number().int(), nextCursor: z.string().optional() }),
      scope: 'read',
      examples: [{ path: 'src' }, { path: '', hidden: true, limit: 100 }],
      handler: (p) => files.list(p.path, p),
    }),
    defineMethod({
      name: 'files.stat',
      description: 'Type, size, mtime, mode and version of a path (symlinks followed; `symlink` says whether the path itself is one).',
      params: z.strictObject({ path }),
      result: statSchema,
      scope: 'read',
      handler: (p) => files.stat(p.path),
    }),
    defineMethod({
      name: 'files.read',
      description:
        "Contents of a file with its version. `encoding` 'auto' (default) returns text as utf8 and anything else (NUL bytes, invalid UTF-8) as base64. `offset`/`length` read a byte range. Larger than 16 MiB → FILE_TOO_LARGE (read ranges or GET /api/files/{path}).",
      params: z.strictObject({
        path,
        encoding: z.enum(['auto', 'utf8', 'base64']).optional(),
        offset: z.number().int().min(0).optional(),
        length: z.number().int().min(0).optional(),
      }),
      result: z.object({
        path: z.string(),
        content: z.string(),
        encoding: z.enum(['utf8', 'base64']),
        size: z.number().int(),
        version,
        mtime: z.number().int(),
        offset: z.number().int(),
        length: z.number().int(),
        truncated: z.boolean(),
      }),
      scope: 'read',
      examples: [{ path: 'README.md' }, { path: 'big.log', offset: 1048576, length: 65536 }],
      handler: (p, ctx) => {
        const budget = ctx.readBudget;
        return files.read(p.path, budget ? { ...p, reserve: (bytes) => budget.acquire(bytes, ctx.signal) } : p);
      },
    }),
    defineMethod({
      name: 'files.write',
      description:
        "Create or overwrite a file atomically (temp file + rename; an existing file keeps its mode). With `expectedVersion` the write fails with VERSION_CONFLICT (data.currentVersion) unless the file is still at that version; `expectedVersion: null` means the file must not exist yet. `mkdirs` creates missing parent folders.",
      params: z.strictObject({
        path,
        content: z.string(),
        encoding: z.enum(['utf8', 'base64']).optional(),
        expectedVersion: version.nullable().optional(),
        mkdirs: z.boolean().optional(),
      }),
      result: z.object({ path: z.string(), version, size: z.number().int(), mtime: z.number().int(), created: z.boolean() }),
      scope: 'write',
      examples: [{ path: 'notes.txt', content: 'hello\n' }, { path: 'a.py', content: 'print(1)\n', expectedVersion: 'Q2x3…' }],
      handler: (p, ctx) =>
        files.write(p.path, Buffer.from(p.content, p.encoding ?? 'utf8'), { expectedVersion: p.expectedVersion, mkdirs: p.mkdirs, source: sourceOf(ctx) }),
    }),
    defineMethod({
      name: 'files.mkdir',
      description: 'Create a folder (and its missing parents unless `recursive: false`). Succeeds with created=false when it exists.',
      params: z.strictObject({ path, recursive: z.boolean().optional() }),
      result: z.object({ path: z.string(), created: z.boolean() }),
      scope: 'write',
      handler: (p, ctx) => files.mkdir(p.path, { recursive: p.recursive, source: sourceOf(ctx) }),
    }),
    defineMethod({
      name: 'files.delete',
      description: 'Delete a file, symlink (the link, not its target) or folder; a non-empty folder needs `recursive: true` (else DIRECTORY_NOT_EMPTY). Optional `expectedVersion` as for write.',
      params: z.strictObject({ path, recursive: z.boolean().optional(), expectedVersion: version.optional() }),
      result: z.object({ path: z.string() }),
      scope: 'write',
      handler: (p, ctx) => files.delete(p.path, { recursive: p.recursive, expectedVersion: p.expectedVersion, source: sourceOf(ctx) }),
    }),
    defineMethod({
      name: 'files.move',
      description: 'Move or rename a file or folder. Fails with FILE_EXISTS when the target exists unless `overwrite`.',
      params: z.strictObject({ from: path, to: path, overwrite: z.boolean().optional() }),
      result: z.object({ from: z.string(), to: z.string() }),
      scope: 'write',
      handler: (p, ctx) => files.move(p.from, p.to, { overwrite: p.overwrite, source: sourceOf(ctx) }),
    }),
    defineMethod({
      name: 'files.copy',
      description:
        'Copy a file or a folder (recursively; symlinks inside are copied as links; FIFOs, sockets and devices inside are not copied and are listed in `skipped`). Fails with FILE_EXISTS when the target exists unless `overwrite`.',
      params: z.strictObject({ from: path, to: path, overwrite: z.boolean().optional() }),
      result: z.object({ from: z.string(), to: z.string(), skipped: z.array(z.string()).optional() }),
      scope: 'write',
      handler: (p, ctx) => files.copy(p.from, p.to, { overwrite: p.overwrite, source: sourceOf(ctx) }),
    }),
  ];
}
