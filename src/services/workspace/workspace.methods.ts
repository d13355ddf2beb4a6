import { z } from 'zod';
import { pathAllowed, type Principal } from '../../core/principal.js';
import { defineMethod, sourceOf } from '../../core/rpc/index.js';
import { MAX_NAME_BYTES, userKeyedRecord, userName } from '../../core/user-keys.js';
import type { WorkspaceState } from './workspace-state.js';

const path = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.includes('\0'), { message: 'contains a NUL character' })
  .refine((p) => p.split(/[\\/]/).every((seg) => Buffer.byteLength(seg, 'utf8') <= MAX_NAME_BYTES), { message: `a path segment is longer than ${MAX_NAME_BYTES} UTF-8 bytes` })
  .describe('Workspace-relative file path');
const source = z.object({ connectionId: z.string(), kind: z.enum(['browser', 'cli', 'agent', 'system']), name: z.string() });
const record = <T extends z.ZodType>(value: T) =>
  z.object({ value, version: z.number().int(), updatedBy: source.nullable(), updatedAt: z.number() });
/** Positions are 1-based (line 1, column 1 is the first character), as typed in `file:line:col` and as Monaco counts. */
const position = z.object({ line: z.number().int().min(1), column: z.number().int().min(1) });
const selection = z.object({ start: position, end: position });
const layoutName = userName('Name of a saved layout');
const layout = z.record(z.string(), z.unknown()).describe('Panels, sizes, visibility… (opaque to the server)');
/** A layout given by a client: its top-level keys may not be `__proto__` (it would be dropped). */
const layoutInput = userKeyedRecord(z.string(), z.unknown()).describe('Panels, sizes, visibility… (opaque to the server)');

export const editorsSchema = z.object({
  open: z.array(z.object({ path: z.string(), openedAt: z.number(), openedBy: source })),
  active: z.string().nullable(),
});
export const cursorSchema = z.object({
  path: z.string(),
  line: z.number().int(),
  column: z.number().int(),
  selections: z.array(selection),
  client: source,
  updatedAt: z.number(),
});

export const openedSchema = z.object({
  path: z.string(),
  line: z.number().int().optional(),
  column: z.number().int().optional(),
  index: z.number().int(),
  alreadyOpen: z.boolean(),
  active: z.string().nullable(),
  version: z.number().int(),
});
export const closedSchema = z.object({ path: z.string(), active: z.string().nullable(), version: z.number().int() });
export const reorderedSchema = z.object({ paths: z.array(z.string()), version: z.number().int() });
export const activatedSchema = z.object({ path: z.string().nullable(), version: z.number().int() });
export const cursorMovedSchema = cursorSchema.extend({ connectionId: z.string() });
export const layoutSchema = z.object({ name: z.string().nullable(), layout, version: z.number().int() });
export const layoutDeletedSchema = z.object({
  name: z.string(),
  version: z.number().int(),
  wasCurrent: z.boolean().describe('It was the current layout, which is now unnamed (workspace.layout.changed follows)'),
});
export const terminalsSchema = z.object({ terminals: z.array(z.string()), version: z.number().int() });
export const preferencesSchema = z.object({ values: z.record(z.string(), z.unknown()), versions: z.record(z.string(), z.number().int()) });

interface Rec<V> {
  value: V;
}
interface Snapshot {
  state: {
    editors: Rec<{ open: { path: string }[]; active: string | null }>;
    layout: Rec<{ name: string | null; layout: Record<string, unknown> }>;
    layouts: Rec<Record<string, Record<string, unknown>>>;
    cursors: Record<string, { path: string }>;
  };
}

/**
 * The workspace as a path-limited principal sees it: editors, the active one and cursors outside
 * its limits are left out, and layouts (opaque, so they may name any path) are emptied.
 */
function visibleWorkspace<S extends Snapshot>(r: S, p: Principal): S {
  const { editors, cursors, layout, layouts } = r.state;
  const active = editors.value.active;
  return {
    ...r,
    state: {
      ...r.state,
      editors: { ...editors, value: { open: editors.value.open.filter((e) => pathAllowed(p, e.path)), active: active !== null && pathAllowed(p, active) ? active : null } },
      layout: { ...layout, value: { name: layout.value.name, layout: {} } },
      layouts: { ...layouts, value: {} },
      cursors: Object.fromEntries(Object.entries(cursors).filter(([, c]) => pathAllowed(p, c.path))),
    },
  };
}

export function createWorkspaceMethods(ws: WorkspaceState) {
  return [
    defineMethod({
      name: 'workspace.get',
      description:
        'The whole workspace state (open editors in order, active editor, current and saved layouts, terminals shown, preferences, every client cursor), each section with its version and last writer, plus `seq`: the last event seq this state reflects. Load it, then events.subscribe {since: seq} for a gap-free, duplicate-free continuation.',
      params: z.strictObject({}),
      result: z.object({
        seq: z.number().int(),
        epoch: z.string(),
        state: z.object({
          editors: record(editorsSchema),
          layout: record(z.object({ name: z.string().nullable(), layout })),
          layouts: record(z.record(z.string(), layout)),
          terminals: record(z.array(z.string())),
          preferences: z.record(z.string(), record(z.unknown())),
          cursors: z.record(z.string(), cursorSchema),
        }),
        mergePolicy: z.record(z.string(), z.string()),
      }),
      scope: 'read',
      pathFree: true,
      visible: visibleWorkspace,
      handler: () => ws.snapshot(),
    }),
    defineMethod({
      name: 'workspace.openFile',
      description:
        'Open a file in every client\'s editor (appended to the open editors unless already open) and make it active unless `activate: false`; `line`/`column` ask clients to reveal that position. Publishes workspace.file.opened. The file need not exist yet.',
      params: z.strictObject({ path, line: z.number().int().min(1).optional().describe('1-based'), column: z.number().int().min(1).optional().describe('1-based'), activate: z.boolean().default(true).describe('Make it the active editor') }),
      result: openedSchema,
      scope: 'write',
      paths: (p) => [{ field: 'path', path: p.path }],
      destructive: false,
      idempotent: true,
      examples: [
        {
          params: { path: 'src/main.py', line: 12 },
          result: { path: 'src/main.py', line: 12, index: 2, alreadyOpen: false, active: 'src/main.py', version: 7 },
        },
        {
          name: 'in the background',
          params: { path: 'README.md', activate: false },
          result: { path: 'README.md', index: 3, alreadyOpen: false, active: 'src/main.py', version: 8 },
        },
      ],
      handler: (p, ctx) => ws.openFile(p.path, p, sourceOf(ctx)),
    }),
    defineMethod({
      name: 'workspace.closeFile',
      description: 'Close an open editor (NOT_FOUND when it is not open). Closing the active one activates its neighbour. Publishes workspace.file.closed.',
      params: z.strictObject({ path }),
      result: closedSchema,
      scope: 'write',
      paths: (p) => [{ field: 'path', path: p.path }],
      destructive: false,
      idempotent: true,
      handler: (p, ctx) => ws.closeFile(p.path, sourceOf(ctx)),
    }),
    defineMethod({
      name: 'workspace.reorderFiles',
      description: 'Set the order of the open editors; `paths` must list each open editor exactly once. Publishes workspace.files.reordered.',
      params: z.strictObject({ paths: z.array(path).max(10_000) }),
      result: reorderedSchema,
      scope: 'write',
      paths: (p) => p.paths.map((path, i) => ({ field: `paths.${i}`, path })),
      destructive: false,
      idempotent: true,
      handler: (p, ctx) => ws.reorder(p.paths, sourceOf(ctx)),
    }),
    defineMethod({
      name: 'workspace.setActive',
      description: 'Make an open editor the active one (null: none). Publishes workspace.file.activated.',
      params: z.strictObject({ path: path.nullable() }),
      result: activatedSchema,
      scope: 'write',
      paths: (p) => [{ field: 'path', path: p.path ?? undefined }],
      destructive: false,
      idempotent: true,
      handler: (p, ctx) => ws.setActive(p.path, sourceOf(ctx)),
    }),
    defineMethod({
      name: 'workspace.setCursor',
      description: "Set the calling connection's cursor and selections (each connection owns its own; removed when it disconnects). Publishes workspace.cursor.moved.",
      params: z.strictObject({ path, line: z.number().int().min(1).describe('1-based'), column: z.number().int().min(1).describe('1-based'), selections: z.array(selection).max(1000).optional() }),
      result: cursorMovedSchema,
      scope: 'write',
      paths: (p) => [{ field: 'path', path: p.path }],
      destructive: false,
      idempotent: true,
      handler: (p, ctx) => ws.setCursor(p, sourceOf(ctx)),
    }),
    defineMethod({
      // Layouts are opaque to the server and may name any path: setLayout, saveLayout,
      // switchLayout and deleteLayout declare no path rule, so path-limited principals are refused them.
      name: 'workspace.setLayout',
      description:
        'Replace the current layout. Reject-on-stale: `expectedVersion` must equal state.layout.version, else VERSION_CONFLICT with data.currentVersion and data.current. Publishes workspace.layout.changed.',
      params: z.strictObject({ layout: layoutInput, expectedVersion: z.number().int().min(0) }),
      result: layoutSchema,
      scope: 'write',
      handler: (p, ctx) => ws.setLayout(p.layout, p.expectedVersion, sourceOf(ctx)),
    }),
    defineMethod({
      name: 'workspace.saveLayout',
      description: 'Save the current layout under a name (overwrites a saved one of that name). Publishes workspace.layout.saved.',
      params: z.strictObject({ name: layoutName }),
      result: layoutSchema.extend({ name: z.string() }),
      scope: 'write',
      handler: (p, ctx) => ws.saveLayout(p.name, sourceOf(ctx)),
    }),
    defineMethod({
      name: 'workspace.switchLayout',
      description: 'Make a saved layout the current one. Publishes workspace.layout.switched.',
      params: z.strictObject({ name: layoutName }),
      result: layoutSchema,
      scope: 'write',
      handler: (p, ctx) => ws.switchLayout(p.name, sourceOf(ctx)),
    }),
    defineMethod({
      name: 'workspace.deleteLayout',
      description:
        "Forget a saved layout (unknown → NOT_FOUND). Publishes workspace.layout.deleted. When it was the current layout, the current layout keeps its panels but becomes unnamed (name null): wasCurrent is true and workspace.layout.changed follows.",
      params: z.strictObject({ name: layoutName }),
      result: layoutDeletedSchema,
      scope: 'write',
      handler: (p, ctx) => ws.deleteLayout(p.name, sourceOf(ctx)),
    }),
    defineMethod({
      name: 'workspace.setTerminals',
      description: 'The terminals shown in the workspace, in order (terminal ids). Publishes workspace.terminals.changed.',
      params: z.strictObject({ terminals: z.array(z.string().min(1).max(200)).max(1000) }),
      result: terminalsSchema,
      scope: 'write',
      pathFree: true,
      idempotent: true,
      handler: (p, ctx) => ws.setTerminals(p.terminals, sourceOf(ctx)),
    }),
    defineMethod({
      name: 'workspace.setPreferences',
      description: 'Set user preferences; each key is its own last-writer-wins record, and null removes a key. Publishes workspace.preferences.changed.',
      params: z.strictObject({ values: userKeyedRecord(userName('Preference key'), z.unknown()) }),
      result: preferencesSchema,
      scope: 'write',
      pathFree: true,
      idempotent: true,
      examples: [
        {
          params: { values: { 'editor.fontSize': 14, theme: 'dark' } },
          result: { values: { 'editor.fontSize': 14, theme: 'dark' }, versions: { 'editor.fontSize': 3, theme: 1 } },
        },
        { name: 'remove a key', params: { values: { theme: null } }, result: { values: { theme: null }, versions: { theme: 2 } } },
      ],
      handler: (p, ctx) => ws.setPreferences(p.values, sourceOf(ctx)),
    }),
  ];
}
