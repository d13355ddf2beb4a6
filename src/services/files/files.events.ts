import { z } from 'zod';
import { defineEvent, narrowPaths } from '../../core/rpc/index.js';

const batch = z.object({
  paths: z
    .array(z.string())
    .min(1)
    .describe('Workspace-relative paths, sorted; one event carries every path of one kind of change by one source (at most 1000 per event)'),
});

const note =
  ' Batched: one event lists every path changed the same way by the same source within one watcher batch. The event source is the connection that made the change through icpy, or {connectionId:"disk", kind:"system", name:"disk"} when another program did.';

export const filesEvents = [
  defineEvent({ topic: 'fs.file.created', description: 'Files appeared.' + note, data: batch, paths: (d) => d.paths, narrow: narrowPaths }),
  defineEvent({ topic: 'fs.file.changed', description: 'Files were modified (content or metadata).' + note, data: batch, paths: (d) => d.paths, narrow: narrowPaths }),
  defineEvent({ topic: 'fs.file.deleted', description: 'Files (or symlinks, or folders icpy had not seen) were removed or renamed away.' + note, data: batch, paths: (d) => d.paths, narrow: narrowPaths }),
  defineEvent({ topic: 'fs.dir.created', description: 'Folders appeared.' + note, data: batch, paths: (d) => d.paths, narrow: narrowPaths }),
  defineEvent({ topic: 'fs.dir.deleted', description: 'Folders were removed or renamed away.' + note, data: batch, paths: (d) => d.paths, narrow: narrowPaths }),
];
