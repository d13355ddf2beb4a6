import { z } from 'zod';
import { defineMethod, sourceOf } from '../../core/rpc/index.js';
import { MAX_NAME_BYTES } from '../../core/user-keys.js';
import type { DocHistory } from './history.js';

const path = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.includes('\0'), { message: 'contains a NUL character' })
  .refine((p) => p.split(/[\\/]/).every((seg) => Buffer.byteLength(seg, 'utf8') <= MAX_NAME_BYTES), { message: `a path segment is longer than ${MAX_NAME_BYTES} UTF-8 bytes` })
  .describe('Workspace-relative file path');
const versionNumber = z.number().int().min(1).describe('A version number from docs.history');
const versionOrCurrent = z.union([versionNumber, z.literal('current')]);
const source = z.object({ connectionId: z.string(), kind: z.enum(['browser', 'cli', 'agent', 'system']), name: z.string() });

export const versionInfoSchema = z.object({
  path: z.string(),
  version: z.number().int(),
  time: z.number().describe('Milliseconds since the epoch'),
  author: source.describe('Who made the text: the source of the last edit before the save (system for a merge from disk)'),
  size: z.number().int().describe('UTF-8 bytes'),
  sha256: z.string(),
  label: z.string().optional().describe("Why it was recorded, when not a plain save: 'restored from v3', 'opened from disk'"),
  name: z.string().optional().describe('Checkpoint name (docs.checkpoint)'),
});

export const MAX_HISTORY_PAGE = 1000;
export const MAX_CHECKPOINT_NAME = 100;

export function createHistoryMethods(history: DocHistory) {
  return [
    defineMethod({
      name: 'docs.history',
      description:
        'Versions of a file, newest first, without content: every save of its live document, the text as found on disk when it was opened, restores and checkpoints. Page with `before` = the `nextBefore` of the previous page. Kept across restarts, pruned per file to docs.historyMaxVersions / historyMaxBytes (oldest unnamed versions first, checkpoints last, the newest never).',
      params: z.strictObject({
        path,
        limit: z.number().int().min(1).max(MAX_HISTORY_PAGE).default(50).describe(`Versions per page (≤ ${MAX_HISTORY_PAGE})`),
        before: z.number().int().min(1).optional().describe('Only versions older than this one'),
      }),
      result: z.object({ path: z.string(), versions: z.array(versionInfoSchema), nextBefore: z.number().int().optional().describe('Present when older versions remain') }),
      scope: 'read',
      paths: (p) => [{ field: 'path', path: p.path }],
      examples: [
        {
          params: { path: 'src/app.py', limit: 2 },
          result: {
            path: 'src/app.py',
            versions: [
              { path: 'src/app.py', version: 7, time: 1760000000000, author: { connectionId: 'c12', kind: 'agent', name: 'fixer' }, size: 1204, sha256: '9f2c…', name: 'before refactor' },
              { path: 'src/app.py', version: 6, time: 1759999990000, author: { connectionId: 'c3', kind: 'browser', name: 'ada' }, size: 1180, sha256: '41ab…' },
            ],
            nextBefore: 6,
          },
        },
      ],
      handler: (p) => history.history(p.path, { limit: p.limit, ...(p.before !== undefined ? { before: p.before } : {}) }),
    }),
    defineMethod({
      name: 'docs.version',
      description: 'The content of one version (VERSION_NOT_FOUND when it was never recorded or was pruned).',
      params: z.strictObject({ path, version: versionNumber }),
      result: versionInfoSchema.extend({ content: z.string() }),
      scope: 'read',
      paths: (p) => [{ field: 'path', path: p.path }],
      handler: (p) => history.version(p.path, p.version),
    }),
    defineMethod({
      name: 'docs.diff',
      description:
        "Unified diff (git style, 3 lines of context) from version `from` to version `to`; either may be 'current' (the live text when the document is open, else the file on disk). Stopped with TIMEOUT after 5 s of work (it runs in slices, other clients keep being served); REPLY_TOO_LARGE above maxReplyBytes.",
      params: z.strictObject({ path, from: versionOrCurrent, to: versionOrCurrent.default('current') }),
      result: z.object({
        path: z.string(),
        from: versionOrCurrent,
        to: versionOrCurrent,
        diff: z.string().describe('Unified diff, headers `a/PATH vN` and `b/PATH vM|current`'),
        identical: z.boolean(),
      }),
      scope: 'read',
      paths: (p) => [{ field: 'path', path: p.path }],
      examples: [
        {
          params: { path: 'notes.txt', from: 1, to: 2 },
          result: {
            path: 'notes.txt',
            from: 1,
            to: 2,
            diff: '===================================================================\n--- a/notes.txt\tv1\n+++ b/notes.txt\tv2\n@@ -1,1 +1,1 @@\n-hello\n+hello world\n',
            identical: false,
          },
        },
      ],
      handler: (p) => history.diff(p.path, p.from, p.to),
    }),
    defineMethod({
      name: 'docs.restore',
      description:
        "Make a version the current text again. Never destructive: it goes through the live document (open editors change in place, cursors kept), is saved to disk, and is recorded as a new version labelled 'restored from vN'; unsaved typing is saved as its own version first. The file must exist (to bring back a deleted file, write docs.version's content with files.write).",
      params: z.strictObject({ path, version: versionNumber }),
      result: z.object({ path: z.string(), version: z.number().int().describe('The new version'), restoredFrom: z.number().int(), fileVersion: z.string() }),
      scope: 'write',
      paths: (p) => [{ field: 'path', path: p.path }],
      // Never destructive: the replaced text stays a version.
      destructive: false,
      examples: [{ params: { path: 'notes.txt', version: 1 }, result: { path: 'notes.txt', version: 4, restoredFrom: 1, fileVersion: '1760000000000-1204-7a1f' } }],
      handler: (p, ctx) => history.restore(p.path, p.version, ctx.connection, sourceOf(ctx)),
    }),
    defineMethod({
      name: 'docs.checkpoint',
      description:
        'Name the current text (unsaved edits are saved first): the newest version gets the name when it holds that text and has none, else a new named version is recorded. Checkpoints are pruned only after every unnamed version.',
      params: z.strictObject({ path, name: z.string().min(1).max(MAX_CHECKPOINT_NAME).describe(`≤ ${MAX_CHECKPOINT_NAME} characters`) }),
      result: versionInfoSchema,
      scope: 'write',
      paths: (p) => [{ field: 'path', path: p.path }],
      destructive: false,
      handler: (p, ctx) => history.checkpoint(p.path, p.name, sourceOf(ctx)),
    }),
  ];
}
