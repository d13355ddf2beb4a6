import { z } from 'zod';
import { defineEvent, narrowPaths } from '../../core/rpc/index.js';
import {
  activatedSchema,
  closedSchema,
  cursorMovedSchema,
  layoutDeletedSchema,
  layoutSchema,
  openedSchema,
  preferencesSchema,
  reorderedSchema,
  terminalsSchema,
} from './workspace.methods.js';

// A path-limited principal sees the editors as workspace.get shows them: those outside its limits
// left out, an active editor outside shown as none.
const activeNarrowed = <D extends { path: string; active: string | null }>(d: D, allows: (path: string) => boolean): D | undefined =>
  allows(d.path) ? { ...d, active: d.active !== null && allows(d.active) ? d.active : null } : undefined;

// Layout events carry opaque layouts that may name any path: no path rule, so path-limited
// principals do not receive them.
export const workspaceEvents = [
  defineEvent({ topic: 'workspace.file.opened', description: 'A file was opened (or re-revealed) in the editors; clients open it, at line/column when given.', data: openedSchema, paths: (d) => [d.path, d.active ?? undefined], narrow: activeNarrowed }),
  defineEvent({ topic: 'workspace.file.closed', description: 'An editor was closed; `active` is the editor active now.', data: closedSchema, paths: (d) => [d.path, d.active ?? undefined], narrow: activeNarrowed }),
  defineEvent({ topic: 'workspace.files.reordered', description: 'The open editors were reordered.', data: reorderedSchema, paths: (d) => d.paths, narrow: narrowPaths }),
  defineEvent({ topic: 'workspace.file.activated', description: 'The active editor changed.', data: activatedSchema, paths: (d) => [d.path ?? undefined] }),
  defineEvent({ topic: 'workspace.cursor.moved', description: "A connection's cursor or selections moved.", data: cursorMovedSchema, paths: (d) => [d.path] }),
  defineEvent({ topic: 'workspace.cursor.removed', description: "A connection closed; its cursor is gone.", data: z.object({ connectionId: z.string() }), pathFree: true }),
  defineEvent({ topic: 'workspace.layout.changed', description: 'The current layout was replaced (reject-on-stale).', data: layoutSchema }),
  defineEvent({ topic: 'workspace.layout.saved', description: 'The current layout was saved under a name.', data: layoutSchema }),
  defineEvent({ topic: 'workspace.layout.switched', description: 'A saved layout became the current one.', data: layoutSchema }),
  defineEvent({ topic: 'workspace.layout.deleted', description: 'A saved layout was forgotten.', data: layoutDeletedSchema }),
  defineEvent({ topic: 'workspace.terminals.changed', description: 'The terminals shown changed.', data: terminalsSchema, pathFree: true }),
  defineEvent({ topic: 'workspace.preferences.changed', description: 'Preference keys were set (null = removed).', data: preferencesSchema, pathFree: true }),
];
