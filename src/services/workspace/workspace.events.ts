import { z } from 'zod';
import { defineEvent } from '../../core/rpc/index.js';
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

export const workspaceEvents = [
  defineEvent({ topic: 'workspace.file.opened', description: 'A file was opened (or re-revealed) in the editors; clients open it, at line/column when given.', data: openedSchema }),
  defineEvent({ topic: 'workspace.file.closed', description: 'An editor was closed; `active` is the editor active now.', data: closedSchema }),
  defineEvent({ topic: 'workspace.files.reordered', description: 'The open editors were reordered.', data: reorderedSchema }),
  defineEvent({ topic: 'workspace.file.activated', description: 'The active editor changed.', data: activatedSchema }),
  defineEvent({ topic: 'workspace.cursor.moved', description: "A connection's cursor or selections moved.", data: cursorMovedSchema }),
  defineEvent({ topic: 'workspace.cursor.removed', description: "A connection closed; its cursor is gone.", data: z.object({ connectionId: z.string() }) }),
  defineEvent({ topic: 'workspace.layout.changed', description: 'The current layout was replaced (reject-on-stale).', data: layoutSchema }),
  defineEvent({ topic: 'workspace.layout.saved', description: 'The current layout was saved under a name.', data: layoutSchema }),
  defineEvent({ topic: 'workspace.layout.switched', description: 'A saved layout became the current one.', data: layoutSchema }),
  defineEvent({ topic: 'workspace.layout.deleted', description: 'A saved layout was forgotten.', data: layoutDeletedSchema }),
  defineEvent({ topic: 'workspace.terminals.changed', description: 'The terminals shown changed.', data: terminalsSchema }),
  defineEvent({ topic: 'workspace.preferences.changed', description: 'Preference keys were set (null = removed).', data: preferencesSchema }),
];
