import { z } from 'zod';
import { pathAllowed } from '../../core/principal.js';
import { defineMethod } from '../../core/rpc/index.js';
import { HEX_COLOR, MAX_PRESENCE_NAME, type PresenceService } from './presence.js';

const pos = z
  .strictObject({ line: z.number().int().min(0).max(2 ** 31), character: z.number().int().min(0).max(2 ** 31) })
  .describe('LSP position: 0-based line, character in UTF-16 code units');
const selection = z.strictObject({ anchor: pos, head: pos }).describe('anchor = where the selection started, head = where the cursor is');
const path = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.includes('\0'), { message: 'contains a NUL character' })
  .describe('Workspace-relative file path');

export const presenceEntrySchema = z.object({
  id: z.string(),
  connectionId: z.string(),
  name: z.string(),
  kind: z.enum(['browser', 'cli', 'agent']),
  color: z.string(),
  via: z.enum(['yjs', 'rpc']).describe('yjs: read from a document\'s awareness; rpc: set with presence.update or by editing through docs.applyEdits'),
  activeFile: z.string().optional(),
  cursor: pos.optional(),
  selection: selection.optional().describe('Present when not empty; cursor is its head'),
  updatedAt: z.number(),
});

export const presenceChangedSchema = z.object({
  id: z.string(),
  change: z.enum(['added', 'updated', 'removed']),
  entry: presenceEntrySchema.describe('The entry now (for removed: as it was last sent)'),
});

const example = {
  id: 'c-3f2a',
  connectionId: 'c-3f2a',
  name: 'review-agent',
  kind: 'agent' as const,
  color: '#4363d8',
  via: 'rpc' as const,
  activeFile: 'src/app.py',
  cursor: { line: 11, character: 4 },
  updatedAt: 1767225600000,
};

export function createPresenceMethods(presence: PresenceService) {
  return [
    defineMethod({
      name: 'presence.list',
      description:
        'Every client present (browsers and editors over Yjs, CLIs and agents over RPC): name, kind, colour, active file, cursor and selection (LSP positions, UTF-16, computed from the current text). With `path`: only those whose active file it is.',
      params: z.strictObject({ path: path.optional() }),
      result: z.array(presenceEntrySchema),
      scope: 'read',
      paths: (p) => [{ field: 'path', path: p.path }],
      // Nobody's presence in a file outside the limits (nor their cursor in it) is shown.
      visible: (r, pr) => r.filter((e) => e.activeFile === undefined || pathAllowed(pr, e.activeFile)),
      examples: [{ params: { path: 'src/app.py' }, result: [example] }],
      handler: (p) => presence.list(p.path),
    }),
    defineMethod({
      name: 'presence.update',
      description:
        "Set the caller's presence (omitted fields unchanged, null clears). It is shown in the awareness of the active file's live document like a human's cursor. Over a WebSocket it lasts until the socket closes; over HTTP it expires 30 s after the last update (send it again to stay), keyed by X-Icpy-Client-Kind and X-Icpy-Client-Name. Publishes presence.changed.",
      params: z.strictObject({
        activeFile: path.nullable().optional(),
        cursor: pos.nullable().optional(),
        selection: selection.nullable().optional().describe('Sets the cursor to its head'),
        name: z.string().min(1).max(MAX_PRESENCE_NAME).optional().describe(`Display name (≤ ${MAX_PRESENCE_NAME} characters); default: the connection's name`),
        color: z.string().regex(HEX_COLOR, 'not a CSS hex colour (#rgb, #rgba, #rrggbb or #rrggbbaa)').optional().describe('CSS hex colour; default: one chosen from the client id'),
      }),
      result: presenceEntrySchema,
      scope: 'write',
      paths: (p) => [{ field: 'activeFile', path: p.activeFile ?? undefined }],
      destructive: false,
      idempotent: true,
      examples: [{ params: { activeFile: 'src/app.py', cursor: { line: 11, character: 4 }, name: 'review-agent' }, result: example }],
      handler: (p, ctx) => presence.update(ctx.connection, p),
    }),
    defineMethod({
      name: 'presence.leave',
      description: "Remove the caller's presence set over RPC (a WebSocket's goes when it closes). Publishes presence.changed (removed).",
      params: z.strictObject({}),
      result: z.object({ removed: z.boolean() }),
      scope: 'write',
      pathFree: true,
      destructive: false,
      idempotent: true,
      handler: (_p, ctx) => ({ removed: presence.leave(ctx.connection) }),
    }),
  ];
}
