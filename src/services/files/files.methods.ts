import { z } from 'zod';
import { pathAllowed, type Principal } from '../../core/principal.js';
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
const searchPaging = (pageSize: number) => ({
  hidden: z.boolean().default(false).describe('Include dot-files and dot-folders'),
  ignored: z.boolean().default(false).describe('Include what .gitignore excludes'),
  maxResults: z.number().int().min(1).max(100_000).default(1000),
  pageSize: z.number().int().min(1).max(10_000).default(pageSize),
  cursor: z.string().max(100).optional().describe('nextCursor of an earlier page; the other params are then ignored'),
});
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

/** Hits a path-limited principal may see (search and find results name their paths). The search
 * itself already skips files outside the limits; this is the second line of defence. */
const onlyAllowed = <T extends { results: { path: string }[] }>(r: T, p: Principal): T => ({ ...r, results: r.results.filter((m) => pathAllowed(p, m.path)) });

// Example values (the shapes real calls return), shared by several examples below.
const T = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const V = (n: number) => `803.1a2b${n}.4e.18c6ad2b8f1c4a00.18c6ad2b8f1c4a00`;

export function createFilesMethods(files: FileService, search: FileSearch) {
  return [
    defineMethod({
      name: 'files.search',
      description:
        "Search file contents (ripgrep when `rg` is on PATH, else a slower built-in scan; `engine` says which). Literal text unless `regex`; smart case unless `caseSensitive` is given; `globs` like '*.ts', 'src/**', '!*.min.js'; .gitignore'd and hidden files skipped unless `ignored`/`hidden`. Stops at maxResults (default 1000) and returns pages of pageSize (default 200): pass `cursor` alone for the next page (kept 5 minutes).",
      params: z
        .strictObject({
          query: z.string().min(1).max(10_000).optional().describe('Required unless `cursor` is given'),
          regex: z.boolean().default(false),
          caseSensitive: z.boolean().optional().describe('Default: smart case (sensitive when the query has an upper-case letter)'),
          wholeWord: z.boolean().default(false),
          globs: z.array(z.string().min(1).max(1000)).max(100).optional(),
          ...searchPaging(200),
        })
        // A first page needs a query, a next page only its cursor. The JSON Schema says so with
        // if/then (not anyOf, which client generators turn into `unknown`).
        .refine((p) => p.query !== undefined || p.cursor !== undefined, { path: ['query'], message: 'required unless cursor is given' })
        .meta({ if: { not: { required: ['cursor'] } }, then: { required: ['query'] } }),
      result: z.object({ results: z.array(contentMatch), ...pageMeta }),
      scope: 'read',
      // Only files inside the limits are searched (links are not followed), so pages and `total`
      // hold allowed hits only; `visible` stays as a second line of defence.
      paths: () => [{ field: 'query', path: '', use: 'tree' }],
      visible: onlyAllowed,
      examples: [
        {
          params: { query: 'TODO', globs: ['*.py'] },
          result: {
            results: [{ path: 'src/app.py', line: 12, column: 6, text: '    # TODO: retry on timeout', ranges: [[6, 10]] }],
            total: 1,
            limitHit: false,
            engine: 'ripgrep',
            elapsedMs: 9,
          },
        },
        {
          params: { query: 'def \\w+\\(', regex: true },
          result: {
            results: [
              { path: 'src/app.py', line: 3, column: 0, text: 'def main():', ranges: [[0, 9]] },
              { path: 'src/util.py', line: 1, column: 0, text: 'def slug(text):', ranges: [[0, 9]] },
            ],
            total: 2,
            limitHit: false,
            engine: 'ripgrep',
            elapsedMs: 11,
          },
        },
        {
          name: 'first page',
          description: 'More results than pageSize: the reply carries nextCursor',
          params: { query: 'import', pageSize: 1 },
          result: {
            results: [{ path: 'src/app.py', line: 1, column: 0, text: 'import sys', ranges: [[0, 6]] }],
            nextCursor: '4f9c2a1b-7d3e:1',
            total: 2,
            limitHit: false,
            engine: 'ripgrep',
            elapsedMs: 10,
          },
        },
        {
          name: 'next page',
          description: 'The cursor alone gives the next page (kept 5 minutes)',
          params: { cursor: '4f9c2a1b-7d3e:1' },
          result: {
            results: [{ path: 'src/util.py', line: 2, column: 0, text: 'import re', ranges: [[0, 6]] }],
            total: 2,
            limitHit: false,
            engine: 'ripgrep',
            elapsedMs: 10,
          },
        },
      ],
      handler: async (p, ctx) => {
        if (p.cursor) return search.page(p.cursor) as Awaited<ReturnType<FileSearch['content']>>;
        return search.content({ ...p, query: p.query ?? '', paths: ctx.principal.paths }, ctx.signal);
      },
    }),
    defineMethod({
      name: 'files.find',
      description:
        "Fuzzy file-name search (quick open): files whose path contains the query's characters in order, ranked (file-name and word-start matches first, then shorter paths); `positions` are the matched character indexes. Respects .gitignore and hides dot-files unless asked. Paged like files.search.",
      params: z.strictObject({
        query: z.string().max(1000).default('').describe("'' = every file"),
        ...searchPaging(100),
      }),
      result: z.object({ results: z.array(nameMatch), ...pageMeta }),
      scope: 'read',
      paths: () => [{ field: 'query', path: '', use: 'tree' }],
      visible: onlyAllowed,
      examples: [
        {
          params: { query: 'srvts' },
          result: {
            results: [
              { path: 'src/server.ts', score: 34.35, positions: [4, 6, 7, 11, 12] },
              { path: 'test/server.test.ts', score: 30.05, positions: [5, 7, 8, 12, 14] },
            ],
            total: 2,
            limitHit: false,
            engine: 'ripgrep',
            elapsedMs: 4,
          },
        },
      ],
      handler: async (p, ctx) => {
        if (p.cursor) return search.page(p.cursor) as Awaited<ReturnType<FileSearch['names']>>;
        return search.names({ ...p, paths: ctx.principal.paths });
      },
    }),
    defineMethod({
      name: 'files.list',
      description:
        'Entries of a folder (folders first, then by name) with type, size and mtime. Hides dot-files unless `hidden`, and entries matched by .gitignore unless `ignored`. Paged: pass the returned `nextCursor` as `cursor` for the next page.',
      params: z.strictObject({
        path: path.default(''),
        hidden: z.boolean().default(false).describe('Include dot-files'),
        ignored: z.boolean().default(false).describe('Include entries that .gitignore excludes'),
        limit: z.number().int().min(1).max(10_000).default(1000).describe('Page size'),
        cursor: z.string().max(5000).optional(),
      }),
      result: z.object({ path: z.string(), entries: z.array(entrySchema), total: z.number().int(), nextCursor: z.string().optional() }),
      scope: 'read',
      paths: (p) => [{ field: 'path', path: p.path, use: 'tree' }],
      // Entries are named lexically (a link inside the limits is listed; what it leads to is checked when used).
      // A folder on the way to allowed paths is listed too (`src` for 'src/lib/**'), so they can be reached.
      visible: (r, pr) => ({ ...r, entries: r.entries.filter((e) => pathAllowed(pr, e.path) || (e.type === 'dir' && pr.paths!.mayContain(e.path))) }),
      examples: [
        {
          params: { path: 'src' },
          result: {
            path: 'src',
            entries: [
              { name: 'lib', path: 'src/lib', type: 'dir', size: 0, mtime: T, symlink: false },
              { name: 'app.py', path: 'src/app.py', type: 'file', size: 1832, mtime: T, symlink: false },
            ],
            total: 2,
          },
        },
        {
          params: { path: '', hidden: true, limit: 2 },
          result: {
            path: '',
            entries: [
              { name: 'src', path: 'src', type: 'dir', size: 0, mtime: T, symlink: false },
              { name: '.gitignore', path: '.gitignore', type: 'file', size: 24, mtime: T, symlink: false },
            ],
            total: 3,
            nextCursor: '1.gitignore',
          },
        },
      ],
      handler: (p, ctx) => files.list(p.path, { ...p, paths: ctx.principal.paths }),
    }),
    defineMethod({
      name: 'files.stat',
      description: 'Type, size, mtime, mode and version of a path (symlinks followed; `symlink` says whether the path itself is one).',
      params: z.strictObject({ path }),
      result: statSchema,
      scope: 'read',
      paths: (p) => [{ field: 'path', path: p.path }],
      examples: [
        {
          params: { path: 'src/app.py' },
          result: { path: 'src/app.py', name: 'app.py', type: 'file', size: 1832, mtime: T, mode: 0o644, version: V(1), symlink: false },
        },
      ],
      handler: (p) => files.stat(p.path),
    }),
    defineMethod({
      name: 'files.read',
      description:
        "Contents of a file with its version. `encoding` 'auto' (default) returns text as utf8 and anything else (NUL bytes, invalid UTF-8) as base64. `offset`/`length` read a byte range. Larger than 16 MiB → FILE_TOO_LARGE (read ranges or GET /api/files/{path}).",
      params: z.strictObject({
        path,
        encoding: z.enum(['auto', 'utf8', 'base64']).default('auto'),
        offset: z.number().int().min(0).default(0).describe('First byte to read'),
        length: z.number().int().min(0).optional().describe('Bytes to read; default: to the end of the file'),
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
      paths: (p) => [{ field: 'path', path: p.path }],
      examples: [
        {
          params: { path: 'README.md' },
          result: { path: 'README.md', content: '# Demo\n', encoding: 'utf8', size: 7, version: V(2), mtime: T, offset: 0, length: 7, truncated: false },
        },
        {
          name: 'byte range',
          params: { path: 'big.log', offset: 1048576, length: 16 },
          result: { path: 'big.log', content: '12:00:01 GET /\n', encoding: 'utf8', size: 8388608, version: V(3), mtime: T, offset: 1048576, length: 16, truncated: true },
        },
      ],
      handler: (p, ctx) => {
        const budget = ctx.readBudget;
        if (!budget) return files.read(p.path, p);
        // The bytes stay counted until the reply holding them is encoded, where the codec says when.
        const reserve = async (bytes: number) => {
          const lease = await budget.acquire(bytes, ctx.signal);
          if (!ctx.retainUntilEncoded) return lease;
          ctx.retainUntilEncoded(() => lease.release());
          return { release() {} };
        };
        return files.read(p.path, { ...p, reserve });
      },
    }),
    defineMethod({
      name: 'files.write',
      description:
        "Create or overwrite a file atomically (temp file + rename; an existing file keeps its mode). With `expectedVersion` the write fails with VERSION_CONFLICT (data.currentVersion) unless the file is still at that version; `expectedVersion: null` means the file must not exist yet. `mkdirs` creates missing parent folders.",
      params: z.strictObject({
        path,
        content: z.string(),
        encoding: z.enum(['utf8', 'base64']).default('utf8'),
        expectedVersion: version.nullable().optional().describe('Write only over this version; null: only when the file does not exist'),
        mkdirs: z.boolean().default(false),
      }),
      result: z.object({ path: z.string(), version, size: z.number().int(), mtime: z.number().int(), created: z.boolean() }),
      scope: 'write',
      paths: (p) => [{ field: 'path', path: p.path }],
      idempotent: true,
      examples: [
        { params: { path: 'notes.txt', content: 'hello\n' }, result: { path: 'notes.txt', version: V(4), size: 6, mtime: T, created: true } },
        {
          name: 'only over a known version',
          params: { path: 'a.py', content: 'print(1)\n', expectedVersion: V(5) },
          result: { path: 'a.py', version: V(6), size: 9, mtime: T, created: false },
        },
      ],
      handler: (p, ctx) =>
        files.write(p.path, Buffer.from(p.content, p.encoding), { expectedVersion: p.expectedVersion, mkdirs: p.mkdirs, source: sourceOf(ctx) }),
    }),
    defineMethod({
      name: 'files.mkdir',
      description: 'Create a folder (and its missing parents unless `recursive: false`). Succeeds with created=false when it exists.',
      params: z.strictObject({ path, recursive: z.boolean().default(true).describe('Create missing parents') }),
      result: z.object({ path: z.string(), created: z.boolean() }),
      scope: 'write',
      paths: (p) => [{ field: 'path', path: p.path }],
      destructive: false,
      idempotent: true,
      examples: [{ params: { path: 'src/lib/util' }, result: { path: 'src/lib/util', created: true } }],
      handler: (p, ctx) => files.mkdir(p.path, { recursive: p.recursive, source: sourceOf(ctx) }),
    }),
    defineMethod({
      name: 'files.delete',
      description: 'Delete a file, symlink (the link, not its target) or folder; a non-empty folder needs `recursive: true` (else DIRECTORY_NOT_EMPTY). Optional `expectedVersion` as for write.',
      params: z.strictObject({ path, recursive: z.boolean().default(false).describe('Delete a non-empty folder'), expectedVersion: version.optional() }),
      result: z.object({ path: z.string() }),
      scope: 'write',
      paths: (p) => [{ field: 'path', path: p.path }],
      examples: [{ params: { path: 'build', recursive: true }, result: { path: 'build' } }],
      handler: (p, ctx) => files.delete(p.path, { recursive: p.recursive, expectedVersion: p.expectedVersion, source: sourceOf(ctx) }),
    }),
    defineMethod({
      name: 'files.move',
      description: 'Move or rename a file or folder. Fails with FILE_EXISTS when the target exists unless `overwrite`.',
      params: z.strictObject({ from: path, to: path, overwrite: z.boolean().default(false).describe('Replace an existing target') }),
      result: z.object({ from: z.string(), to: z.string() }),
      scope: 'write',
      paths: (p) => [
        { field: 'from', path: p.from },
        { field: 'to', path: p.to },
      ],
      examples: [{ params: { from: 'notes.txt', to: 'docs/notes.txt' }, result: { from: 'notes.txt', to: 'docs/notes.txt' } }],
      handler: (p, ctx) => files.move(p.from, p.to, { overwrite: p.overwrite, source: sourceOf(ctx) }),
    }),
    defineMethod({
      name: 'files.copy',
      description:
        'Copy a file or a folder (recursively; symlinks inside are copied as links; FIFOs, sockets and devices inside are not copied and are listed in `skipped`). Fails with FILE_EXISTS when the target exists unless `overwrite`.',
      params: z.strictObject({ from: path, to: path, overwrite: z.boolean().default(false).describe('Replace an existing target') }),
      result: z.object({ from: z.string(), to: z.string(), skipped: z.array(z.string()).optional() }),
      scope: 'write',
      paths: (p) => [
        { field: 'from', path: p.from },
        { field: 'to', path: p.to },
      ],
      examples: [{ params: { from: 'src', to: 'src-backup' }, result: { from: 'src', to: 'src-backup' } }],
      handler: (p, ctx) => files.copy(p.from, p.to, { overwrite: p.overwrite, source: sourceOf(ctx) }),
    }),
  ];
}
